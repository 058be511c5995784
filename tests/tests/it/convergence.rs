//! Property: whatever the delivery order and however often each message is
//! redelivered, the database ends in the state in-order delivery gives.
//!
//! A generated Clerk history (creates, renames, deletes, joins, role changes,
//! removals and re-adds, with or without the per-member removal events Clerk
//! may send when a user or organization is deleted) is delivered once in
//! order to one fresh database and shuffled with duplicates to another.

use std::collections::BTreeMap;

use clerk_sync_tests::{
    clerk::{membership, organization, organization_deleted, simple_user, user_deleted, Membership},
    TestStack,
};
use proptest::prelude::*;
use serde_json::Value;

const USERS: usize = 3;
const ORGS: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    RenameUser(usize),
    DeleteUser(usize, bool),
    RenameOrg(usize),
    DeleteOrg(usize, bool),
    Join(usize, usize, bool),
    ChangeRole(usize, usize),
    Leave(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..USERS).prop_map(Op::RenameUser),
        1 => (0..USERS, any::<bool>()).prop_map(|(u, each)| Op::DeleteUser(u, each)),
        2 => (0..ORGS).prop_map(Op::RenameOrg),
        1 => (0..ORGS, any::<bool>()).prop_map(|(o, each)| Op::DeleteOrg(o, each)),
        4 => (0..USERS, 0..ORGS, any::<bool>()).prop_map(|(u, o, admin)| Op::Join(u, o, admin)),
        2 => (0..USERS, 0..ORGS).prop_map(|(u, o)| Op::ChangeRole(u, o)),
        2 => (0..USERS, 0..ORGS).prop_map(|(u, o)| Op::Leave(u, o)),
    ]
}

struct ActiveMembership {
    id: String,
    role: &'static str,
    updated_ms: i64,
}

/// Clerk's side: applies operations in time order and emits the events.
#[derive(Default)]
struct Clerk {
    now: i64,
    users: BTreeMap<usize, (String, bool)>,     // first name, deleted
    orgs: BTreeMap<usize, (String, i64, bool)>, // name, updated_at, deleted
    memberships: BTreeMap<(usize, usize), ActiveMembership>,
    next_membership: usize,
    events: Vec<Value>,
}

fn user_id(u: usize) -> String {
    format!("user_p{u}")
}

fn org_id(o: usize) -> String {
    format!("org_p{o}")
}

impl Clerk {
    fn tick(&mut self) -> i64 {
        self.now += 1_000;
        self.now
    }

    fn new() -> Self {
        let mut clerk = Self::default();
        for u in 0..USERS {
            let t = clerk.tick();
            clerk.users.insert(u, (format!("U{u}"), false));
            clerk.events.push(simple_user(
                "user.created",
                &user_id(u),
                t,
                &format!("U{u}"),
                &format!("u{u}@example.com"),
            ));
        }
        for o in 0..ORGS {
            let t = clerk.tick();
            clerk.orgs.insert(o, (format!("O{o}"), t, false));
            clerk.events.push(organization("organization.created", &org_id(o), &format!("O{o}"), t));
        }
        clerk
    }

    fn membership_event(&mut self, event_type: &str, u: usize, o: usize, updated_ms: i64, timestamp: i64) {
        let (first_name, _) = &self.users[&u];
        let (org_name, org_updated, _) = &self.orgs[&o];
        let m = &self.memberships[&(u, o)];
        let (uid, oid, identifier) = (user_id(u), org_id(o), format!("u{u}@example.com"));
        self.events.push(membership(&Membership {
            event_type,
            id: &m.id,
            org_id: &oid,
            org_name,
            org_updated_ms: *org_updated,
            user_id: &uid,
            first_name,
            identifier: &identifier,
            role: m.role,
            updated_ms,
            timestamp,
        }));
    }

    fn alive(&self, u: usize, o: usize) -> bool {
        !self.users[&u].1 && !self.orgs[&o].2
    }

