//! `sync-status`: the app's sync debugging page, scoped to the caller.

use clerk_sync::api::{sync_status, ApiState};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let state = ApiState::from_env()?;
    let state = &state;
    run(service_fn(move |request: Request| async move { Ok::<_, Error>(sync_status::handle(state, request).await) }))
        .await
}
