//! `clerk-sync send`: POST Clerk payloads to a webhook endpoint, each with
//! fresh svix headers, as Svix delivers them.
//!
//! The body is the payload file's bytes exactly as they are: the signature
//! covers those bytes, so nothing is re-serialized or trimmed.

use std::{
    fmt,
    io::{self, IsTerminal},
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use clap::Args;
use clerk_sync::{
    http::client,
    ids::{InvalidId, SvixId},
};
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::Full;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use svix::webhooks::Webhook;

use crate::{
    error::Failure,
    families,
    sign::{self, Secret},
};

/// POST Clerk payloads to a webhook URL, signed as Svix signs a delivery
///
/// Each payload file's bytes are the request body exactly as they are, sent
/// with fresh svix-id, svix-timestamp (now) and svix-signature headers. A
/// directory sends its *.json files in file-name order. Prints one line per
/// payload (file, HTTP status, the answer's status or error), then a summary.
/// Exits non-zero when any answer is not 2xx.
///
/// Every function applies only its own family of event types and records the
/// rest as ignored: send a mixed folder such as events/seed/ to
/// `clerk-sync dev`'s /webhooks/clerk, which applies every family.
///
/// Examples:
///   clerk-sync dev    # in another terminal
///   clerk-sync send http://127.0.0.1:3000/webhooks/clerk-users events/payloads/user.created.json
///   clerk-sync send http://127.0.0.1:3000/webhooks/clerk events/seed/
///   CLERK_WEBHOOK_SECRET=whsec_… clerk-sync send https://<id>.lambda-url.<region>.on.aws/ events/payloads/user.created.json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SendArgs {
    /// The webhook endpoint, http:// or https://: a deployed Function URL, or
    /// a `clerk-sync dev` route such as http://127.0.0.1:3000/webhooks/clerk-users.
    #[arg(value_name = "URL")]
    pub url: String,

    /// Clerk payload files (e.g. events/payloads/user.created.json), or
    /// directories whose *.json files are sent in file-name order (e.g. events/seed/).
    #[arg(value_name = "PAYLOAD.json|DIR", required = true)]
    pub payloads: Vec<PathBuf>,

    /// The endpoint's signing secret (whsec_…); with several (comma- or
    /// whitespace-separated, as during a rotation) the first signs
    /// [default: the development secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,
    /// which `clerk-sync dev` accepts]. Never printed.
    #[arg(long, env = "CLERK_WEBHOOK_SECRET", hide_env_values = true, value_name = "WHSEC")]
    pub secret: Option<String>,

    /// The svix-id header, only with a single payload [default: a fresh
    /// msg_<uuid> per payload]. Sending an id again makes the handler answer
    /// `duplicate`.
    #[arg(long, value_name = "ID")]
    pub svix_id: Option<String>,

    /// Seconds to wait for each answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

/// Every way `send` fails. None prints a secret.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(
        "{url:?} is not an http:// or https:// URL with a host: pass the webhook endpoint, \
         e.g. http://127.0.0.1:3000/webhooks/clerk-users (clerk-sync dev) or a Function URL"
    )]
    InvalidUrl { url: String },

    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error("the directory {} holds no *.json files: pass payload files or a folder of them, e.g. events/seed/", path.display())]
    EmptyDirectory { path: PathBuf },

    #[error(
        "{} is not UTF-8 text: Svix signs text bodies; pass a Clerk JSON payload such as \
         events/payloads/user.created.json",
        path.display()
    )]
    NotUtf8 { path: PathBuf },

    #[error(
        "--svix-id names one message, but {count} payloads were given: drop --svix-id (each payload \
         then gets a fresh id) or send a single payload"
    )]
    SvixIdWithSeveralPayloads { count: usize },

    #[error("--svix-id is invalid: {0} (e.g. msg_2pQm7ZtR4eLw9NcB1xVk6HsYuJa)")]
    InvalidSvixId(InvalidId),

    #[error(
        "the signing secret from {origin} is not a Svix signing secret: expected whsec_ followed by padded \
         base64; copy it from the Clerk dashboard (Webhooks → your endpoint → Signing Secret), or unset it \
         to sign with the development secret"
    )]
    InvalidSecret { origin: &'static str },

    #[error("cannot sign {}: {source}", path.display())]
    Sign { path: PathBuf, source: svix::webhooks::WebhookError },

    #[error(
        "no trusted root certificates for https: {0}; install the system CA certificates \
         (Debian/Ubuntu: apt-get install ca-certificates)"
    )]
    TlsRoots(io::Error),

    #[error(
        "no answer from {url} for {}: {reason}. Is the server running and the URL right? \
         (`clerk-sync dev` serves on http://127.0.0.1:3000; {sent} of {total} payloads were answered before this)",
        path.display()
    )]
    NoAnswer { url: String, path: PathBuf, reason: String, sent: usize, total: usize },

    #[error("{count} of {total} deliveries were answered with a non-2xx status (see the lines above)")]
    Rejected { count: usize, total: usize },

    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
}

