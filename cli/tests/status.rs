#![allow(clippy::unwrap_used)] // A panic in a test is a failing test.

//! `clerk-sync status`: health at a glance and `--check`, run as the built
//! binary against a real PostgreSQL. Events are delivered through the real
//! handlers, then dated by UPDATEs.

use std::process::{Command, Output};

use clerk_sync_tests::{
    clerk::{organization, simple_user},
    TestStack,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_clerk-sync");

/// The settings a developer's shell may hold that would change what the command does.
const CLEARED: [&str; 4] = ["DATABASE_URL", "DB_POOLER", "DATABASE_URL_SECRET_ARN", "MIGRATION_DATABASE_URL"];

fn clerk_sync(args: &[&str], url: &str) -> Output {
    clerk_sync_with(args, url, &[])
}

fn clerk_sync_with(args: &[&str], url: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args);
    for var in CLEARED {
        command.env_remove(var);
    }
    let no_dev = std::env::temp_dir().join(format!("clerk-sync-no-dev-{}", uuid::Uuid::new_v4().simple()));
    command.env("CLERK_SYNC_DEV_DIR", no_dev).env("DATABASE_URL", url).envs(env.iter().copied());
    command.output().expect("run clerk-sync")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(output), stderr(output)))
}

/// The lines of standard error that tell why it is unhealthy.
fn reasons(output: &Output) -> Vec<String> {
    stderr(output).lines().filter(|l| l.starts_with("unhealthy: ")).map(str::to_string).collect()
}

async fn sql(stack: &TestStack, statement: &str) {
    let client = stack.db.connect().await;
    client.batch_execute(statement).await.unwrap_or_else(|e| panic!("{e}: {statement}"));
}

/// A user, delivered now: the instance has users and has just heard from Clerk.
async fn with_a_user(stack: &TestStack) {
    let user = simple_user("user.created", "user_ada", 100, "Ada", "ada@example.com");
    stack.expect("msg_user", &user, "processed").await;
}

/// A reconcile run of the scheduled function, finished `ago`.
async fn reconcile_run(stack: &TestStack, state: &str, ago: &str, error: Option<&str>) {
    let error = error.map_or("NULL".to_string(), |e| format!("'{e}'"));
    sql(
        stack,
        &format!(
            "INSERT INTO clerk_reconcile_runs (trigger, dry_run, state, complete, error, started_at, finished_at)
             VALUES ('schedule', false, '{state}', {complete}, {error},
                     now() - interval '{ago}' - interval '10 minutes', now() - interval '{ago}')",
            complete = state == "completed"
        ),
    )
    .await;
}

#[tokio::test]
async fn status_check_passes_when_healthy() {
    let stack = TestStack::spawn().await;
    with_a_user(&stack).await;
    reconcile_run(&stack, "completed", "3 hours", None).await;
    let url = stack.db.url.as_str();

    let output = clerk_sync(&["status", "--check"], url);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{out}{}", stderr(&output));
    assert!(reasons(&output).is_empty(), "{}", stderr(&output));
    assert!(out.starts_with("Health: healthy (0 problems, 0 warnings)"), "{out}");
    // Every family has its row, events or not; the existing sections follow.
    for family in ["users", "organizations", "memberships", "invitations", "domains", "roles"] {
        assert!(out.lines().any(|l| l.split_whitespace().next() == Some(family)), "{family}: {out}");
    }
    let users = out.lines().find(|l| l.starts_with("users ")).unwrap();
    assert!(users.contains("1/1") && users.contains("0/0"), "one event, none failed: {users}");
    let domains = out.lines().find(|l| l.starts_with("domains ")).unwrap();
    assert!(domains.contains("(none)"), "{domains}");
    assert!(out.contains("Replay backlog: 0 failed, 0 received"), "{out}");
    assert!(out.contains("Reconcile: last run 1 completed, complete, drift 0 rows; last completed"), "{out}");
    assert!(out.contains("\nRows\n") && out.contains("Latest events") && out.contains("Last reconcile"), "{out}");

    // No reconcile on record: a warning only, unless required.
    sql(&stack, "DELETE FROM clerk_reconcile_runs").await;
    let output = clerk_sync(&["status", "--check"], url);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warning: no reconcile has run yet (run clerk-sync reconcile)"),
        "{}",
        stderr(&output)
    );
    let required = clerk_sync(&["status", "--check", "--require-reconcile"], url);
    assert_eq!(required.status.code(), Some(1), "{}", stderr(&required));
    assert_eq!(reasons(&required), ["unhealthy: no reconcile has run yet (run clerk-sync reconcile)"]);
}