    fn apply(&mut self, op: &Op) {
        let t = self.tick();
        match *op {
            Op::RenameUser(u) if !self.users[&u].1 => {
                let name = format!("U{u}t{t}");
                self.events.push(simple_user("user.updated", &user_id(u), t, &name, &format!("u{u}.{t}@example.com")));
                self.users.insert(u, (name, false));
            }
            Op::DeleteUser(u, each) if !self.users[&u].1 => {
                self.end_memberships(|(mu, _)| mu == u, each, t);
                self.users.get_mut(&u).expect("known user").1 = true;
                self.events.push(user_deleted(&user_id(u), t + 500));
            }
            Op::RenameOrg(o) if !self.orgs[&o].2 => {
                let name = format!("O{o}t{t}");
                self.events.push(organization("organization.updated", &org_id(o), &name, t));
                self.orgs.insert(o, (name, t, false));
            }
            Op::DeleteOrg(o, each) if !self.orgs[&o].2 => {
                self.end_memberships(|(_, mo)| mo == o, each, t);
                self.orgs.get_mut(&o).expect("known org").2 = true;
                self.events.push(organization_deleted(&org_id(o), t + 500));
            }
            Op::Join(u, o, admin) if self.alive(u, o) && !self.memberships.contains_key(&(u, o)) => {
                self.next_membership += 1;
                let role = if admin { "org:admin" } else { "org:member" };
                let id = format!("orgmem_p{}", self.next_membership);
                self.memberships.insert((u, o), ActiveMembership { id, role, updated_ms: t });
                self.membership_event("organizationMembership.created", u, o, t, t + 3);
            }
            Op::ChangeRole(u, o) if self.alive(u, o) && self.memberships.contains_key(&(u, o)) => {
                let m = self.memberships.get_mut(&(u, o)).expect("active membership");
                m.role = if m.role == "org:admin" { "org:member" } else { "org:admin" };
                m.updated_ms = t;
                self.membership_event("organizationMembership.updated", u, o, t, t + 3);
            }
            Op::Leave(u, o) if self.alive(u, o) && self.memberships.contains_key(&(u, o)) => {
                let updated = self.memberships[&(u, o)].updated_ms;
                self.membership_event("organizationMembership.deleted", u, o, updated, t);
                self.memberships.remove(&(u, o));
            }
            _ => {}
        }
    }

    /// Clerk may or may not send one removal per member when a user or
    /// organization goes: `each` decides.
    fn end_memberships(&mut self, matches: impl Fn((usize, usize)) -> bool, each: bool, t: i64) {
        let ended: Vec<(usize, usize)> = self.memberships.keys().copied().filter(|k| matches(*k)).collect();
        for (i, key) in ended.into_iter().enumerate() {
            if each {
                let updated = self.memberships[&key].updated_ms;
                self.membership_event("organizationMembership.deleted", key.0, key.1, updated, t + 1 + i as i64);
            }
            self.memberships.remove(&key);
        }
    }
}

fn svix_id(i: usize) -> String {
    format!("msg_{i:04}")
}

async fn deliver_all(stack: &TestStack, events: &[Value], order: &[usize]) {
    for &i in order {
        let answer = stack.deliver(&svix_id(i), &events[i]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn final_state_does_not_depend_on_order_or_repetition(
        ops in prop::collection::vec(op(), 4..40),
        keys in prop::collection::vec(any::<u32>(), 64),
        redeliveries in prop::collection::vec((any::<prop::sample::Index>(), any::<u32>()), 0..12),
    ) {
        let mut clerk = Clerk::new();
        for op in &ops {
            clerk.apply(op);
        }
        let events = clerk.events;

        let in_order: Vec<usize> = (0..events.len()).collect();
        let mut shuffled: Vec<(u32, usize)> = in_order.iter().map(|&i| (keys[i % keys.len()], i)).collect();
        shuffled.extend(redeliveries.iter().map(|(index, key)| (*key, index.index(events.len()))));
        shuffled.sort();
        let shuffled: Vec<usize> = shuffled.into_iter().map(|(_, i)| i).collect();

        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (expected, actual) = runtime.block_on(async {
            let (a, b) = tokio::join!(TestStack::spawn(), TestStack::spawn());
            deliver_all(&a, &events, &in_order).await;
            deliver_all(&b, &events, &shuffled).await;
            (a.snapshot().await, b.snapshot().await)
        });
        prop_assert_eq!(expected, actual);
    }
}
