//! Records an event and applies it, in one transaction and (in steady
//! state) one round trip.
//!
//! Each upsert is a single statement: a CTE records the event
//! (`INSERT … ON CONFLICT (svix_id) DO NOTHING`) and the effect runs only
//! when that insert produced a row, so a redelivery changes nothing. A
//! single statement is its own transaction: one commit per event.
//!
//! Convergence comes from clocks kept on each row, not from arrival order:
//! - users and organizations apply `data.updated_at` only when newer;
//! - deletes are final, and the earliest delete time wins; a deleted user is
//!   scrubbed of personal data and stays so, a deleted organization keeps
//!   (and still converges) its name, slug and image;
//! - a membership applies its own clock (`updated_at`, or the envelope
//!   timestamp of a removal; removal wins a tie), and its effective end is
//!   the earliest of its own removal and its user's or organization's
//!   deletion, so it is the same whichever arrives first;
//! - placeholder users (made from `public_user_data`) have their own clock
//!   and yield to any real user event.
//!
//! Deletes run two statements pipelined in one transaction (still one round
//! trip): the second, ending the memberships, must start after the first
//! holds the row lock so that it sees memberships committed concurrently.

use std::sync::LazyLock;

use deadpool_postgres::Client;
use tokio_postgres::{types::Type, Row, Statement};

use crate::{
    clerk::{Change, MembershipRecord, OrgRecord, Plan, UserRecord},
    db::DbError,
    ids::SvixId,
};

/// What a delivery did; the `status` of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded and applied.
    Processed,
    /// This `svix-id` was recorded before: nothing changed.
    Duplicate,
    /// Recorded as `ignored`: not a type this function syncs.
    Ignored,
    /// Recorded, but older than what the rows already reflect.
    Stale,
    /// Recorded as `failed` with the reason: the data could not be applied.
    Failed(String),
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Stale => "stale",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// The event as it is recorded in `clerk_webhook_events`.
#[derive(Debug, Clone, Copy)]
pub struct EventRecord<'a> {
    pub svix_id: &'a SvixId,
    pub event_type: &'a str,
    pub object_id: Option<&'a str>,
    pub event_timestamp: Option<i64>,
    /// The body exactly as received (valid UTF-8 JSON).
    pub payload: &'a str,
}

/// Parameters `$1`–`$7` of every recording statement.
const RECORD_TYPES: [Type; 7] = [Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT];

/// Records the event with a status; yields one row when it was new.
const RECORD: &str = "INSERT INTO clerk_webhook_events
        (svix_id, event_type, clerk_object_id, event_timestamp, payload, status, last_error, processed_at)
    VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, now())
    ON CONFLICT (svix_id) DO NOTHING
    RETURNING id";

/// Like `RECORD`, for a body PostgreSQL refuses as jsonb (e.g. a `\u0000`
/// escape): the raw text is kept as a JSON string so nothing is lost.
const RECORD_AS_TEXT: &str = "INSERT INTO clerk_webhook_events
        (svix_id, event_type, clerk_object_id, event_timestamp, payload, status, last_error, processed_at)
    VALUES ($1, $2, $3, $4, to_jsonb($5), $6, $7, now())
    ON CONFLICT (svix_id) DO NOTHING
    RETURNING id";

/// Replays a stored event: claims it if it still needs processing (so a
/// replay racing another changes nothing twice) and counts the attempt.
/// Takes the same parameters as `RECORD`; the payload stays as stored.
const REPLAY: &str = "UPDATE clerk_webhook_events
    SET status = $6, last_error = $7, attempts = attempts + 1, processed_at = now()
    WHERE svix_id = $1 AND status IN ('received', 'failed')
    RETURNING id";

/// Every statement, built once for one way of claiming the event row.
struct Statements {
    record_only: String,
    record_only_as_text: String,
    upsert_user: String,
    delete_user: String,
    upsert_org: String,
    delete_org: String,
    membership: String,
}

