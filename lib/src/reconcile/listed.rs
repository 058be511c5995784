//! A page of the Backend API's objects, read into the records the
//! webhooks' rules apply, and written through them.

use crate::db::Client;

use super::kind::Kind;
use crate::{
    backend_api::{list::Listing, BackendApi, Domain, Invitation, Membership, Organization, Permission, Role, User},
    clerk::{DomainRecord, InvitationRecord, MembershipRecord, OrgRecord, PermissionRecord, RoleRecord, UserRecord},
    db::DbError,
    sync::pages::{self, Applied},
};

/// A page's records, ready for one statement.
#[derive(Debug)]
pub enum Records {
    Users(Vec<UserRecord>),
    Organizations(Vec<OrgRecord>),
    Memberships(Vec<MembershipRecord>),
    Permissions(Vec<PermissionRecord>),
    /// Applied with their permission sets: two statements, pipelined in
    /// the page's transaction.
    Roles(Vec<RoleRecord>),
    Domains(Vec<DomainRecord>),
    Invitations(Vec<InvitationRecord>),
}

impl Records {
    pub async fn apply(&self, client: &Client) -> Result<Applied, DbError> {
        match self {
            Records::Users(users) => pages::apply_users(client, users).await,
            Records::Organizations(organizations) => pages::apply_organizations(client, organizations).await,
            Records::Memberships(memberships) => pages::apply_memberships(client, memberships).await,
            Records::Permissions(permissions) => pages::apply_permissions(client, permissions).await,
            Records::Roles(roles) => pages::apply_roles(client, roles).await,
            Records::Domains(domains) => pages::apply_domains(client, domains).await,
            Records::Invitations(invitations) => pages::apply_invitations(client, invitations).await,
        }
    }
}

/// An object of a listing.
pub trait Listed: serde::de::DeserializeOwned + Send {
    const KIND: Kind;
    fn id(&self) -> &str;
    /// The page's records; the ids and reasons of those that cannot be read.
    fn records(page: &[Self]) -> (Records, Vec<(String, String)>);
    fn listing(api: &BackendApi) -> Listing<'_, Self>;
}

/// Each object's record, and the objects that have none.
fn split<T, R>(page: &[T], id: fn(&T) -> &str, read: fn(&T) -> Result<R, String>) -> (Vec<R>, Vec<(String, String)>) {
    let mut records = Vec::with_capacity(page.len());
    let mut unreadable = Vec::new();
    for object in page {
        match read(object) {
            Ok(record) => records.push(record),
            Err(reason) => unreadable.push((id(object).to_string(), reason)),
        }
    }
    (records, unreadable)
}

/// `Listed` for a Backend API model: its kind, its `id`, its records and its listing.
macro_rules! listed {
    ($model:ty, $kind:expr, $records:ident, $listing:ident) => {
        impl Listed for $model {
            const KIND: Kind = $kind;
            fn id(&self) -> &str {
                &self.id
            }
            fn records(page: &[Self]) -> (Records, Vec<(String, String)>) {
                let (records, unreadable) = split(page, |o| &o.id, <$model>::to_record);
                (Records::$records(records), unreadable)
            }
            fn listing(api: &BackendApi) -> Listing<'_, Self> {
                api.$listing()
            }
        }
    };
}

listed!(Permission, Kind::Permissions, Permissions, permissions);
listed!(Role, Kind::Roles, Roles, roles);
listed!(Domain, Kind::Domains, Domains, domains);
listed!(Invitation, Kind::Invitations, Invitations, invitations);

impl Listed for User {
    const KIND: Kind = Kind::Users;
    fn id(&self) -> &str {
        &self.id
    }
    fn records(page: &[Self]) -> (Records, Vec<(String, String)>) {
        let (records, unreadable) = split(page, |u| &u.id, User::to_record);
        (Records::Users(records), unreadable)
    }
    fn listing(api: &BackendApi) -> Listing<'_, Self> {
        api.users()
    }
}

impl Listed for Organization {
    const KIND: Kind = Kind::Organizations;
    fn id(&self) -> &str {
        &self.id
    }
    fn records(page: &[Self]) -> (Records, Vec<(String, String)>) {
        let (records, unreadable) = split(page, |o| &o.id, Organization::to_record);
        (Records::Organizations(records), unreadable)
    }
    fn listing(api: &BackendApi) -> Listing<'_, Self> {
        api.organizations()
    }
}

impl Listed for Membership {
    const KIND: Kind = Kind::Memberships;
    fn id(&self) -> &str {
        &self.id
    }
    fn records(page: &[Self]) -> (Records, Vec<(String, String)>) {
        let (records, unreadable) = split(page, |m| &m.id, Membership::to_record);
        (Records::Memberships(records), unreadable)
    }
    fn listing(api: &BackendApi) -> Listing<'_, Self> {
        api.memberships()
    }
}
