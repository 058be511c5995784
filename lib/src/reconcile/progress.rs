//! What a run tells whoever watches it (the CLI's progress bars); the
//! library draws nothing itself.

use super::{counts::Counts, kind::Kind};

pub trait Progress: Send + Sync {
    /// A listing is about to be read (or resumed, with what it had counted).
    fn listing_started(&self, _kind: Kind, _counts: &Counts) {}
    /// A page was written; `total` is Clerk's `total_count` where it gives one.
    fn page_written(&self, _kind: Kind, _counts: &Counts, _total: Option<u64>) {}
    /// The listing and its absences are done.
    fn listing_finished(&self, _kind: Kind, _counts: &Counts, _exhaustive: bool) {}
}

/// Watches nothing.
pub struct Quiet;

impl Progress for Quiet {}
