//! `clerk-organizations`: applies Clerk `organization.*` webhooks. Everything else that
//! arrives is recorded as ignored.

use clerk_sync::{config::Env, Family, WebhookConfig, WebhookState};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    // Secrets Manager values (`*_ARN`), fetched once, laid over the environment.
    let env = clerk_sync::secrets::load(Env).await?;
    let state = WebhookState::new(Family::Organizations, WebhookConfig::from_source(&env)?)?;
    let state = &state;
    run(service_fn(move |request: Request| async move { Ok::<_, Error>(clerk_sync::handle(state, request).await) }))
        .await
}
