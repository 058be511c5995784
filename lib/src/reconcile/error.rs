//! Why a run could not complete.

use super::kind::Kind;
use crate::{backend_api::ApiError, db::DbError};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Another run holds the lock: two runs never overlap.
    #[error("another reconcile is running ({run}); its lock expires at {until}")]
    Busy { run: String, until: String },
    /// The lease ran out while this run was busy elsewhere and another run took it.
    #[error("this reconcile lost its lock to another run; it stopped without writing more")]
    LockLost,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A complete listing without most rows is more likely the wrong
    /// instance's key than a mass deletion in Clerk.
    #[error(
        "refusing to delete {absent} of {live} {} absent from Clerk's listing (more than a tenth): check that \
         CLERK_SECRET_KEY is this database's instance, and pass --allow-mass-deletion if the deletion is intended",
        kind.plural()
    )]
    MassDeletion { kind: Kind, absent: u64, live: u64 },
}

impl From<tokio_postgres::Error> for ReconcileError {
    fn from(e: tokio_postgres::Error) -> Self {
        ReconcileError::Db(DbError::Query(e))
    }
}
