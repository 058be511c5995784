//! Reconcile against the fake Backend API: a backfill equals Clerk's data,
//! a second run changes nothing, edits and deletions converge through the
//! webhooks' rules, and nothing a webhook brought, or a failed listing
//! implies, is ever undone.

use std::time::Duration;

use clerk_sync::{
    backend_api::{BackendApi, BackendApiConfig, RetryPolicy},
    reconcile::{reconcile, Counts, Kind, Options, Outcome, Quiet, ReconcileError, Report, Trigger},
};
use clerk_sync_tests::{
    clerk::{joined, simple_user, T0},
    fake_backend_api::{
        domain, invitation, membership, organization, permission, role, user, FakeBackendApi, FAKE_KEY,
    },
    TestStack, Vars,
};
use serde_json::{json, Value};
use tokio::time::Instant;

fn api(fake: &FakeBackendApi) -> BackendApi {
    let vars = Vars(vec![("CLERK_SECRET_KEY", FAKE_KEY.to_string()), ("CLERK_API_URL", fake.url())]);
    let mut config = BackendApiConfig::from_source(&vars).expect("valid settings");
    // Small pages, so that every listing spans several.
    config.page_size = 5;
    config.max_requests = 1000;
    config.retry = RetryPolicy {
        attempts: 2,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        attempt_timeout: Duration::from_secs(5),
        throttled_attempts: 3,
        max_retry_after: Duration::from_secs(2),
    };
    BackendApi::new(config).expect("client builds")
}

/// Clerk's data: 12 users, 4 organizations, each user a member of one or
/// two (the first user of each organization its admin); with
/// [`Clerk::with_access`], permissions, roles, domains and invitations too.
struct Clerk {
    users: Vec<Value>,
    organizations: Vec<Value>,
    memberships: Vec<Value>,
    permissions: Vec<Value>,
    roles: Vec<Value>,
    domains: Vec<Value>,
    invitations: Vec<Value>,
}

fn user_id(i: usize) -> String {
    format!("user_{i:03}")
}

fn org_id(i: usize) -> String {
    format!("org_{i:02}")
}

fn perm_id(i: usize) -> String {
    format!("perm_{i:02}")
}

impl Clerk {
    fn new() -> Self {
        let users: Vec<Value> =
            (0..12).map(|i| user(&user_id(i), T0 + i as i64, &format!("u{i}@example.test"))).collect();
        let organizations: Vec<Value> = (0..4).map(|i| organization(&org_id(i), T0 + i as i64)).collect();
        let mut memberships = Vec::new();
        for u in 0..12 {
            for o in [u % 4, (u + 1) % 4].into_iter().take(1 + u % 2) {
                let role = if u < 4 { "org:admin" } else { "org:member" };
                let id = format!("orgmem_{u:03}_{o}");
                memberships.push(membership(&id, &organizations[o], &user_id(u), role, T0 + 100 + u as i64));
            }
        }
        Self {
            users,
            organizations,
            memberships,
            permissions: Vec::new(),
            roles: Vec::new(),
            domains: Vec::new(),
            invitations: Vec::new(),
        }
    }

    /// Six permissions; three roles (admin: all six, member: two, viewer:
    /// one); three domains (both id prefixes); three invitations (pending,
    /// accepted by user 1, revoked).
    fn with_access(mut self) -> Self {
        self.permissions =
            (0..6).map(|i| permission(&perm_id(i), &format!("org:feature{i}:read"), T0 + 10 + i as i64)).collect();
        let granting = |ids: &[usize]| -> Vec<Value> { ids.iter().map(|&i| self.permissions[i].clone()).collect() };
        self.roles = vec![
            role("role_admin", "org:admin", &granting(&[0, 1, 2, 3, 4, 5]), T0 + 20),
            role("role_member", "org:member", &granting(&[0, 1]), T0 + 21),
            role("role_viewer", "org:viewer", &granting(&[2]), T0 + 22),
        ];
        self.domains = vec![
            domain("orgdmn_00", &self.organizations[0], "zero.example.test", T0 + 30),
            domain("orgdmn_01", &self.organizations[1], "one.example.test", T0 + 31),
            domain("orgdm_02", &self.organizations[2], "two.example.test", T0 + 32),
        ];
        let mut accepted = invitation("orginv_1", &self.organizations[1], "u1@example.test", "accepted", T0 + 41);
        accepted["user_id"] = json!("user_001");
        self.invitations = vec![
            invitation("orginv_0", &self.organizations[0], "new@example.test", "pending", T0 + 40),
            accepted,
            invitation("orginv_2", &self.organizations[2], "gone@example.test", "revoked", T0 + 42),
        ];
        self
    }

    fn serve(&self, fake: &FakeBackendApi) {
        fake.set_users(self.users.clone());
        fake.set_organizations(self.organizations.clone());
        fake.set_memberships(self.memberships.clone());
        fake.set_permissions(self.permissions.clone());
        fake.set_roles(self.roles.clone());
        fake.set_domains(self.domains.clone());
        fake.set_invitations(self.invitations.clone());
    }
}

