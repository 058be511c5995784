//! Clerk webhooks through Svix: the signature, the refusals, the handler
//! every webhook function runs.

mod config;
mod error;
mod handler;
mod signature;

pub use config::{WebhookConfig, DEFAULT_MAX_BODY_BYTES};
pub use error::WebhookError;
pub use handler::{handle, WebhookState};
pub use signature::SigningSecrets;
