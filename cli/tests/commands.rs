#![allow(clippy::unwrap_used)] // A panic in a test is a failing test.

//! The operator commands, run as the built binary against a real PostgreSQL.

use std::process::{Command, Output};

use clerk_sync_tests::{clerk::sample, moto, session, TestDb, TestStack};
use serde_json::Value;

fn clerk_sync(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clerk-sync"));
    command.args(args);
    for var in ["DATABASE_URL", "DATABASE_URL_SECRET_ARN", "ENCRYPTION_KEY", "ENCRYPTION_KEYS", "ENCRYPTION_KEY_ARN"] {
        command.env_remove(var);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run clerk-sync")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test]
async fn status_replay_and_a_missing_url() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_ok", &sample("user.created.json"), "processed").await;
    let client = stack.db.connect().await;
    client
        .execute(
            "INSERT INTO clerk_webhook_events (svix_id, family, event_type, clerk_object_id, payload, status, last_error)
             VALUES ('msg_failed', 'organizations', 'organization.created', 'org_x', $1::text::jsonb, 'failed', 'old bug')",
            &[&sample("organization.created.json").to_string()],
        )
        .await
        .unwrap();
    let url = stack.db.url.as_str();

    let status = clerk_sync(&["status"], &[("DATABASE_URL", url)]);
    let out = text(&status);
    assert!(status.status.success(), "{out}");
    assert!(out.contains("user.created") && out.contains("msg_failed") && out.contains("old bug"), "{out}");
    assert!(!out.contains("postgres://"), "never the URL: {out}");

    let json = clerk_sync(&["status", "--json"], &[("DATABASE_URL", url)]);
    let overview: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(overview["users"]["active"], 1);
    assert_eq!(overview["failed_events"][0]["svix_id"], "msg_failed");

    let replay = clerk_sync(&["replay", "--json"], &[("DATABASE_URL", url)]);
    assert!(replay.status.success(), "{}", text(&replay));
    let summary: Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(summary["processed"], 1);
    assert_eq!(stack.db.count("organization").await, 1);
    let again = clerk_sync(&["replay"], &[("DATABASE_URL", url)]);
    assert!(text(&again).contains("replayed 0 events"), "{}", text(&again));

    let bad_since = clerk_sync(&["replay", "--since", "yesterday-ish"], &[("DATABASE_URL", url)]);
    assert!(!bad_since.status.success());
    assert!(text(&bad_since).contains("--since"), "{}", text(&bad_since));

    let missing = clerk_sync(&["status"], &[]);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("DATABASE_URL"), "{}", text(&missing));
}

