//! One reconcile run: each listing streamed page by page into the database
//! (the next page is fetched while the last one is written), then, when the
//! listing was complete and clean, the rows it no longer holds.
//!
//! A page is one transaction in two flights: `BEGIN`, the lease renewal and
//! the page's statement; then the ids seen, the changes, the checkpoint and
//! `COMMIT`. A dry run wraps the page's statement in a savepoint it rolls
//! back: the counts are real, the mirror untouched, and the run's own
//! bookkeeping (ids seen, what would change) is kept.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use crate::db::Client;
use tokio::{sync::mpsc, time::Instant};

use super::{
    counts::Report,
    error::ReconcileError,
    kind::Kind,
    listed::{Listed, Records},
    progress::Progress,
    store::{self, Ending, Prepared, Run, Spent},
};
use crate::{
    backend_api::{
        list::ListingState, BackendApi, Domain, Invitation, Membership, Organization, Permission, Role, User,
    },
    db::statements::rollback,
    sync::{
        absent::{self, AbsenceRule},
        pages::{Applied, Changed},
    },
};

/// A deletion larger than this (and than a tenth of the live rows) needs
/// `allow_mass_deletion`.
const MASS_DELETION_FLOOR: u64 = 10;
/// Absent rows deleted per transaction.
const ABSENCE_BATCH: usize = 1000;

/// Who started the run (`clerk_reconcile_runs.trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Cli,
    Schedule,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Schedule => "schedule",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub trigger: Trigger,
    pub dry_run: bool,
    /// Delete even when most rows of a kind are absent (see [`ReconcileError::MassDeletion`]).
    pub allow_mass_deletion: bool,
    /// No page is started after this instant: the run is suspended and the
    /// next one goes on from its checkpoint (the function's deadline less a
    /// margin). `None`: run to the end.
    pub stop_at: Option<Instant>,
    /// Set (from another task, e.g. on Ctrl-C) to stop the same way at the
    /// next page: the run is suspended, its lock let go.
    pub stop: Arc<AtomicBool>,
    /// The lock's lease, renewed with every page.
    pub lease: Duration,
}

impl Options {
    pub fn new(trigger: Trigger) -> Self {
        Self {
            trigger,
            dry_run: false,
            allow_mass_deletion: false,
            stop_at: None,
            stop: Arc::default(),
            lease: Duration::from_secs(120),
        }
    }
}

/// What a run did, beyond the report.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub report: Report,
    pub run_id: i64,
    /// It went on from a run an earlier invocation suspended.
    pub resumed: bool,
    /// It stopped at `stop_at`; the next run goes on from here.
    pub suspended: bool,
    /// Requests this invocation sent to the Backend API (retries included).
    pub api_requests: u64,
    /// Time spent waiting on the Backend API (pacing included), and on the
    /// database; they overlap, as pages are fetched while others are written.
    pub api_time: Duration,
    pub db_time: Duration,
    pub wall_time: Duration,
    /// Why the run is not complete, when it is not.
    pub notes: Vec<String>,
}

/// How a listing ended.
enum ListingEnd {
    Finished { exhaustive: bool },
    Suspended,
}

/// A page on its way from the listing to the database.
struct Batch {
    records: Records,
    seen: Vec<String>,
    state: ListingState,
    total: Option<u64>,
    unreadable: Vec<(String, String)>,
}

struct Context<'a> {
    client: &'a Client,
    api: &'a BackendApi,
    options: &'a Options,
    progress: &'a dyn Progress,
    prepared: Prepared,
    requests_before: u64,
    api_time: Duration,
    db_time: Duration,
    notes: Vec<String>,
}

