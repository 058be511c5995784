//! Statement helpers every store uses: typed statements, prepared once per
//! connection where the connection is a session of its own, unnamed where
//! a transaction pooler stands between (see [`Pooler`]; the event path's as
//! calls of their server-side routines); and transactions
//! whose `BEGIN`/`COMMIT` travel in the same flight as their statements.

use std::{borrow::Cow, future::Future};

use futures_util::TryStreamExt;

use tokio_postgres::{
    types::{ToSql, Type},
    Error, Row, Statement,
};

use super::{
    pool::{Client, Connection, Pooler},
    routines::Routine,
};

/// A statement ready to run on one connection.
pub enum Prepared {
    /// Parsed by the server once, cached by the connection.
    Named(Statement),
    /// Sent whole with every execution (parse, bind and execute in one
    /// flight): nothing of it outlives the transaction, as a transaction
    /// pooler needs.
    Unnamed { sql: Cow<'static, str>, types: Cow<'static, [Type]> },
}

/// Prepares `sql` with its parameter types: once per connection on a
/// session of its own; without a round trip through a transaction pooler.
pub async fn prepare(client: &Client, sql: &str, types: &[Type]) -> Result<Prepared, Error> {
    match client.pooler() {
        Pooler::None => client.wrapper().prepare_typed_cached(sql, types).await.map(Prepared::Named),
        Pooler::Transaction => Ok(Prepared::Unnamed { sql: sql.to_owned().into(), types: types.to_vec().into() }),
    }
}

/// Prepares a statement of the event path: the statement itself, once per
/// connection, on a session of its own; through a transaction pooler, the
/// call of its server-side routine, which caches the statement's plan per
/// server session ([`super::routines`]).
pub async fn prepare_routine(client: &Client, routine: &'static Routine) -> Result<Prepared, Error> {
    match client.pooler() {
        Pooler::None => {
            client.wrapper().prepare_typed_cached(routine.sql(), routine.types()).await.map(Prepared::Named)
        }
        Pooler::Transaction => {
            Ok(Prepared::Unnamed { sql: Cow::Borrowed(routine.call()), types: Cow::Borrowed(routine.types()) })
        }
    }
}

/// What [`Connection`]'s query methods run: a [`Prepared`] statement, or
/// SQL text (without parameters where a transaction pooler stands between:
/// their types are unknown, so such text must be prepared first).
pub trait Query: Sync {
    #[doc(hidden)]
    fn form(&self) -> Form<'_>;
}

#[doc(hidden)]
pub enum Form<'a> {
    Named(&'a Statement),
    Text(&'a str, &'a [Type]),
}

impl Query for Prepared {
    fn form(&self) -> Form<'_> {
        match self {
            Prepared::Named(statement) => Form::Named(statement),
            Prepared::Unnamed { sql, types } => Form::Text(sql, types),
        }
    }
}

impl Query for Statement {
    fn form(&self) -> Form<'_> {
        Form::Named(self)
    }
}

/// SQL text with its parameter types, unprepared: for statements run
/// once in a while, not worth a place in the connection's cache.
impl Query for (&str, &[Type]) {
    fn form(&self) -> Form<'_> {
        Form::Text(self.0, self.1)
    }
}

impl Query for str {
    fn form(&self) -> Form<'_> {
        Form::Text(self, &[])
    }
}

impl Query for String {
    fn form(&self) -> Form<'_> {
        Form::Text(self, &[])
    }
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// These methods shadow tokio-postgres's own, so every statement of the
/// crate travels as the connection's pooler allows; through a transaction
/// pooler, one sent outside a transaction brings its own (`BEGIN` with the
/// timeouts, the statement, `COMMIT`, in one flight), so that no statement
/// runs without the timeouts.
impl Connection {
    /// Rows of `statement`.
    pub async fn query<Q: Query + ?Sized>(&self, statement: &Q, params: Params<'_>) -> Result<Vec<Row>, Error> {
        self.in_a_transaction(self.query_here(statement, params)).await
    }

    /// The one row of `statement`; an error for none or several.
    pub async fn query_one<Q: Query + ?Sized>(&self, statement: &Q, params: Params<'_>) -> Result<Row, Error> {
        self.in_a_transaction(self.query_one_here(statement, params)).await
    }

    /// The row of `statement`, if any; an error for several.
    pub async fn query_opt<Q: Query + ?Sized>(&self, statement: &Q, params: Params<'_>) -> Result<Option<Row>, Error> {
        self.in_a_transaction(self.query_opt_here(statement, params)).await
    }

    /// Rows affected.
    pub async fn execute<Q: Query + ?Sized>(&self, statement: &Q, params: Params<'_>) -> Result<u64, Error> {
        self.in_a_transaction(self.execute_here(statement, params)).await
    }

