//! HTTP pieces shared by every function: JSON answers, the one error shape,
//! and the outbound HTTPS client setup.

pub mod client;
pub mod error;
pub mod event;
pub mod response;

pub use error::HttpError;
pub use response::json;
