//! Clerk payload reading: `Envelope::parse`, `object_id` and `plan` for
//! every family, on arbitrary bytes, on envelopes built field by field and
//! on edited real samples.
//!
//! Checks: never a panic; every applied clock is a valid timestamptz; a family plans either what `Family::All` plans or
//! `Ignore`; a failure reason never quotes a value from the payload (the
//! canary string planted among the generated values).
#![no_main]

use arbitrary::Arbitrary;
use clerk_sync::clerk::{
    plan, Change, DomainChange, Envelope, Family, OrgChange, Plan, RoleChange, UserChange, FAMILIES,
};
use clerk_sync_fuzz::{Body, CANARY};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Input {
    Bytes(Vec<u8>),
    Structured(Body),
}

fuzz_target!(|input: Input| {
    let bytes = match input {
        Input::Bytes(bytes) => bytes,
        Input::Structured(body) => body.bytes(),
    };
    let Ok(envelope) = Envelope::parse(&bytes) else { return };
    // What intake relies on: a parsed envelope means UTF-8 text.
    assert!(std::str::from_utf8(&bytes).is_ok(), "Envelope::parse accepted non-UTF-8 bytes");
    let _ = envelope.object_id();

    let all = plan(Family::All, &envelope);
    if let Plan::Fail(reason) = &all {
        assert!(!reason.contains(CANARY), "a failure reason quotes the payload: {reason}");
        assert!(!reason.is_empty());
    }
    if let Plan::Apply(change) = &all {
        // Every clock that reaches SQL fits a timestamptz.
        let times = match change {
            Change::Users(UserChange::Upsert(u)) => vec![Some(u.updated_ms)],
            Change::Users(UserChange::Delete { deleted_ms, .. })
            | Change::Organizations(OrgChange::Delete { deleted_ms, .. })
            | Change::Domains(DomainChange::Delete { deleted_ms, .. })
            | Change::Roles(
                RoleChange::DeleteRole { deleted_ms, .. } | RoleChange::DeletePermission { deleted_ms, .. },
            ) => {
                vec![Some(*deleted_ms)]
            }
            Change::Organizations(OrgChange::Upsert(o)) => vec![o.updated_ms],
            Change::Memberships(m) => vec![Some(m.event_ms), m.organization.updated_ms],
            Change::Invitations(i) => vec![Some(i.updated_ms), i.expires_ms, i.organization.updated_ms],
            Change::Domains(DomainChange::Upsert(d)) => vec![Some(d.updated_ms), d.organization.updated_ms],
            Change::Roles(RoleChange::UpsertRole(r)) => std::iter::once(Some(r.updated_ms))
                .chain(r.permissions.iter().flatten().map(|p| p.updated_ms))
                .collect(),
            Change::Roles(RoleChange::UpsertPermission(p)) => vec![p.updated_ms],
        };
        for ms in times.into_iter().flatten() {
            assert!((0..=253_402_300_799_999).contains(&ms), "out-of-range time {ms} in {change:?}");
        }
        if let Change::Organizations(OrgChange::Upsert(o)) = change {
            assert!(o.updated_ms.is_some(), "a full organization event without updated_at applied");
        }
    }
    for family in FAMILIES.iter().map(|spec| spec.family) {
        let planned = plan(family, &envelope);
        assert!(planned == all || planned == Plan::Ignore, "{family:?} planned {planned:?}, All planned {all:?}");
    }
    // Same bytes, same decision.
    assert_eq!(plan(Family::All, &envelope), all);
});
