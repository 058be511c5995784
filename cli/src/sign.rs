//! `clerk-sync sign`: a Clerk payload, signed as Svix signs a delivery, and
//! wrapped in the Lambda Function URL request event that carries it.
//!
//! The body is the payload file's bytes exactly as they are: the signature
//! covers those bytes, so nothing is re-serialized or trimmed.

use std::{
    io::{self, Write},
    path::PathBuf,
    time::{SystemTime, UNIX_EPOCH},
};

use clap::Args;
use clerk_sync::{
    clerk::Envelope,
    ids::{InvalidId, SvixId},
};
use svix::webhooks::Webhook;

use crate::{error::Failure, event::function_url_event};

/// Sign a Clerk webhook payload and wrap it in a Lambda Function URL request event
///
/// The payload file's bytes are the request body exactly as they are (nothing
/// is re-serialized or trimmed), signed as Svix signs a delivery: svix-id,
/// svix-timestamp (now, unless given) and svix-signature headers. The event
/// prints to standard output, or to --output.
///
/// Handlers accept a signature for 5 minutes: sign again just before sending.
///
/// Examples:
///   clerk-sync sign events/payloads/user.created.json -o /tmp/ev.json
///   cargo lambda watch -A 127.0.0.1    # in another terminal
///   cargo lambda invoke clerk-users --invoke-address 127.0.0.1 --data-file /tmp/ev.json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SignArgs {
    /// The Clerk payload to sign, e.g. events/payloads/user.created.json.
    #[arg(value_name = "PAYLOAD.json")]
    payload: PathBuf,

    /// Write the event to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// The svix-id header [default: a fresh msg_<uuid>]. Reusing an id replays the
    /// same message: the handler answers it as a duplicate.
    #[arg(long, value_name = "ID")]
    svix_id: Option<String>,

    /// The svix-timestamp header, in Unix seconds [default: now]. Handlers refuse
    /// timestamps more than 5 minutes from their clock.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(0..))]
    timestamp: Option<i64>,

    /// The request path (rawPath) of the event.
    #[arg(long, value_name = "PATH", default_value = "/")]
    path: String,

    /// The endpoint's signing secret (whsec_…); with several (comma- or
    /// whitespace-separated, as during a rotation) the first signs
    /// [default: the development secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw].
    /// Never printed.
    #[arg(long, env = "CLERK_WEBHOOK_SECRET", hide_env_values = true, value_name = "WHSEC")]
    secret: Option<String>,
}

/// Every way `sign` fails. None prints the secret.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read the payload {}: {source}", path.display())]
    ReadPayload { path: PathBuf, source: io::Error },

    #[error(
        "the payload {} is not UTF-8 text: Svix signs text bodies; pass a Clerk JSON payload \
         such as events/payloads/user.created.json",
        path.display()
    )]
    PayloadNotUtf8 { path: PathBuf },

    #[error(
        "the signing secret from {origin} is not a Svix signing secret: expected whsec_ followed by padded \
         base64; copy it from the Clerk dashboard (Webhooks → your endpoint → Signing Secret), \
         or unset it to sign with the development secret"
    )]
    InvalidSecret { origin: &'static str },

    #[error("--svix-id is invalid: {0} (e.g. msg_2pQm7ZtR4eLw9NcB1xVk6HsYuJa)")]
    InvalidSvixId(InvalidId),

    #[error("--path {0:?} is invalid: it must start with '/' and contain no '?', '#' or whitespace (e.g. /webhooks)")]
    InvalidPath(String),

    #[error("cannot sign the payload: {0}")]
    Sign(svix::webhooks::WebhookError),

    #[error("cannot serialize the event: {0}")]
    Serialize(serde_json::Error),

    #[error("cannot write the event to {}: {source}", path.display())]
    WriteOutput { path: PathBuf, source: io::Error },

    #[error("cannot write the event to standard output: {0}")]
    WriteStdout(io::Error),
}

impl Failure for SignError {}

/// The development signing secret: the first published Svix test vector's,
/// also used by the test suite and the local stack. Never use it for a real
/// endpoint.
pub const DEV_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The secret a delivery is signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret<'a> {
    /// The first of `count` configured secrets.
    Configured { secret: &'a str, count: usize },
    /// Nothing configured: [`DEV_SECRET`].
    Development,
}

