//! The intake path: each rejection class answers its status before any
//! database work and writes nothing; authentic deliveries are recorded once.

use clerk_sync::{
    config::ConfigError,
    webhook::{SigningSecrets, WebhookError},
    Family, WebhookConfig,
};
use clerk_sync_tests::{
    alb_event, clerk, function_url_event, now, rest_api_event, signed_headers, webhook_state, Answer, TestApp, Vars,
    TEST_SECRET,
};
use http::HeaderMap;

/// Svix's and Standard Webhooks' published vectors (shared/reference/svix.md).
const VECTORS: [(&str, &str, i64, &str, &str); 3] = [
    (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        r#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ),
    (
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1649367553,
        r#"{"email":"test@example.com","username":"test_user"}"#,
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    ),
    (
        "whsec_plJ3nmyCDGBKInavdOK15jsl",
        "msg_loFOjxBNrRLzqYUf",
        1731705121,
        r#"{"event_type":"ping","data":{"success":true}}"#,
        "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=",
    ),
];

/// Parses signing secrets the way the configuration does.
fn secret(raw: &str) -> SigningSecrets {
    SigningSecrets::parse(&raw.to_string().into()).expect("valid secrets")
}

fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs.iter().map(|(k, v)| (k.parse().expect("header name"), v.parse().expect("header value"))).collect()
}

#[test]
fn published_vectors_verify_and_any_change_breaks_them() {
    for (key, id, ts, body, sig) in VECTORS {
        let secrets = secret(key);
        let ts = ts.to_string();
        let headers = header_map(&[("svix-id", id), ("svix-timestamp", &ts), ("svix-signature", sig)]);
        secrets.verify_ignoring_timestamp(body.as_bytes(), &headers).expect("vector verifies");
        // Old timestamps: the request path refuses them for that reason alone.
        assert!(matches!(secrets.verify(body.as_bytes(), &headers), Err(WebhookError::TimestampOutOfTolerance)));

        let mut tampered_body = body.as_bytes().to_vec();
        tampered_body[1] ^= 1;
        assert!(secrets.verify_ignoring_timestamp(&tampered_body, &headers).is_err(), "body changed by one byte");
        let other_id = format!("{id}x");
        let h = header_map(&[("svix-id", &other_id), ("svix-timestamp", &ts), ("svix-signature", sig)]);
        assert!(secrets.verify_ignoring_timestamp(body.as_bytes(), &h).is_err(), "id changed");
        let off_by_one = (ts.parse::<i64>().unwrap() + 1).to_string();
        let h = header_map(&[("svix-id", id), ("svix-timestamp", &off_by_one), ("svix-signature", sig)]);
        assert!(secrets.verify_ignoring_timestamp(body.as_bytes(), &h).is_err(), "timestamp off by one second");
    }
}

#[test]
fn signature_header_forms() {
    let (key, id, ts, body, sig) = VECTORS[0];
    let secrets = secret(key);
    let ts = ts.to_string();
    let check = |signature: &str| {
        let headers = header_map(&[("svix-id", id), ("svix-timestamp", &ts), ("svix-signature", signature)]);
        secrets.verify_ignoring_timestamp(body.as_bytes(), &headers)
    };
    let digest = &sig[3..];
    assert!(check(&format!("v1,Zm9v v2,{digest} {sig}")).is_ok(), "several entries, one valid");
    assert!(check("v1,").is_err(), "empty v1 signature (CVE-2024-21491)");
    assert!(check(&format!("v2,{digest}")).is_err());
    assert!(check(&format!("v1a,{digest}")).is_err());
    assert!(check(digest).is_err(), "no version prefix");
    // Unbranded (Standard Webhooks) header names are accepted too.
    let headers = header_map(&[("webhook-id", id), ("webhook-timestamp", &ts), ("webhook-signature", sig)]);
    assert!(secrets.verify_ignoring_timestamp(body.as_bytes(), &headers).is_ok());
}

#[test]
fn timestamp_tolerance_is_five_minutes() {
    let secrets = secret(TEST_SECRET);
    let body = r#"{"type":"user.created"}"#;
    let at = |offset: i64| {
        let headers: HeaderMap = signed_headers(TEST_SECRET, "msg_tolerance", now() + offset, body)
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect();
        secrets.verify(body.as_bytes(), &headers)
    };
    assert!(at(0).is_ok());
    assert!(at(-295).is_ok());
    assert!(at(295).is_ok());
    assert!(matches!(at(-310), Err(WebhookError::TimestampOutOfTolerance)));
    assert!(matches!(at(310), Err(WebhookError::TimestampOutOfTolerance)));
    // Non-numeric or negative timestamps are refused outright.
    for bad in ["abc", "-5", ""] {
        let mut headers: HeaderMap = signed_headers(TEST_SECRET, "msg_tolerance", now(), body)
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect();
        headers.insert("svix-timestamp", bad.parse().unwrap());
        assert!(secrets.verify(body.as_bytes(), &headers).is_err(), "timestamp {bad:?}");
    }
}

