//! Listings, a page at a time.
//!
//! ```no_run
//! # async fn run(api: &clerk_sync::backend_api::BackendApi) -> Result<(), clerk_sync::backend_api::ApiError> {
//! let mut users = api.users();
//! while let Some(page) = users.next_page().await? {
//!     for user in page {
//!         // upsert user.to_record()…
//!     }
//! }
//! assert!(users.is_complete());
//! // Only a clean, complete listing may tell what Clerk no longer has.
//! let may_infer_deletions = users.is_exhaustive();
//! # Ok(()) }
//! ```
//!
//! Users page by the `starting_after` cursor (the id of the last user of the
//! previous page) with `order_by=+created_at`: a cursor page costs the same
//! wherever it is, deletions during the walk move nothing, and users created
//! meanwhile come at the end. Organizations, memberships, permissions,
//! roles, domains and invitations have only `offset` (also `+created_at`): a deletion during the walk shifts later
//! rows back, so a row can be missed; [`Listing::drifted`] says when the
//! `total_count` changed between pages.
//!
//! A page shorter than the limit is the last (as Clerk documents). When a
//! page fails, the listing stays where it was: calling [`Listing::next_page`]
//! again retries that page.

use std::marker::PhantomData;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::{
    client::{escape, ApiError, BackendApi},
    models::{DataPage, Domain, Invitation, Item, Membership, Organization, Permission, Role, User},
};
use crate::ids::ClerkOrgId;

// The listings, here rather than in `client`, so that the client knows
// nothing of paging.
impl BackendApi {
    /// Every user, oldest first, by the `starting_after` cursor.
    pub fn users(&self) -> Listing<'_, User> {
        Listing::users(self)
    }

    /// Every organization, oldest first, by `offset`.
    pub fn organizations(&self) -> Listing<'_, Organization> {
        Listing::offset(self, "/v1/organizations".into())
    }

    /// Every membership of the instance, oldest first, by `offset`.
    pub fn memberships(&self) -> Listing<'_, Membership> {
        Listing::offset(self, "/v1/organization_memberships".into())
    }

    /// Every organization permission of the instance, oldest first, by `offset`.
    pub fn permissions(&self) -> Listing<'_, Permission> {
        Listing::offset(self, "/v1/organization_permissions".into())
    }

    /// Every organization role of the instance, with its permissions, oldest
    /// first, by `offset`.
    pub fn roles(&self) -> Listing<'_, Role> {
        Listing::offset(self, "/v1/organization_roles".into())
    }

    /// Every organization domain of the instance, oldest first, by `offset`.
    pub fn domains(&self) -> Listing<'_, Domain> {
        Listing::offset(self, "/v1/organization_domains".into())
    }

    /// Every organization invitation of the instance (every status), oldest
    /// first, by `offset`.
    pub fn invitations(&self) -> Listing<'_, Invitation> {
        Listing::offset(self, "/v1/organization_invitations".into())
    }

    /// Every membership of one organization, oldest first, by `offset`.
    pub fn organization_memberships(&self, org: &ClerkOrgId) -> Listing<'_, Membership> {
        Listing::offset(self, format!("/v1/organizations/{}/memberships", escape(org.as_str())))
    }
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Paging {
    /// `starting_after`: the last id seen, `None` before the first page.
    Cursor(Option<String>),
    Offset(u64),
}

/// Everything a listing knows about its progress: saved after a page, it
/// lets a later process go on from there ([`Listing::resume_at`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingState {
    paging: Paging,
    complete: bool,
    pages: u64,
    fetched: u64,
    skipped: Vec<String>,
    first_total: Option<u64>,
    last_total: Option<u64>,
}

/// One listing in progress. Holds no more than the page it returns.
#[derive(Debug)]
pub struct Listing<'a, T> {
    api: &'a BackendApi,
    path: String,
    state: ListingState,
    item: PhantomData<fn() -> T>,
}

impl<'a, T> Listing<'a, T> {
    pub(crate) fn users(api: &'a BackendApi) -> Self {
        Self::new(api, "/v1/users".into(), Paging::Cursor(None))
    }

    pub(crate) fn offset(api: &'a BackendApi, path: String) -> Self {
        Self::new(api, path, Paging::Offset(0))
    }

    fn new(api: &'a BackendApi, path: String, paging: Paging) -> Self {
        let state = ListingState {
            paging,
            complete: false,
            pages: 0,
            fetched: 0,
            skipped: Vec::new(),
            first_total: None,
            last_total: None,
        };
        Self { api, path, state, item: PhantomData }
    }

