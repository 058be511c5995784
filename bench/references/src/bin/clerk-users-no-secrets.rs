//! `functions/clerk-users` without the Secrets Manager fetch at cold start
//! (settings from the environment only): its size against the function's
//! is what the Secrets Manager client costs.

use clerk_sync::{config::Env, Family, WebhookConfig, WebhookState};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let state = WebhookState::new(Family::Users, WebhookConfig::from_source(&Env)?)?;
    let state = &state;
    run(service_fn(move |request: Request| async move { Ok::<_, Error>(clerk_sync::handle(state, request).await) }))
        .await
}
