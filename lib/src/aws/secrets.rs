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
//! not touch AWS at all. The call is configured from the same source
//! (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, as
//! Lambda sets them; `AWS_REGION` for secrets named without an ARN;
//! `AWS_ENDPOINT_URL[_SECRETS_MANAGER]`); see `SecretsManager` below for why it
//! is not the AWS SDK.

use std::{
    fmt,
    time::{Duration, SystemTime},
};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{sign, SignableBody, SignableRequest, SigningSettings},
    sign::v4,
};
use bytes::Bytes;
use http_body_util::Full;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroize;

use crate::{
    config::{ConfigError, Source},
    http::client::{self, HttpClient},
};

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
    let aws = SecretsManager::from_source(&base)?;
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
/// whole init phase 10 s (connecting gives up after 2 s, see
/// [`crate::http::client`]).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(7);
/// As the SDK's standard retry mode: three attempts, for throttling, 5xx
/// answers and transport failures.
const MAX_ATTEMPTS: u32 = 3;
/// A secret is at most 64 KiB; the answer wraps it in a little JSON.
const MAX_ANSWER: usize = 256 * 1024;

/// `GetSecretValue`, the one Secrets Manager call the functions make: a JSON
/// POST signed with SigV4 by `aws-sigv4` (the SDK's own signer) and sent with
/// the process's shared HTTP client ([`crate::http::client`]). The SDK for this one call (its
/// runtime, the STS client behind `aws-config`, an HTTP/2 stack) made every
/// function binary several MiB larger and over budget (BENCHMARKS.md).
///
/// Credentials are the environment's (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: what Lambda sets); the
/// endpoint is `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL`,
/// else the regional one of the ARN's partition.
struct SecretsManager {
    http: &'static HttpClient,
    credentials: Credentials,
    /// `AWS_REGION`/`AWS_DEFAULT_REGION`, for secrets named without an ARN.
    region: Option<String>,
    /// An endpoint override (`scheme://authority/`), checked up front.
    endpoint: Option<String>,
}

/// How one attempt failed.
enum Failure {
    /// Worth another attempt: throttling, a 5xx answer, a transport fault.
    Transient(String),
    /// The answer is final: the secret is missing, access denied, …
    Final(String),
}

impl SecretsManager {
    fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let (Some(id), Some(key)) = (src.get("AWS_ACCESS_KEY_ID"), src.get("AWS_SECRET_ACCESS_KEY")) else {
            return Err(ConfigError::Missing {
                var: "AWS_ACCESS_KEY_ID",
                hint: "*_ARN secrets are fetched with the credentials Lambda sets (AWS_ACCESS_KEY_ID, \
                       AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); elsewhere export them, e.g. \
                       eval \"$(aws configure export-credentials --format env)\"",
            });
        };
        let credentials = Credentials::new(
            id.trim(),
            key.trim(),
            src.get("AWS_SESSION_TOKEN").map(|t| t.trim().to_string()),
            None,
            "env",
        );
        let region = src.get("AWS_REGION").or_else(|| src.get("AWS_DEFAULT_REGION")).map(|r| r.trim().to_string());
        let endpoint = match src.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") {
            Some(url) => Some(endpoint_override("AWS_ENDPOINT_URL_SECRETS_MANAGER", &url)?),
            None => src.get("AWS_ENDPOINT_URL").map(|url| endpoint_override("AWS_ENDPOINT_URL", &url)).transpose()?,
        };
        let http = client::shared()
            .and_then(|http| http.https_ready().map(|()| http))
            .map_err(|e| ConfigError::Invalid { var: "AWS_ENDPOINT_URL", reason: e.to_string() })?;
        Ok(Self { http, credentials, region, endpoint })
    }

    /// The secret string `secret_id` (an ARN, or a name in the configured
    /// region) holds; errors name `var`, never a value.
    async fn get_secret_value(&self, var: &'static str, secret_id: &str) -> Result<SecretString, ConfigError> {
        let fetch_error = |reason: String| ConfigError::Fetch { var, reason };
        // A secret lives in its ARN's region, whatever the function's.
        let region = arn_region(secret_id)
            .map(str::to_string)
            .or_else(|| self.region.clone())
            .ok_or(ConfigError::Missing { var: "AWS_REGION", hint: "a secret named without its ARN needs a region" })?;
        let url = match &self.endpoint {
            Some(url) => url.clone(),
            None => format!("https://secretsmanager.{region}.{}/", dns_suffix(secret_id)),
        };
        let body = serde_json::json!({ "SecretId": secret_id }).to_string();
        let attempts = async {
            let mut last = String::new();
            for attempt in 1..=MAX_ATTEMPTS {
                if attempt > 1 {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                match self.attempt(&url, &region, &body).await {
                    Ok(value) => return Ok(value),
                    Err(Failure::Final(reason)) => return Err(reason),
                    Err(Failure::Transient(reason)) => last = reason,
                }
            }
            Err(last)
        };
        let value = tokio::time::timeout(OPERATION_TIMEOUT, attempts)
            .await
            .map_err(|_| fetch_error("timed out".into()))?
            .map_err(fetch_error)?;
        match value {
            Some(value) if !value.expose_secret().trim().is_empty() => {
                Ok(SecretString::from(value.expose_secret().trim().to_string()))
            }
            Some(_) => Err(ConfigError::Invalid { var, reason: "the secret is empty".into() }),
            None => Err(ConfigError::Invalid {
                var,
                reason: "the secret holds binary data; store the value as a secret string".into(),
            }),
        }
    }

    /// One signed request. `Ok(None)`: the secret holds binary data only.
    async fn attempt(&self, url: &str, region: &str, body: &str) -> Result<Option<SecretString>, Failure> {
        const HEADERS: [(&str, &str); 2] =
            [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "secretsmanager.GetSecretValue")];
        let identity = self.credentials.clone().into();
        let signing = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("secretsmanager")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::Final(format!("cannot sign the request: {e}")))?
            .into();
        let signable = SignableRequest::new("POST", url, HEADERS.into_iter(), SignableBody::Bytes(body.as_bytes()))
            .and_then(|request| sign(request, &signing))
            .map_err(|e| Failure::Final(format!("cannot sign the request: {e}")))?;
        let mut request = http::Request::post(url);
        for (name, value) in HEADERS {
            request = request.header(name, value);
        }
        let mut request = request
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .map_err(|e| Failure::Final(format!("cannot build the request: {e}")))?;
        signable.into_parts().0.apply_to_request_http1x(&mut request);

        let response = self.http.send(request, ATTEMPT_TIMEOUT, MAX_ANSWER).await.map_err(|e| match e {
            // The client checked the roots up front (`from_source`).
            client::Error::Tls(reason) => Failure::Final(reason),
            e => Failure::Transient(crate::report::error_chain(&e)),
        })?;
        let status = response.status;
        let error_type = response.headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut answer: Vec<u8> = response.body.into();
        let outcome = if status.is_success() {
            match serde_json::from_slice::<SecretValue>(&answer) {
                Ok(value) => Ok(value.secret_string.map(SecretString::from)),
                Err(_) => Err(Failure::Final("the answer is not a GetSecretValue result".into())),
            }
        } else {
            // JSON as the service answers; XML (`<Code>`, `<Message>`) as
            // some front ends and emulators do; else the status alone.
            let error = serde_json::from_slice::<AwsError>(&answer).unwrap_or_else(|_| AwsError {
                kind: xml_text(&answer, "Code"),
                message: xml_text(&answer, "Message"),
            });
            let code = error.kind.as_deref().or(error_type.as_deref()).map(error_code).unwrap_or("").to_string();
            let code = if code.is_empty() { status.to_string() } else { code };
            let reason = match error.message {
                Some(message) => format!("{code}: {message}"),
                None => code.clone(),
            };
            let transient = status.is_server_error()
                || status == http::StatusCode::TOO_MANY_REQUESTS
                || code.contains("Throttling");
            Err(if transient { Failure::Transient(reason) } else { Failure::Final(reason) })
        };
        answer.zeroize();
        outcome
    }
}

