//! Fetch-on-miss: a verified session naming a user, an active organization
//! or a membership the database lacks (or knows only as a placeholder) is
//! filled in from Clerk's Backend API, through the webhooks' own rules, so
//! the first request after a sign-up works before its webhook lands.

use std::time::{Duration, Instant};

use crate::db::Client;
use tokio_postgres::types::Type;

use super::{
    misses::{RecentMisses, Wanted},
    verify::Session,
};
use crate::{
    backend_api::BackendApi,
    db::{statements::prepare, DbError},
    sync::pages::{apply_memberships, apply_organizations, apply_users},
};

/// Clerk's Backend API as fetch-on-miss uses it: the client, and what it
/// recently could not get ([`super::misses`]). One per process.
#[derive(Debug)]
pub struct FetchOnMiss {
    api: BackendApi,
    misses: RecentMisses,
}

impl FetchOnMiss {
    pub fn new(api: BackendApi) -> Self {
        Self { api, misses: RecentMisses::default() }
    }
}

/// Every fetch of one request together, at most this long.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// What the database knows of the session's objects.
const KNOWN: &str = "SELECT
        (SELECT CASE WHEN u.deleted_at IS NOT NULL THEN 'deleted'
                     WHEN u.clerk_updated_ms IS NULL THEN 'placeholder' ELSE 'known' END
         FROM users u WHERE u.clerk_user_id = $1) AS user_state,
        (SELECT o.clerk_updated_ms IS NOT NULL FROM organization o WHERE o.clerk_org_id = $2) AS org_known,
        EXISTS (SELECT FROM user_organizations m JOIN users u ON u.id = m.user_id
                JOIN organization o ON o.id = m.organization_id
                WHERE u.clerk_user_id = $1 AND o.clerk_org_id = $2) AS membership_known";

/// Fetches and applies what the database lacks of `session`'s objects, at
/// most once each and within [`DEADLINE`]. A user the database knows as
/// deleted is never fetched (Clerk never reuses ids), nor is an object Clerk
/// recently said it lacks, nor anything while fetch-on-miss rests after a
/// failure. Failures are logged and leave the answer to the caller's next
/// look (401 or 403, as without a key).
pub async fn fill_in(fetcher: &FetchOnMiss, client: &Client, session: &Session) {
    if fetcher.misses.resting(Instant::now()) {
        tracing::debug!("fetch-on-miss rests after a failure");
        return;
    }
    match tokio::time::timeout(DEADLINE, fetch(fetcher, client, session)).await {
        Ok(Ok(fetched)) if fetched > 0 => tracing::info!(fetched, "filled in from Clerk's Backend API"),
        Ok(Ok(_)) => {}
        Ok(Err(FetchError::Db(error))) => tracing::warn!(%error, "fetch-on-miss failed"),
        Ok(Err(error)) => {
            fetcher.misses.rest(Instant::now());
            tracing::warn!(%error, resting_s = super::misses::RESTING_FOR.as_secs(), "fetch-on-miss failed");
        }
        Err(_) => {
            fetcher.misses.rest(Instant::now());
            tracing::warn!(
                deadline_ms = DEADLINE.as_millis() as u64,
                resting_s = super::misses::RESTING_FOR.as_secs(),
                "fetch-on-miss ran out of time"
            );
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Api(#[from] crate::backend_api::ApiError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("Clerk's answer cannot be applied: {0}")]
    Unreadable(String),
}

impl From<tokio_postgres::Error> for FetchError {
    fn from(e: tokio_postgres::Error) -> Self {
        FetchError::Db(e.into())
    }
}

/// How many objects were applied.
async fn fetch(fetcher: &FetchOnMiss, client: &Client, session: &Session) -> Result<u32, FetchError> {
    let (api, misses) = (&fetcher.api, &fetcher.misses);
    let stmt = prepare(client, KNOWN, &[Type::TEXT, Type::TEXT]).await?;
    let org = session.organization.as_ref().map(|o| &o.id);
    let row = client.query_one(&stmt, &[&session.user_id.as_str(), &org.map(|o| o.as_str())]).await?;
    let user_state: Option<String> = row.get("user_state");
    if user_state.as_deref() == Some("deleted") {
        return Ok(0);
    }
    let mut fetched = 0;
    let wanted = Wanted::User(session.user_id.as_str().to_string());
    if user_state.as_deref() != Some("known") && !misses.known_absent(&wanted, Instant::now()) {
        match api.get_user(&session.user_id).await? {
            Some(user) => {
                apply_users(client, &[user.to_record().map_err(FetchError::Unreadable)?]).await?;
                fetched += 1;
            }
            None => misses.absent(wanted, Instant::now()),
        }
    }
    let Some(org) = org else { return Ok(fetched) };
    let wanted = Wanted::Organization(org.as_str().to_string());
    if row.get::<_, Option<bool>>("org_known") != Some(true) && !misses.known_absent(&wanted, Instant::now()) {
        match api.get_organization(org).await? {
            Some(organization) => {
                apply_organizations(client, &[organization.to_record().map_err(FetchError::Unreadable)?]).await?;
                fetched += 1;
            }
            None => misses.absent(wanted, Instant::now()),
        }
    }
    let wanted =
        Wanted::Membership { organization: org.as_str().to_string(), user: session.user_id.as_str().to_string() };
    if !row.get::<_, bool>("membership_known") && !misses.known_absent(&wanted, Instant::now()) {
        match api.get_membership(org, &session.user_id).await? {
            Some(membership) => {
                apply_memberships(client, &[membership.to_record().map_err(FetchError::Unreadable)?]).await?;
                fetched += 1;
            }
            None => misses.absent(wanted, Instant::now()),
        }
    }
    Ok(fetched)
}
