//! Where a run stands, saved with every page it writes: a run stopped short
//! of the function's timeout goes on from here on the next invocation.

use serde::{Deserialize, Serialize};

use super::kind::Kind;
use crate::backend_api::list::ListingState;

/// One listing's progress.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// When the listing began, by the database's clock (ms): only rows
    /// older than this may be taken as gone when they are absent from it.
    pub started_ms: Option<i64>,
    /// Where the listing stands after the last page written.
    pub listing: Option<ListingState>,
    /// Read to the end, and its absences dealt with.
    pub finished: bool,
    /// Read to the end cleanly (every item readable, offsets that did not
    /// drift): absences were acted on.
    pub exhaustive: bool,
}

/// A listing missing from a saved checkpoint (a run suspended before it was
/// listed) has not started.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Checkpoint {
    pub users: Phase,
    pub organizations: Phase,
    pub memberships: Phase,
    pub permissions: Phase,
    pub roles: Phase,
    pub domains: Phase,
    pub invitations: Phase,
}

impl Checkpoint {
    pub fn of(&self, kind: Kind) -> &Phase {
        match kind {
            Kind::Users => &self.users,
            Kind::Organizations => &self.organizations,
            Kind::Memberships => &self.memberships,
            Kind::Permissions => &self.permissions,
            Kind::Roles => &self.roles,
            Kind::Domains => &self.domains,
            Kind::Invitations => &self.invitations,
        }
    }

    pub fn of_mut(&mut self, kind: Kind) -> &mut Phase {
        match kind {
            Kind::Users => &mut self.users,
            Kind::Organizations => &mut self.organizations,
            Kind::Memberships => &mut self.memberships,
            Kind::Permissions => &mut self.permissions,
            Kind::Roles => &mut self.roles,
            Kind::Domains => &mut self.domains,
            Kind::Invitations => &mut self.invitations,
        }
    }
}
