//! `seller-accounts`: the active organization's Amazon seller accounts.
//!
//! - `GET /seller-accounts` → the accounts, never their secrets (members).
//! - `GET /seller-accounts/{id}` → one account (members).
//! - `POST /seller-accounts` → connect (or reconnect) an account; the
//!   credentials go through the vault (the manage permission).
//! - `DELETE /seller-accounts/{id}` → 204 (the manage permission). Another
//!   organization's id is 404, never 403: existence does not leak across tenants.
//!
//! Writes need the permission `SELLER_ACCOUNTS_MANAGE_PERMISSION` (default
//! `org:seller_accounts:manage`); while the instance defines no live
//! permission with that key, the admin role instead, as before permissions.
//!
//! Mounted at `/seller-accounts` behind the HttpApi and at `/` behind a
//! Function URL, it answers the same.

use std::time::Instant;

use http::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{route_segments, ApiError, ApiState};
use crate::db::Retry;
use crate::{
    config::{self, ConfigError, Source},
    http::{error::HttpError, response::json},
    seller_accounts::{self, LwaCredentials, NewSellerAccount, Region, StoreError},
    session::{permissions, require_auth_context, AuthContext, Requirement},
    vault::Vault,
};

/// Larger bodies are refused before parsing: a request is a few hundred bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The setting naming the permission writes need.
pub const MANAGE_PERMISSION_VAR: &str = "SELLER_ACCOUNTS_MANAGE_PERMISSION";

/// The permission writes need unless [`MANAGE_PERMISSION_VAR`] names another.
pub const DEFAULT_MANAGE_PERMISSION: &str = "org:seller_accounts:manage";

/// What the seller-accounts function holds: the API state, the vault and
/// the permission writes need. Building the vault derives nothing: keys are
/// derived on first use.
pub struct SellerAccountsState {
    pub api: ApiState,
    pub vault: Vault,
    /// The permission key `POST` and `DELETE` need (the admin role while the
    /// instance does not define it).
    pub manage_permission: String,
}

impl SellerAccountsState {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let manage_permission = match src.get(MANAGE_PERMISSION_VAR) {
            None => DEFAULT_MANAGE_PERMISSION.to_string(),
            Some(raw) => permissions::parse_key(&raw)
                .map_err(|reason| ConfigError::Invalid { var: MANAGE_PERMISSION_VAR, reason })?,
        };
        Ok(Self { api: ApiState::from_source(src)?, vault: Vault::from_source(src)?, manage_permission })
    }
}

/// The body of `POST /seller-accounts`.
#[derive(Deserialize)]
struct ConnectRequest {
    seller_id: Option<String>,
    marketplace_id: Option<String>,
    region: Option<String>,
    refresh_token: Option<String>,
    lwa_client_id: Option<String>,
    lwa_client_secret: Option<String>,
    marketplace_code: Option<String>,
    marketplace_name: Option<String>,
    currency: Option<String>,
}

#[derive(Serialize)]
struct List<'a> {
    seller_accounts: &'a [seller_accounts::SellerAccount],
}

pub async fn handle<B: AsRef<[u8]>>(state: &SellerAccountsState, request: Request<B>) -> Response<String> {
    answer(state, &request).await.unwrap_or_else(|e| e.to_response())
}

async fn answer<B: AsRef<[u8]>>(
    state: &SellerAccountsState,
    request: &Request<B>,
) -> Result<Response<String>, ApiError> {
    let segments = route_segments(request, "seller-accounts");
    let (method, id) = match (request.method(), segments.as_slice()) {
        (m, []) if m == Method::GET || m == Method::POST => (m.clone(), None),
        (_, []) => return Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
        (m, [id]) if m == Method::GET || m == Method::DELETE => (m.clone(), Some(*id)),
        (_, [_]) => return Err(ApiError::MethodNotAllowed { allow: "GET, DELETE" }),
        _ => return Err(ApiError::NotFound),
    };
    // Reads: any member. Writes: the manage permission, or the admin role
    // while the instance does not define it (decided in the same query).
    let requirement = if method == Method::GET {
        Requirement::Member
    } else {
        Requirement::PermissionOrAdmin(&state.manage_permission)
    };
    // A database fault discards the connection it poisoned and is retried
    // once ([`Retry`]): every request here is safe to run twice, as
    // nothing of a failed attempt was committed.
    let mut retry = Retry::new(Instant::now());
    loop {
        let client = state.api.db.client_for(&mut retry).await?;
        let result = respond(state, &client, request, &method, id, requirement).await;
        match &result {
            Err(e) if e.database_fault().is_some_and(|fault| retry.again(Some(client), fault)) => continue,
            _ => return result,
        }
    }
}

