//! Authorization by permission: the database decides, from the mirrored
//! roles and permissions (inserted here with SQL, as the `roles` family's
//! webhooks would leave them), what the caller holds in the active
//! organization; seller-accounts writes need `SELLER_ACCOUNTS_MANAGE_PERMISSION`
//! (the admin role while the instance does not define it); sync-status shows
//! the permissions; and deciding costs no extra round trip.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicU8, Ordering},
        Arc,
    },
};

use clerk_sync::{
    api::{
        seller_accounts::{handle, SellerAccountsState, DEFAULT_MANAGE_PERMISSION, MANAGE_PERMISSION_VAR},
        sync_status,
    },
    http::HttpError,
    session::{
        permissions::{MEMBER_DEFAULT_PERMISSIONS, SYSTEM_PERMISSIONS},
        require_auth_context, require_permission, AuthContext, Requirement,
    },
};
use clerk_sync_tests::{
    api_answer, api_request, api_state,
    clerk::{joined, organization, simple_user},
    session::{pem_settings, token},
    Answer, TestStack, Vars,
};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const KEY: &str = "test-encryption-key-0123456789abcdefghijklmnop";
const MANAGE: &str = "org:seller_accounts:manage";

fn state(url: &str, extra: Vec<(&'static str, String)>) -> SellerAccountsState {
    let mut vars = vec![
        ("DATABASE_URL", url.to_string()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
        ("ENCRYPTION_KEY", KEY.to_string()),
    ];
    vars.extend(pem_settings());
    vars.extend(extra);
    SellerAccountsState::from_source(&Vars(vars)).unwrap()
}

/// In org_a: Ada `org:admin`, Bob `org:member`, Cara `org:seller_manager`
/// (a custom role). Nothing of the instance's roles or permissions mirrored yet.
async fn setup() -> (TestStack, SellerAccountsState) {
    let stack = TestStack::spawn().await;
    let events = [
        simple_user("user.created", "user_ada", 100, "Ada", "ada@example.com"),
        simple_user("user.created", "user_bob", 100, "Bob", "bob@example.com"),
        simple_user("user.created", "user_cara", 100, "Cara", "cara@example.com"),
        organization("organization.created", "org_a", "A", 100),
        joined("organizationMembership.created", "orgmem_1", "user_ada", "org_a", "org:admin", 200),
        joined("organizationMembership.created", "orgmem_2", "user_bob", "org_a", "org:member", 200),
        joined("organizationMembership.created", "orgmem_3", "user_cara", "org_a", "org:seller_manager", 200),
    ];
    for (i, event) in events.iter().enumerate() {
        stack.expect(&format!("msg_setup_{i}"), event, "processed").await;
    }
    let state = state(&stack.db.url, vec![]);
    (stack, state)
}

async fn exec(stack: &TestStack, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) {
    stack.db.connect().await.execute(sql, params).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
}

/// A permission row, as `permission.created` leaves it.
async fn permission(stack: &TestStack, id: &str, key: &str, kind: &str) {
    exec(
        stack,
        "INSERT INTO organization_permissions (clerk_permission_id, key, name, type, clerk_updated_ms)
         VALUES ($1, $2, $2, $3, 1)",
        &[&id, &key, &kind],
    )
    .await;
}

/// A role row with its permissions (live ones, by key), as `role.created` leaves it.
async fn role(stack: &TestStack, id: &str, key: &str, permissions: &[&str]) {
    exec(
        stack,
        "INSERT INTO organization_roles (clerk_role_id, key, name, clerk_updated_ms) VALUES ($1, $2, $2, 1)",
        &[&id, &key],
    )
    .await;
    let keys: Vec<String> = permissions.iter().map(|k| k.to_string()).collect();
    exec(
        stack,
        "INSERT INTO organization_role_permissions (role_id, permission_id)
         SELECT r.id, p.id FROM organization_roles r, organization_permissions p
         WHERE r.clerk_role_id = $1 AND p.key = ANY($2) AND p.deleted_at IS NULL",
        &[&id, &keys],
    )
    .await;
}

/// The permission `key` taken from the role `role_id` (a `role.updated`).
async fn unlink(stack: &TestStack, role_id: &str, key: &str) {
    exec(
        stack,
        "DELETE FROM organization_role_permissions rp USING organization_roles r, organization_permissions p
         WHERE rp.role_id = r.id AND rp.permission_id = p.id AND r.clerk_role_id = $1 AND p.key = $2",
        &[&role_id, &key],
    )
    .await;
}

fn connect_body(seller: &str) -> String {
    json!({
        "seller_id": seller, "marketplace_id": "ATVPDKIKX0DER", "region": "na",
        "refresh_token": "Atzr|refresh-token-plaintext", "lwa_client_id": "amzn1.application-oa2-client.plain",
        "lwa_client_secret": "lwa-client-secret-plaintext"
    })
    .to_string()
}

async fn call(state: &SellerAccountsState, method: &str, path: &str, who: &str, body: Option<&str>) -> Answer {
    let session = token(who, Some(("org_a", "org:admin")));
    api_answer(handle(state, api_request(method, path, Some(&session), body)).await)
}

/// POST (connect), then DELETE of what it made; the two statuses, and the
/// first refusal's error and permission fields.
async fn write(state: &SellerAccountsState, who: &str, seller: &str) -> (u16, Option<String>, Option<String>) {
    let created = call(state, "POST", "/seller-accounts", who, Some(&connect_body(seller))).await;
    let refusal = |a: &Answer| {
        (a.status, a.body["error"].as_str().map(String::from), a.body["permission"].as_str().map(String::from))
    };
    if created.status != 201 {
        return refusal(&created);
    }
    let id = created.body["id"].as_str().unwrap().to_string();
    let deleted = call(state, "DELETE", &format!("/seller-accounts/{id}"), who, None).await;
    assert_eq!(deleted.status, 204, "{who} may connect, so may delete: {deleted:?}");
    (201, None, None)
}

fn allowed() -> (u16, Option<String>, Option<String>) {
    (201, None, None)
}

fn refused(error: &str, permission: Option<&str>) -> (u16, Option<String>, Option<String>) {
    (403, Some(error.into()), permission.map(String::from))
}

/// Someone's permissions in org_a, as the auth helpers decide them.
async fn held(stack: &TestStack, who: &str) -> Vec<String> {
    let answer = status(stack, who).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    serde_json::from_value(answer.body["active_organization"]["permissions"].clone()).unwrap()
}

async fn status(stack: &TestStack, who: &str) -> Answer {
    let state = api_state(&stack.db.url, vec![]);
    let session = token(who, Some(("org_a", "org:admin")));
    api_answer(sync_status::handle(&state, api_request("GET", "/sync-status", Some(&session), None)).await)
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_custom_role_with_the_permission_writes_and_the_same_role_without_it_is_refused() {
    let (stack, state) = setup().await;
    permission(&stack, "perm_manage", MANAGE, "custom").await;
    role(&stack, "role_sm", "org:seller_manager", &[MANAGE]).await;
    assert_eq!(write(&state, "user_cara", "CARA1").await, allowed());
    // The permission is defined: a member without it is refused by permission,
    // and reads stay open to every member.
    assert_eq!(write(&state, "user_bob", "BOB1").await, refused("missing_permission", Some(MANAGE)));
    let list = call(&state, "GET", "/seller-accounts", "user_bob", None).await;
    assert_eq!(list.status, 200, "{list:?}");

    // The role loses the permission (a role.updated without it).
    unlink(&stack, "role_sm", MANAGE).await;
    let answer = call(&state, "POST", "/seller-accounts", "user_cara", Some(&connect_body("CARA2"))).await;
    assert_eq!((answer.status, answer.body["error"].as_str()), (403, Some("missing_permission")), "{answer:?}");
    assert_eq!(answer.body["permission"], MANAGE);
    let keys: Vec<&String> = answer.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error", "message", "permission"], "the one error shape: {answer:?}");
    assert!(answer.body["message"].as_str().unwrap().contains(MANAGE));
    assert_eq!(call(&state, "GET", "/seller-accounts", "user_cara", None).await.status, 200, "reads stay");
    assert_eq!(stack.db.count("seller_accounts").await, 0);
}

#[tokio::test]
async fn deleted_permissions_and_roles_grant_nothing() {
    let (stack, state) = setup().await;
    permission(&stack, "perm_manage", MANAGE, "custom").await;
    role(&stack, "role_sm", "org:seller_manager", &[MANAGE]).await;
    assert_eq!(write(&state, "user_cara", "C1").await, allowed());

    // permission.deleted: no longer held, and no longer defined either, so
    // writes are back to admins only.
    exec(
        &stack,
        "UPDATE organization_permissions SET deleted_at = now() WHERE clerk_permission_id = 'perm_manage'",
        &[],
    )
    .await;
    assert!(held(&stack, "user_cara").await.is_empty());
    assert_eq!(write(&state, "user_cara", "C2").await, refused("insufficient_role", None));
    assert_eq!(write(&state, "user_ada", "A1").await, allowed());

    // Created again (a new Clerk id, the same key) and assigned again.
    permission(&stack, "perm_manage_2", MANAGE, "custom").await;
    exec(
        &stack,
        "INSERT INTO organization_role_permissions SELECT r.id, p.id FROM organization_roles r, organization_permissions p
         WHERE r.clerk_role_id = 'role_sm' AND p.clerk_permission_id = 'perm_manage_2'",
        &[],
    )
    .await;
    assert_eq!(held(&stack, "user_cara").await, [MANAGE]);
    assert_eq!(write(&state, "user_cara", "C3").await, allowed());

    // role.deleted: the role's permissions go with it.
    exec(&stack, "UPDATE organization_roles SET deleted_at = now() WHERE clerk_role_id = 'role_sm'", &[]).await;
    assert!(held(&stack, "user_cara").await.is_empty());
    assert_eq!(write(&state, "user_cara", "C4").await, refused("missing_permission", Some(MANAGE)));
}

/// Before the instance defines the permission (or before roles are mirrored
/// at all), writes need the admin role: existing deployments keep working.
#[tokio::test]
async fn while_the_permission_is_undefined_admins_write_and_others_are_refused() {
    let (stack, state) = setup().await;
    assert_eq!(write(&state, "user_ada", "A1").await, allowed());
    assert_eq!(write(&state, "user_bob", "B1").await, refused("insufficient_role", None));
    assert_eq!(write(&state, "user_cara", "C1").await, refused("insufficient_role", None));

    // Roles mirrored, other permissions defined: still undefined, still the fallback,
    // even for a custom role that holds other custom permissions.
    permission(&stack, "perm_posts", "org:posts:create", "custom").await;
    role(&stack, "role_sm", "org:seller_manager", &["org:posts:create"]).await;
    assert_eq!(write(&state, "user_ada", "A2").await, allowed());
    assert_eq!(write(&state, "user_cara", "C2").await, refused("insufficient_role", None));
}

/// Clerk gives admins every system permission, but a custom permission only
/// through the role it is assigned to: once the permission is defined, an
/// admin whose role lacks it is refused, and allowed once it is assigned.
#[tokio::test]
async fn once_the_permission_is_defined_admins_need_it_like_anyone_else() {
    let (stack, state) = setup().await;
    permission(&stack, "perm_manage", MANAGE, "custom").await;
    // The admin role not mirrored: it holds the system permissions only.
    assert_eq!(write(&state, "user_ada", "A1").await, refused("missing_permission", Some(MANAGE)));
    // Mirrored without it: the same.
    permission(&stack, "perm_sys_mm", "org:sys_memberships:manage", "system").await;
    role(&stack, "role_admin", "org:admin", &["org:sys_memberships:manage"]).await;
    assert_eq!(write(&state, "user_ada", "A2").await, refused("missing_permission", Some(MANAGE)));
    // Assigned to the admin role.
    exec(
        &stack,
        "INSERT INTO organization_role_permissions SELECT r.id, p.id FROM organization_roles r, organization_permissions p
         WHERE r.clerk_role_id = 'role_admin' AND p.clerk_permission_id = 'perm_manage'",
        &[],
    )
    .await;
    assert_eq!(write(&state, "user_ada", "A3").await, allowed());
}

#[tokio::test]
async fn admins_hold_every_system_permission_and_members_the_documented_defaults() {
    let (stack, _state) = setup().await;
    // Nothing mirrored: the documented sets.
    assert_eq!(held(&stack, "user_ada").await, sorted(&SYSTEM_PERMISSIONS));
    assert_eq!(held(&stack, "user_bob").await, sorted(&MEMBER_DEFAULT_PERMISSIONS));
    assert_eq!(held(&stack, "user_bob").await, ["org:sys_billing:read", "org:sys_memberships:read"]);
    assert!(held(&stack, "user_cara").await.is_empty(), "a custom role not mirrored holds nothing");

    // A system permission the documentation does not list yet, mirrored:
    // admins hold it (by its type, or its org:sys_ key), custom ones they do not.
    permission(&stack, "perm_sys_new", "org:sys_api_keys:manage", "system").await;
    permission(&stack, "perm_sys_untyped", "org:sys_future:read", "").await;
    permission(&stack, "perm_posts", "org:posts:create", "custom").await;
    let mut expected = sorted(&SYSTEM_PERMISSIONS);
    expected.extend(["org:sys_api_keys:manage".to_string(), "org:sys_future:read".to_string()]);
    expected.sort();
    assert_eq!(held(&stack, "user_ada").await, expected);
    // Deleted, it is gone; the documented floor stays even when deleted rows say otherwise.
    exec(&stack, "UPDATE organization_permissions SET deleted_at = now() WHERE key LIKE 'org:sys_%'", &[]).await;
    permission(&stack, "perm_sys_read", "org:sys_memberships:read", "system").await;
    exec(
        &stack,
        "UPDATE organization_permissions SET deleted_at = now() WHERE clerk_permission_id = 'perm_sys_read'",
        &[],
    )
    .await;
    assert_eq!(held(&stack, "user_ada").await, sorted(&SYSTEM_PERMISSIONS));

    // org:member mirrored: exactly its permissions (the role is editable in Clerk).
    permission(&stack, "perm_sys_mr", "org:sys_memberships:read", "system").await;
    role(&stack, "role_member", "org:member", &["org:sys_memberships:read", "org:posts:create"]).await;
    assert_eq!(held(&stack, "user_bob").await, ["org:posts:create", "org:sys_memberships:read"]);
    // A custom role: its own permissions, nothing else.
    role(&stack, "role_sm", "org:seller_manager", &["org:posts:create"]).await;
    assert_eq!(held(&stack, "user_cara").await, ["org:posts:create"]);
    // A deleted org:member role grants nothing (not the defaults again).
    exec(&stack, "UPDATE organization_roles SET deleted_at = now() WHERE clerk_role_id = 'role_member'", &[]).await;
    assert!(held(&stack, "user_bob").await.is_empty());
}

#[tokio::test]
async fn sync_status_lists_the_permissions_in_json_and_html() {
    let (stack, _state) = setup().await;
    permission(&stack, "perm_manage", MANAGE, "custom").await;
    permission(&stack, "perm_xss", "org:x:<b>y</b>", "custom").await;
    role(&stack, "role_sm", "org:seller_manager", &[MANAGE, "org:x:<b>y</b>"]).await;
    let answer = status(&stack, "user_cara").await;
    assert_eq!(answer.body["active_organization"]["role"], "org:seller_manager");
    assert_eq!(
        answer.body["active_organization"]["permissions"],
        json!(["org:seller_accounts:manage", "org:x:<b>y</b>"])
    );

    let state = api_state(&stack.db.url, vec![]);
    let mut request = api_request("GET", "/sync-status", Some(&token("user_cara", Some(("org_a", "org:admin")))), None);
    request.headers_mut().insert("accept", "text/html".parse().unwrap());
    let html = sync_status::handle(&state, request).await.body().clone();
    assert!(
        html.contains("<tr><th>Permissions</th><td></td><td><code>org:seller_accounts:manage</code>, <code>org:x:&lt;b&gt;y&lt;/b&gt;</code></td></tr>"),
        "{html}"
    );
    assert!(!html.contains("<b>y</b>"), "escaped");

    // Not a member of the organization named: no permissions shown.
    let stranger = status(&stack, "user_nobody").await;
    assert_eq!(stranger.body["active_organization"]["permissions"], json!([]), "{stranger:?}");
    // A member whose role holds nothing: an empty list, "none" on the page.
    let bob_html = {
        exec(&stack, "UPDATE user_organizations SET role = 'org:viewer' WHERE clerk_membership_id = 'orgmem_2'", &[])
            .await;
        let mut request =
            api_request("GET", "/sync-status", Some(&token("user_bob", Some(("org_a", "org:admin")))), None);
        request.headers_mut().insert("accept", "text/html".parse().unwrap());
        sync_status::handle(&state, request).await.body().clone()
    };
    assert!(bob_html.contains("<tr><th>Permissions</th><td></td><td><span class=\"none\">none</span></td></tr>"));
}

#[tokio::test]
async fn the_setting_names_the_permission_and_is_checked_at_startup() {
    let (stack, _) = setup().await;
    let default = state(&stack.db.url, vec![]);
    assert_eq!((default.manage_permission.as_str(), DEFAULT_MANAGE_PERMISSION), (MANAGE, MANAGE));

    let custom = state(&stack.db.url, vec![(MANAGE_PERMISSION_VAR, " org:sellers:write ".into())]);
    assert_eq!(custom.manage_permission, "org:sellers:write");
    permission(&stack, "perm_write", "org:sellers:write", "custom").await;
    permission(&stack, "perm_manage", MANAGE, "custom").await;
    role(&stack, "role_sm", "org:seller_manager", &[MANAGE]).await;
    // The configured permission counts, not the default one.
    assert_eq!(write(&custom, "user_cara", "C1").await, refused("missing_permission", Some("org:sellers:write")));
    assert_eq!(write(&default, "user_cara", "C2").await, allowed());

    for bad in ["org:admin", "sellers:manage", "org:a b:c", "org:sellers:write:extra", "org:x:'y"] {
        let mut vars = vec![
            ("DATABASE_URL", stack.db.url.clone()),
            ("ENCRYPTION_KEY", KEY.to_string()),
            (MANAGE_PERMISSION_VAR, bad.to_string()),
        ];
        vars.extend(pem_settings());
        let err = SellerAccountsState::from_source(&Vars(vars)).err().expect("refused");
        assert_eq!(err.var(), MANAGE_PERMISSION_VAR, "{bad}");
        assert!(err.to_string().contains(MANAGE_PERMISSION_VAR) && !err.to_string().contains(bad), "{err}");
    }
}

/// The auth helpers' `Requirement` and `require_permission`, called as a handler would.
#[tokio::test]
async fn require_permission_refuses_with_missing_permission() {
    let (stack, _) = setup().await;
    let api = api_state(&stack.db.url, vec![]);
    let client = api.db.client().await.unwrap();
    let context = |who: &'static str, requirement: Requirement<'static>| {
        let (api, client) = (&api, &client);
        async move {
            let mut headers = http::HeaderMap::new();
            let session = token(who, Some(("org_a", "org:member")));
            headers.insert(http::header::AUTHORIZATION, format!("Bearer {session}").parse().unwrap());
            require_auth_context(&api.sessions, None, client, &headers, requirement).await
        }
    };
    let bob: AuthContext = context("user_bob", Requirement::Member).await.unwrap();
    assert!(require_permission(&bob, "org:sys_memberships:read").is_ok());
    let refusal = require_permission(&bob, "org:sys_memberships:manage").unwrap_err();
    assert_eq!((refusal.status().as_u16(), refusal.code()), (403, "missing_permission"));
    assert_eq!(refusal.fields(), [("permission", Value::from("org:sys_memberships:manage"))]);

    // The strict requirement, and the fallback one for a system permission:
    // those are defined in every instance, so never the admin fallback.
    let code = |r: Result<AuthContext, clerk_sync::session::AccessError>| r.err().map(|e| e.code());
    assert_eq!(code(context("user_bob", Requirement::Permission("org:sys_memberships:read")).await), None);
    assert_eq!(code(context("user_bob", Requirement::PermissionOrAdmin("org:sys_memberships:read")).await), None);
    assert_eq!(
        code(context("user_bob", Requirement::PermissionOrAdmin("org:sys_profile:manage")).await),
        Some("missing_permission")
    );
    assert_eq!(code(context("user_bob", Requirement::Permission(MANAGE)).await), Some("missing_permission"));
    assert_eq!(code(context("user_bob", Requirement::Admin).await), Some("insufficient_role"));
    let ada = context("user_ada", Requirement::PermissionOrAdmin("org:sys_profile:manage")).await.unwrap();
    assert!(ada.organization.is_admin() && ada.organization.has_permission("org:sys_billing:manage"));
    assert_eq!(code(context("user_ada", Requirement::Permission(MANAGE)).await), Some("missing_permission"));
}

/// A TCP proxy in front of the test server that counts request/response
/// turns (a turn starts each time the client sends after the server last
/// spoke), as `bench`'s delay proxy does: one statement, or one pipelined
/// batch, is one turn.
struct TurnCounter {
    addr: SocketAddr,
    turns: Arc<AtomicU64>,
}

const CLIENT: u8 = 1;
const SERVER: u8 = 2;

impl TurnCounter {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let turns = Arc::new(AtomicU64::new(0));
        let counter = turns.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else { continue };
                let last = Arc::new(AtomicU8::new(SERVER));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, CLIENT, last.clone(), counter.clone()));
                tokio::spawn(pump(server_read, client_write, SERVER, last, counter.clone()));
            }
        });
        Self { addr, turns }
    }

    fn turns(&self) -> u64 {
        self.turns.load(Ordering::SeqCst)
    }
}

