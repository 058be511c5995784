//! clerk-sync core: keeps an app's PostgreSQL in step with Clerk.
//!
//! - [`webhook`]: Svix-verified intake of Clerk webhooks, one handler per
//!   function family.
//! - [`clerk`]: lenient reading of Clerk payloads into database changes.
//! - [`sync`]: recording and applying an event in one transaction, so the
//!   final state depends on neither delivery order nor repetition.
//! - [`migrate`]: embedded, checksummed, advisory-locked migrations.
//! - [`secrets`]: `*_ARN` settings fetched from AWS Secrets Manager at cold
//!   start, laid over the environment.
//! - [`tls`]: rustls TLS to PostgreSQL after the connection string's `sslmode`.
//!
//! The crate knows nothing of the Lambda runtime beyond the `http` request
//! and response types.

pub mod api;
pub mod auth;
pub mod clerk;
pub mod config;
pub mod db;
pub mod ids;
pub mod migrate;
pub mod overview;
pub mod replay;
pub mod response;
pub mod secrets;
pub mod seller_accounts;
pub mod sync;
pub mod tenant;
pub mod tls;
pub mod vault;
pub mod webhook;

pub use clerk::Family;
pub use config::{ConfigError, WebhookConfig};
pub use webhook::{handle, WebhookState};
