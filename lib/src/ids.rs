//! Identifiers that arrive from outside, parsed once at the edge.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be 1..={max} visible ASCII characters{prefix_note}")]
pub struct InvalidId {
    kind: &'static str,
    max: usize,
    prefix_note: String,
}

fn parse_id(raw: &str, kind: &'static str, prefix: &str, max: usize) -> Result<String, InvalidId> {
    let ok = !raw.is_empty()
        && raw.len() <= max
        && raw.starts_with(prefix)
        && raw.len() > prefix.len()
        && raw.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(raw.to_owned())
    } else {
        let prefix_note = if prefix.is_empty() { String::new() } else { format!(" starting with {prefix:?}") };
        Err(InvalidId { kind, max, prefix_note })
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                parse_id(raw, $kind, $prefix, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// The `svix-id` header: one per message, identical on every retry. The idempotency key.
    SvixId, "svix-id", "", 256
);
id_type!(
    /// A Clerk user id (`user_…`).
    ClerkUserId, "user id", "user_", 128
);
id_type!(
    /// A Clerk organization id (`org_…`).
    ClerkOrgId, "organization id", "org_", 128
);
id_type!(
    /// A Clerk organization membership id (`orgmem_…`).
    ClerkMembershipId, "membership id", "orgmem_", 128
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_ids_and_refuses_others() {
        assert!(ClerkUserId::parse("user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs").is_ok());
        assert!(ClerkUserId::parse("org_2pQm7").is_err());
        assert!(ClerkUserId::parse("user_").is_err());
        assert!(ClerkUserId::parse("user_a b").is_err());
        assert!(ClerkOrgId::parse("org_x").is_ok());
        assert!(SvixId::parse("msg_p5jXN8AQM9LWM0D4loKWxJek").is_ok());
        assert!(SvixId::parse("").is_err());
        assert!(SvixId::parse(&"m".repeat(257)).is_err());
    }
}
