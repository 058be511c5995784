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
//! `GET /v1/organizations/{id}/memberships` `{"data", "total_count"}` (by
//! `limit` + `offset`); single objects by id; errors as
//! `{"errors": [{"message", "long_message", "code"}], "clerk_trace_id"}`.
//! Default order is newest first (`-created_at`), as Clerk's.

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
    users: Vec<Value>,
    organizations: Vec<Value>,
    memberships: Vec<Value>,
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
        self.with(|s| s.users = users);
    }

    pub fn set_organizations(&self, organizations: Vec<Value>) {
        self.with(|s| s.organizations = organizations);
    }

    pub fn set_memberships(&self, memberships: Vec<Value>) {
        self.with(|s| s.memberships = memberships);
    }

    /// Removes the object with this id from every collection (as a deletion in Clerk).
    pub fn remove(&self, id: &str) {
        self.with(|s| {
            for list in [&mut s.users, &mut s.organizations, &mut s.memberships] {
                list.retain(|v| v["id"] != id);
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
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
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

/// Sorted by `created_at` (then id) as `order_by` asks; `None` for an
/// ordering the fake does not serve.
fn ordered(items: &[Value], order_by: Option<&str>) -> Option<Vec<Value>> {
    let descending = match order_by.unwrap_or("-created_at") {
        "created_at" | "+created_at" => false,
        "-created_at" => true,
        _ => return None,
    };
    let mut items = items.to_vec();
    items.sort_by(|a, b| {
        let key = |v: &Value| (v["created_at"].as_i64().unwrap_or(0), v["id"].as_str().unwrap_or("").to_string());
        key(a).cmp(&key(b))
    });
    if descending {
        items.reverse();
    }
    Some(items)
}

fn data_page(items: &[Value], query: &[(String, String)]) -> Answer {
    let (limit, offset) = match paging(query) {
        Ok(paging) => paging,
        Err(name) => return invalid_param(name),
    };
    let order_by = query.iter().find(|(k, _)| k == "order_by").map(|(_, v)| v.as_str());
    let Some(items) = ordered(items, order_by) else {
        return clerk_error(StatusCode::UNPROCESSABLE_ENTITY, "form_param_value_invalid", "order_by");
    };
    let data: Vec<Value> = items.iter().skip(offset).take(limit).cloned().collect();
    respond(StatusCode::OK, &json!({"data": data, "total_count": items.len()}))
}

fn users_page(users: &[Value], query: &[(String, String)]) -> Answer {
    let (limit, offset) = match paging(query) {
        Ok(paging) => paging,
        Err(name) => return invalid_param(name),
    };
    let order_by = query.iter().find(|(k, _)| k == "order_by").map(|(_, v)| v.as_str());
    let after = query.iter().find(|(k, _)| k == "starting_after").map(|(_, v)| v.as_str());
    let Some(users) = ordered(users, order_by) else {
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
        Some(id) => match users.iter().position(|u| u["id"] == id) {
            Some(i) => i + 1,
            None => return clerk_error(StatusCode::UNPROCESSABLE_ENTITY, "form_param_value_invalid", "starting_after"),
        },
    };
    let page: Vec<Value> = users.iter().skip(start).take(limit).cloned().collect();
    respond(StatusCode::OK, &Value::Array(page))
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
            s.users.iter().find(|u| u["id"] == id.as_str()).map_or_else(not_found, |u| respond(StatusCode::OK, u))
        }
        ["v1", "organizations"] => data_page(&s.organizations, query),
        ["v1", "organization_memberships"] => data_page(&s.memberships, query),
        ["v1", "organizations", id] => {
            let id = decode(id);
            s.organizations
                .iter()
                .find(|o| o["id"] == id.as_str() || o["slug"] == id.as_str())
                .map_or_else(not_found, |o| respond(StatusCode::OK, o))
        }
        ["v1", "organizations", id, "memberships"] => {
            let id = decode(id);
            if !s.organizations.iter().any(|o| o["id"] == id.as_str()) {
                return not_found();
            }
            let users: Vec<&str> = query.iter().filter(|(k, _)| k == "user_id").map(|(_, v)| v.as_str()).collect();
            let members: Vec<Value> = s
                .memberships
                .iter()
                .filter(|m| m["organization"]["id"] == id.as_str())
                .filter(|m| users.is_empty() || users.iter().any(|u| m["public_user_data"]["user_id"] == *u))
                .cloned()
                .collect();
            data_page(&members, query)
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
