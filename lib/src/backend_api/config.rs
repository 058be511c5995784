//! Backend API settings, read from a [`Source`]. Errors name the variable,
//! never the key.
//!
//! | variable | meaning |
//! |---|---|
//! | `CLERK_SECRET_KEY` | the instance's secret key (`sk_live_…`, `sk_test_…`); or `CLERK_SECRET_KEY_ARN`, resolved by [`crate::aws::secrets::load`] |
//! | `CLERK_API_URL` | default `https://api.clerk.com`; `http://` only for loopback hosts (tests, a local fake) |
//! | `CLERK_API_MAX_REQUESTS_PER_10S` | a lower pace than the default (80% of the documented limit: 800 for `sk_live_`, 80 otherwise) |

use std::{fmt, net::IpAddr, time::Duration};

use secrecy::{ExposeSecret, SecretString};

use crate::config::{ConfigError, Source};

pub const SECRET_KEY_VAR: &str = "CLERK_SECRET_KEY";
pub const SECRET_KEY_ARN_VAR: &str = "CLERK_SECRET_KEY_ARN";
pub const API_URL_VAR: &str = "CLERK_API_URL";
pub const MAX_REQUESTS_VAR: &str = "CLERK_API_MAX_REQUESTS_PER_10S";
pub const DEFAULT_API_URL: &str = "https://api.clerk.com";

/// The window Clerk's rate limits are counted over.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);
/// The largest page every list endpoint serves.
pub const MAX_PAGE_SIZE: u32 = 500;

/// Which kind of instance the key belongs to: it decides the documented limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `sk_live_…`: a production instance, 1000 requests per 10 s.
    Live,
    /// `sk_test_…` (or an unrecognised prefix, the safe side): a development
    /// instance, 100 requests per 10 s.
    Test,
}

impl KeyKind {
    pub fn of(key: &str) -> Self {
        if key.starts_with("sk_live_") {
            KeyKind::Live
        } else {
            KeyKind::Test
        }
    }

    /// Clerk's documented limit per 10 s for this kind of instance.
    pub fn documented_limit(self) -> u32 {
        match self {
            KeyKind::Live => 1000,
            KeyKind::Test => 100,
        }
    }

    /// The default pace: 80% of the documented limit, leaving the rest to the
    /// app's own calls, which share the instance's budget.
    pub fn default_pace(self) -> u32 {
        self.documented_limit() * 4 / 5
    }
}

/// How hard one request is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts at one request when answers are 5xx or time out (1 = no retry).
    pub attempts: u32,
    /// The first backoff; each next one is 2× (with jitter), at most `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// One attempt, connecting to reading the whole answer.
    pub attempt_timeout: Duration,
    /// `429` answers waited out for one request before giving up.
    pub throttled_attempts: u32,
    /// The longest `Retry-After` obeyed; a longer one is waited for this long.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            attempt_timeout: Duration::from_secs(30),
            throttled_attempts: 8,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Everything [`super::BackendApi`] needs. `Debug` never shows the key.
#[derive(Clone)]
pub struct BackendApiConfig {
    pub secret_key: SecretString,
    pub key_kind: KeyKind,
    /// `scheme://authority[/prefix]`, no trailing `/`; requests go to `{base_url}/v1/…`.
    pub base_url: String,
    /// Requests per [`Self::window`]; at most the documented limit.
    pub max_requests: u32,
    /// [`RATE_WINDOW`]; tests scale it down to see the pacing in seconds.
    pub window: Duration,
    /// Items per list page (1..=500).
    pub page_size: u32,
    pub retry: RetryPolicy,
}

impl fmt::Debug for BackendApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendApiConfig")
            .field("secret_key", &"[redacted]")
            .field("key_kind", &self.key_kind)
            .field("base_url", &self.base_url)
            .field("max_requests", &self.max_requests)
            .field("window", &self.window)
            .field("page_size", &self.page_size)
            .field("retry", &self.retry)
            .finish()
    }
}

impl BackendApiConfig {
    /// Reads the settings. A `CLERK_SECRET_KEY_ARN` must have been resolved
    /// into `CLERK_SECRET_KEY` by [`crate::aws::secrets::load`] first.
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let Some(raw_key) = src.get(SECRET_KEY_VAR) else {
            return Err(ConfigError::Missing {
                var: SECRET_KEY_VAR,
                hint: if src.get(SECRET_KEY_ARN_VAR).is_some() {
                    "CLERK_SECRET_KEY_ARN is set but was not resolved: read the settings through aws::secrets::load"
                } else {
                    "the instance's secret key (sk_live_… or sk_test_…), or CLERK_SECRET_KEY_ARN naming it in \
                     AWS Secrets Manager"
                },
            });
        };
        let secret_key = secret_key(raw_key)?;
        let key_kind = KeyKind::of(secret_key.expose_secret());
        let base_url = match src.get(API_URL_VAR) {
            Some(url) => api_url(&url)?,
            None => DEFAULT_API_URL.to_string(),
        };
        let max_requests = match src.get(MAX_REQUESTS_VAR) {
            None => key_kind.default_pace(),
            Some(raw) => {
                let limit = key_kind.documented_limit();
                match raw.trim().parse::<u32>() {
                    Ok(n) if (1..=limit).contains(&n) => n,
                    _ => {
                        return Err(ConfigError::Invalid {
                            var: MAX_REQUESTS_VAR,
                            reason: format!(
                                "expected 1..={limit} (Clerk's limit per 10 s for this {} key)",
                                match key_kind {
                                    KeyKind::Live => "sk_live_",
                                    KeyKind::Test => "non-production",
                                }
                            ),
                        })
                    }
                }
            }
        };
        Ok(Self {
            secret_key,
            key_kind,
            base_url,
            max_requests,
            window: RATE_WINDOW,
            page_size: MAX_PAGE_SIZE,
            retry: RetryPolicy::default(),
        })
    }
}

/// The key as a header can carry it: visible ASCII, no spaces. The message
/// never quotes it.
fn secret_key(raw: String) -> Result<SecretString, ConfigError> {
    let key = SecretString::from(raw.trim().to_string());
    // The untrimmed copy is wiped as well.
    drop(SecretString::from(raw));
    let value = key.expose_secret();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::Invalid {
            var: SECRET_KEY_VAR,
            reason: "expected the secret key as Clerk shows it (visible ASCII, e.g. sk_live_…)".into(),
        });
    }
    Ok(key)
}

/// `CLERK_API_URL` as `scheme://authority[/prefix]` without a trailing `/`
/// or `/v1`. `http` only for a loopback host: the key must not cross a
/// network in the clear.
pub fn api_url(raw: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid { var: API_URL_VAR, reason: reason.to_string() };
    let uri: http::Uri = raw.trim().parse().map_err(|_| invalid("expected https://host[:port]"))?;
    let scheme = uri.scheme_str().ok_or_else(|| invalid("expected https://host[:port]"))?;
    let authority = uri.authority().ok_or_else(|| invalid("expected https://host[:port]"))?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return Err(invalid("expected https://host[:port] without credentials"));
    }
    if uri.query().is_some() {
        return Err(invalid("expected no query string"));
    }
    match scheme {
        "https" => {}
        "http" if is_loopback(authority.host()) => {}
        "http" => return Err(invalid("plain http is accepted only for loopback hosts (127.0.0.1, ::1, localhost)")),
        _ => return Err(invalid("expected an https:// URL")),
    }
    let path = uri.path().trim_end_matches('/');
    let path = path.strip_suffix("/v1").unwrap_or(path);
    Ok(format!("{scheme}://{authority}{path}"))
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
