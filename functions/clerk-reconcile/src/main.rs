//! `clerk-reconcile`: run on a schedule (EventBridge), brings the mirror to
//! what Clerk's Backend API holds through the webhooks' own rules. A run
//! stops starting pages a margin before the invocation's deadline and the
//! next tick resumes it from its checkpoint; a lease lock keeps two runs
//! from ever overlapping (the later one is skipped).

use std::process::ExitCode;

use clerk_sync::{aws::runtime_api as lambda, config::Env, reconcile::ReconcileJob};
use lambda_http::{
    lambda_runtime::{run, service_fn, LambdaEvent},
    Error,
};
use serde_json::Value;

/// Reads the configuration (Secrets Manager values for `*_ARN`, fetched once,
/// laid over the environment) and builds the job.
async fn init() -> Result<ReconcileJob, Error> {
    let env = clerk_sync::aws::secrets::load(Env).await?;
    Ok(ReconcileJob::from_source(&env)?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    lambda_http::tracing::init_default_subscriber();
    let job = match init().await {
        Ok(job) => job,
        // Reported to the Runtime API, so the waiting invocation fails at once with the message.
        Err(e) => return lambda::init_failed(e.as_ref()).await,
    };
    let job = &job;
    lambda::exit(
        run(service_fn(move |event: LambdaEvent<Value>| async move {
            // The deadline (ms since the Unix epoch) bounds the run: it suspends before it.
            Ok::<_, Error>(job.run(event.context.deadline).await?)
        }))
        .await,
    )
}
