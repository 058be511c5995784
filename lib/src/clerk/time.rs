//! Times read from payloads, in milliseconds.

/// Below this a time is in seconds: as milliseconds it would fall before
/// March 1973, long before Clerk; as seconds it reaches past the year 5000.
const SECONDS_BELOW: i64 = 100_000_000_000;

/// Clerk's deliveries carry milliseconds; its spec examples, and the tools
/// and mocks built from them, carry seconds. Every time read from a payload
/// goes through here.
pub fn to_ms(time: i64) -> i64 {
    if (0..SECONDS_BELOW).contains(&time) {
        time * 1000
    } else {
        time
    }
}

/// A payload time in milliseconds (seconds are converted) that
/// PostgreSQL's timestamptz can hold, with room: year 1970 to 9999.
pub(super) fn valid_ms(time: i64, what: &str) -> Result<i64, String> {
    let ms = to_ms(time);
    if (0..=253_402_300_799_999).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!("{what} is out of range"))
    }
}
