//! Secrets from AWS Secrets Manager, fetched once per cold start.
//!
//! | set | provides |
//! |---|---|
//! | `CLERK_WEBHOOK_SECRET_ARN` | `CLERK_WEBHOOK_SECRET` |
//! | `ENCRYPTION_KEY_ARN` | `ENCRYPTION_KEYS` when the value holds a `:` (`id:secret,…`), else `ENCRYPTION_KEY` |
//! | `DATABASE_URL_SECRET_ARN` | `DATABASE_URL`: a connection string, or the JSON RDS keeps (`username`, `password`, `host`, `port`, `dbname`, `engine`) |
//!
//! [`load`] returns a [`Source`] that answers those variables from the
//! fetched values and everything else from the base source, so the usual
//! `from_source` constructors read it unchanged. Without any `*_ARN` it does
//! not touch AWS at all. The SDK is configured from the same source
//! (`AWS_REGION`, `AWS_ENDPOINT_URL[_SECRETS_MANAGER]`,
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`), falling
//! back to the SDK's default chains for what it does not set.

use std::{fmt, time::Duration};

use aws_config::{timeout::TimeoutConfig, BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::{
    config::Credentials,
    error::{ProvideErrorMetadata, SdkError},
    Client,
};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::{ConfigError, Source};

/// A `*_ARN` variable and the variables it stands for (any of which set
/// beside it is a conflict).
struct Secret {
    arn_var: &'static str,
    replaces: &'static [&'static str],
}

const SECRETS: [Secret; 3] = [
    Secret { arn_var: "CLERK_WEBHOOK_SECRET_ARN", replaces: &["CLERK_WEBHOOK_SECRET"] },
    Secret { arn_var: "ENCRYPTION_KEY_ARN", replaces: &["ENCRYPTION_KEY", "ENCRYPTION_KEYS"] },
    Secret { arn_var: "DATABASE_URL_SECRET_ARN", replaces: &["DATABASE_URL"] },
];

/// The base source with the fetched secrets laid over it.
pub struct Resolved<S> {
    base: S,
    values: Vec<(&'static str, SecretString)>,
}

impl<S> Resolved<S> {
    /// The variables that came from Secrets Manager.
    pub fn fetched(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.values.iter().map(|(var, _)| *var)
    }
}

impl<S: Source> Source for Resolved<S> {
    fn get(&self, var: &str) -> Option<String> {
        match self.values.iter().find(|(name, _)| *name == var) {
            Some((_, value)) => Some(value.expose_secret().to_string()),
            None => self.base.get(var),
        }
    }
}

impl<S> fmt::Debug for Resolved<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved").field("fetched", &self.fetched().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

/// Fetches every secret a `*_ARN` variable of `base` names, concurrently,
/// and lays them over `base`. Setting both `X` and `X_ARN` is an error.
pub async fn load<S: Source>(base: S) -> Result<Resolved<S>, ConfigError> {
    let mut wanted = Vec::new();
    for secret in &SECRETS {
        let Some(arn) = base.get(secret.arn_var) else { continue };
        if let Some(plain) = secret.replaces.iter().find(|var| base.get(var).is_some()) {
            return Err(ConfigError::Invalid {
                var: secret.arn_var,
                reason: format!("set {plain} or {}, not both", secret.arn_var),
            });
        }
        wanted.push((secret.arn_var, arn.trim().to_string()));
    }
    if wanted.is_empty() {
        return Ok(Resolved { base, values: Vec::new() });
    }
    let sdk = sdk_config(&base, &wanted).await;
    let fetched = futures_util::future::try_join_all(wanted.iter().map(|(var, arn)| fetch(&sdk, var, arn))).await?;
    let mut values = Vec::new();
    for ((arn_var, _), value) in wanted.iter().zip(fetched) {
        values.push(provide(arn_var, value)?);
    }
    tracing::info!(vars = ?values.iter().map(|(var, _)| *var).collect::<Vec<_>>(), "loaded secrets from AWS Secrets Manager");
    Ok(Resolved { base, values })
}

/// Cold starts must not hang on an unreachable endpoint: Lambda gives the
/// whole init phase 10 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(7);

async fn sdk_config(src: &impl Source, wanted: &[(&'static str, String)]) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
    // Without a configured region, the first ARN's: it spares the SDK's
    // region chain (and its instance-metadata probe).
    let region = src
        .get("AWS_REGION")
        .or_else(|| src.get("AWS_DEFAULT_REGION"))
        .or_else(|| wanted.iter().find_map(|(_, arn)| arn_region(arn)).map(str::to_string));
    if let Some(region) = region {
        loader = loader.region(Region::new(region.trim().to_string()));
    }
    if let Some(url) = src.get("AWS_ENDPOINT_URL_SECRETS_MANAGER").or_else(|| src.get("AWS_ENDPOINT_URL")) {
        loader = loader.endpoint_url(url.trim());
    }
    if let (Some(id), Some(key)) = (src.get("AWS_ACCESS_KEY_ID"), src.get("AWS_SECRET_ACCESS_KEY")) {
        let token = src.get("AWS_SESSION_TOKEN");
        loader = loader.credentials_provider(Credentials::new(id.trim(), key.trim(), token, None, "clerk-sync"));
    }
    loader.load().await
}

/// `arn:aws:secretsmanager:<region>:<account>:secret:<name>` → `<region>`.
fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("secretsmanager"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

async fn fetch(sdk: &SdkConfig, var: &'static str, arn: &str) -> Result<SecretString, ConfigError> {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(sdk);
    // A secret lives in its ARN's region, whatever the function's.
    if let Some(region) = arn_region(arn) {
        config = config.region(Region::new(region.to_string()));
    }
    let client = Client::from_conf(config.build());
    let output = client.get_secret_value().secret_id(arn).send().await.map_err(|e| ConfigError::Fetch {
        var,
        reason: match &e {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("service error");
                match service.err().message() {
                    Some(message) => format!("{code}: {message}"),
                    None => code.to_string(),
                }
            }
            SdkError::TimeoutError(_) => "timed out".to_string(),
            _ => causes(&e),
        },
    })?;
    match output.secret_string() {
        Some(value) if !value.trim().is_empty() => Ok(SecretString::from(value.trim().to_string())),
        Some(_) => Err(ConfigError::Invalid { var, reason: "the secret is empty".into() }),
        None => Err(ConfigError::Invalid {
            var,
            reason: "the secret holds binary data; store the value as a secret string".into(),
        }),
    }
}

/// An error and its causes on one line, each text once
/// (`DisplayErrorContext` would append a Debug dump).
fn causes(error: &dyn std::error::Error) -> String {
    crate::error_chain(error)
}

/// Which variable a fetched value provides, in the form it expects.
fn provide(arn_var: &'static str, value: SecretString) -> Result<(&'static str, SecretString), ConfigError> {
    match arn_var {
        // Key lists are `id:secret,…`; a single secret from `openssl rand
        // -base64 32` never holds a `:`.
        "ENCRYPTION_KEY_ARN" if value.expose_secret().contains(':') => Ok(("ENCRYPTION_KEYS", value)),
        "ENCRYPTION_KEY_ARN" => Ok(("ENCRYPTION_KEY", value)),
        "DATABASE_URL_SECRET_ARN" if value.expose_secret().starts_with('{') => {
            Ok(("DATABASE_URL", rds_url(value.expose_secret())?))
        }
        "DATABASE_URL_SECRET_ARN" => Ok(("DATABASE_URL", value)),
        _ => Ok(("CLERK_WEBHOOK_SECRET", value)),
    }
}

