//! Secrets Manager at cold start, against a local moto: values load and work
//! (a signed delivery verifies, an RDS JSON secret connects), failures name
//! the `*_ARN` variable, and without any `*_ARN` AWS is never called.

use std::{str::FromStr, time::Instant};

use clerk_sync::{
    aws::secrets,
    config::{ConfigError, Source},
    db::{Database, DbSettings},
    vault::VaultConfig,
    Family, WebhookConfig, WebhookState,
};
use clerk_sync_tests::{clerk, moto, server_url, TestApp, TestDb, Vars, TEST_SECRET};
use tokio_postgres::config::Host;

/// The moto settings plus `extra`.
fn vars(extra: Vec<(&'static str, String)>) -> Vars {
    let mut vars = moto::aws_vars();
    vars.push(("SKIP_DB_MIGRATIONS", "true".to_string()));
    vars.extend(extra);
    Vars(vars)
}

#[tokio::test]
async fn secrets_load_and_a_delivery_through_them_verifies() {
    let db = TestDb::spawn().await;
    let webhook_arn = moto::create_secret(TEST_SECRET).await;
    let database_arn = moto::create_secret(&db.url).await;
    let vars = vars(vec![("CLERK_WEBHOOK_SECRET_ARN", webhook_arn), ("DATABASE_URL_SECRET_ARN", database_arn)]);

    let env = secrets::load(&vars).await.expect("secrets load");
    let mut fetched: Vec<_> = env.fetched().collect();
    fetched.sort();
    assert_eq!(fetched, ["CLERK_WEBHOOK_SECRET", "DATABASE_URL"]);
    assert_eq!(env.get("DATABASE_URL").as_deref(), Some(db.url.as_str()));
    // Everything else still comes from the base source.
    assert_eq!(env.get("SKIP_DB_MIGRATIONS").as_deref(), Some("true"));
    assert!(!format!("{env:?}").contains(TEST_SECRET), "Debug shows names only");

    let state = WebhookState::new(Family::Users, WebhookConfig::from_source(&env).expect("config")).expect("state");
    let app = TestApp { db, state };
    let answer =
        app.deliver("msg_secrets_1", &clerk::simple_user("user.created", "user_sm1", 1, "Ada", "a@x.io")).await;
    assert_eq!((answer.status, answer.body["status"].as_str()), (200, Some("processed")), "{answer:?}");
    assert_eq!(app.db.count("users").await, 1);
}

#[tokio::test]
async fn an_rds_json_database_secret_connects() {
    let db = TestDb::spawn().await;
    let server = tokio_postgres::Config::from_str(server_url()).expect("server URL");
    let host = match server.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_string(),
    };
    // The throwaway cluster trusts local connections; the password still
    // has to survive the trip through the URL intact.
    let password = server
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_else(|| "p@ss:w/rd?#%&= x".into());
    let json = serde_json::json!({
        "username": server.get_user().unwrap_or("postgres"),
        "password": password,
        "engine": "postgres",
        "host": host,
        "port": server.get_ports().first().copied().unwrap_or(5432),
        "dbname": db.name,
        "dbInstanceIdentifier": "clerk-sync-test"
    });
    let arn = moto::create_secret(&json.to_string()).await;
    let env = secrets::load(vars(vec![("DATABASE_URL_SECRET_ARN", arn)])).await.expect("secrets load");

    let settings = DbSettings::from_source(&env).expect("the built URL is valid");
    let parsed = tokio_postgres::Config::from_str(env.get("DATABASE_URL").as_deref().unwrap_or_default()).unwrap();
    assert_eq!(parsed.get_password(), Some(password.as_bytes()));
    let database = Database::new(&settings, false).expect("pool");
    let client = database.client().await.expect("connects with the RDS secret");
    let name: String = client.query_one("SELECT current_database()", &[]).await.unwrap().get(0);
    assert_eq!(name, db.name);
}