/// Behind a transaction pooler the functions call this build's event
/// routines: one missing (a deploy before `migrate`) is a problem there,
/// and nothing to check without the pooler.
#[tokio::test]
async fn status_check_fails_behind_a_pooler_when_an_event_routine_is_missing() {
    let stack = TestStack::spawn().await;
    with_a_user(&stack).await;
    reconcile_run(&stack, "completed", "3 hours", None).await;
    let url = stack.db.url.as_str();
    let pooler = [("DB_POOLER", "transaction")];
    let output = clerk_sync_with(&["status", "--check"], url, &pooler);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let routine = clerk_sync::sync::statements::DELIVERING.membership.function().to_string();
    sql(&stack, &format!("DROP FUNCTION {routine}")).await;
    let output = clerk_sync_with(&["status", "--check"], url, &pooler);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        reasons(&output),
        ["unhealthy: 1 event routines of this build are missing, so every delivery through the pooler answers 503: \
          run clerk-sync migrate"]
    );
    let json = json(&clerk_sync_with(&["status", "--json"], url, &pooler));
    assert_eq!(json["problems"][0]["check"], "routines_missing", "{json}");
    let direct = clerk_sync(&["status", "--check"], url);
    assert_eq!(direct.status.code(), Some(0), "not called without a pooler: {}", stderr(&direct));
}

#[tokio::test]
async fn status_check_fails_on_failed_events_waiting() {
    let stack = TestStack::spawn().await;
    with_a_user(&stack).await;
    reconcile_run(&stack, "completed", "1 hour", None).await;
    let org = organization("organization.created", "org_acme", "Acme", 100);
    stack.expect("msg_org", &org, "processed").await;
    let url = stack.db.url.as_str();
    // Just failed: not yet in the backlog (a minute's grace).
    sql(&stack, "UPDATE clerk_webhook_events SET status = 'failed', last_error = 'bug' WHERE svix_id = 'msg_org'")
        .await;
    assert_eq!(clerk_sync(&["status", "--check"], url).status.code(), Some(0));

    sql(&stack, "UPDATE clerk_webhook_events SET received_at = now() - interval '5 minutes' WHERE svix_id = 'msg_org'")
        .await;
    let output = clerk_sync(&["status", "--check"], url);
    assert_eq!(output.status.code(), Some(1), "{}{}", stdout(&output), stderr(&output));
    assert_eq!(
        reasons(&output),
        ["unhealthy: failed events waiting for replay: 1 (clerk-sync replay, once their cause is fixed)"]
    );
    assert!(!stderr(&output).contains("error:"), "not a failure of the command: {}", stderr(&output));
    let out = stdout(&output);
    assert!(out.starts_with("Health: UNHEALTHY (1 problem, 0 warnings)"), "{out}");
    assert!(out.contains("Replay backlog: 1 failed, 0 received"), "{out}");
    // Columns: family, last received, ago, events 1h/1d, failed 1h/1d, lag p50, lag p99.
    let orgs: Vec<&str> = out.lines().find(|l| l.starts_with("organizations ")).unwrap().split_whitespace().collect();
    assert_eq!(orgs[3..5], ["1/1", "1/1"], "{out}");

    // Without --check the report is the same and the exit status 0.
    assert_eq!(clerk_sync(&["status"], url).status.code(), Some(0));

    // Replayed, it is healthy again.
    let replay = clerk_sync(&["replay"], url);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_eq!(clerk_sync(&["status", "--check"], url).status.code(), Some(0));
}

#[tokio::test]
async fn status_check_fails_on_silence_while_users_exist() {
    let stack = TestStack::spawn().await;
    reconcile_run(&stack, "completed", "1 hour", None).await;
    let url = stack.db.url.as_str();
    // No users, no events: nothing to hear from.
    assert_eq!(clerk_sync(&["status", "--check"], url).status.code(), Some(0));

    with_a_user(&stack).await;
    sql(&stack, "UPDATE clerk_webhook_events SET received_at = now() - interval '25 hours'").await;
    let output = clerk_sync(&["status", "--check"], url);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let reasons = reasons(&output);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with("unhealthy: no event received for 1d0")
            && reasons[0].ends_with("(over --max-silence 24h); live users: 1"),
        "{reasons:?}"
    );
    // A longer threshold lets it pass.
    assert_eq!(clerk_sync(&["status", "--check", "--max-silence", "2d"], url).status.code(), Some(0));
    // A bad threshold is a usage error, not a verdict.
    let bad = clerk_sync(&["status", "--check", "--max-silence", "soon"], url);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--max-silence"), "{}", stderr(&bad));
}

