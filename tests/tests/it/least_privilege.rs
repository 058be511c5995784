//! Every function runs under the least-privilege role of
//! `docs/least-privilege.sql` (with `SKIP_DB_MIGRATIONS=true`), and that
//! role can change rows but not the schema.
//!
//! Roles are cluster-wide: this test names its roles after its own database
//! so parallel tests never share one, and drops them at the end.

use clerk_sync::{
    api::{seller_accounts::SellerAccountsState, sync_status},
    sync::prune::prune,
    sync::replay::ReplayJob,
    Family,
};
use clerk_sync_tests::{
    api_answer, api_request, api_state,
    clerk::{membership, organization, organization_deleted, sample, simple_user, user_deleted, Membership},
    connect, server_url, session, webhook_state, TestDb, TestStack, Vars,
};
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;

const GRANTS: &str = include_str!("../../../docs/least-privilege.sql");
const KEY: &str = "test-encryption-key-0123456789abcdefghijklmnop";

/// `url` (URL or key=value form) connecting as `user` with `password`. The
/// throwaway cluster trusts 127.0.0.1, a server named by `DATABASE_URL` may
/// check the password: it is set on the role, so both work.
fn as_user(url: &str, user: &str, password: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_start = rest.find('@').filter(|&at| rest.find('/').is_none_or(|slash| at < slash));
            let host = host_start.map_or(rest, |at| &rest[at + 1..]);
            format!("{scheme}://{user}:{password}@{host}")
        }
        // key=value form: later keys win.
        None => format!("{url} user={user} password={password}"),
    }
}

/// `organizationMembership.<kind>` of `user` in org_a.
fn member(kind: &str, id: &str, user: &str, role: &str, at: i64) -> Value {
    membership(&Membership {
        event_type: &format!("organizationMembership.{kind}"),
        id,
        org_id: "org_a",
        org_name: "Acme",
        org_updated_ms: 100,
        user_id: user,
        first_name: "Member",
        identifier: "member@example.com",
        role,
        updated_ms: at,
        timestamp: at + 5,
    })
}

/// The SQLSTATE of what `sql` answers as `client`, `None` when it succeeds.
async fn refused(client: &tokio_postgres::Client, sql: &str) -> Option<SqlState> {
    client.batch_execute(sql).await.err().map(|e| e.code().cloned().unwrap_or(SqlState::CONNECTION_EXCEPTION))
}

