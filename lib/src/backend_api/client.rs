//! [`BackendApi`]: paced, retried, typed GETs against Clerk's Backend API.
//!
//! Every attempt — first tries, retries, re-tries after a `429` — takes a
//! slot from the [`Pacer`], so the pace holds whatever Clerk answers. `5xx`
//! answers, timeouts and transport faults are retried with exponential
//! backoff (with jitter) up to [`RetryPolicy::attempts`]; a `429` is waited
//! out for its `Retry-After` up to [`RetryPolicy::throttled_attempts`]
//! times; other answers are final. The key is sent as a sensitive header
//! and scrubbed from every error text; logs carry the path, never headers.

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use http_body_util::Full;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::{ExposeSecret, SecretString};
use serde::{de::DeserializeOwned, Deserialize};

use super::{
    config::{BackendApiConfig, RetryPolicy},
    models::{DataPage, Item, Membership, Organization, User},
    pace::Pacer,
};
use crate::ids::{ClerkOrgId, ClerkUserId};

/// A page of 500 full users is about 2 MB; anything past this is not Clerk.
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// Clerk's own error messages are short; a proxy's HTML page is cut here.
const MAX_MESSAGE: usize = 300;

/// Why a call failed. No variant ever holds the secret key.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `401`: the key is wrong, revoked or for no instance.
    #[error("the Clerk Backend API refused the secret key (401 on {path}): {message}")]
    Unauthorized { path: String, message: String },
    /// A final answer other than success, `404` (read as absence), `429` or `5xx`.
    #[error("the Clerk Backend API answered {status} on {path}: {message}")]
    Refused { path: String, status: u16, message: String },
    /// Still `429` after [`RetryPolicy::throttled_attempts`] waits.
    #[error("the Clerk Backend API kept rate-limiting {path} (429) after {attempts} attempts")]
    Throttled { path: String, attempts: u32 },
    /// `5xx`, timeouts or transport faults on every one of [`RetryPolicy::attempts`].
    #[error("the Clerk Backend API failed on {path} after {attempts} attempts; last: {last}")]
    Unavailable { path: String, attempts: u32, last: String },
    /// A success whose body is not the documented shape at all (not JSON, an
    /// object where a list belongs, …); single odd fields never get here.
    #[error("the answer of the Clerk Backend API on {path} is not the documented shape: {reason}")]
    Decode { path: String, reason: String },
    /// The HTTPS client could not be built.
    #[error("cannot set up HTTPS for the Clerk Backend API: {0}")]
    Setup(String),
}

impl ApiError {
    /// Worth trying the same call again later (the listing stays where it was).
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Throttled { .. } | ApiError::Unavailable { .. })
    }
}

/// Path segments: everything but RFC 3986's unreserved characters escaped.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `raw` escaped for a path segment or a query value.
pub(crate) fn escape(raw: &str) -> String {
    utf8_percent_encode(raw, SEGMENT).to_string()
}

/// A read-only Backend API client. Share it (e.g. in an `Arc`) so every
/// caller goes through the one pacer.
pub struct BackendApi {
    base_url: String,
    authorization: HeaderValue,
    key: SecretString,
    pacer: Pacer,
    retry: RetryPolicy,
    page_size: u32,
    /// Every attempt sent, retries included.
    requests: AtomicU64,
}

impl fmt::Debug for BackendApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendApi")
            .field("base_url", &self.base_url)
            .field("page_size", &self.page_size)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// An attempt's outcome before the retry decision.
enum Attempt {
    Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// Transport fault or timeout.
    Failed(String),
}

impl BackendApi {
    pub fn new(config: BackendApiConfig) -> Result<Self, ApiError> {
        let mut authorization = HeaderValue::try_from(format!("Bearer {}", config.secret_key.expose_secret()))
            .map_err(|_| ApiError::Setup("the secret key is not a valid header value".into()))?;
        authorization.set_sensitive(true);
        Ok(Self {
            base_url: config.base_url,
            authorization,
            key: config.secret_key,
            pacer: Pacer::new(config.max_requests, config.window),
            retry: config.retry,
            page_size: config.page_size.clamp(1, super::config::MAX_PAGE_SIZE),
            requests: AtomicU64::new(0),
        })
    }