/// The mirror as Clerk's data would make it: what a backfill must equal.
fn expected(clerk: &Clerk) -> Value {
    let mut users: Vec<Value> = clerk
        .users
        .iter()
        .map(|u| {
            json!({
                "clerk_user_id": u["id"], "email": u["email_addresses"][1]["email_address"],
                "first_name": u["first_name"], "last_name": u["last_name"], "image_url": u["image_url"],
                "deleted": false
            })
        })
        .collect();
    users.sort_by_key(|u| u["clerk_user_id"].as_str().map(str::to_string));
    let mut organizations: Vec<Value> = clerk
        .organizations
        .iter()
        .map(|o| json!({"clerk_org_id": o["id"], "name": o["name"], "slug": o["slug"], "deleted": false}))
        .collect();
    organizations.sort_by_key(|o| o["clerk_org_id"].as_str().map(str::to_string));
    let mut memberships: Vec<Value> = clerk
        .memberships
        .iter()
        .map(|m| {
            json!({
                "clerk_user_id": m["public_user_data"]["user_id"], "clerk_org_id": m["organization"]["id"],
                "role": m["role"], "clerk_membership_id": m["id"], "active": true
            })
        })
        .collect();
    memberships.sort_by_key(|m| (m["clerk_user_id"].to_string(), m["clerk_org_id"].to_string()));
    json!({"users": users, "organizations": organizations, "memberships": memberships})
}