impl Statements {
    fn with_head(head: &str, head_as_text: &str) -> Self {
        let with_effect = |effect: &str| {
            format!(
                "WITH ev AS ({head}), {effect}
                 SELECT (SELECT count(*) FROM ev) AS recorded, (SELECT count(*) FROM applied) AS applied"
            )
        };
        let record_only =
            |head: &str| format!("WITH ev AS ({head}) SELECT count(*) AS recorded, 0::bigint AS applied FROM ev");
        Self {
            record_only: record_only(head),
            record_only_as_text: record_only(head_as_text),
            upsert_user: with_effect(UPSERT_USER_EFFECT),
            delete_user: with_effect(DELETE_USER_EFFECT),
            upsert_org: with_effect(UPSERT_ORG_EFFECT),
            delete_org: with_effect(DELETE_ORG_EFFECT),
            membership: with_effect(&membership_effect()),
        }
    }
}

/// New deliveries: insert the event row, `ON CONFLICT (svix_id) DO NOTHING`.
static RECORDING: LazyLock<Statements> = LazyLock::new(|| Statements::with_head(RECORD, RECORD_AS_TEXT));
/// Replays of stored events: update the row that is still failed or received.
static REPLAYING: LazyLock<Statements> = LazyLock::new(|| Statements::with_head(REPLAY, REPLAY));

// $8 clerk_user_id, $9 email, $10 first_name, $11 last_name, $12 image_url, $13 updated_ms
const UPSERT_USER_EFFECT: &str = "applied AS (
            INSERT INTO users AS u (clerk_user_id, email, first_name, last_name, image_url, clerk_updated_ms)
            SELECT $8, $9, $10, $11, $12, $13 FROM ev
            ON CONFLICT (clerk_user_id) DO UPDATE SET
                email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
                image_url = EXCLUDED.image_url, clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
            WHERE u.deleted_at IS NULL
              AND (u.clerk_updated_ms IS NULL OR u.clerk_updated_ms < EXCLUDED.clerk_updated_ms)
            RETURNING 1)";
const UPSERT_USER_TYPES: [Type; 6] = [Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8];

// $8 clerk_user_id, $9 deleted_ms. Deletion is final and scrubs personal data;
// the row stays for the foreign keys. The earliest delete time wins.
const DELETE_USER_EFFECT: &str = "applied AS (
            INSERT INTO users AS u (clerk_user_id, deleted_at)
            SELECT $8, to_timestamp($9 / 1000.0) FROM ev
            ON CONFLICT (clerk_user_id) DO UPDATE SET
                email = NULL, first_name = NULL, last_name = NULL, image_url = NULL,
                deleted_at = EXCLUDED.deleted_at, updated_at = now()
            WHERE u.deleted_at IS NULL OR u.deleted_at > EXCLUDED.deleted_at
            RETURNING 1)";
const DELETE_TYPES: [Type; 2] = [Type::TEXT, Type::INT8];

// $1 clerk_user_id. Runs after DELETE_USER in the same transaction.
const END_USER_MEMBERSHIPS: &str = "UPDATE user_organizations AS m
    SET deleted_at = u.deleted_at, updated_at = now()
    FROM users AS u
    WHERE u.clerk_user_id = $1 AND m.user_id = u.id AND u.deleted_at IS NOT NULL
      AND (m.deleted_at IS NULL OR m.deleted_at > u.deleted_at)";

// $8 clerk_org_id, $9 name, $10 slug, $11 image_url, $12 updated_ms.
// A full organization event wins a tie with the reduced nested copy. A
// deleted organization keeps its name for history, so newer data still
// lands on it (whatever the order the delete arrived in), but deleted_at is
// never cleared: it stays deleted.
const UPSERT_ORG_EFFECT: &str = "applied AS (
            INSERT INTO organization AS o (clerk_org_id, name, slug, image_url, clerk_updated_ms)
            SELECT $8, $9, $10, $11, $12 FROM ev
            ON CONFLICT (clerk_org_id) DO UPDATE SET
                name = EXCLUDED.name, slug = EXCLUDED.slug, image_url = EXCLUDED.image_url,
                clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
            WHERE o.clerk_updated_ms IS NULL OR o.clerk_updated_ms <= EXCLUDED.clerk_updated_ms
            RETURNING 1)";
const UPSERT_ORG_TYPES: [Type; 5] = [Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8];

