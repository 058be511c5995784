//! Clerk's webhook payloads, read leniently, and what each one asks of the
//! database.
//!
//! Fields drift both ways in real payloads (documented but never sent, sent
//! but undocumented), so everything not needed for the sync is ignored and
//! optional fields default. Only what ordering and identity need is
//! required: ids, and `updated_at` (or the envelope `timestamp` for deletes).

mod domains;
mod envelope;
mod families;
mod invitations;
mod memberships;
mod organizations;
mod read;
mod roles;
mod time;
mod users;

pub use domains::{DomainChange, DomainRecord};
pub use envelope::Envelope;
pub use families::{Family, FamilySpec, FAMILIES};
pub use invitations::InvitationRecord;
pub use memberships::{MemberRecord, MembershipRecord};
pub use organizations::{OrgChange, OrgRecord};
pub use roles::{PermissionRecord, RoleChange, RoleRecord};
pub use time::to_ms;
pub use users::{UserChange, UserRecord};

/// What an event asks of the database, by family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Users(UserChange),
    Organizations(OrgChange),
    Memberships(MembershipRecord),
    Invitations(InvitationRecord),
    Domains(DomainChange),
    Roles(RoleChange),
}

/// The decision for one authentic event.
// One lives on the stack per request: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Apply(Change),
    /// Outside this function's family, or a type we do not sync.
    Ignore,
    /// A handled type whose `data` cannot be understood: kept as `failed`
    /// for a replay once the code is fixed.
    Fail(String),
}

/// Under which family a function that handles `receiving` records an event
/// it planned as `plan`: the family whose rules apply it, or, when it only
/// ignores it, its own. Svix sends one message, under one svix-id, to every
/// endpoint subscribed to its type: a function that ignores a message must
/// never claim it for the family that applies it.
pub fn recording_family(receiving: Family, event_type: &str, plan: &Plan) -> Family {
    match plan {
        Plan::Ignore => receiving,
        Plan::Apply(_) | Plan::Fail(_) => Family::handling(event_type).unwrap_or(receiving),
    }
}