async fn mirror(stack: &TestStack) -> Value {
    json!({
        "users": stack.db.rows(
            "SELECT clerk_user_id, email, first_name, last_name, image_url, deleted_at IS NOT NULL AS deleted
             FROM users ORDER BY clerk_user_id").await,
        "organizations": stack.db.rows(
            "SELECT clerk_org_id, name, slug, deleted_at IS NOT NULL AS deleted
             FROM organization ORDER BY clerk_org_id").await,
        "memberships": stack.db.rows(
            "SELECT u.clerk_user_id, o.clerk_org_id, m.role, m.clerk_membership_id, m.deleted_at IS NULL AS active
             FROM user_organizations m JOIN users u ON u.id = m.user_id
             JOIN organization o ON o.id = m.organization_id ORDER BY 1, 2").await,
    })
}

/// The permissions, roles (with their permission sets), domains and
/// invitations as Clerk's data would make them; `deleted` names the rows a
/// reconcile deleted, `absent` those it keeps though Clerk no longer lists them.
fn expected_access(clerk: &Clerk, deleted: &[&str], absent: &[Value]) -> Value {
    let by_id = |rows: &mut Vec<Value>, id: &str| rows.sort_by_key(|r| r[id].as_str().map(str::to_string));
    let gone = |id: &Value| deleted.iter().any(|d| id == d);
    let mut permissions: Vec<Value> = clerk
        .permissions
        .iter()
        .map(|p| {
            json!({"clerk_permission_id": p["id"], "key": p["key"], "name": p["name"],
                   "description": p["description"], "type": p["type"], "deleted": false})
        })
        .collect();
    let mut roles: Vec<Value> = clerk
        .roles
        .iter()
        .map(|r| {
            let mut ids: Vec<&str> =
                r["permissions"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
            ids.sort();
            json!({"clerk_role_id": r["id"], "key": r["key"], "name": r["name"], "description": r["description"],
                   "deleted": false, "permissions": ids})
        })
        .collect();
    let mut domains: Vec<Value> = clerk
        .domains
        .iter()
        .map(|d| {
            json!({"clerk_domain_id": d["id"], "clerk_org_id": d["organization_id"], "name": d["name"],
                   "enrollment_mode": d["enrollment_mode"],
                   "verification_status": d["affiliation_verification"]["status"],
                   "affiliation_email_address": d["affiliation_email_address"], "deleted": false})
        })
        .collect();
    let mut invitations: Vec<Value> = clerk
        .invitations
        .iter()
        .chain(absent.iter().filter(|a| a["object"] == "organization_invitation"))
        .map(|i| {
            json!({"clerk_invitation_id": i["id"], "clerk_org_id": i["organization_id"],
                   "email_address": i["email_address"], "role": i["role"], "status": i["status"],
                   "expires_ms": i["expires_at"], "accepted_by": i.get("user_id").cloned().unwrap_or(Value::Null)})
        })
        .collect();
    // What Clerk no longer lists: kept, and (but for invitations) deleted.
    for a in absent {
        let mut row = match a["object"].as_str() {
            Some("permission") => json!({"clerk_permission_id": a["id"], "key": a["key"], "name": a["name"],
                                         "description": a["description"], "type": a["type"]}),
            Some("role") => {
                let mut ids: Vec<&str> =
                    a["permissions"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
                ids.sort();
                json!({"clerk_role_id": a["id"], "key": a["key"], "name": a["name"], "description": a["description"],
                       "permissions": ids})
            }
            Some("organization_domain") => json!({"clerk_domain_id": a["id"], "clerk_org_id": a["organization_id"],
                "name": a["name"], "enrollment_mode": a["enrollment_mode"],
                "verification_status": a["affiliation_verification"]["status"],
                "affiliation_email_address": a["affiliation_email_address"]}),
            _ => continue,
        };
        row["deleted"] = json!(gone(&a["id"]));
        match a["object"].as_str() {
            Some("permission") => permissions.push(row),
            Some("role") => roles.push(row),
            _ => domains.push(row),
        }
    }
    by_id(&mut permissions, "clerk_permission_id");
    by_id(&mut roles, "clerk_role_id");
    by_id(&mut domains, "clerk_domain_id");
    by_id(&mut invitations, "clerk_invitation_id");
    json!({"permissions": permissions, "roles": roles, "domains": domains, "invitations": invitations})
}

async fn mirror_access(stack: &TestStack) -> Value {
    json!({
        "permissions": stack.db.rows(
            "SELECT clerk_permission_id, key, name, description, type, deleted_at IS NOT NULL AS deleted
             FROM organization_permissions ORDER BY clerk_permission_id").await,
        "roles": stack.db.rows(
            "SELECT r.clerk_role_id, r.key, r.name, r.description, r.deleted_at IS NOT NULL AS deleted,
                    coalesce((SELECT array_agg(p.clerk_permission_id ORDER BY p.clerk_permission_id)
                              FROM organization_role_permissions rp
                              JOIN organization_permissions p ON p.id = rp.permission_id
                              WHERE rp.role_id = r.id), '{}') AS permissions
             FROM organization_roles r ORDER BY r.clerk_role_id").await,
        "domains": stack.db.rows(
            "SELECT d.clerk_domain_id, o.clerk_org_id, d.name, d.enrollment_mode, d.verification_status,
                    d.affiliation_email_address, d.deleted_at IS NOT NULL AS deleted
             FROM organization_domains d LEFT JOIN organization o ON o.id = d.organization_id
             ORDER BY d.clerk_domain_id").await,
        "invitations": stack.db.rows(
            "SELECT i.clerk_invitation_id, o.clerk_org_id, i.email_address, i.role, i.status,
                    round(extract(epoch FROM i.expires_at) * 1000)::bigint AS expires_ms, u.clerk_user_id AS accepted_by
             FROM organization_invitations i JOIN organization o ON o.id = i.organization_id
             LEFT JOIN users u ON u.id = i.user_id ORDER BY i.clerk_invitation_id").await,
    })
}

async fn run_with(stack: &TestStack, api: &BackendApi, options: Options) -> Result<Outcome, ReconcileError> {
    let pool = clerk_sync_tests::pool(&stack.db.url, 1);
    let client = pool.get().await.expect("connection");
    reconcile(&client, api, &options, &Quiet).await
}

async fn run(stack: &TestStack, api: &BackendApi) -> Report {
    run_with(stack, api, Options::new(Trigger::Cli)).await.expect("the run completes").report
}

async fn dry_run(stack: &TestStack, api: &BackendApi) -> Report {
    let options = Options { dry_run: true, ..Options::new(Trigger::Cli) };
    run_with(stack, api, options).await.expect("the dry run completes").report
}

fn counts(seen: u64, created: u64, updated: u64, deleted: u64) -> Counts {
    Counts { seen, created, updated, deleted, unchanged: seen - created - updated }
}

fn unchanged(seen: u64) -> Counts {
    counts(seen, 0, 0, 0)
}

#[tokio::test]
async fn a_backfill_from_empty_equals_clerk_and_a_second_run_changes_nothing() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new();
    clerk.serve(&fake);
    let api = api(&fake);

    let first = run(&stack, &api).await;
    let m = clerk.memberships.len() as u64;
    assert_eq!(
        first,
        Report {
            complete: true,
            dry_run: false,
            users: counts(12, 12, 0, 0),
            organizations: counts(4, 4, 0, 0),
            memberships: counts(m, m, 0, 0),
            // The fake serves none of these here (see the test below).
            permissions: unchanged(0),
            roles: unchanged(0),
            domains: unchanged(0),
            invitations: unchanged(0),
        }
    );
    assert_eq!(mirror(&stack).await, expected(&clerk));

    let before = mirror(&stack).await;
    let second = run(&stack, &api).await;
    assert_eq!(
        second,
        Report {
            complete: true,
            dry_run: false,
            users: unchanged(12),
            organizations: unchanged(4),
            memberships: unchanged(m),
            permissions: unchanged(0),
            roles: unchanged(0),
            domains: unchanged(0),
            invitations: unchanged(0),
        }
    );
    assert_eq!(mirror(&stack).await, before);
    // What each run changed is on record: everything, then nothing.
    let changes = stack
        .db
        .rows(
            "SELECT run_id, kind, action, count(*) AS n FROM clerk_reconcile_changes GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .await;
    assert_eq!(
        changes,
        vec![
            json!({"run_id": 1, "kind": "membership", "action": "created", "n": m}),
            json!({"run_id": 1, "kind": "organization", "action": "created", "n": 4}),
            json!({"run_id": 1, "kind": "user", "action": "created", "n": 12}),
        ]
    );
    let runs =
        stack.db.rows("SELECT id, state, complete, trigger, dry_run FROM clerk_reconcile_runs ORDER BY id").await;
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["state"] == "completed" && r["complete"] == true), "{runs:?}");
    assert_eq!(stack.db.count("clerk_reconcile_seen").await, 0, "a finished run frees its ids");
}

#[tokio::test]
async fn permissions_roles_domains_and_invitations_are_backfilled_and_a_second_run_changes_nothing() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new().with_access();
    clerk.serve(&fake);
    let api = api(&fake);

    let first = run(&stack, &api).await;
    assert!(first.complete, "{first:?}");
    assert_eq!(
        (first.permissions, first.roles, first.domains, first.invitations),
        (counts(6, 6, 0, 0), counts(3, 3, 0, 0), counts(3, 3, 0, 0), counts(3, 3, 0, 0)),
        "{first:?}"
    );
    assert_eq!(mirror_access(&stack).await, expected_access(&clerk, &[], &[]));
    assert_eq!(mirror(&stack).await, expected(&clerk), "the rest as before");
    // The roles listed after the permissions: their nested copies changed nothing.
    let placeholders =
        stack.db.rows("SELECT clerk_permission_id FROM organization_permissions WHERE clerk_updated_ms IS NULL").await;
    assert!(placeholders.is_empty(), "{placeholders:?}");

    let before = (mirror(&stack).await, mirror_access(&stack).await);
    let second = run(&stack, &api).await;
    assert!(second.complete && second.no_drift(), "{second:?}");
    assert_eq!(
        (second.permissions, second.roles, second.domains, second.invitations),
        (unchanged(6), unchanged(3), unchanged(3), unchanged(3))
    );
    assert_eq!((mirror(&stack).await, mirror_access(&stack).await), before);
    let changes = stack
        .db
        .rows(
            "SELECT run_id, kind, action, count(*) AS n FROM clerk_reconcile_changes
             WHERE kind IN ('permission', 'role', 'domain', 'invitation') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .await;
    assert_eq!(
        changes,
        vec![
            json!({"run_id": 1, "kind": "domain", "action": "created", "n": 3}),
            json!({"run_id": 1, "kind": "invitation", "action": "created", "n": 3}),
            json!({"run_id": 1, "kind": "permission", "action": "created", "n": 6}),
            json!({"run_id": 1, "kind": "role", "action": "created", "n": 3}),
        ]
    );
    // The listings came in order: permissions before roles, domains and invitations last.
    let lists: Vec<String> = fake
        .log()
        .iter()
        .map(|l| l.path.clone())
        .filter(|p| p.starts_with("/v1/organization_") && !p.ends_with("memberships"))
        .fold(Vec::new(), |mut seen, p| {
            if seen.last() != Some(&p) {
                seen.push(p);
            }
            seen
        });
    assert_eq!(
        lists[..4],
        [
            "/v1/organization_permissions",
            "/v1/organization_roles",
            "/v1/organization_domains",
            "/v1/organization_invitations"
        ]
    );
}

#[tokio::test]
async fn permission_sets_permission_role_and_domain_deletions_converge_and_invitations_stay() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let mut clerk = Clerk::new().with_access();
    clerk.serve(&fake);
    let api = api(&fake);
    run(&stack, &api).await;

    // In Clerk, later: permission 5 deleted (the admin role no longer lists
    // it), the member role's set changed, the viewer role and domain 01
    // deleted, domain 00 unverified, invitation 0 accepted by user 0, and
    // invitation 2 no longer listed.
    let later = T0 + 10_000;
    let mut absent = vec![clerk.permissions.remove(5)];
    let (p0, p3) = (clerk.permissions[0].clone(), clerk.permissions[3].clone());
    clerk.roles[0]["permissions"].as_array_mut().unwrap().retain(|p| p["id"] != "perm_05");
    clerk.roles[0]["updated_at"] = json!(later);
    clerk.roles[1]["permissions"] = json!([p0, p3]);
    clerk.roles[1]["updated_at"] = json!(later);
    absent.push(clerk.roles.remove(2));
    absent.push(clerk.domains.remove(1));
    clerk.domains[0]["affiliation_verification"]["status"] = json!("unverified");
    clerk.domains[0]["updated_at"] = json!(later);
    clerk.invitations[0]["status"] = json!("accepted");
    clerk.invitations[0]["user_id"] = json!("user_000");
    clerk.invitations[0]["updated_at"] = json!(later);
    absent.push(clerk.invitations.remove(2));
    clerk.serve(&fake);

    let report = run(&stack, &api).await;
    assert!(report.complete, "{report:?}");
    assert_eq!(
        (report.permissions, report.roles, report.domains, report.invitations),
        (counts(5, 0, 0, 1), counts(2, 0, 2, 1), counts(2, 0, 1, 1), counts(2, 0, 1, 0)),
        "{report:?}"
    );
    assert_eq!(mirror_access(&stack).await, expected_access(&clerk, &["perm_05", "role_viewer", "orgdmn_01"], &absent));
    let changes = stack
        .db
        .rows(
            "SELECT kind, clerk_id, action FROM clerk_reconcile_changes
             WHERE run_id = 2 AND kind IN ('permission', 'role', 'domain', 'invitation') ORDER BY kind, clerk_id",
        )
        .await;
    assert_eq!(
        changes,
        vec![
            json!({"kind": "domain", "clerk_id": "orgdmn_00", "action": "updated"}),
            json!({"kind": "domain", "clerk_id": "orgdmn_01", "action": "deleted"}),
            json!({"kind": "invitation", "clerk_id": "orginv_0", "action": "updated"}),
            json!({"kind": "permission", "clerk_id": "perm_05", "action": "deleted"}),
            json!({"kind": "role", "clerk_id": "role_admin", "action": "updated"}),
            json!({"kind": "role", "clerk_id": "role_member", "action": "updated"}),
            json!({"kind": "role", "clerk_id": "role_viewer", "action": "deleted"}),
        ]
    );
    // Deleted at the moment the listing began, as a delete webhook would.
    let deleted = stack
        .db
        .rows("SELECT deleted_at > now() - interval '1 minute' AS recent FROM organization_roles WHERE clerk_role_id = 'role_viewer'")
        .await;
    assert_eq!(deleted, vec![json!({"recent": true})]);
    // And a third run finds nothing left to do.
    let third = run(&stack, &api).await;
    assert!(third.complete && third.no_drift(), "{third:?}");
}

#[tokio::test]
async fn a_role_webhook_newer_than_the_api_copy_survives_with_its_permission_set() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new().with_access();
    clerk.serve(&fake);
    let api = api(&fake);
    // The member role as a webhook newer than the listing's copy: renamed,
    // granting permission 4 alone.
    let granted = vec![clerk_sync_tests::clerk::permission_data("perm_04", "org:feature4:read", "Old name", 0)];
    let newer =
        clerk_sync_tests::clerk::role("role.updated", "role_member", "org:member", "FromWebhook", 50_000, granted);
    stack.expect("msg_role_newer", &newer, "processed").await;

    let report = run(&stack, &api).await;
    assert_eq!(report.roles, counts(3, 2, 0, 0), "the member role is unchanged: the row is newer: {report:?}");
    assert_eq!(report.permissions.seen, 6);
    let member = stack
        .db
        .rows(
            "SELECT r.name, array_agg(p.clerk_permission_id) AS permissions FROM organization_roles r
             JOIN organization_role_permissions rp ON rp.role_id = r.id
             JOIN organization_permissions p ON p.id = rp.permission_id
             WHERE r.clerk_role_id = 'role_member' GROUP BY r.name",
        )
        .await;
    assert_eq!(member, vec![json!({"name": "FromWebhook", "permissions": ["perm_04"]})]);
    // The permission the webhook nested is the API's (newer) copy now.
    let p4 = stack.db.rows("SELECT name FROM organization_permissions WHERE clerk_permission_id = 'perm_04'").await;
    assert_eq!(p4, vec![json!({"name": "Permission org:feature4:read"})]);
    // The other roles are Clerk's, sets included.
    let sets = mirror_access(&stack).await;
    let expected = expected_access(&clerk, &[], &[]);
    assert_eq!(sets["roles"][0], expected["roles"][0]);
    assert_eq!(sets["roles"][2], expected["roles"][2]);
}

#[tokio::test]
async fn edits_deletions_removals_re_adds_and_role_changes_converge() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let mut clerk = Clerk::new();
    clerk.serve(&fake);
    let api = api(&fake);
    run(&stack, &api).await;

    // In Clerk, later: user 5 renamed, user 6 deleted, org 3 deleted (its
    // memberships with it), user 7 removed from org 3… and user 8 removed
    // from org 0 then re-added (a new membership id), user 9 made admin.
    let later = T0 + 10_000;
    clerk.users[5]["first_name"] = json!("Renamed");
    clerk.users[5]["updated_at"] = json!(later);
    clerk.users.remove(6);
    clerk.organizations.remove(3);
    clerk.memberships.retain(|m| m["organization"]["id"] != "org_03" && m["public_user_data"]["user_id"] != "user_006");
    let at = |m: &Value, u: &str, o: &str| m["public_user_data"]["user_id"] == u && m["organization"]["id"] == o;
    clerk.memberships.retain(|m| !at(m, "user_008", "org_00"));
    let org0 = clerk.organizations[0].clone();
    clerk.memberships.push(membership("orgmem_008_0_again", &org0, "user_008", "org:member", later));
    for m in clerk.memberships.iter_mut().filter(|m| at(m, "user_009", "org_01")) {
        m["role"] = json!("org:admin");
        m["updated_at"] = json!(later);
    }
    clerk.serve(&fake);

    let report = run(&stack, &api).await;
    assert!(report.complete);
    assert_eq!(report.users, counts(11, 0, 1, 1));
    assert_eq!(report.organizations, counts(3, 0, 0, 1));
    assert_eq!((report.memberships.created, report.memberships.updated), (0, 2), "{report:?}");

    let now = mirror(&stack).await;
    let user6 = &now["users"][6];
    assert_eq!(
        user6,
        &json!({"clerk_user_id": "user_006", "email": null, "first_name": null, "last_name": null, "image_url": null, "deleted": true}),
        "scrubbed"
    );
    assert_eq!(now["users"][5]["first_name"], "Renamed");
    let active = |u: &str, o: &str| {
        now["memberships"].as_array().unwrap().iter().find(|m| m["clerk_user_id"] == u && m["clerk_org_id"] == o).map(
            |m| {
                (
                    m["active"].as_bool().unwrap(),
                    m["role"].as_str().unwrap().to_string(),
                    m["clerk_membership_id"].as_str().unwrap().to_string(),
                )
            },
        )
    };
    assert_eq!(now["organizations"][3]["deleted"], true);
    assert!(!active("user_003", "org_03").unwrap().0, "org 3's memberships ended with it");
    assert!(!active("user_006", "org_02").unwrap().0, "user 6's memberships ended with them");
    assert_eq!(active("user_008", "org_00").unwrap(), (true, "org:member".into(), "orgmem_008_0_again".into()));
    assert_eq!(active("user_009", "org_01").unwrap().1, "org:admin");
    // The membership rows of users and organizations still in Clerk, and
    // their data, are exactly Clerk's.
    let live = |v: &Value| -> Vec<Value> {
        v["memberships"].as_array().unwrap().iter().filter(|m| m["active"] == true).cloned().collect()
    };
    assert_eq!(live(&now), live(&expected(&clerk)));

    // Why each row changed is on record.
    let changes = stack.db.rows("SELECT kind, clerk_id, action FROM clerk_reconcile_changes WHERE run_id = 2 AND kind <> 'membership' ORDER BY kind, clerk_id").await;
    assert_eq!(
        changes,
        vec![
            json!({"kind": "organization", "clerk_id": "org_03", "action": "deleted"}),
            json!({"kind": "user", "clerk_id": "user_005", "action": "updated"}),
            json!({"kind": "user", "clerk_id": "user_006", "action": "deleted"}),
        ]
    );
    // And a third run finds nothing left to do.
    let third = run(&stack, &api).await;
    assert!(third.complete && third.no_drift(), "{third:?}");
}

/// Clerk's Dashboard sends late updates of a removed membership. With the
/// removal itself lost, such an update (newer than the re-add) made the row
/// show the removed id; the listing holds the re-added one, which must show.
#[tokio::test]
async fn a_re_add_listed_shows_though_a_late_update_of_the_lost_removal_is_newer() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let mut clerk = Clerk::new();
    clerk.serve(&fake);
    let api = api(&fake);
    run(&stack, &api).await;

    // User 8 removed from org 0 (that webhook lost), re-added with a new
    // membership id (that webhook lost too), then a late update of the
    // removed id arrives.
    let re_added = 10_000;
    let at = |m: &Value| m["public_user_data"]["user_id"] == "user_008" && m["organization"]["id"] == "org_00";
    clerk.memberships.retain(|m| !at(m));
    let org0 = clerk.organizations[0].clone();
    clerk.memberships.push(membership("orgmem_008_0_again", &org0, "user_008", "org:member", T0 + re_added));
    clerk.serve(&fake);
    let late =
        joined("organizationMembership.updated", "orgmem_008_0", "user_008", "org_00", "org:admin", re_added + 5_000);
    stack.expect("msg_late_update", &late, "processed").await;

    let report = run(&stack, &api).await;
    assert!(report.complete);
    let row = stack
        .db
        .rows(
            "SELECT m.clerk_membership_id, m.role, m.deleted_at IS NULL AS active FROM user_organizations m
             JOIN users u ON u.id = m.user_id JOIN organization o ON o.id = m.organization_id
             WHERE u.clerk_user_id = 'user_008' AND o.clerk_org_id = 'org_00'",
        )
        .await;
    assert_eq!(row, vec![json!({"clerk_membership_id": "orgmem_008_0_again", "role": "org:member", "active": true})]);
    let history = stack
        .db
        .rows(
            "SELECT membership_history ? 'orgmem_008_0' AND membership_history -> 'orgmem_008_0' ? 'removed' AS removed
             FROM user_organizations WHERE clerk_membership_id = 'orgmem_008_0_again'",
        )
        .await;
    assert_eq!(history, vec![json!({"removed": true})], "the absent id is recorded as removed");
    let again = run(&stack, &api).await;
    assert_eq!(again.memberships.deleted, 0, "{again:?}");
}

#[tokio::test]
async fn a_webhook_newer_than_the_api_copy_survives() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new();
    clerk.serve(&fake);
    let api = api(&fake);
    // The webhook is newer than what the listing returns for user 2.
    stack
        .expect(
            "msg_newer",
            &simple_user("user.updated", "user_002", 50_000, "FromWebhook", "w@example.test"),
            "processed",
        )
        .await;
    let report = run(&stack, &api).await;
    assert_eq!(report.users, counts(12, 11, 0, 0), "user 2 is unchanged: the row is newer");
    let row = stack.db.rows("SELECT first_name, email FROM users WHERE clerk_user_id = 'user_002'").await;
    assert_eq!(row, vec![json!({"first_name": "FromWebhook", "email": "w@example.test"})]);
}

#[tokio::test]
async fn a_user_created_during_the_scan_survives_it() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new();
    clerk.serve(&fake);
    let api = api(&fake);
    run(&stack, &api).await;
    // Slow pages, and a sign-up whose webhook lands while the users are
    // listed, after the page it would be on.
    fake.set_latency(Duration::from_millis(150));
    let during = async {
        while !fake.log().iter().rev().take(3).any(|l| l.path == "/v1/users") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let created = simple_user("user.created", "user_new", 20_000, "New", "new@example.test");
        stack.expect("msg_new", &created, "processed").await;
    };
    let (report, ()) = tokio::join!(run(&stack, &api), during);
    assert!(report.complete);
    assert_eq!(report.users.deleted, 0, "{report:?}");
    let row = stack.db.rows("SELECT first_name, deleted_at FROM users WHERE clerk_user_id = 'user_new'").await;
    assert_eq!(row, vec![json!({"first_name": "New", "deleted_at": null})]);
}

#[tokio::test]
async fn a_failed_listing_deletes_nothing() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new();
    clerk.serve(&fake);
    let api = api(&fake);
    run(&stack, &api).await;
    // User 4 is deleted in Clerk, but the listing fails part-way, for good.
    fake.remove("user_004");
    fake.fail_lists_after(1, 503, u32::MAX);
    let failed = run_with(&stack, &api, Options::new(Trigger::Cli)).await;
    assert!(matches!(failed, Err(ReconcileError::Api(_))), "{failed:?}");
    let row = stack.db.rows("SELECT deleted_at IS NULL AS live FROM users WHERE clerk_user_id = 'user_004'").await;
    assert_eq!(row, vec![json!({"live": true})]);
    let runs = stack
        .db
        .rows("SELECT state, complete, error IS NOT NULL AS has_error FROM clerk_reconcile_runs WHERE id = 2")
        .await;
    assert_eq!(runs, vec![json!({"state": "failed", "complete": false, "has_error": true})]);
    // Once Clerk answers again, the next run completes and deletes it.
    fake.clear_failures();
    let report = run(&stack, &api).await;
    assert_eq!(report.users.deleted, 1);
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_reports_the_drift() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new().with_access();
    clerk.serve(&fake);
    let api = api(&fake);

    let empty = (mirror(&stack).await, mirror_access(&stack).await);
    let report = dry_run(&stack, &api).await;
    let m = clerk.memberships.len() as u64;
    assert!(report.dry_run && report.complete);
    assert_eq!((report.users, report.organizations), (counts(12, 12, 0, 0), counts(4, 4, 0, 0)));
    assert_eq!(report.memberships, counts(m, m, 0, 0));
    assert_eq!(
        (report.permissions, report.roles, report.domains, report.invitations),
        (counts(6, 6, 0, 0), counts(3, 3, 0, 0), counts(3, 3, 0, 0), counts(3, 3, 0, 0))
    );
    assert_eq!((mirror(&stack).await, mirror_access(&stack).await), empty, "nothing written");
    assert_eq!(stack.db.count("organization_role_permissions").await, 0);

    run(&stack, &api).await;
    let before = (mirror(&stack).await, mirror_access(&stack).await);
    fake.remove("user_004");
    fake.remove("org_01");
    fake.remove("perm_05");
    fake.remove("role_viewer");
    fake.remove("orgdm_02");
    fake.remove("orginv_0");
    let report = dry_run(&stack, &api).await;
    assert_eq!((report.users.deleted, report.organizations.deleted), (1, 1), "{report:?}");
    assert_eq!(
        (report.permissions.deleted, report.roles.deleted, report.domains.deleted, report.invitations.deleted),
        (1, 1, 1, 0),
        "{report:?}"
    );
    assert_eq!((mirror(&stack).await, mirror_access(&stack).await), before, "nothing deleted");
}

