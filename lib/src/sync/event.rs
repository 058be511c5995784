//! The event as it is recorded in `clerk_webhook_events`.

use tokio_postgres::types::ToSql;

use crate::{clerk::Family, ids::SvixId};

/// The event as it is recorded in `clerk_webhook_events`.
#[derive(Debug, Clone, Copy)]
pub struct EventRecord<'a> {
    pub svix_id: &'a SvixId,
    /// Which family recorded it: with `svix_id`, the idempotency key
    /// (see [`crate::clerk::recording_family`]).
    pub family: Family,
    pub event_type: &'a str,
    pub object_id: Option<&'a str>,
    pub event_timestamp: Option<i64>,
    /// The body exactly as received (valid UTF-8 JSON).
    pub payload: &'a str,
}

/// Statement parameters.
pub(super) type Params<'a> = [&'a (dyn ToSql + Sync)];
