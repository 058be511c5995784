//! Times as every answer and report shows them: RFC 3339 in UTC, to the
//! microsecond PostgreSQL keeps. Read typed from the database, formatted
//! here and nowhere else.

use time::{macros::format_description, OffsetDateTime, UtcOffset};
use tokio_postgres::Row;

/// `2026-12-05T01:59:43.055336Z`.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    // Only a year past 9999 fails to format; timestamptz tops out at 294276, so say so rather than panic.
    at.to_offset(UtcOffset::UTC).format(&format).unwrap_or_else(|_| "out of range".to_string())
}

/// A `timestamptz` column, formatted.
pub fn column(row: &Row, name: &str) -> String {
    rfc3339(row.get(name))
}

/// A nullable `timestamptz` column, formatted.
pub fn optional(row: &Row, name: &str) -> Option<String> {
    row.get::<_, Option<OffsetDateTime>>(name).map(rfc3339)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn utc_with_microseconds() {
        assert_eq!(rfc3339(datetime!(2026-12-05 02:59:43.0553 +01:00)), "2026-12-05T01:59:43.055300Z");
        assert_eq!(rfc3339(datetime!(1970-01-01 00:00 UTC)), "1970-01-01T00:00:00.000000Z");
    }
}
