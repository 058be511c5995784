//! A fake Clerk Backend API in the test process: a hyper server on
//! `127.0.0.1:0` serving the documented shapes from objects the test holds
//! (and may change between pages), checking the bearer key, with knobs for
//! latency, `429` + `Retry-After` and `5xx` part-way through a listing, and
//! a log of every request with its arrival time (for the pacing check).
//!
//! Shapes, as Clerk documents them: `GET /v1/users` a bare array (paged by
//! `limit` + `offset` or the `starting_after` cursor, which needs a
//! `created_at` ordering), `GET /v1/organizations`,
//! `GET /v1/organization_memberships` and
//! `GET /v1/organizations/{id}/memberships`, `GET /v1/organization_permissions`,
//! `…_roles`, `…_domains` and `…_invitations` `{"data", "total_count"}` (by
//! `limit` + `offset`); single objects by id; errors as
//! `{"errors": [{"message", "long_message", "code"}], "clerk_trace_id"}`.
//! Default order is newest first (`-created_at`), as Clerk's.
//!
//! Each collection is sorted and serialized once, when it is set, so that a
//! page costs the same wherever it is in a listing of hundreds of thousands
//! of objects (the reconcile benchmark serves 100,000 users and 200,000
//! memberships this way).

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use tokio::{net::TcpListener, task::JoinHandle};

/// A development instance's key, as the tests use it.
pub const FAKE_KEY: &str = "sk_test_fakeBackendApiKey0123456789";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    /// When the request's head arrived.
    pub at: Instant,
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub status: u16,
}

impl Logged {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    users: Collection,
    organizations: Collection,
    memberships: Collection,
    permissions: Collection,
    roles: Collection,
    domains: Collection,
    invitations: Collection,
    latency: Duration,
    /// `(requests left to answer 429, Retry-After seconds)`.
    throttle: Option<(u32, String)>,
    /// List requests answered normally before `failure` starts, the status,
    /// and how many list requests get it.
    failure: Option<Failure>,
    log: Vec<Logged>,
}

struct Failure {
    after: u32,
    status: u16,
    times: u32,
}

/// Objects as a list endpoint serves them: each one, and each one
/// serialized, in `+created_at` order (then by id; a stable sort, so equal
/// keys keep the order they were set in). `-created_at` is that order
/// reversed.
#[derive(Default)]
struct Collection {
    /// As set.
    items: Vec<Value>,
    /// `(id, the object as JSON)`, ascending.
    ascending: Vec<(Option<String>, String)>,
}

impl Collection {
    fn new(items: Vec<Value>) -> Self {
        let mut keyed: Vec<(i64, String, usize)> = items
            .iter()
            .enumerate()
            .map(|(i, v)| (v["created_at"].as_i64().unwrap_or(0), v["id"].as_str().unwrap_or("").to_string(), i))
            .collect();
        keyed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let ascending = keyed
            .iter()
            .map(|&(_, _, i)| (items[i]["id"].as_str().map(str::to_string), items[i].to_string()))
            .collect();
        Self { items, ascending }
    }

    fn len(&self) -> usize {
        self.ascending.len()
    }

    /// The serialized objects in the order asked for.
    fn in_order(&self, descending: bool) -> Box<dyn DoubleEndedIterator<Item = &(Option<String>, String)> + '_> {
        if descending {
            Box::new(self.ascending.iter().rev())
        } else {
            Box::new(self.ascending.iter())
        }
    }
}

/// `order_by` as the fake serves it: `Some(descending)`, or `None` for an
/// ordering it does not.
fn descending(order_by: Option<&str>) -> Option<bool> {
    match order_by.unwrap_or("-created_at") {
        "created_at" | "+created_at" => Some(false),
        "-created_at" => Some(true),
        _ => None,
    }
}

/// Serialized objects as one JSON array.
fn json_array<'a>(items: impl Iterator<Item = &'a (Option<String>, String)>) -> String {
    let mut out = String::from("[");
    for (i, (_, json)) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(json);
    }
    out.push(']');
    out
}

