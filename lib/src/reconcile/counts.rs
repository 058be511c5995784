//! What a run found, per kind: the report `--json` prints.

use serde::{Deserialize, Serialize};

use super::kind::Kind;

/// One kind's counts. In a dry run, what would have changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Objects the listing returned.
    pub seen: u64,
    /// Absent from the mirror, now written.
    pub created: u64,
    /// Clerk's copy was newer than the row.
    pub updated: u64,
    /// Rows whose object a complete listing no longer holds.
    pub deleted: u64,
    /// Seen, and the row already as new (or newer, or deleted).
    pub unchanged: u64,
}

impl Counts {
    /// Adds a page: `seen` objects of which `created` and `updated` changed a row.
    pub fn add_page(&mut self, seen: u64, created: u64, updated: u64) {
        self.seen += seen;
        self.created += created;
        self.updated += updated;
        self.unchanged += seen.saturating_sub(created + updated);
    }

    /// Nothing to change.
    pub fn no_drift(&self) -> bool {
        self.created == 0 && self.updated == 0 && self.deleted == 0
    }
}

/// The run's report: exactly what `clerk-sync reconcile --json` prints.
/// A kind missing from a saved report (a run recorded before it was
/// listed) reads as zero counts.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// Every listing was read to its end, cleanly, and absences acted on.
    pub complete: bool,
    pub dry_run: bool,
    pub users: Counts,
    pub organizations: Counts,
    pub memberships: Counts,
    pub permissions: Counts,
    pub roles: Counts,
    pub domains: Counts,
    pub invitations: Counts,
}

impl Report {
    pub fn of(&self, kind: Kind) -> &Counts {
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

    pub fn of_mut(&mut self, kind: Kind) -> &mut Counts {
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

    pub fn no_drift(&self) -> bool {
        Kind::ALL.iter().all(|&kind| self.of(kind).no_drift())
    }
}
