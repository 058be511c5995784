#![allow(clippy::unwrap_used)] // A panic in a test is a failing test.

//! `clerk-sync reconcile` and `reconcile-changes`, run as the built binary
//! against a fresh database and the fake Backend API started in the test,
//! and what `status` then shows of them.
//!
//! The tests run on a multi-threaded runtime: the fake serves from its
//! workers while the test waits on the binary.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use clerk_sync_tests::{
    clerk::T0,
    fake_backend_api::{membership, organization, user, FakeBackendApi, FAKE_KEY},
    TestDb,
};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_clerk-sync");

/// The settings a developer's shell may hold that would change what the commands do.
const CLEARED: [&str; 9] = [
    "DATABASE_URL",
    "DATABASE_URL_SECRET_ARN",
    "CLERK_SECRET_KEY",
    "CLERK_SECRET_KEY_ARN",
    "CLERK_API_URL",
    "CLERK_API_MAX_REQUESTS_PER_10S",
    "CLERK_WEBHOOK_SECRET_ARN",
    "ENCRYPTION_KEY_ARN",
    "PGSSLMODE",
];

fn temp_dir(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()))
}

fn clerk_sync(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args);
    for var in CLEARED {
        command.env_remove(var);
    }
    // Never a `clerk-sync dev` the developer happens to run.
    command.env("CLERK_SYNC_DEV_DIR", temp_dir("clerk-sync-no-dev"));
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run clerk-sync")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn text(output: &Output) -> String {
    format!("{}{}", stdout(output), stderr(output))
}

/// The database and the fake, as the environment names them.
struct Setup {
    db: TestDb,
    fake: FakeBackendApi,
    api_url: String,
}

impl Setup {
    async fn new() -> Self {
        let db = TestDb::spawn().await;
        let fake = FakeBackendApi::start().await;
        let api_url = fake.url();
        Self { db, fake, api_url }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("DATABASE_URL", self.db.url.as_str()),
            ("CLERK_SECRET_KEY", FAKE_KEY),
            ("CLERK_API_URL", self.api_url.as_str()),
            // A development key's documented limit: the runs here are a few requests each.
            ("CLERK_API_MAX_REQUESTS_PER_10S", "100"),
        ]
    }

    fn run(&self, args: &[&str]) -> Output {
        clerk_sync(args, &self.env())
    }

    /// `reconcile --json` (with `extra`): exit 0 and exactly one JSON object on standard output.
    fn report(&self, extra: &[&str]) -> Value {
        let mut args = vec!["reconcile", "--json"];
        args.extend(extra);
        let output = self.run(&args);
        assert!(output.status.success(), "{}", text(&output));
        let out = stdout(&output);
        assert_eq!(out.lines().count(), 1, "one line on standard output: {out:?}");
        let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
        // The keys in the documented order.
        let order = [
            "complete",
            "dry_run",
            "users",
            "organizations",
            "memberships",
            "permissions",
            "roles",
            "domains",
            "invitations",
        ];
        let at: Vec<usize> = order.iter().map(|k| out.find(&format!("\"{k}\":")).unwrap_or(usize::MAX)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1] && w[1] != usize::MAX), "{out}");
        assert_eq!(report.as_object().unwrap().len(), order.len(), "{report}");
        report
    }

    async fn mirror_rows(&self) -> [i64; 3] {
        [self.db.count("users").await, self.db.count("organization").await, self.db.count("user_organizations").await]
    }
}

/// Clerk's data: three users, two organizations, three memberships.
fn serve(fake: &FakeBackendApi) {
    let orgs = [organization("org_a", T0), organization("org_b", T0 + 1)];
    fake.set_users(vec![
        user("user_1", T0, "one@example.test"),
        user("user_2", T0 + 1, "two@example.test"),
        user("user_3", T0 + 2, "three@example.test"),
    ]);
    fake.set_memberships(vec![
        membership("orgmem_1a", &orgs[0], "user_1", "org:admin", T0 + 10),
        membership("orgmem_2a", &orgs[0], "user_2", "org:member", T0 + 11),
        membership("orgmem_3b", &orgs[1], "user_3", "org:admin", T0 + 12),
    ]);
    fake.set_organizations(orgs.to_vec());
}

/// The report with these counts of users, organizations and memberships;
/// the fake serves no permissions, roles, domains or invitations here.
fn expected_report(complete: bool, dry_run: bool, users: Value, organizations: Value, memberships: Value) -> Value {
    let none = counts(0, 0, 0, 0);
    json!({"complete": complete, "dry_run": dry_run, "users": users, "organizations": organizations,
           "memberships": memberships, "permissions": none, "roles": none, "domains": none, "invitations": none})
}

