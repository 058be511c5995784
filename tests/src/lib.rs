//! Test harness: a real PostgreSQL, a fresh database per test, signed
//! deliveries through the real handlers.
//!
//! The server comes from `TEST_DATABASE_URL` or `DATABASE_URL` when set;
//! otherwise one throwaway cluster is started for the test process from the
//! PostgreSQL binaries on the machine and stopped when the process exits.
//! The Secrets Manager tests use a local `moto_server` ([`moto`]), the TLS
//! tests a second, TLS-only cluster ([`tls_postgres`]), both started the same
//! way.

pub mod clerk;
pub mod fake_backend_api;
pub mod load;
pub mod moto;
pub mod pgbouncer;
mod postgres;
pub mod runtime_api;
pub mod session;
pub mod tls_postgres;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
use clerk_sync::{
    config::Source,
    db::{build_pool, DbSettings},
    Family, WebhookConfig, WebhookState,
};
use serde_json::{json, Value};
use tokio_postgres::NoTls;

pub use postgres::{pg_binary, server_available, server_url, OwnCluster};

/// The signing secret of the first published Svix test vector.
pub const TEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A freshly created, migrated database of its own.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Creates and migrates a new database named by a UUID.
    pub async fn spawn() -> Self {
        let db = Self::create_empty().await;
        let mut client = db.connect().await;
        clerk_sync::sync::schema::migrate(&mut client).await.expect("migrations apply to a fresh database");
        db
    }

    /// Creates a new database without migrating it.
    pub async fn create_empty() -> Self {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(server_url()).await;
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
        let url = postgres::with_dbname(server_url(), &name);
        Self { name, url }
    }

    /// A plain connection, for assertions.
    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }

    /// Rows of a query, as JSON objects (via `row_to_json`), for readable assertions.
    pub async fn rows(&self, sql: &str) -> Vec<Value> {
        let client = self.connect().await;
        let wrapped = format!("SELECT row_to_json(t)::text FROM ({sql}) t");
        client
            .query(&wrapped, &[])
            .await
            .unwrap_or_else(|e| panic!("query failed: {e}: {sql}"))
            .iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).expect("row_to_json gives JSON"))
            .collect()
    }

    pub async fn count(&self, table: &str) -> i64 {
        let client = self.connect().await;
        client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("count").get(0)
    }

    /// Rows in every table the webhooks write: all zero means nothing was written.
    pub async fn written_rows(&self) -> i64 {
        let mut total = 0;
        for table in [
            "clerk_webhook_events",
            "users",
            "organization",
            "user_organizations",
            "organization_invitations",
            "organization_domains",
            "organization_roles",
            "organization_permissions",
            "organization_role_permissions",
        ] {
            total += self.count(table).await;
        }
        total
    }
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect to the test server");
    tokio::spawn(connection);
    client
}

