//! What a delivery did.

/// What a delivery did; the `status` of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded and applied.
    Processed,
    /// This `svix-id` was recorded before for this family: nothing changed.
    Duplicate,
    /// Recorded as `ignored`: not a type this function syncs.
    Ignored,
    /// Recorded as `stale`: older than what the rows already reflect.
    Stale,
    /// Recorded as `failed` with the reason: the data could not be applied.
    Failed(String),
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Stale => "stale",
            Outcome::Failed(_) => "failed",
        }
    }
}