impl Failure for SendError {}

/// Signs deliveries with one secret.
pub struct Signer(Webhook);

impl Signer {
    /// `origin` names where the secret came from, for the error message.
    pub fn new(secret: &str, origin: &'static str) -> Result<Self, SendError> {
        Webhook::new(secret).map(Self).map_err(|_| SendError::InvalidSecret { origin })
    }

    /// The svix-id, svix-timestamp and svix-signature headers for `body`,
    /// plus `content-type: application/json`.
    pub fn headers(
        &self,
        svix_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<HeaderMap, svix::webhooks::WebhookError> {
        let signature = self.0.sign(svix_id, timestamp, body)?;
        let mut headers = HeaderMap::new();
        for (name, value) in
            [("svix-id", svix_id.to_string()), ("svix-timestamp", timestamp.to_string()), ("svix-signature", signature)]
        {
            let value = HeaderValue::try_from(value).map_err(|_| svix::webhooks::WebhookError::InvalidHeader(name))?;
            headers.insert(name, value);
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(headers)
    }
}

/// The payload files named by the arguments: files as given, directories
/// expanded to their `*.json` files in file-name order (hidden files skipped).
pub fn expand(arguments: &[PathBuf]) -> Result<Vec<PathBuf>, SendError> {
    let mut files = Vec::new();
    for argument in arguments {
        let metadata =
            std::fs::metadata(argument).map_err(|source| SendError::Read { path: argument.clone(), source })?;
        if !metadata.is_dir() {
            files.push(argument.clone());
            continue;
        }
        let entries =
            std::fs::read_dir(argument).map_err(|source| SendError::Read { path: argument.clone(), source })?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| SendError::Read { path: argument.clone(), source })?;
            let name = entry.file_name();
            let path = entry.path();
            let is_json = path.extension().is_some_and(|e| e == "json");
            let hidden = name.to_string_lossy().starts_with('.');
            if is_json && !hidden && path.is_file() {
                found.push((name, path));
            }
        }
        if found.is_empty() {
            return Err(SendError::EmptyDirectory { path: argument.clone() });
        }
        found.sort();
        files.extend(found.into_iter().map(|(_, path)| path));
    }
    Ok(files)
}

/// Reads a payload file and checks it is text.
pub fn read_payload(path: &Path) -> Result<Bytes, SendError> {
    let bytes = std::fs::read(path).map_err(|source| SendError::Read { path: path.to_path_buf(), source })?;
    if std::str::from_utf8(&bytes).is_err() {
        return Err(SendError::NotUtf8 { path: path.to_path_buf() });
    }
    Ok(Bytes::from(bytes))
}

/// Counts of answers, by the `status` field of a 2xx answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub processed: usize,
    pub duplicate: usize,
    pub ignored: usize,
    pub stale: usize,
    pub failed: usize,
    /// 2xx answers without one of the statuses above.
    pub other: usize,
    pub non_2xx: usize,
}

impl Summary {
    pub fn record(&mut self, http: StatusCode, status: Option<&str>) {
        if !http.is_success() {
            self.non_2xx += 1;
            return;
        }
        match status {
            Some("processed") => self.processed += 1,
            Some("duplicate") => self.duplicate += 1,
            Some("ignored") => self.ignored += 1,
            Some("stale") => self.stale += 1,
            Some("failed") => self.failed += 1,
            _ => self.other += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.processed + self.duplicate + self.ignored + self.stale + self.failed + self.other + self.non_2xx
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} processed, {} duplicate, {} ignored, {} stale, {} failed, {} non-2xx",
            self.processed, self.duplicate, self.ignored, self.stale, self.failed, self.non_2xx
        )?;
        if self.other > 0 {
            write!(f, ", {} other 2xx", self.other)?;
        }
        Ok(())
    }
}

/// One answer: its HTTP status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