    /// `work`, inside the transaction open if any; otherwise, where the
    /// timeouts need one, inside a transaction of its own.
    async fn in_a_transaction<T>(&self, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        if self.needs_own_transaction() {
            transaction(self, work).await
        } else {
            work.await
        }
    }

    // The statement methods' bodies: the statement sent as it is.

    async fn query_here<Q: Query + ?Sized>(&self, statement: &Q, params: Params<'_>) -> Result<Vec<Row>, Error> {
        match statement.form() {
            Form::Named(named) => self.wrapper().query(named, params).await,
            Form::Text(sql, types) if self.pooler() == Pooler::Transaction => {
                self.wrapper().query_typed(sql, &typed(sql, params, types)).await
            }
            Form::Text(sql, _) => self.wrapper().query(sql, params).await,
        }
    }

    async fn query_one_here<Q: Query + ?Sized>(&self, statement: &Q, params: Params<'_>) -> Result<Row, Error> {
        match statement.form() {
            Form::Named(named) => self.wrapper().query_one(named, params).await,
            Form::Text(sql, types) if self.pooler() == Pooler::Transaction => {
                self.wrapper().query_typed_one(sql, &typed(sql, params, types)).await
            }
            Form::Text(sql, _) => self.wrapper().query_one(sql, params).await,
        }
    }

    async fn query_opt_here<Q: Query + ?Sized>(&self, statement: &Q, params: Params<'_>) -> Result<Option<Row>, Error> {
        match statement.form() {
            Form::Named(named) => self.wrapper().query_opt(named, params).await,
            Form::Text(sql, types) if self.pooler() == Pooler::Transaction => {
                self.wrapper().query_typed_opt(sql, &typed(sql, params, types)).await
            }
            Form::Text(sql, _) => self.wrapper().query_opt(sql, params).await,
        }
    }

    async fn execute_here<Q: Query + ?Sized>(&self, statement: &Q, params: Params<'_>) -> Result<u64, Error> {
        match statement.form() {
            Form::Named(named) => self.wrapper().execute(named, params).await,
            Form::Text(sql, types) if self.pooler() == Pooler::Transaction => {
                let rows = self.wrapper().query_typed_raw(sql, typed(sql, params, types)).await?;
                futures_util::pin_mut!(rows);
                while rows.try_next().await?.is_some() {}
                Ok(rows.rows_affected().unwrap_or(0))
            }
            Form::Text(sql, _) => self.wrapper().execute(sql, params).await,
        }
    }
}

/// The parameters with their declared types, as an unnamed statement
/// sends them. SQL text without types may have no parameters.
fn typed<'a>(sql: &str, params: Params<'a>, types: &[Type]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    debug_assert_eq!(types.len(), params.len(), "prepare statements with parameters first: {sql}");
    params.iter().zip(types).map(|(param, ty)| (*param, ty.clone())).collect()
}

/// Ends a failed transaction. `try_join!` stops at the first error, so the
/// `COMMIT` may never have been sent: a connection never goes back to the
/// pool inside a transaction.
pub async fn rollback(client: &Connection) {
    client.mark_transaction(false);
    let _ = client.batch_execute("ROLLBACK").await;
}

/// Opens a transaction: `BEGIN`, and through a transaction pooler the
/// timeouts as `SET LOCAL`, in one message. Statements sent after it (in
/// the same flight or later) join it until [`commit`] or [`rollback`].
pub async fn begin(client: &Connection) -> Result<(), Error> {
    client.mark_transaction(true);
    client.batch_execute(client.begin_sql()).await
}

/// Commits the transaction [`begin`] opened.
pub async fn commit(client: &Connection) -> Result<(), Error> {
    client.mark_transaction(false);
    client.batch_execute("COMMIT").await
}

/// `BEGIN`, the statements of `work` and `COMMIT`, sent together: one round
/// trip. The server runs them in order, so each statement's snapshot is
/// taken after the previous one's locks are held. Rolled back on failure.
pub async fn transaction<T>(client: &Connection, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let result = tokio::try_join!(begin(client), work, commit(client));
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
pub async fn begin_with<T>(client: &Connection, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    match tokio::try_join!(begin(client), work) {
        Ok((_, value)) => Ok(value),
        Err(e) => {
            rollback(client).await;
            Err(e)
        }
    }
}

/// The last half: the statements of `work` and `COMMIT` in one flight.
/// Rolled back on failure.
pub async fn commit_with<T>(client: &Connection, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    match tokio::try_join!(work, commit(client)) {
        Ok((value, _)) => Ok(value),
        Err(e) => {
            rollback(client).await;
            Err(e)
        }
    }
}