#[tokio::test]
async fn most_rows_absent_is_refused_unless_allowed() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new();
    clerk.serve(&fake);
    let api = api(&fake);
    run(&stack, &api).await;
    // A key of another (empty) instance: every user absent.
    fake.set_users(vec![]);
    let refused = run_with(&stack, &api, Options::new(Trigger::Cli)).await;
    assert!(
        matches!(refused, Err(ReconcileError::MassDeletion { kind: Kind::Users, absent: 12, live: 12 })),
        "{refused:?}"
    );
    assert_eq!(stack.db.rows("SELECT count(*) AS n FROM users WHERE deleted_at IS NULL").await, vec![json!({"n": 12})]);
    let allowed = Options { allow_mass_deletion: true, ..Options::new(Trigger::Cli) };
    let report = run_with(&stack, &api, allowed).await.expect("allowed").report;
    assert_eq!(report.users.deleted, 12);
}

#[tokio::test]
async fn two_runs_never_overlap() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    Clerk::new().serve(&fake);
    fake.set_latency(Duration::from_millis(100));
    let api = api(&fake);
    let second = async {
        while fake.log().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        run_with(&stack, &api, Options::new(Trigger::Schedule)).await
    };
    let (first, second) = tokio::join!(run(&stack, &api), second);
    assert!(first.complete);
    assert!(matches!(second, Err(ReconcileError::Busy { .. })), "{second:?}");
    // The lock is free again.
    fake.set_latency(Duration::ZERO);
    assert!(run(&stack, &api).await.no_drift());
}