impl<'a> Secret<'a> {
    /// Picks the first of the comma- or whitespace-separated secrets in
    /// `configured` (the `CLERK_WEBHOOK_SECRET` format), or the development
    /// secret when there is none.
    pub fn choose(configured: Option<&'a str>) -> Self {
        let mut secrets =
            configured.unwrap_or_default().split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty());
        match secrets.next() {
            Some(secret) => Secret::Configured { secret, count: 1 + secrets.count() },
            None => Secret::Development,
        }
    }

    pub fn value(&self) -> &'a str {
        match self {
            Secret::Configured { secret, .. } => secret,
            Secret::Development => DEV_SECRET,
        }
    }
}

/// A fresh message id, shaped like Svix's: `msg_` and 32 hex digits.
pub fn fresh_svix_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// Checks a `--path` value: an absolute path without query or fragment.
pub fn check_path(path: &str) -> Result<(), SignError> {
    let ok =
        path.starts_with('/') && !path.chars().any(|c| c == '?' || c == '#' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(SignError::InvalidPath(path.to_string()))
    }
}

/// Signs `body` with `secret` as message `svix_id` sent at `timestamp`, and
/// wraps it in a Function URL request event for `path`: pretty JSON text,
/// ending with a newline.
pub fn signed_event(secret: &str, svix_id: &str, timestamp: i64, path: &str, body: &str) -> Result<String, SignError> {
    let svix_id = SvixId::parse(svix_id).map_err(SignError::InvalidSvixId)?;
    check_path(path)?;
    let webhook =
        Webhook::new(secret).map_err(|_| SignError::InvalidSecret { origin: "CLERK_WEBHOOK_SECRET (or --secret)" })?;
    let signature = webhook.sign(svix_id.as_str(), timestamp, body.as_bytes()).map_err(SignError::Sign)?;
    let timestamp_text = timestamp.to_string();
    let headers = [
        ("svix-id", svix_id.as_str()),
        ("svix-timestamp", timestamp_text.as_str()),
        ("svix-signature", signature.as_str()),
        ("content-type", "application/json"),
    ];
    let mut text = serde_json::to_string_pretty(&function_url_event(path, &headers, body, timestamp))
        .map_err(SignError::Serialize)?;
    text.push('\n');
    Ok(text)
}

