//! Secrets from AWS Secrets Manager, fetched once per cold start.
//!
//! | set | provides |
//! |---|---|
//! | `CLERK_WEBHOOK_SECRET_ARN` | `CLERK_WEBHOOK_SECRET` |
//! | `CLERK_SECRET_KEY_ARN` | `CLERK_SECRET_KEY` (the Backend API key) |
//! | `ENCRYPTION_KEY_ARN` | `ENCRYPTION_KEYS` when the value holds a `:` (`id:secret,…`), else `ENCRYPTION_KEY` |
//! | `DATABASE_URL_SECRET_ARN` | `DATABASE_URL`: a connection string, or the JSON RDS keeps (`username`, `password`, `host`, `port`, `dbname`, `engine`) |
//!
//! [`load`] returns a [`Source`] that answers those variables from the
//! fetched values and everything else from the base source, so the usual
//! `from_source` constructors read it unchanged. Without any `*_ARN` it does
//! not touch AWS at all: no SDK client is built, no configuration file read.
//!
//! The call is the AWS SDK's `GetSecretValue`. Credentials: the source's
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN` when it
//! holds them (what Lambda sets: nothing else is read at cold start), else
//! `aws-config`'s default chain (profiles with `AWS_PROFILE`, assume-role,
//! web identity, container and instance metadata; SSO and
//! `credential_process` profiles where the binary enables aws-config's `sso`
//! and `credentials-process` features, as the CLI does; the functions do not,
//! for size). Region: the secret's ARN's, else `AWS_REGION` /
//! `AWS_DEFAULT_REGION`, else the chain's. Endpoint:
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL` (the chain
//! also honours a profile's `endpoint_url`). The chain reads the process
//! environment and `~/.aws` itself; of the source it takes the region, the
//! endpoint and `AWS_PROFILE`.

use std::{fmt, time::Duration};

use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Region};
use aws_sdk_secretsmanager::{
    config::{http::HttpResponse, Credentials},
    error::{ProvideErrorMetadata, SdkError},
    operation::get_secret_value::GetSecretValueError,
    Client,
};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use zeroize::Zeroize;

use crate::config::{ConfigError, Source};

/// A `*_ARN` variable and the variables it stands for (any of which set
/// beside it is a conflict).
struct Secret {
    arn_var: &'static str,
    replaces: &'static [&'static str],
}

const SECRETS: [Secret; 4] = [
    Secret { arn_var: "CLERK_WEBHOOK_SECRET_ARN", replaces: &["CLERK_WEBHOOK_SECRET"] },
    Secret { arn_var: "CLERK_SECRET_KEY_ARN", replaces: &["CLERK_SECRET_KEY"] },
    Secret { arn_var: "ENCRYPTION_KEY_ARN", replaces: &["ENCRYPTION_KEY", "ENCRYPTION_KEYS"] },
    Secret { arn_var: "DATABASE_URL_SECRET_ARN", replaces: &["DATABASE_URL"] },
];

