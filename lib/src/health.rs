//! Health at a glance, for `clerk-sync status` and its `--check`: per
//! family, the last event received, the events and failures of the last
//! hour and day, and the lag (receipt minus the event's own `timestamp`) at
//! p50 and p99 over the last day; the replay backlog; how fresh the last
//! reconcile is; behind a transaction pooler, whether this build's event
//! routines exist; and, against thresholds, whether all is well.
//!
//! Like [`crate::sync::overview`], it sees every tenant: an operator's view, for
//! whoever holds `DATABASE_URL`. The tenant-facing sync-status page does not
//! use it.
//!
//! Reading it costs two statements in one round trip, both bounded by the
//! indexes that exist: the last day's events through the `received_at`
//! index (migration 0003), the backlog through the partial index on rows
//! still `received` or `failed` (0001). Each family's all-time last receipt
//! comes from the overview's count, which reads the table whole anyway.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::sync::overview::EventCount;
use crate::{
    clerk::FAMILIES,
    db::{Client, DbError},
    reconcile::{history::RunSummary, Kind},
    timestamp::rfc3339,
};

/// What counts as unhealthy (`clerk-sync status --check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// No event received for longer than this while `users` has live rows.
    pub max_silence: Duration,
    /// How often reconcile runs: the last completed run must be younger
    /// than twice this.
    pub reconcile_schedule: Duration,
    /// No completed reconcile on record is a problem, not a warning.
    pub require_reconcile: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_silence: Duration::from_secs(24 * 3600),
            reconcile_schedule: Duration::from_secs(24 * 3600),
            require_reconcile: false,
        }
    }
}

/// One family's activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyHealth {
    /// As `clerk_webhook_events.family` records it.
    pub family: String,
    /// The last event it recorded, whatever its status; `None` when the
    /// table holds none (never any, or all pruned).
    pub last_received_at: Option<String>,
    pub seconds_since_last_received: Option<i64>,
    pub events_last_hour: i64,
    /// Received in the window and `failed` now (a replayed one no longer counts).
    pub failed_last_hour: i64,
    pub events_last_day: i64,
    pub failed_last_day: i64,
    /// Receipt minus the event's own `timestamp`, in milliseconds, over the
    /// last day's events that carry one; `None` without any.
    pub lag_p50_ms: Option<f64>,
    pub lag_p99_ms: Option<f64>,
}

/// Events waiting for `replay`: `failed`, or still `received`, for more than a minute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    pub failed: i64,
    pub received: i64,
    pub oldest_received_at: Option<String>,
}

impl Backlog {
    pub fn total(&self) -> i64 {
        self.failed + self.received
    }
}

/// The last reconcile that was not a dry run, and the last one that completed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconcileHealth {
    /// The latest run that was not a dry run (`None` before the first, or
    /// when the runs cannot be read).
    pub last_run_id: Option<i64>,
    pub last_run_state: Option<String>,
    pub last_run_complete: Option<bool>,
    /// Rows the last run created, updated or deleted.
    pub last_run_drift: Option<u64>,
    pub last_completed_at: Option<String>,
    pub seconds_since_last_completed: Option<i64>,
    pub schedule_seconds: u64,
}

/// A reason to worry: a stable `check` name and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `failed_events`, `silence`, `reconcile_failed`, `reconcile_overdue`,
    /// `reconcile_missing`, `reconcile_incomplete`, `received_backlog`,
    /// `reconcile_unreadable`, `routines_missing`, `timeouts_missing`.
    pub check: &'static str,
    pub message: String,
}

impl Finding {
    fn new(check: &'static str, message: String) -> Self {
        Finding { check, message }
    }
}

/// The thresholds the verdict was reached with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThresholdsUsed {
    pub max_silence_seconds: u64,
    pub reconcile_schedule_seconds: u64,
    pub require_reconcile: bool,
}

