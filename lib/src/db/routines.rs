//! Server-side routines: the event path's statements, each wrapped in a
//! PL/pgSQL function, for connections behind a transaction pooler.
//!
//! A named prepared statement is parsed and planned once per connection, but
//! it belongs to a server session, which a transaction pooler hands to
//! someone else after every transaction. Sent unnamed, a large statement is
//! parsed and planned again with every event. PL/pgSQL caches the plans of
//! its statements per server session instead, whoever the client is: behind
//! the pooler the client sends only a short call, unnamed.
//!
//! Each routine is named by a hash of what it runs (`clerk_sync_<name>_<hash>`):
//! a build calls only the routines made from its own statements, so they
//! cannot drift from the code, and the routines of an earlier build stay
//! for it during a deploy or a rollback. `clerk-sync migrate` installs the
//! missing ones ([`install`]); the functions never do.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use tokio_postgres::{types::Type, GenericClient};

/// Bumped whenever [`Routine::definition`] changes shape, so that the names
/// change with it.
const WRAPPER_VERSION: &str = "1";

/// One statement of the event path and the routine that runs it.
pub struct Routine {
    name: &'static str,
    sql: &'static str,
    types: &'static [Type],
    returns: Returns,
    function: OnceLock<String>,
    call: OnceLock<String>,
}

/// What a routine's statement yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// Rows of these columns (`name type, …`, as in `RETURNS TABLE`).
    Rows(&'static str),
    /// Nothing: a statement run for its effect (its call yields one empty row).
    Nothing,
}

impl Routine {
    /// `name`: what the statement does, in lower snake case (it becomes part
    /// of the function's name).
    pub const fn new(name: &'static str, sql: &'static str, types: &'static [Type], returns: Returns) -> Self {
        Self { name, sql, types, returns, function: OnceLock::new(), call: OnceLock::new() }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The statement itself, as a connection of its own prepares it.
    pub fn sql(&self) -> &'static str {
        self.sql
    }

    pub fn types(&self) -> &'static [Type] {
        self.types
    }

    /// The server-side function's name: the routine's name and a hash of its
    /// definition (statement, parameter types, result, wrapper).
    pub fn function(&self) -> &str {
        self.function.get_or_init(|| {
            let mut hash = Sha256::new();
            for part in [WRAPPER_VERSION, self.sql, &self.signature(), &self.returns_clause()] {
                hash.update(part.as_bytes());
                hash.update([0]);
            }
            let hex: String = hash.finalize()[..5].iter().map(|b| format!("{b:02x}")).collect();
            format!("clerk_sync_{}_{hex}", self.name)
        })
    }

    /// The call a client behind a transaction pooler sends, with the
    /// statement's parameters and its result columns.
    pub fn call(&self) -> &str {
        self.call.get_or_init(|| {
            let args: Vec<String> = (1..=self.types.len()).map(|n| format!("${n}")).collect();
            format!("SELECT * FROM {}({})", self.function(), args.join(", "))
        })
    }

    /// `CREATE FUNCTION …`: the statement as the body of a PL/pgSQL function.
    /// `$1`… in the body are the function's parameters; columns win over
    /// the result's names wherever both could be meant.
    pub fn definition(&self) -> String {
        let body = match self.returns {
            Returns::Rows(_) => format!("RETURN QUERY {}\n;", self.sql),
            Returns::Nothing => format!("{}\n;", self.sql),
        };
        format!(
            "CREATE FUNCTION {}({}) RETURNS {} LANGUAGE plpgsql AS $routine$\n\
             #variable_conflict use_column\nBEGIN\n{body}\nEND\n$routine$",
            self.function(),
            self.signature(),
            self.returns_clause(),
        )
    }

    fn signature(&self) -> String {
        self.types.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
    }

    fn returns_clause(&self) -> String {
        match self.returns {
            Returns::Rows(columns) => format!("TABLE ({columns})"),
            Returns::Nothing => "void".to_string(),
        }
    }
}

impl std::fmt::Debug for Routine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routine").field("function", &self.function()).finish_non_exhaustive()
    }
}

/// Creates the routines missing from the current schema, in one transaction
/// under the migrations' lock (concurrent runs wait, then find them made);
/// returns the functions it created.
pub async fn install(
    client: &mut tokio_postgres::Client,
    routines: &[&Routine],
) -> Result<Vec<String>, tokio_postgres::Error> {
    let tx = super::migrate::locked(client).await?;
    let names: Vec<&str> = routines.iter().map(|r| r.function()).collect();
    let present = present(&tx, &names).await?;
    let missing: Vec<&&Routine> = routines.iter().filter(|r| !present.iter().any(|p| p == r.function())).collect();
    if !missing.is_empty() {
        let script: Vec<String> = missing.iter().map(|r| r.definition()).collect();
        tx.batch_execute(&script.join(";\n")).await?;
    }
    tx.commit().await?;
    Ok(missing.iter().map(|r| r.function().to_string()).collect())
}

/// Drops the routines of other builds from the current schema (named like
/// a routine, `clerk_sync_<name>_<10 hex>`, and not one of `routines`), in
/// one transaction under the migrations' lock; returns what it dropped.
/// Only once no instance of an earlier build runs: they call theirs.
pub async fn drop_others(
    client: &mut tokio_postgres::Client,
    routines: &[&Routine],
) -> Result<Vec<String>, tokio_postgres::Error> {
    let tx = super::migrate::locked(client).await?;
    let names: Vec<&str> = routines.iter().map(|r| r.function()).collect();
    let others = tx.query_typed(OTHERS_SQL, &[(&names, Type::TEXT_ARRAY)]).await?;
    let mut dropped = Vec::new();
    for row in &others {
        let (signature, name): (String, String) = (row.get(0), row.get(1));
        tx.batch_execute(&format!("DROP FUNCTION {signature}")).await?;
        dropped.push(name);
    }
    tx.commit().await?;
    Ok(dropped)
}

/// Routines of the current schema not named in `$1` (text[]): the full
/// signature (`oid::regprocedure`, quoted as `DROP FUNCTION` takes it), the name.
const OTHERS_SQL: &str = "SELECT oid::regprocedure::text, proname::text FROM pg_proc \
     WHERE pronamespace = current_schema()::regnamespace AND proname ~ '^clerk_sync_[a-z_]+_[0-9a-f]{10}$' \
       AND proname <> ALL($1::text[]::name[]) ORDER BY proname";

/// Which of the names in `$1` (text[]) exist as functions in the current schema.
pub const PRESENT_SQL: &str = "SELECT proname::text FROM pg_proc \
     WHERE pronamespace = current_schema()::regnamespace AND proname = ANY($1::text[]::name[])";

/// Which of `names` exist as functions in the current schema.
pub async fn present(client: &impl GenericClient, names: &[&str]) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client.query_typed(PRESENT_SQL, &[(&names, Type::TEXT_ARRAY)]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
