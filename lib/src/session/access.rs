//! The app's auth helpers: a verified Clerk session resolved into our own
//! rows. The database, not the token, decides membership, role and
//! permissions: a removed member loses access as soon as the
//! `organizationMembership.deleted` webhook has landed, even while the token
//! is still valid, a deleted user or organization has no access at all, and
//! a permission removed from a role (or deleted) stops counting as soon as
//! its `role.updated` (or `permission.deleted`) webhook has landed.

use std::sync::LazyLock;

use crate::db::Client;
use http::{header, header::HeaderName, HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;
use tokio_postgres::{types::Type, Row};
use uuid::Uuid;

use crate::{
    db::DbError,
    http::error::{HttpError, UNAVAILABLE},
    session::{
        fetch::FetchOnMiss,
        permissions::{defined_sql, held_sql, is_admin_role, is_system_permission},
        verify::{Session, SessionError, SessionVerifier},
    },
};

/// The signed-in user, as our database holds them (active rows only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrentUser {
    pub id: Uuid,
    pub clerk_user_id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: Option<String>,
}

/// An organization with the caller's role and permissions in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrentOrganization {
    pub id: Uuid,
    pub clerk_org_id: String,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub role: String,
    /// The permission keys the caller holds here, sorted, as the database
    /// decides them from the role ([`super::permissions`]).
    pub permissions: Vec<String>,
}

impl CurrentOrganization {
    /// True when the caller holds the permission `key` here.
    pub fn has_permission(&self, key: &str) -> bool {
        self.permissions.iter().any(|held| held == key)
    }

    /// True when the caller's role is the admin role (`org:admin`, or
    /// `admin` on instances from before December 2023).
    pub fn is_admin(&self) -> bool {
        is_admin_role(&self.role)
    }
}

/// Both, for handlers that act within one organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthContext {
    pub user: CurrentUser,
    pub organization: CurrentOrganization,
}

/// What an operation needs of the caller's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement<'a> {
    /// Any active membership.
    Member,
    /// The admin role.
    Admin,
    /// The permission with this key.
    Permission(&'a str),
    /// The permission with this key when the instance defines it (a live
    /// row in `organization_permissions`, or one of Clerk's system
    /// permissions); otherwise the admin role, so a deployment whose
    /// instance has not (yet) created the permission keeps working.
    PermissionOrAdmin(&'a str),
}

impl<'a> Requirement<'a> {
    /// The permission whose definition the lookup reports.
    fn permission(self) -> Option<&'a str> {
        match self {
            Requirement::Permission(key) | Requirement::PermissionOrAdmin(key) => Some(key),
            Requirement::Member | Requirement::Admin => None,
        }
    }

    /// Whether `organization` satisfies it; `defined`: whether the instance
    /// defines a live permission with the requirement's key.
    fn check(self, organization: &CurrentOrganization, defined: bool) -> Result<(), AccessError> {
        match self {
            Requirement::Member => Ok(()),
            Requirement::Admin => organization.is_admin().then_some(()).ok_or(AccessError::InsufficientRole),
            Requirement::PermissionOrAdmin(key) if !defined && !is_system_permission(key) => {
                Requirement::Admin.check(organization, defined)
            }
            Requirement::Permission(key) | Requirement::PermissionOrAdmin(key) => {
                organization.has_permission(key).then_some(()).ok_or_else(|| AccessError::MissingPermission(key.into()))
            }
        }
    }
}

/// Refuses (403 `missing_permission`) unless the caller holds the permission
/// `key` in the active organization. Decided from the context alone: no query.
pub fn require_permission(context: &AuthContext, key: &str) -> Result<(), AccessError> {
    Requirement::Permission(key).check(&context.organization, true)
}

