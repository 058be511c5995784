//! `sync-status`: the app's sync debugging page, scoped to the caller.

use clerk_sync::{
    api::{sync_status, ApiState},
    config::Env,
};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    // Secrets Manager values (`*_ARN`), fetched once, laid over the environment.
    let env = clerk_sync::secrets::load(Env).await?;
    let state = ApiState::from_source(&env)?;
    let state = &state;
    run(service_fn(move |request: Request| async move { Ok::<_, Error>(sync_status::handle(state, request).await) }))
        .await
}
