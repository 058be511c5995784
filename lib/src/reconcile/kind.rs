//! The three kinds of object a reconcile lists, in the order it lists them:
//! users and organizations first, so that memberships find them real.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Users,
    Organizations,
    Memberships,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Users, Kind::Organizations, Kind::Memberships];

    /// As the report and the CLI name it.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Organizations => "organizations",
            Kind::Memberships => "memberships",
        }
    }

    /// As the `kind` columns of `clerk_reconcile_seen` and `_changes` hold it.
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Users => "user",
            Kind::Organizations => "organization",
            Kind::Memberships => "membership",
        }
    }
}
