//! TLS to PostgreSQL, against a TLS-only server whose certificate a test CA
//! issued: trusted through `PGSSLROOTCERT` it works end to end; with the
//! system roots alone, or without TLS, it does not.

use clerk_sync::{
    config::ConfigError,
    db::tls::{SslMode, Target, TlsSettings},
    Family, WebhookConfig, WebhookState,
};
use clerk_sync_tests::{clerk, tls_postgres::tls_server, TestApp, TestDb, Vars, TEST_SECRET};

/// A users function over `url`; `extra` adds settings.
fn state(url: &str, extra: Vec<(&'static str, String)>) -> Result<WebhookState, ConfigError> {
    let mut vars = vec![("DATABASE_URL", url.to_string()), ("CLERK_WEBHOOK_SECRET", TEST_SECRET.to_string())];
    vars.extend(extra);
    WebhookState::new(Family::Users, WebhookConfig::from_source(&Vars(vars))?)
}

fn trust_test_ca() -> Vec<(&'static str, String)> {
    vec![("PGSSLROOTCERT", tls_server().ca_file.display().to_string())]
}

/// Whether the connection `url` gives (trusting the test CA) is encrypted.
async fn uses_tls(url: &str) -> bool {
    let client = tls_server().connect(url).await.expect("connects");
    client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn require_with_the_test_ca_processes_a_delivery_over_tls() {
    let server = tls_server();
    let name = server.create_database().await;
    let url = format!("{}?sslmode=require", server.url(&name));
    // Migrations run on the first request, over the same TLS pool.
    let state = state(&url, trust_test_ca()).expect("state");
    let db = TestDb { name, url: url.clone() };
    let app = TestApp { db, state };
    let answer = app.deliver("msg_tls_1", &clerk::simple_user("user.created", "user_tls1", 1, "Ada", "a@x.io")).await;
    assert_eq!((answer.status, answer.body["status"].as_str()), (200, Some("processed")), "{answer:?}");

    let client = server.connect(&url).await.expect("TLS connection");
    let users: i64 = client.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(users, 1);
    assert!(uses_tls(&url).await);
}

#[tokio::test]
async fn prefer_and_verify_full_use_tls_when_the_ca_is_trusted() {
    let server = tls_server();
    // No sslmode: libpq's default, prefer.
    assert!(uses_tls(&server.url("postgres")).await);
    assert!(uses_tls(&format!("{}?sslmode=verify-full", server.url("postgres"))).await);
    let key_value = format!("host=localhost port={} user=postgres dbname=postgres sslmode=verify-full", server.port);
    assert!(uses_tls(&key_value).await);
}

#[tokio::test]
async fn with_system_roots_only_the_certificate_is_unknown_and_the_handler_answers_503() {
    let server = tls_server();
    let name = server.create_database().await;
    let url = format!("{}?sslmode=require", server.url(&name));

    let target = Target::from_url(&url, &TlsSettings::default()).expect("target");
    let error = target.connect().await.expect_err("the test CA is not a system root");
    let message = format!("{error}: {:?}", error);
    assert!(message.contains("UnknownIssuer"), "{message}");

    let state = state(&url, vec![("SKIP_DB_MIGRATIONS", "true".into())]).expect("state builds without connecting");
    let app = TestApp { db: TestDb { name, url }, state };
    let answer = app.deliver("msg_tls_2", &clerk::simple_user("user.created", "user_tls2", 1, "Ada", "a@x.io")).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.body["error"], "database_unavailable", "{answer:?}");
}

#[tokio::test]
async fn sslmode_disable_is_refused_by_a_hostssl_only_server() {
    let server = tls_server();
    let url = format!("{}?sslmode=disable", server.url("postgres"));
    let target = Target::from_url(&url, &server.trusting_settings()).expect("target");
    assert_eq!(target.ssl_mode, SslMode::Disable);
    let error = target.connect().await.expect_err("plain connections are refused");
    let message = format!("{error}: {:?}", error);
    assert!(message.contains("no encryption"), "{message}");

    let state = state(&url, vec![("SKIP_DB_MIGRATIONS", "true".into())]).expect("state");
    let app = TestApp { db: TestDb { name: "postgres".into(), url }, state };
    let answer = app.deliver("msg_tls_3", &clerk::simple_user("user.created", "user_tls3", 1, "Ada", "a@x.io")).await;
    assert_eq!(answer.status, 503, "{answer:?}");
}

#[tokio::test]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let server = tls_server();
    // The certificate names 127.0.0.1 and localhost; connect to 127.0.0.1
    // while calling the server by another name.
    let base = format!("host=db.invalid hostaddr=127.0.0.1 port={} user=postgres dbname=postgres", server.port);
    for mode in ["verify-full", "require"] {
        let error = server.connect(&format!("{base} sslmode={mode}")).await.expect_err("wrong host name");
        let message = format!("{error}: {:?}", error);
        assert!(message.contains("NotValidForName"), "{mode}: {message}");
    }
    assert!(uses_tls(&format!("{base} sslmode=verify-ca")).await);
}

