#![allow(clippy::unwrap_used)] // A panic in a test is a failing test.

//! The operator commands, run as the built binary against a real PostgreSQL.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use clerk_sync_tests::{clerk::sample, moto, session, TestDb, TestStack};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_clerk-sync");

/// The settings a developer's shell may hold that would change what a command does.
const CLEARED: [&str; 33] = [
    "DATABASE_URL",
    "MIGRATION_DATABASE_URL",
    "DB_POOLER",
    "DATABASE_URL_SECRET_ARN",
    "ENCRYPTION_KEY",
    "ENCRYPTION_KEYS",
    "ENCRYPTION_KEY_ARN",
    "CLERK_WEBHOOK_SECRET",
    "CLERK_WEBHOOK_SECRET_ARN",
    "CLERK_JWT_KEY",
    "CLERK_JWKS_URL",
    "CLERK_ISSUER",
    "CLERK_AUTHORIZED_PARTIES",
    "CLERK_WEBHOOK_DEV_BYPASS",
    // AWS: keys, profiles, region, endpoints and the other credential sources of the default chain.
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_EC2_METADATA_DISABLED",
];

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for var in CLEARED {
        command.env_remove(var);
    }
    // Never a `clerk-sync dev` the developer happens to run: a folder of its own unless given.
    command.env("CLERK_SYNC_DEV_DIR", temp_dir("clerk-sync-no-dev"));
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

fn clerk_sync(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().expect("run clerk-sync")
}

