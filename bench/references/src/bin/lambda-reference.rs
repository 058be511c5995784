//! The cold-start reference: a bare lambda_http + svix function that
//! verifies a delivery and answers, with nothing of clerk-sync (no config,
//! pool or TLS). `functions::cold_start` measures it beside the real ones.

use lambda_http::{run, service_fn, Error, Request, Response};
use svix::webhooks::Webhook;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let secret = Webhook::new(&std::env::var("CLERK_WEBHOOK_SECRET")?)?;
    let secret = &secret;
    run(service_fn(move |request: Request| async move {
        let status = if secret.verify(request.body().as_ref(), request.headers()).is_ok() { 200 } else { 401 };
        Ok::<_, Error>(Response::builder().status(status).body(String::new())?)
    }))
    .await
}
