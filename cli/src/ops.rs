//! Operator commands over the database: `replay`, `rotate-keys`, `status`, `prune`.

use std::io::IsTerminal;

use clerk_sync::{
    config::Env,
    db::tls::TlsSettings,
    db::{build_pool, DbSettings},
    seller_accounts::{self, StoreError},
    sync::overview::{self, Overview},
    sync::prune::{self, PruneOptions, PruneReport},
    sync::replay::{self, ReplayFilter, ReplaySummary},
    sync::Outcome,
    vault::Vault,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::CliError;

/// One pooled connection to `url`, with TLS as the URL's `sslmode` (or
/// `PGSSLMODE`) says and `PGSSLROOTCERT`, exactly as the functions connect.
pub async fn connect(url: &str) -> Result<deadpool_postgres::Object, CliError> {
    let mut settings = DbSettings::for_url(url);
    settings.connect_timeout = std::time::Duration::from_secs(10);
    settings.tls = TlsSettings::from_source(&Env)?;
    let pool = build_pool(&settings)?;
    pool.get().await.map_err(|e| CliError::Connect {
        target: crate::migrate::describe_url(url),
        // tokio-postgres's error carries the cause; the pool's wrapper adds nothing.
        source: match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            e => e.into(),
        },
    })
}

/// A progress bar on a terminal, nothing otherwise (logs and CI stay clean).
fn progress(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} {{msg}}")) {
        bar.set_style(style);
    }
    bar
}

pub async fn replay(url: &str, filter: &ReplayFilter) -> Result<ReplaySummary, CliError> {
    let client = connect(url).await?;
    let total = replay::count(&client, filter).await.map_err(replay_error)?;
    let bar = progress(total.max(0) as u64, "replaying");
    let summary = replay::replay(&client, filter, |svix_id, outcome| {
        if let Outcome::Failed(reason) = outcome {
            bar.println(format!("{svix_id}: still failed: {reason}"));
        }
        bar.inc(1);
    })
    .await
    .map_err(replay_error)?;
    bar.finish_and_clear();
    Ok(summary)
}

/// The one data error a replay query can meet is a `--since` PostgreSQL cannot read.
fn replay_error(e: clerk_sync::db::DbError) -> CliError {
    match e.sql_state().map(|s| s.code()) {
        Some(code) if code.starts_with("22") => CliError::InvalidSince,
        _ => CliError::Query { what: "replaying events", source: e },
    }
}

pub struct Rotation {
    pub rows: usize,
    pub values: usize,
    pub failed: Vec<String>,
    pub remaining: i64,
}

/// Re-encrypts every stored credential under the current key, one batch at
/// a time so progress shows; resumable, like the library call it loops.
pub async fn rotate_keys(url: &str, vault: &Vault, batch_size: usize) -> Result<Rotation, CliError> {
    let client = connect(url).await?;
    let bar = progress(0, "re-encrypting");
    let mut rotation = Rotation { rows: 0, values: 0, failed: Vec::new(), remaining: 0 };
    loop {
        let report = seller_accounts::rotate_keys(&client, vault, batch_size, Some(1)).await.map_err(|e| match e {
            StoreError::Db(source) => CliError::Query { what: "re-encrypting credentials", source },
            e => CliError::Rotate(e),
        })?;
        rotation.rows += report.rows;
        rotation.values += report.values;
        rotation
            .failed
            .extend(report.failed.iter().map(|f| format!("seller account {} ({}): {}", f.id, f.field, f.error)));
        rotation.remaining = report.remaining;
        bar.set_length((rotation.rows as u64) + report.remaining.max(0) as u64);
        bar.set_position(rotation.rows as u64);
        // Done, or only rows that cannot be re-encrypted (or are locked) are left.
        if report.remaining == 0 || report.rows == 0 {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(rotation)
}

pub async fn status(url: &str, latest: i64) -> Result<Overview, CliError> {
    let client = connect(url).await?;
    overview::overview(&client, latest).await.map_err(|source| CliError::Query { what: "reading the overview", source })
}

/// Deletes old processed, stale and ignored events in batches, with a progress bar.
pub async fn prune(url: &str, options: &PruneOptions) -> Result<PruneReport, CliError> {
    let client = connect(url).await?;
    // Counting a large table may outlast the functions' statement timeout;
    // each delete batch stays short whatever this says.
    client.batch_execute("SET statement_timeout = 0").await.map_err(|e| prune_error(e.into()))?;
    let bar = progress(0, "pruning");
    let report = prune::prune_with(&client, options, |deleted, found| {
        bar.set_length(found.max(deleted));
        bar.set_position(deleted);
    })
    .await
    .map_err(prune_error)?;
    bar.finish_and_clear();
    Ok(report)
}

/// Permission denied is the likely mistake: the functions' role, not the owner's.
fn prune_error(e: clerk_sync::db::DbError) -> CliError {
    if e.sql_state() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
        return CliError::PruneNotAllowed(e);
    }
    CliError::Query { what: "pruning events", source: e }
}

/// The overview as readable tables.
pub fn render(o: &Overview) -> String {
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str], widths: &[usize]| {
        let row: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(row.join("  ").trim_end());
        out.push('\n');
    };
    out.push_str("Rows\n");
    let widths = [14, 8, 12, 8];
    line(&mut out, &["", "active", "placeholder", "deleted"], &widths);
    for (name, c) in [("users", &o.users), ("organizations", &o.organizations), ("memberships", &o.memberships)] {
        line(&mut out, &[name, &c.active.to_string(), &c.placeholder.to_string(), &c.deleted.to_string()], &widths);
    }
    out.push_str("\nEvents by type and status\n");
    let widths = [34, 14, 10, 8];
    line(&mut out, &["type", "family", "status", "count"], &widths);
    for c in &o.events_by_type_and_status {
        line(&mut out, &[&c.event_type, &c.family, &c.status, &c.count.to_string()], &widths);
    }
    let events = |out: &mut String, title: &str, list: &[overview::EventSummary], with_error: bool| {
        out.push_str(&format!("\n{title}\n"));
        if list.is_empty() {
            out.push_str("(none)\n");
            return;
        }
        let widths = [27, 34, 14, 10, 8, 34];
        line(out, &["received (UTC)", "type", "family", "status", "attempts", "svix-id"], &widths);
        for e in list {
            let attempts = e.attempts.to_string();
            line(out, &[&e.received_at, &e.event_type, &e.family, &e.status, &attempts, &e.svix_id], &widths);
            if with_error {
                if let Some(error) = &e.last_error {
                    out.push_str(&format!("    error: {error}\n"));
                }
            }
        }
    };
    events(&mut out, "Latest events", &o.latest_events, false);
    events(&mut out, "Failed events (replay with: clerk-sync replay)", &o.failed_events, true);
    out
}
