//! The environment of the local stack: DATABASE_URL as chosen,
//! SKIP_DB_MIGRATIONS (dev migrated at startup), and development defaults
//! for what is unset.

use clerk_sync::config::Source;

use crate::sign;

/// The development signing key for the credential vault: public, so never
/// use it for real credentials.
pub const DEV_ENCRYPTION_KEY: &str = "clerk-sync-dev-only-encryption-key--not-a-secret";

/// The environment with the local stack's settings.
pub struct DevSource<S> {
    base: S,
    database_url: String,
    /// The development public key, for CLERK_JWT_KEY when no key is configured.
    session_key: Option<String>,
}

impl<S: Source> DevSource<S> {
    pub fn new(base: S, database_url: impl Into<String>) -> Self {
        Self { base, database_url: database_url.into(), session_key: None }
    }

    pub fn with_session_key(mut self, public_pem: Option<String>) -> Self {
        self.session_key = public_pem;
        self
    }

    /// Whether sessions verify with the development key (nothing else configured).
    pub fn uses_dev_key(&self) -> bool {
        self.session_key.is_some() && !self.is_set("CLERK_JWT_KEY") && !self.is_set("CLERK_JWKS_URL")
    }

    /// Whether the environment itself sets `var` (no default counts).
    pub fn is_set(&self, var: &str) -> bool {
        self.base.get(var).is_some()
    }
}

impl<S: Source> Source for DevSource<S> {
    fn get(&self, var: &str) -> Option<String> {
        match var {
            "DATABASE_URL" => Some(self.database_url.clone()),
            "SKIP_DB_MIGRATIONS" => Some("true".to_string()),
            _ => self.base.get(var).or_else(|| match var {
                "CLERK_WEBHOOK_SECRET" => Some(sign::DEV_SECRET.to_string()),
                // The vault refuses ENCRYPTION_KEY beside ENCRYPTION_KEYS.
                "ENCRYPTION_KEY" if !self.is_set("ENCRYPTION_KEYS") => Some(DEV_ENCRYPTION_KEY.to_string()),
                "DB_MAX_CONNECTIONS" => Some("4".to_string()),
                // A configured JWKS URL wins too: CLERK_JWT_KEY would take precedence over it.
                "CLERK_JWT_KEY" if !self.is_set("CLERK_JWKS_URL") => self.session_key.clone(),
                _ => None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_dev_source_fills_only_what_is_unset() {
        let empty: HashMap<&str, &str> = HashMap::new();
        let source = DevSource::new(&empty, "postgres://dev@localhost/clerk_sync");
        assert_eq!(source.get("DATABASE_URL").as_deref(), Some("postgres://dev@localhost/clerk_sync"));
        assert_eq!(source.get("SKIP_DB_MIGRATIONS").as_deref(), Some("true"));
        assert_eq!(source.get("CLERK_WEBHOOK_SECRET").as_deref(), Some(sign::DEV_SECRET));
        assert_eq!(source.get("ENCRYPTION_KEY").as_deref(), Some(DEV_ENCRYPTION_KEY));
        assert_eq!(source.get("DB_MAX_CONNECTIONS").as_deref(), Some("4"));
        assert_eq!(source.get("CLERK_JWT_KEY"), None);

        let set = HashMap::from([
            ("DATABASE_URL", "postgres://other@db/app"),
            ("SKIP_DB_MIGRATIONS", "false"),
            ("CLERK_WEBHOOK_SECRET", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
            ("ENCRYPTION_KEYS", "k1:0123456789abcdef0123456789abcdef"),
            ("DB_MAX_CONNECTIONS", "9"),
        ]);
        let source = DevSource::new(&set, "postgres://chosen@localhost/clerk_sync");
        assert_eq!(source.get("DATABASE_URL").as_deref(), Some("postgres://chosen@localhost/clerk_sync"));
        assert_eq!(source.get("SKIP_DB_MIGRATIONS").as_deref(), Some("true"), "dev migrated already");
        assert_eq!(source.get("CLERK_WEBHOOK_SECRET").as_deref(), Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"));
        assert_eq!(source.get("ENCRYPTION_KEY"), None, "the vault refuses both ENCRYPTION_KEY and ENCRYPTION_KEYS");
        assert_eq!(source.get("DB_MAX_CONNECTIONS").as_deref(), Some("9"));
    }

    #[test]
    fn the_dev_session_key_is_used_only_when_no_key_is_configured() {
        let key = Some("-----BEGIN PUBLIC KEY-----dev".to_string());
        let empty: HashMap<&str, &str> = HashMap::new();
        let source = DevSource::new(&empty, "postgres://dev@localhost/db").with_session_key(key.clone());
        assert_eq!(source.get("CLERK_JWT_KEY"), key);
        assert!(source.uses_dev_key());
        for (var, value) in [("CLERK_JWT_KEY", "-----BEGIN PUBLIC KEY-----real"), ("CLERK_JWKS_URL", "https://x/jwks")]
        {
            let set = HashMap::from([(var, value)]);
            let source = DevSource::new(&set, "postgres://dev@localhost/db").with_session_key(key.clone());
            assert_ne!(source.get("CLERK_JWT_KEY"), key, "{var} set: the development key is not used");
            assert!(!source.uses_dev_key());
        }
    }
}
