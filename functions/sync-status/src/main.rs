//! `sync-status`: the app's sync debugging page, scoped to the caller.

use std::process::ExitCode;

use clerk_sync::{
    api::{sync_status, ApiState},
    aws::runtime_api as lambda,
    config::Env,
};
use lambda_http::{service_fn, Error, Request};

/// Reads the configuration (Secrets Manager values for `*_ARN`, fetched once,
/// laid over the environment) and builds the state.
async fn init() -> Result<ApiState, Error> {
    let env = clerk_sync::aws::secrets::load(Env).await?;
    Ok(ApiState::from_source(&env)?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    lambda_http::tracing::init_default_subscriber();
    let state = match init().await {
        Ok(state) => state,
        // Reported to the Runtime API, so the waiting invocation fails at once with the message.
        Err(e) => return lambda::init_failed(e.as_ref()).await,
    };
    let state = &state;
    lambda::exit(
        clerk_sync::http::event::run(service_fn(move |request: Request| async move {
            Ok::<_, Error>(sync_status::handle(state, request).await)
        }))
        .await,
    )
}
