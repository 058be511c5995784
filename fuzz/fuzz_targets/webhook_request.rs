//! The whole request path: `clerk_sync::handle` on fuzzed methods, header
//! sets, bodies and signatures, sent directly as an `http::Request` or
//! through `lambda_http::request::from_str` of a Function URL event with the
//! `isBase64Encoded` flag on or off.
//!
//! Database: `DATABASE_URL` when set (a throwaway database: the run writes
//! events into it; migrations run on the first request); otherwise a pool
//! pointing at a closed loopback port, so every request that passes
//! verification answers 503. That keeps the target self-contained and fast,
//! and every check before the database (method, size, signature, JSON shape)
//! is the same in both modes.
//!
//! Checks: only the documented statuses, each with its documented body
//! shape and headers; a request we did not sign with the configured secret
//! never gets past 401; no answer carries the secret or the database URL.
#![no_main]

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        LazyLock,
    },
};

use arbitrary::Arbitrary;
use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
use clerk_sync::{Family, WebhookConfig, WebhookState};
use clerk_sync_fuzz::{now_secs, Body, TEST_SECRET};
use http::{HeaderName, HeaderValue, Method, Request};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

/// Small, so the fuzzer reaches 413 as well as everything under it.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// Another valid secret: signatures made with it must never verify.
const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    states: Vec<WebhookState>,
    database_url: String,
    real_database: bool,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let (database_url, real_database) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => (url, true),
        _ => {
            // Bind and release: the port is then closed, so connecting is
            // refused at once (no timeout to wait for).
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free loopback port");
            (format!("postgres://fuzz:fuzz-db-password@127.0.0.1:{port}/fuzz"), false)
        }
    };
    let max_body = MAX_BODY_BYTES.to_string();
    let skip_migrations = if real_database { "false" } else { "true" };
    let vars: HashMap<&str, &str> = HashMap::from([
        ("DATABASE_URL", database_url.as_str()),
        ("CLERK_WEBHOOK_SECRET", TEST_SECRET),
        ("WEBHOOK_MAX_BODY_BYTES", max_body.as_str()),
        ("SKIP_DB_MIGRATIONS", skip_migrations),
        ("DB_CONNECT_TIMEOUT_SECS", "2"),
        ("DB_POOL_WAIT_TIMEOUT_SECS", "2"),
    ]);
    let states = [Family::Users, Family::Organizations, Family::Memberships, Family::All]
        .into_iter()
        .map(|family| {
            let config = WebhookConfig::from_source(&vars).expect("valid fuzz configuration");
            WebhookState::new(family, config).expect("state builds")
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    Fixture { runtime, states, database_url, real_database }
});

static MESSAGES: AtomicU64 = AtomicU64::new(0);

/// Answers so far by status and code, printed at each power of two from
/// 65,536 requests on when `CLERK_FUZZ_STATS` is set: how deep inputs get.
static STATS: LazyLock<Option<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>> =
    LazyLock::new(|| std::env::var_os("CLERK_FUZZ_STATS").map(|_| Default::default()));

fn count(response: &http::Response<String>) {
    let Some(stats) = &*STATS else { return };
    let body: Value = serde_json::from_str(response.body()).unwrap_or_default();
    let what = body.get("error").or_else(|| body.get("status")).and_then(Value::as_str).unwrap_or("?");
    let mut stats = stats.lock().unwrap_or_else(|p| p.into_inner());
    *stats.entry(format!("{} {what}", response.status().as_u16())).or_default() += 1;
    let total: u64 = stats.values().sum();
    if total.is_power_of_two() && total >= 1 << 16 {
        eprintln!("answers after {total} requests: {stats:?}");
    }
}

#[derive(Debug, Arbitrary)]
enum MethodChoice {
    Post,
    Get,
    Put,
    Head,
    Options,
    Token(String),
}