fn temp_dir(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
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

    // The pooler's path on a direct connection, interleaved with the direct one.
    let args = ["bench", "--events", "5", "--warmup", "2", "--delay-us", "0", "--paths", "routines", "--json"];
    let run = clerk_sync(&args, &env);
    assert!(run.status.success(), "{}", text(&run));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let paths: Vec<&str> = report["runs"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["direct", "routines"], "the direct path comes along: {report}");

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

/// Every database command prints the cause and a hint, never only "db error".
#[tokio::test]
async fn database_failures_print_the_cause_and_a_hint() {
    let key = ("ENCRYPTION_KEY", "dev-0123456789abcdefghijklmnopqrstuvwxyz");
    let nobody = "postgres://app:s3cr3t@127.0.0.1:1/app";
    for args in [&["status"][..], &["replay"], &["prune"], &["rotate-keys"]] {
        let output = clerk_sync(args, &[("DATABASE_URL", nobody), key]);
        let out = text(&output);
        assert!(!output.status.success(), "{args:?}: {out}");
        assert!(out.contains("cannot connect to PostgreSQL at app@127.0.0.1:1/app"), "{args:?}: {out}");
        assert!(out.contains("Connection refused"), "{args:?}: the cause: {out}");
        assert!(out.contains("hint: check that the server is running"), "{args:?}: {out}");
        assert!(!out.contains("s3cr3t"), "{args:?}: never the password: {out}");
    }

    // A database that does not exist: PostgreSQL's message, not "db error".
    let db = TestDb::create_empty().await;
    let missing = db.url.replace(&db.name, "no_such_database");
    let output = clerk_sync(&["status"], &[("DATABASE_URL", &missing)]);
    let out = text(&output);
    assert!(out.contains("database \"no_such_database\" does not exist") && out.contains("hint:"), "{out}");

    // A database without the schema: the query's failure and what to run.
    for args in [&["status"][..], &["replay"], &["prune"], &["rotate-keys"]] {
        let output = clerk_sync(args, &[("DATABASE_URL", &db.url), key]);
        let out = text(&output);
        assert!(!output.status.success(), "{args:?}: {out}");
        assert!(out.contains("does not exist (SQLSTATE 42P01)"), "{args:?}: {out}");
        assert!(out.contains("hint: the schema is missing") && out.contains("clerk-sync migrate"), "{args:?}: {out}");
    }
}

const ADA: &str = "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs";
const GRACE: &str = "user_2sC0uNn5XyZ1oQdV7eL9TrGaWfH";
const ACME: &str = "org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF";

/// A GET with a session token, over a plain socket: the status and the body.
fn get(url: &str, token: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// What a newcomer does first: `clerk-sync dev --seed`, then the commands it
/// prints. The `try:` delivery answers processed, the printed session token
/// reads sync-status, `clerk-sync token` mints others with the development
/// key (which no other key's verifier trusts), and the other commands find
/// the dev stack's database without DATABASE_URL while it runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_newcomer_tries_what_the_seeded_dev_stack_prints() {
    let db = TestDb::spawn().await;
    let dir = temp_dir("clerk-sync-dev-newcomer");
    let dir_text = dir.to_str().unwrap();
    let in_dev_dir = [("CLERK_SYNC_DEV_DIR", dir_text)];

    let no_key = clerk_sync(&["token", "--user", ADA], &in_dev_dir);
    assert!(!no_key.status.success(), "no key before dev made one");
    assert!(text(&no_key).contains("run clerk-sync dev once"), "{}", text(&no_key));

    let log = dir.with_extension("log");
    let mut dev =
        command(&["dev", "--seed", "--port", "0"], &[("DATABASE_URL", &db.url), ("CLERK_SYNC_DEV_DIR", dir_text)])
            .current_dir(workspace())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = dev.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !printed.iter().any(|l: &String| l.contains("Ctrl-C stops")) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => printed.push(line),
            Err(_) => {
                let _ = dev.kill();
                panic!("dev did not get ready: {printed:#?}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
        }
    }
    let printed_text = printed.join("\n");
    assert!(printed_text.contains("seeded: 7 processed"), "{printed_text}");

    // The try command, as printed, from the workspace: processed.
    let try_line = printed.iter().find(|l| l.contains(" send http://")).unwrap_or_else(|| panic!("{printed_text}"));
    let try_args: Vec<&str> = try_line.split_whitespace().skip(1).collect();
    let sent = command(&try_args, &[]).current_dir(workspace()).output().unwrap();
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(text(&sent).contains("1 sent: 1 processed"), "{}", text(&sent));

    // The curl line: the token reads the seeded Ada's sync status.
    let curl = printed.iter().find(|l| l.contains("curl -H")).unwrap_or_else(|| panic!("{printed_text}"));
    let token = curl.split("Bearer ").nth(1).unwrap().split('"').next().unwrap();
    let url = curl.split_whitespace().last().unwrap();
    let (status, body) = get(url, token);
    assert_eq!(status, 200, "{body}");
    let ada: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&ada["verdicts"]["user"], &ada["verdicts"]["membership"]),
        (&json_str("in_sync"), &json_str("in_sync")),
        "{ada}"
    );

    // Others, minted with `clerk-sync token`.
    let minted = clerk_sync(&["token", "--user", GRACE, "--org", ACME, "--role", "org:member"], &in_dev_dir);
    assert!(minted.status.success(), "{}", text(&minted));
    let grace_token = String::from_utf8(minted.stdout.clone()).unwrap().trim().to_string();
    let (status, body) = get(url, &grace_token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["verdicts"]["membership"], "in_sync", "{body}");

    // Through the sync-status handler the Lambda binary runs: trusted with
    // the development key as CLERK_JWT_KEY, refused under any other key.
    let dev_public = std::fs::read_to_string(dir.join("session-key.pub.pem")).unwrap();
    for (key, expected) in [(dev_public, 200), (session::fixture("k1.public.pem"), 401)] {
        let vars = clerk_sync_tests::Vars(vec![
            ("DATABASE_URL", db.url.clone()),
            ("SKIP_DB_MIGRATIONS", "true".to_string()),
            ("CLERK_JWT_KEY", key),
        ]);
        let state = clerk_sync::api::ApiState::from_source(&vars).unwrap();
        let request = clerk_sync_tests::api_request("GET", "/sync-status", Some(&grace_token), None);
        let response = clerk_sync::api::sync_status::handle(&state, request).await;
        assert_eq!(response.status(), expected, "{}", response.body());
    }

    // The other commands find the dev stack's database, and say so.
    let status = clerk_sync(&["status"], &in_dev_dir);
    assert!(status.status.success(), "{}", text(&status));
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("using the dev stack's database from"),
        "{}",
        text(&status)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("user.updated"), "{}", text(&status));

    let stopped = Command::new("kill").args(["-TERM", &dev.id().to_string()]).status().unwrap();
    assert!(stopped.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while dev.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "dev stops at SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dir.join("database-url").exists(), "the file goes with dev");
    let after = clerk_sync(&["status"], &in_dev_dir);
    assert!(!after.status.success() && text(&after).contains("DATABASE_URL is not set"), "{}", text(&after));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&log);
}

fn json_str(s: &str) -> Value {
    Value::String(s.to_string())
}

