//! `sync-status`: the app's sync debugging page. The caller's Clerk ids
//! beside what our database holds, with a verdict per entity, and the recent
//! webhook events about the caller and the caller's active organization,
//! and when the whole mirror was last reconciled with Clerk (counts only).
//! Nothing about any other user or tenant.

use std::sync::LazyLock;

use http::{header, HeaderValue, Request, Response, StatusCode};
use serde::Serialize;
use tokio_postgres::types::Type;

use super::{is_read, query_param, route_segments, wants_html, ApiError, ApiState};
use crate::{
    db::DbError,
    http::{error::HttpError, response::json},
    reconcile::{history, Counts},
    session::{permissions::held_sql, user_organizations, AccessError, Membership, Session},
    timestamp,
};

const DEFAULT_PER_PAGE: i64 = 20;
const MAX_PER_PAGE: i64 = 100;

#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    InSync,
    /// Only a placeholder made from a membership event: the user's own
    /// `user.created` has not arrived yet.
    Placeholder,
    Missing,
    Deleted,
}

#[derive(Debug, Serialize)]
pub struct ClerkSide {
    pub user_id: String,
    pub session_id: Option<String>,
    pub organization_id: Option<String>,
    pub organization_role: Option<String>,
    pub organization_slug: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct UserRow {
    pub id: uuid::Uuid,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: Option<String>,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct OrganizationRow {
    pub clerk_org_id: String,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    /// The caller's membership role, as the database holds it.
    pub role: Option<String>,
    pub membership_ended_at: Option<String>,
    /// The permission keys the caller holds here, sorted, as the auth
    /// helpers decide them; empty unless an active member of an active organization.
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Verdicts {
    pub user: Verdict,
    pub organization: Option<Verdict>,
    pub membership: Option<Verdict>,
}

impl Verdicts {
    /// Something the session names that fetch-on-miss could fill in: a user
    /// missing or only a placeholder, the organization or membership missing.
    pub fn incomplete(&self) -> bool {
        matches!(self.user, Verdict::Missing | Verdict::Placeholder)
            || self.organization == Some(Verdict::Missing)
            || self.membership == Some(Verdict::Missing)
    }
}

#[derive(Debug, Serialize)]
pub struct EventRow {
    pub svix_id: String,
    pub event_type: String,
    pub status: String,
    pub received_at: String,
    pub processed_at: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Events {
    pub page: i64,
    pub per_page: i64,
    pub has_more: bool,
    pub items: Vec<EventRow>,
}

/// The last reconcile of the whole mirror (not a dry run): when it ran,
/// how it ended, and how many rows of each kind it found and changed,
/// instance-wide. Only counts and times: never an id, nor the run's error
/// (which may name another tenant's objects).
#[derive(Debug, Serialize)]
pub struct LastReconcile {
    /// `running`, `suspended` (goes on at the next scheduled run),
    /// `completed`, `failed` or `abandoned`.
    pub state: String,
    /// Every listing was read to its end, cleanly, and absences acted on.
    pub complete: bool,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub users: Counts,
    pub organizations: Counts,
    pub memberships: Counts,
    pub permissions: Counts,
    pub roles: Counts,
    pub domains: Counts,
    pub invitations: Counts,
}

impl LastReconcile {
    fn from_run(run: history::RunSummary) -> Self {
        Self {
            state: run.state,
            complete: run.complete,
            started_at: run.started_at,
            finished_at: run.finished_at,
            users: run.counts.users,
            organizations: run.counts.organizations,
            memberships: run.counts.memberships,
            permissions: run.counts.permissions,
            roles: run.counts.roles,
            domains: run.counts.domains,
            invitations: run.counts.invitations,
        }
    }

    /// The state cell's class on the page.
    fn state_class(&self) -> &'static str {
        match (self.state.as_str(), self.complete) {
            ("completed", true) => "ok",
            ("completed", false) | ("running", _) | ("suspended", _) => "warn",
            ("failed", _) | ("abandoned", _) => "bad",
            _ => "none",
        }
    }

    /// The counts table's rows.
    fn rows(&self) -> [(&'static str, &Counts); 7] {
        [
            ("Users", &self.users),
            ("Organizations", &self.organizations),
            ("Memberships", &self.memberships),
            ("Permissions", &self.permissions),
            ("Roles", &self.roles),
            ("Domains", &self.domains),
            ("Invitations", &self.invitations),
        ]
    }
}

#[derive(Debug, Serialize)]
pub struct SyncStatus {
    pub clerk: ClerkSide,
    pub user: Option<UserRow>,
    pub active_organization: Option<OrganizationRow>,
    pub organizations: Vec<Membership>,
    pub verdicts: Verdicts,
    pub events: Events,
    /// `None` before the first reconcile, or when the run history cannot be read.
    pub last_reconcile: Option<LastReconcile>,
}

/// `GET /sync-status` (or `/` at a Function URL): JSON, or HTML for a browser.
pub async fn handle<B>(state: &ApiState, request: Request<B>) -> Response<String> {
    answer(state, &request).await.unwrap_or_else(|e| e.to_response())
}

async fn answer<B>(state: &ApiState, request: &Request<B>) -> Result<Response<String>, ApiError> {
    if !is_read(request.method()) {
        return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
    }
    if !route_segments(request, "sync-status").is_empty() {
        return Err(ApiError::NotFound);
    }
    let session = state.sessions.verify_request(request.headers()).await.map_err(AccessError::Unauthenticated)?;
    let page = query_param(request, "page").and_then(|p| p.parse::<i64>().ok()).filter(|p| *p >= 1).unwrap_or(1);
    let per_page = query_param(request, "per_page")
        .and_then(|p| p.parse::<i64>().ok())
        .map(|p| p.clamp(1, MAX_PER_PAGE))
        .unwrap_or(DEFAULT_PER_PAGE);
    let page = page.min(10_000);
    let mut status = load(state, &session, page, per_page).await?;
    if let (true, Some(fetcher)) = (status.verdicts.incomplete(), &state.fetch_on_miss) {
        // The connection goes back before the second read takes one: a
        // Lambda instance's pool holds one.
        let client = state.db.client().await?;
        crate::session::fetch::fill_in(fetcher, &client, &session).await;
        drop(client);
        status = load(state, &session, page, per_page).await?;
    }
    if wants_html(request) {
        let mut response = Response::new(render_html(&status));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        Ok(response)
    } else {
        Ok(json(StatusCode::OK, &status))
    }
}

/// The active organization and the caller's membership in it, active or
/// not, with the permissions the membership's role holds (the auth helpers'
/// rule, [`crate::session::permissions`]): one statement.
static ORG_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT o.clerk_org_id, o.name, o.slug, o.updated_at, o.deleted_at,
                m.role, m.deleted_at AS membership_ended_at, m.clerk_membership_id,
                m.id IS NOT NULL AS member, {held} AS permissions
         FROM organization o
         LEFT JOIN user_organizations m
           ON m.organization_id = o.id AND m.user_id = (SELECT id FROM users WHERE clerk_user_id = $1)
         WHERE o.clerk_org_id = $2",
        held = held_sql("m.role"),
    )
});

/// Everything the page shows, for this caller only.
/// A database fault discards the connection it poisoned and the reads are
/// retried once ([`crate::db::Retry`]).
pub async fn load(state: &ApiState, session: &Session, page: i64, per_page: i64) -> Result<SyncStatus, DbError> {
    let mut retry = crate::db::Retry::new(std::time::Instant::now());
    loop {
        let client = state.db.client_for(&mut retry).await?;
        let result = read(&client, session, page, per_page).await;
        match &result {
            Err(e) if retry.again(Some(client), e) => continue,
            _ => return result,
        }
    }
}

async fn read(client: &crate::db::Client, session: &Session, page: i64, per_page: i64) -> Result<SyncStatus, DbError> {
    let user_sql = "SELECT id, email, first_name, last_name, image_url, updated_at, deleted_at,
                clerk_updated_ms IS NULL AS placeholder
         FROM users WHERE clerk_user_id = $1";
    let (user_stmt, org_stmt) = tokio::try_join!(
        crate::db::statements::prepare(client, user_sql, &[Type::TEXT]),
        crate::db::statements::prepare(client, &ORG_SQL, &[Type::TEXT, Type::TEXT]),
    )?;
    let org_id = session.organization.as_ref().map(|o| o.id.as_str());
    let user_id = session.user_id.as_str();
    let user_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&user_id];
    let org_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&user_id, &org_id];
    // Sent together: one round trip.
    let (user_row, org_row) =
        tokio::try_join!(client.query_opt(&user_stmt, &user_params), client.query_opt(&org_stmt, &org_params))?;

    let user = user_row.as_ref().map(|r| UserRow {
        id: r.get("id"),
        email: r.get("email"),
        first_name: r.get("first_name"),
        last_name: r.get("last_name"),
        image_url: r.get("image_url"),
        updated_at: timestamp::column(r, "updated_at"),
        deleted_at: timestamp::optional(r, "deleted_at"),
    });
    let user_verdict = match &user_row {
        None => Verdict::Missing,
        Some(r) if timestamp::optional(r, "deleted_at").is_some() => Verdict::Deleted,
        Some(r) if r.get::<_, bool>("placeholder") => Verdict::Placeholder,
        Some(_) => Verdict::InSync,
    };
    let user_active = matches!(user_verdict, Verdict::InSync | Verdict::Placeholder);

    let org_verdict = session.organization.as_ref().map(|_| match &org_row {
        None => Verdict::Missing,
        Some(r) if timestamp::optional(r, "deleted_at").is_some() => Verdict::Deleted,
        Some(_) => Verdict::InSync,
    });
    let membership_verdict = session.organization.as_ref().map(|_| match &org_row {
        Some(r) if r.get::<_, bool>("member") => {
            if timestamp::optional(r, "membership_ended_at").is_some() {
                Verdict::Deleted
            } else {
                Verdict::InSync
            }
        }
        _ => Verdict::Missing,
    });
    // Tenant data only for an active member of an active organization.
    let member_of_active_org =
        user_active && org_verdict == Some(Verdict::InSync) && membership_verdict == Some(Verdict::InSync);

    // Events about the caller, and about the organization and the caller's
    // membership in it when the caller may see them.
    let mut objects = vec![user_id.to_string()];
    if let (true, Some(r)) = (member_of_active_org, &org_row) {
        objects.push(r.get("clerk_org_id"));
        if let Some(m) = r.get::<_, Option<String>>("clerk_membership_id") {
            objects.push(m);
        }
    }
    // One row per message: a message several functions received is shown
    // as the family that applied it recorded it, not as the others ignored it.
    let events_sql = "SELECT svix_id, event_type, status, received_at, processed_at, last_error
         FROM (SELECT DISTINCT ON (svix_id) *
               FROM clerk_webhook_events WHERE clerk_object_id = ANY($1)
               ORDER BY svix_id, status = 'ignored', received_at) AS e
         ORDER BY received_at DESC, id DESC LIMIT $2 OFFSET $3";
    let events_stmt =
        crate::db::statements::prepare(client, events_sql, &[Type::TEXT_ARRAY, Type::INT8, Type::INT8]).await?;
    let user_uuid = user.as_ref().filter(|_| user_active).map(|u| u.id);
    let (rows, last_reconcile) = tokio::join!(
        async {
            tokio::try_join!(
                async {
                    client
                        .query(&events_stmt, &[&objects, &(per_page + 1), &((page - 1) * per_page)])
                        .await
                        .map_err(DbError::from)
                },
                async {
                    match user_uuid {
                        Some(id) => user_organizations(client, id).await,
                        None => Ok(Vec::new()),
                    }
                },
            )
        },
        last_reconcile(client),
    );
    let (event_rows, organizations) = rows?;
    let has_more = event_rows.len() as i64 > per_page;
    let items = event_rows
        .iter()
        .take(per_page as usize)
        .map(|r| EventRow {
            svix_id: r.get("svix_id"),
            event_type: r.get("event_type"),
            status: r.get("status"),
            received_at: timestamp::column(r, "received_at"),
            processed_at: timestamp::optional(r, "processed_at"),
            error: r.get("last_error"),
        })
        .collect();

    let active_organization = org_row.filter(|_| member_of_active_org || org_verdict.is_some()).map(|r| {
        let visible = member_of_active_org;
        OrganizationRow {
            clerk_org_id: r.get("clerk_org_id"),
            // Names of an organization the caller is not in are not theirs to see.
            name: if visible { r.get("name") } else { None },
            slug: if visible { r.get("slug") } else { None },
            updated_at: timestamp::column(&r, "updated_at"),
            deleted_at: timestamp::optional(&r, "deleted_at"),
            role: r.get("role"),
            membership_ended_at: timestamp::optional(&r, "membership_ended_at"),
            permissions: if visible { r.get("permissions") } else { Vec::new() },
        }
    });

    Ok(SyncStatus {
        clerk: ClerkSide {
            user_id: user_id.to_string(),
            session_id: session.session_id.clone(),
            organization_id: session.organization.as_ref().map(|o| o.id.to_string()),
            organization_role: session.organization.as_ref().and_then(|o| o.role.clone()),
            organization_slug: session.organization.as_ref().and_then(|o| o.slug.clone()),
        },
        user,
        active_organization,
        organizations,
        verdicts: Verdicts { user: user_verdict, organization: org_verdict, membership: membership_verdict },
        events: Events { page, per_page, has_more, items },
        last_reconcile,
    })
}

