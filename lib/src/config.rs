//! Configuration, read once at cold start from the environment.
//!
//! Every error names the variable at fault and never prints its value: the
//! values are connection strings and signing secrets.

use std::{fmt, time::Duration};

use secrecy::SecretString;

/// A missing or unusable setting. Display names the variable, never its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    /// A `*_ARN` variable's secret could not be fetched from AWS Secrets
    /// Manager; `reason` is the AWS error, never the secret.
    #[error("{var}: cannot load the secret from AWS Secrets Manager: {reason}")]
    Fetch { var: &'static str, reason: String },
}

impl ConfigError {
    /// The variable at fault.
    pub fn var(&self) -> &'static str {
        match self {
            ConfigError::Missing { var, .. } | ConfigError::Invalid { var, .. } | ConfigError::Fetch { var, .. } => var,
        }
    }
}

/// Where settings come from. Production reads the process environment; tests
/// pass a map so they never mutate global state.
pub trait Source {
    fn get(&self, var: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env;

impl Source for Env {
    fn get(&self, var: &str) -> Option<String> {
        std::env::var(var).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<S: Source + ?Sized> Source for &S {
    fn get(&self, var: &str) -> Option<String> {
        (**self).get(var)
    }
}

impl Source for std::collections::HashMap<&str, &str> {
    fn get(&self, var: &str) -> Option<String> {
        self.get(var).map(|v| v.to_string()).filter(|v| !v.trim().is_empty())
    }
}

pub(crate) fn required(src: &impl Source, var: &'static str, hint: &'static str) -> Result<String, ConfigError> {
    src.get(var).ok_or(ConfigError::Missing { var, hint })
}

pub(crate) fn secret(src: &impl Source, var: &'static str, hint: &'static str) -> Result<SecretString, ConfigError> {
    required(src, var, hint).map(SecretString::from)
}

pub(crate) fn parse_or<T>(src: &impl Source, var: &'static str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    match src.get(var) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            var,
            reason: format!("expected a {}: {e}", std::any::type_name::<T>()),
        }),
    }
}

pub(crate) fn flag(src: &impl Source, var: &'static str) -> Result<bool, ConfigError> {
    match src.get(var).as_deref().map(str::trim) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" || v.eq_ignore_ascii_case("yes") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" || v.eq_ignore_ascii_case("no") => Ok(false),
        Some(_) => Err(ConfigError::Invalid { var, reason: "expected true or false".into() }),
    }
}

pub(crate) fn seconds(src: &impl Source, var: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    let secs: f64 = parse_or(src, var, default.as_secs_f64())?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| ConfigError::Invalid { var, reason: "expected a non-negative number of seconds".into() })
}
