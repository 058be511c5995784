//! Every function runs under the least-privilege role of
//! `docs/least-privilege.sql` (with `SKIP_DB_MIGRATIONS=true`), and that
//! role can change rows but not the schema. Reconcile too: resumed,
//! skipped while another run holds the lock, and tidying old runs.
//!
//! Roles are cluster-wide: this test names its roles after its own database
//! so parallel tests never share one, and drops them at the end.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clerk_sync::{
    api::{seller_accounts::SellerAccountsState, sync_status},
    reconcile::ReconcileJob,
    sync::prune::prune,
    sync::replay::ReplayJob,
    Family,
};
use clerk_sync_tests::{
    api_answer, api_request, api_state,
    clerk::{
        domain, domain_deleted, invitation, membership, organization, organization_deleted, permission,
        permission_data, permission_deleted, role, role_deleted, sample, simple_user, user_deleted, Domain, Invitation,
        Membership, T0,
    },
    connect, fake_backend_api, server_url, session, webhook_state, TestDb, TestStack, Vars,
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

/// `organizationInvitation.<kind>` of orginv_a to org_a.
fn invited(kind: &str, user_id: Option<&str>, at: i64) -> Value {
    invitation(&Invitation {
        event_type: &format!("organizationInvitation.{kind}"),
        id: "orginv_a",
        org_id: "org_a",
        org_name: Some("Acme"),
        email: "cy@example.com",
        role: "org:member",
        user_id,
        updated_ms: at,
    })
}

/// `organizationDomain.<kind>` of orgdmn_a in org_a.
fn acme_domain(kind: &str, at: i64) -> Value {
    domain(&Domain {
        event_type: &format!("organizationDomain.{kind}"),
        id: "orgdmn_a",
        org_id: "org_a",
        org_name: Some("Acme"),
        name: "acme.example",
        enrollment_mode: "automatic_invitation",
        verification: Some("verified"),
        updated_ms: at,
    })
}

fn reads(at: i64) -> Value {
    permission_data("perm_a", "org:a:read", "Read all A", at)
}

fn writes(at: i64) -> Value {
    permission_data("perm_b", "org:a:write", "Write A", at)
}

/// The roles of `docs/least-privilege.sql`, named after their test's database
/// (roles are cluster-wide: parallel tests never share one), with a password.
struct Roles {
    app: String,
    pruner: String,
    app_url: String,
    prune_url: String,
}

impl Roles {
    /// Runs the file as `db`'s owner, twice (it is meant to be re-run after
    /// migrations). `None` when the test server's user may not create roles.
    async fn grant(admin: &tokio_postgres::Client, db: &TestDb) -> Option<Self> {
        let may_create_roles: bool = admin
            .query_one("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user", &[])
            .await
            .unwrap()
            .get(0);
        if !may_create_roles {
            eprintln!("SKIPPED least_privilege: the test server's user may not CREATE ROLE");
            return None;
        }
        let (app, pruner) = (format!("{}_app", db.name), format!("{}_prune", db.name));
        let password = uuid::Uuid::new_v4().simple().to_string();
        let owner = db.connect().await;
        let grants = GRANTS.replace("clerk_sync_app", &app).replace("clerk_sync_prune", &pruner);
        owner.batch_execute(&grants).await.unwrap();
        owner.batch_execute(&grants).await.unwrap();
        for role in [&app, &pruner] {
            owner.batch_execute(&format!("ALTER ROLE \"{role}\" PASSWORD '{password}'")).await.unwrap();
        }
        let app_url = as_user(&db.url, &app, &password);
        let prune_url = as_user(&db.url, &pruner, &password);
        Some(Self { app, pruner, app_url, prune_url })
    }

    /// Drops the roles with their privileges; every session of theirs must be closed.
    async fn drop(self, admin: &tokio_postgres::Client, db: &TestDb) {
        let (app, pruner) = (&self.app, &self.pruner);
        db.connect().await.batch_execute(&format!("DROP OWNED BY \"{app}\", \"{pruner}\"")).await.unwrap();
        admin.batch_execute(&format!("DROP ROLE \"{app}\", \"{pruner}\"")).await.unwrap();
    }
}

/// Webhooks: every handled type, deletes included, plus an ignored type
/// and a handled type whose data cannot be applied: every event statement.
fn every_kind_of_delivery() -> Vec<(&'static str, Value, &'static str)> {
    vec![
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
        ("msg_inv", invited("created", None, 100), "processed"),
        ("msg_inv_a", invited("accepted", Some("user_ada"), 200), "processed"),
        ("msg_dom", acme_domain("created", 100), "processed"),
        ("msg_dom_u", acme_domain("updated", 200), "processed"),
        ("msg_dom_d", domain_deleted("orgdmn_a", 300), "processed"),
        ("msg_perm", permission("permission.created", "perm_a", "org:a:read", "Read A", 100), "processed"),
        ("msg_perm_u", permission("permission.updated", "perm_a", "org:a:read", "Read all A", 200), "processed"),
        ("msg_role", role("role.created", "role_a", "org:a", "A", 100, vec![reads(100), writes(100)]), "processed"),
        // Replacing the set deletes the pair no longer listed.
        ("msg_role_u", role("role.updated", "role_a", "org:a", "A", 200, vec![writes(100)]), "processed"),
        ("msg_perm_d", permission_deleted("perm_a", 300), "processed"),
        ("msg_role_d", role_deleted("role_a", 300), "processed"),
        ("msg_session", sample("session.created.json"), "ignored"),
        ("msg_bad", json!({"type": "user.updated", "data": {"id": "user_x"}}), "failed"),
    ]
}

/// The SQLSTATE of what `sql` answers as `client`, `None` when it succeeds.
async fn refused(client: &tokio_postgres::Client, sql: &str) -> Option<SqlState> {
    client.batch_execute(sql).await.err().map(|e| e.code().cloned().unwrap_or(SqlState::CONNECTION_EXCEPTION))
}

#[tokio::test]
async fn every_function_runs_under_the_least_privilege_role_which_cannot_change_the_schema() {
    let admin = connect(server_url()).await;
    let db = TestDb::spawn().await;
    let Some(roles) = Roles::grant(&admin, &db).await else { return };
    let (app, pruner, app_url, prune_url) = (&roles.app, &roles.pruner, &roles.app_url, &roles.prune_url);
    let owner = db.connect().await;

    let stack = TestStack::over(TestDb { name: db.name.clone(), url: app_url.clone() });
    let deliveries = every_kind_of_delivery();
    for (id, event, status) in &deliveries {
        stack.expect(id, event, status).await;
    }
    let granted = db
        .rows(
            "SELECT p.clerk_permission_id FROM organization_role_permissions rp
             JOIN organization_permissions p ON p.id = rp.permission_id",
        )
        .await;
    assert_eq!(granted, [json!({"clerk_permission_id": "perm_b"})]);
    let state = db.rows("SELECT clerk_user_id, deleted_at IS NOT NULL AS deleted FROM users ORDER BY 1").await;
    assert_eq!(
        state,
        [json!({"clerk_user_id": "user_ada", "deleted": false}), json!({"clerk_user_id": "user_bob", "deleted": true})]
    );

    // sync-status and seller-accounts, with Ada's session (admin of org_a).
    let ada = session::token("user_ada", Some(("org_a", "org:admin")));
    let api = api_state(app_url, vec![]);
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
    let migrating = webhook_state(Family::Users, app_url, vec![("SKIP_DB_MIGRATIONS", "false".into())]);
    let answer = stack.deliver_raw(&migrating, "msg_m", &sample("user.created.json").to_string()).await;
    assert_eq!(answer.status, 503, "{answer:?}");

    // The role changes rows, never the schema, and deletes nothing but
    // seller accounts, the pairs of a role's permission set and reconcile's
    // own bookkeeping.
    let as_app = connect(app_url).await;
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
        "DELETE FROM organization_invitations",
        "DELETE FROM organization_domains",
        "DELETE FROM organization_roles",
        "DELETE FROM organization_permissions",
        "UPDATE organization_role_permissions SET role_id = role_id",
        "TRUNCATE organization_role_permissions",
        "TRUNCATE clerk_reconcile_runs",
        "UPDATE clerk_reconcile_changes SET action = 'deleted'",
        "UPDATE clerk_reconcile_seen SET clerk_id = 'x'",
        "DELETE FROM clerk_reconcile_lock",
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
    let refused_prune = prune(&clerk_sync_tests::pooled(app_url).await, 30, false).await.unwrap_err();
    assert_eq!(refused_prune.sql_state(), Some(&denied), "{refused_prune}");
    let as_pruner = clerk_sync_tests::pooled(prune_url).await;
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
            json!({"table_name": "clerk_reconcile_changes", "granted": "DELETE,INSERT,SELECT"}),
            json!({"table_name": "clerk_reconcile_lock", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "clerk_reconcile_runs", "granted": "DELETE,INSERT,SELECT,UPDATE"}),
            json!({"table_name": "clerk_reconcile_seen", "granted": "DELETE,INSERT,SELECT"}),
            json!({"table_name": "clerk_webhook_events", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "organization", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "organization_domains", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "organization_invitations", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "organization_permissions", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "organization_role_permissions", "granted": "DELETE,INSERT,SELECT"}),
            json!({"table_name": "organization_roles", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "seller_accounts", "granted": "DELETE,INSERT,SELECT,UPDATE"}),
            json!({"table_name": "user_organizations", "granted": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "users", "granted": "INSERT,SELECT,UPDATE"}),
        ],
        "exactly the documented set"
    );

    // Close every session of the roles, then drop them with their privileges.
    drop((stack, api, sellers, job, migrating, as_app, as_pruner));
    roles.drop(&admin, &db).await;
}

