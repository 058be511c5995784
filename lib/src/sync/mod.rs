//! Records an event and applies it, in one transaction and (in steady
//! state) one round trip.
//!
//! Each upsert is a single statement: the effect runs only while the event
//! is not yet recorded for its family, then a CTE records it (`INSERT … ON
//! CONFLICT (svix_id, family) DO NOTHING`) as `processed`, or `stale` when
//! the effect changed nothing. A redelivery changes nothing. A single
//! statement is its own transaction: one commit per event.
//!
//! Convergence comes from clocks kept on each row, not from arrival order:
//! - users and organizations apply `data.updated_at` only when newer;
//! - deletes are final, and the earliest delete time wins; a deleted user is
//!   scrubbed of personal data and stays so, a deleted organization keeps
//!   (and still converges) its name, slug and image;
//! - a membership applies its own clock (`updated_at`, or the envelope
//!   timestamp of a removal; removal wins a tie), a removed membership id
//!   is never reactivated (only a new id is), and its effective end is
//!   the earliest of its own removal and its user's or organization's
//!   deletion, so it is the same whichever arrives first;
//! - placeholder users (made from `public_user_data`) have their own clock
//!   and yield to any real user event.
//!
//! Deletes run two statements pipelined in one transaction (still one round
//! trip): the second, ending the memberships, must start after the first
//! holds the row lock so that it sees memberships committed concurrently.

pub mod overview;
pub mod prune;
pub mod replay;

use std::sync::LazyLock;

use deadpool_postgres::Client;
use tokio_postgres::{types::Type, Row, Statement};

use crate::{
    clerk::{Change, Family, MembershipRecord, OrgChange, OrgRecord, Plan, UserChange, UserRecord},
    db::DbError,
    ids::SvixId,
};

/// What a delivery did; the `status` of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded and applied.
    Processed,
    /// This `svix-id` was recorded before for this family: nothing changed.
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
    /// Which family recorded it: with `svix_id`, the idempotency key
    /// (see [`crate::clerk::recording_family`]).
    pub family: Family,
    pub event_type: &'a str,
    pub object_id: Option<&'a str>,
    pub event_timestamp: Option<i64>,
    /// The body exactly as received (valid UTF-8 JSON).
    pub payload: &'a str,
}

/// Parameters `$1`–`$8` of every recording statement: the event row.
const RECORD_TYPES: [Type; 8] =
    [Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT];

/// Records the event with `status`; yields one row when it was new for its
/// family. `payload` is how `$5` becomes jsonb.
fn insert_event(status: &str, payload: &str) -> String {
    format!(
        "INSERT INTO clerk_webhook_events
            (svix_id, family, event_type, clerk_object_id, event_timestamp, payload, status, last_error, processed_at)
        VALUES ($1, $8, $2, $3, $4, {payload}, {status}, $7, now())
        ON CONFLICT (svix_id, family) DO NOTHING
        RETURNING id"
    )
}

/// Replays a stored event: claims it if it still needs processing (so a
/// replay racing another changes nothing twice) and counts the attempt.
/// Takes the same parameters as a delivery; the payload stays as stored.
fn update_event(status: &str) -> String {
    format!(
        "UPDATE clerk_webhook_events
        SET status = {status}, last_error = $7, attempts = attempts + 1, processed_at = now()
        WHERE svix_id = $1 AND family = $8 AND status IN ('received', 'failed')
        RETURNING id"
    )
}

/// `$6` when the effect changed something, `stale` when it changed nothing.
const STATUS_AFTER_EFFECT: &str = "CASE WHEN EXISTS (SELECT FROM applied) THEN $6 ELSE 'stale' END";

/// Every statement, built once for one way of claiming the event row.
///
/// An effect runs only while its event is unclaimed (`fresh`) and the event
/// row is written after it, so that it can say `stale` when the effect
/// changed nothing. Two deliveries of one message racing may both run the
/// effect: the rules make the second a no-op, and the event row's unique
/// key lets only one of them claim it.
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
    fn new(fresh: &str, claim: fn(&str) -> String, claim_as_text: fn(&str) -> String) -> Self {
        let claim_after_effect = claim(STATUS_AFTER_EFFECT);
        let with_effect = |effect: &str| {
            format!(
                "WITH fresh AS ({fresh}), {effect}, ev AS ({claim_after_effect})
                 SELECT (SELECT count(*) FROM ev) AS recorded, (SELECT count(*) FROM applied) AS applied"
            )
        };
        let record_only =
            |claim: String| format!("WITH ev AS ({claim}) SELECT count(*) AS recorded, 0::bigint AS applied FROM ev");
        Self {
            record_only: record_only(claim("$6")),
            record_only_as_text: record_only(claim_as_text("$6")),
            upsert_user: with_effect(UPSERT_USER_EFFECT),
            delete_user: with_effect(DELETE_USER_EFFECT),
            upsert_org: with_effect(UPSERT_ORG_EFFECT),
            delete_org: with_effect(DELETE_ORG_EFFECT),
            membership: with_effect(&membership_effect()),
        }
    }
}