pub fn run(args: SignArgs) -> Result<(), SignError> {
    let bytes =
        std::fs::read(&args.payload).map_err(|source| SignError::ReadPayload { path: args.payload.clone(), source })?;
    let body = std::str::from_utf8(&bytes).map_err(|_| SignError::PayloadNotUtf8 { path: args.payload.clone() })?;

    let secret = Secret::choose(args.secret.as_deref());
    match secret {
        Secret::Development => eprintln!(
            "note: CLERK_WEBHOOK_SECRET is not set; signing with the development secret {}. \
             Set CLERK_WEBHOOK_SECRET or pass --secret to sign for another endpoint.",
            DEV_SECRET
        ),
        Secret::Configured { count, .. } if count > 1 => {
            eprintln!("note: CLERK_WEBHOOK_SECRET holds {count} secrets; signing with the first")
        }
        Secret::Configured { .. } => {}
    }

    let svix_id = args.svix_id.unwrap_or_else(fresh_svix_id);
    let timestamp = args.timestamp.unwrap_or_else(now);
    let text = signed_event(secret.value(), &svix_id, timestamp, &args.path, body)?;

    match Envelope::parse(&bytes) {
        Ok(envelope) => eprintln!("signed {} as {svix_id} at {timestamp}", envelope.event_type),
        Err(reason) => eprintln!(
            "warning: {} is not a Clerk webhook payload ({reason}); the handlers will answer 400",
            args.payload.display()
        ),
    }

    match &args.output {
        Some(path) => {
            std::fs::write(path, text).map_err(|source| SignError::WriteOutput { path: path.clone(), source })?
        }
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).map_err(SignError::WriteStdout)?
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clerk_sync::webhook::SigningSecrets;
    use secrecy::SecretString;

    use serde_json::Value;

    use super::*;

    const PAYLOAD: &str = include_str!("../../events/payloads/user.created.json");

    fn parse(event: &Value) -> lambda_http::Request {
        match lambda_http::request::from_str(&event.to_string()) {
            Ok(request) => request,
            Err(e) => panic!("lambda_http refuses the event: {e}"),
        }
    }

    fn secrets(raw: &str) -> SigningSecrets {
        match SigningSecrets::parse(&SecretString::from(raw)) {
            Ok(secrets) => secrets,
            Err(e) => panic!("secrets do not parse: {e}"),
        }
    }

    fn event(secret: &str, svix_id: &str, timestamp: i64, path: &str, body: &str) -> Value {
        let text = match signed_event(secret, svix_id, timestamp, path, body) {
            Ok(text) => text,
            Err(e) => panic!("signing failed: {e}"),
        };
        assert!(text.ends_with("}\n"), "{text}");
        match serde_json::from_str(&text) {
            Ok(event) => event,
            Err(e) => panic!("the event is not JSON: {e}"),
        }
    }

    #[test]
    fn matches_the_published_svix_vector() {
        let event = event(DEV_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, "/", r#"{"test": 2432232314}"#);
        assert_eq!(event["headers"]["svix-signature"], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(event["headers"]["svix-timestamp"], "1614265330");
    }

    #[test]
    fn lambda_http_accepts_the_event_and_the_handler_secrets_verify_it() {
        let event = event(DEV_SECRET, &fresh_svix_id(), now(), "/webhooks/users", PAYLOAD);
        let request = parse(&event);
        assert_eq!(request.method(), lambda_http::http::Method::POST);
        assert_eq!(request.uri().path(), "/webhooks/users");
        assert_eq!(request.body().as_ref(), PAYLOAD.as_bytes(), "the body is the file's bytes, untouched");
        assert!(PAYLOAD.ends_with('\n'), "the trailing newline is part of the signed bytes");
        let verified = secrets(DEV_SECRET).verify(request.body().as_ref(), request.headers());
        assert!(verified.is_ok(), "{verified:?}");
    }

    #[test]
    fn a_changed_body_or_another_secret_does_not_verify() {
        let event = event(DEV_SECRET, "msg_sample", now(), "/", PAYLOAD);
        let request = parse(&event);
        let trimmed = PAYLOAD.trim_end().as_bytes();
        assert!(secrets(DEV_SECRET).verify(trimmed, request.headers()).is_err());
        let other = secrets("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        assert!(other.verify(request.body().as_ref(), request.headers()).is_err());
    }

    #[test]
    fn signs_with_the_first_configured_secret() {
        let configured = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD, whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let secret = Secret::choose(Some(configured));
        assert_eq!(secret, Secret::Configured { secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", count: 2 });
        let request = parse(&event(secret.value(), "msg_rotating", now(), "/", PAYLOAD));
        let first_only = secrets("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        assert!(first_only.verify(request.body().as_ref(), request.headers()).is_ok());
        assert!(secrets(DEV_SECRET).verify(request.body().as_ref(), request.headers()).is_err());
    }

    #[test]
    fn falls_back_to_the_development_secret() {
        assert_eq!(Secret::choose(None), Secret::Development);
        assert_eq!(Secret::choose(Some(" , \n")), Secret::Development);
        assert_eq!(Secret::Development.value(), DEV_SECRET);
    }

    #[test]
    fn a_stale_timestamp_is_refused_by_the_handler_secrets() {
        let request = parse(&event(DEV_SECRET, "msg_old", now() - 301, "/", PAYLOAD));
        let secrets = secrets(DEV_SECRET);
        assert!(secrets.verify(request.body().as_ref(), request.headers()).is_err());
        assert!(secrets.verify_ignoring_timestamp(request.body().as_ref(), request.headers()).is_ok());
    }

    #[test]
    fn fresh_ids_are_svix_shaped_and_distinct() {
        let (a, b) = (fresh_svix_id(), fresh_svix_id());
        assert!(a.starts_with("msg_") && a.len() == 36, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn refuses_bad_input_with_a_reason() {
        let bad_secret = signed_event("whsec_not base64!", "msg_1", now(), "/", PAYLOAD);
        assert!(matches!(bad_secret, Err(SignError::InvalidSecret { .. })), "{bad_secret:?}");
        let bad_id = signed_event(DEV_SECRET, "msg 1", now(), "/", PAYLOAD);
        assert!(matches!(bad_id, Err(SignError::InvalidSvixId(_))), "{bad_id:?}");
        for path in ["", "webhooks", "/a?b=1", "/a#b", "/a b"] {
            let bad_path = signed_event(DEV_SECRET, "msg_1", now(), path, PAYLOAD);
            assert!(matches!(bad_path, Err(SignError::InvalidPath(_))), "{path:?}: {bad_path:?}");
        }
    }

    #[test]
    fn error_messages_never_contain_the_secret() {
        let secret = "whsec_not base64!";
        let message = match signed_event(secret, "msg_1", now(), "/", PAYLOAD) {
            Ok(_) => panic!("an invalid secret signs"),
            Err(e) => e.to_string(),
        };
        assert!(!message.contains("not base64"), "{message}");
        assert!(message.contains("CLERK_WEBHOOK_SECRET"), "{message}");
    }
}
