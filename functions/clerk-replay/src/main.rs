//! `clerk-replay`: run on a schedule (EventBridge), reprocesses webhook
//! events recorded as failed through the same sync code as a delivery.

use clerk_sync::{config::Env, replay::ReplayJob};
use lambda_http::{
    lambda_runtime::{run, service_fn, LambdaEvent},
    Error,
};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    // Secrets Manager values (`*_ARN`), fetched once, laid over the environment.
    let env = clerk_sync::secrets::load(Env).await?;
    let job = ReplayJob::from_source(&env)?;
    let job = &job;
    run(service_fn(move |_: LambdaEvent<Value>| async move { Ok::<_, Error>(serde_json::to_value(job.run().await?)?) }))
        .await
}
