//! The local stack end to end: the server, the seed and `clerk-sync send`
//! against a real PostgreSQL.

use std::{
    collections::HashMap,
    fs,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use clap::Args as _;
use clerk_sync::clerk::FAMILIES;
use clerk_sync_tests::TestDb;
use http::{Request, StatusCode, Uri};
use http_body_util::Full;
use serde_json::Value;
use tokio::net::TcpListener;

use super::{
    app::App,
    banner::{next_steps, TRY_PAYLOAD},
    config::DevSource,
    routes::Function,
    seed::seed,
    server::serve,
    DevArgs,
};
use crate::{
    send::{self, SendArgs, SendError, Signer, Summary},
    sign,
};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `clerk-sync dev --help` names every family's route, as the table declares it.
#[test]
fn the_help_lists_every_family_route() {
    let help = DevArgs::augment_args(clap::Command::new("dev")).render_long_help().to_string();
    for spec in FAMILIES {
        assert!(help.contains(spec.route), "{}: {help}", spec.route);
    }
}

/// The `try:` command dev prints, and the README's, answer `processed`
/// on a freshly seeded stack (the seed's own user.created would be stale).
#[tokio::test(flavor = "multi_thread")]
async fn the_printed_try_command_answers_processed_after_the_seed() {
    let readme = fs::read_to_string(workspace().join("README.md")).expect("README");
    let command = format!("send http://127.0.0.1:3000/webhooks/clerk-users {TRY_PAYLOAD}");
    assert!(readme.contains(&command), "the README names the same command: {command}");
    assert!(workspace().join(TRY_PAYLOAD).is_file(), "{TRY_PAYLOAD} exists");
    let steps = next_steps("http://127.0.0.1:3000", None, true, false);
    assert!(steps.contains(&command), "{steps}");

    let db = TestDb::spawn().await;
    let app = app_for(&db, &[]);
    let signer = Signer::new(sign::DEV_SECRET, "test").expect("valid");
    seed(&app, &workspace().join("events/seed"), &signer).await.expect("seeds");
    let (port, stop, server) = start_server(app).await;
    let args = sending(port, "/webhooks/clerk-users", &[TRY_PAYLOAD], None);
    assert_eq!(send::send(args).await.expect("delivered"), Summary { processed: 1, ..Summary::default() });
    let _ = stop.send(());
    let _ = server.await;
}

fn app_for(db: &TestDb, extra: &[(&'static str, String)]) -> Arc<App> {
    let vars: HashMap<&str, &str> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let source = DevSource::new(&vars, db.url.clone());
    Arc::new(App::from_source(&source).expect("the development defaults make a valid configuration"))
}

/// The local server on a free port, stopped by the returned sender.
async fn start_server(app: Arc<App>) -> (u16, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind a free port");
    let port = listener.local_addr().expect("bound").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app, async move {
        let _ = stopped.await;
    }));
    (port, stop, server)
}

async fn get(port: u16, path: &str) -> send::Answer {
    get_as(port, path, None).await
}

async fn get_as(port: u16, path: &str, token: Option<&str>) -> send::Answer {
    let uri: Uri = format!("http://127.0.0.1:{port}{path}").parse().expect("valid URI");
    let client = send::HttpClient::for_uri(&uri).expect("client");
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = uri;
    if let Some(token) = token {
        let value = http::HeaderValue::try_from(format!("Bearer {token}")).expect("header");
        request.headers_mut().insert(http::header::AUTHORIZATION, value);
    }
    client.send(request, Duration::from_secs(10)).await.expect("the server answers")
}

fn sending(port: u16, path: &str, payloads: &[&str], svix_id: Option<&str>) -> SendArgs {
    SendArgs {
        url: format!("http://127.0.0.1:{port}{path}"),
        payloads: payloads.iter().map(|p| workspace().join(p)).collect(),
        secret: None,
        svix_id: svix_id.map(str::to_owned),
        timeout: 10,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn send_delivers_to_the_dev_server_and_the_row_lands() {
    let db = TestDb::spawn().await;
    let (port, stop, server) = start_server(app_for(&db, &[])).await;

    let id = sign::fresh_svix_id();
    let args = sending(port, "/webhooks/clerk-users", &["events/payloads/user.created.json"], Some(&id));
    let summary = send::send(args).await.expect("delivered");
    assert_eq!(summary, Summary { processed: 1, ..Summary::default() });
    let users = db.rows("SELECT clerk_user_id, email FROM users").await;
    assert_eq!(users.len(), 1, "{users:?}");
    let event = db.rows(&format!("SELECT status, event_type FROM clerk_webhook_events WHERE svix_id = '{id}'")).await;
    assert_eq!(event, [serde_json::json!({"status": "processed", "event_type": "user.created"})]);

    // The same message again, through the cargo-lambda-watch path: a duplicate.
    let args = sending(port, "/lambda-url/clerk-users/", &["events/payloads/user.created.json"], Some(&id));
    assert_eq!(send::send(args).await.expect("delivered"), Summary { duplicate: 1, ..Summary::default() });

    // A folder of mixed families to the catch-all: everything applies.
    let args = sending(port, "/webhooks/clerk", &["events/seed"], None);
    let summary = send::send(args).await.expect("delivered");
    assert_eq!(summary.total(), 7);
    assert_eq!(summary.non_2xx + summary.ignored + summary.failed, 0, "{summary:?}");
    assert_eq!(db.count("organization").await, 2);
    assert_eq!(db.count("user_organizations").await, 3);

    // Another secret is refused, and send says so by failing.
    let mut args = sending(port, "/webhooks/clerk-users", &["events/payloads/user.updated.json"], None);
    args.secret = Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into());
    match send::send(args).await {
        Err(SendError::Rejected { count: 1, total: 1 }) => {}
        other => panic!("expected one rejection, got {other:?}"),
    }

    // Unconfigured API functions, unknown paths and the index.
    let status = get(port, "/sync-status").await;
    assert_eq!(status.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(status.body.contains("CLERK_JWT_KEY"), "{}", status.body);
    assert_eq!(get(port, "/seller-accounts").await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(port, "/nowhere").await.status, StatusCode::NOT_FOUND);
    let index: Value = serde_json::from_str(&get(port, "/").await.body).expect("JSON index");
    assert_eq!(index["routes"].as_array().map(Vec::len), Some(Function::all().len()));
    // A webhook route answers GET as Lambda does: 405.
    assert_eq!(get(port, "/webhooks/clerk-users").await.status, StatusCode::METHOD_NOT_ALLOWED);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server).await.expect("stops").expect("no panic");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_routes_run_the_real_handlers_once_configured() {
    let db = TestDb::spawn().await;
    let app = app_for(&db, &clerk_sync_tests::session::pem_settings());
    let signer = Signer::new(sign::DEV_SECRET, "test").expect("valid");
    seed(&app, &workspace().join("events/seed"), &signer).await.expect("seeds");
    let (port, stop, server) = start_server(app).await;
    // No session token: the real handler's 401, not dev's 503.
    for path in ["/sync-status", "/seller-accounts", "/lambda-url/seller-accounts/"] {
        let answer = get(port, path).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}: {}", answer.body);
    }
    // The seeded user, signed in to the seeded organization.
    let token = clerk_sync_tests::session::token(
        "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs",
        Some(("org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", "org:admin")),
    );
    for path in ["/sync-status", "/lambda-url/sync-status/"] {
        let answer = get_as(port, path, Some(&token)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        let status: Value = serde_json::from_str(&answer.body).expect("JSON");
        assert_eq!(status["verdicts"]["user"], "in_sync", "{status}");
        assert_eq!(status["verdicts"]["membership"], "in_sync", "{status}");
    }
    let accounts = get_as(port, "/seller-accounts", Some(&token)).await;
    assert_eq!(accounts.status, StatusCode::OK, "{}", accounts.body);
    assert_eq!(accounts.body, r#"{"seller_accounts":[]}"#);
    let _ = stop.send(());
    let _ = server.await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seeding_loads_the_starter_data_set() {
    let db = TestDb::spawn().await;
    let app = app_for(&db, &[]);
    let signer = Signer::new(sign::DEV_SECRET, "test").expect("valid");
    let summary = seed(&app, &workspace().join("events/seed"), &signer).await.expect("seeds");
    assert_eq!(summary, Summary { processed: 7, ..Summary::default() });
    let active = "WHERE deleted_at IS NULL";
    assert_eq!(db.rows(&format!("SELECT 1 FROM users {active}")).await.len(), 2);
    assert_eq!(db.rows(&format!("SELECT 1 FROM organization {active}")).await.len(), 2);
    assert_eq!(db.rows(&format!("SELECT 1 FROM user_organizations {active}")).await.len(), 3);
    let contents = app.describe_contents().await.expect("counts");
    assert!(contents.starts_with("2 users ("), "{contents}");
    assert!(contents.ends_with("3 active memberships"), "{contents}");
    // Seeding again changes nothing: the rows already reflect every event.
    let again = seed(&app, &workspace().join("events/seed"), &signer).await.expect("seeds");
    assert_eq!(again.processed + again.stale, 7, "{again:?}");
    assert_eq!(db.rows(&format!("SELECT 1 FROM user_organizations {active}")).await.len(), 3);
}