/// Runs (or resumes) a reconcile on `client`, reading from `api`.
/// `Err` when it could not complete: the run is recorded as failed with the
/// reason, and nothing a failed listing implies is deleted.
pub async fn reconcile(
    client: &Client,
    api: &BackendApi,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Outcome, ReconcileError> {
    let started = Instant::now();
    let mut run = store::start(client, options.trigger.as_str(), options.dry_run, options.lease).await?;
    if run.resumed {
        tracing::info!(run = run.id, "resuming the reconcile an earlier invocation suspended");
    }
    let mut cx = Context {
        client,
        api,
        options,
        progress,
        prepared: match Prepared::on(client).await {
            Ok(prepared) => prepared,
            Err(e) => return fail(client, &run, &Spent::default(), e.into()).await,
        },
        requests_before: api.requests(),
        api_time: Duration::ZERO,
        db_time: Duration::ZERO,
        notes: Vec::new(),
    };
    let result = phases(&mut cx, &mut run).await;
    let requests = api.requests() - cx.requests_before;
    let spent = Spent { requests, api: cx.api_time, db: cx.db_time };
    let suspended = match result {
        Ok(suspended) => suspended,
        Err(e) => return fail(client, &run, &spent, e).await,
    };
    run.report.complete = !suspended && Kind::ALL.iter().all(|&kind| run.checkpoint.of(kind).exhaustive);
    let ending = if suspended { Ending::Suspended } else { Ending::Completed };
    let note = (!cx.notes.is_empty()).then(|| cx.notes.join("; "));
    run.finish(client, ending, &spent, note.as_deref()).await?;
    let outcome = Outcome {
        report: run.report.clone(),
        run_id: run.id,
        resumed: run.resumed,
        suspended,
        api_requests: requests,
        api_time: cx.api_time,
        db_time: cx.db_time,
        wall_time: started.elapsed(),
        notes: cx.notes,
    };
    tracing::info!(
        run = outcome.run_id,
        complete = outcome.report.complete,
        dry_run = outcome.report.dry_run,
        suspended,
        requests,
        report = %serde_json::to_string(&outcome.report).unwrap_or_default(),
        "reconcile run finished"
    );
    Ok(outcome)
}

/// Records the failure (best effort: the database may be what failed) and
/// returns it.
async fn fail(client: &Client, run: &Run, spent: &Spent, e: ReconcileError) -> Result<Outcome, ReconcileError> {
    tracing::error!(run = run.id, error = %e, "reconcile run failed");
    rollback(client).await;
    if let Err(record) = run.finish(client, Ending::Failed, spent, Some(&e.to_string())).await {
        tracing::warn!(run = run.id, error = %record, "could not record the failed reconcile run");
    }
    Err(e)
}

/// Every listing not yet finished, in order. `Ok(true)` when suspended.
async fn phases(cx: &mut Context<'_>, run: &mut Run) -> Result<bool, ReconcileError> {
    for kind in Kind::ALL {
        let phase = run.checkpoint.of(kind).clone();
        if phase.finished {
            continue;
        }
        cx.progress.listing_started(kind, run.report.of(kind));
        let began_ms = match phase.started_ms {
            Some(ms) => ms,
            None => store::now_ms(cx.client).await?,
        };
        run.checkpoint.of_mut(kind).started_ms = Some(began_ms);
        let listed = match kind {
            Kind::Users => stream::<User>(cx, run, phase.listing).await?,
            Kind::Organizations => stream::<Organization>(cx, run, phase.listing).await?,
            Kind::Memberships => stream::<Membership>(cx, run, phase.listing).await?,
            Kind::Permissions => stream::<Permission>(cx, run, phase.listing).await?,
            Kind::Roles => stream::<Role>(cx, run, phase.listing).await?,
            Kind::Domains => stream::<Domain>(cx, run, phase.listing).await?,
            Kind::Invitations => stream::<Invitation>(cx, run, phase.listing).await?,
        };
        let exhaustive = match listed {
            ListingEnd::Suspended => return Ok(true),
            ListingEnd::Finished { exhaustive } => exhaustive,
        };
        if exhaustive {
            // Nothing for invitations: Clerk never deletes one (see `Kind::deletes_absent`).
            remove_absent(cx, run, kind, began_ms).await?;
        } else {
            let note = format!("{}: the listing was not clean (see the log), so no row was deleted", kind.plural());
            tracing::warn!(run = run.id, "{note}");
            cx.notes.push(note);
        }
        let phase = run.checkpoint.of_mut(kind);
        (phase.finished, phase.exhaustive) = (true, exhaustive);
        save(cx, run).await?;
        cx.progress.listing_finished(kind, run.report.of(kind), exhaustive);
    }
    Ok(false)
}

/// Saves the counts and checkpoint on their own (between listings).
async fn save(cx: &mut Context<'_>, run: &Run) -> Result<(), ReconcileError> {
    let at = Instant::now();
    let requests = cx.api.requests() - cx.requests_before;
    run.save(cx.client, &cx.prepared, requests).await?;
    cx.db_time += at.elapsed();
    Ok(())
}

/// Reads one listing (from where the checkpoint left it) while writing its
/// pages: the next page is on its way while one is written.
async fn stream<T: Listed>(
    cx: &mut Context<'_>,
    run: &mut Run,
    resume_at: Option<ListingState>,
) -> Result<ListingEnd, ReconcileError> {
    let mut listing = T::listing(cx.api);
    if let Some(state) = resume_at {
        listing = listing.resume_at(state);
    }
    let (stop_at, stop) = (cx.options.stop_at, &cx.options.stop);
    let (pages, mut incoming) = mpsc::channel::<Batch>(1);
    let mut api_time = Duration::ZERO;
    let fetch = async {
        // Owned here, so that the writer sees the channel close when the listing ends.
        let pages = pages;
        loop {
            if stop_at.is_some_and(|at| Instant::now() >= at) || stop.load(Ordering::Relaxed) {
                return Ok::<_, ReconcileError>(ListingEnd::Suspended);
            }
            let at = Instant::now();
            let page = listing.next_page().await;
            api_time += at.elapsed();
            let Some(objects) = page? else {
                return Ok(ListingEnd::Finished { exhaustive: listing.is_exhaustive() });
            };
            let seen = objects.iter().map(|o| o.id().to_string()).collect();
            let (records, unreadable) = T::records(&objects);
            drop(objects);
            let batch =
                Batch { records, seen, state: listing.state().clone(), total: listing.total_count(), unreadable };
            if pages.send(batch).await.is_err() {
                // The writer stopped on an error of its own, which it reports.
                return Ok(ListingEnd::Suspended);
            }
        }
    };
    let write = async {
        while let Some(batch) = incoming.recv().await {
            write_page(cx, run, T::KIND, batch).await?;
        }
        Ok::<_, ReconcileError>(())
    };
    let (fetched, written) = tokio::join!(fetch, write);
    cx.api_time += api_time;
    written?;
    fetched
}

/// One page, in one transaction of two flights.
async fn write_page(cx: &mut Context<'_>, run: &mut Run, kind: Kind, batch: Batch) -> Result<(), ReconcileError> {
    let at = Instant::now();
    for (id, reason) in &batch.unreadable {
        tracing::warn!(run = run.id, kind = kind.plural(), %id, %reason, "an object of the listing cannot be applied");
    }
    let (client, prepared, dry_run) = (cx.client, &cx.prepared, run.dry_run);
    let first = async {
        tokio::try_join!(
            async { crate::db::statements::begin(client).await.map_err(ReconcileError::from) },
            run.renew(client, prepared),
            async {
                if dry_run {
                    client.batch_execute("SAVEPOINT page").await?;
                }
                Ok(())
            },
            async { batch.records.apply(client).await.map_err(ReconcileError::from) },
        )
    };
    let applied = match first.await {
        Ok((_, _, _, applied)) => applied,
        Err(e) => {
            rollback(client).await;
            return Err(e);
        }
    };
    let summary = applied.summary();
    run.report.of_mut(kind).add_page(batch.seen.len() as u64, summary.created, summary.updated);
    run.checkpoint.of_mut(kind).listing = Some(batch.state);
    let requests = cx.api.requests() - cx.requests_before;
    let run = &*run;
    let last = tokio::try_join!(
        async {
            if dry_run {
                client.batch_execute("ROLLBACK TO SAVEPOINT page").await?;
            }
            Ok(())
        },
        async {
            // Only kinds whose absence means something keep their ids.
            if kind.deletes_absent() {
                run.seen(client, prepared, kind, &batch.seen).await?;
            }
            Ok(())
        },
        run.changes(client, prepared, kind, &applied.changed, false),
        run.save(client, prepared, requests),
        crate::db::statements::commit(client),
    );
    if let Err(e) = last {
        rollback(client).await;
        return Err(e.into());
    }
    cx.db_time += at.elapsed();
    cx.progress.page_written(kind, run.report.of(kind), batch.total);
    Ok(())
}

/// The kind's absence rule; `None` for invitations, which Clerk never deletes.
fn rule(kind: Kind) -> Option<AbsenceRule> {
    match kind {
        Kind::Users => Some(absent::USERS),
        Kind::Organizations => Some(absent::ORGANIZATIONS),
        Kind::Memberships => Some(absent::MEMBERSHIPS),
        Kind::Permissions => Some(absent::PERMISSIONS),
        Kind::Roles => Some(absent::ROLES),
        Kind::Domains => Some(absent::DOMAINS),
        Kind::Invitations => None,
    }
}

/// The rows a complete listing no longer holds, deleted as a webhook would
/// delete them (or, in a dry run, counted and recorded). Invitations are
/// never deleted: Clerk sends no invitation delete.
async fn remove_absent(cx: &mut Context<'_>, run: &mut Run, kind: Kind, began_ms: i64) -> Result<(), ReconcileError> {
    let at = Instant::now();
    let (client, prepared) = (cx.client, &cx.prepared);
    let Some(rule) = rule(kind) else { return Ok(()) };
    let candidates = rule.candidates(client, run.id, began_ms).await?;
    if candidates.is_empty() {
        cx.db_time += at.elapsed();
        return Ok(());
    }
    let absent = candidates.len() as u64;
    let live = rule.live(client).await?;
    if absent > MASS_DELETION_FLOOR && absent * 10 > live {
        if !run.dry_run && !cx.options.allow_mass_deletion {
            return Err(ReconcileError::MassDeletion { kind, absent, live });
        }
        tracing::warn!(run = run.id, kind = kind.plural(), absent, live, "most rows are absent from Clerk's listing");
    }
    let statements = rule.prepare(client).await?;
    let run_id = run.id;
    for ids in candidates.chunks(ABSENCE_BATCH) {
        let removed = if run.dry_run {
            let changed =
                ids.iter().map(|id| Changed { clerk_id: id.clone(), clerk_updated_ms: None, created: false }).collect();
            // The lease is renewed with the rest, below.
            run.renew(client, prepared).await?;
            Applied { changed }
        } else {
            let first = tokio::try_join!(
                async { crate::db::statements::begin(client).await.map_err(ReconcileError::from) },
                run.renew(client, prepared),
                async { statements.apply(client, run_id, began_ms, ids).await.map_err(ReconcileError::from) },
            );
            match first {
                Ok((_, _, removed)) => removed,
                Err(e) => {
                    rollback(client).await;
                    return Err(e);
                }
            }
        };
        run.report.of_mut(kind).deleted += removed.changed.len() as u64;
        let requests = cx.api.requests() - cx.requests_before;
        let dry_run = run.dry_run;
        let run = &*run;
        let last = tokio::try_join!(
            async {
                if dry_run {
                    crate::db::statements::begin(client).await?;
                }
                Ok(())
            },
            async {
                if !dry_run {
                    statements.end_memberships(client, &removed).await?;
                }
                Ok(())
            },
            run.changes(client, prepared, kind, &removed.changed, true),
            run.save(client, prepared, requests),
            crate::db::statements::commit(client),
        );
        if let Err(e) = last {
            rollback(client).await;
            return Err(e.into());
        }
    }
    cx.db_time += at.elapsed();
    Ok(())
}
