//! Errors for people: one line, with the causes that say what went wrong.

/// An error and its causes on one line, `outer: inner: …`, skipping a cause
/// whose text the line already holds. tokio-postgres and the AWS SDK keep
/// the useful part in the cause ("db error" alone says little).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}
