//! A webhook function's settings.

use secrecy::SecretString;

use super::signature::SigningSecrets;
use crate::{
    config::{flag, parse_or, ConfigError, Env, Source},
    db::DbSettings,
};

/// Everything a webhook function needs.
#[derive(Debug)]
pub struct WebhookConfig {
    pub db: DbSettings,
    /// `None` only with the development bypass on and no secret set.
    pub secrets: Option<SigningSecrets>,
    /// `CLERK_WEBHOOK_DEV_BYPASS=1`: skip signature checks (local
    /// development only; refused when running in AWS).
    pub dev_bypass: bool,
    /// Apply pending migrations on the first request (false when
    /// `SKIP_DB_MIGRATIONS=true`, the deploy having migrated).
    pub run_migrations: bool,
    pub max_body_bytes: usize,
}

/// Default `WEBHOOK_MAX_BODY_BYTES`: Clerk payloads are a few KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Env)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let dev_bypass = flag(src, "CLERK_WEBHOOK_DEV_BYPASS")?;
        if dev_bypass && src.get("AWS_EXECUTION_ENV").is_some() {
            return Err(ConfigError::Invalid {
                var: "CLERK_WEBHOOK_DEV_BYPASS",
                reason: "signature checks cannot be skipped in AWS (AWS_EXECUTION_ENV is set); unset it".into(),
            });
        }
        let secrets = match (src.get("CLERK_WEBHOOK_SECRET"), dev_bypass) {
            (Some(raw), _) => Some(SigningSecrets::parse(&SecretString::from(raw))?),
            (None, true) => None,
            (None, false) => {
                return Err(ConfigError::Missing {
                    var: "CLERK_WEBHOOK_SECRET",
                    hint: "copy the endpoint's signing secret (whsec_…) from the Clerk dashboard",
                })
            }
        };
        let max_body_bytes = parse_or(src, "WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?;
        if max_body_bytes == 0 {
            return Err(ConfigError::Invalid { var: "WEBHOOK_MAX_BODY_BYTES", reason: "must be positive".into() });
        }
        Ok(Self {
            db: DbSettings::from_source(src)?,
            secrets,
            dev_bypass,
            run_migrations: !flag(src, "SKIP_DB_MIGRATIONS")?,
            max_body_bytes,
        })
    }
}