/// Behind a transaction pooler the functions call the event routines
/// (`clerk-sync migrate` creates them as the owner): the least-privilege
/// role may call every one of them, and they act with its privileges only.
#[tokio::test]
async fn behind_a_pooler_the_least_privilege_role_calls_every_event_routine() {
    let admin = connect(server_url()).await;
    let db = TestDb::spawn().await;
    let Some(roles) = Roles::grant(&admin, &db).await else { return };
    let stack = TestStack::over_pooler(TestDb { name: db.name.clone(), url: roles.app_url.clone() });
    for (id, event, status) in &every_kind_of_delivery() {
        stack.expect(id, event, status).await;
    }
    let as_app = connect(&roles.app_url).await;
    let routine = clerk_sync::sync::statements::DELIVERING.user_upsert.function().to_string();
    assert_eq!(
        refused(&as_app, &format!("ALTER FUNCTION {routine} RENAME TO intruder")).await,
        Some(SqlState::INSUFFICIENT_PRIVILEGE),
        "only the owner may change a routine"
    );
    drop((stack, as_app));
    roles.drop(&admin, &db).await;
}

/// The invocation deadline `clerk-reconcile` gets from Lambda, `from_now` ahead (ms since the epoch).
fn deadline(from_now: Duration) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    u64::try_from((now + from_now).as_millis()).expect("in range")
}

