//! `clerk-replay`: run on a schedule (EventBridge), reprocesses webhook
//! events recorded as failed through the same sync code as a delivery.

use std::process::ExitCode;

use clerk_sync::{aws::runtime_api as lambda, config::Env, sync::replay::ReplayJob};
use lambda_http::{
    lambda_runtime::{run, service_fn, LambdaEvent},
    Error,
};
use serde_json::Value;

/// Reads the configuration (Secrets Manager values for `*_ARN`, fetched once,
/// laid over the environment) and builds the job.
async fn init() -> Result<ReplayJob, Error> {
    let env = clerk_sync::aws::secrets::load(Env).await?;
    Ok(ReplayJob::from_source(&env)?)
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
        run(service_fn(
            move |_: LambdaEvent<Value>| async move { Ok::<_, Error>(serde_json::to_value(job.run().await?)?) },
        ))
        .await,
    )
}