#[test]
fn rotation_accepts_any_configured_secret() {
    let old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let secrets = secret(&format!("{TEST_SECRET},\n {old}"));
    let body = r#"{"type":"user.created"}"#;
    for key in [TEST_SECRET, old] {
        let headers: HeaderMap = signed_headers(key, "msg_rotation", now(), body)
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect();
        assert!(secrets.verify(body.as_bytes(), &headers).is_ok());
    }
    let headers: HeaderMap = signed_headers("whsec_plJ3nmyCDGBKInavdOK15jsl", "msg_rotation", now(), body)
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
        .collect();
    assert!(matches!(secrets.verify(body.as_bytes(), &headers), Err(WebhookError::InvalidSignature)));
}

fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.body["error"], code, "{answer:?}");
    assert!(answer.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let text = answer.body.to_string();
    assert!(!text.contains("whsec_") && !text.contains("postgres"), "no secrets or internals: {text}");
}

fn user_body() -> String {
    clerk::sample("user.created.json").to_string()
}

#[tokio::test]
async fn wrong_method_is_405_and_writes_nothing() {
    let app = TestApp::spawn(Family::Users).await;
    let body = user_body();
    let answer =
        app.send(function_url_event("GET", &body, &signed_headers(TEST_SECRET, "msg_m", now(), &body), false)).await;
    assert_error(&answer, 405, "method_not_allowed");
    assert_eq!(app.db.written_rows().await, 0);
}

