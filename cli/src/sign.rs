//! `clerk-sync sign`: a Clerk payload, signed as Svix signs a delivery, and
//! wrapped in the Lambda Function URL request event that carries it.
//!
//! The body is the payload file's bytes exactly as they are: the signature
//! covers those bytes, so nothing is re-serialized or trimmed.

use std::time::{SystemTime, UNIX_EPOCH};

use clerk_sync::ids::SvixId;
use svix::webhooks::Webhook;

use crate::{error::CliError, event::function_url_event};

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
pub fn check_path(path: &str) -> Result<(), CliError> {
    let ok =
        path.starts_with('/') && !path.chars().any(|c| c == '?' || c == '#' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(CliError::InvalidPath(path.to_string()))
    }
}

/// Signs `body` with `secret` as message `svix_id` sent at `timestamp`, and
/// wraps it in a Function URL request event for `path`: pretty JSON text,
/// ending with a newline.
pub fn signed_event(secret: &str, svix_id: &str, timestamp: i64, path: &str, body: &str) -> Result<String, CliError> {
    let svix_id = SvixId::parse(svix_id).map_err(CliError::InvalidSvixId)?;
    check_path(path)?;
    let webhook =
        Webhook::new(secret).map_err(|_| CliError::InvalidSecret { origin: "CLERK_WEBHOOK_SECRET (or --secret)" })?;
    let signature = webhook.sign(svix_id.as_str(), timestamp, body.as_bytes()).map_err(CliError::Sign)?;
    let timestamp_text = timestamp.to_string();
    let headers = [
        ("svix-id", svix_id.as_str()),
        ("svix-timestamp", timestamp_text.as_str()),
        ("svix-signature", signature.as_str()),
        ("content-type", "application/json"),
    ];
    let mut text = serde_json::to_string_pretty(&function_url_event(path, &headers, body, timestamp))
        .map_err(CliError::Serialize)?;
    text.push('\n');
    Ok(text)
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
        assert!(matches!(bad_secret, Err(CliError::InvalidSecret { .. })), "{bad_secret:?}");
        let bad_id = signed_event(DEV_SECRET, "msg 1", now(), "/", PAYLOAD);
        assert!(matches!(bad_id, Err(CliError::InvalidSvixId(_))), "{bad_id:?}");
        for path in ["", "webhooks", "/a?b=1", "/a#b", "/a b"] {
            let bad_path = signed_event(DEV_SECRET, "msg_1", now(), path, PAYLOAD);
            assert!(matches!(bad_path, Err(CliError::InvalidPath(_))), "{path:?}: {bad_path:?}");
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
