//! `lambda-reference` plus `clerk_sync::aws::secrets::load`: the difference in
//! size between the two is what the Secrets Manager client (SigV4 signing,
//! the HTTPS client) adds to every function binary.

use lambda_http::{run, service_fn, Error, Request, Response};
use svix::webhooks::Webhook;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let env = clerk_sync::aws::secrets::load(clerk_sync::config::Env).await?;
    let secret =
        clerk_sync::config::Source::get(&env, "CLERK_WEBHOOK_SECRET").ok_or("CLERK_WEBHOOK_SECRET is not set")?;
    let secret = Webhook::new(&secret)?;
    let secret = &secret;
    run(service_fn(move |request: Request| async move {
        let status = if secret.verify(request.body().as_ref(), request.headers()).is_ok() { 200 } else { 401 };
        Ok::<_, Error>(Response::builder().status(status).body(String::new())?)
    }))
    .await
}