/// Forwards one direction; marks who spoke last before forwarding, so the
/// other side cannot answer before the mark is set.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    side: u8,
    last: Arc<AtomicU8>,
    turns: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if last.swap(side, Ordering::SeqCst) != side && side == CLIENT {
            turns.fetch_add(1, Ordering::SeqCst);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// The test server's TCP address and the database's connection settings,
/// or `None` when the server is not reached over TCP.
fn tcp_target(url: &str) -> Option<(SocketAddr, tokio_postgres::Config)> {
    use std::net::ToSocketAddrs;
    let config: tokio_postgres::Config = url.parse().ok()?;
    let tokio_postgres::config::Host::Tcp(host) = config.get_hosts().first()? else { return None };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let upstream = (host.as_str(), port).to_socket_addrs().ok()?.next()?;
    Some((upstream, config))
}

/// The same database through `proxy` (key=value form).
fn via(config: &tokio_postgres::Config, proxy: SocketAddr) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut url = format!("host=127.0.0.1 port={} sslmode=disable", proxy.port());
    if let Some(user) = config.get_user() {
        url.push_str(&format!(" user={}", quote(user)));
    }
    if let Some(password) = config.get_password() {
        url.push_str(&format!(" password={}", quote(&String::from_utf8_lossy(password))));
    }
    if let Some(db) = config.get_dbname() {
        url.push_str(&format!(" dbname={}", quote(db)));
    }
    url
}