/// The running fake; stops when dropped.
pub struct FakeBackendApi {
    addr: SocketAddr,
    key: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for FakeBackendApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeBackendApi {
    /// Starts a fake that accepts `Bearer {FAKE_KEY}`.
    pub async fn start() -> Self {
        Self::with_key(FAKE_KEY).await
    }

    pub async fn with_key(key: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Backend API");
        let addr = listener.local_addr().expect("bound");
        let state = Arc::new(Mutex::new(State::default()));
        let key = key.to_string();
        let (shared, expected) = (state.clone(), format!("Bearer {key}"));
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (state, expected) = (shared.clone(), expected.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let (state, expected) = (state.clone(), expected.clone());
                        async move { Ok::<_, Infallible>(answer(&state, &expected, request).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { addr, key, state, server }
    }

    /// `http://127.0.0.1:<port>`, for `CLERK_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().expect("fake state"))
    }

    pub fn set_users(&self, users: Vec<Value>) {
        let users = Collection::new(users);
        self.with(|s| s.users = users);
    }

    pub fn set_organizations(&self, organizations: Vec<Value>) {
        let organizations = Collection::new(organizations);
        self.with(|s| s.organizations = organizations);
    }

    pub fn set_memberships(&self, memberships: Vec<Value>) {
        let memberships = Collection::new(memberships);
        self.with(|s| s.memberships = memberships);
    }

    pub fn set_permissions(&self, permissions: Vec<Value>) {
        let permissions = Collection::new(permissions);
        self.with(|s| s.permissions = permissions);
    }

    pub fn set_roles(&self, roles: Vec<Value>) {
        let roles = Collection::new(roles);
        self.with(|s| s.roles = roles);
    }

    pub fn set_domains(&self, domains: Vec<Value>) {
        let domains = Collection::new(domains);
        self.with(|s| s.domains = domains);
    }

    pub fn set_invitations(&self, invitations: Vec<Value>) {
        let invitations = Collection::new(invitations);
        self.with(|s| s.invitations = invitations);
    }

    /// Removes the object with this id from every collection (as a deletion in Clerk).
    pub fn remove(&self, id: &str) {
        self.with(|s| {
            for list in [
                &mut s.users,
                &mut s.organizations,
                &mut s.memberships,
                &mut s.permissions,
                &mut s.roles,
                &mut s.domains,
                &mut s.invitations,
            ] {
                let mut items = std::mem::take(&mut list.items);
                items.retain(|v| v["id"] != id);
                *list = Collection::new(items);
            }
        });
    }

    /// Every answer waits this long first.
    pub fn set_latency(&self, latency: Duration) {
        self.with(|s| s.latency = latency);
    }

    /// The next `count` requests (after the key check) answer `429` with
    /// `Retry-After: {retry_after}`.
    pub fn throttle_next(&self, count: u32, retry_after: &str) {
        self.with(|s| s.throttle = Some((count, retry_after.to_string())));
    }

    /// After `after` more list requests answered normally, the next `times`
    /// list requests answer `status` (`u32::MAX`: from then on).
    pub fn fail_lists_after(&self, after: u32, status: u16, times: u32) {
        self.with(|s| s.failure = Some(Failure { after, status, times }));
    }

    pub fn clear_failures(&self) {
        self.with(|s| {
            s.failure = None;
            s.throttle = None;
        });
    }

    /// Every request so far, in arrival order.
    pub fn log(&self) -> Vec<Logged> {
        self.with(|s| s.log.clone())
    }
}

type Answer = Response<Full<Bytes>>;

fn respond(status: StatusCode, body: &Value) -> Answer {
    respond_json(status, body.to_string())
}

/// An answer whose body is JSON already.
fn respond_json(status: StatusCode, body: String) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

fn clerk_error(status: StatusCode, code: &str, message: &str) -> Answer {
    respond(
        status,
        &json!({
            "errors": [{"message": message, "long_message": message, "code": code, "meta": {}}],
            "clerk_trace_id": "trace_fake"
        }),
    )
}

/// Query pairs as a form decoder reads them (`+` is a space).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

async fn answer(state: &Mutex<State>, expected: &str, request: Request<Incoming>) -> Answer {
    let at = Instant::now();
    let path = request.uri().path().to_string();
    let query = query_pairs(request.uri().query().unwrap_or(""));
    let authorized = request.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(expected);
    let (response, latency) = {
        let mut s = state.lock().expect("fake state");
        let response = if !authorized {
            clerk_error(StatusCode::UNAUTHORIZED, "authentication_invalid", "Unauthorized request")
        } else if let Some(retry_after) = throttled(&mut s) {
            let mut r = clerk_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "Too many requests");
            r.headers_mut().insert("retry-after", retry_after.parse().expect("header value"));
            r
        } else if let Some(status) = failing(&mut s, &path) {
            clerk_error(StatusCode::from_u16(status).expect("status"), "internal_clerk_error", "Something went wrong")
        } else {
            route(&s, request.method(), &path, &query)
        };
        s.log.push(Logged { at, path, query, status: response.status().as_u16() });
        (response, s.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    response
}

fn throttled(s: &mut State) -> Option<String> {
    let (left, retry_after) = s.throttle.as_mut()?;
    if *left == 0 {
        return None;
    }
    *left -= 1;
    Some(retry_after.clone())
}

fn is_list(path: &str) -> bool {
    path == "/v1/users"
        || path == "/v1/organizations"
        || path == "/v1/organization_memberships"
        || path == "/v1/organization_permissions"
        || path == "/v1/organization_roles"
        || path == "/v1/organization_domains"
        || path == "/v1/organization_invitations"
        || (path.starts_with("/v1/organizations/") && path.ends_with("/memberships"))
}

fn failing(s: &mut State, path: &str) -> Option<u16> {
    if !is_list(path) {
        return None;
    }
    let failure = s.failure.as_mut()?;
    if failure.after > 0 {
        failure.after -= 1;
        return None;
    }
    if failure.times == 0 {
        return None;
    }
    failure.times = failure.times.saturating_sub(1);
    Some(failure.status)
}

/// `limit` (1..=500, default 10) and `offset` (default 0), or the name of
/// the parameter Clerk would answer 422 for.
fn paging(query: &[(String, String)]) -> Result<(usize, usize), &'static str> {
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let limit = match get("limit") {
        None => 10,
        Some(raw) => raw.parse().ok().filter(|n| (1..=500).contains(n)).ok_or("limit")?,
    };
    let offset = match get("offset") {
        None => 0,
        Some(raw) => raw.parse().map_err(|_| "offset")?,
    };
    Ok((limit, offset))
}

fn invalid_param(name: &str) -> Answer {
    clerk_error(StatusCode::UNPROCESSABLE_ENTITY, "form_param_format_invalid", name)
}

fn data_page(items: &Collection, query: &[(String, String)]) -> Answer {
    let (limit, offset) = match paging(query) {
        Ok(paging) => paging,
        Err(name) => return invalid_param(name),
    };
    let order_by = query.iter().find(|(k, _)| k == "order_by").map(|(_, v)| v.as_str());
    let Some(descending) = descending(order_by) else {
        return clerk_error(StatusCode::UNPROCESSABLE_ENTITY, "form_param_value_invalid", "order_by");
    };
    let data = json_array(items.in_order(descending).skip(offset).take(limit));
    respond_json(StatusCode::OK, format!("{{\"data\":{data},\"total_count\":{}}}", items.len()))
}

fn users_page(users: &Collection, query: &[(String, String)]) -> Answer {
    let (limit, offset) = match paging(query) {
        Ok(paging) => paging,
        Err(name) => return invalid_param(name),
    };
    let order_by = query.iter().find(|(k, _)| k == "order_by").map(|(_, v)| v.as_str());
    let after = query.iter().find(|(k, _)| k == "starting_after").map(|(_, v)| v.as_str());
    let Some(descending) = descending(order_by) else {
        return if after.is_some() {
            clerk_error(StatusCode::UNPROCESSABLE_ENTITY, "form_param_value_invalid", "starting_after needs created_at")
        } else {
            clerk_error(StatusCode::UNPROCESSABLE_ENTITY, "form_param_value_invalid", "order_by")
        };
    };
    let start = match after {
        None => offset,
        Some(_) if offset > 0 => {
            return clerk_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_param_value_invalid",
                "offset with starting_after",
            )
        }
        Some(id) => match users.in_order(descending).position(|(uid, _)| uid.as_deref() == Some(id)) {
            Some(i) => i + 1,
            None => return clerk_error(StatusCode::UNPROCESSABLE_ENTITY, "form_param_value_invalid", "starting_after"),
        },
    };
    respond_json(StatusCode::OK, json_array(users.in_order(descending).skip(start).take(limit)))
}

fn route(s: &State, method: &http::Method, path: &str, query: &[(String, String)]) -> Answer {
    let not_found = || clerk_error(StatusCode::NOT_FOUND, "resource_not_found", "not found");
    if method != http::Method::GET {
        return clerk_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "the fake serves GET only");
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    match segments.as_slice() {
        ["v1", "users"] => users_page(&s.users, query),
        ["v1", "users", id] => {
            let id = decode(id);
            s.users.items.iter().find(|u| u["id"] == id.as_str()).map_or_else(not_found, |u| respond(StatusCode::OK, u))
        }
        ["v1", "organizations"] => data_page(&s.organizations, query),
        ["v1", "organization_memberships"] => data_page(&s.memberships, query),
        ["v1", "organization_permissions"] => data_page(&s.permissions, query),
        ["v1", "organization_roles"] => data_page(&s.roles, query),
        ["v1", "organization_domains"] => data_page(&s.domains, query),
        ["v1", "organization_invitations"] => data_page(&s.invitations, query),
        ["v1", "organizations", id] => {
            let id = decode(id);
            s.organizations
                .items
                .iter()
                .find(|o| o["id"] == id.as_str() || o["slug"] == id.as_str())
                .map_or_else(not_found, |o| respond(StatusCode::OK, o))
        }
        ["v1", "organizations", id, "memberships"] => {
            let id = decode(id);
            if !s.organizations.items.iter().any(|o| o["id"] == id.as_str()) {
                return not_found();
            }
            let users: Vec<&str> = query.iter().filter(|(k, _)| k == "user_id").map(|(_, v)| v.as_str()).collect();
            let members: Vec<Value> = s
                .memberships
                .items
                .iter()
                .filter(|m| m["organization"]["id"] == id.as_str())
                .filter(|m| users.is_empty() || users.iter().any(|u| m["public_user_data"]["user_id"] == *u))
                .cloned()
                .collect();
            data_page(&Collection::new(members), query)
        }
        _ => not_found(),
    }
}

/// A user as `GET /v1/users` gives it (the fields the mirror reads, and a
/// few it does not).
pub fn user(id: &str, created_at: i64, email: &str) -> Value {
    let email_id = format!("idn_{}", id.trim_start_matches("user_"));
    json!({
        "id": id, "object": "user", "external_id": null, "username": null,
        "first_name": "First", "last_name": format!("Of {id}"),
        "image_url": format!("https://img.example.test/{id}"), "has_image": false,
        "primary_email_address_id": email_id, "primary_phone_number_id": null, "primary_web3_wallet_id": null,
        "email_addresses": [
            {"id": "idn_other", "object": "email_address", "email_address": "other@example.test", "reserved": false,
             "verification": null, "linked_to": [], "created_at": created_at, "updated_at": created_at},
            {"id": email_id, "object": "email_address", "email_address": email, "reserved": false,
             "verification": {"object": "verification_otp", "status": "verified", "strategy": "email_code", "attempts": 1, "expire_at": null},
             "linked_to": [], "created_at": created_at, "updated_at": created_at}
        ],
        "phone_numbers": [], "web3_wallets": [], "passkeys": [], "external_accounts": [],
        "public_metadata": {}, "private_metadata": {}, "unsafe_metadata": {},
        "password_enabled": true, "two_factor_enabled": false, "totp_enabled": false, "backup_code_enabled": false,
        "banned": false, "locked": false, "last_sign_in_at": null, "last_active_at": null,
        "created_at": created_at, "updated_at": created_at + 5
    })
}

/// An organization as `GET /v1/organizations` gives it.
pub fn organization(id: &str, created_at: i64) -> Value {
    json!({
        "object": "organization", "id": id, "name": format!("Org {id}"), "slug": id.replace('_', "-"),
        "image_url": format!("https://img.example.test/{id}"), "has_image": false,
        "max_allowed_memberships": 5, "admin_delete_enabled": true,
        "public_metadata": {}, "private_metadata": {}, "created_by": "user_creator",
        "created_at": created_at, "updated_at": created_at + 7
    })
}

/// A membership as the membership lists give it, its organization in full.
pub fn membership(id: &str, organization: &Value, user_id: &str, role: &str, created_at: i64) -> Value {
    json!({
        "object": "organization_membership", "id": id, "role": role, "role_name": "Member",
        "permissions": ["org:sys_memberships:read"], "public_metadata": {}, "private_metadata": {},
        "organization": organization,
        "public_user_data": {
            "user_id": user_id, "first_name": "First", "last_name": null, "profile_image_url": null,
            "image_url": format!("https://img.example.test/{user_id}"), "has_image": false,
            "identifier": format!("{user_id}@example.test")
        },
        "created_at": created_at, "updated_at": created_at + 3
    })
}

/// A permission as `GET /v1/organization_permissions` gives it (and as a
/// role nests it).
pub fn permission(id: &str, key: &str, created_at: i64) -> Value {
    json!({
        "object": "permission", "id": id, "key": key, "name": format!("Permission {key}"),
        "description": format!("Lets a member {key}"), "type": "user",
        "created_at": created_at, "updated_at": created_at + 2
    })
}

/// A role as `GET /v1/organization_roles` gives it, with the permissions it grants.
pub fn role(id: &str, key: &str, permissions: &[Value], created_at: i64) -> Value {
    json!({
        "object": "role", "id": id, "key": key, "name": format!("Role {key}"), "description": null,
        "is_creator_eligible": false, "permissions": permissions,
        "created_at": created_at, "updated_at": created_at + 4
    })
}

/// A domain of `organization` as `GET /v1/organization_domains` gives it.
pub fn domain(id: &str, organization: &Value, name: &str, created_at: i64) -> Value {
    let verification = json!({"status": "verified", "strategy": "email_code", "attempts": 1, "expire_at": null,
                              "verified_at": null});
    json!({
        "object": "organization_domain", "id": id, "organization_id": organization["id"], "name": name,
        "enrollment_mode": "automatic_invitation", "affiliation_email_address": format!("admin@{name}"),
        "affiliation_verification": verification, "ownership_verification": null, "verification": verification,
        "total_pending_invitations": 0, "total_pending_suggestions": 0,
        "public_organization_data": {
            "id": organization["id"], "name": organization["name"], "slug": organization["slug"],
            "image_url": organization["image_url"], "has_image": false
        },
        "created_at": created_at, "updated_at": created_at + 6
    })
}

/// An invitation to `organization` as `GET /v1/organization_invitations`
/// gives it; `status` `pending`, `accepted`, `revoked` or `expired`.
pub fn invitation(id: &str, organization: &Value, email: &str, status: &str, created_at: i64) -> Value {
    json!({
        "object": "organization_invitation", "id": id, "email_address": email, "role": "org:member",
        "role_name": "Member", "organization_id": organization["id"], "inviter_id": null,
        "public_inviter_data": null, "status": status, "public_metadata": {}, "private_metadata": {}, "url": null,
        "public_organization_data": {
            "id": organization["id"], "name": organization["name"], "slug": organization["slug"],
            "image_url": organization["image_url"], "has_image": false
        },
        "expires_at": created_at + 604_800_000, "created_at": created_at, "updated_at": created_at + 8
    })
}
