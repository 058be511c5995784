//! AWS: secrets from Secrets Manager, and init errors for the Lambda
//! Runtime API.

pub mod runtime_api;
pub mod secrets;