#[tokio::test]
async fn every_function_runs_under_the_least_privilege_role_which_cannot_change_the_schema() {
    let admin = connect(server_url()).await;
    let may_create_roles: bool = admin
        .query_one("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user", &[])
        .await
        .unwrap()
        .get(0);
    if !may_create_roles {
        eprintln!("SKIPPED least_privilege: the test server's user may not CREATE ROLE");
        return;
    }
    let db = TestDb::spawn().await;
    let (app, pruner) = (format!("{}_app", db.name), format!("{}_prune", db.name));
    let password = uuid::Uuid::new_v4().simple().to_string();
    let owner = db.connect().await;
    let grants = GRANTS.replace("clerk_sync_app", &app).replace("clerk_sync_prune", &pruner);
    // Twice: the file is meant to be re-run after migrations.
    owner.batch_execute(&grants).await.unwrap();
    owner.batch_execute(&grants).await.unwrap();
    for role in [&app, &pruner] {
        owner.batch_execute(&format!("ALTER ROLE \"{role}\" PASSWORD '{password}'")).await.unwrap();
    }
    let app_url = as_user(&db.url, &app, &password);
    let prune_url = as_user(&db.url, &pruner, &password);

    // Webhooks: every handled type, deletes included, plus an ignored type
    // and a handled type whose data cannot be applied.
    let stack = TestStack::over(TestDb { name: db.name.clone(), url: app_url.clone() });
    let deliveries = [
        ("msg_ada", simple_user("user.created", "user_ada", 100, "Ada", "ada@example.com"), "processed"),
        ("msg_bob", simple_user("user.created", "user_bob", 100, "Bob", "bob@example.com"), "processed"),
        ("msg_ada2", simple_user("user.updated", "user_ada", 200, "Ada", "ada@example.com"), "processed"),
        ("msg_org", organization("organization.created", "org_a", "Acme", 100), "processed"),
        ("msg_org2", organization("organization.updated", "org_a", "Acme", 150), "processed"),
        ("msg_gone", organization("organization.created", "org_gone", "Gone", 100), "processed"),
        ("msg_m1", member("created", "orgmem_1", "user_ada", "org:member", 300), "processed"),
        ("msg_m1b", member("updated", "orgmem_1", "user_ada", "org:admin", 400), "processed"),
        ("msg_m2", member("created", "orgmem_2", "user_bob", "org:member", 300), "processed"),
        ("msg_m2d", member("deleted", "orgmem_2", "user_bob", "org:member", 300), "processed"),
        ("msg_bob_d", user_deleted("user_bob", 500), "processed"),
        ("msg_gone_d", organization_deleted("org_gone", 500), "processed"),
        ("msg_session", sample("session.created.json"), "ignored"),
        ("msg_bad", json!({"type": "user.updated", "data": {"id": "user_x"}}), "failed"),
    ];
    for (id, event, status) in &deliveries {
        stack.expect(id, event, status).await;
    }
    let state = db.rows("SELECT clerk_user_id, deleted_at IS NOT NULL AS deleted FROM users ORDER BY 1").await;
    assert_eq!(
        state,
        [json!({"clerk_user_id": "user_ada", "deleted": false}), json!({"clerk_user_id": "user_bob", "deleted": true})]
    );

    // sync-status and seller-accounts, with Ada's session (admin of org_a).
    let ada = session::token("user_ada", Some(("org_a", "org:admin")));
    let api = api_state(&app_url, vec![]);
    let status = api_answer(sync_status::handle(&api, api_request("GET", "/sync-status", Some(&ada), None)).await);
    assert_eq!((status.status, &status.body["verdicts"]["membership"]), (200, &json!("in_sync")), "{status:?}");
    let mut vars = vec![
        ("DATABASE_URL", app_url.clone()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
        ("ENCRYPTION_KEY", KEY.to_string()),
    ];
    vars.extend(session::pem_settings());
    let sellers = SellerAccountsState::from_source(&Vars(vars)).unwrap();
    let call = |method: &'static str, path: String, body: Option<String>| {
        let (sellers, ada) = (&sellers, &ada);
        async move {
            let request = api_request(method, &path, Some(ada), body.as_deref());
            api_answer(clerk_sync::api::seller_accounts::handle(sellers, request).await)
        }
    };
    let body = json!({"seller_id": "A1", "marketplace_id": "ATVPDKIKX0DER", "region": "na",
        "refresh_token": "rt", "lwa_client_id": "id", "lwa_client_secret": "secret"})
    .to_string();
    let created = call("POST", "/seller-accounts".into(), Some(body.clone())).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(call("POST", "/seller-accounts".into(), Some(body)).await.status, 200, "reconnect updates");
    let id = created.body["id"].as_str().unwrap().to_string();
    let list = call("GET", "/seller-accounts".into(), None).await;
    assert_eq!(list.body["seller_accounts"].as_array().map(Vec::len), Some(1), "{list:?}");
    assert_eq!(call("GET", format!("/seller-accounts/{id}"), None).await.status, 200);
    assert_eq!(call("DELETE", format!("/seller-accounts/{id}"), None).await.status, 204);

    // clerk-replay: an event an older build failed on, now understood.
    owner
        .execute(
            "INSERT INTO clerk_webhook_events (svix_id, family, event_type, clerk_object_id, payload, status, last_error)
             VALUES ('msg_old', 'organizations', 'organization.created', 'org_old', $1::text::jsonb, 'failed', 'older build')",
            &[&organization("organization.created", "org_old", "Old", 100).to_string()],
        )
        .await
        .unwrap();
    let job = ReplayJob::from_source(&Vars(vec![
        ("DATABASE_URL", app_url.clone()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
    ]))
    .unwrap();
    let summary = job.run().await.unwrap();
    assert_eq!((summary.processed, summary.failed), (1, 1), "{summary:?}");

    // Without SKIP_DB_MIGRATIONS the first request reads the migration
    // history, which the role may not: 503, and Svix retries.
    let migrating = webhook_state(Family::Users, &app_url, vec![("SKIP_DB_MIGRATIONS", "false".into())]);
    let answer = stack.deliver_raw(&migrating, "msg_m", &sample("user.created.json").to_string()).await;
    assert_eq!(answer.status, 503, "{answer:?}");

    // The role changes rows, never the schema, and deletes nothing but
    // seller accounts.
    let as_app = connect(&app_url).await;
    let denied = SqlState::INSUFFICIENT_PRIVILEGE;
    for sql in [
        "CREATE TABLE intruder (id int)",
        "CREATE SCHEMA intruder",
        "CREATE INDEX intruder ON users (first_name)",
        "ALTER TABLE users ADD COLUMN intruder int",
        "DROP TABLE users",
        "DROP TABLE clerk_sync_migrations",
        "TRUNCATE clerk_webhook_events",
        "TRUNCATE seller_accounts",
        "DELETE FROM clerk_webhook_events",
        "DELETE FROM users",
        "DELETE FROM user_organizations",
        "SELECT * FROM clerk_sync_migrations",
        "SELECT * FROM amazon_orders",
        "INSERT INTO amazon_sales_traffic_daily (organization_id) VALUES (gen_random_uuid())",
    ] {
        assert_eq!(refused(&as_app, sql).await, Some(denied.clone()), "{app} may not: {sql}");
    }

    // prune: not as the app; as the pruner role, which can do nothing else.
    owner
        .batch_execute(
            "UPDATE clerk_webhook_events SET received_at = now() - interval '40 days' WHERE svix_id LIKE 'msg_m%'",
        )
        .await
        .unwrap();
    let refused_prune = prune(&as_app, 30, false).await.unwrap_err();
    assert_eq!(refused_prune.sql_state(), Some(&denied), "{refused_prune}");
    let as_pruner = connect(&prune_url).await;
    let report = prune(&as_pruner, 30, false).await.unwrap();
    assert_eq!(report.processed, 4, "{report:?}");
    for sql in [
        "SELECT * FROM users",
        "UPDATE clerk_webhook_events SET status = 'processed'",
        "INSERT INTO clerk_webhook_events (svix_id, event_type, payload, status) VALUES ('x', 'x', '{}', 'processed')",
        "TRUNCATE clerk_webhook_events",
        "CREATE TABLE intruder (id int)",
    ] {
        assert_eq!(refused(&as_pruner, sql).await, Some(denied.clone()), "{pruner} may not: {sql}");
    }
    let privileges = db
        .rows(&format!(
            "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) AS granted
             FROM information_schema.role_table_grants WHERE grantee = '{app}' GROUP BY 1 ORDER BY 1"
        ))
        .await;
    assert_eq!(
        privileges,
        [
            json!({"table_name": "clerk_webhook_events", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "organization", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "seller_accounts", "granted": "DELETE,INSERT,SELECT,UPDATE"}),
            json!({"table_name": "user_organizations", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "users", "granted": "INSERT,SELECT,UPDATE"}),
        ],
        "exactly the documented set"
    );

    // Close every session of the roles, then drop them with their privileges.
    drop((stack, api, sellers, job, migrating, as_app, as_pruner));
    owner.batch_execute(&format!("DROP OWNED BY \"{app}\", \"{pruner}\"")).await.unwrap();
    admin.batch_execute(&format!("DROP ROLE \"{app}\", \"{pruner}\"")).await.unwrap();
}
