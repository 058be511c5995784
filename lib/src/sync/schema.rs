//! The schema a build expects: its migrations, then the server-side
//! routines of its event statements (see [`crate::db::routines`]).

use crate::db::{
    migrate::{self, MigrateError, MigrationReport},
    routines,
};

/// Applies pending migrations, then creates the event routines this build
/// calls behind a transaction pooler and the database lacks: `clerk-sync
/// migrate`, the test harness and the local stack all come here. When up
/// to date, three short queries.
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<MigrationReport, MigrateError> {
    let mut report = migrate::run(client).await?;
    report.routines =
        routines::install(client, &super::statements::routines()).await.map_err(MigrateError::Routines)?;
    Ok(report)
}