    /// The same listing, going on from a state saved earlier (by this or
    /// another process). The state must come from a listing of the same kind.
    pub fn resume_at(mut self, state: ListingState) -> Self {
        self.state = state;
        self
    }

    /// Where the listing stands, to save and resume from.
    pub fn state(&self) -> &ListingState {
        &self.state
    }

    /// The last page has been read.
    pub fn is_complete(&self) -> bool {
        self.state.complete
    }

    /// Complete, with every item decoded and (for offset listings) the same
    /// `total_count` throughout: what a reconciliation needs before it
    /// treats absence from the listing as deletion.
    pub fn is_exhaustive(&self) -> bool {
        self.state.complete && self.state.skipped.is_empty() && !self.drifted()
    }

    /// Pages read so far.
    pub fn pages(&self) -> u64 {
        self.state.pages
    }

    /// Items returned so far.
    pub fn fetched(&self) -> u64 {
        self.state.fetched
    }

    /// Items left out because they could not be read at all (no string
    /// `id`, or not an object); their ids where they had one, else `"?"`.
    pub fn skipped(&self) -> &[String] {
        &self.state.skipped
    }

    /// The last `total_count` Clerk reported (offset listings only).
    pub fn total_count(&self) -> Option<u64> {
        self.state.last_total
    }

    /// `total_count` changed between pages: rows were added or removed
    /// during an offset walk, which may have skipped some.
    pub fn drifted(&self) -> bool {
        matches!((self.state.first_total, self.state.last_total), (Some(a), Some(b)) if a != b)
    }

    fn path_and_query(&self) -> String {
        let limit = self.api.page_size();
        match &self.state.paging {
            Paging::Cursor(None) => format!("{}?limit={limit}&order_by=%2Bcreated_at", self.path),
            Paging::Cursor(Some(after)) => {
                format!("{}?limit={limit}&order_by=%2Bcreated_at&starting_after={}", self.path, escape(after))
            }
            Paging::Offset(offset) => format!("{}?limit={limit}&offset={offset}&order_by=%2Bcreated_at", self.path),
        }
    }
}

impl<T: DeserializeOwned> Listing<'_, T> {
    /// The next page, or `None` once the listing is complete. On an error
    /// nothing moves: call again to retry the same page.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, ApiError> {
        if self.state.complete {
            return Ok(None);
        }
        let path = self.path_and_query();
        let limit = u64::from(self.api.page_size());
        let (items, total) = match self.state.paging {
            Paging::Cursor(_) => (self.api.get::<Vec<Item<T>>>(&path).await?, None),
            Paging::Offset(_) => match self.api.get::<DataPage<T>>(&path).await? {
                Some(page) => (Some(page.data), page.total_count),
                None => (None, None),
            },
        };
        // A 404 on a list: the resource (an organization's memberships) is gone.
        let items =
            items.ok_or_else(|| ApiError::Refused { path: path.clone(), status: 404, message: "not found".into() })?;
        let count = items.len() as u64;
        // Where the next page starts; decided before anything is counted, so
        // an error leaves the listing exactly where it was.
        let next = if count < limit {
            None
        } else {
            match &self.state.paging {
                Paging::Offset(offset) => Some(Paging::Offset(offset + count)),
                // The last item's id, read or not (an earlier one when the
                // last has none: a few items come twice rather than never).
                Paging::Cursor(_) => match items.iter().rev().find_map(|item| item.id.clone()) {
                    Some(id) => Some(Paging::Cursor(Some(id))),
                    None => {
                        return Err(ApiError::Decode {
                            path,
                            reason: "a full page without a single id: the cursor cannot go on".into(),
                        })
                    }
                },
            }
        };
        let mut page = Vec::with_capacity(items.len());
        for item in items {
            match item.value {
                Ok(value) => page.push(value),
                Err(reason) => {
                    let id = item.id.unwrap_or_else(|| "?".into());
                    tracing::warn!(path = %self.path, %id, %reason, "skipped a list item that cannot be read");
                    self.state.skipped.push(id);
                }
            }
        }
        self.state.pages += 1;
        self.state.fetched += page.len() as u64;
        if total.is_some() {
            self.state.first_total = self.state.first_total.or(total);
            self.state.last_total = total;
        }
        match next {
            Some(next) => self.state.paging = next,
            None => self.state.complete = true,
        }
        Ok(Some(page))
    }
}