/// New deliveries: the event row is inserted, once per message and family.
static RECORDING: LazyLock<Statements> = LazyLock::new(|| {
    Statements::new(
        "SELECT WHERE NOT EXISTS (SELECT FROM clerk_webhook_events WHERE svix_id = $1 AND family = $8)",
        |status| insert_event(status, "$5::jsonb"),
        // A body PostgreSQL refuses as jsonb (e.g. a `\u0000` escape): the
        // raw text is kept as a JSON string so nothing is lost.
        |status| insert_event(status, "to_jsonb($5)"),
    )
});
/// Replays of stored events: the row still failed or received is updated.
static REPLAYING: LazyLock<Statements> = LazyLock::new(|| {
    Statements::new(
        "SELECT FROM clerk_webhook_events WHERE svix_id = $1 AND family = $8 AND status IN ('received', 'failed')",
        update_event,
        update_event,
    )
});

// $9 clerk_user_id, $10 email, $11 first_name, $12 last_name, $13 image_url, $14 updated_ms
const UPSERT_USER_EFFECT: &str = "applied AS (
            INSERT INTO users AS u (clerk_user_id, email, first_name, last_name, image_url, clerk_updated_ms)
            SELECT $9, $10, $11, $12, $13, $14 FROM fresh
            ON CONFLICT (clerk_user_id) DO UPDATE SET
                email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
                image_url = EXCLUDED.image_url, clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
            WHERE u.deleted_at IS NULL
              AND (u.clerk_updated_ms IS NULL OR u.clerk_updated_ms < EXCLUDED.clerk_updated_ms)
            RETURNING 1)";
const UPSERT_USER_TYPES: [Type; 6] = [Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8];

// $9 clerk_user_id, $10 deleted_ms. Deletion is final and scrubs personal data;
// the row stays for the foreign keys. The earliest delete time wins.
const DELETE_USER_EFFECT: &str = "applied AS (
            INSERT INTO users AS u (clerk_user_id, deleted_at)
            SELECT $9, to_timestamp($10 / 1000.0) FROM fresh
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

// $9 clerk_org_id, $10 name, $11 slug, $12 image_url, $13 updated_ms.
// A full organization event wins a tie with the reduced nested copy. A
// deleted organization keeps its name for history, so newer data still
// lands on it (whatever the order the delete arrived in), but deleted_at is
// never cleared: it stays deleted.
const UPSERT_ORG_EFFECT: &str = "applied AS (
            INSERT INTO organization AS o (clerk_org_id, name, slug, image_url, clerk_updated_ms)
            SELECT $9, $10, $11, $12, $13 FROM fresh
            ON CONFLICT (clerk_org_id) DO UPDATE SET
                name = EXCLUDED.name, slug = EXCLUDED.slug, image_url = EXCLUDED.image_url,
                clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
            WHERE o.clerk_updated_ms IS NULL OR o.clerk_updated_ms <= EXCLUDED.clerk_updated_ms
            RETURNING 1)";
const UPSERT_ORG_TYPES: [Type; 5] = [Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8];

// $9 clerk_org_id, $10 deleted_ms. Organizations keep their name and slug.
const DELETE_ORG_EFFECT: &str = "applied AS (
            INSERT INTO organization AS o (clerk_org_id, deleted_at)
            SELECT $9, to_timestamp($10 / 1000.0) FROM fresh
            ON CONFLICT (clerk_org_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, updated_at = now()
            WHERE o.deleted_at IS NULL OR o.deleted_at > EXCLUDED.deleted_at
            RETURNING 1)";

// $1 clerk_org_id. Runs after DELETE_ORG in the same transaction.
const END_ORG_MEMBERSHIPS: &str = "UPDATE user_organizations AS m
    SET deleted_at = o.deleted_at, updated_at = now()
    FROM organization AS o
    WHERE o.clerk_org_id = $1 AND m.organization_id = o.id AND o.deleted_at IS NOT NULL
      AND (m.deleted_at IS NULL OR m.deleted_at > o.deleted_at)";

