//! `seller-accounts`: the active organization's Amazon seller accounts.

use std::process::ExitCode;

use clerk_sync::{
    api::seller_accounts::{self, SellerAccountsState},
    aws::runtime_api as lambda,
    config::Env,
};
use lambda_http::{service_fn, Error, Request};

/// Reads the configuration (Secrets Manager values for `*_ARN`, fetched once,
/// laid over the environment) and builds the state.
async fn init() -> Result<SellerAccountsState, Error> {
    let env = clerk_sync::aws::secrets::load(Env).await?;
    Ok(SellerAccountsState::from_source(&env)?)
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
            Ok::<_, Error>(seller_accounts::handle(state, request).await)
        }))
        .await,
    )
}
