//! Deletes: of users and organizations, the delete and the end of the
//! memberships hanging from it, in one pipelined transaction; of domains,
//! roles and permissions, the delete alone.

use crate::db::Client;
use tokio_postgres::{Error, Row};

use super::event::Params;
use crate::db::{
    routines::Routine,
    statements::{prepare_routine, transaction},
};

/// A delete and the end of the memberships hanging from it, in one
/// pipelined transaction: the second statement starts after the first holds
/// its row lock, so it sees memberships committed concurrently.
pub(super) async fn delete_and_end_memberships(
    client: &Client,
    event: &Params<'_>,
    delete: &'static Routine,
    end: &'static Routine,
    clerk_id: &str,
    deleted_ms: i64,
) -> Result<Row, Error> {
    let (delete, end) = tokio::try_join!(prepare_routine(client, delete), prepare_routine(client, end))?;
    let mut params = event.to_vec();
    params.extend_from_slice(&[&clerk_id, &deleted_ms]);
    let end_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&clerk_id];
    transaction(client, async {
        let (row, _) = tokio::try_join!(client.query_one(&delete, &params), client.execute(&end, &end_params))?;
        Ok(row)
    })
    .await
}

/// A delete nothing hangs from (domains, roles, permissions): one statement
/// that leaves a deleted row (a tombstone when it is the first event of its
/// object), the earliest delete time winning.
pub(super) async fn delete(
    client: &Client,
    event: &Params<'_>,
    routine: &'static Routine,
    clerk_id: &str,
    deleted_ms: i64,
) -> Result<Row, Error> {
    let stmt = prepare_routine(client, routine).await?;
    let mut params = event.to_vec();
    params.extend_from_slice(&[&clerk_id, &deleted_ms]);
    client.query_one(&stmt, &params).await
}