/// A settings source backed by a list of pairs.
pub struct Vars(pub Vec<(&'static str, String)>);

impl Source for Vars {
    fn get(&self, var: &str) -> Option<String> {
        self.0.iter().rev().find(|(k, _)| *k == var).map(|(_, v)| v.clone())
    }
}

/// A webhook function's state over a test database, as `main` builds it.
pub struct TestApp {
    pub db: TestDb,
    pub state: WebhookState,
}

/// What a delivery answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl TestApp {
    pub async fn spawn(family: Family) -> Self {
        let db = TestDb::spawn().await;
        let state = webhook_state(family, &db.url, vec![]);
        Self { db, state }
    }

    /// Signs `payload` with the test secret under `svix_id` and delivers it
    /// as a Function URL request through the real handler.
    pub async fn deliver(&self, svix_id: &str, payload: &Value) -> Answer {
        let body = payload.to_string();
        self.send(function_url_event("POST", &body, &signed_headers(TEST_SECRET, svix_id, now(), &body), false)).await
    }

    /// Delivers a Lambda event (JSON text) through the real handler.
    pub async fn send(&self, event: String) -> Answer {
        let request = lambda_http::request::from_str(&event).expect("lambda_http accepts the event");
        answer(clerk_sync::handle(&self.state, request).await)
    }
}

/// State for `family` over `url`; `extra` overrides settings.
pub fn webhook_state(family: Family, url: &str, extra: Vec<(&'static str, String)>) -> WebhookState {
    let mut vars = vec![
        ("DATABASE_URL", url.to_string()),
        ("CLERK_WEBHOOK_SECRET", TEST_SECRET.to_string()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
    ];
    vars.extend(extra);
    let config = WebhookConfig::from_source(&Vars(vars)).expect("valid test configuration");
    WebhookState::new(family, config).expect("state builds")
}

/// The settings of a function behind a transaction pooler.
pub fn through_pooler() -> Vec<(&'static str, String)> {
    vec![("DB_POOLER", "transaction".to_string())]
}

/// One connection from a pool of its own, for library calls that take
/// the functions' pooled client.
pub async fn pooled(url: &str) -> clerk_sync::db::Client {
    pool(url, 1).get().await.expect("a pooled connection")
}

/// A pool over a test database (tools and concurrency tests).
pub fn pool(url: &str, size: usize) -> clerk_sync::db::Pool {
    let mut settings = DbSettings::for_url(url);
    settings.max_connections = size;
    build_pool(&settings).expect("pool builds")
}

/// A pool through a transaction pooler (`DB_POOLER=transaction`).
pub fn pooler_pool(url: &str, size: usize) -> clerk_sync::db::Pool {
    let mut settings = DbSettings::for_url(url).through_pooler();
    settings.max_connections = size;
    build_pool(&settings).expect("pool builds")
}

pub fn answer(response: http::Response<String>) -> Answer {
    let status = response.status().as_u16();
    let body = serde_json::from_str(response.body()).expect("every answer is JSON");
    Answer { status, body }
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() as i64
}

/// The three svix headers for `body`, signed with `secret` at `timestamp`.
pub fn signed_headers(secret: &str, svix_id: &str, timestamp: i64, body: &str) -> Vec<(String, String)> {
    let signature = svix::webhooks::Webhook::new(secret)
        .expect("valid secret")
        .sign(svix_id, timestamp, body.as_bytes())
        .expect("sign");
    vec![
        ("svix-id".into(), svix_id.into()),
        ("svix-timestamp".into(), timestamp.to_string()),
        ("svix-signature".into(), signature),
        ("content-type".into(), "application/json".into()),
    ]
}

fn headers_object(headers: &[(String, String)]) -> Value {
    Value::Object(headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

fn encode_body(body: &str, base64: bool) -> Value {
    if base64 {
        Value::String(BASE64.encode(body))
    } else {
        Value::String(body.to_string())
    }
}

/// A Lambda Function URL (payload 2.0) request event.
pub fn function_url_event(method: &str, body: &str, headers: &[(String, String)], base64: bool) -> String {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": headers_object(headers),
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "clerksynctest",
            "domainName": "clerksynctest.lambda-url.us-east-1.on.aws",
            "domainPrefix": "clerksynctest",
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "Svix-Webhooks/1.0"},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "30/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_i64
        },
        "body": encode_body(body, base64),
        "isBase64Encoded": base64
    })
    .to_string()
}

/// An API Gateway REST API (payload 1.0) proxy event.
pub fn rest_api_event(body: &str, headers: &[(String, String)], base64: bool) -> String {
    json!({
        "resource": "/webhooks/users",
        "path": "/webhooks/users",
        "httpMethod": "POST",
        "headers": headers_object(headers),
        "multiValueHeaders": Value::Object(headers.iter().map(|(k, v)| (k.clone(), json!([v]))).collect()),
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "abc123",
            "stage": "prod",
            "requestId": uuid::Uuid::new_v4().to_string(),
            "identity": {"sourceIp": "127.0.0.1"},
            "resourcePath": "/webhooks/users",
            "httpMethod": "POST",
            "apiId": "abcdef1234",
            "path": "/prod/webhooks/users"
        },
        "body": encode_body(body, base64),
        "isBase64Encoded": base64
    })
    .to_string()
}

/// An Application Load Balancer target event.
pub fn alb_event(body: &str, headers: &[(String, String)], base64: bool) -> String {
    json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/clerk/0123456789abcdef"}},
        "httpMethod": "POST",
        "path": "/webhooks/users",
        "queryStringParameters": {},
        "headers": headers_object(headers),
        "body": encode_body(body, base64),
        "isBase64Encoded": base64
    })
    .to_string()
}

/// The webhook functions over one database, as deployed: each event goes to
/// the function of its family.
pub struct TestStack {
    pub db: TestDb,
    pub users: WebhookState,
    pub organizations: WebhookState,
    pub memberships: WebhookState,
    pub invitations: WebhookState,
    pub domains: WebhookState,
    pub roles: WebhookState,
    /// The local stack's catch-all route (every family).
    pub catch_all: WebhookState,
    /// The PgBouncer the functions go through, if they do.
    pub pgbouncer: Option<local_postgres::pgbouncer::PgBouncer>,
}

