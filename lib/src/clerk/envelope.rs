//! The envelope every Clerk event arrives in.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::time::to_ms;

/// The envelope every Clerk event arrives in. `data` stays raw until the
/// type says how to read it.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(rename = "type")]
    pub event_type: String,
    /// Event time in ms (a value in seconds, as in Clerk's spec examples,
    /// is converted). Lenient: a missing or non-integer value is `None`.
    #[serde(default, deserialize_with = "lenient_ms")]
    pub timestamp: Option<i64>,
    #[serde(default, borrow)]
    pub data: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Parses the body: a JSON object with a string `type`, or an error.
    pub fn parse(body: &'a [u8]) -> Result<Self, &'static str> {
        let envelope: Self = serde_json::from_slice(body).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                "the body is not valid JSON"
            } else {
                "the body must be a JSON object with a string \"type\""
            }
        })?;
        // Stored in a text column: no NUL (PostgreSQL refuses it), nothing huge.
        if !is_storable_label(&envelope.event_type, MAX_TYPE_LEN) {
            return Err("the \"type\" must be at most 200 characters, without control characters");
        }
        Ok(envelope)
    }

    /// `data.id` when it is a string: stored with every event, even ignored ones.
    pub fn object_id(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct IdOnly {
            id: Option<String>,
        }
        let data = self.data?;
        // An id PostgreSQL could not store or index is left out: the payload keeps it.
        serde_json::from_str::<IdOnly>(data.get()).ok()?.id.filter(|id| is_storable_label(id, MAX_OBJECT_ID_LEN))
    }
}

const MAX_TYPE_LEN: usize = 200;
const MAX_OBJECT_ID_LEN: usize = 256;

fn is_storable_label(text: &str, max_len: usize) -> bool {
    text.len() <= max_len && !text.chars().any(char::is_control)
}

fn lenient_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(serde_json::Value::deserialize(d)?.as_i64().map(to_ms))
}