impl MethodChoice {
    fn name(&self) -> String {
        match self {
            MethodChoice::Post => "POST".into(),
            MethodChoice::Get => "GET".into(),
            MethodChoice::Put => "PUT".into(),
            MethodChoice::Head => "HEAD".into(),
            MethodChoice::Options => "OPTIONS".into(),
            MethodChoice::Token(t) => t.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum NameChoice {
    SvixId,
    SvixTimestamp,
    SvixSignature,
    WebhookId,
    WebhookTimestamp,
    WebhookSignature,
    ContentType,
    ContentLength,
    Raw(String),
}

impl NameChoice {
    fn name(&self) -> String {
        match self {
            NameChoice::SvixId => "svix-id".into(),
            NameChoice::SvixTimestamp => "svix-timestamp".into(),
            NameChoice::SvixSignature => "svix-signature".into(),
            NameChoice::WebhookId => "webhook-id".into(),
            NameChoice::WebhookTimestamp => "webhook-timestamp".into(),
            NameChoice::WebhookSignature => "webhook-signature".into(),
            NameChoice::ContentType => "content-type".into(),
            NameChoice::ContentLength => "content-length".into(),
            NameChoice::Raw(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum ValueChoice {
    MessageId,
    Now,
    Seconds(i64),
    Signature(Vec<u8>),
    Bytes(Vec<u8>),
}

impl ValueChoice {
    fn bytes(&self) -> Vec<u8> {
        match self {
            ValueChoice::MessageId => b"msg_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs".to_vec(),
            ValueChoice::Now => now_secs().to_string().into_bytes(),
            ValueChoice::Seconds(s) => s.to_string().into_bytes(),
            ValueChoice::Signature(raw) => format!("v1,{}", BASE64.encode(raw)).into_bytes(),
            ValueChoice::Bytes(b) => b.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum IdChoice {
    /// A new id each time.
    Fresh,
    /// One of a few ids, so a real database sees duplicates.
    Repeated(u8),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Skew {
    Now,
    Seconds(i16),
    Absolute(i64),
}

#[derive(Debug, Arbitrary)]
enum Form {
    Exact,
    /// Among other (wrong) signatures, as during a secret rotation.
    AmongOthers(Vec<u8>),
    OtherVersion,
    Truncated(u8),
    OtherSecret,
}

#[derive(Debug, Arbitrary)]
enum Signing {
    Unsigned,
    Signed { id: IdChoice, skew: Skew, form: Form, standard_webhooks: bool, first: bool },
}

#[derive(Debug, Arbitrary)]
enum Transport {
    Direct,
    FunctionUrl { base64: bool },
}

#[derive(Debug, Arbitrary)]
struct Input {
    method: MethodChoice,
    headers: Vec<(NameChoice, ValueChoice)>,
    body: Body,
    signing: Signing,
    transport: Transport,
    family: u8,
}

/// Headers AWS itself sets on a Function URL event (so no client controls
/// them) and on whose garbage lambda_http's request conversion panics:
/// left out of the Lambda path. See README.md.
const AWS_SET: [&str; 2] = ["host", "x-forwarded-proto"];

fuzz_target!(|input: Input| {
    let fixture = &*FIXTURE;
    let state = &fixture.states[input.family as usize % fixture.states.len()];
    let lambda = matches!(input.transport, Transport::FunctionUrl { .. });

    let mut body = input.body.bytes();
    if lambda && matches!(input.transport, Transport::FunctionUrl { base64: false }) {
        // A JSON event carries a text body: what arrives is its UTF-8 form.
        body = String::from_utf8_lossy(&body).into_owned().into_bytes();
    }

    let mut headers: Vec<(String, Vec<u8>)> = input
        .headers
        .iter()
        .take(12)
        .map(|(name, value)| (name.name(), value.bytes()))
        .filter(|(name, _)| !(lambda && AWS_SET.contains(&name.to_ascii_lowercase().as_str())))
        .collect();

    // Signed with the configured secret: only then may the request pass 401.
    let mut ours = false;
    if let Signing::Signed { id, skew, form, standard_webhooks, first } = &input.signing {
        let id = match id {
            IdChoice::Fresh => format!("msg_fuzz_{}_{}", std::process::id(), MESSAGES.fetch_add(1, Ordering::Relaxed)),
            IdChoice::Repeated(n) => format!("msg_fuzz_repeated_{}", n % 4),
            IdChoice::Raw(s) => s.clone(),
        };
        let timestamp = match skew {
            Skew::Now => now_secs(),
            Skew::Seconds(s) => now_secs() + i64::from(*s),
            Skew::Absolute(t) => *t,
        };
        let secret = if matches!(form, Form::OtherSecret) { OTHER_SECRET } else { TEST_SECRET };
        let webhook = svix::webhooks::Webhook::new(secret).expect("valid secret");
        // svix signs only UTF-8 bodies; others keep a made-up signature.
        let signature = webhook
            .sign(&id, timestamp, &body)
            .unwrap_or_else(|_| "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
        let signature = match form {
            Form::Exact | Form::OtherSecret => signature,
            Form::AmongOthers(raw) => format!("v1,{} {signature} v2,{}", BASE64.encode(raw), BASE64.encode(raw)),
            Form::OtherVersion => signature.replacen("v1,", "v2,", 1),
            Form::Truncated(n) => signature.chars().take(*n as usize % signature.len().max(1)).collect(),
        };
        ours = matches!(form, Form::Exact | Form::AmongOthers(_));
        let prefix = if *standard_webhooks { "webhook" } else { "svix" };
        let signed = vec![
            (format!("{prefix}-id"), id.into_bytes()),
            (format!("{prefix}-timestamp"), timestamp.to_string().into_bytes()),
            (format!("{prefix}-signature"), signature.into_bytes()),
        ];
        if *first {
            headers.splice(0..0, signed);
        } else {
            headers.extend(signed);
        }
    }

    let method = input.method.name();
    let response = match input.transport {
        Transport::Direct => {
            let Ok(method) = Method::from_bytes(method.as_bytes()) else { return };
            let mut request = Request::new(body.clone());
            *request.method_mut() = method;
            for (name, value) in &headers {
                if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value))
                {
                    request.headers_mut().append(name, value);
                }
            }
            fixture.runtime.block_on(clerk_sync::handle(state, request))
        }
        Transport::FunctionUrl { base64 } => {
            let event = function_url_event(&method, &headers, &body, base64);
            // An event lambda_http refuses never reaches a handler.
            let Ok(request) = lambda_http::request::from_str(&event) else { return };
            if matches!(
                request.extensions().get::<lambda_http::request::RequestContext>(),
                Some(lambda_http::request::RequestContext::ApiGatewayV2(_))
            ) {
                // The base64 flag is undone before the handler sees the body.
                assert_eq!(request.body().as_ref(), &body[..], "lambda_http changed the body");
            }
            fixture.runtime.block_on(clerk_sync::handle(state, request))
        }
    };
    let refused_early = if method != "POST" {
        Some(405)
    } else if body.len() > MAX_BODY_BYTES {
        Some(413)
    } else {
        None
    };
    count(&response);
    check(&response, ours, refused_early, fixture);
});

/// A Function URL (payload 2.0) event. Header values travel as JSON text,
/// so non-UTF-8 ones arrive in their lossy form; duplicates are joined with
/// commas, as AWS does.
fn function_url_event(method: &str, headers: &[(String, Vec<u8>)], body: &[u8], base64: bool) -> String {
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value).into_owned();
        let key = name.to_ascii_lowercase();
        match map.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                map.insert(key, Value::String(value));
            }
        }
    }
    let body = if base64 { BASE64.encode(body) } else { String::from_utf8_lossy(body).into_owned() };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": map,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "fuzz",
            "domainName": "fuzz.lambda-url.us-east-1.on.aws",
            "domainPrefix": "fuzz",
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "Svix-Webhooks/1.0"},
            "requestId": "fuzz-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "30/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_i64
        },
        "body": body,
        "isBase64Encoded": base64
    })
    .to_string()
}

const ACCEPTED: [&str; 5] = ["processed", "duplicate", "ignored", "stale", "failed"];

/// `ours`: validly signed with the configured secret; `refused_early`: the
/// status the method or size check must give. Only without a database may
/// an answer be 503.
fn check(response: &http::Response<String>, ours: bool, refused_early: Option<u16>, fixture: &Fixture) {
    let status = response.status().as_u16();
    let text = response.body();
    assert!(matches!(status, 200 | 400 | 401 | 405 | 413 | 503), "undocumented status {status}: {text}");
    assert_eq!(
        response.headers().get(http::header::CONTENT_TYPE).map(HeaderValue::as_bytes),
        Some(&b"application/json"[..]),
        "{status}: {text}"
    );
    let body: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("answer is not JSON ({e}): {text}"));
    let object = body.as_object().unwrap_or_else(|| panic!("answer is not an object: {text}"));

    // Nothing secret or internal. A 200 echoes the (authentic) svix-id and
    // type, which the fuzzer chose: only its reason is ours to check.
    let own_text = if status == 200 {
        object.get("reason").and_then(Value::as_str).unwrap_or_default().to_string()
    } else {
        text.clone()
    };
    let secret_key = TEST_SECRET.trim_start_matches("whsec_");
    for forbidden in [secret_key, &fixture.database_url, "fuzz-db-password", "panicked", "127.0.0.1", "/src/"] {
        assert!(!own_text.contains(forbidden), "answer carries {forbidden:?}: {text}");
    }

    if let Some(early) = refused_early {
        assert_eq!(status, early, "{text}");
    }
    if !ours {
        assert!(matches!(status, 401 | 405 | 413), "a request we did not sign passed verification: {status} {text}");
    }
    // A working database: an authentic delivery is never told to retry, not
    // even one past a PostgreSQL limit (tests/tests/it/hostile.rs pins those).
    assert!(!fixture.real_database || status != 503, "answered 503 on a working database: {text}");
    if !fixture.real_database {
        assert_ne!(status, 200, "accepted without a database: {text}");
    }

    if status == 200 {
        for key in object.keys() {
            assert!(matches!(key.as_str(), "status" | "svix_id" | "event_type" | "reason"), "extra key {key}: {text}");
        }
        let outcome = object.get("status").and_then(Value::as_str).unwrap_or_default();
        assert!(ACCEPTED.contains(&outcome), "undocumented outcome: {text}");
        assert!(object.get("svix_id").and_then(Value::as_str).is_some_and(|s| !s.is_empty()), "{text}");
        assert!(object.get("event_type").is_some_and(Value::is_string), "{text}");
        assert_eq!(object.get("reason").is_some_and(Value::is_string), outcome == "failed", "{text}");
        return;
    }

    assert_eq!(object.len(), 2, "error answers are {{error, message}}: {text}");
    let code = object.get("error").and_then(Value::as_str).unwrap_or_else(|| panic!("no error code: {text}"));
    assert!(object.get("message").and_then(Value::as_str).is_some_and(|m| !m.is_empty()), "{text}");
    let expected: &[&str] = match status {
        405 => &["method_not_allowed"],
        413 => &["payload_too_large"],
        401 => &["missing_signature_headers", "timestamp_out_of_tolerance", "invalid_signature"],
        400 => &["invalid_payload"],
        _ => &["database_unavailable"],
    };
    assert!(expected.contains(&code), "{status} with code {code}: {text}");
    match status {
        405 => assert_eq!(response.headers().get(http::header::ALLOW).map(HeaderValue::as_bytes), Some(&b"POST"[..])),
        503 => {
            assert_eq!(response.headers().get(http::header::RETRY_AFTER).map(HeaderValue::as_bytes), Some(&b"5"[..]))
        }
        _ => {}
    }
}