/// Why a request may not proceed; mapped to its status in one place.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("sign in first: {0}")]
    Unauthenticated(SessionError),
    #[error("your account is not (or no longer) known here")]
    UnknownUser,
    #[error("select an organization you are a member of")]
    NoActiveOrganization,
    #[error("your role in this organization does not allow this")]
    InsufficientRole,
    #[error("your role in this organization lacks the permission {0}")]
    MissingPermission(String),
    #[error("the database is unavailable; retry later")]
    Unavailable(#[from] DbError),
}

impl HttpError for AccessError {
    fn status(&self) -> StatusCode {
        match self {
            AccessError::Unauthenticated(SessionError::KeysUnavailable) | AccessError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AccessError::Unauthenticated(_) | AccessError::UnknownUser => StatusCode::UNAUTHORIZED,
            AccessError::NoActiveOrganization | AccessError::InsufficientRole | AccessError::MissingPermission(_) => {
                StatusCode::FORBIDDEN
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AccessError::Unauthenticated(SessionError::KeysUnavailable) | AccessError::Unavailable(_) => UNAVAILABLE,
            AccessError::Unauthenticated(_) => "unauthenticated",
            AccessError::UnknownUser => "unknown_user",
            AccessError::NoActiveOrganization => "no_active_organization",
            AccessError::InsufficientRole => "insufficient_role",
            AccessError::MissingPermission(_) => "missing_permission",
        }
    }

    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        match self.status() {
            StatusCode::UNAUTHORIZED => vec![(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            _ => Vec::new(),
        }
    }

    /// Which verification rule refused the token, as a stable code; which
    /// permission is missing.
    fn fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            AccessError::Unauthenticated(e) => vec![("reason", e.code().into())],
            AccessError::MissingPermission(key) => vec![("permission", key.as_str().into())],
            _ => Vec::new(),
        }
    }
}

const USER_COLUMNS: &str = "u.id, u.clerk_user_id, u.email, u.first_name, u.last_name, u.image_url";

fn user_from(row: &Row) -> CurrentUser {
    CurrentUser {
        id: row.get("id"),
        clerk_user_id: row.get("clerk_user_id"),
        email: row.get("email"),
        first_name: row.get("first_name"),
        last_name: row.get("last_name"),
        image_url: row.get("image_url"),
    }
}

/// The signed-in user, when their row exists and is not deleted.
pub async fn current_user(client: &Client, session: &Session) -> Result<Option<CurrentUser>, DbError> {
    let stmt = crate::db::statements::prepare(
        client,
        &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.clerk_user_id = $1 AND u.deleted_at IS NULL"),
        &[Type::TEXT],
    )
    .await?;
    Ok(client.query_opt(&stmt, &[&session.user_id.as_str()]).await?.as_ref().map(user_from))
}

/// The session's active organization with the caller's role, when the
/// organization is active and the caller an active member of it.
pub async fn current_organization(client: &Client, session: &Session) -> Result<Option<CurrentOrganization>, DbError> {
    Ok(auth_context(client, session).await?.and_then(|(_, org)| org))
}

/// The user, the active organization with the caller's role and permissions
/// in it, and whether the instance defines the permission `$3`: one statement.
static CONTEXT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {USER_COLUMNS}, o.id AS org_uuid, o.clerk_org_id, o.name, o.slug, m.role,
                {held} AS permissions, {defined} AS permission_defined
         FROM users u
         LEFT JOIN (organization o JOIN user_organizations m
                    ON m.organization_id = o.id AND m.deleted_at IS NULL AND o.deleted_at IS NULL)
           ON o.clerk_org_id = $2 AND m.user_id = u.id
         WHERE u.clerk_user_id = $1 AND u.deleted_at IS NULL",
        held = held_sql("m.role"),
        defined = defined_sql("$3"),
    )
});

/// What [`lookup`] found: the user, the organization, and whether the
/// requirement's permission is defined.
type Found = (CurrentUser, Option<CurrentOrganization>, bool);

