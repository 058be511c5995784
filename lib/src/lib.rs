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
//! and response types, and [`lambda`]: reporting a failed cold start to the
//! Runtime API.

pub mod api;
pub mod auth;
pub mod clerk;
pub mod config;
pub mod db;
pub mod ids;
pub mod lambda;
pub mod migrate;
pub mod overview;
pub mod prune;
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

/// An error and its causes on one line, `outer: inner: …`, skipping a cause
/// whose text the line already holds. tokio-postgres and the AWS SDK keep
/// the useful part in the cause ("db error" alone says little).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}