    /// Requests sent so far (every attempt, retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn page_size(&self) -> u32 {
        self.page_size
    }

    /// `GET /v1/users/{id}`; `None` when Clerk does not know the user (deleted or never existed).
    pub async fn get_user(&self, id: &ClerkUserId) -> Result<Option<User>, ApiError> {
        self.get(&format!("/v1/users/{}", escape(id.as_str()))).await
    }

    /// `GET /v1/organizations/{id}`; `None` when unknown.
    pub async fn get_organization(&self, id: &ClerkOrgId) -> Result<Option<Organization>, ApiError> {
        self.get(&format!("/v1/organizations/{}", escape(id.as_str()))).await
    }

    /// The user's membership in the organization
    /// (`GET /v1/organizations/{org}/memberships?user_id=…`); `None` when
    /// there is none or the organization is unknown.
    pub async fn get_membership(&self, org: &ClerkOrgId, user: &ClerkUserId) -> Result<Option<Membership>, ApiError> {
        let path = format!(
            "/v1/organizations/{}/memberships?user_id={}&limit=10",
            escape(org.as_str()),
            escape(user.as_str())
        );
        let Some(page) = self.get::<DataPage<Membership>>(&path).await? else { return Ok(None) };
        Ok(page
            .data
            .into_iter()
            .filter_map(|item: Item<Membership>| item.value.ok())
            .find(|m| m.public_user_data.as_ref().and_then(|p| p.user_id.as_deref()) == Some(user.as_str())))
    }

    /// One GET, paced and retried; `None` on `404`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<Option<T>, ApiError> {
        let path = path_and_query.to_string();
        let Some(body) = self.fetch(path_and_query).await? else { return Ok(None) };
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| ApiError::Decode { path, reason: self.scrub(&e.to_string()) })
    }

    /// The body of a successful answer; `None` on `404`.
    async fn fetch(&self, path_and_query: &str) -> Result<Option<Bytes>, ApiError> {
        let url = format!("{}{path_and_query}", self.base_url);
        let path = || path_and_query.to_string();
        let (mut failures, mut throttled) = (0u32, 0u32);
        loop {
            self.pacer.acquire().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let last = match tokio::time::timeout(self.retry.attempt_timeout, self.attempt(&url)).await {
                Err(_) => format!("timed out after {:?}", self.retry.attempt_timeout),
                Ok(Attempt::Failed(reason)) => reason,
                Ok(Attempt::Answer { status, headers, body }) => {
                    if status.is_success() {
                        return Ok(Some(body));
                    }
                    if status == StatusCode::NOT_FOUND {
                        return Ok(None);
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        throttled += 1;
                        if throttled >= self.retry.throttled_attempts {
                            return Err(ApiError::Throttled { path: path(), attempts: throttled });
                        }
                        let wait = retry_after(&headers)
                            .unwrap_or_else(|| self.backoff(throttled))
                            .min(self.retry.max_retry_after);
                        tracing::warn!(path = path_and_query, ?wait, "Clerk Backend API rate limit (429); waiting");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    let message = self.scrub(&error_message(&body));
                    if status == StatusCode::UNAUTHORIZED {
                        return Err(ApiError::Unauthorized { path: path(), message });
                    }
                    if !status.is_server_error() {
                        return Err(ApiError::Refused { path: path(), status: status.as_u16(), message });
                    }
                    format!("{status}: {message}")
                }
            };
            failures += 1;
            if failures >= self.retry.attempts.max(1) {
                return Err(ApiError::Unavailable { path: path(), attempts: failures, last });
            }
            let wait = self.backoff(failures);
            tracing::warn!(path = path_and_query, attempt = failures, error = %last, ?wait, "Clerk Backend API call failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(&self, url: &str) -> Attempt {
        let request = match http::Request::get(url)
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, concat!("clerk-sync/", env!("CARGO_PKG_VERSION")))
            .body(Full::default())
        {
            Ok(request) => request,
            Err(e) => return Attempt::Failed(format!("cannot build the request: {e}")),
        };
        // The project's one outbound client, built on first use (not at cold
        // start); the config allows http:// only for loopback.
        let http = match crate::http::client::shared() {
            Ok(http) => http,
            Err(e) => return Attempt::Failed(e.to_string()),
        };
        // The caller bounds the attempt; this bound only keeps the client's own.
        match http.send(request, self.retry.attempt_timeout, MAX_ANSWER).await {
            Ok(answer) => Attempt::Answer { status: answer.status, headers: answer.headers, body: answer.body },
            Err(e) => Attempt::Failed(self.scrub(&crate::report::error_chain(&e))),
        }
    }

    /// `base × 2^(n-1)`, at most `max_backoff`, then a random half to all of it.
    fn backoff(&self, failures: u32) -> Duration {
        let full = self
            .retry
            .base_backoff
            .saturating_mul(1u32.checked_shl(failures.saturating_sub(1)).unwrap_or(u32::MAX))
            .min(self.retry.max_backoff);
        let random = uuid::Uuid::new_v4().as_u64_pair().0 % 1000;
        full / 2 + (full / 2).mul_f64(random as f64 / 1000.0)
    }

    /// `text` without the key, should anything ever echo it.
    fn scrub(&self, text: &str) -> String {
        let key = self.key.expose_secret();
        if key.is_empty() {
            text.to_string()
        } else {
            text.replace(key, "[redacted]")
        }
    }
}

/// `Retry-After` in seconds (Clerk's form; an HTTP date is not used by Clerk
/// and falls back to the backoff).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = raw.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// Clerk's `{"errors": [{"code", "message", "long_message"}], "clerk_trace_id"}`,
/// as one line; else the start of the body.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ClerkErrors {
        #[serde(default)]
        errors: Vec<ClerkError>,
        #[serde(default)]
        clerk_trace_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct ClerkError {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        long_message: Option<String>,
    }
    let text = match serde_json::from_slice::<ClerkErrors>(body) {
        Ok(parsed) if !parsed.errors.is_empty() => {
            let mut text = parsed
                .errors
                .iter()
                .map(|e| {
                    let message = e.long_message.as_deref().or(e.message.as_deref()).unwrap_or("no message");
                    match &e.code {
                        Some(code) => format!("{code}: {message}"),
                        None => message.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            if let Some(trace) = parsed.clerk_trace_id {
                text.push_str(&format!(" (clerk_trace_id {trace})"));
            }
            text
        }
        _ if body.is_empty() => "no body".to_string(),
        _ => String::from_utf8_lossy(body).split_whitespace().collect::<Vec<_>>().join(" "),
    };
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
