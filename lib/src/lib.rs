//! clerk-sync core: keeps an app's PostgreSQL in step with Clerk.
//!
//! Modules, lowest first (each imports only those above it):
//! - [`config`]: settings from a [`config::Source`], and what is wrong with them.
//! - [`ids`]: Clerk and Svix ids, parsed at the edge.
//! - [`report`]: an error and its causes on one line.
//! - [`timestamp`]: times as every answer shows them (RFC 3339, UTC).
//! - [`http`]: JSON answers and the one outbound HTTPS setup.
//! - [`db`]: the pool, TLS to PostgreSQL, migrations, statement helpers.
//! - [`clerk`]: the event families and Clerk's payloads, read into changes.
//! - [`sync`]: recording and applying an event in one statement, replay, prune, the overview.
//! - [`webhook`]: the Svix-verified intake every webhook function runs.
//! - [`session`]: Clerk session tokens and the caller's access to one organization.
//! - [`vault`]: AES-256-GCM envelopes for the sellers' credentials.
//! - [`seller_accounts`]: the seller-account store, scoped to one organization.
//! - [`backend_api`]: Clerk's Backend API: paced, retried, leniently decoded listings and lookups.
//! - [`reconcile`]: the mirror brought to the Backend API through the same rules (backfill and repair).
//! - [`api`]: the app's HTTP functions (sync-status, seller-accounts).
//! - [`aws`]: Secrets Manager at cold start; init errors for the Lambda Runtime API.
//!
//! The crate knows nothing of the Lambda runtime beyond the `http` request
//! and response types.

pub mod api;
pub mod aws;
pub mod backend_api;
pub mod clerk;
pub mod config;
pub mod db;
pub mod health;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod reconcile;
pub mod report;
pub mod seller_accounts;
pub mod session;
pub mod sync;
pub mod timestamp;
pub mod vault;
pub mod webhook;

pub use clerk::Family;
pub use config::ConfigError;
pub use report::error_chain;
pub use webhook::{handle, WebhookConfig, WebhookState};
