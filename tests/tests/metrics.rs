//! The metrics are CloudWatch Embedded Metric Format lines: parsed back
//! from what a run wrote, each is a valid EMF document, names only bounded
//! dimensions (a family, an outcome: never an id), and carries the
//! delivery lag of events that have a timestamp.
//!
//! A test binary of its own: the metrics sink is process-wide.

use std::{
    collections::BTreeSet,
    io::Write,
    sync::{Arc, Mutex},
};

use clerk_sync::clerk::FAMILIES;
use clerk_sync_tests::{clerk::simple_user, function_url_event, now, signed_headers, TestStack};
use serde_json::Value;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_delivery_writes_one_emf_line_with_bounded_dimensions() {
    let captured = Captured::default();
    clerk_sync::metrics::capture(captured.clone());
    let stack = TestStack::spawn().await;
    let mut user = simple_user("user.created", "user_m", 1, "M", "m@example.com");
    // An event that happened 1.5 s before it arrives.
    user["timestamp"] = serde_json::json!(now() * 1000 - 1_500);
    stack.expect("msg_m1", &user, "processed").await;
    stack.expect("msg_m1", &user, "duplicate").await;
    let body = user.to_string();
    let forged = function_url_event(
        "POST",
        &body,
        &signed_headers("whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==", "msg_m2", now(), &body),
        false,
    );
    let refused = clerk_sync_tests::answer(
        clerk_sync::handle(&stack.users, lambda_http::request::from_str(&forged).unwrap()).await,
    );
    assert_eq!(refused.status, 401);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(lines.len(), 3, "{text}");
    let families: BTreeSet<&str> = FAMILIES.iter().map(|f| f.family.name()).collect();
    let outcomes = ["processed", "duplicate", "ignored", "stale", "failed", "rejected_4xx", "error_5xx", "other"];
    for line in &lines {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert!(line["_aws"]["Timestamp"].as_i64().is_some(), "{line}");
        assert_eq!(directive["Namespace"], "ClerkSync");
        for set in directive["Dimensions"].as_array().unwrap() {
            for key in set.as_array().unwrap() {
                let key = key.as_str().unwrap();
                assert!(["Family", "Outcome"].contains(&key), "dimension {key}");
                assert!(line[key].is_string(), "dimension {key} is a root member: {line}");
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "metric {name} is a root number: {line}");
            assert!(["Count", "Milliseconds"].contains(&metric["Unit"].as_str().unwrap()));
        }
        assert!(families.contains(line["Family"].as_str().unwrap()), "{line}");
        assert!(outcomes.contains(&line["Outcome"].as_str().unwrap()), "{line}");
        assert!(!line.to_string().contains("msg_m") && !line.to_string().contains("user_m"), "no id: {line}");
    }
    let outcome = |i: usize| lines[i]["Outcome"].as_str().unwrap().to_string();
    assert_eq!((outcome(0), outcome(1), outcome(2)), ("processed".into(), "duplicate".into(), "rejected_4xx".into()));
    let lag = lines[0]["DeliveryLag"].as_f64().expect("the lag of an event with a timestamp");
    assert!((1_500.0..10_000.0).contains(&lag), "lag {lag}");
    assert!(lines[2].get("DeliveryLag").is_none(), "a refused request has no lag");
}