#[tokio::test]
async fn a_bad_pgsslrootcert_is_a_config_error_naming_it() {
    let server = tls_server();
    let url = format!("{}?sslmode=require", server.url("postgres"));
    let missing = state(&url, vec![("PGSSLROOTCERT", "/nonexistent/rds-global-bundle.pem".into())]).err();
    let missing = missing.expect("an unreadable bundle fails the cold start");
    assert_eq!(missing.var(), "PGSSLROOTCERT", "{missing}");
    assert!(missing.to_string().contains("/nonexistent/rds-global-bundle.pem"), "{missing}");

    let garbage = std::env::temp_dir().join(format!("clerk-sync-not-a-bundle-{}.pem", uuid::Uuid::new_v4().simple()));
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let invalid = state(&url, vec![("PGSSLROOTCERT", garbage.display().to_string())]).err();
    std::fs::remove_file(&garbage).unwrap();
    let invalid = invalid.expect("a file without certificates fails the cold start");
    assert_eq!(invalid.var(), "PGSSLROOTCERT", "{invalid}");

    let bad_mode = state(&url, vec![("PGSSLMODE", "sometimes".into())]).err().expect("bad PGSSLMODE");
    assert_eq!(bad_mode.var(), "PGSSLMODE", "{bad_mode}");
}

#[tokio::test]
async fn a_bundle_whose_certificates_do_not_parse_fails_the_first_connection() {
    // The connector is built on the first connection (the cold start waits
    // for nothing it can defer): a bundle that looks like PEM is parsed there.
    let server = tls_server();
    let name = server.create_database().await;
    let url = format!("{}?sslmode=require", server.url(&name));
    let not_pem = std::env::temp_dir().join(format!("clerk-sync-bad-pem-{}.pem", uuid::Uuid::new_v4()));
    let corrupt = "-----BEGIN CERTIFICATE-----\nnot*base64*at*all\n-----END CERTIFICATE-----\n";
    std::fs::write(&not_pem, corrupt).expect("bundle written");

    let settings = TlsSettings { ssl_mode: None, root_cert: Some(not_pem.clone()) };
    let target = Target::from_url(&url, &settings).expect("a bundle that looks like PEM is accepted up front");
    let error = target.connect().await.expect_err("the bundle's certificate does not parse");
    let message = clerk_sync::error_chain(&error);
    assert!(message.contains("PGSSLROOTCERT") && message.contains("is not a PEM CA bundle"), "{message}");

    let extra = vec![("PGSSLROOTCERT", not_pem.display().to_string()), ("SKIP_DB_MIGRATIONS", "true".into())];
    let state = state(&url, extra).expect("state builds without reading the bundle");
    let app = TestApp { db: TestDb { name, url }, state };
    let answer = app.deliver("msg_tls_5", &clerk::simple_user("user.created", "user_tls5", 1, "Ada", "a@x.io")).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.body["error"], "database_unavailable", "{answer:?}");
    let _ = std::fs::remove_file(not_pem);
}
