//! A local AWS Secrets Manager for the tests: `moto_server`, started once per
//! test process on a free port and stopped when the process exits.
//! `TEST_MOTO_ENDPOINT` (e.g. `http://127.0.0.1:5000`) uses a running one
//! instead.
//!
//! Nothing here touches the process environment: the tests hand the AWS
//! settings to the code under test through its `Source` ([`aws_vars`]).

use std::{
    net::{SocketAddr, TcpStream},
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use aws_sdk_secretsmanager::{
    config::{BehaviorVersion, Credentials, Region},
    Client,
};

use crate::postgres::free_port;

pub const REGION: &str = "us-east-1";

const MISSING: &str = "moto_server is not installed: the Secrets Manager tests run against a local moto \
(pip install 'moto[server]'), or set TEST_MOTO_ENDPOINT to a running one";

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The endpoint URL of the local Secrets Manager, started on first use.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| match std::env::var("TEST_MOTO_ENDPOINT") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => start(),
    })
}

/// The settings that point the AWS SDK at the local server, as a function
/// would read them from its environment.
pub fn aws_vars() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint().to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("AWS_REGION", REGION.to_string()),
    ]
}

/// An SDK client for the local server, for the tests' own setup.
pub fn client() -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .build();
    Client::from_conf(config)
}

/// Stores `value` as a new secret string under a unique name; returns its ARN.
pub async fn create_secret(value: &str) -> String {
    let name = format!("clerk-sync-test/{}", uuid::Uuid::new_v4().simple());
    let created =
        client().create_secret().name(&name).secret_string(value).send().await.expect("moto creates the secret");
    created.arn().expect("moto returns the ARN").to_string()
}

/// A well-formed ARN of a secret that does not exist.
pub fn missing_arn() -> String {
    format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:clerk-sync-missing-{}", uuid::Uuid::new_v4().simple())
}

static AUTH_ENDPOINT: OnceLock<String> = OnceLock::new();

/// A second local Secrets Manager, for the one test that has moto check
/// signatures: with checking on, every other test's made-up keys would be
/// refused, so it is never the shared one. `TEST_MOTO_AUTH_ENDPOINT` uses a
/// running one instead.
pub fn auth_endpoint() -> &'static str {
    AUTH_ENDPOINT.get_or_init(|| match std::env::var("TEST_MOTO_AUTH_ENDPOINT") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => start(),
    })
}

/// Credentials moto knows, and the ARN of a secret they may read.
pub struct SignedSetup {
    /// An IAM user's long-term key.
    pub access_key_id: String,
    pub secret_access_key: String,
    /// A role session's temporary credentials, as Lambda hands a function.
    pub session: (String, String, String),
    pub arn: String,
}

/// On [`auth_endpoint`]: turns signature and permission checking on after
/// seven free actions, which create an IAM user with an access key and a
/// role, each allowed to read secrets, a secret holding `value`, and a
/// session of the role.
pub async fn signed_setup(value: &str) -> SignedSetup {
    let endpoint = auth_endpoint();
    // A plain-text body: moto reads it raw (a form body would be parsed away).
    let reset = post(endpoint, "/moto-api/reset-auth", "text/plain", "7", None);
    assert!(reset.starts_with("HTTP/1.1 200") || reset.starts_with("HTTP/1.0 200"), "reset-auth: {reset}");
    let name = format!("clerk-sync-{}", uuid::Uuid::new_v4().simple());
    let policy = form_encode(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#,
    );
    let trust = form_encode(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#,
    );
    query(endpoint, "iam", &format!("Action=CreateUser&UserName={name}"));
    let key = query(endpoint, "iam", &format!("Action=CreateAccessKey&UserName={name}"));
    query(endpoint, "iam", &format!("Action=PutUserPolicy&UserName={name}&PolicyName=read&PolicyDocument={policy}"));
    let role = query(endpoint, "iam", &format!("Action=CreateRole&RoleName={name}&AssumeRolePolicyDocument={trust}"));
    query(endpoint, "iam", &format!("Action=PutRolePolicy&RoleName={name}&PolicyName=read&PolicyDocument={policy}"));
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .build();
    let created = Client::from_conf(config)
        .create_secret()
        .name(format!("clerk-sync-test/{name}"))
        .secret_string(value)
        .send()
        .await
        .expect("moto creates the secret (a free action)");
    let role_arn = form_encode(&between(&role, "<Arn>", "</Arn>"));
    let session = query(endpoint, "sts", &format!("Action=AssumeRole&RoleArn={role_arn}&RoleSessionName=lambda"));
    SignedSetup {
        access_key_id: between(&key, "<AccessKeyId>", "</AccessKeyId>"),
        secret_access_key: between(&key, "<SecretAccessKey>", "</SecretAccessKey>"),
        session: (
            between(&session, "<AccessKeyId>", "</AccessKeyId>"),
            between(&session, "<SecretAccessKey>", "</SecretAccessKey>"),
            between(&session, "<SessionToken>", "</SessionToken>"),
        ),
        arn: created.arn().expect("moto returns the ARN").to_string(),
    }
}

/// A Query API call (IAM, STS), unsigned (one of the free actions); moto
/// routes it by the credential scope of the Authorization header.
fn query(endpoint: &str, service: &str, params: &str) -> String {
    let version = if service == "sts" { "2011-06-15" } else { "2010-05-08" };
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let body = format!("{params}&Version={version}");
    let answer = post(endpoint, "/", "application/x-www-form-urlencoded", &body, Some(&scope));
    assert!(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"), "{service} {params}: {answer}");
    answer
}

/// One HTTP/1.1 POST over a fresh connection; the whole answer as text.
fn post(endpoint: &str, path: &str, content_type: &str, body: &str, authorization: Option<&str>) -> String {
    use std::io::{Read, Write};
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("connect to moto");
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n{auth}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write to moto");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read from moto");
    answer
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).map(|i| i + start.len()).expect("the opening tag");
    let to = text[from..].find(end).map(|i| from + i).expect("the closing tag");
    text[from..to].to_string()
}

fn start() -> String {
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("clerk-sync-moto-{}.log", uuid::Uuid::new_v4().simple()));
        let log_file = std::fs::File::create(&log).expect("create the moto log");
        let spawned = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone the log handle"))
            .stderr(log_file)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_file(&log);
                match e.kind() {
                    std::io::ErrorKind::NotFound => panic!("{MISSING}"),
                    _ => panic!("cannot run moto_server ({e}): {MISSING}"),
                }
            }
        };
        // Killed once this test process is gone, however it ends.
        local_postgres::run_after_exit(&format!("kill {} 2>/dev/null", child.id()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                let _ = std::fs::remove_file(&log);
                return format!("http://127.0.0.1:{port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        last_error = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
    }
    panic!("moto_server did not start: {last_error}");
}
