//! Records an event and applies it: one statement, or for a delete of a
//! user or organization and a role upsert two statements in one pipelined
//! transaction, so one round trip either way.

use crate::db::Client;
use tokio_postgres::Row;

use super::{
    domains,
    event::EventRecord,
    invitations, memberships, organizations,
    outcome::Outcome,
    roles,
    statements::{Statements, DELIVERING, REPLAYING},
    users,
};
use crate::{
    clerk::{Change, Plan},
    db::{statements::prepare_routine, DbError},
};

/// Records `event` and carries out `plan`, returning what happened.
///
/// `Err` means the database could not do its part (unreachable, timed out,
/// schema missing): nothing was committed and the caller answers 503 so that
/// Svix retries. Data PostgreSQL refuses is recorded as `failed` instead.
pub async fn deliver(client: &Client, event: &EventRecord<'_>, plan: &Plan) -> Result<Outcome, DbError> {
    deliver_with(client, &DELIVERING, event, plan).await
}

/// Carries out `plan` for an event recorded earlier that is still `failed`
/// (or `received`), through the same statements as a delivery; `Duplicate`
/// when it no longer needs processing. Its status and attempts are updated.
pub async fn redeliver(client: &Client, event: &EventRecord<'_>, plan: &Plan) -> Result<Outcome, DbError> {
    deliver_with(client, &REPLAYING, event, plan).await
}

async fn deliver_with(
    client: &Client,
    statements: &'static Statements,
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
    statements: &'static Statements,
    event: &EventRecord<'_>,
    plan: &Plan,
    payload_as_text: bool,
) -> Result<Outcome, DbError> {
    let (status, error) = match plan {
        Plan::Apply(_) => ("processed", None),
        Plan::Ignore => ("ignored", None),
        Plan::Fail(reason) => ("failed", Some(reason.as_str())),
    };
    let family = event.family.name();
    let record: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        &event.svix_id.as_str(),
        &event.event_type,
        &event.object_id,
        &event.event_timestamp,
        &event.payload,
        &status,
        &error,
        &family,
    ];
    let row = match plan {
        Plan::Apply(Change::Users(change)) => users::apply(client, statements, &record, change).await?,
        Plan::Apply(Change::Organizations(change)) => organizations::apply(client, statements, &record, change).await?,
        Plan::Apply(Change::Memberships(change)) => memberships::apply(client, statements, &record, change).await?,
        Plan::Apply(Change::Invitations(change)) => invitations::apply(client, statements, &record, change).await?,
        Plan::Apply(Change::Domains(change)) => domains::apply(client, statements, &record, change).await?,
        Plan::Apply(Change::Roles(change)) => roles::apply(client, statements, &record, change).await?,
        Plan::Ignore | Plan::Fail(_) => {
            let routine = if payload_as_text { &statements.record_only_as_text } else { &statements.record_only };
            let stmt = prepare_routine(client, routine).await?;
            let row = client.query_one(&stmt, &record).await?;
            return Ok(match (recorded(&row), plan) {
                (false, _) => Outcome::Duplicate,
                (true, Plan::Fail(reason)) => Outcome::Failed(reason.clone()),
                (true, _) => Outcome::Ignored,
            });
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
