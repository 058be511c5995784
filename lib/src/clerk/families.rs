//! The event families: the one table that declares each of them.
//!
//! Adding a family (the checklist; the README's "Adding an event family"
//! says the same):
//! 1. a payload file `clerk/<family>.rs` (what its events carry) and a rules
//!    file `sync/<family>.rs` (its statements, composed as `Routine`s with
//!    their parameter types in `sync/statements.rs`);
//! 2. a migration for its tables;
//! 3. a row in [`FAMILIES`] and a variant of [`Family`] (the compiler then
//!    points at [`super::plan`] and the sync dispatch);
//! 4. its function crate `functions/<function>/`, a copy of another webhook
//!    function's `main.rs` with its family;
//! 5. its `template.yaml` function, log group and URL output;
//! 6. a sample payload `events/payloads/<type>.json` for every handled type.
//!
//! `tests/tests/deploy_config.rs` checks 4–6 against this table; the local
//! stack's routes, the benchmarks' streams, the fuzz generators and the test
//! stack read it.

/// A family of event types, applied by one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Users,
    Organizations,
    Memberships,
    /// Organization invitations.
    Invitations,
    /// Organization domains.
    Domains,
    /// The instance's organization roles and permissions.
    Roles,
    /// Every family (replay and the local stack's catch-all route).
    All,
}

/// Everything the project needs to know of one family.
#[derive(Debug)]
pub struct FamilySpec {
    pub family: Family,
    /// Recorded in `clerk_webhook_events.family`.
    pub name: &'static str,
    /// The Lambda function (binary, and crate under `functions/`) that applies it.
    pub function: &'static str,
    /// The local stack's route for its function.
    pub route: &'static str,
    /// The event types it applies; each has `events/payloads/<type>.json`.
    pub types: &'static [&'static str],
}

/// Every family, in the order the stack lists them.
pub const FAMILIES: &[FamilySpec] = &[
    FamilySpec {
        family: Family::Users,
        name: "users",
        function: "clerk-users",
        route: "/webhooks/clerk-users",
        types: &["user.created", "user.updated", "user.deleted"],
    },
    FamilySpec {
        family: Family::Organizations,
        name: "organizations",
        function: "clerk-organizations",
        route: "/webhooks/clerk-organizations",
        types: &["organization.created", "organization.updated", "organization.deleted"],
    },
    FamilySpec {
        family: Family::Memberships,
        name: "memberships",
        function: "clerk-memberships",
        route: "/webhooks/clerk-memberships",
        types: &["organizationMembership.created", "organizationMembership.updated", "organizationMembership.deleted"],
    },
    FamilySpec {
        family: Family::Invitations,
        name: "invitations",
        function: "clerk-invitations",
        route: "/webhooks/clerk-invitations",
        types: &["organizationInvitation.created", "organizationInvitation.accepted", "organizationInvitation.revoked"],
    },
    FamilySpec {
        family: Family::Domains,
        name: "domains",
        function: "clerk-domains",
        route: "/webhooks/clerk-domains",
        types: &["organizationDomain.created", "organizationDomain.updated", "organizationDomain.deleted"],
    },
    FamilySpec {
        family: Family::Roles,
        name: "roles",
        function: "clerk-roles",
        route: "/webhooks/clerk-roles",
        types: &[
            "role.created",
            "role.updated",
            "role.deleted",
            "permission.created",
            "permission.updated",
            "permission.deleted",
        ],
    },
];

impl FamilySpec {
    /// The sample payload of one of its types, relative to the repository.
    pub fn sample_path(event_type: &str) -> String {
        format!("events/payloads/{event_type}.json")
    }
}

impl Family {
    /// Its row in [`FAMILIES`]; `None` for [`Family::All`].
    pub fn spec(self) -> Option<&'static FamilySpec> {
        FAMILIES.iter().find(|spec| spec.family == self)
    }

    /// The name it is recorded under (`clerk_webhook_events.family`).
    pub fn name(self) -> &'static str {
        self.spec().map_or("all", |spec| spec.name)
    }

    /// The family recorded under `name`.
    pub fn named(name: &str) -> Option<Family> {
        match name {
            "all" => Some(Family::All),
            _ => FAMILIES.iter().find(|spec| spec.name == name).map(|spec| spec.family),
        }
    }

    /// The family whose rules apply `event_type`, if any does.
    pub fn handling(event_type: &str) -> Option<Family> {
        FAMILIES.iter().find(|spec| spec.types.contains(&event_type)).map(|spec| spec.family)
    }

    /// Whether a function of this family applies `family`'s events.
    pub fn includes(self, family: Family) -> bool {
        self == Family::All || self == family
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_routes_functions_and_types_are_unique() {
        let column =
            |f: fn(&FamilySpec) -> Vec<&'static str>| -> Vec<&'static str> { FAMILIES.iter().flat_map(f).collect() };
        for values in [
            column(|s| vec![s.name]),
            column(|s| vec![s.function]),
            column(|s| vec![s.route]),
            column(|s| s.types.to_vec()),
        ] {
            let unique: std::collections::HashSet<_> = values.iter().collect();
            assert_eq!(unique.len(), values.len(), "declared twice: {values:?}");
        }
        for spec in FAMILIES {
            assert_eq!(spec.family.spec().map(|s| s.name), Some(spec.name));
            assert_eq!(Family::named(spec.name), Some(spec.family));
            for event_type in spec.types {
                assert_eq!(Family::handling(event_type), Some(spec.family));
            }
        }
        assert_eq!(Family::named("all"), Some(Family::All));
        assert_eq!(Family::handling("session.created"), None);
    }
}