/// Everything but RFC 3986's unreserved characters is escaped in the user
/// name, password and database name.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A PostgreSQL URL from the JSON shape of RDS-managed secrets. Errors name
/// the field, never its value (serde's messages can quote it).
fn rds_url(json: &str) -> Result<SecretString, ConfigError> {
    const VAR: &str = "DATABASE_URL_SECRET_ARN";
    let invalid = |reason: String| ConfigError::Invalid { var: VAR, reason };
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(json) else {
        return Err(invalid("the secret starts with '{' but is not a JSON object".into()));
    };
    let text = |key: &str| -> Result<Option<String>, ConfigError> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) if key == "port" => Ok(Some(n.to_string())),
            Some(_) => Err(invalid(format!("\"{key}\" must be a string"))),
        }
    };
    let required = |key: &str| {
        text(key)?.ok_or_else(|| {
            invalid(format!(
                "the JSON secret has no \"{key}\" (it needs username, password and host; or store a connection string)"
            ))
        })
    };
    if let Some(engine) = text("engine")? {
        if !engine.starts_with("postgres") && engine != "aurora-postgresql" {
            return Err(invalid(format!("the secret is for engine {engine:?}, not PostgreSQL")));
        }
    }
    let (user, password, host) = (required("username")?, required("password")?, required("host")?);
    let port = text("port")?.unwrap_or_else(|| "5432".into());
    if port.parse::<u16>().is_err() {
        return Err(invalid("\"port\" is not a port number".into()));
    }
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    let mut url = format!(
        "postgres://{}:{}@{host}:{port}",
        utf8_percent_encode(&user, COMPONENT),
        utf8_percent_encode(&password, COMPONENT)
    );
    if let Some(dbname) = text("dbname")? {
        url.push('/');
        url.extend(utf8_percent_encode(&dbname, COMPONENT));
    }
    Ok(SecretString::from(url))
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, str::FromStr};

    use super::*;

    fn url(json: &str) -> Result<String, String> {
        rds_url(json).map(|s| s.expose_secret().to_string()).map_err(|e| e.to_string())
    }

    #[test]
    fn rds_json_becomes_a_url_with_an_encoded_password() {
        let password = "p@ss:w/rd?#%&= é'\"\\";
        let json = serde_json::json!({
            "username": "app user", "password": password, "host": "db.example.internal",
            "port": 5433, "dbname": "clerk/sync", "engine": "postgres", "dbInstanceIdentifier": "db-1"
        })
        .to_string();
        let url = url(&json).unwrap_or_default();
        let config = tokio_postgres::Config::from_str(&url).ok();
        let config = config.as_ref();
        assert_eq!(config.and_then(|c| c.get_password()), Some(password.as_bytes()), "{url}");
        assert_eq!(config.and_then(|c| c.get_user()), Some("app user"));
        assert_eq!(config.and_then(|c| c.get_dbname()), Some("clerk/sync"));
        assert_eq!(config.map(|c| c.get_ports().to_vec()), Some(vec![5433]));
    }

    #[test]
    fn rds_json_defaults_and_refusals_never_quote_values() {
        let ok = url(r#"{"username":"u","password":"p","host":"h","port":"6432"}"#);
        assert_eq!(ok.as_deref(), Ok("postgres://u:p@h:6432"));
        let ok = url(r#"{"username":"u","password":"p","host":"::1"}"#);
        assert_eq!(ok.as_deref(), Ok("postgres://u:p@[::1]:5432"));
        for (json, expected) in [
            (r#"{"username":"u","password":"s3cr3t"}"#, "\"host\""),
            (r#"{"username":"u","password":12345678,"host":"h"}"#, "\"password\" must be a string"),
            (r#"{"username":"u","password":"s3cr3t","host":"h","engine":"mysql"}"#, "mysql"),
            (r#"{"username":"u","password":"s3cr3t","host":"h","port":"x"}"#, "port"),
            (r#"{"username":"u","password":"s3cr3t""#, "not a JSON object"),
        ] {
            let e = url(json).err().unwrap_or_default();
            assert!(e.starts_with("DATABASE_URL_SECRET_ARN") && e.contains(expected), "{e}");
            assert!(!e.contains("s3cr3t") && !e.contains("12345678"), "{e}");
        }
    }

    #[test]
    fn encryption_keys_are_told_apart_by_a_colon() {
        let single = provide("ENCRYPTION_KEY_ARN", SecretString::from("a".repeat(44))).map(|(v, _)| v);
        assert_eq!(single.ok(), Some("ENCRYPTION_KEY"));
        let list = provide("ENCRYPTION_KEY_ARN", SecretString::from("k2:new,k1:old")).map(|(v, _)| v);
        assert_eq!(list.ok(), Some("ENCRYPTION_KEYS"));
    }

    #[test]
    fn arn_regions() {
        assert_eq!(arn_region("arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"), Some("eu-west-1"));
        assert_eq!(arn_region("my-secret-name"), None);
        assert_eq!(arn_region("arn:aws:ssm:eu-west-1:1:parameter/x"), None);
    }

    #[tokio::test]
    async fn a_variable_and_its_arn_together_are_refused() {
        let base: HashMap<&str, &str> =
            HashMap::from([("DATABASE_URL", "postgres://h/db"), ("DATABASE_URL_SECRET_ARN", "arn:x")]);
        let e = load(&base).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("DATABASE_URL_SECRET_ARN") && e.contains("set DATABASE_URL or"), "{e}");
        let base: HashMap<&str, &str> = HashMap::from([("ENCRYPTION_KEYS", "k:x"), ("ENCRYPTION_KEY_ARN", "arn:x")]);
        let e = load(&base).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("ENCRYPTION_KEY_ARN") && e.contains("ENCRYPTION_KEYS"), "{e}");
    }
}