#[tokio::test]
async fn an_encryption_key_secret_is_a_single_key_or_a_list() {
    let single = moto::create_secret(&"s".repeat(44)).await;
    let env = secrets::load(vars(vec![("ENCRYPTION_KEY_ARN", single)])).await.expect("load");
    assert_eq!(env.fetched().collect::<Vec<_>>(), ["ENCRYPTION_KEY"]);
    let config = VaultConfig::from_source(&env).expect("vault config");
    assert_eq!(config.key_ids().collect::<Vec<_>>(), ["default"]);

    let list = moto::create_secret(&format!("k2:{},k1:{}", "n".repeat(40), "o".repeat(40))).await;
    let env = secrets::load(vars(vec![("ENCRYPTION_KEY_ARN", list)])).await.expect("load");
    assert_eq!(env.fetched().collect::<Vec<_>>(), ["ENCRYPTION_KEYS"]);
    let config = VaultConfig::from_source(&env).expect("vault config");
    assert_eq!(config.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
}

#[tokio::test]
async fn a_missing_secret_is_a_config_error_naming_the_arn_variable() {
    let present = moto::create_secret("postgres://u:s3cr3t@127.0.0.1:1/db").await;
    let vars = vars(vec![("CLERK_WEBHOOK_SECRET_ARN", moto::missing_arn()), ("DATABASE_URL_SECRET_ARN", present)]);
    let error = secrets::load(&vars).await.expect_err("a missing secret fails the cold start");
    assert!(matches!(error, ConfigError::Fetch { var: "CLERK_WEBHOOK_SECRET_ARN", .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("ResourceNotFoundException"), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
}

#[tokio::test]
async fn a_bad_secret_value_is_refused_without_printing_it() {
    let arn = moto::create_secret("postgres://app:s3cr3t@host:notaport/db").await;
    let env = secrets::load(vars(vec![("DATABASE_URL_SECRET_ARN", arn), ("CLERK_WEBHOOK_SECRET", TEST_SECRET.into())]))
        .await
        .expect("the value loads");
    let message = WebhookConfig::from_source(&env).expect_err("not a connection string").to_string();
    assert!(message.contains("DATABASE_URL") && !message.contains("s3cr3t"), "{message}");
}

#[tokio::test]
async fn a_variable_and_its_arn_together_are_refused() {
    // Refused before any AWS call: no endpoint needed.
    let vars =
        Vars(vec![("CLERK_WEBHOOK_SECRET", TEST_SECRET.into()), ("CLERK_WEBHOOK_SECRET_ARN", moto::missing_arn())]);
    let message = secrets::load(&vars).await.expect_err("ambiguous").to_string();
    assert!(message.contains("CLERK_WEBHOOK_SECRET_ARN") && message.contains("set CLERK_WEBHOOK_SECRET or"));
    assert!(!message.contains(TEST_SECRET), "{message}");
}

/// Port 9 (discard) on loopback: nothing listens, a request fails at once.
const UNREACHABLE: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn without_any_arn_aws_is_never_called() {
    let db = TestDb::spawn().await;
    let vars = Vars(vec![
        ("AWS_ENDPOINT_URL", UNREACHABLE.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("DATABASE_URL", db.url.clone()),
        ("CLERK_WEBHOOK_SECRET", TEST_SECRET.to_string()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
    ]);
    let started = Instant::now();
    let env = secrets::load(&vars).await.expect("nothing to fetch");
    assert!(started.elapsed().as_millis() < 500, "no AWS round trip: {:?}", started.elapsed());
    assert_eq!(env.fetched().count(), 0);
    assert_eq!(env.get("DATABASE_URL"), Some(db.url.clone()));
    WebhookConfig::from_source(&env).expect("the plain values are used");

    // The same endpoint with an ARN fails: it is the one the fetch would use.
    let mut with_arn = vars.0.clone();
    with_arn.retain(|(k, _)| *k != "CLERK_WEBHOOK_SECRET");
    with_arn.push(("CLERK_WEBHOOK_SECRET_ARN", moto::missing_arn()));
    with_arn.push(("AWS_ACCESS_KEY_ID", "test".into()));
    with_arn.push(("AWS_SECRET_ACCESS_KEY", "test".into()));
    let error = secrets::load(Vars(with_arn)).await.expect_err("unreachable endpoint");
    assert!(matches!(error, ConfigError::Fetch { var: "CLERK_WEBHOOK_SECRET_ARN", .. }), "{error:?}");
    assert!(error.to_string().contains("Connection refused"), "{error}");
}

#[tokio::test]
async fn the_fetch_is_signed_as_aws_checks_it() {
    // A moto that checks signatures, session tokens and permissions: a
    // well-signed request gets the secret, with a user's key and with a role
    // session's temporary credentials (what Lambda sets); a wrong key or
    // token is refused (so the checks are real).
    let setup = moto::signed_setup(TEST_SECRET).await;
    let vars = |key_id: &str, secret_key: &str, token: Option<&str>| {
        let mut vars = vec![
            ("AWS_ENDPOINT_URL", moto::auth_endpoint().to_string()),
            ("AWS_REGION", moto::REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", key_id.to_string()),
            ("AWS_SECRET_ACCESS_KEY", secret_key.to_string()),
            ("CLERK_WEBHOOK_SECRET_ARN", setup.arn.clone()),
        ];
        vars.extend(token.map(|t| ("AWS_SESSION_TOKEN", t.to_string())));
        Vars(vars)
    };
    let (session_key, session_secret, session_token) = &setup.session;
    for (what, vars) in [
        ("a user's key", vars(&setup.access_key_id, &setup.secret_access_key, None)),
        ("a role session", vars(session_key, session_secret, Some(session_token))),
    ] {
        let env = secrets::load(vars).await.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(env.get("CLERK_WEBHOOK_SECRET").as_deref(), Some(TEST_SECRET), "{what}");
    }

    for (what, vars, expected) in [
        ("a wrong secret key", vars(&setup.access_key_id, "not-the-secret-key", None), "SignatureDoesNotMatch"),
        ("a wrong session token", vars(session_key, session_secret, Some("not-the-token")), "InvalidClientTokenId"),
    ] {
        let error = secrets::load(vars).await.expect_err(what);
        assert!(matches!(error, ConfigError::Fetch { var: "CLERK_WEBHOOK_SECRET_ARN", .. }), "{what}: {error:?}");
        let message = error.to_string();
        assert!(message.contains(expected), "{what}: {message}");
        assert!(!message.contains(TEST_SECRET) && !message.contains(session_secret.as_str()), "{what}: {message}");
    }
}

#[tokio::test]
async fn a_secret_named_without_its_arn_is_read_in_the_configured_region() {
    let arn = moto::create_secret(TEST_SECRET).await;
    // `arn:…:secret:<name>-<6 random characters>`: the name alone.
    let name = arn.rsplit_once(":secret:").and_then(|(_, rest)| rest.rsplit_once('-')).map(|(name, _)| name);
    let name = name.expect("an ARN from moto").to_string();
    let env = secrets::load(vars(vec![("CLERK_WEBHOOK_SECRET_ARN", name.clone())])).await.expect("found by name");
    assert_eq!(env.get("CLERK_WEBHOOK_SECRET").as_deref(), Some(TEST_SECRET));

    // Static keys and no region anywhere in the source: refused before any call.
    let mut no_region = vars(vec![("CLERK_WEBHOOK_SECRET_ARN", name)]).0;
    no_region.retain(|(k, _)| *k != "AWS_REGION");
    let error = secrets::load(Vars(no_region)).await.expect_err("no region");
    assert!(matches!(error, ConfigError::Missing { var: "AWS_REGION", .. }), "{error:?}");
}
