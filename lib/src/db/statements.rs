//! Statement helpers every store uses: typed, per-connection cached
//! preparation, and transactions whose `BEGIN`/`COMMIT` travel in the same
//! flight as their statements.

use std::future::Future;

use deadpool_postgres::Client;
use tokio_postgres::{types::Type, Error, Statement};

/// Prepares `sql` with its parameter types, once per connection.
pub async fn prepare(client: &Client, sql: &str, types: &[Type]) -> Result<Statement, Error> {
    client.prepare_typed_cached(sql, types).await
}

/// Ends a failed transaction. `try_join!` stops at the first error, so the
/// `COMMIT` may never have been sent: a connection never goes back to the
/// pool inside a transaction.
pub async fn rollback(client: &Client) {
    let _ = client.batch_execute("ROLLBACK").await;
}

/// `BEGIN`, the statements of `work` and `COMMIT`, sent together: one round
/// trip. The server runs them in order, so each statement's snapshot is
/// taken after the previous one's locks are held. Rolled back on failure.
pub async fn transaction<T>(client: &Client, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let result = tokio::try_join!(client.batch_execute("BEGIN"), work, client.batch_execute("COMMIT"));
    match result {
        Ok((_, value, _)) => Ok(value),
        Err(e) => {
            rollback(client).await;
            Err(e)
        }
    }
}

/// The first half of a transaction that needs an answer before it can go
/// on: `BEGIN` and the statements of `work` in one flight. Rolled back on
/// failure; otherwise the transaction stays open for [`commit_with`].
pub async fn begin_with<T>(client: &Client, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    match tokio::try_join!(client.batch_execute("BEGIN"), work) {
        Ok((_, value)) => Ok(value),
        Err(e) => {
            rollback(client).await;
            Err(e)
        }
    }
}

/// The last half: the statements of `work` and `COMMIT` in one flight.
/// Rolled back on failure.
pub async fn commit_with<T>(client: &Client, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    match tokio::try_join!(work, client.batch_execute("COMMIT")) {
        Ok((value, _)) => Ok(value),
        Err(e) => {
            rollback(client).await;
            Err(e)
        }
    }
}
