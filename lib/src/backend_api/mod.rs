//! Clerk's Backend API, read-only: the users, organizations, memberships,
//! permissions, roles, domains and invitations a mirror needs for a backfill
//! (`reconcile`), and what fetch-on-miss needs.
//!
//! - [`config`]: `CLERK_SECRET_KEY` (or `CLERK_SECRET_KEY_ARN` through
//!   [`crate::aws::secrets`]), `CLERK_API_URL`, `CLERK_API_MAX_REQUESTS_PER_10S`.
//! - [`pace`]: at most N requests in any window of 10 s, shared by every call.
//! - [`client`]: [`BackendApi`], one typed GET with bearer auth, timeouts,
//!   bounded retries of 5xx and timeouts, `429` + `Retry-After` honoured.
//! - [`models`]: lenient serde structs: fields Clerk adds, drops, nulls or
//!   retypes never fail a page.
//! - [`list`]: [`Listing`], a page at a time (users by the `starting_after`
//!   cursor, the others by `offset`), never holding more
//!   than one page, and telling whether it reached the end.
//!
//! A small typed client over the project's one hyper + rustls stack rather
//! than the `clerk-rs` SDK: see the README ("Clerk Backend API").

pub mod client;
pub mod config;
pub mod list;
pub mod models;
pub mod pace;

pub use client::{ApiError, BackendApi};
pub use config::{BackendApiConfig, KeyKind, RetryPolicy};
pub use list::Listing;
pub use models::{
    Domain, DomainVerification, EmailAddress, Invitation, Membership, Organization, Permission, PublicOrganizationData,
    PublicUserData, Role, User,
};
pub use pace::Pacer;
