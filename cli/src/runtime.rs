//! The async runtime of the commands that run one future to its end.

use std::io;

/// A current-thread runtime with I/O and timers.
pub fn current_thread() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}