impl TestStack {
    pub async fn spawn() -> Self {
        Self::over(TestDb::spawn().await)
    }

    pub fn over(db: TestDb) -> Self {
        let url = db.url.clone();
        Self::reaching(db, &url, None, Vec::new)
    }

    /// The functions set up for a transaction pooler (`DB_POOLER=transaction`:
    /// unnamed calls of the event routines, `SET LOCAL` timeouts) on a
    /// direct connection to `db`.
    pub fn over_pooler(db: TestDb) -> Self {
        let url = db.url.clone();
        Self::reaching(db, &url, None, through_pooler)
    }

    /// The functions through a PgBouncer in transaction mode with
    /// `pool_size` server connections, set up for it (`DB_POOLER=transaction`).
    pub async fn spawn_through_pgbouncer(pool_size: u16) -> Self {
        let db = TestDb::spawn().await;
        let bouncer = pgbouncer::start(pool_size);
        let url = bouncer.url(&db.name);
        Self::reaching(db, &url, Some(bouncer), through_pooler)
    }

    fn reaching(
        db: TestDb,
        url: &str,
        pgbouncer: Option<local_postgres::pgbouncer::PgBouncer>,
        extra: impl Fn() -> Vec<(&'static str, String)>,
    ) -> Self {
        Self {
            users: webhook_state(Family::Users, url, extra()),
            organizations: webhook_state(Family::Organizations, url, extra()),
            memberships: webhook_state(Family::Memberships, url, extra()),
            invitations: webhook_state(Family::Invitations, url, extra()),
            domains: webhook_state(Family::Domains, url, extra()),
            roles: webhook_state(Family::Roles, url, extra()),
            catch_all: webhook_state(Family::All, url, extra()),
            pgbouncer,
            db,
        }
    }

    /// The function Clerk's dashboard would route this event type to.
    pub fn function_for(&self, event_type: &str) -> &WebhookState {
        match Family::handling(event_type) {
            Some(Family::Organizations) => &self.organizations,
            Some(Family::Memberships) => &self.memberships,
            Some(Family::Invitations) => &self.invitations,
            Some(Family::Domains) => &self.domains,
            Some(Family::Roles) => &self.roles,
            // Types no family handles go to one function, which ignores them.
            Some(Family::Users | Family::All) | None => &self.users,
        }
    }

    /// Signs and delivers `payload` to the function of its family.
    pub async fn deliver(&self, svix_id: &str, payload: &Value) -> Answer {
        let body = payload.to_string();
        let event = function_url_event("POST", &body, &signed_headers(TEST_SECRET, svix_id, now(), &body), false);
        let request = lambda_http::request::from_str(&event).expect("lambda_http accepts the event");
        let state = self.function_for(payload["type"].as_str().unwrap_or_default());
        answer(clerk_sync::handle(state, request).await)
    }

    /// Delivers and asserts the answer's status.
    pub async fn expect(&self, svix_id: &str, payload: &Value, status: &str) -> Answer {
        let answer = self.deliver(svix_id, payload).await;
        assert_eq!(answer.status, 200, "{svix_id}: {answer:?}");
        assert_eq!(answer.body["status"], status, "{svix_id}: {answer:?}");
        answer
    }

    /// The synced state, ordered, without bookkeeping: what convergence compares.
    pub async fn snapshot(&self) -> Value {
        json!({
            "users": self.db.rows(
                "SELECT clerk_user_id, email, first_name, last_name, image_url, deleted_at
                 FROM users ORDER BY clerk_user_id").await,
            "organizations": self.db.rows(
                "SELECT clerk_org_id, name, slug, image_url, deleted_at, stripe_customer_id
                 FROM organization ORDER BY clerk_org_id").await,
            "memberships": self.db.rows(
                "SELECT u.clerk_user_id, o.clerk_org_id, m.role, m.clerk_membership_id, m.deleted_at
                 FROM user_organizations m JOIN users u ON u.id = m.user_id
                 JOIN organization o ON o.id = m.organization_id ORDER BY 1, 2").await,
            "invitations": self.db.rows(
                "SELECT i.clerk_invitation_id, o.clerk_org_id, i.email_address, i.role, i.status, i.expires_at,
                        u.clerk_user_id
                 FROM organization_invitations i JOIN organization o ON o.id = i.organization_id
                 LEFT JOIN users u ON u.id = i.user_id ORDER BY 1").await,
            "domains": self.db.rows(
                "SELECT d.clerk_domain_id, o.clerk_org_id, d.name, d.enrollment_mode, d.verification_status,
                        d.affiliation_email_address, d.deleted_at
                 FROM organization_domains d LEFT JOIN organization o ON o.id = d.organization_id ORDER BY 1").await,
            "roles": self.db.rows(
                "SELECT r.clerk_role_id, r.key, r.name, r.description, r.deleted_at,
                        ARRAY(SELECT p.clerk_permission_id FROM organization_role_permissions rp
                              JOIN organization_permissions p ON p.id = rp.permission_id
                              WHERE rp.role_id = r.id ORDER BY 1) AS permissions
                 FROM organization_roles r ORDER BY 1").await,
            "permissions": self.db.rows(
                "SELECT clerk_permission_id, key, name, description, type, deleted_at
                 FROM organization_permissions ORDER BY 1").await,
            // `processed` and `stale` differ only by arrival order: an event
            // is stale when a newer one arrived first.
            "events": self.db.rows(
                "SELECT svix_id, family, event_type, clerk_object_id,
                        CASE WHEN status = 'stale' THEN 'processed' ELSE status END AS status, last_error
                 FROM clerk_webhook_events ORDER BY svix_id, family").await,
        })
    }
}

impl TestStack {
    /// Delivers `payload` to the users function, whatever its type.
    pub async fn users_deliver(&self, svix_id: &str, payload: &Value) -> Value {
        let answer = self.deliver_raw(&self.users, svix_id, &payload.to_string()).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body
    }

    /// The webhook functions: the deployed ones in the order of `FAMILIES`,
    /// then the catch-all (the last).
    pub fn functions(&self) -> [&WebhookState; 7] {
        [
            &self.users,
            &self.organizations,
            &self.memberships,
            &self.invitations,
            &self.domains,
            &self.roles,
            &self.catch_all,
        ]
    }

    /// Signs and delivers `payload` to one function, as an endpoint
    /// subscribed to its type would receive it.
    pub async fn deliver_to(&self, state: &WebhookState, svix_id: &str, payload: &Value) -> Answer {
        self.deliver_raw(state, svix_id, &payload.to_string()).await
    }

    /// Signs and delivers exact body text to one function.
    pub async fn deliver_raw(&self, state: &WebhookState, svix_id: &str, body: &str) -> Answer {
        let event = function_url_event("POST", body, &signed_headers(TEST_SECRET, svix_id, now(), body), false);
        let request = lambda_http::request::from_str(&event).expect("lambda_http accepts the event");
        answer(clerk_sync::handle(state, request).await)
    }
}

/// An API function's state (sync-status, seller-accounts) over a test
/// database, trusting the k1 test key; `extra` overrides settings.
pub fn api_state(url: &str, extra: Vec<(&'static str, String)>) -> clerk_sync::api::ApiState {
    let mut vars = vec![("DATABASE_URL", url.to_string()), ("SKIP_DB_MIGRATIONS", "true".to_string())];
    vars.extend(session::pem_settings());
    vars.extend(extra);
    clerk_sync::api::ApiState::from_source(&Vars(vars)).expect("valid API configuration")
}

/// An API Gateway HTTP API (payload 2.0) request, as the app sends it.
pub fn api_request(method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> lambda_http::Request {
    let mut headers = serde_json::Map::new();
    headers.insert("accept".into(), json!("application/json"));
    headers.insert("content-type".into(), json!("application/json"));
    if let Some(token) = token {
        headers.insert("authorization".into(), json!(format!("Bearer {token}")));
    }
    let (raw_path, raw_query) = path.split_once('?').unwrap_or((path, ""));
    let event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {raw_path}"),
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.test", "domainPrefix": "api",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": uuid::Uuid::new_v4().to_string(), "routeKey": "$default", "stage": "$default",
            "time": "30/Nov/2026:12:00:00 +0000", "timeEpoch": 1_795_000_000_000_i64
        },
        "body": body,
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("lambda_http accepts the event")
}

/// Status and body of an API answer (JSON, or HTML as a string).
pub fn api_answer(response: http::Response<String>) -> Answer {
    let status = response.status().as_u16();
    let body = serde_json::from_str(response.body()).unwrap_or_else(|_| Value::String(response.body().clone()));
    Answer { status, body }
}