#[derive(Deserialize)]
struct SecretValue {
    #[serde(rename = "SecretString")]
    secret_string: Option<String>,
}

#[derive(Default, Deserialize)]
struct AwsError {
    #[serde(rename = "__type")]
    kind: Option<String>,
    #[serde(alias = "Message")]
    message: Option<String>,
}

/// The text of the first `<tag>…</tag>` in an XML error body.
fn xml_text(body: &[u8], tag: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + text[start..].find(&format!("</{tag}>"))?;
    Some(text[start..end].trim().to_string()).filter(|t| !t.is_empty())
}

/// `aws.protocol#ResourceNotFoundException:http://…` → `ResourceNotFoundException`.
fn error_code(raw: &str) -> &str {
    let code = raw.rsplit_once('#').map_or(raw, |(_, code)| code);
    code.split_once(':').map_or(code, |(code, _)| code).trim()
}

/// An endpoint override as `scheme://authority/`; anything else is refused
/// here rather than met by the signer.
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

/// The regional endpoints' domain in the ARN's partition.
fn dns_suffix(arn: &str) -> &'static str {
    match arn.split(':').nth(1) {
        Some("aws-cn") => "amazonaws.com.cn",
        _ => "amazonaws.com",
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
    fn aws_error_codes_lose_their_namespace_and_uri() {
        assert_eq!(error_code("ResourceNotFoundException"), "ResourceNotFoundException");
        assert_eq!(error_code("com.amazonaws.secretsmanager#AccessDeniedException"), "AccessDeniedException");
        assert_eq!(
            error_code("aws.protocoltests#ThrottlingException:http://internal.amazon.com/"),
            "ThrottlingException"
        );
        let xml =
            b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error></ErrorResponse>";
        assert_eq!(xml_text(xml, "Code").as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(xml_text(xml, "Message").as_deref(), Some("no"));
        assert_eq!(xml_text(b"{}", "Code"), None);
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

    #[test]
    fn regional_endpoints_follow_the_partition() {
        assert_eq!(dns_suffix("arn:aws:secretsmanager:eu-west-1:1:secret:x"), "amazonaws.com");
        assert_eq!(dns_suffix("arn:aws-cn:secretsmanager:cn-north-1:1:secret:x"), "amazonaws.com.cn");
        assert_eq!(dns_suffix("arn:aws-us-gov:secretsmanager:us-gov-west-1:1:secret:x"), "amazonaws.com");
        assert_eq!(dns_suffix("plain-name"), "amazonaws.com");
    }

    #[tokio::test]
    async fn fetching_needs_environment_credentials() {
        let base: HashMap<&str, &str> =
            HashMap::from([("DATABASE_URL_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:db")]);
        let e = load(&base).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("AWS_ACCESS_KEY_ID is not set"), "{e}");
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