// $9 user id, $10-$13 placeholder first/last/image/email,
// $14 org id, $15-$17 name/slug/image, $18 org updated_ms,
// $19 membership id, $20 role, $21 membership clock, $22 removed.
//
// The pair's row keeps what it has seen of each membership id
// (`membership_history`, see migration 0004): a removal is final for its
// id, so a late update of a removed membership never brings it back, and
// only another membership id (Clerk's re-add) can.
//
// The user and organization upserts always take the row lock (DO UPDATE
// without WHERE) and return the row as committed last, deletion included.
fn membership_effect() -> String {
    String::from(
        "member AS (
            INSERT INTO users AS u (clerk_user_id, first_name, last_name, image_url, email, placeholder_updated_ms)
            SELECT $9, $10, $11, $12, $13, $21 FROM fresh
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
            SELECT $14, $15, $16, $17, $18 FROM fresh
            ON CONFLICT (clerk_org_id) DO UPDATE SET
                name = CASE WHEN NESTED_IS_NEWER THEN EXCLUDED.name ELSE o.name END,
                slug = CASE WHEN NESTED_IS_NEWER THEN EXCLUDED.slug ELSE o.slug END,
                image_url = CASE WHEN NESTED_IS_NEWER THEN EXCLUDED.image_url ELSE o.image_url END,
                clerk_updated_ms = CASE WHEN NESTED_IS_NEWER THEN EXCLUDED.clerk_updated_ms ELSE o.clerk_updated_ms END,
                updated_at = CASE WHEN NESTED_IS_NEWER THEN now() ELSE o.updated_at END
            RETURNING o.id, o.deleted_at),
        incoming AS (
            SELECT member.id AS user_id, org.id AS organization_id,
                   CASE WHEN $22 THEN to_timestamp($21 / 1000.0) END AS removed_at,
                   member.deleted_at AS user_deleted_at, org.deleted_at AS org_deleted_at
            FROM member, org),
        merged AS (
            INSERT INTO user_organizations AS m
                (user_id, organization_id, role, clerk_membership_id, clerk_updated_ms, removed_at, deleted_at,
                 membership_history)
            SELECT user_id, organization_id, $20, $19, $21, removed_at,
                   LEAST(removed_at, user_deleted_at, org_deleted_at),
                   clerk_sync_membership_merge('{}', $19, $21, $20, $22)
            FROM incoming
            ON CONFLICT (user_id, organization_id) DO UPDATE SET
                (membership_history, clerk_membership_id, clerk_updated_ms, role, removed_at, deleted_at, updated_at) = (
                    SELECT h.history, c.membership_id, c.clock_ms, c.member_role, r.removed_at, r.deleted_at,
                           CASE WHEN (c.membership_id, c.clock_ms, c.member_role, r.removed_at, r.deleted_at)
                                     IS NOT DISTINCT FROM
                                     (m.clerk_membership_id, m.clerk_updated_ms, m.role, m.removed_at, m.deleted_at)
                                THEN m.updated_at ELSE now() END
                    FROM (SELECT clerk_sync_membership_merge(m.membership_history, $19, $21, $20, $22) AS history) AS h,
                         LATERAL clerk_sync_membership_current(h.history) AS c,
                         LATERAL (SELECT CASE WHEN c.removed THEN to_timestamp(c.clock_ms / 1000.0) END AS removed_at) AS e,
                         LATERAL (SELECT e.removed_at, LEAST(e.removed_at, i.user_deleted_at, i.org_deleted_at) AS deleted_at
                                  FROM incoming AS i) AS r)
            -- The row is written only when the event adds to what is known
            -- of the pair's memberships.
            WHERE m.membership_history
                  IS DISTINCT FROM clerk_sync_membership_merge(m.membership_history, $19, $21, $20, $22)
            -- updated_at moves only when what the row shows changed.
            RETURNING m.updated_at = now() AS changed),
        -- Applied when what the row shows changed; an event that only adds
        -- to the history (a removal of an id already superseded) is stale.
        applied AS (SELECT FROM merged WHERE changed)",
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
    let record: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        &event.svix_id.as_str(),
        &event.event_type,
        &event.object_id,
        &event.event_timestamp,
        &event.payload,
        &status,
        &error,
        &event.family.name(),
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
        Change::Users(UserChange::Upsert(user)) => upsert_user(client, &statements.upsert_user, &record, user).await?,
        Change::Users(UserChange::Delete { id, deleted_ms }) => {
            let sql = &statements.delete_user;
            delete_with_cascade(client, &record, sql, END_USER_MEMBERSHIPS, id.as_str(), *deleted_ms).await?
        }
        Change::Organizations(OrgChange::Upsert(org)) => {
            upsert_org(client, &statements.upsert_org, &record, org).await?
        }
        Change::Organizations(OrgChange::Delete { id, deleted_ms }) => {
            let sql = &statements.delete_org;
            delete_with_cascade(client, &record, sql, END_ORG_MEMBERSHIPS, id.as_str(), *deleted_ms).await?
        }
        Change::Memberships(membership) => {
            apply_membership(client, &statements.membership, &record, membership).await?
        }
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