/// Health at a glance, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// `false` when any problem was found (`clerk-sync status --check` exits 1).
    pub healthy: bool,
    pub problems: Vec<Finding>,
    /// Worth a look, never unhealthy.
    pub warnings: Vec<Finding>,
    /// The database's clock when this was read: every age is measured from it.
    pub checked_at: String,
    /// The last event any family received.
    pub last_event_at: Option<String>,
    /// Every family of [`FAMILIES`], in its order, then any other name the
    /// events carry.
    pub families: Vec<FamilyHealth>,
    pub backlog: Backlog,
    pub reconcile: ReconcileHealth,
    pub thresholds: ThresholdsUsed,
}

/// One family's last day, as the database counts it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub events_last_hour: i64,
    pub failed_last_hour: i64,
    pub events_last_day: i64,
    pub failed_last_day: i64,
    pub lag_p50_ms: Option<f64>,
    pub lag_p99_ms: Option<f64>,
}

/// What [`activity`] reads of the event log.
#[derive(Debug, Clone)]
pub struct Activity {
    pub now: OffsetDateTime,
    pub last_event_at: Option<OffsetDateTime>,
    /// Only the families with events in the last day.
    pub windows: Vec<(String, Window)>,
    pub backlog_failed: i64,
    pub backlog_received: i64,
    pub backlog_oldest: Option<OffsetDateTime>,
}

/// What [`reconcile_facts`] reads of the runs.
#[derive(Debug, Clone, Default)]
pub struct ReconcileFacts {
    /// The latest run that was not a dry run.
    pub last_run: Option<RunSummary>,
    /// When the latest run that was not a dry run completed.
    pub last_completed_at: Option<OffsetDateTime>,
}

/// The last day per family, in one statement: a range scan of the
/// `received_at` index, one sort per family for both percentiles. An event
/// `timestamp` below 10^11 is seconds (as the webhooks normalise it; rows
/// written before they did may hold seconds); a lag below zero (clocks
/// apart) counts as zero.
const WINDOW_SQL: &str = "
SELECT family,
       count(*) FILTER (WHERE last_hour) AS events_last_hour,
       count(*) FILTER (WHERE last_hour AND status = 'failed') AS failed_last_hour,
       count(*) AS events_last_day,
       count(*) FILTER (WHERE status = 'failed') AS failed_last_day,
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY lag_ms) AS lag_ms
FROM (
    SELECT family, status, received_at >= now() - interval '1 hour' AS last_hour,
           CASE WHEN event_timestamp IS NOT NULL THEN
               greatest(0, extract(epoch FROM received_at)::float8 * 1000
                   - CASE WHEN event_timestamp < 100000000000 THEN event_timestamp * 1000
                          ELSE event_timestamp END)
           END AS lag_ms
    FROM clerk_webhook_events
    WHERE received_at >= now() - interval '1 day'
) AS recent
GROUP BY family";

/// The clock, the last receipt (the `received_at` index, backwards) and
/// the backlog (the partial index on `received` and `failed` rows).
const BACKLOG_SQL: &str = "
SELECT now() AS now,
       (SELECT max(received_at) FROM clerk_webhook_events) AS last_event_at,
       b.failed, b.received, b.oldest
FROM (
    SELECT count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'received') AS received,
           min(received_at) AS oldest
    FROM clerk_webhook_events
    WHERE status IN ('received', 'failed') AND received_at < now() - interval '1 minute'
) AS b";

const LAST_COMPLETED_SQL: &str =
    "SELECT max(finished_at) AS last_completed_at FROM clerk_reconcile_runs WHERE NOT dry_run AND state = 'completed'";

/// This build's event routines the database lacks (behind a transaction
/// pooler the functions call them: see [`crate::db::routines`]).
pub async fn missing_routines(client: &Client) -> Result<Vec<String>, DbError> {
    let routines = crate::sync::statements::routines();
    let names: Vec<&str> = routines.iter().map(|r| r.function()).collect();
    let query = (crate::db::routines::PRESENT_SQL, &[tokio_postgres::types::Type::TEXT_ARRAY][..]);
    let present: Vec<String> = client.query(&query, &[&names]).await?.iter().map(|r| r.get(0)).collect();
    Ok(names.into_iter().filter(|n| !present.iter().any(|p| p == n)).map(str::to_string).collect())
}

