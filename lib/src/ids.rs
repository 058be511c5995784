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

/// `raw` when it starts with one of `prefixes` (and has more after it).
fn parse_id(raw: &str, kind: &'static str, prefixes: &[&str], max: usize) -> Result<String, InvalidId> {
    let ok = !raw.is_empty()
        && raw.len() <= max
        && prefixes.iter().any(|prefix| raw.starts_with(prefix) && raw.len() > prefix.len())
        && raw.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(raw.to_owned())
    } else {
        let prefix_note = match prefixes {
            [] | [""] => String::new(),
            _ => {
                let quoted: Vec<String> = prefixes.iter().map(|prefix| format!("{prefix:?}")).collect();
                format!(" starting with {}", quoted.join(" or "))
            }
        };
        Err(InvalidId { kind, max, prefix_note })
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal, $max:literal) => {
        id_type!($(#[$doc])* $name, $kind, [$prefix], $max);
    };
    ($(#[$doc:meta])* $name:ident, $kind:literal, [$($prefix:literal),+], $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                parse_id(raw, $kind, &[$($prefix),+], $max).map(Self)
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
id_type!(
    /// A Clerk organization invitation id (`orginv_…`).
    ClerkInvitationId, "invitation id", "orginv_", 128
);
id_type!(
    /// A Clerk organization domain id: `orgdmn_…`, or `orgdm_…` (Clerk's own
    /// examples show both).
    ClerkDomainId, "domain id", ["orgdmn_", "orgdm_"], 128
);
id_type!(
    /// A Clerk role id (`role_…`).
    ClerkRoleId, "role id", "role_", 128
);
id_type!(
    /// A Clerk permission id (`perm_…`).
    ClerkPermissionId, "permission id", "perm_", 128
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
        assert!(ClerkInvitationId::parse("orginv_2g7np7Hrk0SN6kj5EDMLDaKNL0S").is_ok());
        assert!(ClerkDomainId::parse("orgdmn_2g7np7Hrk0SN6kj5EDMLDaKNL0S").is_ok());
        assert!(ClerkDomainId::parse("orgdm_2g7np7Hrk0SN6kj5EDMLDaKNL0S").is_ok());
        assert!(ClerkDomainId::parse("orgdm_").is_err());
        assert!(ClerkDomainId::parse("orgdmn_").is_err());
        assert!(ClerkDomainId::parse("org_x").is_err());
        assert!(ClerkRoleId::parse("role_x").is_ok());
        assert!(ClerkPermissionId::parse("perm_x").is_ok());
        assert!(ClerkPermissionId::parse("role_x").is_err());
        fn refused<T>(parsed: Result<T, InvalidId>) -> Option<String> {
            parsed.err().map(|e| e.to_string())
        }
        assert_eq!(
            refused(ClerkDomainId::parse("x")).as_deref(),
            Some(r#"domain id must be 1..=128 visible ASCII characters starting with "orgdmn_" or "orgdm_""#)
        );
        assert_eq!(refused(SvixId::parse("")).as_deref(), Some("svix-id must be 1..=256 visible ASCII characters"));
    }
}
