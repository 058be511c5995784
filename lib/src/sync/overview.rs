//! The operator's view of the whole sync (`clerk-sync status`). Unlike the
//! tenant-scoped `sync-status` function, it sees every tenant: it is for
//! whoever holds `DATABASE_URL`.

use crate::db::Client;
use serde::Serialize;
use time::OffsetDateTime;

use crate::{db::DbError, timestamp};

#[derive(Debug, Serialize)]
pub struct EventCount {
    pub event_type: String,
    /// The family that recorded them (one message may be recorded by several).
    pub family: String,
    pub status: String,
    pub count: i64,
    /// When the latest of them was received (RFC 3339, UTC).
    pub last_received_at: String,
    /// The same, typed: what the health checks measure ages from.
    #[serde(skip)]
    pub last_received: OffsetDateTime,
}

#[derive(Debug, Serialize)]
pub struct EventSummary {
    pub svix_id: String,
    pub event_type: String,
    pub family: String,
    pub status: String,
    pub attempts: i32,
    pub received_at: String,
    pub processed_at: Option<String>,
    pub last_error: Option<String>,
}

/// Rows by state: `placeholder` rows were made from a reference (a
/// membership's member or organization, an invitation's organization or
/// user, a role's permission, a delete that came first) and still wait for
/// their own data.
#[derive(Debug, Serialize, Default)]
pub struct RowCounts {
    pub active: i64,
    pub placeholder: i64,
    pub deleted: i64,
}

#[derive(Debug, Serialize)]
pub struct Overview {
    pub events_by_type_and_status: Vec<EventCount>,
    pub latest_events: Vec<EventSummary>,
    pub failed_events: Vec<EventSummary>,
    pub users: RowCounts,
    pub organizations: RowCounts,
    pub memberships: RowCounts,
    pub invitations: RowCounts,
    pub domains: RowCounts,
    pub roles: RowCounts,
    pub permissions: RowCounts,
}

fn events_query(filter: &str, limit: i64) -> String {
    format!(
        "SELECT svix_id, event_type, status, attempts, received_at, processed_at, last_error, family
         FROM clerk_webhook_events {filter} ORDER BY received_at DESC, id DESC LIMIT {limit}"
    )
}

/// Everything, in one round trip (the queries are pipelined).
pub async fn overview(client: &Client, latest: i64) -> Result<Overview, DbError> {
    // The table is read whole here anyway: the latest receipt per group
    // rides on the same scan (the health checks take each family's from it).
    let counts = "SELECT event_type, status, count(*), family, max(received_at) AS last_received_at
                  FROM clerk_webhook_events GROUP BY 1, 2, 4 ORDER BY 1, 4, 2";
    let latest_sql = events_query("", latest.clamp(1, 1000));
    let failed_sql = events_query("WHERE status = 'failed'", 50);
    let rows = "SELECT 'users', count(*) FILTER (WHERE deleted_at IS NULL AND clerk_updated_ms IS NOT NULL),
                       count(*) FILTER (WHERE deleted_at IS NULL AND clerk_updated_ms IS NULL),
                       count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM users
                UNION ALL
                SELECT 'organizations', count(*) FILTER (WHERE deleted_at IS NULL AND clerk_updated_ms IS NOT NULL),
                       count(*) FILTER (WHERE deleted_at IS NULL AND clerk_updated_ms IS NULL),
                       count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM organization
                UNION ALL
                SELECT 'memberships', count(*) FILTER (WHERE deleted_at IS NULL), 0,
                       count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM user_organizations
                UNION ALL
                SELECT 'invitations', count(*) FILTER (WHERE clerk_updated_ms IS NOT NULL AND status = 'pending'),
                       count(*) FILTER (WHERE clerk_updated_ms IS NULL),
                       count(*) FILTER (WHERE clerk_updated_ms IS NOT NULL AND status IS DISTINCT FROM 'pending')
                FROM organization_invitations
                UNION ALL
                SELECT 'domains', count(*) FILTER (WHERE deleted_at IS NULL AND clerk_updated_ms IS NOT NULL),
                       count(*) FILTER (WHERE deleted_at IS NULL AND clerk_updated_ms IS NULL),
                       count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM organization_domains
                UNION ALL
                SELECT 'roles', count(*) FILTER (WHERE deleted_at IS NULL AND clerk_updated_ms IS NOT NULL),
                       count(*) FILTER (WHERE deleted_at IS NULL AND clerk_updated_ms IS NULL),
                       count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM organization_roles
                UNION ALL
                SELECT 'permissions', count(*) FILTER (WHERE deleted_at IS NULL AND clerk_updated_ms IS NOT NULL),
                       count(*) FILTER (WHERE deleted_at IS NULL AND clerk_updated_ms IS NULL),
                       count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM organization_permissions";
    let (counts, latest_rows, failed_rows, row_counts) = tokio::try_join!(
        client.query(counts, &[]),
        client.query(&latest_sql, &[]),
        client.query(&failed_sql, &[]),
        client.query(rows, &[]),
    )?;
    let summaries = |rows: Vec<tokio_postgres::Row>| -> Vec<EventSummary> {
        rows.iter()
            .map(|r| EventSummary {
                svix_id: r.get(0),
                event_type: r.get(1),
                status: r.get(2),
                attempts: r.get(3),
                received_at: timestamp::column(r, "received_at"),
                processed_at: timestamp::optional(r, "processed_at"),
                last_error: r.get(6),
                family: r.get(7),
            })
            .collect()
    };
    let mut overview = Overview {
        events_by_type_and_status: counts
            .iter()
            .map(|r| EventCount {
                event_type: r.get(0),
                family: r.get(3),
                status: r.get(1),
                count: r.get(2),
                last_received_at: timestamp::column(r, "last_received_at"),
                last_received: r.get("last_received_at"),
            })
            .collect(),
        latest_events: summaries(latest_rows),
        failed_events: summaries(failed_rows),
        users: RowCounts::default(),
        organizations: RowCounts::default(),
        memberships: RowCounts::default(),
        invitations: RowCounts::default(),
        domains: RowCounts::default(),
        roles: RowCounts::default(),
        permissions: RowCounts::default(),
    };
    for r in &row_counts {
        let counts = RowCounts { active: r.get(1), placeholder: r.get(2), deleted: r.get(3) };
        match r.get::<_, &str>(0) {
            "users" => overview.users = counts,
            "organizations" => overview.organizations = counts,
            "memberships" => overview.memberships = counts,
            "invitations" => overview.invitations = counts,
            "domains" => overview.domains = counts,
            "roles" => overview.roles = counts,
            _ => overview.permissions = counts,
        }
    }
    Ok(overview)
}