/// `migrate` through PgBouncer: it says so (PgBouncer refuses startup
/// options) and migrates safely through it; with MIGRATION_DATABASE_URL it
/// migrates over that direct connection instead, and says which.
#[tokio::test]
async fn migrate_through_pgbouncer_says_so_and_prefers_the_migration_url() {
    let db = TestDb::create_empty().await;
    let bouncer = clerk_sync_tests::pgbouncer::start(2);
    let through = bouncer.url(&db.name);
    let out = clerk_sync(&["migrate"], &[("DATABASE_URL", &through)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("connection pooler") || text(&out).contains("PgBouncer"), "{}", text(&out));
    assert!(text(&out).contains("MIGRATION_DATABASE_URL"), "the hint: {}", text(&out));

    let other = TestDb::create_empty().await;
    let out = clerk_sync(
        &["migrate"],
        &[
            ("DATABASE_URL", &bouncer.url(&other.name)),
            ("MIGRATION_DATABASE_URL", &other.url),
            ("DB_POOLER", "transaction"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("migrating over MIGRATION_DATABASE_URL"), "{}", text(&out));
    assert!(!text(&out).contains("PgBouncer"), "went direct: {}", text(&out));
    let client = clerk_sync_tests::connect(&other.url).await;
    let applied: i64 = client.query_one("SELECT count(*) FROM clerk_sync_migrations", &[]).await.unwrap().get(0);
    assert_eq!(applied as usize, clerk_sync::db::migrate::MIGRATIONS.len());
}

/// `migrate --drop-old-routines` drops the event routines of other builds
/// (named like one, not this build's), and nothing else: this build's
/// routines and the migrations' own functions stay.
#[tokio::test]
async fn migrate_drops_the_routines_of_earlier_builds_only_when_asked() {
    let db = TestDb::spawn().await;
    let client = clerk_sync_tests::connect(&db.url).await;
    // As an earlier build left them: one with parameters, one without.
    client
        .batch_execute(
            "CREATE FUNCTION clerk_sync_deliver_user_upsert_0123456789(text, bigint) RETURNS void
                 LANGUAGE sql AS 'SELECT';
             CREATE FUNCTION clerk_sync_replay_record_only_abcdef0123() RETURNS void LANGUAGE sql AS 'SELECT';",
        )
        .await
        .unwrap();
    let routines = "SELECT proname::text FROM pg_proc WHERE proname LIKE 'clerk\\_sync\\_%' ORDER BY 1";
    let names = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>();
    let before = names(client.query(routines, &[]).await.unwrap());

    let out = clerk_sync(&["migrate"], &[("DATABASE_URL", &db.url)]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(names(client.query(routines, &[]).await.unwrap()), before, "kept without the flag");

    let out = clerk_sync(&["migrate", "--drop-old-routines"], &[("DATABASE_URL", &db.url)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("dropped 2 event routines of earlier builds"), "{}", text(&out));
    let after = names(client.query(routines, &[]).await.unwrap());
    let expected: Vec<String> =
        before.into_iter().filter(|n| !n.ends_with("_0123456789") && !n.ends_with("_abcdef0123")).collect();
    assert_eq!(after, expected);
    assert!(after.iter().any(|n| n == "clerk_sync_membership_merge"), "{after:?}");
    assert_eq!(after.len(), clerk_sync::sync::statements::routines().len() + 2, "{after:?}");
}

/// Outside Lambda the credentials, region and endpoint come from AWS's default chain: here a named
/// profile in a config and a credentials file the test writes, with no key in the environment.
#[tokio::test]
async fn the_database_url_secret_is_fetched_with_a_named_profile() {
    let db = TestDb::spawn().await;
    let arn = moto::create_secret(&db.url).await;
    let dir = temp_dir("clerk-sync-aws-profile");
    std::fs::create_dir_all(&dir).unwrap();
    let (config, credentials) = (dir.join("config"), dir.join("credentials"));
    std::fs::write(
        &config,
        format!(
            "[default]\nregion = eu-north-1\n\n[profile clerk-sync-test]\nregion = {}\nendpoint_url = {}\n",
            moto::REGION,
            moto::endpoint()
        ),
    )
    .unwrap();
    std::fs::write(&credentials, "[clerk-sync-test]\naws_access_key_id = test\naws_secret_access_key = test\n")
        .unwrap();
    let env = [
        ("AWS_PROFILE", "clerk-sync-test"),
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        // Nothing to find on this machine's instance metadata: fail fast if the profile is not used.
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("DATABASE_URL_SECRET_ARN", &arn),
    ];
    let status = clerk_sync(&["status", "--json"], &env);
    assert!(status.status.success(), "{}", text(&status));
    assert!(!text(&status).contains("postgres://"), "never the URL: {}", text(&status));

    // The same profile without its keys: refused, naming the variable and where credentials come from.
    std::fs::write(&credentials, "").unwrap();
    let refused = clerk_sync(&["status"], &env);
    let out = text(&refused);
    assert!(!refused.status.success(), "{out}");
    assert!(out.contains("DATABASE_URL_SECRET_ARN") && out.contains("AWS_PROFILE"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
