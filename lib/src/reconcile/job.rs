//! The scheduled `clerk-reconcile` function: one run per tick, stopped
//! (suspended) a margin before the invocation's deadline and resumed from
//! its checkpoint by the next tick.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::time::Instant;

use super::{
    error::ReconcileError,
    kind::Kind,
    progress::Quiet,
    run::{reconcile, Options, Trigger},
};
use crate::{
    backend_api::{BackendApi, BackendApiConfig},
    config::{self, ConfigError, Source},
    db::{Database, DbSettings},
    metrics,
};

pub struct ReconcileJob {
    pub db: Database,
    pub api: BackendApi,
    /// How long before the invocation's deadline the run stops starting pages.
    pub margin: Duration,
}

impl ReconcileJob {
    /// `DATABASE_URL`, `CLERK_SECRET_KEY` (resolved from `CLERK_SECRET_KEY_ARN`
    /// by [`crate::aws::secrets::load`]), `CLERK_API_URL`,
    /// `RECONCILE_STOP_MARGIN_SECONDS` (default 60).
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let margin = config::parse_or(src, "RECONCILE_STOP_MARGIN_SECONDS", 60u64)?;
        let api = BackendApi::new(BackendApiConfig::from_source(src)?)
            .map_err(|e| ConfigError::Invalid { var: "CLERK_SECRET_KEY", reason: e.to_string() })?;
        Ok(Self {
            db: Database::new(&DbSettings::from_source(src)?, !config::flag(src, "SKIP_DB_MIGRATIONS")?)?,
            api,
            margin: Duration::from_secs(margin),
        })
    }

    /// One run, ending by `deadline_ms` (the invocation's deadline, ms since
    /// the Unix epoch). Another run holding the lock is not an error: this
    /// tick is skipped. `Err` fails the invocation (the run is recorded failed).
    pub async fn run(&self, deadline_ms: u64) -> Result<Value, ReconcileError> {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        let mut options = Options::new(Trigger::Schedule);
        options.stop_at = Some(Instant::now() + left.saturating_sub(self.margin));
        let started = Instant::now();
        let client = self.db.client().await?;
        let result = reconcile(&client, &self.api, &options, &Quiet).await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(outcome) => {
                let drift: Vec<(&str, u64)> = Kind::ALL
                    .iter()
                    .map(|&kind| {
                        let counts = outcome.report.of(kind);
                        (kind.plural(), counts.created + counts.updated + counts.deleted)
                    })
                    .collect();
                metrics::reconcile(false, duration_ms, &drift);
            }
            Err(ReconcileError::Busy { .. }) => {}
            Err(_) => metrics::reconcile(true, duration_ms, &[]),
        }
        match result {
            Ok(outcome) => Ok(json!({
                "run": outcome.run_id,
                "resumed": outcome.resumed,
                "suspended": outcome.suspended,
                "api_requests": outcome.api_requests,
                "report": outcome.report,
                "notes": outcome.notes,
            })),
            Err(e @ ReconcileError::Busy { .. }) => {
                tracing::info!(reason = %e, "reconcile skipped: another run is in progress");
                Ok(json!({ "skipped": e.to_string() }))
            }
            Err(e) => Err(e),
        }
    }
}