impl Answer {
    fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The `status` field of a JSON answer (`processed`, `duplicate`, …).
    pub fn json_status(&self) -> Option<String> {
        self.json()?.get("status")?.as_str().map(str::to_owned)
    }

    /// What the answer says, on one line: `processed (user.created)`,
    /// `failed (user.created): <reason>`, `invalid_signature: <message>`,
    /// or the body itself when it is not one of ours.
    pub fn describe(&self) -> String {
        let text = |v: &serde_json::Value, k: &str| v.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        if let Some(value) = self.json() {
            if let Some(status) = text(&value, "status") {
                let mut line = status;
                if let Some(event_type) = text(&value, "event_type") {
                    line.push_str(&format!(" ({event_type})"));
                }
                if let Some(reason) = text(&value, "reason") {
                    line.push_str(&format!(": {reason}"));
                }
                return line;
            }
            if let Some(code) = text(&value, "error") {
                return match text(&value, "message") {
                    Some(message) => format!("{code}: {message}"),
                    None => code,
                };
            }
        }
        let flat: String = self.body.split_whitespace().collect::<Vec<_>>().join(" ");
        match flat.char_indices().nth(160) {
            Some((cut, _)) => format!("{}…", &flat[..cut]),
            None if flat.is_empty() => "(empty body)".to_string(),
            None => flat,
        }
    }
}