// $8 clerk_org_id, $9 deleted_ms. Organizations keep their name and slug.
const DELETE_ORG_EFFECT: &str = "applied AS (
            INSERT INTO organization AS o (clerk_org_id, deleted_at)
            SELECT $8, to_timestamp($9 / 1000.0) FROM ev
            ON CONFLICT (clerk_org_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, updated_at = now()
            WHERE o.deleted_at IS NULL OR o.deleted_at > EXCLUDED.deleted_at
            RETURNING 1)";

// $1 clerk_org_id. Runs after DELETE_ORG in the same transaction.
const END_ORG_MEMBERSHIPS: &str = "UPDATE user_organizations AS m
    SET deleted_at = o.deleted_at, updated_at = now()
    FROM organization AS o
    WHERE o.clerk_org_id = $1 AND m.organization_id = o.id AND o.deleted_at IS NOT NULL
      AND (m.deleted_at IS NULL OR m.deleted_at > o.deleted_at)";

// $8 user id, $9-$12 placeholder first/last/image/email,
// $13 org id, $14-$16 name/slug/image, $17 org updated_ms,
// $18 membership id, $19 role, $20 membership clock, $21 removed.
//
// The user and organization upserts always take the row lock (DO UPDATE
// without WHERE) and return the row as committed last, deletion included.
fn membership_effect() -> String {
    String::from(
        "member AS (
            INSERT INTO users AS u (clerk_user_id, first_name, last_name, image_url, email, placeholder_updated_ms)
            SELECT $8, $9, $10, $11, $12, $20 FROM ev
            ON CONFLICT (clerk_user_id) DO UPDATE SET
                first_name = CASE WHEN FILL_PLACEHOLDER THEN EXCLUDED.first_name ELSE u.first_name END,
                last_name = CASE WHEN FILL_PLACEHOLDER THEN EXCLUDED.last_name ELSE u.last_name END,
                image_url = CASE WHEN FILL_PLACEHOLDER THEN EXCLUDED.image_url ELSE u.image_url END,
                email = CASE WHEN FILL_PLACEHOLDER THEN EXCLUDED.email ELSE u.email END,
                placeholder_updated_ms = CASE WHEN FILL_PLACEHOLDER THEN EXCLUDED.placeholder_updated_ms
                                              ELSE u.placeholder_updated_ms END,
                updated_at = CASE WHEN FILL_PLACEHOLDER THEN now() ELSE u.updated_at END
            RETURNING u.id, u.deleted_at),
        org AS (
            INSERT INTO organization AS o (clerk_org_id, name, slug, image_url, clerk_updated_ms)
            SELECT $13, $14, $15, $16, $17 FROM ev
            ON CONFLICT (clerk_org_id) DO UPDATE SET
                name = CASE WHEN NESTED_IS_NEWER THEN EXCLUDED.name ELSE o.name END,
                slug = CASE WHEN NESTED_IS_NEWER THEN EXCLUDED.slug ELSE o.slug END,
                image_url = CASE WHEN NESTED_IS_NEWER THEN EXCLUDED.image_url ELSE o.image_url END,
                clerk_updated_ms = CASE WHEN NESTED_IS_NEWER THEN EXCLUDED.clerk_updated_ms ELSE o.clerk_updated_ms END,
                updated_at = CASE WHEN NESTED_IS_NEWER THEN now() ELSE o.updated_at END
            RETURNING o.id, o.deleted_at),
        incoming AS (
            SELECT member.id AS user_id, org.id AS organization_id,
                   CASE WHEN $21 THEN to_timestamp($20 / 1000.0) END AS removed_at,
                   member.deleted_at AS user_deleted_at, org.deleted_at AS org_deleted_at
            FROM member, org),
        applied AS (
            INSERT INTO user_organizations AS m
                (user_id, organization_id, role, clerk_membership_id, clerk_updated_ms, removed_at, deleted_at)
            SELECT user_id, organization_id, $19, $18, $20, removed_at,
                   LEAST(removed_at, user_deleted_at, org_deleted_at)
            FROM incoming
            ON CONFLICT (user_id, organization_id) DO UPDATE SET
                role = EXCLUDED.role, clerk_membership_id = EXCLUDED.clerk_membership_id,
                clerk_updated_ms = EXCLUDED.clerk_updated_ms, removed_at = EXCLUDED.removed_at,
                deleted_at = EXCLUDED.deleted_at, updated_at = now()
            WHERE m.clerk_updated_ms < EXCLUDED.clerk_updated_ms
               OR (m.clerk_updated_ms = EXCLUDED.clerk_updated_ms
                   AND EXCLUDED.removed_at IS NOT NULL AND m.removed_at IS NULL)
            RETURNING 1)",
    )
    // A placeholder fills a user row only while no real user event has
    // arrived, and only with newer membership data.
    .replace(
        "FILL_PLACEHOLDER",
        "(u.clerk_updated_ms IS NULL AND u.deleted_at IS NULL \
         AND coalesce(u.placeholder_updated_ms, -1) < EXCLUDED.placeholder_updated_ms)",
    )
    // The nested organization is real data for the fields it carries:
    // applied when strictly newer (a full event wins ties).
    .replace("NESTED_IS_NEWER", "(coalesce(o.clerk_updated_ms, -1) < EXCLUDED.clerk_updated_ms)")
}
const MEMBERSHIP_TYPES: [Type; 14] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::BOOL,
];