#[tokio::test]
async fn a_run_stopped_by_its_deadline_resumes_from_its_checkpoint() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new();
    clerk.serve(&fake);
    // 200 ms a page, and a deadline 250 ms after the run starts: the first
    // two pages of users are fetched, the third is not started.
    fake.set_latency(Duration::from_millis(200));
    let api = api(&fake);
    let pool = clerk_sync_tests::pool(&stack.db.url, 1);
    let client = pool.get().await.expect("connection");
    let options =
        Options { stop_at: Some(Instant::now() + Duration::from_millis(250)), ..Options::new(Trigger::Schedule) };
    let first = reconcile(&client, &api, &options, &Quiet).await.expect("suspended, not failed");
    drop(client);
    assert!(first.suspended && !first.report.complete, "{first:?}");
    let seen_first = first.report.users.seen;
    assert!(seen_first > 0 && seen_first < 12, "{first:?}");

    fake.set_latency(Duration::ZERO);
    let requests_before = fake.log().len();
    let second = run_with(&stack, &api, Options::new(Trigger::Schedule)).await.expect("completes");
    assert!(second.resumed && second.report.complete, "{second:?}");
    assert_eq!(second.run_id, first.run_id, "the same run, resumed");
    assert_eq!(second.report.users.seen, 12, "every user counted once");
    let users_from_the_start = fake.log()[requests_before..]
        .iter()
        .filter(|l| l.path == "/v1/users" && l.param("starting_after").is_none())
        .count();
    assert_eq!(users_from_the_start, 0, "the listing went on where it stopped");
    assert_eq!(mirror(&stack).await, expected(&clerk));
}

