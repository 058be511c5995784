//! `sync-status`: the app's sync debugging page. The caller's Clerk ids
//! beside what our database holds, with a verdict per entity, and the recent
//! webhook events about the caller and the caller's active organization.
//! Nothing about any other user or tenant.

use http::{header, HeaderValue, Request, Response, StatusCode};
use serde::Serialize;
use tokio_postgres::types::Type;

use super::{is_read, query_param, route_segments, wants_html, ApiError, ApiState};
use crate::{
    db::DbError,
    http::{error::HttpError, response::json},
    session::{user_organizations, AccessError, Membership, Session},
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
}

#[derive(Debug, Serialize)]
pub struct Verdicts {
    pub user: Verdict,
    pub organization: Option<Verdict>,
    pub membership: Option<Verdict>,
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

#[derive(Debug, Serialize)]
pub struct SyncStatus {
    pub clerk: ClerkSide,
    pub user: Option<UserRow>,
    pub active_organization: Option<OrganizationRow>,
    pub organizations: Vec<Membership>,
    pub verdicts: Verdicts,
    pub events: Events,
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
    let status = load(state, &session, page.min(10_000), per_page).await?;
    if wants_html(request) {
        let mut response = Response::new(render_html(&status));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        Ok(response)
    } else {
        Ok(json(StatusCode::OK, &status))
    }
}

/// Everything the page shows, for this caller only.
pub async fn load(state: &ApiState, session: &Session, page: i64, per_page: i64) -> Result<SyncStatus, DbError> {
    let client = state.db.client().await?;
    let user_sql = "SELECT id, email, first_name, last_name, image_url, updated_at, deleted_at,
                clerk_updated_ms IS NULL AS placeholder
         FROM users WHERE clerk_user_id = $1";
    let org_sql = "SELECT o.clerk_org_id, o.name, o.slug, o.updated_at, o.deleted_at,
                m.role, m.deleted_at AS membership_ended_at, m.clerk_membership_id,
                m.id IS NOT NULL AS member
         FROM organization o
         LEFT JOIN user_organizations m
           ON m.organization_id = o.id AND m.user_id = (SELECT id FROM users WHERE clerk_user_id = $1)
         WHERE o.clerk_org_id = $2";
    let (user_stmt, org_stmt) = tokio::try_join!(
        client.prepare_typed_cached(user_sql, &[Type::TEXT]),
        client.prepare_typed_cached(org_sql, &[Type::TEXT, Type::TEXT]),
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
    let events_stmt = client.prepare_typed_cached(events_sql, &[Type::TEXT_ARRAY, Type::INT8, Type::INT8]).await?;
    let user_uuid = user.as_ref().filter(|_| user_active).map(|u| u.id);
    let (event_rows, organizations) = tokio::try_join!(
        async {
            client
                .query(&events_stmt, &[&objects, &(per_page + 1), &((page - 1) * per_page)])
                .await
                .map_err(DbError::from)
        },
        async {
            match user_uuid {
                Some(id) => user_organizations(&client, id).await,
                None => Ok(Vec::new()),
            }
        },
    )?;
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
    })
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn cell(value: Option<&str>) -> String {
    value.map(escape).unwrap_or_else(|| "<span class=\"none\">—</span>".into())
}

fn verdict(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::InSync) => "<b class=\"ok\">in sync</b>",
        Some(Verdict::Placeholder) => "<b class=\"warn\">placeholder</b>",
        Some(Verdict::Missing) => "<b class=\"bad\">missing</b>",
        Some(Verdict::Deleted) => "<b class=\"bad\">deleted</b>",
        None => "<span class=\"none\">no active organization</span>",
    }
}

/// The same data as a small, readable page. Every value is escaped.
pub fn render_html(s: &SyncStatus) -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Clerk sync status</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>\
         body{font:14px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}\
         table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{text-align:left;padding:.3rem .6rem;\
         border-bottom:1px solid #ddd;vertical-align:top}th{background:#f5f5f5}.ok{color:#1a7f37}.warn{color:#9a6700}\
         .bad{color:#cf222e}.none{color:#888}code{font-size:13px}</style></head><body><h1>Clerk sync status</h1>",
    );
    html.push_str("<h2>You</h2><table><tr><th></th><th>Clerk</th><th>Database</th></tr>");
    let user = s.user.as_ref();
    html.push_str(&format!(
        "<tr><th>User</th><td><code>{}</code></td><td>{}</td></tr>",
        escape(&s.clerk.user_id),
        verdict(Some(s.verdicts.user))
    ));
    for (label, value) in [
        ("Email", user.and_then(|u| u.email.as_deref())),
        ("First name", user.and_then(|u| u.first_name.as_deref())),
        ("Last name", user.and_then(|u| u.last_name.as_deref())),
        ("Row updated", user.map(|u| u.updated_at.as_str())),
    ] {
        html.push_str(&format!("<tr><th>{label}</th><td></td><td>{}</td></tr>", cell(value)));
    }
    html.push_str(&format!(
        "<tr><th>Active organization</th><td><code>{}</code> {}</td><td>{}</td></tr>",
        cell(s.clerk.organization_id.as_deref()),
        cell(s.clerk.organization_role.as_deref()),
        verdict(s.verdicts.organization)
    ));
    if let Some(org) = &s.active_organization {
        html.push_str(&format!(
            "<tr><th>Membership</th><td>{}</td><td>{} {}</td></tr>",
            cell(s.clerk.organization_role.as_deref()),
            cell(org.role.as_deref()),
            verdict(s.verdicts.membership)
        ));
    }
    html.push_str(
        "</table><h2>Your organizations</h2><table><tr><th>Organization</th><th>Role</th><th>State</th></tr>",
    );
    if s.organizations.is_empty() {
        html.push_str("<tr><td colspan=\"3\" class=\"none\">none</td></tr>");
    }
    for m in &s.organizations {
        html.push_str(&format!(
            "<tr><td>{} <code>{}</code></td><td>{}</td><td>{}</td></tr>",
            cell(m.name.as_deref()),
            escape(&m.clerk_org_id),
            escape(&m.role),
            if m.active { "<b class=\"ok\">active</b>" } else { "<b class=\"bad\">ended</b>" }
        ));
    }
    html.push_str(&format!(
        "</table><h2>Recent webhook events (page {})</h2><table><tr><th>Received</th><th>Type</th><th>Status</th>\
         <th>Processed</th><th>Error</th></tr>",
        s.events.page
    ));
    if s.events.items.is_empty() {
        html.push_str("<tr><td colspan=\"5\" class=\"none\">none</td></tr>");
    }
    for e in &s.events.items {
        let class = match e.status.as_str() {
            "processed" => "ok",
            "stale" => "warn",
            "failed" => "bad",
            _ => "none",
        };
        html.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.received_at),
            escape(&e.event_type),
            escape(&e.status),
            cell(e.processed_at.as_deref()),
            cell(e.error.as_deref())
        ));
    }
    html.push_str("</table>");
    let mut links = Vec::new();
    if s.events.page > 1 {
        links.push(format!("<a href=\"?page={}\">newer</a>", s.events.page - 1));
    }
    if s.events.has_more {
        links.push(format!("<a href=\"?page={}\">older</a>", s.events.page + 1));
    }
    if !links.is_empty() {
        html.push_str(&format!("<p>{}</p>", links.join(" · ")));
    }
    html.push_str("</body></html>");
    html
}