/// Decides what an event means for a function handling `receiving`: the
/// rules of the event's family, when `receiving` includes it.
pub fn plan(receiving: Family, envelope: &Envelope<'_>) -> Plan {
    let Some(family) = Family::handling(&envelope.event_type).filter(|f| receiving.includes(*f)) else {
        return Plan::Ignore;
    };
    let Some(data) = envelope.data else {
        return Plan::Fail("the event has no data".into());
    };
    let action = envelope.event_type.split_once('.').map_or("", |(_, action)| action);
    let timestamp = envelope.timestamp;
    let change = match family {
        Family::Users => users::change(action, data, timestamp).map(Change::Users),
        Family::Organizations => organizations::change(action, data, timestamp).map(Change::Organizations),
        Family::Memberships => memberships::change(action, data, timestamp).map(Change::Memberships),
        Family::Invitations => invitations::change(action, data).map(Change::Invitations),
        Family::Domains => domains::change(action, data, timestamp).map(Change::Domains),
        Family::Roles => roles::change(&envelope.event_type, data, timestamp).map(Change::Roles),
        Family::All => return Plan::Ignore,
    };
    match change {
        Ok(change) => Plan::Apply(change),
        Err(reason) => Plan::Fail(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::{read::redact_strings, *};

    #[test]
    fn failure_reasons_never_quote_values() {
        let body = br#"{"type":"user.created","timestamp":1,"data":{"id":"user_x","updated_at":"ada@example.com"}}"#;
        let envelope = Envelope::parse(body).unwrap_or_else(|e| panic!("{e}"));
        match plan(Family::Users, &envelope) {
            Plan::Fail(reason) => {
                assert!(!reason.contains("ada@example.com"), "{reason}");
                assert!(reason.contains("data does not match"), "{reason}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert_eq!(
            redact_strings(r#"invalid type: string "secret", expected `id`"#),
            r#"invalid type: string "…", expected `id`"#
        );
    }

    #[test]
    fn the_primary_email_is_matched_by_id() {
        let body = br#"{"type":"user.created","timestamp":1,"data":{"id":"user_x","updated_at":1,
            "email_addresses":[{"id":"idn_a","email_address":"a@x"},{"id":"idn_b","email_address":"b@x"}],
            "primary_email_address_id":"idn_b"}}"#;
        let envelope = Envelope::parse(body).unwrap_or_else(|e| panic!("{e}"));
        match plan(Family::Users, &envelope) {
            Plan::Apply(Change::Users(UserChange::Upsert(user))) => assert_eq!(user.email.as_deref(), Some("b@x")),
            other => panic!("{other:?}"),
        }
        assert_eq!(plan(Family::Organizations, &envelope), Plan::Ignore);
    }

    fn planned(body: &str) -> Plan {
        let envelope = Envelope::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let family = Family::handling(&envelope.event_type).unwrap_or(Family::All);
        let planned = plan(family, &envelope);
        assert_eq!(plan(Family::All, &envelope), planned);
        assert_eq!(plan(Family::Users, &envelope), Plan::Ignore);
        planned
    }

    #[test]
    fn invitations_are_read_with_their_organization_and_accepting_user() {
        let accepted = r#"{"type":"organizationInvitation.accepted","timestamp":1716883200,"data":{
            "object":"organization_invitation","id":"orginv_1","email_address":"jane@acme.com","role":"org:member",
            "organization_id":"org_1","status":"accepted","user_id":"user_1","expires_at":1717487999000,
            "public_organization_data":{"id":"org_1","name":"Acme","slug":"acme","has_image":false},
            "created_at":1716883200000,"updated_at":1716883500000}}"#;
        match planned(accepted) {
            Plan::Apply(Change::Invitations(i)) => {
                assert_eq!((i.id.as_str(), i.status.as_str(), i.updated_ms), ("orginv_1", "accepted", 1716883500000));
                assert_eq!(i.user_id.as_ref().map(|u| u.as_str()), Some("user_1"));
                assert_eq!((i.organization.id.as_str(), i.organization.name.as_deref()), ("org_1", Some("Acme")));
                assert_eq!((i.organization.updated_ms, i.expires_ms), (None, Some(1717487999000)));
            }
            other => panic!("{other:?}"),
        }
        // No user_id (older payloads), no status: what the event says.
        let bare = r#"{"type":"organizationInvitation.revoked","data":{"id":"orginv_1",
            "public_organization_data":{"id":"org_2","name":"Other"},"user_id":null,"updated_at":5}}"#;
        match planned(bare) {
            Plan::Apply(Change::Invitations(i)) => {
                assert_eq!((i.status.as_str(), i.user_id, i.updated_ms), ("revoked", None, 5000));
                assert_eq!((i.organization.id.as_str(), i.organization.name.as_deref()), ("org_2", Some("Other")));
            }
            other => panic!("{other:?}"),
        }
        // Public data of another organization is not taken for this one's.
        let mismatched = r#"{"type":"organizationInvitation.created","data":{"id":"orginv_1","organization_id":"org_1",
            "public_organization_data":{"id":"org_2","name":"Other"},"updated_at":1716883200000}}"#;
        match planned(mismatched) {
            Plan::Apply(Change::Invitations(i)) => {
                assert_eq!((i.status.as_str(), i.organization.id.as_str()), ("pending", "org_1"));
                assert_eq!(i.organization.name, None);
            }
            other => panic!("{other:?}"),
        }
        let orphan = r#"{"type":"organizationInvitation.created","data":{"id":"orginv_1","updated_at":1}}"#;
        assert!(matches!(planned(orphan), Plan::Fail(reason) if reason.contains("organization_id")));
    }

    #[test]
    fn domains_take_either_id_prefix_and_the_deprecated_verification() {
        let updated = r#"{"type":"organizationDomain.updated","timestamp":1716883200,"data":{
            "object":"organization_domain","id":"orgdm_1","organization_id":"org_1","name":"acme.com",
            "enrollment_mode":"automatic_suggestion","affiliation_email_address":"admin@acme.com",
            "verification":{"status":"verified","strategy":"email_code","attempts":1,"expire_at":null},
            "created_at":1716883200000,"updated_at":1716883500000}}"#;
        match planned(updated) {
            Plan::Apply(Change::Domains(DomainChange::Upsert(d))) => {
                assert_eq!((d.id.as_str(), d.verification_status.as_deref()), ("orgdm_1", Some("verified")));
                assert_eq!(d.enrollment_mode.as_deref(), Some("automatic_suggestion"));
            }
            other => panic!("{other:?}"),
        }
        // The envelope timestamp in seconds orders a delete.
        let deleted = r#"{"type":"organizationDomain.deleted","timestamp":1716883200,
            "data":{"object":"organization_domain","id":"orgdmn_1","deleted":true}}"#;
        match planned(deleted) {
            Plan::Apply(Change::Domains(DomainChange::Delete { id, deleted_ms })) => {
                assert_eq!((id.as_str(), deleted_ms), ("orgdmn_1", 1716883200000));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn roles_list_their_permissions_and_deletes_carry_only_the_id() {
        let created = r#"{"type":"role.created","timestamp":1716883200,"data":{"object":"role","id":"role_1",
            "name":"Editor","key":"org:editor","description":null,"is_creator_eligible":false,
            "permissions":[{"object":"permission","id":"perm_1","name":"Edit","key":"org:posts:edit","type":"custom",
            "updated_at":1716883200000},{"id":"perm_2","key":"org:posts:publish"}],
            "created_at":1716883200000,"updated_at":1716883500000}}"#;
        match planned(created) {
            Plan::Apply(Change::Roles(RoleChange::UpsertRole(r))) => {
                assert_eq!(
                    (r.id.as_str(), r.key.as_deref(), r.updated_ms),
                    ("role_1", Some("org:editor"), 1716883500000)
                );
                let listed = r.permissions.unwrap_or_default();
                let ids: Vec<(&str, Option<i64>)> = listed.iter().map(|p| (p.id.as_str(), p.updated_ms)).collect();
                assert_eq!(ids, [("perm_1", Some(1716883200000)), ("perm_2", None)]);
                assert_eq!(listed[0].kind.as_deref(), Some("custom"));
            }
            other => panic!("{other:?}"),
        }
        let unlisted = r#"{"type":"role.updated","data":{"id":"role_1","permissions":null,"updated_at":1}}"#;
        assert!(
            matches!(planned(unlisted), Plan::Apply(Change::Roles(RoleChange::UpsertRole(r))) if r.permissions.is_none())
        );
        let deleted =
            r#"{"type":"role.deleted","timestamp":1716883200,"data":{"object":"role","id":"role_1","slug":null}}"#;
        assert!(matches!(
            planned(deleted),
            Plan::Apply(Change::Roles(RoleChange::DeleteRole { deleted_ms: 1716883200000, .. }))
        ));
        let permission =
            r#"{"type":"permission.updated","data":{"id":"perm_1","key":"org:posts:edit","updated_at":7}}"#;
        assert!(matches!(
            planned(permission),
            Plan::Apply(Change::Roles(RoleChange::UpsertPermission(p))) if p.updated_ms == Some(7000)
        ));
        let undated = r#"{"type":"permission.created","data":{"id":"perm_1"}}"#;
        assert!(matches!(planned(undated), Plan::Fail(reason) if reason.contains("updated_at")));
        let gone = r#"{"type":"permission.deleted","timestamp":1716883200000,"data":{"id":"perm_1","deleted":true}}"#;
        assert!(matches!(planned(gone), Plan::Apply(Change::Roles(RoleChange::DeletePermission { .. }))));
    }
}
