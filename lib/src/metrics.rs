//! CloudWatch metrics as Embedded Metric Format (EMF) lines in the function
//! logs: CloudWatch Logs extracts them, so a metric costs no API call and no
//! wait, only one JSON line on stdout. Dimensions are few and bounded (the
//! family, the outcome, the reconcile kind): never an id.
//!
//! Lines are written in Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set) or when
//! `CLERK_SYNC_METRICS=emf`; `CLERK_SYNC_METRICS=off` turns them off. Tests
//! install a sink of their own ([`capture`]).

use std::{
    io::Write,
    sync::{Mutex, OnceLock},
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric (`METRICS_NAMESPACE` changes it).
pub const DEFAULT_NAMESPACE: &str = "ClerkSync";

/// Where the lines go: stdout, a test's buffer, or nowhere.
enum Sink {
    Off,
    Stdout,
    Capture(Box<dyn Write + Send>),
}

struct Emitter {
    namespace: String,
    sink: Mutex<Sink>,
}

static EMITTER: OnceLock<Emitter> = OnceLock::new();

fn emitter() -> &'static Emitter {
    EMITTER.get_or_init(|| {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let sink = match var("CLERK_SYNC_METRICS").as_deref() {
            Some("off") => Sink::Off,
            Some("emf") => Sink::Stdout,
            _ if var("AWS_LAMBDA_FUNCTION_NAME").is_some() => Sink::Stdout,
            _ => Sink::Off,
        };
        Emitter {
            namespace: var("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
            sink: Mutex::new(sink),
        }
    })
}

/// Sends every later line to `writer` (tests). Only the first call takes.
pub fn capture(writer: impl Write + Send + 'static) {
    let emitter = emitter();
    if let Ok(mut sink) = emitter.sink.lock() {
        *sink = Sink::Capture(Box::new(writer));
    }
}

fn emit(line: &Value) {
    let emitter = emitter();
    let Ok(mut sink) = emitter.sink.lock() else { return };
    let mut text = line.to_string();
    text.push('\n');
    // A log line that cannot be written is dropped: metrics never fail a request.
    let _ = match &mut *sink {
        Sink::Off => Ok(()),
        Sink::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
        Sink::Capture(writer) => writer.write_all(text.as_bytes()),
    };
}

fn enabled() -> bool {
    emitter().sink.lock().map(|sink| !matches!(*sink, Sink::Off)).unwrap_or(false)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One EMF document: `metrics` (name, unit, value) under `dimensions`
/// (each a set of the `properties`' keys), with `properties` at the root.
pub fn document(
    namespace: &str,
    timestamp_ms: i64,
    dimensions: &[&[&str]],
    metrics: &[(&str, &str, f64)],
    properties: &[(&str, &str)],
) -> Value {
    let definitions: Vec<Value> = metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": dimensions, "Metrics": definitions}],
        }),
    );
    for (key, value) in properties {
        root.insert((*key).into(), json!(value));
    }
    for (name, _, value) in metrics {
        root.insert((*name).into(), json!(value));
    }
    Value::Object(root)
}

/// How a webhook delivery ended, as the `Outcome` dimension says it.
pub fn delivery_outcome(status: u16, sync_status: Option<&str>) -> &'static str {
    match (status, sync_status) {
        (200, Some("processed")) => "processed",
        (200, Some("duplicate")) => "duplicate",
        (200, Some("ignored")) => "ignored",
        (200, Some("stale")) => "stale",
        (200, Some("failed")) => "failed",
        (500..=599, _) => "error_5xx",
        (400..=499, _) => "rejected_4xx",
        _ => "other",
    }
}

/// One webhook delivery: `Deliveries` (1), `Duration` (ms) and, for an
/// event that carries its own `timestamp`, `DeliveryLag` (receipt minus
/// that timestamp, ms), by family and outcome, and by outcome alone.
pub fn delivery(family: &str, outcome: &str, duration_ms: f64, event_ms: Option<i64>) {
    if !enabled() {
        return;
    }
    let now = now_ms();
    let lag = event_ms.map(|at| (now - at).max(0) as f64);
    let mut metrics = vec![("Deliveries", "Count", 1.0), ("Duration", "Milliseconds", duration_ms)];
    if let Some(lag) = lag {
        metrics.push(("DeliveryLag", "Milliseconds", lag));
    }
    let namespace = &emitter().namespace;
    emit(&document(
        namespace,
        now,
        &[&["Family", "Outcome"], &["Outcome"], &["Family"]],
        &metrics,
        &[("Family", family), ("Outcome", outcome)],
    ));
}

/// One reconcile run: `ReconcileRuns` (1), `ReconcileFailed` (0 or 1),
/// `ReconcileDuration` (ms) and `ReconcileDrift` (rows created, updated or
/// deleted) overall; and the drift by kind.
pub fn reconcile(failed: bool, duration_ms: f64, drift_by_kind: &[(&str, u64)]) {
    if !enabled() {
        return;
    }
    let now = now_ms();
    let namespace = &emitter().namespace;
    let total: u64 = drift_by_kind.iter().map(|(_, n)| n).sum();
    emit(&document(
        namespace,
        now,
        &[&[]],
        &[
            ("ReconcileRuns", "Count", 1.0),
            ("ReconcileFailed", "Count", if failed { 1.0 } else { 0.0 }),
            ("ReconcileDuration", "Milliseconds", duration_ms),
            ("ReconcileDrift", "Count", total as f64),
        ],
        &[],
    ));
    for (kind, drift) in drift_by_kind {
        emit(&document(namespace, now, &[&["Kind"]], &[("ReconcileDrift", "Count", *drift as f64)], &[("Kind", kind)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_emf() {
        let doc = document(
            "ClerkSync",
            1_700_000_000_000,
            &[&["Family", "Outcome"]],
            &[("Deliveries", "Count", 1.0), ("Duration", "Milliseconds", 2.5)],
            &[("Family", "users"), ("Outcome", "processed")],
        );
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_000_i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ClerkSync");
        assert_eq!(directive["Dimensions"], json!([["Family", "Outcome"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Deliveries", "Unit": "Count"}, {"Name": "Duration", "Unit": "Milliseconds"}])
        );
        // Every dimension and metric named is a root member.
        assert_eq!((doc["Family"].as_str(), doc["Outcome"].as_str()), (Some("users"), Some("processed")));
        assert_eq!((doc["Deliveries"].as_f64(), doc["Duration"].as_f64()), (Some(1.0), Some(2.5)));
    }

    #[test]
    fn outcomes_are_a_small_fixed_set() {
        assert_eq!(delivery_outcome(200, Some("processed")), "processed");
        assert_eq!(delivery_outcome(200, Some("failed")), "failed");
        assert_eq!(delivery_outcome(401, None), "rejected_4xx");
        assert_eq!(delivery_outcome(503, None), "error_5xx");
        assert_eq!(delivery_outcome(200, Some("anything else")), "other");
    }
}