/// `clerk-reconcile` as its `main` builds it, under the least-privilege role:
/// suspended at its deadline and resumed by the next invocation, skipped
/// while another run holds the lock, and, run again, deleting what Clerk no
/// longer holds and tidying up (a stale crashed run abandoned and its ids
/// seen freed, finished runs past the newest 30 deleted with their changes, which
/// PostgreSQL cascades as the tables' owner: no DELETE on the changes).
#[tokio::test]
async fn the_scheduled_reconcile_runs_under_the_least_privilege_role() {
    let admin = connect(server_url()).await;
    let db = TestDb::spawn().await;
    let Some(roles) = Roles::grant(&admin, &db).await else { return };
    let owner = db.connect().await;

    // Clerk: three users, one organization, each user a member.
    let fake = fake_backend_api::FakeBackendApi::start().await;
    let org = fake_backend_api::organization("org_lp", T0);
    let users = ["user_lp1", "user_lp2", "user_lp3"];
    fake.set_users(users.iter().map(|id| fake_backend_api::user(id, T0, &format!("{id}@example.test"))).collect());
    fake.set_organizations(vec![org.clone()]);
    fake.set_memberships(
        users
            .iter()
            .map(|id| fake_backend_api::membership(&format!("orgmem_{id}"), &org, id, "org:member", T0 + 10))
            .collect(),
    );
    let job = ReconcileJob::from_source(&Vars(vec![
        ("DATABASE_URL", roles.app_url.clone()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
        ("CLERK_SECRET_KEY", fake_backend_api::FAKE_KEY.to_string()),
        ("CLERK_API_URL", fake.url()),
    ]))
    .unwrap();
    let tick = || job.run(deadline(Duration::from_secs(900)));

    // An invocation at its deadline starts no page: suspended, resumed by the next.
    let suspended = job.run(deadline(Duration::ZERO)).await.unwrap();
    assert_eq!((&suspended["suspended"], &suspended["resumed"]), (&json!(true), &json!(false)), "{suspended}");
    let first = tick().await.unwrap();
    assert_eq!(
        (&first["run"], &first["resumed"], &first["suspended"]),
        (&suspended["run"], &json!(true), &json!(false))
    );
    assert_eq!(first["report"]["complete"], json!(true), "{first}");
    assert_eq!(first["report"]["users"]["created"], json!(3), "{first}");
    assert_eq!(first["report"]["memberships"]["created"], json!(3), "{first}");

    // Another run holds the lock: this tick is skipped, not failed.
    owner
        .batch_execute(
            "UPDATE clerk_reconcile_lock SET holder = gen_random_uuid(), run_id = NULL,
             expires_at = now() + interval '1 minute'",
        )
        .await
        .unwrap();
    let skipped = tick().await.unwrap();
    assert!(skipped["skipped"].is_string(), "{skipped}");
    owner.batch_execute("UPDATE clerk_reconcile_lock SET expires_at = '-infinity'").await.unwrap();

    // A run a crashed process left running too long ago to resume, with ids
    // seen and a change, and 30 finished runs after it: the newest 30 are kept.
    owner
        .batch_execute(
            "WITH crashed AS (INSERT INTO clerk_reconcile_runs (trigger, dry_run, started_at)
             VALUES ('schedule', false, now() - interval '8 days') RETURNING id),
             seen AS (INSERT INTO clerk_reconcile_seen (run_id, kind, clerk_id) SELECT id, 'user', 'user_lp1' FROM crashed)
             INSERT INTO clerk_reconcile_changes (run_id, kind, clerk_id, action) SELECT id, 'user', 'user_lp1', 'created' FROM crashed;
             INSERT INTO clerk_reconcile_runs (trigger, dry_run, state, complete, finished_at)
             SELECT 'cli', false, 'completed', true, now() FROM generate_series(1, 30);",
        )
        .await
        .unwrap();
    let crashed: i64 =
        owner.query_one("SELECT id FROM clerk_reconcile_runs WHERE state = 'running'", &[]).await.unwrap().get(0);

    // Clerk deleted a user (and with it the membership).
    fake.remove("user_lp3");
    fake.remove("orgmem_user_lp3");
    let second = tick().await.unwrap();
    assert_eq!((&second["resumed"], &second["suspended"]), (&json!(false), &json!(false)), "{second}");
    assert_eq!(second["report"]["complete"], json!(true), "{second}");
    assert_eq!(second["report"]["users"]["deleted"], json!(1), "{second}");
    let deleted = db.rows("SELECT clerk_user_id FROM users WHERE deleted_at IS NOT NULL").await;
    assert_eq!(deleted, [json!({"clerk_user_id": "user_lp3"})]);

    let first_run = first["run"].as_i64().unwrap();
    let gone = db
        .rows(&format!(
            "SELECT (SELECT count(*) FROM clerk_reconcile_runs WHERE id = {first_run}) AS runs,
                    (SELECT count(*) FROM clerk_reconcile_changes WHERE run_id = {first_run}) AS changes,
                    (SELECT count(*) FROM clerk_reconcile_seen) AS seen,
                    (SELECT state FROM clerk_reconcile_runs WHERE id = {crashed}) AS crashed,
                    (SELECT state FROM clerk_reconcile_runs WHERE id = {}) AS latest",
            second["run"]
        ))
        .await;
    assert_eq!(
        gone,
        [json!({"runs": 0, "changes": 0, "seen": 0, "crashed": "abandoned", "latest": "completed"})],
        "the first run and its changes deleted, the crashed run abandoned, no ids seen left"
    );
    let changes = db
        .rows(&format!(
            "SELECT clerk_id, action FROM clerk_reconcile_changes WHERE run_id = {} ORDER BY 1",
            second["run"]
        ))
        .await;
    assert!(changes.contains(&json!({"clerk_id": "user_lp3", "action": "deleted"})), "{changes:?}");

    drop(job);
    roles.drop(&admin, &db).await;
}
