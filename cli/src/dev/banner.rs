//! What `dev` prints: the banner once it serves, and what to try next.

use std::time::Duration;

use clerk_sync::{
    config::{Env, Source},
    db::migrate::MIGRATIONS,
};

use super::{
    config::DevSource,
    database::{ClusterState, Database, DEV_DB_NAME},
    key::DevKey,
    routes::Function,
};
use crate::{devdir::display_path, families, sign};

/// The payload the printed `try:` command sends: newer than the seed's Ada,
/// so on a freshly seeded stack it answers `processed` (the seed's own
/// user.created would be `stale`). The README names the same file.
pub const TRY_PAYLOAD: &str = "events/payloads/user.updated.json";

/// Who the printed session token is for: Ada, admin of Acme Analytics, as `events/seed/` makes them.
const SEEDED_USER: &str = "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs";
const SEEDED_ORG: (&str, &str) = ("org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", "org:admin");

/// What `dev` prints once it serves.
pub fn banner(
    port: u16,
    database: &Database,
    applied: &[&str],
    source: &DevSource<Env>,
    dev_key: Option<&DevKey>,
) -> String {
    let base = format!("http://127.0.0.1:{port}");
    let mut out = String::from("clerk-sync dev\n\n");
    match database {
        Database::External { target, .. } => {
            out.push_str(&format!("  database   {target} (from DATABASE_URL)\n"));
        }
        Database::Local { cluster, state } => {
            let what = match state {
                ClusterState::InitializedAndStarted => "created and started",
                ClusterState::Started => "started",
                ClusterState::AlreadyRunning => "already running: not started here, so left running at exit",
            };
            out.push_str(&format!(
                "  database   {} (local PostgreSQL {} in {}, {what})\n",
                cluster.url(DEV_DB_NAME),
                cluster.version(),
                display_path(cluster.dir())
            ));
        }
    }
    if applied.is_empty() {
        out.push_str(&format!("  schema     up to date ({} migrations)\n", MIGRATIONS.len()));
    } else {
        out.push_str(&format!("  schema     applied {}\n", applied.join(", ")));
    }
    if source.is_set("CLERK_WEBHOOK_SECRET") {
        out.push_str("  signing    from CLERK_WEBHOOK_SECRET\n");
    } else {
        out.push_str(&format!(
            "  signing    {} (the public development secret; set CLERK_WEBHOOK_SECRET to use another)\n",
            sign::DEV_SECRET
        ));
    }
    if source.get("CLERK_WEBHOOK_DEV_BYPASS").is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes")) {
        out.push_str("  WARNING    CLERK_WEBHOOK_DEV_BYPASS is on: signatures are not checked\n");
    }
    if !source.is_set("ENCRYPTION_KEY") && !source.is_set("ENCRYPTION_KEYS") {
        out.push_str("  vault      development key (set ENCRYPTION_KEY before storing real credentials)\n");
    }
    match dev_key {
        Some(key) if source.uses_dev_key() => out.push_str(&format!(
            "  sessions   development key {} (clerk-sync token mints tokens; set CLERK_JWT_KEY or \
             CLERK_JWKS_URL for real Clerk sessions)\n",
            display_path(&key.public_path)
        )),
        _ if source.is_set("CLERK_JWT_KEY") => out.push_str("  sessions   from CLERK_JWT_KEY\n"),
        _ if source.is_set("CLERK_JWKS_URL") => out.push_str("  sessions   from CLERK_JWKS_URL\n"),
        _ => out.push_str("  sessions   none: sync-status and seller-accounts answer 503\n"),
    }
    out.push('\n');
    for function in Function::all() {
        let note = match function {
            Function::ALL_WEBHOOKS => format!("  (all {} families; development only)", families::count_in_words()),
            Function::SellerAccounts => "[/{id}]".to_string(),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {:<20} {:<17} {base}{}{note}\n",
            function.name(),
            function.methods(),
            function.path()
        ));
    }
    out.push_str(&format!("  and each function at {base}/lambda-url/<function>/, as with cargo lambda watch\n\n"));
    out
}

/// What to try, printed once the stack is ready (after seeding): a delivery
/// that answers `processed` on a freshly seeded stack and, with the
/// development key, a session token for the seeded Ada and the curl line.
pub fn next_steps(base: &str, dev_key: Option<&DevKey>, seeded: bool, stops_postgres: bool) -> String {
    let program = program();
    let mut out = String::from("  try:\n");
    out.push_str(&format!("    {program} send {base}/webhooks/clerk-users {TRY_PAYLOAD}\n"));
    if let Some(key) = dev_key {
        match key.mint(SEEDED_USER, Some(SEEDED_ORG), TOKEN_TTL) {
            Ok(token) => {
                out.push_str(&format!("    curl -H \"Authorization: Bearer {token}\" {base}/sync-status\n"));
                out.push_str(&format!(
                    "  (a session token for Ada, admin of Acme Analytics{}, valid {} h; mint others with\n   \
                     {program} token --user <clerk user id> [--org <clerk org id>] [--role <role>])\n",
                    if seeded { "" } else { ", once --seed has loaded them" },
                    TOKEN_TTL.as_secs() / 3600
                ));
            }
            Err(e) => tracing::warn!(error = %e, "cannot mint the development session token"),
        }
    }
    out.push_str("\n  Ctrl-C stops the server");
    if stops_postgres {
        out.push_str(" and the PostgreSQL it started");
    }
    out.push_str(".\n\n");
    out
}

/// How long the printed token lasts: a working session, not Clerk's 60 s.
const TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);

/// How to run `clerk-sync` from here: its name when on PATH, else the path
/// of this executable.
fn program() -> String {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("clerk-sync").is_file()));
    if on_path {
        return "clerk-sync".to_string();
    }
    std::env::current_exe().map(|exe| display_path(&exe)).unwrap_or_else(|_| "clerk-sync".to_string())
}
