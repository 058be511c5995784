//! Clerk session tokens, and what they allow: the caller's user,
//! organization, role and permissions, with every query scoped to one
//! organization.

pub mod access;
pub mod fetch;
pub mod misses;
pub mod permissions;
pub mod verify;

pub use access::*;
pub use verify::*;