#[tokio::test]
async fn rotate_keys_reencrypts_under_the_first_key() {
    let stack = TestStack::spawn().await;
    for (i, event) in [
        sample("user.created.json"),
        sample("organization.created.json"),
        sample("organizationMembership.created.json"),
    ]
    .iter()
    .enumerate()
    {
        stack.expect(&format!("msg_{i}"), event, "processed").await;
    }
    let old = "old-key-0123456789abcdefghijklmnopqrstuv";
    let new = "new-key-0123456789abcdefghijklmnopqrstuv";
    let mut vars = vec![
        ("DATABASE_URL", stack.db.url.clone()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
        ("ENCRYPTION_KEYS", format!("k1:{old}")),
    ];
    vars.extend(session::pem_settings());
    let state =
        clerk_sync::api::seller_accounts::SellerAccountsState::from_source(&clerk_sync_tests::Vars(vars)).unwrap();
    let token =
        session::token("user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs", Some(("org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", "org:admin")));
    for seller in ["A1", "A2", "A3"] {
        let body = serde_json::json!({"seller_id": seller, "marketplace_id": "ATVPDKIKX0DER", "region": "na",
            "refresh_token": "rt", "lwa_client_id": "id", "lwa_client_secret": "secret"})
        .to_string();
        let request = clerk_sync_tests::api_request("POST", "/seller-accounts", Some(&token), Some(&body));
        let response = clerk_sync::api::seller_accounts::handle(&state, request).await;
        assert_eq!(response.status(), 201, "{}", response.body());
    }
    let keys = format!("k2:{new},k1:{old}");
    let output = clerk_sync(
        &["rotate-keys", "--batch-size", "2"],
        &[("DATABASE_URL", &stack.db.url), ("ENCRYPTION_KEYS", &keys)],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("remaining: 0"), "{}", text(&output));
    assert!(!text(&output).contains(new) && !text(&output).contains(old), "no secrets printed");
    let rows =
        stack.db.rows("SELECT lwa_refresh_token_encrypted LIKE 'cs1.k2.%' AS rotated FROM seller_accounts").await;
    assert!(rows.iter().all(|r| r["rotated"] == true), "{rows:?}");
}

#[tokio::test]
async fn prune_deletes_old_processed_and_ignored_events_and_keeps_failed_ones() {
    let stack = TestStack::spawn().await;
    stack.expect("msg_today", &sample("user.created.json"), "processed").await;
    let client = stack.db.connect().await;
    client
        .batch_execute(
            "INSERT INTO clerk_webhook_events (svix_id, family, event_type, payload, status, received_at)
             SELECT format('msg_%s_%s', s, i), 'users', 'user.updated', '{}', s, now() - interval '45 days'
             FROM unnest(ARRAY['processed', 'ignored', 'failed', 'received']) AS s, generate_series(1, 3) AS i",
        )
        .await
        .unwrap();
    let url = stack.db.url.as_str();

    let dry = clerk_sync(&["prune", "--dry-run", "--json"], &[("DATABASE_URL", url)]);
    assert!(dry.status.success(), "{}", text(&dry));
    let report: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!((report["processed"].as_u64(), report["ignored"].as_u64()), (Some(3), Some(3)), "{report}");
    assert_eq!((report["kept_failed"].as_u64(), report["dry_run"].as_bool()), (Some(3), Some(true)), "{report}");
    assert_eq!(stack.db.count("clerk_webhook_events").await, 13, "a dry run deletes nothing");

    let pruned = clerk_sync(&["prune", "--older-than-days", "30", "--batch-size", "2"], &[("DATABASE_URL", url)]);
    let out = text(&pruned);
    assert!(pruned.status.success(), "{out}");
    assert!(out.contains("deleted 6 events") && out.contains("kept 3 failed and 3 received"), "{out}");
    assert!(!out.contains("postgres://"), "never the URL: {out}");
    let left = stack.db.rows("SELECT status, count(*) AS n FROM clerk_webhook_events GROUP BY 1 ORDER BY 1").await;
    assert_eq!(
        left,
        [
            serde_json::json!({"status": "failed", "n": 3}),
            serde_json::json!({"status": "processed", "n": 1}),
            serde_json::json!({"status": "received", "n": 3}),
        ]
    );

    let zero = clerk_sync(&["prune", "--older-than-days", "0"], &[("DATABASE_URL", url)]);
    assert!(!zero.status.success(), "at least one day: {}", text(&zero));
    let missing = clerk_sync(&["prune"], &[]);
    assert!(!missing.status.success() && text(&missing).contains("DATABASE_URL"), "{}", text(&missing));
}

/// `bench` (cargo feature `bench`): a tiny run on the tests' server, as JSON
/// on standard output and as markdown in the saved results.
#[cfg(feature = "bench")]
#[test]
fn bench_measures_every_family() {
    let server = clerk_sync_tests::server_url();
    let results = std::env::temp_dir().join(format!("clerk-sync-bench-{}", std::process::id()));
    let dir = results.to_str().unwrap();
    let env = [("TEST_DATABASE_URL", server), ("BENCH_RESULTS_DIR", dir)];
    let args = ["bench", "--events", "20", "--warmup", "5", "--delay-us", "0", "--json", "--save", "tiny"];
    let run = clerk_sync(&args, &env);
    assert!(run.status.success(), "{}", text(&run));

    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["options"]["events"], 20, "{report}");
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "one run per delay: {report}");
    assert_eq!(runs[0]["delay_us"], 0);
    let families: Vec<&str> =
        runs[0]["families"].as_array().unwrap().iter().map(|f| f["family"].as_str().unwrap()).collect();
    assert_eq!(families, ["users", "organizations", "memberships"], "{report}");
    for family in runs[0]["families"].as_array().unwrap() {
        assert_eq!(family["handler"]["n"], 20, "{family}");
        assert!(family["ratio_p50"].as_f64().is_some_and(|r| r > 0.0), "{family}");
    }

    let markdown = std::fs::read_to_string(results.join("tiny.md")).unwrap();
    for family in ["users", "organizations", "memberships"] {
        assert!(markdown.contains(&format!("| loopback | {family} |")), "{markdown}");
    }
    assert!(results.join("tiny.json").is_file());
    std::fs::remove_dir_all(&results).unwrap();

    let nothing = clerk_sync(&["bench", "--events", "0"], &env);
    assert!(!nothing.status.success() && text(&nothing).contains("--events"), "{}", text(&nothing));
}

#[tokio::test]
async fn the_database_url_can_come_from_secrets_manager() {
    // As the functions do: DATABASE_URL_SECRET_ARN with the environment's AWS
    // credentials (here a local moto), so the deploy can name the secret.
    let db = TestDb::spawn().await;
    let arn = moto::create_secret(&db.url).await;
    let aws = moto::aws_vars();
    let mut env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("DATABASE_URL_SECRET_ARN", &arn));
    let migrate = clerk_sync(&["migrate"], &env);
    assert!(migrate.status.success(), "{}", text(&migrate));
    let status = clerk_sync(&["status", "--json"], &env);
    assert!(status.status.success(), "{}", text(&status));
    assert!(!text(&status).contains("postgres://"), "never the URL: {}", text(&status));

    let missing = moto::missing_arn();
    env.retain(|(k, _)| *k != "DATABASE_URL_SECRET_ARN");
    env.push(("DATABASE_URL_SECRET_ARN", &missing));
    let refused = clerk_sync(&["status"], &env);
    let out = text(&refused);
    assert!(!refused.status.success());
    assert!(out.contains("DATABASE_URL_SECRET_ARN") && out.contains("ResourceNotFoundException"), "{out}");
}
