//! The functions' cold start, as the Lambda Runtime API expects it.
//!
//! A function whose configuration is missing or invalid must not simply
//! exit: Lambda (and `cargo lambda watch`) would only see the process die,
//! and under `cargo lambda watch` the request waits. The Runtime API has an
//! endpoint for this, `POST /2018-06-01/runtime/init/error`, which fails the
//! pending invocation at once with our message. `lambda_runtime` 1.5 posts
//! there only for its own SnapStart hooks (privately), so this module does it.
//!
//! Errors are printed with `Display` (the cause chain on one line, see
//! [`crate::report::error_chain`]), never as a debug struct.

use std::{error::Error, process::ExitCode, time::Duration};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use serde::Serialize;

use crate::http::client;

/// The `Lambda-Runtime-Function-Error-Type` header and `errorType` we report.
pub const INIT_ERROR_TYPE: &str = "Runtime.InitError";

/// How long reporting may take: the process exits either way.
const REPORT_TIMEOUT: Duration = Duration::from_secs(2);
/// The Runtime API answers with a little JSON, unread.
const MAX_ANSWER: usize = 64 * 1024;

/// The body the Runtime API takes (its `ErrorRequest` shape).
#[derive(Debug, Serialize)]
pub struct InitErrorBody {
    #[serde(rename = "errorMessage")]
    pub error_message: String,
    #[serde(rename = "errorType")]
    pub error_type: &'static str,
}

/// Why reporting to the Runtime API did not work.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("AWS_LAMBDA_RUNTIME_API is not a host:port ({0})")]
    InvalidAddress(String),
    #[error("cannot serialize the error: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("the Runtime API did not answer: {0}")]
    Request(String),
    #[error("the Runtime API did not answer within {} s", REPORT_TIMEOUT.as_secs())]
    Timeout,
    #[error("the Runtime API answered {0}")]
    Status(http::StatusCode),
}

/// For a function's `main`: prints the failed cold start on standard error,
/// reports it to the Runtime API named by `AWS_LAMBDA_RUNTIME_API` (when
/// set, as in Lambda and under `cargo lambda watch`), and gives the exit code.
pub async fn init_failed(error: &(dyn Error + 'static)) -> ExitCode {
    let message = crate::report::error_chain(error);
    eprintln!("error: {message}");
    if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
        if let Err(e) = report_init_error(&api, &message).await {
            eprintln!("error: cannot report the failed start to the Lambda Runtime API: {e}");
        }
    }
    ExitCode::FAILURE
}

/// For a function's `main`: the end of `run`, its error printed with `Display`.
pub fn exit(result: Result<(), Box<dyn Error + Send + Sync>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", crate::report::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Posts `message` to `http://{api}/2018-06-01/runtime/init/error`.
pub async fn report_init_error(api: &str, message: &str) -> Result<(), ReportError> {
    let body = serde_json::to_vec(&InitErrorBody { error_message: message.to_string(), error_type: INIT_ERROR_TYPE })?;
    let uri: http::Uri = format!("http://{api}/2018-06-01/runtime/init/error")
        .parse()
        .map_err(|_| ReportError::InvalidAddress(api.to_string()))?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("lambda-runtime-function-error-type", INIT_ERROR_TYPE)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| ReportError::InvalidAddress(api.to_string()))?;
    let response = client::shared()
        .map_err(|e| ReportError::Request(e.to_string()))?
        .send(request, REPORT_TIMEOUT, MAX_ANSWER)
        .await
        .map_err(|e| match e {
            client::Error::Timeout => ReportError::Timeout,
            e => ReportError::Request(crate::report::error_chain(&e)),
        })?;
    if !response.status.is_success() {
        return Err(ReportError::Status(response.status));
    }
    Ok(())
}