/// The last reconcile, or `None`. The page does not depend on it: a
/// database whose role may not read the run history (or without it yet)
/// still shows the rest, and the reason is logged.
async fn last_reconcile(client: &crate::db::Client) -> Option<LastReconcile> {
    match history::latest_applied(client).await {
        Ok(run) => run.map(LastReconcile::from_run),
        Err(e) => {
            tracing::warn!(error = %e, "sync-status: cannot read the last reconcile run (grant SELECT on clerk_reconcile_runs)");
            None
        }
    }
}

/// The sync-status page: `lib/templates/sync_status.html`, compiled in, with
/// every value escaped by askama.
#[derive(askama::Template)]
#[template(path = "sync_status.html")]
struct Page<'a> {
    s: &'a SyncStatus,
    /// The user's row in the database, field by field (`None`: no row, or no value).
    user_rows: [(&'static str, Option<&'a str>); 4],
}

/// The page's escaper (`lib/askama.toml`): askama applies it to every value
/// the template prints: named entities (`&lt;`, not askama's `&#60;`), as the page has
/// always had them, from the `html-escape` crate.
#[derive(Debug, Clone, Copy)]
struct NamedEntities;

impl askama::filters::Escaper for NamedEntities {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, text: &str) -> std::fmt::Result {
        dest.write_str(&html_escape::encode_quoted_attribute(text))
    }
}