fn counts(seen: u64, created: u64, updated: u64, deleted: u64) -> Value {
    json!({"seen": seen, "created": created, "updated": updated, "deleted": deleted,
           "unchanged": seen - created - updated})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_writes_nothing_a_backfill_creates_everything_and_a_second_run_finds_no_drift() {
    let setup = Setup::new().await;
    serve(&setup.fake);

    let dry = setup.report(&["--dry-run"]);
    assert_eq!(dry, expected_report(true, true, counts(3, 3, 0, 0), counts(2, 2, 0, 0), counts(3, 3, 0, 0)));
    assert_eq!(setup.mirror_rows().await, [0, 0, 0], "a dry run writes nothing");

    let backfill = setup.report(&[]);
    assert_eq!(backfill, expected_report(true, false, counts(3, 3, 0, 0), counts(2, 2, 0, 0), counts(3, 3, 0, 0)));
    assert_eq!(setup.mirror_rows().await, [3, 2, 3]);

    let again = setup.report(&[]);
    assert_eq!(again, expected_report(true, false, counts(3, 0, 0, 0), counts(2, 0, 0, 0), counts(3, 0, 0, 0)));

    // Not a terminal: no bars, the table and the run's line.
    let table = setup.run(&["reconcile"]);
    let out = stdout(&table);
    assert!(table.status.success(), "{}", text(&table));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].split_whitespace().eq(["seen", "created", "updated", "deleted", "unchanged"]), "{out}");
    assert!(lines[1].split_whitespace().eq(["users", "3", "0", "0", "0", "3"]), "{out}");
    assert!(lines[2].split_whitespace().eq(["organizations", "2", "0", "0", "0", "2"]), "{out}");
    assert!(lines[3].split_whitespace().eq(["memberships", "3", "0", "0", "0", "3"]), "{out}");
    for (line, kind) in lines[4..8].iter().zip(["permissions", "roles", "domains", "invitations"]) {
        assert!(line.split_whitespace().eq([kind, "0", "0", "0", "0", "0"]), "{out}");
    }
    // A request per listing: seven.
    assert!(lines[8].starts_with("run 4: complete, not a dry run, no drift; 7 API requests;"), "{out}");
    assert!(lines[8].contains("waiting on the API") && lines[8].contains("on the database"), "{out}");
    assert_eq!(lines.len(), 9, "{out}");
    assert!(stderr(&table).is_empty(), "no bars off a terminal: {:?}", stderr(&table));
    assert!(!text(&table).contains(FAKE_KEY) && !text(&table).contains("postgres://"), "{}", text(&table));

    // What the backfill (run 2) changed, and why; the latest run changed nothing.
    let changes = setup.run(&["reconcile-changes", "--run", "2", "--json"]);
    assert!(changes.status.success(), "{}", text(&changes));
    let listed: Value = serde_json::from_slice(&changes.stdout).unwrap();
    assert_eq!((listed["run"]["id"].as_i64(), listed["total"].as_i64()), (Some(2), Some(8)), "{listed}");
    let rows = listed["changes"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|c| c["action"] == "created"), "{listed}");
    let user_1 = rows.iter().find(|c| c["clerk_id"] == "user_1").unwrap();
    assert_eq!((&user_1["kind"], &user_1["clerk_updated_ms"]), (&json!("user"), &json!(T0 + 5)), "{user_1}");
    let limited = setup.run(&["reconcile-changes", "--run", "2", "--limit", "3"]);
    let out = stdout(&limited);
    assert!(limited.status.success(), "{}", text(&limited));
    assert!(out.contains("absent from the mirror") && out.contains("showing the first 3 of 8"), "{out}");
    let latest = setup.run(&["reconcile-changes", "--json"]);
    let listed: Value = serde_json::from_slice(&latest.stdout).unwrap();
    assert_eq!((listed["run"]["id"].as_i64(), listed["total"].as_i64()), (Some(4), Some(0)), "{listed}");
    let unknown = setup.run(&["reconcile-changes", "--run", "99"]);
    assert!(!unknown.status.success() && stderr(&unknown).contains("no reconcile run 99"), "{}", text(&unknown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_repaired_and_reconcile_changes_and_status_tell_what_and_why() {
    let setup = Setup::new().await;
    serve(&setup.fake);
    let none = setup.run(&["reconcile-changes"]);
    assert!(!none.status.success() && stderr(&none).contains("no reconcile run is on record"), "{}", text(&none));
    let before = setup.run(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&before.stdout).unwrap();
    assert_eq!(status["last_reconcile"], Value::Null, "{status}");
    assert!(status["users"].is_object(), "the overview's fields are still there: {status}");

    setup.report(&[]);
    // In Clerk, later: user 2 renamed, user 3 deleted (their membership with them).
    let mut renamed = user("user_2", T0 + 1, "two@example.test");
    renamed["first_name"] = json!("Renamed");
    renamed["updated_at"] = json!(T0 + 10_000);
    setup.fake.remove("user_3");
    setup.fake.remove("orgmem_3b");
    setup.fake.set_users(vec![user("user_1", T0, "one@example.test"), renamed]);

    let repair = setup.report(&[]);
    assert_eq!(repair["users"], counts(2, 0, 1, 1), "{repair}");
    assert_eq!(repair["memberships"]["seen"], 2, "{repair}");
    assert_eq!(repair["complete"], true);

    let changes = setup.run(&["reconcile-changes", "--json"]);
    assert!(changes.status.success(), "{}", text(&changes));
    let listed: Value = serde_json::from_slice(&changes.stdout).unwrap();
    let users: Vec<(String, String)> = listed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "user")
        .map(|c| (c["clerk_id"].as_str().unwrap().to_string(), c["action"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(users, [("user_2".to_string(), "updated".to_string()), ("user_3".into(), "deleted".into())]);
    let table = setup.run(&["reconcile-changes"]);
    let out = stdout(&table);
    assert!(out.contains("Clerk's copy was newer") && out.contains("absent from Clerk's complete listing"), "{out}");

    let after = setup.run(&["status", "--json"]);
    assert!(after.status.success(), "{}", text(&after));
    let status: Value = serde_json::from_slice(&after.stdout).unwrap();
    let last = &status["last_reconcile"];
    assert_eq!((last["id"].as_i64(), &last["state"], &last["complete"]), (Some(2), &json!("completed"), &json!(true)));
    assert_eq!((&last["trigger"], &last["dry_run"], &last["error"]), (&json!("cli"), &json!(false), &Value::Null));
    assert_eq!(last["counts"]["users"], counts(2, 0, 1, 1), "{last}");
    assert!(last["finished_at"].as_str().is_some_and(|at| at.ends_with('Z')), "{last}");
    assert!(last["api_requests"].as_i64().is_some_and(|n| n >= 3), "{last}");
    let text_status = setup.run(&["status"]);
    let out = stdout(&text_status);
    assert!(out.contains("Last reconcile") && out.contains("run 2 (cli): completed, complete"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_complete_exits_non_zero_with_one_line_and_never_the_key() {
    let setup = Setup::new().await;
    serve(&setup.fake);
    // Every list request answers 503: the run fails after its retries.
    setup.fake.fail_lists_after(0, 503, u32::MAX);
    let failed = setup.run(&["reconcile", "--json"]);
    let err = stderr(&failed);
    assert!(!failed.status.success(), "{}", text(&failed));
    assert!(stdout(&failed).is_empty(), "nothing on standard output: {:?}", stdout(&failed));
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("error: reconcile failed: the Clerk Backend API failed on /v1/users"), "{err}");
    assert!(err.contains("503") && !err.contains(FAKE_KEY), "{err}");
    assert_eq!(setup.mirror_rows().await, [0, 0, 0]);
    // status shows the failed run and why.
    let status: Value = serde_json::from_slice(&setup.run(&["status", "--json"]).stdout).unwrap();
    let last = &status["last_reconcile"];
    assert_eq!((&last["state"], &last["complete"]), (&json!("failed"), &json!(false)), "{last}");
    assert!(last["error"].as_str().is_some_and(|e| e.contains("503")), "{last}");
    setup.fake.clear_failures();

    // A key the instance refuses: one line, and the key it was given never printed.
    let wrong_key = "sk_test_notTheInstanceKey987654321";
    let mut env = setup.env();
    env.retain(|(k, _)| *k != "CLERK_SECRET_KEY");
    env.push(("CLERK_SECRET_KEY", wrong_key));
    let refused = clerk_sync(&["reconcile"], &env);
    let err = stderr(&refused);
    assert!(!refused.status.success());
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.contains("401") && err.contains("hint: check that CLERK_SECRET_KEY"), "{err}");
    assert!(!text(&refused).contains(wrong_key) && !text(&refused).contains(FAKE_KEY), "{}", text(&refused));

    // Settings: no key at all.
    env.retain(|(k, _)| *k != "CLERK_SECRET_KEY");
    let missing = clerk_sync(&["reconcile", "--json"], &env);
    let err = stderr(&missing);
    assert!(!missing.status.success() && stdout(&missing).is_empty());
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("error: CLERK_SECRET_KEY is not set"), "{err}");

    // Another run holds the lock (the row stays once taken; its lease is what counts).
    let client = setup.db.connect().await;
    client
        .batch_execute(
            "INSERT INTO clerk_reconcile_lock (holder, expires_at)
             VALUES ('00000000-0000-4000-8000-000000000001', now() + interval '1 hour')
             ON CONFLICT (singleton) DO UPDATE SET holder = EXCLUDED.holder, run_id = NULL,
                 expires_at = EXCLUDED.expires_at",
        )
        .await
        .unwrap();
    let busy = setup.run(&["reconcile", "--json"]);
    let err = stderr(&busy);
    assert!(!busy.status.success() && stdout(&busy).is_empty());
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.contains("another reconcile is running"), "{err}");
    client.batch_execute("DELETE FROM clerk_reconcile_lock").await.unwrap();

    // With the API back, the run completes.
    let report = setup.report(&[]);
    assert_eq!(report["users"], counts(3, 3, 0, 0), "{report}");
}
