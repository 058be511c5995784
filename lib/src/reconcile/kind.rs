//! The kinds of object a reconcile lists, in the order it lists them:
//! users and organizations first, so that memberships find them real;
//! permissions before roles, so that the permissions a role lists are real;
//! domains and invitations last, their organizations (and accepting users)
//! real by then.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Users,
    Organizations,
    Memberships,
    Permissions,
    Roles,
    Domains,
    Invitations,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Users,
        Kind::Organizations,
        Kind::Memberships,
        Kind::Permissions,
        Kind::Roles,
        Kind::Domains,
        Kind::Invitations,
    ];

    /// As the report and the CLI name it.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Organizations => "organizations",
            Kind::Memberships => "memberships",
            Kind::Permissions => "permissions",
            Kind::Roles => "roles",
            Kind::Domains => "domains",
            Kind::Invitations => "invitations",
        }
    }

    /// As the `kind` columns of `clerk_reconcile_seen` and `_changes` hold it.
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Users => "user",
            Kind::Organizations => "organization",
            Kind::Memberships => "membership",
            Kind::Permissions => "permission",
            Kind::Roles => "role",
            Kind::Domains => "domain",
            Kind::Invitations => "invitation",
        }
    }

    /// Whether rows a complete listing no longer holds are deleted. Not for
    /// invitations: Clerk never deletes one (it sends no invitation delete),
    /// so an invitation absent from a listing is left as it is.
    pub fn deletes_absent(self) -> bool {
        self != Kind::Invitations
    }
}