/// Membership, role, permissions and whether the permission is defined: one
/// statement, one round trip, whatever the requirement.
#[tokio::test]
async fn deciding_costs_no_extra_round_trip() {
    let (stack, _) = setup().await;
    permission(&stack, "perm_manage", MANAGE, "custom").await;
    role(&stack, "role_sm", "org:seller_manager", &[MANAGE]).await;
    let Some((upstream, config)) = tcp_target(&stack.db.url) else {
        eprintln!("SKIPPED deciding_costs_no_extra_round_trip: the test server is not reached over TCP");
        return;
    };
    let proxy = TurnCounter::start(upstream).await;
    let url = via(&config, proxy.addr);
    // No idle check before reuse: only the request's own statements count.
    let api = api_state(&url, vec![("DB_VERIFY_AFTER_IDLE_SECS", "3600".into())]);
    let turns_of = |who: &'static str, requirement: Requirement<'static>| {
        let (api, proxy) = (&api, &proxy);
        async move {
            let mut headers = http::HeaderMap::new();
            let session = token(who, Some(("org_a", "org:member")));
            headers.insert(http::header::AUTHORIZATION, format!("Bearer {session}").parse().unwrap());
            let client = api.db.client().await.unwrap();
            let before = proxy.turns();
            let result = require_auth_context(&api.sessions, None, &client, &headers, requirement).await;
            (result.err().map(|e| e.code()), proxy.turns() - before)
        }
    };

    // The first call connects and prepares; afterwards each call is one turn.
    assert_eq!(turns_of("user_ada", Requirement::Member).await.0, None);
    for (who, requirement, outcome) in [
        ("user_ada", Requirement::Member, None),
        ("user_ada", Requirement::Admin, None),
        ("user_cara", Requirement::PermissionOrAdmin(MANAGE), None),
        ("user_bob", Requirement::PermissionOrAdmin(MANAGE), Some("missing_permission")),
        ("user_bob", Requirement::PermissionOrAdmin("org:undefined:thing"), Some("insufficient_role")),
        ("user_ada", Requirement::PermissionOrAdmin("org:undefined:thing"), None),
        ("user_ada", Requirement::Permission(MANAGE), Some("missing_permission")),
    ] {
        let (code, turns) = turns_of(who, requirement).await;
        assert_eq!(code, outcome, "{who} {requirement:?}");
        assert_eq!(turns, 1, "{who} {requirement:?}: one round trip");
    }
    // The counter sees every round trip: two statements in turn are two.
    let client = api.db.client().await.unwrap();
    let before = proxy.turns();
    client.simple_query("SELECT 1").await.unwrap();
    client.simple_query("SELECT 2").await.unwrap();
    assert_eq!(proxy.turns() - before, 2);
}