impl EventRow {
    /// The status cell's class on the page.
    fn status_class(&self) -> &'static str {
        match self.status.as_str() {
            "processed" => "ok",
            "stale" => "warn",
            "failed" => "bad",
            _ => "none",
        }
    }
}

/// The same data as a small, readable page. Every value is escaped.
pub fn render_html(s: &SyncStatus) -> String {
    use askama::Template;

    let user = s.user.as_ref();
    let page = Page {
        s,
        user_rows: [
            ("Email", user.and_then(|u| u.email.as_deref())),
            ("First name", user.and_then(|u| u.first_name.as_deref())),
            ("Last name", user.and_then(|u| u.last_name.as_deref())),
            ("Row updated", user.map(|u| u.updated_at.as_str())),
        ],
    };
    // Rendering into a String only fails when a value's `Display` does;
    // none here does.
    page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "rendering the sync-status page failed");
        String::from("<!doctype html><title>Clerk sync status</title><p>The page could not be rendered.</p>")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_on_the_page_is_escaped_with_named_entities() {
        let hostile = "<script>alert('x')</script> & \"q\" é";
        let escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot; é";
        let status = SyncStatus {
            clerk: ClerkSide {
                user_id: hostile.into(),
                session_id: None,
                organization_id: Some(hostile.into()),
                organization_role: Some(hostile.into()),
                organization_slug: None,
            },
            user: None,
            active_organization: Some(OrganizationRow {
                clerk_org_id: "org_a".into(),
                name: None,
                slug: None,
                updated_at: "2026-01-01T00:00:00Z".into(),
                deleted_at: None,
                role: Some("org:admin".into()),
                membership_ended_at: None,
                permissions: vec!["org:sys_profile:manage".into(), hostile.into()],
            }),
            organizations: vec![Membership {
                clerk_org_id: hostile.into(),
                name: Some(hostile.into()),
                slug: None,
                role: hostile.into(),
                active: true,
            }],
            verdicts: Verdicts { user: Verdict::Missing, organization: Some(Verdict::Missing), membership: None },
            events: Events {
                page: 2,
                per_page: 20,
                has_more: false,
                items: vec![EventRow {
                    svix_id: hostile.into(),
                    event_type: hostile.into(),
                    status: hostile.into(),
                    received_at: hostile.into(),
                    processed_at: None,
                    error: Some(hostile.into()),
                }],
            },
            last_reconcile: Some(LastReconcile {
                state: hostile.into(),
                complete: false,
                started_at: hostile.into(),
                finished_at: None,
                users: Counts::default(),
                organizations: Counts::default(),
                memberships: Counts::default(),
                permissions: Counts::default(),
                roles: Counts::default(),
                domains: Counts::default(),
                invitations: Counts::default(),
            }),
        };
        let html = render_html(&status);
        assert!(!html.contains("<script") && !html.contains("'x'"), "{html}");
        // User id; active organization id and role; the Clerk side of the membership; a permission;
        // membership name, id and role; event received, type, status and error; the last reconcile's
        // state and start.
        assert_eq!(html.matches(escaped).count(), 14, "{html}");
        assert!(html.contains("<code>org:sys_profile:manage</code>, <code>&lt;script"), "{html}");
        assert!(html.contains("<td class=\"none\">&lt;script"), "an unknown status gets no class of its own");
        assert!(html.contains("<a href=\"?page=1\">newer</a>") && !html.contains("older"), "{html}");
    }
}
