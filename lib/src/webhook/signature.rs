//! Svix signatures over the exact bytes received.

use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use svix::webhooks::{Webhook, WebhookError as SvixError};

use super::error::WebhookError;
use crate::config::ConfigError;

/// The endpoint's signing secrets. Several may be configured during a
/// rotation: a delivery is authentic when any of them verifies it.
pub struct SigningSecrets(Vec<Webhook>);

impl std::fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningSecrets([{} redacted])", self.0.len())
    }
}

impl SigningSecrets {
    /// Parses `whsec_…` secrets separated by commas or whitespace.
    pub fn parse(raw: &SecretString) -> Result<Self, ConfigError> {
        let secrets = raw
            .expose_secret()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, s)| {
                Webhook::new(s).map_err(|_| ConfigError::Invalid {
                    var: "CLERK_WEBHOOK_SECRET",
                    reason: format!(
                        "secret #{} is not a Svix signing secret (whsec_ followed by padded base64)",
                        i + 1
                    ),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if secrets.is_empty() {
            return Err(ConfigError::Missing {
                var: "CLERK_WEBHOOK_SECRET",
                hint: "copy the endpoint's signing secret (whsec_…) from the Clerk dashboard",
            });
        }
        Ok(Self(secrets))
    }

    /// Verifies a delivery over the exact body bytes, with Svix's 5-minute
    /// timestamp tolerance.
    pub fn verify(&self, body: &[u8], headers: &HeaderMap) -> Result<(), WebhookError> {
        self.check(|secret| secret.verify(body, headers))
    }

    /// Verifies the signature alone, for deliveries recorded earlier (and
    /// Svix's published test vectors). The request path never uses it.
    pub fn verify_ignoring_timestamp(&self, body: &[u8], headers: &HeaderMap) -> Result<(), WebhookError> {
        self.check(|secret| secret.verify_ignoring_timestamp(body, headers))
    }

    fn check(&self, verify: impl Fn(&Webhook) -> Result<(), SvixError>) -> Result<(), WebhookError> {
        for secret in &self.0 {
            match verify(secret) {
                Ok(()) => return Ok(()),
                // Only a signature mismatch depends on the secret: try the next.
                Err(SvixError::InvalidSignature) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(WebhookError::InvalidSignature)
    }
}
