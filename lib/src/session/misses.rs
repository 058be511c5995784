//! What fetch-on-miss recently learned it cannot get. Either Clerk's Backend
//! API said it has no such object, or the API failed or ran out of time.
//! Asking again at once would only repeat the answer, and the request would
//! wait for it. This happens in practice: a session naming an organization
//! its user has left stays valid until its token expires, and the app polls.
//! So a process skips such a fetch for a while, bounded in memory.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

/// How long "Clerk has no such object" is believed: under a session token's
/// one-minute lifetime, so a claim that outlived its object expires first.
pub const ABSENT_FOR: Duration = Duration::from_secs(30);

/// How long fetch-on-miss rests after the API failed or ran out of time, so
/// that an outage costs one request the deadline, not every request.
pub const RESTING_FOR: Duration = Duration::from_secs(10);

/// At most this many absent objects are remembered; past it, new ones are
/// not (until some expire), so a flood of ids cannot grow the process.
pub const CAPACITY: usize = 4096;

/// An object fetch-on-miss may ask Clerk for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Wanted {
    User(String),
    Organization(String),
    Membership { organization: String, user: String },
}

#[derive(Debug, Default)]
pub struct RecentMisses {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Each absent object, until when it is believed absent.
    absent: HashMap<Wanted, Instant>,
    resting_until: Option<Instant>,
}

impl RecentMisses {
    /// True while fetch-on-miss rests after a failure.
    pub fn resting(&self, now: Instant) -> bool {
        self.state().resting_until.is_some_and(|until| now < until)
    }

    /// The API failed or ran out of time: rest for [`RESTING_FOR`].
    pub fn rest(&self, now: Instant) {
        self.state().resting_until = Some(now + RESTING_FOR);
    }

    /// True when Clerk said it has no `wanted` less than [`ABSENT_FOR`] ago.
    pub fn known_absent(&self, wanted: &Wanted, now: Instant) -> bool {
        self.state().absent.get(wanted).is_some_and(|until| now < *until)
    }

    /// Clerk said it has no `wanted`.
    pub fn absent(&self, wanted: Wanted, now: Instant) {
        let mut state = self.state();
        if state.absent.len() >= CAPACITY {
            state.absent.retain(|_, until| now < *until);
        }
        if state.absent.len() < CAPACITY || state.absent.contains_key(&wanted) {
            state.absent.insert(wanted, now + ABSENT_FOR);
        }
    }

    /// A panic elsewhere while holding the lock leaves plain data behind,
    /// still usable: never poison the requests that follow.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: usize) -> Wanted {
        Wanted::User(format!("user_{n}"))
    }

    #[test]
    fn an_absent_object_is_believed_absent_for_a_while_then_asked_for_again() {
        let misses = RecentMisses::default();
        let now = Instant::now();
        misses.absent(user(1), now);
        assert!(misses.known_absent(&user(1), now + ABSENT_FOR - Duration::from_millis(1)));
        assert!(!misses.known_absent(&user(2), now));
        assert!(!misses.known_absent(&Wanted::Organization("user_1".into()), now), "kinds are apart");
        assert!(!misses.known_absent(&user(1), now + ABSENT_FOR));
    }

    #[test]
    fn a_failure_rests_every_fetch_for_a_while() {
        let misses = RecentMisses::default();
        let now = Instant::now();
        assert!(!misses.resting(now));
        misses.rest(now);
        assert!(misses.resting(now + RESTING_FOR - Duration::from_millis(1)));
        assert!(!misses.resting(now + RESTING_FOR));
    }

    #[test]
    fn memory_is_bounded_and_expired_entries_make_room() {
        let misses = RecentMisses::default();
        let now = Instant::now();
        for n in 0..CAPACITY + 10 {
            misses.absent(user(n), now);
        }
        assert_eq!(misses.state().absent.len(), CAPACITY);
        assert!(!misses.known_absent(&user(CAPACITY + 1), now), "past capacity, not remembered");
        let later = now + ABSENT_FOR;
        misses.absent(user(CAPACITY + 1), later);
        assert!(misses.known_absent(&user(CAPACITY + 1), later));
        assert_eq!(misses.state().absent.len(), 1, "the expired ones made room");
    }
}