#[tokio::test]
async fn oversized_body_is_413_before_any_signature_check() {
    let app = TestApp::spawn(Family::Users).await;
    let big = format!(r#"{{"type":"user.created","pad":"{}"}}"#, "x".repeat(256 * 1024));
    // No svix headers at all: were the signature checked first, this would be 401.
    let answer = app.send(function_url_event("POST", &big, &[], false)).await;
    assert_error(&answer, 413, "payload_too_large");
    // The limit is configurable.
    let small = webhook_state(Family::Users, &app.db.url, vec![("WEBHOOK_MAX_BODY_BYTES", "100".into())]);
    let body = user_body();
    let request = lambda_http::request::from_str(&function_url_event(
        "POST",
        &body,
        &signed_headers(TEST_SECRET, "msg_small", now(), &body),
        false,
    ))
    .unwrap();
    let answer = clerk_sync_tests::answer(clerk_sync::handle(&small, request).await);
    assert_error(&answer, 413, "payload_too_large");
    assert_eq!(app.db.written_rows().await, 0);
}

#[tokio::test]
async fn unauthenticated_deliveries_are_401_and_write_nothing() {
    let app = TestApp::spawn(Family::Users).await;
    let body = user_body();
    let good = signed_headers(TEST_SECRET, "msg_auth", now(), &body);

    let missing: Vec<_> = good.iter().filter(|(k, _)| k != "svix-signature").cloned().collect();
    assert_error(&app.send(function_url_event("POST", &body, &missing, false)).await, 401, "missing_signature_headers");

    let wrong_key = signed_headers("whsec_plJ3nmyCDGBKInavdOK15jsl", "msg_auth", now(), &body);
    assert_error(&app.send(function_url_event("POST", &body, &wrong_key, false)).await, 401, "invalid_signature");

    let old = signed_headers(TEST_SECRET, "msg_auth", now() - 600, &body);
    assert_error(&app.send(function_url_event("POST", &body, &old, false)).await, 401, "timestamp_out_of_tolerance");

    // Re-serialized JSON is not the signed bytes.
    let reserialized = serde_json::to_string_pretty(&clerk::sample("user.created.json")).unwrap();
    assert_error(&app.send(function_url_event("POST", &reserialized, &good, false)).await, 401, "invalid_signature");

    assert_eq!(app.db.written_rows().await, 0);
}

#[tokio::test]
async fn authentic_but_malformed_bodies_are_400_and_write_nothing() {
    let app = TestApp::spawn(Family::Users).await;
    for (i, body) in
        ["not json", "[1,2]", r#"{"data":{}}"#, r#"{"type":5}"#, r#""user.created""#, "{"].into_iter().enumerate()
    {
        let headers = signed_headers(TEST_SECRET, &format!("msg_bad_{i}"), now(), body);
        let answer = app.send(function_url_event("POST", body, &headers, false)).await;
        assert_error(&answer, 400, "invalid_payload");
    }
    assert_eq!(app.db.written_rows().await, 0);
}

#[tokio::test]
async fn a_delivery_is_recorded_once_and_a_redelivery_is_a_duplicate() {
    let app = TestApp::spawn(Family::Users).await;
    let payload = clerk::sample("user.created.json");
    let first = app.deliver("msg_once", &payload).await;
    assert_eq!((first.status, first.body["status"].as_str()), (200, Some("processed")), "{first:?}");
    assert_eq!(first.body["svix_id"], "msg_once");
    let again = app.deliver("msg_once", &payload).await;
    assert_eq!((again.status, again.body["status"].as_str()), (200, Some("duplicate")), "{again:?}");

    let events = app.db.rows("SELECT svix_id, event_type, clerk_object_id, event_timestamp, status, attempts, processed_at IS NOT NULL AS done, payload FROM clerk_webhook_events").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status"], "processed");
    assert_eq!(events[0]["clerk_object_id"], payload["data"]["id"]);
    assert_eq!(events[0]["event_timestamp"], payload["timestamp"]);
    assert_eq!(events[0]["done"], true);
    assert_eq!(events[0]["payload"], payload, "the payload is kept whole");
    assert_eq!(app.db.count("users").await, 1);
}

#[tokio::test]
async fn base64_bodies_and_every_request_shape_lambda_http_accepts() {
    let app = TestApp::spawn(Family::Users).await;
    let body = user_body();
    type Shape = fn(&str, &[(String, String)], bool) -> String;
    let shapes: [(&str, Shape); 3] =
        [("url", |b, h, b64| function_url_event("POST", b, h, b64)), ("rest", rest_api_event), ("alb", alb_event)];
    for (name, shape) in shapes {
        for base64 in [false, true] {
            let id = format!("msg_shape_{name}_{base64}");
            let answer = app.send(shape(&body, &signed_headers(TEST_SECRET, &id, now(), &body), base64)).await;
            assert_eq!(answer.status, 200, "{name} base64={base64}: {answer:?}");
        }
    }
    assert_eq!(app.db.count("clerk_webhook_events").await, 6);
}

#[tokio::test]
async fn database_down_is_503_and_marks_nothing() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let state = webhook_state(
        Family::Users,
        &format!("postgres://postgres@127.0.0.1:{port}/nowhere"),
        vec![("DB_CONNECT_TIMEOUT_SECS", "1".into())],
    );
    let body = user_body();
    let request = lambda_http::request::from_str(&function_url_event(
        "POST",
        &body,
        &signed_headers(TEST_SECRET, "msg_down", now(), &body),
        false,
    ))
    .unwrap();
    let answer = clerk_sync_tests::answer(clerk_sync::handle(&state, request).await);
    assert_error(&answer, 503, "database_unavailable");
}

#[tokio::test]
async fn migrations_run_on_the_first_request_unless_skipped() {
    let db = clerk_sync_tests::TestDb::create_empty().await;
    let state = webhook_state(Family::Users, &db.url, vec![("SKIP_DB_MIGRATIONS", "false".into())]);
    let body = user_body();
    let request = lambda_http::request::from_str(&function_url_event(
        "POST",
        &body,
        &signed_headers(TEST_SECRET, "msg_first", now(), &body),
        false,
    ))
    .unwrap();
    let answer = clerk_sync_tests::answer(clerk_sync::handle(&state, request).await);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(db.count("users").await, 1);
}

#[test]
fn configuration_errors_name_the_variable_and_never_its_value() {
    let password = "hunter2-very-secret";
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (vec![], "CLERK_WEBHOOK_SECRET"),
        (vec![("CLERK_WEBHOOK_SECRET", TEST_SECRET.into())], "DATABASE_URL"),
        (
            vec![("CLERK_WEBHOOK_SECRET", format!("whsec_{password}!!")), ("DATABASE_URL", "postgres://u@h/db".into())],
            "CLERK_WEBHOOK_SECRET",
        ),
        (
            vec![
                ("CLERK_WEBHOOK_SECRET", TEST_SECRET.into()),
                ("DATABASE_URL", format!("postgres://u:{password}@h:notaport/db")),
            ],
            "DATABASE_URL",
        ),
        (
            vec![
                ("CLERK_WEBHOOK_SECRET", TEST_SECRET.into()),
                ("DATABASE_URL", "postgres://u@h/db".into()),
                ("WEBHOOK_MAX_BODY_BYTES", "lots".into()),
            ],
            "WEBHOOK_MAX_BODY_BYTES",
        ),
        (
            vec![
                ("CLERK_WEBHOOK_SECRET", TEST_SECRET.into()),
                ("DATABASE_URL", "postgres://u@h/db".into()),
                ("SKIP_DB_MIGRATIONS", "maybe".into()),
            ],
            "SKIP_DB_MIGRATIONS",
        ),
    ];
    for (vars, var) in cases {
        let error: ConfigError = WebhookConfig::from_source(&Vars(vars)).expect_err(var);
        let text = error.to_string();
        assert!(text.contains(var), "{text}");
        assert!(!text.contains(password) && !text.contains("MfKQ9r8"), "{text}");
    }
    // Nor does Debug of a valid configuration print its secrets.
    let config = WebhookConfig::from_source(&Vars(vec![
        ("CLERK_WEBHOOK_SECRET", TEST_SECRET.into()),
        ("DATABASE_URL", format!("postgres://u:{password}@h/db")),
    ]))
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains(password) && !debug.contains("MfKQ9r8"), "{debug}");
}