/// An HTTP/1.1 client for http:// or https://: the process's shared client
/// (rustls, the system's roots), see `clerk_sync::http::client`.
pub struct HttpClient(&'static client::HttpClient);

impl HttpClient {
    pub fn for_uri(uri: &Uri) -> Result<Self, SendError> {
        let tls_error = |e: client::Error| SendError::TlsRoots(io::Error::other(e.to_string()));
        let shared = client::shared().map_err(tls_error)?;
        if uri.scheme_str() == Some("https") {
            shared.https_ready().map_err(tls_error)?;
        }
        Ok(HttpClient(shared))
    }

    /// Sends `request` and reads the answer (at most 1 MiB of it), within `timeout`.
    pub async fn send(&self, request: Request<Full<Bytes>>, timeout: Duration) -> Result<Answer, String> {
        match self.0.send(request, timeout, 1024 * 1024).await {
            Ok(answer) => {
                Ok(Answer { status: answer.status, body: String::from_utf8_lossy(&answer.body).into_owned() })
            }
            Err(client::Error::Timeout) => Err(format!("no answer within {} s (raise --timeout)", timeout.as_secs())),
            Err(e) => Err(crate::error::report(&e)),
        }
    }
}

/// Parses and checks the endpoint URL.
pub fn parse_url(url: &str) -> Result<Uri, SendError> {
    let invalid = || SendError::InvalidUrl { url: url.to_string() };
    let uri: Uri = url.trim().parse().map_err(|_| invalid())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http") | Some("https"));
    if !scheme_ok || uri.host().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(uri)
}

/// A signed POST of `body` to `uri`.
pub fn signed_request(
    uri: &Uri,
    signer: &Signer,
    svix_id: &str,
    timestamp: i64,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, svix::webhooks::WebhookError> {
    let headers = signer.headers(svix_id, timestamp, &body)?;
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers;
    request.headers_mut().insert(header::USER_AGENT, HeaderValue::from_static("clerk-sync-send"));
    Ok(request)
}

pub fn run(args: SendArgs) -> Result<(), SendError> {
    let runtime = crate::runtime::current_thread().map_err(SendError::Runtime)?;
    runtime.block_on(send(args)).map(drop)
}

/// Sends every payload and prints the answers; `run` without the runtime.
pub(crate) async fn send(args: SendArgs) -> Result<Summary, SendError> {
    let uri = parse_url(&args.url)?;
    let files = expand(&args.payloads)?;
    let svix_id = match &args.svix_id {
        Some(_) if files.len() > 1 => return Err(SendError::SvixIdWithSeveralPayloads { count: files.len() }),
        Some(id) => Some(SvixId::parse(id).map_err(SendError::InvalidSvixId)?.as_str().to_string()),
        None => None,
    };
    let secret = Secret::choose(args.secret.as_deref());
    let signer = Signer::new(secret.value(), "CLERK_WEBHOOK_SECRET (or --secret)")?;
    // Every file is read before anything is sent: a typo stops the run whole.
    let payloads = files.iter().map(|path| Ok((path.clone(), read_payload(path)?))).collect::<Result<Vec<_>, _>>()?;
    let client = HttpClient::for_uri(&uri)?;
    let timeout = Duration::from_secs(args.timeout);

    match secret {
        Secret::Development => {
            eprintln!("note: CLERK_WEBHOOK_SECRET is not set; signing with the development secret {}", sign::DEV_SECRET)
        }
        Secret::Configured { count, .. } if count > 1 => {
            eprintln!("note: CLERK_WEBHOOK_SECRET holds {count} secrets; signing with the first")
        }
        Secret::Configured { .. } => {}
    }

    let names: Vec<String> = payloads.iter().map(|(path, _)| path.display().to_string()).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let bar = progress_bar(payloads.len());
    let say = |line: String| match &bar {
        Some(bar) => bar.suspend(|| println!("{line}")),
        None => println!("{line}"),
    };

    let mut summary = Summary::default();
    for ((path, body), name) in payloads.into_iter().zip(&names) {
        if let Some(bar) = &bar {
            bar.set_message(name.clone());
        }
        let id = svix_id.clone().unwrap_or_else(sign::fresh_svix_id);
        let request = signed_request(&uri, &signer, &id, sign::now(), body)
            .map_err(|source| SendError::Sign { path: path.clone(), source })?;
        let answer = match client.send(request, timeout).await {
            Ok(answer) => answer,
            Err(reason) => {
                if let Some(bar) = &bar {
                    bar.abandon();
                }
                if summary.total() > 0 {
                    println!("{} answered: {summary}", summary.total());
                }
                return Err(SendError::NoAnswer {
                    url: args.url.clone(),
                    path,
                    reason,
                    sent: summary.total(),
                    total: names.len(),
                });
            }
        };
        summary.record(answer.status, answer.json_status().as_deref());
        say(format!("{name:<width$}  {}  {}", answer.status.as_u16(), answer.describe()));
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    println!("{} sent: {summary}", summary.total());
    if summary.ignored > 0 {
        println!(
            "note: ignored events are recorded but not applied: each function applies only its family \
             ({}); clerk-sync dev's /webhooks/clerk applies all {}",
            families::type_prefixes(),
            families::count_in_words()
        );
    }
    if summary.failed > 0 {
        println!("note: failed events are stored with their reason; fix the cause, then run clerk-sync replay");
    }
    if summary.non_2xx > 0 {
        return Err(SendError::Rejected { count: summary.non_2xx, total: summary.total() });
    }
    Ok(summary)
}

/// A progress bar for more than a few payloads, when standard output is a terminal.
fn progress_bar(count: usize) -> Option<ProgressBar> {
    if count <= 3 || !io::stdout().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(count as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    Some(bar)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use clerk_sync::webhook::SigningSecrets;
    use secrecy::SecretString;

    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("clerk-sync-send-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).expect("create a temporary directory");
        dir
    }

    #[test]
    fn directories_expand_to_their_json_files_in_name_order() {
        let dir = temp_dir();
        for name in ["10-b.json", "02-a.json", "01-z.json", "notes.txt", ".hidden.json"] {
            fs::write(dir.join(name), "{}").expect("write");
        }
        fs::create_dir(dir.join("nested.json")).expect("mkdir");
        let single = dir.join("notes.txt");
        let files = expand(&[single.clone(), dir.clone()]).expect("expands");
        let names: Vec<_> = files.iter().map(|p| p.strip_prefix(&dir).expect("inside").display().to_string()).collect();
        assert_eq!(names, ["notes.txt", "01-z.json", "02-a.json", "10-b.json"]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_seed_folder_lists_in_delivery_order() {
        let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/seed");
        let files = expand(&[seed]).expect("the seed folder expands");
        let names: Vec<String> =
            files.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(names.first().map(String::as_str), Some("01-user.created.json"));
    }

    #[test]
    fn an_empty_or_missing_argument_is_refused() {
        let dir = temp_dir();
        assert!(matches!(expand(std::slice::from_ref(&dir)), Err(SendError::EmptyDirectory { .. })));
        assert!(matches!(expand(&[dir.join("missing.json")]), Err(SendError::Read { .. })));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn summary_counts_by_answer() {
        let mut summary = Summary::default();
        for (http, status) in [
            (200, Some("processed")),
            (200, Some("processed")),
            (200, Some("duplicate")),
            (200, Some("ignored")),
            (200, Some("stale")),
            (200, Some("failed")),
            (204, None),
            (401, None),
            (503, Some("processed")),
        ] {
            summary.record(StatusCode::from_u16(http).expect("valid status"), status);
        }
        assert_eq!(
            summary,
            Summary { processed: 2, duplicate: 1, ignored: 1, stale: 1, failed: 1, other: 1, non_2xx: 2 }
        );
        assert_eq!(summary.total(), 9);
        assert_eq!(
            summary.to_string(),
            "2 processed, 1 duplicate, 1 ignored, 1 stale, 1 failed, 2 non-2xx, 1 other 2xx"
        );
    }

    #[test]
    fn answers_describe_themselves_on_one_line() {
        let answer = |status: u16, body: &str| Answer {
            status: StatusCode::from_u16(status).expect("valid status"),
            body: body.to_string(),
        };
        let ok = answer(200, r#"{"status":"processed","svix_id":"msg_1","event_type":"user.created"}"#);
        assert_eq!(ok.json_status().as_deref(), Some("processed"));
        assert_eq!(ok.describe(), "processed (user.created)");
        let failed = answer(200, r#"{"status":"failed","event_type":"user.created","reason":"no id"}"#);
        assert_eq!(failed.describe(), "failed (user.created): no id");
        let refused = answer(401, r#"{"error":"invalid_signature","message":"no secret verifies it"}"#);
        assert_eq!(refused.json_status(), None);
        assert_eq!(refused.describe(), "invalid_signature: no secret verifies it");
        assert_eq!(answer(502, "<html>\n  Bad   gateway\n</html>").describe(), "<html> Bad gateway </html>");
        assert_eq!(answer(204, "").describe(), "(empty body)");
        assert!(answer(500, &"x".repeat(500)).describe().ends_with('…'));
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        assert!(parse_url("http://127.0.0.1:3000/webhooks/clerk-users").is_ok());
        assert!(parse_url("https://abc.lambda-url.us-east-1.on.aws/").is_ok());
        for bad in ["", "127.0.0.1:3000", "ftp://host/", "/webhooks", "http://"] {
            assert!(matches!(parse_url(bad), Err(SendError::InvalidUrl { .. })), "{bad:?}");
        }
    }

    #[test]
    fn requests_carry_the_exact_bytes_and_verify() {
        let body = Bytes::from_static(include_bytes!("../../events/payloads/user.created.json"));
        let signer = Signer::new(sign::DEV_SECRET, "test").expect("the dev secret is valid");
        let uri = parse_url("http://127.0.0.1:3000/webhooks/clerk-users").expect("valid");
        let id = sign::fresh_svix_id();
        let request = signed_request(&uri, &signer, &id, sign::now(), body.clone()).expect("signs");
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.headers()["svix-id"], id.as_str());
        assert_eq!(request.headers()[header::CONTENT_TYPE], "application/json");
        let secrets = SigningSecrets::parse(&SecretString::from(sign::DEV_SECRET)).expect("parses");
        assert!(secrets.verify(&body, request.headers()).is_ok());
        let trimmed = String::from_utf8_lossy(&body).trim_end().to_string();
        assert!(secrets.verify(trimmed.as_bytes(), request.headers()).is_err());
    }

    #[test]
    fn an_invalid_secret_is_named_by_origin_not_value() {
        let message = match Signer::new("whsec_not base64!", "CLERK_WEBHOOK_SECRET (or --secret)") {
            Ok(_) => panic!("an invalid secret was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(message.contains("CLERK_WEBHOOK_SECRET"), "{message}");
        assert!(!message.contains("not base64"), "{message}");
    }

    #[tokio::test]
    async fn svix_id_goes_with_a_single_payload_only() {
        let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/seed");
        let args = |svix_id: &str| SendArgs {
            // Nothing listens there: the arguments are refused before any request.
            url: "http://127.0.0.1:9/".into(),
            payloads: vec![seed.clone()],
            secret: None,
            svix_id: Some(svix_id.into()),
            timeout: 1,
        };
        assert!(matches!(send(args("msg_1")).await, Err(SendError::SvixIdWithSeveralPayloads { count: 7 })));
        let mut single = args("msg 1");
        single.payloads = vec![seed.join("01-user.created.json")];
        assert!(matches!(send(single).await, Err(SendError::InvalidSvixId(_))));
    }

    #[test]
    fn non_utf8_payloads_are_refused_before_sending() {
        let dir = temp_dir();
        let path = dir.join("binary.json");
        fs::write(&path, [0xff, 0xfe, 0x00]).expect("write");
        assert!(matches!(read_payload(&path), Err(SendError::NotUtf8 { .. })));
        let _ = fs::remove_dir_all(&dir);
    }
}