/// The timeouts this connection's sessions start without (`0`: none), of
/// those the functions rely on the role for with `DB_TIMEOUTS=role`.
pub async fn missing_timeouts(client: &Client) -> Result<Vec<String>, DbError> {
    let rows = client.query(MISSING_TIMEOUTS_SQL, &[]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

const MISSING_TIMEOUTS_SQL: &str = "SELECT name FROM pg_settings
    WHERE name IN ('lock_timeout', 'statement_timeout', 'idle_in_transaction_session_timeout') AND setting = '0'
    ORDER BY name";

/// The event log's side, in one round trip (the two statements are pipelined).
pub async fn activity(client: &Client) -> Result<Activity, DbError> {
    let (windows, backlog) = tokio::try_join!(client.query(WINDOW_SQL, &[]), client.query_one(BACKLOG_SQL, &[]))?;
    let windows = windows
        .iter()
        .map(|r| {
            let lag: Option<Vec<Option<f64>>> = r.get("lag_ms");
            let lag = lag.unwrap_or_default();
            let window = Window {
                events_last_hour: r.get("events_last_hour"),
                failed_last_hour: r.get("failed_last_hour"),
                events_last_day: r.get("events_last_day"),
                failed_last_day: r.get("failed_last_day"),
                lag_p50_ms: lag.first().copied().flatten(),
                lag_p99_ms: lag.get(1).copied().flatten(),
            };
            (r.get::<_, String>("family"), window)
        })
        .collect();
    Ok(Activity {
        now: backlog.get("now"),
        last_event_at: backlog.get("last_event_at"),
        windows,
        backlog_failed: backlog.get("failed"),
        backlog_received: backlog.get("received"),
        backlog_oldest: backlog.get("oldest"),
    })
}

/// The reconcile runs' side: the latest applied run and the last completion.
pub async fn reconcile_facts(client: &Client) -> Result<ReconcileFacts, DbError> {
    let (last_run, completed) = tokio::try_join!(crate::reconcile::history::latest_applied(client), async {
        client.query_one(LAST_COMPLETED_SQL, &[]).await.map_err(DbError::from)
    },)?;
    Ok(ReconcileFacts { last_run, last_completed_at: completed.get("last_completed_at") })
}

/// Everything the verdict weighs, besides what [`activity`] and
/// [`reconcile_facts`] read.
pub struct Inputs<'a> {
    /// The overview's counts by type, status and family (each family's last receipt).
    pub event_counts: &'a [EventCount],
    /// Rows of `users` not deleted (placeholders included).
    pub live_users: i64,
    /// `None` when the runs could not be read (a schema from before
    /// reconcile, a role that may not read them).
    pub reconcile: Option<&'a ReconcileFacts>,
    /// [`missing_routines`], when the functions run behind a transaction
    /// pooler (empty otherwise: they do not call them).
    pub missing_routines: &'a [String],
    /// [`missing_timeouts`], when the functions leave the timeouts to the
    /// role (`DB_TIMEOUTS=role`; empty otherwise).
    pub missing_timeouts: &'a [String],
}

/// Puts the figures together and weighs them against `thresholds`.
pub fn assess(activity: &Activity, inputs: &Inputs<'_>, thresholds: &Thresholds) -> Health {
    let now = activity.now;
    let since = |at: OffsetDateTime| (now - at).whole_seconds().max(0);

    // Every declared family, in order, then any other name the events carry.
    let mut names: Vec<String> = FAMILIES.iter().map(|spec| spec.name.to_string()).collect();
    let mut extra: Vec<String> = inputs
        .event_counts
        .iter()
        .map(|c| c.family.clone())
        .chain(activity.windows.iter().map(|(name, _)| name.clone()))
        .filter(|name| !names.contains(name))
        .collect();
    extra.sort();
    extra.dedup();
    names.extend(extra);

    let families = names
        .into_iter()
        .map(|family| {
            let last = inputs.event_counts.iter().filter(|c| c.family == family).map(|c| c.last_received).max();
            let window = activity.windows.iter().find(|(name, _)| *name == family).map(|(_, w)| w.clone());
            let window = window.unwrap_or_default();
            FamilyHealth {
                last_received_at: last.map(rfc3339),
                seconds_since_last_received: last.map(since),
                events_last_hour: window.events_last_hour,
                failed_last_hour: window.failed_last_hour,
                events_last_day: window.events_last_day,
                failed_last_day: window.failed_last_day,
                lag_p50_ms: window.lag_p50_ms,
                lag_p99_ms: window.lag_p99_ms,
                family,
            }
        })
        .collect();

    let backlog = Backlog {
        failed: activity.backlog_failed,
        received: activity.backlog_received,
        oldest_received_at: activity.backlog_oldest.map(rfc3339),
    };

    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    if backlog.failed > 0 {
        problems.push(Finding::new(
            "failed_events",
            format!(
                "failed events waiting for replay: {} (clerk-sync replay, once their cause is fixed)",
                backlog.failed
            ),
        ));
    }
    if backlog.received > 0 {
        warnings.push(Finding::new(
            "received_backlog",
            format!("events still received after a minute: {} (clerk-sync replay --status received)", backlog.received),
        ));
    }

    if !inputs.missing_routines.is_empty() {
        problems.push(Finding::new(
            "routines_missing",
            format!(
                "{} event routines of this build are missing, so every delivery through the pooler answers 503: \
                 run clerk-sync migrate",
                inputs.missing_routines.len()
            ),
        ));
    }

    if !inputs.missing_timeouts.is_empty() {
        problems.push(Finding::new(
            "timeouts_missing",
            format!(
                "DB_TIMEOUTS=role, but this role's sessions start without {}: a request may wait into the Lambda \
                 timeout. Set them with ALTER ROLE … SET, or unset DB_TIMEOUTS",
                inputs.missing_timeouts.join(", ")
            ),
        ));
    }

    let max_silence = thresholds.max_silence.as_secs();
    if inputs.live_users > 0 {
        match activity.last_event_at {
            None => problems
                .push(Finding::new("silence", format!("no event received at all; live users: {}", inputs.live_users))),
            Some(at) if since(at) as u64 > max_silence => problems.push(Finding::new(
                "silence",
                format!(
                    "no event received for {} (over --max-silence {}); live users: {}",
                    age(since(at) as f64),
                    threshold(max_silence),
                    inputs.live_users
                ),
            )),
            Some(_) => {}
        }
    }

    let schedule = thresholds.reconcile_schedule.as_secs();
    let mut reconcile = ReconcileHealth {
        last_run_id: None,
        last_run_state: None,
        last_run_complete: None,
        last_run_drift: None,
        last_completed_at: None,
        seconds_since_last_completed: None,
        schedule_seconds: schedule,
    };
    match inputs.reconcile {
        None => warnings.push(Finding::new(
            "reconcile_unreadable",
            "the reconcile runs cannot be read: their freshness is not checked".to_string(),
        )),
        Some(facts) => {
            if let Some(run) = &facts.last_run {
                reconcile.last_run_id = Some(run.id);
                reconcile.last_run_state = Some(run.state.clone());
                reconcile.last_run_complete = Some(run.complete);
                reconcile.last_run_drift = Some(drift(run));
                let why = run.error.as_deref().map(|e| format!(": {}", one_line(e))).unwrap_or_default();
                match run.state.as_str() {
                    "failed" | "abandoned" => problems.push(Finding::new(
                        "reconcile_failed",
                        format!("the last reconcile (run {}) {}{why}", run.id, run.state),
                    )),
                    "completed" if !run.complete => warnings.push(Finding::new(
                        "reconcile_incomplete",
                        format!("the last reconcile (run {}) completed but was not complete{why}", run.id),
                    )),
                    _ => {}
                }
            }
            reconcile.last_completed_at = facts.last_completed_at.map(rfc3339);
            reconcile.seconds_since_last_completed = facts.last_completed_at.map(since);
            match facts.last_completed_at {
                Some(at) if since(at) as u64 > 2 * schedule => problems.push(Finding::new(
                    "reconcile_overdue",
                    format!(
                        "the last completed reconcile finished {} ago (over twice --reconcile-schedule {})",
                        age(since(at) as f64),
                        threshold(schedule)
                    ),
                )),
                Some(_) => {}
                None => {
                    let message = match &facts.last_run {
                        None => "no reconcile has run yet (run clerk-sync reconcile)".to_string(),
                        Some(run) => format!(
                            "no reconcile has completed yet (run {} is {}, started {})",
                            run.id, run.state, run.started_at
                        ),
                    };
                    let finding = Finding::new("reconcile_missing", message);
                    if thresholds.require_reconcile {
                        problems.push(finding);
                    } else {
                        warnings.push(finding);
                    }
                }
            }
        }
    }

    Health {
        healthy: problems.is_empty(),
        problems,
        warnings,
        checked_at: rfc3339(now),
        last_event_at: activity.last_event_at.map(rfc3339),
        families,
        backlog,
        reconcile,
        thresholds: ThresholdsUsed {
            max_silence_seconds: max_silence,
            reconcile_schedule_seconds: schedule,
            require_reconcile: thresholds.require_reconcile,
        },
    }
}

/// Rows a run created, updated or deleted (in a dry run, would have).
pub fn drift(run: &RunSummary) -> u64 {
    Kind::ALL
        .iter()
        .map(|&kind| {
            let c = run.counts.of(kind);
            c.created + c.updated + c.deleted
        })
        .sum()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A threshold as the flag would be written: `7d`, `48h`, `90m`, `45s`.
pub fn threshold(seconds: u64) -> String {
    match seconds {
        s if s > 2 * 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// An age or a lag, compact: `850ms`, `2.4s`, `3m05s`, `4h10m`, `2d03h`.
pub fn age(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 1.0 {
        return format!("{:.0}ms", seconds * 1000.0);
    }
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let whole = seconds as u64;
    match whole {
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Reads `90`, `90s`, `30m`, `24h`, `7d` (at least a second, at most 366 days).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "expected seconds, or a number with s, m, h or d (e.g. 24h)";
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => raw.split_at(at),
        None => (raw, "s"),
    };
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(EXPECTED.into()),
    };
    let n: u64 = number.parse().map_err(|_| EXPECTED)?;
    match n.checked_mul(multiplier) {
        Some(0) => Err("must be at least 1 second".into()),
        Some(secs) if secs <= 366 * 86_400 => Ok(Duration::from_secs(secs)),
        _ => Err("at most 366 days".into()),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::reconcile::{Counts, Report};

    const NOW: OffsetDateTime = datetime!(2026-12-05 12:00 UTC);

    fn quiet() -> Activity {
        Activity {
            now: NOW,
            last_event_at: Some(NOW - time::Duration::minutes(5)),
            windows: Vec::new(),
            backlog_failed: 0,
            backlog_received: 0,
            backlog_oldest: None,
        }
    }

    fn run(state: &str, complete: bool) -> RunSummary {
        RunSummary {
            id: 7,
            trigger: "schedule".into(),
            dry_run: false,
            state: state.into(),
            complete,
            counts: Report::default(),
            api_requests: 0,
            api_ms: 0,
            db_ms: 0,
            error: None,
            started_at: "2026-12-05T10:00:00.000000Z".into(),
            finished_at: None,
        }
    }

    fn completed_hours_ago(hours: i64) -> ReconcileFacts {
        ReconcileFacts {
            last_run: Some(run("completed", true)),
            last_completed_at: Some(NOW - time::Duration::hours(hours)),
        }
    }

    fn checks(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.check).collect()
    }

    #[test]
    fn a_fresh_quiet_instance_is_healthy_and_lists_every_family() {
        let facts = completed_hours_ago(3);
        let inputs = Inputs {
            event_counts: &[],
            live_users: 4,
            reconcile: Some(&facts),
            missing_routines: &[],
            missing_timeouts: &[],
        };
        let health = assess(&quiet(), &inputs, &Thresholds::default());
        assert!(health.healthy, "{health:?}");
        assert!(health.problems.is_empty() && health.warnings.is_empty(), "{health:?}");
        let names: Vec<&str> = health.families.iter().map(|f| f.family.as_str()).collect();
        assert_eq!(names, ["users", "organizations", "memberships", "invitations", "domains", "roles"]);
        assert_eq!(health.reconcile.seconds_since_last_completed, Some(3 * 3600));
    }

    #[test]
    fn each_problem_has_its_check() {
        let mut activity = quiet();
        activity.backlog_failed = 2;
        activity.backlog_received = 1;
        activity.last_event_at = Some(NOW - time::Duration::hours(30));
        let facts = ReconcileFacts {
            last_run: Some(RunSummary { error: Some("the API\nanswered 500".into()), ..run("failed", false) }),
            last_completed_at: Some(NOW - time::Duration::hours(49)),
        };
        let inputs = Inputs {
            event_counts: &[],
            live_users: 3,
            reconcile: Some(&facts),
            missing_routines: &[],
            missing_timeouts: &[],
        };
        let health = assess(&activity, &inputs, &Thresholds::default());
        assert!(!health.healthy);
        assert_eq!(checks(&health.problems), ["failed_events", "silence", "reconcile_failed", "reconcile_overdue"]);
        assert_eq!(checks(&health.warnings), ["received_backlog"]);
        assert_eq!(health.problems[1].message, "no event received for 1d06h (over --max-silence 24h); live users: 3");
        assert_eq!(health.problems[2].message, "the last reconcile (run 7) failed: the API answered 500");
        assert_eq!(
            health.problems[3].message,
            "the last completed reconcile finished 2d01h ago (over twice --reconcile-schedule 24h)"
        );
    }

    #[test]
    fn silence_matters_only_with_users() {
        let mut activity = quiet();
        activity.last_event_at = None;
        let facts = completed_hours_ago(1);
        let empty = Inputs {
            event_counts: &[],
            live_users: 0,
            reconcile: Some(&facts),
            missing_routines: &[],
            missing_timeouts: &[],
        };
        assert!(assess(&activity, &empty, &Thresholds::default()).healthy);
        let users = Inputs { live_users: 1, ..empty };
        let health = assess(&activity, &users, &Thresholds::default());
        assert_eq!(checks(&health.problems), ["silence"]);
        assert_eq!(health.problems[0].message, "no event received at all; live users: 1");
    }

    #[test]
    fn no_reconcile_is_a_warning_unless_required() {
        let none = ReconcileFacts::default();
        let inputs = Inputs {
            event_counts: &[],
            live_users: 0,
            reconcile: Some(&none),
            missing_routines: &[],
            missing_timeouts: &[],
        };
        let health = assess(&quiet(), &inputs, &Thresholds::default());
        assert!(health.healthy);
        assert_eq!(checks(&health.warnings), ["reconcile_missing"]);
        assert_eq!(health.warnings[0].message, "no reconcile has run yet (run clerk-sync reconcile)");
        let required = Thresholds { require_reconcile: true, ..Thresholds::default() };
        let health = assess(&quiet(), &inputs, &required);
        assert_eq!(checks(&health.problems), ["reconcile_missing"]);
        // A run in progress that has not completed yet is no failure either.
        let suspended = ReconcileFacts { last_run: Some(run("suspended", false)), last_completed_at: None };
        let inputs = Inputs { reconcile: Some(&suspended), ..inputs };
        let health = assess(&quiet(), &inputs, &Thresholds::default());
        assert!(health.healthy);
        assert_eq!(
            health.warnings[0].message,
            "no reconcile has completed yet (run 7 is suspended, started 2026-12-05T10:00:00.000000Z)"
        );
        let unreadable = Inputs { reconcile: None, ..inputs };
        assert_eq!(checks(&assess(&quiet(), &unreadable, &Thresholds::default()).warnings), ["reconcile_unreadable"]);
    }

    #[test]
    fn the_schedule_sets_the_limit_and_incomplete_runs_are_warned_of() {
        let facts = ReconcileFacts {
            last_run: Some(RunSummary {
                counts: Report { users: Counts { created: 2, deleted: 1, ..Counts::default() }, ..Report::default() },
                ..run("completed", false)
            }),
            last_completed_at: Some(NOW - time::Duration::hours(3)),
        };
        let inputs = Inputs {
            event_counts: &[],
            live_users: 0,
            reconcile: Some(&facts),
            missing_routines: &[],
            missing_timeouts: &[],
        };
        let hourly = Thresholds { reconcile_schedule: Duration::from_secs(3600), ..Thresholds::default() };
        let health = assess(&quiet(), &inputs, &hourly);
        assert_eq!(checks(&health.problems), ["reconcile_overdue"]);
        assert!(health.problems[0].message.ends_with("(over twice --reconcile-schedule 1h)"), "{health:?}");
        assert_eq!(checks(&health.warnings), ["reconcile_incomplete"]);
        assert_eq!(health.reconcile.last_run_drift, Some(3));
    }

    #[test]
    fn families_take_their_last_receipt_from_the_counts_and_unknown_ones_follow() {
        let count = |family: &str, minutes: i64| EventCount {
            event_type: "user.created".into(),
            family: family.into(),
            status: "processed".into(),
            count: 1,
            last_received_at: String::new(),
            last_received: NOW - time::Duration::minutes(minutes),
        };
        let counts = [count("users", 30), count("users", 10), count("unknown", 60)];
        let mut activity = quiet();
        activity.windows = vec![(
            "users".into(),
            Window { events_last_day: 2, lag_p50_ms: Some(150.0), lag_p99_ms: Some(900.0), ..Window::default() },
        )];
        let facts = completed_hours_ago(1);
        let inputs = Inputs {
            event_counts: &counts,
            live_users: 1,
            reconcile: Some(&facts),
            missing_routines: &[],
            missing_timeouts: &[],
        };
        let health = assess(&activity, &inputs, &Thresholds::default());
        let users = &health.families[0];
        assert_eq!(users.last_received_at.as_deref(), Some("2026-12-05T11:50:00.000000Z"));
        assert_eq!(users.seconds_since_last_received, Some(600));
        assert_eq!((users.events_last_day, users.lag_p50_ms, users.lag_p99_ms), (2, Some(150.0), Some(900.0)));
        assert_eq!(health.families[1].last_received_at, None);
        assert_eq!(health.families.last().map(|f| f.family.as_str()), Some("unknown"));
    }

    #[test]
    fn durations_read_and_print_compactly() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in ["", "0", "h", "1w", "-1h", "1.5h", "400d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(threshold(86_400), "24h");
        assert_eq!(threshold(7 * 86_400), "7d");
        assert_eq!(threshold(5400), "90m");
        assert_eq!(threshold(45), "45s");
        assert_eq!(age(0.1504), "150ms");
        assert_eq!(age(2.44), "2.4s");
        assert_eq!(age(185.0), "3m05s");
        assert_eq!(age(4.0 * 3600.0 + 600.0), "4h10m");
        assert_eq!(age(2.0 * 86_400.0 + 3.0 * 3600.0), "2d03h");
    }
}
