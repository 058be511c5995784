//! `seller-accounts`: the active organization's Amazon seller accounts.

use clerk_sync::{
    api::seller_accounts::{self, SellerAccountsState},
    config::Env,
};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    // Secrets Manager values (`*_ARN`), fetched once, laid over the environment.
    let env = clerk_sync::secrets::load(Env).await?;
    let state = SellerAccountsState::from_source(&env)?;
    let state = &state;
    run(service_fn(
        move |request: Request| async move { Ok::<_, Error>(seller_accounts::handle(state, request).await) },
    ))
    .await
}
