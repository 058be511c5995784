//! Every function's state, built once, and the call into the very handler
//! each Lambda binary calls.

use bytes::Bytes;
use clerk_sync::{
    api::{
        seller_accounts::{self, SellerAccountsState},
        sync_status, ApiState,
    },
    clerk::FAMILIES,
    config::{ConfigError, Source},
    db::DbError,
    http::response::{json, ErrorBody},
    Family, WebhookConfig, WebhookState,
};
use http::{Request, Response, StatusCode};

use super::routes::Function;

/// Every function's state.
pub struct App {
    /// Each family's webhook function, in the table's order.
    families: Vec<(Family, WebhookState)>,
    /// The catch-all ([`Family::All`]).
    all: WebhookState,
    /// `None` without CLERK_JWT_KEY / CLERK_JWKS_URL: those routes answer 503.
    sync_status: Option<ApiState>,
    seller_accounts: Option<SellerAccountsState>,
}

impl App {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let webhook = |family| WebhookState::new(family, WebhookConfig::from_source(src)?);
        let families =
            FAMILIES.iter().map(|spec| Ok((spec.family, webhook(spec.family)?))).collect::<Result<_, ConfigError>>()?;
        let sessions = src.get("CLERK_JWT_KEY").is_some() || src.get("CLERK_JWKS_URL").is_some();
        Ok(Self {
            families,
            all: webhook(Family::All)?,
            sync_status: if sessions { Some(ApiState::from_source(src)?) } else { None },
            seller_accounts: if sessions { Some(SellerAccountsState::from_source(src)?) } else { None },
        })
    }

    fn webhook(&self, function: Function) -> Option<&WebhookState> {
        match function {
            Function::Webhook(Family::All) => Some(&self.all),
            Function::Webhook(family) => self.families.iter().find(|(f, _)| *f == family).map(|(_, state)| state),
            Function::SyncStatus | Function::SellerAccounts => None,
        }
    }

    /// The catch-all's state: its database is the stack's.
    pub fn catch_all(&self) -> &WebhookState {
        &self.all
    }

    /// Calls `function`'s handler, the one its Lambda binary calls.
    pub async fn dispatch(&self, function: Function, request: Request<Bytes>) -> Response<String> {
        if let Some(state) = self.webhook(function) {
            return clerk_sync::handle(state, request).await;
        }
        match (function, &self.sync_status, &self.seller_accounts) {
            (Function::SyncStatus, Some(state), _) => sync_status::handle(state, request).await,
            (Function::SellerAccounts, _, Some(state)) => seller_accounts::handle(state, request).await,
            _ => not_configured(function),
        }
    }

    /// The database counts after seeding, on one line.
    pub async fn describe_contents(&self) -> Result<String, DbError> {
        let client = self.catch_all().database().client().await?;
        let row = client
            .query_one(
                "SELECT
                   (SELECT count(*) FROM users WHERE deleted_at IS NULL),
                   (SELECT string_agg(coalesce(email, nullif(concat_ws(' ', first_name, last_name), ''), clerk_user_id),
                                      ', ' ORDER BY clerk_user_id)
                      FROM (SELECT * FROM users WHERE deleted_at IS NULL ORDER BY clerk_user_id LIMIT 5) u),
                   (SELECT count(*) FROM organization WHERE deleted_at IS NULL),
                   (SELECT string_agg(coalesce(name, clerk_org_id), ', ' ORDER BY clerk_org_id)
                      FROM (SELECT * FROM organization WHERE deleted_at IS NULL ORDER BY clerk_org_id LIMIT 5) o),
                   (SELECT count(*) FROM user_organizations WHERE deleted_at IS NULL)",
                &[],
            )
            .await?;
        let list = |count: i64, names: Option<String>| match names {
            Some(names) if count > 5 => format!(" ({names}, …)"),
            Some(names) => format!(" ({names})"),
            None => String::new(),
        };
        let (users, orgs): (i64, i64) = (row.get(0), row.get(2));
        Ok(format!(
            "{users} users{}, {orgs} organizations{}, {} active memberships",
            list(users, row.get(1)),
            list(orgs, row.get(3)),
            row.get::<_, i64>(4)
        ))
    }
}

fn not_configured(function: Function) -> Response<String> {
    let message = format!(
        "{} verifies Clerk session tokens and no key is configured: set CLERK_JWT_KEY to your instance's PEM \
         public key (Clerk dashboard → API keys → JWT public key) or CLERK_JWKS_URL, then restart clerk-sync dev",
        function.name()
    );
    json(StatusCode::SERVICE_UNAVAILABLE, &ErrorBody { error: "not_configured", message: &message })
}