fn types(extra: &[Type]) -> Vec<Type> {
    RECORD_TYPES.iter().chain(extra).cloned().collect()
}

/// Records `event` and carries out `plan`, returning what happened.
///
/// `Err` means the database could not do its part (unreachable, timed out,
/// schema missing): nothing was committed and the caller answers 503 so that
/// Svix retries. Data PostgreSQL refuses is recorded as `failed` instead.
pub async fn deliver(client: &Client, event: &EventRecord<'_>, plan: &Plan) -> Result<Outcome, DbError> {
    deliver_with(client, &RECORDING, event, plan).await
}

/// Carries out `plan` for an event recorded earlier that is still `failed`
/// (or `received`), through the same statements as a delivery; `Duplicate`
/// when it no longer needs processing. Its status and attempts are updated.
pub async fn redeliver(client: &Client, event: &EventRecord<'_>, plan: &Plan) -> Result<Outcome, DbError> {
    deliver_with(client, &REPLAYING, event, plan).await
}

async fn deliver_with(
    client: &Client,
    statements: &Statements,
    event: &EventRecord<'_>,
    plan: &Plan,
) -> Result<Outcome, DbError> {
    match deliver_once(client, statements, event, plan, false).await {
        Err(e) if e.is_data_exception() => {
            let reason = match e.sql_state() {
                Some(state) => format!("PostgreSQL refused the data (SQLSTATE {})", state.code()),
                None => "PostgreSQL refused the data".to_string(),
            };
            tracing::error!(svix_id = %event.svix_id, event_type = event.event_type, %reason, "event recorded as failed");
            let failed = Plan::Fail(reason);
            match deliver_once(client, statements, event, &failed, false).await {
                Err(e) if e.is_data_exception() => deliver_once(client, statements, event, &failed, true).await,
                other => other,
            }
        }
        other => other,
    }
}

async fn deliver_once(
    client: &Client,
    statements: &Statements,
    event: &EventRecord<'_>,
    plan: &Plan,
    payload_as_text: bool,
) -> Result<Outcome, DbError> {
    let (status, error) = match plan {
        Plan::Apply(_) => ("processed", None),
        Plan::Ignore => ("ignored", None),
        Plan::Fail(reason) => ("failed", Some(reason.as_str())),
    };
    let record: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
        &event.svix_id.as_str(),
        &event.event_type,
        &event.object_id,
        &event.event_timestamp,
        &event.payload,
        &status,
        &error,
    ];
    let change = match plan {
        Plan::Apply(change) => change,
        Plan::Ignore | Plan::Fail(_) => {
            let sql = if payload_as_text { &statements.record_only_as_text } else { &statements.record_only };
            let stmt = prepare(client, sql, &RECORD_TYPES).await?;
            let row = client.query_one(&stmt, &record).await?;
            return Ok(if recorded(&row) {
                match plan {
                    Plan::Fail(reason) => Outcome::Failed(reason.clone()),
                    _ => Outcome::Ignored,
                }
            } else {
                Outcome::Duplicate
            });
        }
    };

    let row = match change {
        Change::UpsertUser(user) => upsert_user(client, &statements.upsert_user, &record, user).await?,
        Change::DeleteUser { id, deleted_ms } => {
            let sql = &statements.delete_user;
            delete_with_cascade(client, &record, sql, END_USER_MEMBERSHIPS, id.as_str(), *deleted_ms).await?
        }
        Change::UpsertOrg(org) => upsert_org(client, &statements.upsert_org, &record, org).await?,
        Change::DeleteOrg { id, deleted_ms } => {
            let sql = &statements.delete_org;
            delete_with_cascade(client, &record, sql, END_ORG_MEMBERSHIPS, id.as_str(), *deleted_ms).await?
        }
        Change::Membership(membership) => apply_membership(client, &statements.membership, &record, membership).await?,
    };
    Ok(match (recorded(&row), row.get::<_, i64>("applied") > 0) {
        (false, _) => Outcome::Duplicate,
        (true, true) => Outcome::Processed,
        (true, false) => Outcome::Stale,
    })
}

