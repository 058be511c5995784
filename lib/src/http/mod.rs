//! HTTP pieces shared by every function: JSON answers and the outbound
//! HTTPS client setup.

pub mod client;
pub mod response;

pub use response::{json, ErrorBody};
