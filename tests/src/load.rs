//! A sustained load at a fixed rate from many function "instances" (each a
//! webhook state with one connection, as on Lambda): for the burst test
//! through PgBouncer and its benchmark.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clerk_sync::WebhookState;
use serde_json::Value;
use tokio::{sync::Mutex, task::JoinSet};

use crate::{answer, clerk::simple_user, function_url_event, now, signed_headers, TEST_SECRET};

/// What [`sustained`] sends.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Deliveries per second, all instances together.
    pub rate: u32,
    pub duration: Duration,
    /// Every n-th delivery is sent again at once (Svix's at-least-once), 0 = none.
    pub redeliver_every: usize,
}

/// What happened to the load.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Distinct messages sent.
    pub messages: usize,
    /// Deliveries sent (messages and redeliveries).
    pub deliveries: usize,
    /// Answers by status code.
    pub answered_200: usize,
    pub answered_other: Vec<(u16, Value)>,
    /// Handler latency of every delivery, sorted.
    pub latencies: Vec<Duration>,
    /// How far the sender fell behind its schedule at the end.
    pub lag: Duration,
}

impl LoadResult {
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }
}

/// Sends `plan.rate` user events a second for `plan.duration`, each to the
/// next of `instances` in turn, every delivery on a task of its own (as
/// concurrent invocations are): one instance serves one delivery at a time
/// (as a Lambda instance does), so a delivery may wait for its instance.
/// The latencies are the handler's own, from the moment its instance took it.
pub async fn sustained(instances: &[Arc<WebhookState>], plan: &LoadPlan) -> LoadResult {
    let instances: Vec<(Arc<WebhookState>, Arc<Mutex<()>>)> =
        instances.iter().map(|s| (s.clone(), Arc::new(Mutex::new(())))).collect();
    let total = (f64::from(plan.rate) * plan.duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(plan.rate.max(1)));
    let started = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    let mut sent = 0;
    for n in 0..total {
        tokio::time::sleep_until(started + interval.mul_f64(n as f64)).await;
        let user = format!("user_load_{n}");
        let body = simple_user("user.created", &user, 1, "Load", &format!("{user}@example.com")).to_string();
        let svix_id = format!("msg_load_{n}");
        let copies = if plan.redeliver_every > 0 && n % plan.redeliver_every == 0 { 2 } else { 1 };
        for copy in 0..copies {
            let (state, busy) = instances[(n + copy) % instances.len()].clone();
            let event = function_url_event("POST", &body, &signed_headers(TEST_SECRET, &svix_id, now(), &body), false);
            sent += 1;
            tasks.spawn(async move {
                let _serving = busy.lock().await;
                let begun = Instant::now();
                let request = lambda_http::request::from_str(&event).expect("a valid event");
                let answer = answer(clerk_sync::handle(&state, request).await);
                (answer, begun.elapsed())
            });
        }
    }
    let lag = started.elapsed().saturating_sub(plan.duration);
    let mut result = LoadResult { messages: total, deliveries: sent, lag, ..LoadResult::default() };
    while let Some(done) = tasks.join_next().await {
        let (answer, latency) = done.expect("a delivery task");
        if answer.status == 200 {
            result.answered_200 += 1;
        } else {
            result.answered_other.push((answer.status, answer.body));
        }
        result.latencies.push(latency);
    }
    result.latencies.sort();
    result
}
