//! At most `max` requests in any window of `window` (Clerk counts 10 s).
//!
//! A sliding log of start times: a request may start once the one `max`
//! places before it started at least `window` ago. With start times
//! non-decreasing, that bounds every window `[t, t + window)` to `max`
//! starts, wherever it is placed — unlike fixed buckets, which allow `2 ×
//! max` across a bucket boundary. Retries and `429` re-attempts take a slot
//! like any request.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

use tokio::time::Instant;

/// The schedule itself, without waiting: which instant the next request
/// may start at. Pure, so its guarantee can be tested exactly.
#[derive(Debug)]
pub struct Schedule {
    max: usize,
    window: Duration,
    /// The last `max` start times, oldest first, non-decreasing.
    starts: VecDeque<Instant>,
}

impl Schedule {
    /// `max` is at least 1.
    pub fn new(max: u32, window: Duration) -> Self {
        let max = max.max(1) as usize;
        Self { max, window, starts: VecDeque::with_capacity(max) }
    }

    /// Books the earliest start at or after `now` that keeps every window
    /// within the limit, and returns it.
    pub fn reserve(&mut self, now: Instant) -> Instant {
        let mut at = now;
        if let Some(&last) = self.starts.back() {
            at = at.max(last);
        }
        if self.starts.len() == self.max {
            let oldest = self.starts.pop_front().unwrap_or(now);
            at = at.max(oldest + self.window);
        }
        self.starts.push_back(at);
        at
    }
}

/// The pacer every request of one [`super::BackendApi`] goes through.
#[derive(Debug)]
pub struct Pacer {
    schedule: Mutex<Schedule>,
}

impl Pacer {
    pub fn new(max: u32, window: Duration) -> Self {
        Self { schedule: Mutex::new(Schedule::new(max, window)) }
    }

    /// Waits for this request's slot. A cancelled wait keeps its slot booked
    /// (so the pace only errs on the slow side).
    pub async fn acquire(&self) {
        let at = {
            let mut schedule = self.schedule.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            schedule.reserve(Instant::now())
        };
        tokio::time::sleep_until(at).await;
    }
}