fn recorded(row: &Row) -> bool {
    row.get::<_, i64>("recorded") > 0
}

async fn prepare(client: &Client, sql: &str, types: &[Type]) -> Result<Statement, DbError> {
    Ok(client.prepare_typed_cached(sql, types).await?)
}

type Params<'a> = [&'a (dyn tokio_postgres::types::ToSql + Sync)];

async fn upsert_user(client: &Client, sql: &str, record: &Params<'_>, user: &UserRecord) -> Result<Row, DbError> {
    let stmt = prepare(client, sql, &types(&UPSERT_USER_TYPES)).await?;
    let id = user.id.as_str();
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = record.to_vec();
    params.extend_from_slice(&[&id, &user.email, &user.first_name, &user.last_name, &user.image_url, &user.updated_ms]);
    Ok(client.query_one(&stmt, &params).await?)
}

async fn upsert_org(client: &Client, sql: &str, record: &Params<'_>, org: &OrgRecord) -> Result<Row, DbError> {
    let stmt = prepare(client, sql, &types(&UPSERT_ORG_TYPES)).await?;
    let id = org.id.as_str();
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = record.to_vec();
    params.extend_from_slice(&[&id, &org.name, &org.slug, &org.image_url, &org.updated_ms]);
    Ok(client.query_one(&stmt, &params).await?)
}

async fn apply_membership(
    client: &Client,
    sql: &str,
    record: &Params<'_>,
    m: &MembershipRecord,
) -> Result<Row, DbError> {
    let stmt = prepare(client, sql, &types(&MEMBERSHIP_TYPES)).await?;
    let (user_id, org_id, membership_id) = (m.member.user_id.as_str(), m.organization.id.as_str(), m.id.as_str());
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = record.to_vec();
    params.extend_from_slice(&[
        &user_id,
        &m.member.first_name,
        &m.member.last_name,
        &m.member.image_url,
        &m.member.email,
        &org_id,
        &m.organization.name,
        &m.organization.slug,
        &m.organization.image_url,
        &m.organization.updated_ms,
        &membership_id,
        &m.role,
        &m.event_ms,
        &m.removed,
    ]);
    Ok(client.query_one(&stmt, &params).await?)
}

/// A delete and the end of the memberships hanging from it, in one
/// transaction whose four messages are sent together (one round trip).
async fn delete_with_cascade(
    client: &Client,
    record: &Params<'_>,
    delete_sql: &str,
    cascade_sql: &str,
    clerk_id: &str,
    deleted_ms: i64,
) -> Result<Row, DbError> {
    let delete_types = types(&DELETE_TYPES);
    let (delete, cascade) =
        tokio::try_join!(prepare(client, delete_sql, &delete_types), prepare(client, cascade_sql, &[Type::TEXT]),)?;
    let cascade_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&clerk_id];
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = record.to_vec();
    params.extend_from_slice(&[&clerk_id, &deleted_ms]);
    // Sent in order on one connection; the server runs them one after the
    // other, so the cascade's snapshot is taken after the delete holds its
    // row lock. If any fails, COMMIT becomes a rollback.
    let result = tokio::try_join!(
        client.batch_execute("BEGIN"),
        client.query_one(&delete, &params),
        client.execute(&cascade, &cascade_params),
        client.batch_execute("COMMIT"),
    );
    match result {
        Ok((_, row, _, _)) => Ok(row),
        Err(e) => {
            // try_join stops at the first error: COMMIT may not have been
            // sent. Never hand a connection back inside a transaction.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e.into())
        }
    }
}
