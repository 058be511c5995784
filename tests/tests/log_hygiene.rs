//! Logs never carry secrets, signatures, session tokens, credential
//! plaintext or email addresses; every request leaves one JSON line.
//!
//! A test binary of its own: it installs the process-wide subscriber, which
//! sees every log line (a per-thread one can miss callsites that other tests
//! running in the same process registered first).

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use clerk_sync::Family;
use clerk_sync_tests::{
    api_request, clerk::sample, function_url_event, now, session, signed_headers, webhook_state, TestStack, Vars,
    TEST_SECRET,
};
use lambda_http::tracing::subscriber::{self, fmt::MakeWriter};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// One thread: the subscriber set for this thread sees everything the test runs.
#[tokio::test(flavor = "current_thread")]
async fn logs_hold_no_secrets_and_one_json_line_per_delivery() {
    let logs = Captured::default();
    let subscriber =
        subscriber::fmt().json().with_writer(logs.clone()).with_max_level(lambda_http::tracing::Level::DEBUG).finish();
    let _guard = lambda_http::tracing::subscriber::util::SubscriberInitExt::set_default(subscriber);

    let stack = TestStack::spawn().await;
    let mut secrets: Vec<String> = vec![TEST_SECRET.to_string(), TEST_SECRET["whsec_".len()..].to_string()];

    // Deliveries: good, tampered, stale, data that cannot be applied (with an
    // email in the offending field), and one while the database is down.
    let user = sample("user.created.json").to_string();
    let headers = signed_headers(TEST_SECRET, "msg_ok", now(), &user);
    secrets.push(headers[2].1[3..].to_string());
    for (headers, body) in [
        (headers.clone(), user.clone()),
        (signed_headers("whsec_plJ3nmyCDGBKInavdOK15jsl", "msg_bad", now(), &user), user.clone()),
        (signed_headers(TEST_SECRET, "msg_old", now() - 900, &user), user.clone()),
        (
            signed_headers(
                TEST_SECRET,
                "msg_fail",
                now(),
                r#"{"type":"user.created","timestamp":1,"data":{"id":"user_x","updated_at":"grace@example.com"}}"#,
            ),
            r#"{"type":"user.created","timestamp":1,"data":{"id":"user_x","updated_at":"grace@example.com"}}"#
                .to_string(),
        ),
    ] {
        let request = lambda_http::request::from_str(&function_url_event("POST", &body, &headers, false)).unwrap();
        clerk_sync::handle(&stack.users, request).await;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = webhook_state(
        Family::Users,
        &format!("postgres://postgres:hunter2-db-password@127.0.0.1:{port}/x"),
        vec![("DB_CONNECT_TIMEOUT_SECS", "1".into())],
    );
    let request = lambda_http::request::from_str(&function_url_event(
        "POST",
        &user,
        &signed_headers(TEST_SECRET, "msg_down", now(), &user),
        false,
    ))
    .unwrap();
    clerk_sync::handle(&down, request).await;
    secrets.push("hunter2-db-password".into());

    // The app's functions: a session token, and credentials through the vault.
    for (i, event) in
        [sample("organization.created.json"), sample("organizationMembership.created.json")].iter().enumerate()
    {
        stack.deliver(&format!("msg_setup_{i}"), event).await;
    }
    let token =
        session::token("user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs", Some(("org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", "org:admin")));
    secrets.push(token.clone());
    let key = "log-hygiene-key-0123456789abcdefghijklmnop";
    secrets.push(key.into());
    let mut vars = vec![
        ("DATABASE_URL", stack.db.url.clone()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
        ("ENCRYPTION_KEY", key.to_string()),
    ];
    vars.extend(session::pem_settings());
    let accounts = clerk_sync::api::seller_accounts::SellerAccountsState::from_source(&Vars(vars)).unwrap();
    let body = r#"{"seller_id":"A1","marketplace_id":"ATVPDKIKX0DER","region":"na","refresh_token":"Atzr|log-plaintext-refresh","lwa_client_id":"log-plaintext-client","lwa_client_secret":"log-plaintext-secret"}"#;
    secrets.extend(["Atzr|log-plaintext-refresh", "log-plaintext-client", "log-plaintext-secret"].map(String::from));
    let response = clerk_sync::api::seller_accounts::handle(
        &accounts,
        api_request("POST", "/seller-accounts", Some(&token), Some(body)),
    )
    .await;
    assert_eq!(response.status(), 201);
    let status = clerk_sync_tests::api_state(&stack.db.url, vec![]);
    clerk_sync::api::sync_status::handle(&status, api_request("GET", "/sync-status", Some(&token), None)).await;
    clerk_sync::api::sync_status::handle(&status, api_request("GET", "/sync-status", Some("forged.token.value"), None))
        .await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!text.is_empty());
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "the logs contain a secret ({} chars): {text}", secret.len());
    }
    for email in ["ada@example.com", "grace@example.com", "ada.lovelace@analytical-engines.example"] {
        assert!(!text.contains(email), "the logs contain {email}: {text}");
    }
    // One JSON line per delivery, with what an operator needs.
    let handled: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every log line is JSON"))
        .filter(|l| l["fields"]["message"] == "webhook handled")
        .filter(|l| l["target"] == "clerk_sync::webhook")
        .collect();
    assert_eq!(handled.len(), 5 + 2, "{text}");
    let ok = handled.iter().find(|l| l["fields"]["svix_id"] == "msg_ok").unwrap();
    assert_eq!(ok["fields"]["event_type"], "user.created");
    assert_eq!(ok["fields"]["status"], 200);
    assert!(ok["fields"]["duration_ms"].is_number());
}