#[tokio::test]
async fn status_check_fails_when_the_last_reconcile_failed_or_is_overdue() {
    let stack = TestStack::spawn().await;
    with_a_user(&stack).await;
    reconcile_run(&stack, "completed", "5 hours", None).await;
    reconcile_run(&stack, "failed", "1 hour", Some("the Backend API answered 503")).await;
    let url = stack.db.url.as_str();

    let output = clerk_sync(&["status", "--check"], url);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(reasons(&output), ["unhealthy: the last reconcile (run 2) failed: the Backend API answered 503"]);

    // A later completed run mends it; a dry run after it changes nothing.
    reconcile_run(&stack, "completed", "30 minutes", None).await;
    sql(
        &stack,
        "INSERT INTO clerk_reconcile_runs (trigger, dry_run, state, error) VALUES ('cli', true, 'failed', 'dry')",
    )
    .await;
    assert_eq!(clerk_sync(&["status", "--check"], url).status.code(), Some(0));

    // Older than twice the schedule.
    let output = clerk_sync(&["status", "--check", "--reconcile-schedule", "10m"], url);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let reasons = reasons(&output);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with("unhealthy: the last completed reconcile finished 30m0")
            && reasons[0].ends_with("s ago (over twice --reconcile-schedule 10m)"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn status_lag_percentiles_per_family_over_the_last_day() {
    let stack = TestStack::spawn().await;
    for i in 1..=6 {
        let user = simple_user("user.created", &format!("user_{i}"), 100, "Ada", &format!("u{i}@example.com"));
        stack.expect(&format!("u{i}"), &user, "processed").await;
    }
    let org = organization("organization.created", "org_acme", "Acme", 100);
    stack.expect("o1", &org, "processed").await;
    // Receipt times on whole seconds, the event's own timestamp `lag` before:
    // users lag 1, 2, 3 (a timestamp in seconds), 4 and 10 s within the day,
    // two of them within the hour; one of 1000 s two days ago, outside.
    sql(
        &stack,
        "UPDATE clerk_webhook_events AS e
         SET received_at = t.at,
             event_timestamp = CASE WHEN t.in_seconds
                                    THEN extract(epoch FROM t.at)::bigint - t.lag_ms / 1000
                                    ELSE (extract(epoch FROM t.at) * 1000)::bigint - t.lag_ms END,
             status = t.status
         FROM (SELECT svix_id, date_trunc('second', now()) - ago::interval AS at, lag_ms, in_seconds, status
               FROM (VALUES ('u1', '10 minutes', 1000, false, 'processed'),
                            ('u2', '20 minutes', 2000, false, 'processed'),
                            ('u3', '2 hours', 3000, true, 'processed'),
                            ('u4', '5 hours', 4000, false, 'stale'),
                            ('u5', '23 hours', 10000, false, 'failed'),
                            ('u6', '2 days', 1000000, false, 'processed'),
                            ('o1', '30 minutes', 500, false, 'failed'))
                    AS v (svix_id, ago, lag_ms, in_seconds, status)) AS t
         WHERE e.svix_id = t.svix_id",
    )
    .await;

    let output = clerk_sync(&["status", "--json"], &stack.db.url);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let status = json(&output);
    let families = status["families"].as_array().unwrap();
    let names: Vec<&str> = families.iter().map(|f| f["family"].as_str().unwrap()).collect();
    assert_eq!(names, ["users", "organizations", "memberships", "invitations", "domains", "roles"]);

    let users = &families[0];
    assert_eq!(
        (&users["events_last_hour"], &users["failed_last_hour"], &users["events_last_day"], &users["failed_last_day"]),
        (&Value::from(2), &Value::from(0), &Value::from(5), &Value::from(1))
    );
    let ms = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("a number: {v}"));
    // percentile_cont over 1, 2, 3, 4, 10 s: the middle one; at 0.99, 4 + 0.96 × (10 - 4).
    assert!((ms(&users["lag_p50_ms"]) - 3000.0).abs() < 1e-6, "{users}");
    assert!((ms(&users["lag_p99_ms"]) - 9760.0).abs() < 1e-6, "{users}");
    assert_eq!(users["seconds_since_last_received"].as_i64().map(|s| (600..=602).contains(&s)), Some(true), "{users}");

    let orgs = &families[1];
    assert_eq!((&orgs["events_last_hour"], &orgs["failed_last_hour"]), (&Value::from(1), &Value::from(1)));
    assert!((ms(&orgs["lag_p50_ms"]) - 500.0).abs() < 1e-6 && (ms(&orgs["lag_p99_ms"]) - 500.0).abs() < 1e-6);

    let memberships = &families[2];
    assert_eq!(memberships["events_last_day"], 0);
    assert_eq!(memberships["lag_p50_ms"], Value::Null);
    assert_eq!(memberships["last_received_at"], Value::Null);

    // The human table shows the same figures.
    let table = stdout(&clerk_sync(&["status"], &stack.db.url));
    let users: Vec<&str> = table.lines().find(|l| l.starts_with("users ")).unwrap().split_whitespace().collect();
    assert!(users[2].starts_with("10m0"), "{table}");
    assert_eq!(users[3..], ["2/5", "0/1", "3.0s", "9.8s"], "{table}");
}

#[tokio::test]
async fn status_json_keeps_its_keys_and_adds_the_health() {
    let stack = TestStack::spawn().await;
    with_a_user(&stack).await;
    let org = organization("organization.created", "org_acme", "Acme", 100);
    stack.expect("msg_org", &org, "processed").await;
    sql(
        &stack,
        "UPDATE clerk_webhook_events SET status = 'failed', last_error = 'bug', received_at = now() - interval '2 minutes'
         WHERE svix_id = 'msg_org'",
    )
    .await;
    let url = stack.db.url.as_str();

    let output = clerk_sync(&["status", "--json", "--check"], url);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let status = json(&output);
    // What `status --json` printed before, unchanged.
    for key in [
        "events_by_type_and_status",
        "latest_events",
        "failed_events",
        "users",
        "organizations",
        "memberships",
        "invitations",
        "domains",
        "roles",
        "permissions",
        "last_reconcile",
    ] {
        assert!(status.get(key).is_some(), "{key} missing: {status:#}");
    }
    assert_eq!(status["users"]["active"], 1);
    assert_eq!(status["failed_events"][0]["svix_id"], "msg_org");
    assert_eq!(status["last_reconcile"], Value::Null);
    assert!(status["events_by_type_and_status"][0]["last_received_at"].is_string(), "{status:#}");

    // The health, added.
    assert_eq!(status["healthy"], false);
    assert_eq!(
        status["problems"],
        serde_json::json!([{
            "check": "failed_events",
            "message": "failed events waiting for replay: 1 (clerk-sync replay, once their cause is fixed)"
        }])
    );
    assert_eq!(status["warnings"][0]["check"], "reconcile_missing");
    assert_eq!(status["backlog"]["failed"], 1);
    assert_eq!(status["backlog"]["received"], 0);
    assert!(status["backlog"]["oldest_received_at"].is_string());
    assert!(status["checked_at"].is_string() && status["last_event_at"].is_string(), "{status:#}");
    assert_eq!(status["families"].as_array().map(Vec::len), Some(6));
    assert_eq!(status["reconcile"]["last_run_id"], Value::Null);
    assert_eq!(status["reconcile"]["schedule_seconds"], 86_400);
    assert_eq!(
        status["thresholds"],
        serde_json::json!({"max_silence_seconds": 86_400, "reconcile_schedule_seconds": 86_400, "require_reconcile": false})
    );
    // Standard error holds the reasons only; standard output the JSON only.
    assert_eq!(reasons(&output).len(), 1);
    assert!(
        stderr(&output).lines().all(|l| l.starts_with("unhealthy: ") || l.starts_with("warning: ")),
        "{}",
        stderr(&output)
    );

    // Without --check, JSON and exit 0, whatever the verdict; nothing on standard error.
    let plain = clerk_sync(&["status", "--json"], url);
    assert_eq!(plain.status.code(), Some(0));
    assert_eq!(json(&plain)["healthy"], false);
    assert!(stderr(&plain).is_empty(), "{}", stderr(&plain));
}

/// With `DB_TIMEOUTS=role` the functions send no timeouts: a role whose
/// sessions start without them is a problem, and one that has them is not.
#[tokio::test]
async fn status_check_fails_when_the_role_lacks_the_timeouts_it_is_trusted_with() {
    let stack = TestStack::spawn().await;
    with_a_user(&stack).await;
    reconcile_run(&stack, "completed", "3 hours", None).await;
    let url = stack.db.url.as_str();
    let role = [("DB_TIMEOUTS", "role")];
    let output = clerk_sync_with(&["status", "--check"], url, &role);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        reasons(&output),
        ["unhealthy: DB_TIMEOUTS=role, but this role's sessions start without idle_in_transaction_session_timeout, \
          lock_timeout, statement_timeout: a request may wait into the Lambda timeout. Set them with ALTER ROLE … \
          SET, or unset DB_TIMEOUTS"]
    );
    let json = json(&clerk_sync_with(&["status", "--json"], url, &role));
    assert_eq!(json["problems"][0]["check"], "timeouts_missing", "{json}");

    // Only this test's database: the cluster is shared.
    for (name, value) in
        [("lock_timeout", "2s"), ("statement_timeout", "5s"), ("idle_in_transaction_session_timeout", "10s")]
    {
        let database = &stack.db.name;
        sql(&stack, &format!("ALTER ROLE CURRENT_USER IN DATABASE \"{database}\" SET {name} = '{value}'")).await;
    }
    let output = clerk_sync_with(&["status", "--check"], url, &role);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Without the setting the functions send their own: nothing to check.
    let output = clerk_sync(&["status", "--check"], url);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