/// The environment with the `*_ARN` variable of one secret only: a command
/// that needs that secret (the CLI's database URL, its Clerk key) fetches
/// it and no other.
pub struct OnlyArn(pub &'static str);

impl Source for OnlyArn {
    fn get(&self, var: &str) -> Option<String> {
        if var != self.0 && SECRETS.iter().any(|secret| secret.arn_var == var) {
            return None;
        }
        crate::config::Env.get(var)
    }
}

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
    // When every secret is named by ARN, the first one's region spares the
    // chain a region lookup; a secret named without one reads the configured.
    let arn_regions = wanted.iter().map(|(_, arn)| arn_region(arn)).collect::<Option<Vec<_>>>();
    let aws = SecretsManager::from_source(&base, arn_regions.and_then(|regions| regions.first().copied())).await?;
    let fetched =
        futures_util::future::try_join_all(wanted.iter().map(|(var, arn)| aws.get_secret_value(var, arn))).await?;
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
/// The SDK's standard retry mode: three attempts, for throttling, 5xx
/// answers and transport failures.
const MAX_ATTEMPTS: u32 = 3;

/// The SDK client, configured from the source (see the module doc).
struct SecretsManager {
    client: Client,
    /// Whether the client has a region, for secrets named without an ARN.
    has_region: bool,
    /// Credentials from the default chain rather than the source: a failure
    /// to find them gets a hint.
    chain: bool,
}

impl SecretsManager {
    /// The region: `AWS_REGION`/`AWS_DEFAULT_REGION`, else `arn_region`
    /// (every secret's ARN names its own), else the chain's.
    async fn from_source(src: &impl Source, arn_region: Option<&str>) -> Result<Self, ConfigError> {
        let region = src
            .get("AWS_REGION")
            .or_else(|| src.get("AWS_DEFAULT_REGION"))
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .or_else(|| arn_region.map(str::to_string))
            .map(Region::new);
        let endpoint = match src.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") {
            Some(url) => Some(endpoint_override("AWS_ENDPOINT_URL_SECRETS_MANAGER", &url)?),
            None => src.get("AWS_ENDPOINT_URL").map(|url| endpoint_override("AWS_ENDPOINT_URL", &url)).transpose()?,
        };
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let retries = RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS);
        let credentials = static_credentials(src);
        let chain = credentials.is_none();
        let mut config = match credentials {
            // Lambda (and the tests): the keys are at hand, read nothing else.
            Some(credentials) => aws_sdk_secretsmanager::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .credentials_provider(credentials)
                .region(region.clone()),
            None => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .timeout_config(timeouts.clone())
                    .retry_config(retries.clone());
                if let Some(region) = region.clone() {
                    loader = loader.region(region);
                }
                if let Some(url) = &endpoint {
                    loader = loader.endpoint_url(url);
                }
                // The chain reads the process environment itself; a source
                // that is not it (a test's) still picks the profile.
                if let Some(profile) = src.get("AWS_PROFILE").map(|p| p.trim().to_string()).filter(|p| !p.is_empty()) {
                    loader = loader.profile_name(profile);
                }
                aws_sdk_secretsmanager::config::Builder::from(&loader.load().await)
            }
        };
        config = config.timeout_config(timeouts).retry_config(retries);
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        let config = config.build();
        let has_region = config.region().is_some();
        Ok(Self { client: Client::from_conf(config), has_region, chain })
    }

    /// The secret string `secret_id` (an ARN, or a name in the configured
    /// region) holds; errors name `var`, never a value.
    async fn get_secret_value(&self, var: &'static str, secret_id: &str) -> Result<SecretString, ConfigError> {
        let mut request = self.client.get_secret_value().secret_id(secret_id).customize();
        // A secret lives in its ARN's region, whatever the function's.
        match arn_region(secret_id) {
            Some(region) => {
                request = request
                    .config_override(aws_sdk_secretsmanager::Config::builder().region(Region::new(region.to_string())))
            }
            None if !self.has_region => {
                return Err(ConfigError::Missing {
                    var: "AWS_REGION",
                    hint: "a secret named without its ARN needs a region",
                })
            }
            None => {}
        }
        let answer = request.send().await.map_err(|e| ConfigError::Fetch { var, reason: self.reason(&e) })?;
        let Some(mut value) = answer.secret_string else {
            return Err(ConfigError::Invalid {
                var,
                reason: "the secret holds binary data; store the value as a secret string".into(),
            });
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            value.zeroize();
            return Err(ConfigError::Invalid { var, reason: "the secret is empty".into() });
        }
        if trimmed.len() == value.len() {
            return Ok(SecretString::from(value));
        }
        let secret = SecretString::from(trimmed.to_string());
        value.zeroize();
        Ok(secret)
    }

    /// What went wrong, for the message: the service's error code and
    /// message, or the transport's chain of causes. Never a secret: an error
    /// answer holds none.
    fn reason(&self, error: &SdkError<GetSecretValueError, HttpResponse>) -> String {
        let SdkError::ServiceError(service) = error else {
            let reason = crate::report::error_chain(error);
            if self.chain && reason.contains("credentials") {
                return format!(
                    "{reason} (credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else AWS's \
                     default chain: AWS_PROFILE and ~/.aws/config, SSO, web identity, container or instance \
                     metadata)"
                );
            }
            return reason;
        };
        // JSON as the service answers; XML (`<Code>`, `<Message>`) as some
        // front ends and emulators do (moto's signature checks); else the
        // status alone.
        let body = service.raw().body().bytes().unwrap_or_default();
        let code = service.err().code().map(str::to_string).or_else(|| xml_text(body, "Code"));
        let message = service.err().message().map(str::to_string).or_else(|| xml_text(body, "Message"));
        let code = code.unwrap_or_else(|| format!("HTTP {}", service.raw().status().as_u16()));
        match message {
            Some(message) => format!("{code}: {message}"),
            None => code,
        }
    }
}

