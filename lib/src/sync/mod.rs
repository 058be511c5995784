//! Records an event and applies it, in one transaction and (in steady
//! state) one round trip.
//!
//! Each upsert is a single statement: the effect runs only while the event
//! is not yet recorded for its family, then a CTE records it (`INSERT … ON
//! CONFLICT (svix_id, family) DO NOTHING`) as `processed`, or `stale` when
//! the effect changed nothing. A redelivery changes nothing. A single
//! statement is its own transaction: one commit per event.
//!
//! Convergence comes from clocks kept on each row, not from arrival order:
//! - users and organizations apply `data.updated_at` only when newer;
//! - deletes are final, and the earliest delete time wins; a deleted user is
//!   scrubbed of personal data and stays so, a deleted organization keeps
//!   (and still converges) its name, slug and image;
//! - a membership applies its own clock (`updated_at`, or the envelope
//!   timestamp of a removal; removal wins a tie), a removed membership id
//!   is never reactivated (only a new id is), and its effective end is
//!   the earliest of its own removal and its user's or organization's
//!   deletion, so it is the same whichever arrives first;
//! - placeholder users (made from `public_user_data`) have their own clock
//!   and yield to any real user event;
//! - invitations apply by (`updated_at`, terminal status): on a tie
//!   `accepted`/`revoked` beat `pending`; the accepting user is never erased;
//! - domains, roles and permissions apply `data.updated_at` when newer and
//!   are soft-deleted like organizations (a delete before the create leaves
//!   a row the data fills later, and it stays deleted); a permission nested
//!   in a role is real data applied when strictly newer (a full permission
//!   event wins ties);
//! - organizations named by an invitation or domain, the user accepting an
//!   invitation and the permissions a role lists become placeholders when
//!   unknown, never overwriting real data.
//!
//! Deletes of users and organizations run two statements pipelined in one
//! transaction (still one round trip): the second, ending the memberships,
//! must start after the first holds the row lock so that it sees
//! memberships committed concurrently. A role upsert does the same to
//! replace the role's permission set once it holds the role's lock.

pub mod absent;
mod deletes;
mod deliver;
mod domains;
mod event;
mod invitations;
mod memberships;
mod organizations;
mod outcome;
pub mod overview;
pub mod pages;
pub mod prune;
pub mod replay;
mod roles;
pub mod schema;
pub mod statements;
mod users;

pub use deliver::{deliver, redeliver};
pub use event::EventRecord;
pub use outcome::Outcome;
