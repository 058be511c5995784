//! The HTTP functions the app calls with a Clerk session token.

mod error;
pub mod seller_accounts;
pub mod sync_status;

use http::{header, Method, Request};

pub use error::ApiError;

use crate::{
    backend_api::{BackendApi, BackendApiConfig},
    config::{self, ConfigError, Source},
    db::{Database, DbSettings},
    session::{fetch::FetchOnMiss, SessionVerifier},
};

/// What an API function holds for its lifetime.
pub struct ApiState {
    pub db: Database,
    pub sessions: SessionVerifier,
    /// Clerk's Backend API, for fetch-on-miss; only with a `CLERK_SECRET_KEY`.
    pub fetch_on_miss: Option<FetchOnMiss>,
}

impl ApiState {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let fetch_on_miss = match src.get(crate::backend_api::config::SECRET_KEY_VAR) {
            None if src.get(crate::backend_api::config::SECRET_KEY_ARN_VAR).is_none() => None,
            _ => {
                let api = BackendApi::new(BackendApiConfig::from_source(src)?).map_err(|e| ConfigError::Invalid {
                    var: crate::backend_api::config::SECRET_KEY_VAR,
                    reason: e.to_string(),
                })?;
                Some(FetchOnMiss::new(api))
            }
        };
        Ok(Self {
            db: Database::new(&DbSettings::from_source(src)?, !config::flag(src, "SKIP_DB_MIGRATIONS")?)?,
            sessions: SessionVerifier::from_source(src)?,
            fetch_on_miss,
        })
    }
}

/// The path below a function's mount point: `/seller-accounts/abc` and `/abc`
/// both give `["abc"]` for the mount `seller-accounts`, so a function answers
/// the same behind its HttpApi route and at the root of a Function URL.
pub fn route_segments<'a, B>(request: &'a Request<B>, mount: &str) -> Vec<&'a str> {
    let segments: Vec<&str> = request.uri().path().split('/').filter(|s| !s.is_empty()).collect();
    match segments.iter().position(|s| *s == mount) {
        Some(i) => segments[i + 1..].to_vec(),
        None => segments,
    }
}

/// One query-string parameter, percent-decoding not needed for the numbers we read.
pub fn query_param<'a, B>(request: &'a Request<B>, name: &str) -> Option<&'a str> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// True when the client prefers HTML (a browser) over JSON.
pub fn wants_html<B>(request: &Request<B>) -> bool {
    request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| {
        let html = accept.find("text/html");
        let json = accept.find("application/json");
        match (html, json) {
            (Some(h), Some(j)) => h < j,
            (Some(_), None) => true,
            _ => false,
        }
    })
}

pub fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}
