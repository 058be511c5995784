//! Reading `data` leniently, with failure reasons that never quote values.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::time::valid_ms;
use crate::ids::InvalidId;

pub(super) fn id_error(field: &str) -> impl Fn(InvalidId) -> String + '_ {
    move |e| format!("{field}: {e}")
}

pub(super) fn read<'a, T: Deserialize<'a>>(data: &'a RawValue) -> Result<T, String> {
    serde_json::from_str(data.get())
        .map_err(|e| format!("data does not match the expected shape: {}", redact_strings(&e.to_string())))
}

/// serde quotes offending string values (`invalid type: string "…"`): they
/// may be email addresses or names, and the reason is logged and stored.
/// Field names (in backticks) stay: they are what a developer needs.
pub(super) fn redact_strings(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// A delete's stub: the id, ordered by the envelope timestamp.
pub(super) fn deletion<T>(
    data: &RawValue,
    timestamp: Option<i64>,
    parse_id: fn(&str) -> Result<T, InvalidId>,
) -> Result<(T, i64), String> {
    #[derive(Deserialize)]
    struct Stub {
        id: String,
    }
    let stub: Stub = read(data)?;
    let id = parse_id(&stub.id).map_err(id_error("data.id"))?;
    let ms = timestamp.ok_or("a delete needs the envelope timestamp to be ordered")?;
    Ok((id, valid_ms(ms, "timestamp")?))
}
