//! Reconcile: the mirror brought to what Clerk's Backend API holds, through
//! the webhooks' own rules, so that the two can never fight. One run is both
//! the first backfill and the periodic repair (`clerk-sync reconcile`, the
//! scheduled `clerk-reconcile` function).
//!
//! - [`kind`]: users, organizations, memberships, permissions, roles,
//!   domains, invitations, listed in that order.
//! - [`listed`]: a listing's objects read into the webhooks' records.
//! - [`run`]: one run: listings streamed into the database a page per
//!   transaction, then the rows a complete listing no longer holds (never
//!   invitations: Clerk deletes none).
//! - [`store`]: the lock, the run's row, its checkpoint, ids seen and changes.
//! - [`checkpoint`], [`counts`], [`progress`], [`error`]: what a run saves,
//!   reports, tells a watcher, and fails with.
//! - [`job`]: the scheduled function's settings and run.

pub mod checkpoint;
pub mod counts;
pub mod error;
pub mod history;
pub mod job;
pub mod kind;
pub mod listed;
pub mod progress;
pub mod run;
pub mod store;

pub use counts::{Counts, Report};
pub use error::ReconcileError;
pub use job::ReconcileJob;
pub use kind::Kind;
pub use progress::{Progress, Quiet};
pub use run::{reconcile, Options, Outcome, Trigger};
