//! `seller-accounts`: the active organization's Amazon seller accounts.
//!
//! - `GET /seller-accounts` → the accounts, never their secrets (members).
//! - `GET /seller-accounts/{id}` → one account (members).
//! - `POST /seller-accounts` → connect (or reconnect) an account; the
//!   credentials go through the vault (admins).
//! - `DELETE /seller-accounts/{id}` → 204 (admins). Another organization's
//!   id is 404, never 403: existence does not leak across tenants.
//!
//! Mounted at `/seller-accounts` behind the HttpApi and at `/` behind a
//! Function URL, it answers the same.

use http::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{error, method_not_allowed, not_found, route_segments, unavailable, ApiState};
use crate::{
    config::{self, ConfigError, Source},
    http::response::json,
    seller_accounts::{self, LwaCredentials, NewSellerAccount, Region, StoreError},
    session::{require_auth_context, AccessError, AuthContext, Requirement},
    vault::Vault,
};

/// Larger bodies are refused before parsing: a request is a few hundred bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the seller-accounts function holds: the API state and the vault.
/// Building the vault derives nothing: keys are derived on first use.
pub struct SellerAccountsState {
    pub api: ApiState,
    pub vault: Vault,
}

impl SellerAccountsState {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self { api: ApiState::from_source(src)?, vault: Vault::from_source(src)? })
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
struct FieldError<'a> {
    error: &'a str,
    message: &'a str,
    field: &'a str,
}

fn invalid_field(field: &str, message: &str) -> Response<String> {
    json(StatusCode::UNPROCESSABLE_ENTITY, &FieldError { error: "validation_failed", message, field })
}

#[derive(Serialize)]
struct List<'a> {
    seller_accounts: &'a [seller_accounts::SellerAccount],
}

pub async fn handle<B: AsRef<[u8]>>(state: &SellerAccountsState, request: Request<B>) -> Response<String> {
    let segments = route_segments(&request, "seller-accounts");
    let (method, id) = match (request.method(), segments.as_slice()) {
        (m, []) if m == Method::GET || m == Method::POST => (m.clone(), None),
        (_, []) => return method_not_allowed("GET, POST"),
        (m, [id]) if m == Method::GET || m == Method::DELETE => (m.clone(), Some(*id)),
        (_, [_]) => return method_not_allowed("GET, DELETE"),
        _ => return not_found(),
    };
    let requirement = if method == Method::GET { Requirement::Member } else { Requirement::Admin };
    let client = match state.api.db.client().await {
        Ok(client) => client,
        Err(e) => return AccessError::Unavailable(e).into_response(),
    };
    let context = match require_auth_context(&state.api.sessions, &client, request.headers(), requirement).await {
        Ok(context) => context,
        Err(e) => return e.into_response(),
    };
    // An id that is not a UUID names no account, here or anywhere: 404.
    let id = match id.map(Uuid::parse_str) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return not_found(),
        None => None,
    };
    let org = context.organization.id;
    let result = match (method, id) {
        (Method::GET, None) => seller_accounts::list(&client, org)
            .await
            .map(|accounts| json(StatusCode::OK, &List { seller_accounts: &accounts })),
        (Method::GET, Some(id)) => {
            seller_accounts::get(&client, org, id).await.map(|account| json(StatusCode::OK, &account))
        }
        (Method::DELETE, Some(id)) => seller_accounts::delete(&client, org, id).await.map(|()| {
            let mut response = Response::new(String::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }),
        (_, _) => return connect(state, &client, &context, request.body().as_ref()).await,
    };
    result.unwrap_or_else(store_error)
}

async fn connect(
    state: &SellerAccountsState,
    client: &deadpool_postgres::Client,
    context: &AuthContext,
    body: &[u8],
) -> Response<String> {
    if body.len() > MAX_BODY_BYTES {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the body is larger than 16 KiB");
    }
    let Ok(request) = serde_json::from_slice::<ConnectRequest>(body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_json", "the body must be a JSON object");
    };
    let required = [
        ("seller_id", &request.seller_id),
        ("marketplace_id", &request.marketplace_id),
        ("region", &request.region),
        ("refresh_token", &request.refresh_token),
        ("lwa_client_id", &request.lwa_client_id),
        ("lwa_client_secret", &request.lwa_client_secret),
    ];
    if let Some((field, _)) = required.iter().find(|(_, v)| v.as_deref().is_none_or(|v| v.trim().is_empty())) {
        return invalid_field(field, &format!("{field} is required"));
    }
    let Ok(region) = request.region.as_deref().unwrap_or_default().parse::<Region>() else {
        return invalid_field("region", "region must be one of na, eu, fe");
    };
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
    match seller_accounts::upsert(client, &state.vault, context.organization.id, &account).await {
        // Reconnecting the same seller and marketplace updates the account.
        Ok(saved) if saved.created_at != saved.updated_at => json(StatusCode::OK, &saved),
        Ok(saved) => json(StatusCode::CREATED, &saved),
        Err(e) => store_error(e),
    }
}

fn store_error(e: StoreError) -> Response<String> {
    match e {
        StoreError::NotFound => not_found(),
        StoreError::Invalid(v) => invalid_field(v.field, &v.to_string()),
        other => {
            tracing::error!(error = %other, "seller-account store failed");
            unavailable()
        }
    }
}