/// The source's own keys, as Lambda sets them; `None` leaves credentials
/// to the default chain.
fn static_credentials(src: &impl Source) -> Option<Credentials> {
    let id = src.get("AWS_ACCESS_KEY_ID").filter(|v| !v.trim().is_empty())?;
    let key = src.get("AWS_SECRET_ACCESS_KEY").filter(|v| !v.trim().is_empty())?;
    let token = src.get("AWS_SESSION_TOKEN").map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    Some(Credentials::new(id.trim(), key.trim(), token, None, "environment"))
}

/// The text of the first `<tag>…</tag>` in an XML error body.
fn xml_text(body: &[u8], tag: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + text[start..].find(&format!("</{tag}>"))?;
    Some(text[start..end].trim().to_string()).filter(|t| !t.is_empty())
}

/// An endpoint override as `scheme://authority/`; anything else is refused
/// here rather than met by the SDK.
fn endpoint_override(var: &'static str, url: &str) -> Result<String, ConfigError> {
    let invalid = || ConfigError::Invalid { var, reason: "expected http(s)://host[:port]".into() };
    let uri: http::Uri = url.trim().parse().map_err(|_| invalid())?;
    let scheme = uri.scheme_str().filter(|s| *s == "http" || *s == "https").ok_or_else(invalid)?;
    let authority =
        uri.authority().filter(|a| !a.as_str().contains('@') && !a.host().is_empty()).ok_or_else(invalid)?;
    Ok(format!("{scheme}://{authority}/"))
}

/// `arn:aws:secretsmanager:<region>:<account>:secret:<name>` → `<region>`.
fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("secretsmanager"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
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
        "CLERK_SECRET_KEY_ARN" => Ok(("CLERK_SECRET_KEY", value)),
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

    #[test]
    fn endpoint_overrides_are_scheme_and_authority_only() {
        let ok = |url: &str| endpoint_override("AWS_ENDPOINT_URL", url).ok();
        assert_eq!(ok("http://127.0.0.1:5000").as_deref(), Some("http://127.0.0.1:5000/"));
        assert_eq!(
            ok(" https://vpce-1.secretsmanager.eu-west-1.vpce.amazonaws.com/ ").as_deref(),
            Some("https://vpce-1.secretsmanager.eu-west-1.vpce.amazonaws.com/")
        );
        for bad in ["localhost:4566", "ftp://h", "http://user:pw@h", "not a url", "/path"] {
            let e = endpoint_override("AWS_ENDPOINT_URL", bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.starts_with("AWS_ENDPOINT_URL") && !e.contains("pw"), "{bad}: {e}");
        }
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

    #[test]
    fn the_sources_own_keys_are_used_as_they_are() {
        let keys: HashMap<&str, &str> = HashMap::from([
            ("AWS_ACCESS_KEY_ID", " AKID "),
            ("AWS_SECRET_ACCESS_KEY", "key"),
            ("AWS_SESSION_TOKEN", "tok"),
        ]);
        let credentials = static_credentials(&keys);
        assert_eq!(credentials.as_ref().map(|c| c.access_key_id()), Some("AKID"));
        assert_eq!(credentials.as_ref().and_then(|c| c.session_token()), Some("tok"));
        // Half a key pair, or none: the default chain (profiles, SSO, instance metadata).
        let half: HashMap<&str, &str> = HashMap::from([("AWS_ACCESS_KEY_ID", "AKID")]);
        assert!(static_credentials(&half).is_none());
        assert!(static_credentials(&HashMap::<&str, &str>::new()).is_none());
    }

    #[test]
    fn xml_error_bodies_give_their_code_and_message() {
        let xml =
            b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error></ErrorResponse>";
        assert_eq!(xml_text(xml, "Code").as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(xml_text(xml, "Message").as_deref(), Some("no"));
        assert_eq!(xml_text(b"{}", "Code"), None);
    }
}
