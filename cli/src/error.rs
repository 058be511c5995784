//! How a command's failure is told, shared by every command and importing
//! none of them: each subcommand returns its own error type, which
//! implements [`Failure`]; only `main` prints it (the message with each
//! cause, then the hint) and maps it to the exit code. No message prints a
//! secret: neither a database URL (it holds a password) nor a signing secret.

use std::error::Error;

/// A command's error: its message and causes, and what to do about it.
pub trait Failure: Error {
    /// What to do about it, when the message alone does not say.
    fn hint(&self) -> Option<String> {
        None
    }

    /// Told on exactly one line, the hint included (for commands a
    /// scheduler or a script runs, which read the reason as it is).
    fn one_line(&self) -> bool {
        false
    }
}

/// The error and its causes on one line (see [`clerk_sync::error_chain`]).
pub fn report(error: &dyn Error) -> String {
    clerk_sync::error_chain(error)
}

/// The error, its causes and its hint on a single line: any line break a
/// message holds (a server's, an API's) becomes a space.
pub fn single_line(error: &dyn Error, hint: Option<&str>) -> String {
    let mut line = report(error);
    if let Some(hint) = hint {
        line.push_str(" (hint: ");
        line.push_str(hint);
        line.push(')');
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Msg(&'static str, #[source] Option<Box<Msg>>);

    #[test]
    fn reports_every_new_cause_once() {
        let inner = Msg("Connection refused (os error 111)", None);
        let middle = Msg("error connecting to server", Some(Box::new(inner)));
        let outer = Msg("cannot connect to PostgreSQL at app@localhost:5432/app", Some(Box::new(middle)));
        assert_eq!(
            report(&outer),
            "cannot connect to PostgreSQL at app@localhost:5432/app: error connecting to server: \
             Connection refused (os error 111)"
        );
        let repeated = Msg("migration 0001 failed: db error", Some(Box::new(Msg("db error", None))));
        assert_eq!(report(&repeated), "migration 0001 failed: db error");
    }

    #[test]
    fn a_single_line_holds_the_hint_and_no_line_break() {
        let error = Msg("the API answered 503:\nSomething\r\n  went wrong", None);
        assert_eq!(
            single_line(&error, Some("run it again later")),
            "the API answered 503: Something went wrong (hint: run it again later)"
        );
    }
}