async fn lookup(client: &Client, session: &Session, permission: Option<&str>) -> Result<Option<Found>, DbError> {
    let stmt = crate::db::statements::prepare(client, &CONTEXT_SQL, &[Type::TEXT, Type::TEXT, Type::TEXT]).await?;
    let org_id = session.organization.as_ref().map(|o| o.id.as_str());
    let Some(row) = client.query_opt(&stmt, &[&session.user_id.as_str(), &org_id, &permission]).await? else {
        return Ok(None);
    };
    let organization = row.get::<_, Option<Uuid>>("org_uuid").map(|id| CurrentOrganization {
        id,
        clerk_org_id: row.get("clerk_org_id"),
        name: row.get("name"),
        slug: row.get("slug"),
        role: row.get("role"),
        permissions: row.get("permissions"),
    });
    Ok(Some((user_from(&row), organization, row.get("permission_defined"))))
}

/// The user and, when the session names one they actively belong to, the
/// organization with the caller's role and permissions: one query.
pub async fn auth_context(
    client: &Client,
    session: &Session,
) -> Result<Option<(CurrentUser, Option<CurrentOrganization>)>, DbError> {
    Ok(lookup(client, session, None).await?.map(|(user, organization, _)| (user, organization)))
}

/// Verifies the session and resolves it into an active user, organization
/// and sufficient role or permission, or says why not (401, 403, or 503).
/// One query decides it all: membership, role, permissions and, for
/// [`Requirement::PermissionOrAdmin`], whether the permission is defined.
///
/// With `fetch_on_miss` (a `CLERK_SECRET_KEY` is set), a user, active organization
/// or membership the database lacks is first fetched from Clerk's Backend API
/// ([`super::fetch`]), so the first request after a sign-up works.
pub async fn require_auth_context(
    verifier: &SessionVerifier,
    fetch_on_miss: Option<&FetchOnMiss>,
    client: &Client,
    headers: &HeaderMap,
    requirement: Requirement<'_>,
) -> Result<AuthContext, AccessError> {
    let session = verifier.verify_request(headers).await.map_err(AccessError::Unauthenticated)?;
    let permission = requirement.permission();
    let mut context = lookup(client, &session, permission).await?;
    let incomplete = match &context {
        None => true,
        Some((_, organization, _)) => session.organization.is_some() && organization.is_none(),
    };
    if let (true, Some(fetcher)) = (incomplete, fetch_on_miss) {
        super::fetch::fill_in(fetcher, client, &session).await;
        context = lookup(client, &session, permission).await?;
    }
    let (user, organization, defined) = context.ok_or(AccessError::UnknownUser)?;
    let organization = organization.ok_or(AccessError::NoActiveOrganization)?;
    requirement.check(&organization, defined)?;
    Ok(AuthContext { user, organization })
}

/// A membership of the user, active or ended, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub clerk_org_id: String,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub role: String,
    /// False when the membership ended or the organization was deleted.
    pub active: bool,
}

/// The user's organizations (active memberships of active organizations
/// first, then ended ones).
pub async fn user_organizations(client: &Client, user_id: Uuid) -> Result<Vec<Membership>, DbError> {
    let stmt = crate::db::statements::prepare(
        client,
        "SELECT o.clerk_org_id, o.name, o.slug, m.role,
                    (m.deleted_at IS NULL AND o.deleted_at IS NULL) AS active
             FROM user_organizations m JOIN organization o ON o.id = m.organization_id
             WHERE m.user_id = $1
             ORDER BY active DESC, o.name NULLS LAST, o.clerk_org_id",
        &[Type::UUID],
    )
    .await?;
    Ok(client
        .query(&stmt, &[&user_id])
        .await?
        .iter()
        .map(|row| Membership {
            clerk_org_id: row.get("clerk_org_id"),
            name: row.get("name"),
            slug: row.get("slug"),
            role: row.get("role"),
            active: row.get("active"),
        })
        .collect())
}
