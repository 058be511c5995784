//! `--seed`: the starter data set, delivered through the webhook handlers.

use std::path::Path;

use clerk_sync::clerk::Envelope;
use http::{Method, Request, Uri};

use super::{app::App, routes::Function};
use crate::{
    devdir::display_path,
    send::{self, SendError, Signer, Summary},
    sign,
};

/// Delivers the seed folder's payloads through the webhook handlers, signed
/// with `signer`, each to the function of its family.
pub async fn seed(app: &App, dir: &Path, signer: &Signer) -> Result<Summary, SendError> {
    let files = send::expand(&[dir.to_path_buf()])?;
    let payloads = files
        .iter()
        .map(|path| {
            Ok((
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                send::read_payload(path)?,
            ))
        })
        .collect::<Result<Vec<_>, SendError>>()?;
    println!("seeding from {} ({} events):", display_path(dir), payloads.len());
    let width = payloads.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0);
    let mut summary = Summary::default();
    for ((name, body), path) in payloads.into_iter().zip(files) {
        let event_type = Envelope::parse(&body).map(|e| e.event_type).unwrap_or_default();
        let function = Function::for_event_type(&event_type);
        let headers = signer
            .headers(&sign::fresh_svix_id(), sign::now(), &body)
            .map_err(|source| SendError::Sign { path: path.clone(), source })?;
        let mut request = Request::new(body);
        *request.method_mut() = Method::POST;
        *request.uri_mut() = Uri::from_static(function.path());
        *request.headers_mut() = headers;
        let response = app.dispatch(function, request).await;
        let answer = send::Answer { status: response.status(), body: response.into_body() };
        summary.record(answer.status, answer.json_status().as_deref());
        println!("  {name:<width$}  → {:<19}  {}  {}", function.name(), answer.status.as_u16(), answer.describe());
    }
    println!("seeded: {summary}");
    if summary.stale > 0 {
        println!("(stale events changed nothing: the rows already reflect them, e.g. from an earlier --seed)");
    }
    match app.describe_contents().await {
        Ok(contents) => println!("the database holds {contents}"),
        Err(e) => tracing::warn!(error = %e, "cannot count the rows"),
    }
    Ok(summary)
}