#[tokio::test]
async fn the_pace_holds_over_a_whole_run() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    Clerk::new().serve(&fake);
    let vars = Vars(vec![("CLERK_SECRET_KEY", FAKE_KEY.to_string()), ("CLERK_API_URL", fake.url())]);
    let mut config = BackendApiConfig::from_source(&vars).expect("valid settings");
    // Clerk's 10 s window scaled to 1 s, 4 requests in any of them.
    (config.page_size, config.max_requests, config.window) = (3, 4, Duration::from_secs(1));
    let api = BackendApi::new(config).expect("client");
    let report = run(&stack, &api).await;
    assert!(report.complete);
    let starts: Vec<_> = fake.log().iter().map(|l| l.at).collect();
    assert!(starts.len() >= 12, "{}", starts.len());
    // Arrivals at the fake, with 100 ms for jitter on a busy machine (the
    // pacer's own schedule is proven exactly in backend_api.rs).
    for (i, start) in starts.iter().enumerate() {
        let in_window =
            starts[i..].iter().take_while(|s| s.duration_since(*start) < Duration::from_millis(900)).count();
        assert!(in_window <= 4, "{in_window} requests within 900 ms");
    }
}

#[tokio::test]
async fn a_run_that_died_part_way_is_resumed_once_its_lease_lapses() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new();
    clerk.serve(&fake);
    fake.set_latency(Duration::from_millis(200));
    let api = api(&fake);
    // Killed (as at a hard Lambda timeout) after a page or two.
    let lease = Duration::from_secs(1);
    let dying = run_with(&stack, &api, Options { lease, ..Options::new(Trigger::Schedule) });
    assert!(tokio::time::timeout(Duration::from_millis(450), dying).await.is_err());
    let busy = run_with(&stack, &api, Options::new(Trigger::Schedule)).await;
    assert!(matches!(busy, Err(ReconcileError::Busy { .. })), "the lease still holds: {busy:?}");

    tokio::time::sleep(lease).await;
    fake.set_latency(Duration::ZERO);
    let next = run_with(&stack, &api, Options::new(Trigger::Schedule)).await.expect("completes");
    assert!(next.resumed && next.report.complete, "{next:?}");
    assert_eq!(next.report.users.seen, 12);
    assert_eq!(mirror(&stack).await, expected(&clerk));
}