async fn respond<B: AsRef<[u8]>>(
    state: &SellerAccountsState,
    client: &crate::db::Client,
    request: &Request<B>,
    method: &Method,
    id: Option<&str>,
    requirement: Requirement<'_>,
) -> Result<Response<String>, ApiError> {
    let fetch_on_miss = state.api.fetch_on_miss.as_ref();
    let context =
        require_auth_context(&state.api.sessions, fetch_on_miss, client, request.headers(), requirement).await?;
    // An id that is not a UUID names no account, here or anywhere: 404.
    let id = id.map(Uuid::parse_str).transpose().map_err(|_| ApiError::NotFound)?;
    let org = context.organization.id;
    match (method.clone(), id) {
        (Method::GET, None) => {
            let accounts = seller_accounts::list(client, org).await?;
            Ok(json(StatusCode::OK, &List { seller_accounts: &accounts }))
        }
        (Method::GET, Some(id)) => Ok(json(StatusCode::OK, &seller_accounts::get(client, org, id).await?)),
        (Method::DELETE, Some(id)) => {
            seller_accounts::delete(client, org, id).await?;
            let mut response = Response::new(String::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        }
        (_, _) => connect(state, client, &context, request.body().as_ref()).await,
    }
}

async fn connect(
    state: &SellerAccountsState,
    client: &crate::db::Client,
    context: &AuthContext,
    body: &[u8],
) -> Result<Response<String>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
    }
    let request = serde_json::from_slice::<ConnectRequest>(body).map_err(|_| ApiError::InvalidJson)?;
    let required = [
        ("seller_id", &request.seller_id),
        ("marketplace_id", &request.marketplace_id),
        ("region", &request.region),
        ("refresh_token", &request.refresh_token),
        ("lwa_client_id", &request.lwa_client_id),
        ("lwa_client_secret", &request.lwa_client_secret),
    ];
    if let Some((field, _)) = required.iter().find(|(_, v)| v.as_deref().is_none_or(|v| v.trim().is_empty())) {
        return Err(ApiError::ValidationFailed { field, reason: format!("{field} is required") });
    }
    let region = request.region.as_deref().unwrap_or_default().parse::<Region>().map_err(|_| {
        ApiError::ValidationFailed { field: "region", reason: "region must be one of na, eu, fe".into() }
    })?;
    let account = NewSellerAccount {
        seller_id: request.seller_id.unwrap_or_default(),
        marketplace_id: request.marketplace_id.unwrap_or_default(),
        marketplace_code: request.marketplace_code,
        marketplace_name: request.marketplace_name,
        region: Some(region),
        currency: request.currency,
        user_id: Some(context.user.id),
        credentials: LwaCredentials::new(
            request.refresh_token.unwrap_or_default(),
            request.lwa_client_id.unwrap_or_default(),
            request.lwa_client_secret.unwrap_or_default(),
        ),
    };
    let saved = seller_accounts::connect(client, &state.vault, context.organization.id, &account).await?;
    // Reconnecting the same seller and marketplace updates the account.
    let status = if saved.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json(status, &saved.account))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Invalid(v) => ApiError::ValidationFailed { field: v.field, reason: v.to_string() },
            StoreError::InUse { by } => ApiError::Conflict(format!(
                "the seller account still has {by}; delete them first (the account cannot be deleted while data references it)"
            )),
            other => ApiError::unavailable(other),
        }
    }
}