/// Sets the run's stop flag after its first page, as the CLI's Ctrl-C does.
struct StopAfterFirstPage(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl clerk_sync::reconcile::Progress for StopAfterFirstPage {
    fn page_written(&self, _: Kind, _: &Counts, _: Option<u64>) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[tokio::test]
async fn a_stop_request_suspends_the_run_at_the_next_page_and_lets_the_lock_go() {
    let stack = TestStack::spawn().await;
    let fake = FakeBackendApi::start().await;
    let clerk = Clerk::new();
    clerk.serve(&fake);
    fake.set_latency(Duration::from_millis(200));
    let api = api(&fake);
    let options = Options::new(Trigger::Cli);
    let pool = clerk_sync_tests::pool(&stack.db.url, 1);
    let client = pool.get().await.expect("connection");
    let stopped =
        reconcile(&client, &api, &options, &StopAfterFirstPage(options.stop.clone())).await.expect("suspended");
    assert!(stopped.suspended && !stopped.report.complete);
    // The pages already fetched are written; no page is fetched after it.
    assert!((5..12).contains(&stopped.report.users.seen), "{stopped:?}");
    // No lock left behind: the next run starts at once, and resumes.
    fake.set_latency(Duration::ZERO);
    let next = run_with(&stack, &api, Options::new(Trigger::Cli)).await.expect("resumes");
    assert!(next.resumed && next.report.complete);
    assert_eq!(mirror(&stack).await, expected(&clerk));
}
