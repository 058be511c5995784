//! Property: whatever the delivery order, however often each message is
//! redelivered, and whichever functions it reaches (Svix delivers a message
//! to every endpoint subscribed to its type), the database ends in the state
//! in-order delivery gives, and that state is Clerk's.
//!
//! A generated Clerk history (creates, renames, deletes, joins, role changes,
//! removals and re-adds, late updates of removed memberships, with or without
//! the per-member removal events Clerk may send when a user or organization
//! is deleted; invitations sent, accepted with or without the user's id and
//! revoked; domains added, changed and deleted; permissions and roles
//! created, changed and deleted, each role event listing its permissions) is
//! delivered once in order to its own functions in one fresh database, and
//! shuffled with duplicates, spread over all the functions and partly
//! concurrent, to another (directly, or through PgBouncer in transaction
//! mode).

use std::collections::BTreeMap;

use clerk_sync::{clerk::FAMILIES, Family};
use clerk_sync_tests::{
    clerk::{
        domain, domain_deleted, invitation, membership, organization, organization_deleted, permission,
        permission_data, permission_deleted, role, role_deleted, simple_user, user_deleted, Domain, Invitation,
        Membership,
    },
    TestStack,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const USERS: usize = 3;
const ORGS: usize = 2;
/// How many of the new families' objects an operation may name (taken
/// modulo those that exist).
const PICK: usize = 4;
const ENROLLMENT_MODES: [&str; 3] = ["manual_invitation", "automatic_invitation", "automatic_suggestion"];

#[derive(Debug, Clone)]
enum Op {
    RenameUser(usize),
    DeleteUser(usize, bool),
    RenameOrg(usize),
    DeleteOrg(usize, bool),
    Join(usize, usize, bool),
    ChangeRole(usize, usize),
    Leave(usize, usize),
    /// An update of the pair's last removed membership id, later than its
    /// removal (Clerk's Dashboard samples show this).
    LateUpdate(usize, usize),
    /// An invitation to an organization, for a user's address.
    Invite(usize, usize),
    /// The n-th invitation accepted by its user, the event naming the user
    /// or not.
    Accept(usize, bool),
    Revoke(usize),
    AddDomain(usize),
    ChangeDomain(usize),
    DeleteDomain(usize),
    AddPermission,
    RenamePermission(usize),
    DeletePermission(usize),
    /// An organization role granting the live permissions a bit mask picks.
    AddRole(u8),
    ChangeOrgRole(usize, u8),
    DeleteRole(usize),
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
        1 => (0..USERS, 0..ORGS).prop_map(|(u, o)| Op::LateUpdate(u, o)),
    ]
}

/// Any operation: the core families' and the invitations', domains' and
/// roles'.
fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => op(),
        2 => (0..ORGS, 0..USERS).prop_map(|(o, u)| Op::Invite(o, u)),
        1 => (0..PICK, any::<bool>()).prop_map(|(k, with_user)| Op::Accept(k, with_user)),
        1 => (0..PICK).prop_map(Op::Revoke),
        1 => (0..ORGS).prop_map(Op::AddDomain),
        1 => (0..PICK).prop_map(Op::ChangeDomain),
        1 => (0..PICK).prop_map(Op::DeleteDomain),
        1 => Just(Op::AddPermission),
        1 => (0..PICK).prop_map(Op::RenamePermission),
        1 => (0..PICK).prop_map(Op::DeletePermission),
        1 => any::<u8>().prop_map(Op::AddRole),
        2 => (0..PICK, any::<u8>()).prop_map(|(k, mask)| Op::ChangeOrgRole(k, mask)),
        1 => (0..PICK).prop_map(Op::DeleteRole),
    ]
}

struct InvitationModel {
    id: String,
    org: usize,
    user: usize,
    status: &'static str,
    /// Whether the acceptance named the user.
    named_user: bool,
}

struct DomainModel {
    id: String,
    org: usize,
    mode: usize,
    verified: bool,
    deleted: bool,
}

struct PermissionModel {
    id: String,
    name: String,
    updated_ms: i64,
    deleted: bool,
}

impl PermissionModel {
    fn key(&self) -> String {
        format!("org:{}:do", self.id.trim_start_matches("perm_"))
    }

    fn data(&self) -> Value {
        permission_data(&self.id, &self.key(), &self.name, self.updated_ms)
    }
}

struct RoleModel {
    id: String,
    name: String,
    permissions: Vec<usize>,
    deleted: bool,
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
    removed: BTreeMap<(usize, usize), ActiveMembership>,
    next_membership: usize,
    invitations: Vec<InvitationModel>,
    domains: Vec<DomainModel>,
    permissions: Vec<PermissionModel>,
    roles: Vec<RoleModel>,
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
        let m = &self.memberships[&(u, o)];
        self.event_of(m.id.clone(), m.role, event_type, u, o, updated_ms, timestamp);
    }

    #[allow(clippy::too_many_arguments)]
    fn event_of(
        &mut self,
        id: String,
        role: &str,
        event_type: &str,
        u: usize,
        o: usize,
        updated_ms: i64,
        timestamp: i64,
    ) {
        let (first_name, _) = &self.users[&u];
        let (org_name, org_updated, _) = &self.orgs[&o];
        let (uid, oid, identifier) = (user_id(u), org_id(o), format!("u{u}@example.com"));
        self.events.push(membership(&Membership {
            event_type,
            id: &id,
            org_id: &oid,
            org_name,
            org_updated_ms: *org_updated,
            user_id: &uid,
            first_name,
            identifier: &identifier,
            role,
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
                self.end(u, o);
            }
            Op::LateUpdate(u, o) if self.alive(u, o) && self.removed.contains_key(&(u, o)) => {
                let m = &self.removed[&(u, o)];
                let (id, role) = (m.id.clone(), if m.role == "org:admin" { "org:member" } else { "org:admin" });
                self.event_of(id, role, "organizationMembership.updated", u, o, t, t + 3);
            }
            _ => self.apply_more(op, t),
        }
    }

    /// The operations of the invitations, domains and roles families.
    fn apply_more(&mut self, op: &Op, t: i64) {
        let pick = |k: usize, len: usize| (len > 0).then(|| k % len);
        match *op {
            Op::Invite(o, u) if !self.orgs[&o].2 => {
                let id = format!("orginv_p{}", self.invitations.len());
                self.invitations.push(InvitationModel { id, org: o, user: u, status: "pending", named_user: false });
                self.invitation_event(self.invitations.len() - 1, t);
            }
            Op::Accept(k, named_user) => {
                if let Some(k) = pick(k, self.invitations.len()) {
                    let i = &self.invitations[k];
                    if i.status == "pending" && self.alive(i.user, i.org) {
                        let i = &mut self.invitations[k];
                        (i.status, i.named_user) = ("accepted", named_user);
                        self.invitation_event(k, t);
                    }
                }
            }
            Op::Revoke(k) => {
                if let Some(k) = pick(k, self.invitations.len()) {
                    if self.invitations[k].status == "pending" && !self.orgs[&self.invitations[k].org].2 {
                        self.invitations[k].status = "revoked";
                        self.invitation_event(k, t);
                    }
                }
            }
            Op::AddDomain(o) if !self.orgs[&o].2 => {
                // Clerk's own examples spell domain ids both ways.
                let prefix = if self.domains.len().is_multiple_of(2) { "orgdmn" } else { "orgdm" };
                let id = format!("{prefix}_p{}", self.domains.len());
                self.domains.push(DomainModel { id, org: o, mode: 0, verified: false, deleted: false });
                self.domain_event("organizationDomain.created", self.domains.len() - 1, t);
            }
            Op::ChangeDomain(k) => {
                if let Some(k) = pick(k, self.domains.len()).filter(|&k| !self.domains[k].deleted) {
                    let d = &mut self.domains[k];
                    (d.mode, d.verified) = ((d.mode + 1) % ENROLLMENT_MODES.len(), !d.verified);
                    self.domain_event("organizationDomain.updated", k, t);
                }
            }
            Op::DeleteDomain(k) => {
                if let Some(k) = pick(k, self.domains.len()).filter(|&k| !self.domains[k].deleted) {
                    self.domains[k].deleted = true;
                    self.events.push(domain_deleted(&self.domains[k].id, t + 500));
                }
            }
            Op::AddPermission => {
                let id = format!("perm_p{}", self.permissions.len());
                let p =
                    PermissionModel { name: format!("P{}", self.permissions.len()), id, updated_ms: t, deleted: false };
                self.events.push(permission("permission.created", &p.id, &p.key(), &p.name, t));
                self.permissions.push(p);
            }
            Op::RenamePermission(k) => {
                if let Some(k) = pick(k, self.permissions.len()).filter(|&k| !self.permissions[k].deleted) {
                    let p = &mut self.permissions[k];
                    (p.name, p.updated_ms) = (format!("{}t{t}", p.name), t);
                    self.events.push(permission("permission.updated", &p.id, &p.key(), &p.name, t));
                }
            }
            Op::DeletePermission(k) => {
                if let Some(k) = pick(k, self.permissions.len()).filter(|&k| !self.permissions[k].deleted) {
                    self.permissions[k].deleted = true;
                    self.events.push(permission_deleted(&self.permissions[k].id, t + 500));
                }
            }
            Op::AddRole(mask) => {
                let id = format!("role_p{}", self.roles.len());
                let permissions = self.granted(mask);
                self.roles.push(RoleModel { id, name: format!("R{}", self.roles.len()), permissions, deleted: false });
                self.role_event("role.created", self.roles.len() - 1, t);
            }
            Op::ChangeOrgRole(k, mask) => {
                if let Some(k) = pick(k, self.roles.len()).filter(|&k| !self.roles[k].deleted) {
                    let permissions = self.granted(mask);
                    let r = &mut self.roles[k];
                    (r.name, r.permissions) = (format!("{}t{t}", r.name), permissions);
                    self.role_event("role.updated", k, t);
                }
            }
            Op::DeleteRole(k) => {
                if let Some(k) = pick(k, self.roles.len()).filter(|&k| !self.roles[k].deleted) {
                    self.roles[k].deleted = true;
                    self.events.push(role_deleted(&self.roles[k].id, t + 500));
                }
            }
            _ => {}
        }
    }

    /// The ids of the permissions `role` grants, sorted.
    fn granted_ids(&self, role: &RoleModel) -> Vec<&str> {
        let mut ids: Vec<&str> = role.permissions.iter().map(|&p| self.permissions[p].id.as_str()).collect();
        ids.sort_unstable();
        ids
    }

    /// The live permissions `mask` picks (bit i: the i-th permission).
    fn granted(&self, mask: u8) -> Vec<usize> {
        (0..self.permissions.len().min(8)).filter(|&i| mask & (1 << i) != 0 && !self.permissions[i].deleted).collect()
    }

    fn invitation_event(&mut self, k: usize, t: i64) {
        let i = &self.invitations[k];
        let (org_id, user) = (org_id(i.org), user_id(i.user));
        let event_type = match i.status {
            "pending" => "organizationInvitation.created".to_string(),
            status => format!("organizationInvitation.{status}"),
        };
        let event = invitation(&Invitation {
            event_type: &event_type,
            id: &i.id,
            org_id: &org_id,
            org_name: Some(&self.orgs[&i.org].0),
            email: &format!("u{}@example.com", i.user),
            role: "org:member",
            user_id: (i.status == "accepted" && i.named_user).then_some(user.as_str()),
            updated_ms: t,
        });
        self.events.push(event);
    }

    fn domain_event(&mut self, event_type: &str, k: usize, t: i64) {
        let d = &self.domains[k];
        let org_id = org_id(d.org);
        let event = domain(&Domain {
            event_type,
            id: &d.id,
            org_id: &org_id,
            org_name: (event_type == "organizationDomain.created").then_some(self.orgs[&d.org].0.as_str()),
            name: &format!("{}.example", d.id),
            enrollment_mode: ENROLLMENT_MODES[d.mode],
            verification: Some(if d.verified { "verified" } else { "unverified" }),
            updated_ms: t,
        });
        self.events.push(event);
    }

    fn role_event(&mut self, event_type: &str, k: usize, t: i64) {
        let r = &self.roles[k];
        let listed = r.permissions.iter().map(|&p| self.permissions[p].data()).collect();
        let key = format!("org:{}", r.id.trim_start_matches("role_"));
        self.events.push(role(event_type, &r.id, &key, &r.name, t, listed));
    }

    /// The invitations, domains, roles and permissions as Clerk has them, as
    /// the database shows them (see [`more_state`]).
    fn more_state(&self) -> Value {
        let deleted = |d: bool| if d { "deleted" } else { "live" };
        json!({
            "invitations": by_id(self.invitations.iter().map(|i| json!({
                "id": i.id, "status": i.status,
                "user": (i.status == "accepted" && i.named_user).then(|| user_id(i.user)),
            })).collect()),
            "domains": by_id(self.domains.iter().map(|d| json!({
                "id": d.id, "org": org_id(d.org), "mode": ENROLLMENT_MODES[d.mode],
                "verification": if d.verified { "verified" } else { "unverified" }, "state": deleted(d.deleted),
            })).collect()),
            "permissions": by_id(self.permissions.iter().map(|p| json!({
                "id": p.id, "name": p.name, "state": deleted(p.deleted),
            })).collect()),
            "roles": by_id(self.roles.iter().map(|r| json!({
                "id": r.id, "name": r.name, "state": deleted(r.deleted),
                "permissions": self.granted_ids(r),
            })).collect()),
        })
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
            self.end(key.0, key.1);
        }
    }

    fn end(&mut self, u: usize, o: usize) {
        if let Some(m) = self.memberships.remove(&(u, o)) {
            self.removed.insert((u, o), m);
        }
    }

    /// The active memberships as Clerk has them, as the database shows them.
    fn active_memberships(&self) -> Vec<Value> {
        self.memberships
            .iter()
            .map(|(&(u, o), m)| {
                serde_json::json!({"clerk_user_id": user_id(u), "clerk_org_id": org_id(o), "role": m.role,
                                   "clerk_membership_id": m.id})
            })
            .collect()
    }
}

/// How many functions [`TestStack::functions`] lists.
const FUNCTIONS: usize = 7;

fn svix_id(i: usize) -> String {
    format!("msg_{i:04}")
}

async fn deliver_all(stack: &TestStack, events: &[Value], order: &[usize]) {
    for &i in order {
        let answer = stack.deliver(&svix_id(i), &events[i]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

/// One delivery of the shuffled run: which event, to which function (an
/// index into [`TestStack::functions`]), and whether it waits for the
/// deliveries before it or goes with them at once.
#[derive(Debug, Clone, Copy)]
struct Delivery {
    event: usize,
    function: usize,
    with_previous: bool,
}

async fn deliver_spread(stack: &TestStack, events: &[Value], deliveries: &[Delivery]) {
    let functions = stack.functions();
    let mut groups: Vec<Vec<Delivery>> = Vec::new();
    for d in deliveries {
        match groups.last_mut() {
            Some(group) if d.with_previous => group.push(*d),
            _ => groups.push(vec![*d]),
        }
    }
    for group in groups {
        let answers = futures_util::future::join_all(group.iter().map(|d| async move {
            stack.deliver_to(functions[d.function], &svix_id(d.event), &events[d.event]).await
        }))
        .await;
        for answer in answers {
            assert_eq!(answer.status, 200, "{answer:?}");
        }
    }
}

/// The function of an event's own family: [`TestStack::functions`] lists
/// them in the order of `FAMILIES`.
fn own_function(event: &Value) -> usize {
    let family = Family::handling(event["type"].as_str().unwrap_or_default());
    FAMILIES.iter().position(|spec| Some(spec.family) == family).unwrap_or(0)
}

/// The new families' rows in the database, as [`Clerk::more_state`] has
/// them (sorted by id here, as there, whatever the database's collation).
async fn more_state(stack: &TestStack) -> Value {
    let state = |yes: &str| format!("CASE WHEN {yes}.deleted_at IS NULL THEN 'live' ELSE 'deleted' END AS state");
    let mut roles = stack
        .db
        .rows(&format!(
            "SELECT r.clerk_role_id AS id, r.name, {},
                    ARRAY(SELECT p.clerk_permission_id FROM organization_role_permissions rp
                          JOIN organization_permissions p ON p.id = rp.permission_id
                          WHERE rp.role_id = r.id) AS permissions
             FROM organization_roles r",
            state("r")
        ))
        .await;
    for role in &mut roles {
        if let Some(ids) = role["permissions"].as_array_mut() {
            ids.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
    json!({
        "invitations": by_id(stack.db.rows(
            "SELECT i.clerk_invitation_id AS id, i.status, u.clerk_user_id AS user
             FROM organization_invitations i LEFT JOIN users u ON u.id = i.user_id").await),
        "domains": by_id(stack.db.rows(&format!(
            "SELECT d.clerk_domain_id AS id, o.clerk_org_id AS org, d.enrollment_mode AS mode,
                    d.verification_status AS verification, {}
             FROM organization_domains d JOIN organization o ON o.id = d.organization_id", state("d"))).await),
        "permissions": by_id(stack.db.rows(&format!(
            "SELECT p.clerk_permission_id AS id, p.name, {} FROM organization_permissions p", state("p"))).await),
        "roles": by_id(roles),
    })
}

/// Rows sorted by their `id`.
fn by_id(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    rows
}

/// Active memberships in the database.
async fn active_memberships(stack: &TestStack) -> Vec<Value> {
    stack
        .db
        .rows(
            "SELECT u.clerk_user_id, o.clerk_org_id, m.role, m.clerk_membership_id
             FROM user_organizations m JOIN users u ON u.id = m.user_id
             JOIN organization o ON o.id = m.organization_id WHERE m.deleted_at IS NULL ORDER BY 1, 2",
        )
        .await
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn final_state_does_not_depend_on_order_repetition_or_receiving_functions(
        ops in prop::collection::vec(any_op(), 4..48),
        keys in prop::collection::vec(any::<u32>(), 64),
        redeliveries in prop::collection::vec((any::<prop::sample::Index>(), any::<u32>()), 0..12),
        // Per delivery: another function that receives it too (0..3 none,
        // else one of TestStack::functions: each deployed one, the
        // catch-all), and whether it goes at once with the one before.
        spread in prop::collection::vec((0..3 + FUNCTIONS, any::<bool>()), 64),
        // The shuffled run through PgBouncer in transaction mode (two
        // server connections for the seven functions), or direct.
        through_pgbouncer in any::<bool>(),
    ) {
        let mut clerk = Clerk::new();
        for op in &ops {
            clerk.apply(op);
        }
        let expected_memberships = clerk.active_memberships();
        let expected_more = clerk.more_state();
        let events = clerk.events;

        let in_order: Vec<usize> = (0..events.len()).collect();
        let mut shuffled: Vec<(u32, usize)> = in_order.iter().map(|&i| (keys[i % keys.len()], i)).collect();
        shuffled.extend(redeliveries.iter().map(|(index, key)| (*key, index.index(events.len()))));
        shuffled.sort();
        let mut deliveries = Vec::new();
        for (n, (_, event)) in shuffled.into_iter().enumerate() {
            let (other, with_previous) = spread[n % spread.len()];
            deliveries.push(Delivery { event, function: own_function(&events[event]), with_previous });
            if other >= 3 {
                deliveries.push(Delivery { event, function: other - 3, with_previous: true });
            }
        }

        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (expected, mut actual, memberships, more) = runtime.block_on(async {
            let shuffled = async {
                if through_pgbouncer { TestStack::spawn_through_pgbouncer(2).await } else { TestStack::spawn().await }
            };
            let (a, b) = tokio::join!(TestStack::spawn(), shuffled);
            deliver_all(&a, &events, &in_order).await;
            deliver_spread(&b, &events, &deliveries).await;
            (a.snapshot().await, b.snapshot().await, active_memberships(&a).await, more_state(&a).await)
        });
        // What the functions that do not handle a type recorded of it.
        if let Some(recorded) = actual["events"].as_array_mut() {
            recorded.retain(|e| e["status"] != "ignored");
        }
        prop_assert_eq!(expected, actual);
        prop_assert_eq!(memberships, expected_memberships, "the mirror is not Clerk's");
        prop_assert_eq!(more, expected_more, "the invitations, domains or roles are not Clerk's");
    }
}

/// What Clerk's Backend API holds at the end of a history: the latest data
/// of each live user and organization (a webhook's `data` is the API's
/// object), and each live membership with its organization in full.
fn backend_api_state(events: &[Value], active: &[Value]) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let (mut users, mut orgs, mut memberships) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for event in events {
        let data = &event["data"];
        let id = data["id"].as_str().unwrap_or_default().to_string();
        match event["type"].as_str().unwrap_or_default() {
            "user.created" | "user.updated" => drop(users.insert(id, data.clone())),
            "user.deleted" => drop(users.remove(&id)),
            "organization.created" | "organization.updated" => drop(orgs.insert(id, data.clone())),
            "organization.deleted" => drop(orgs.remove(&id)),
            "organizationMembership.created" | "organizationMembership.updated" => {
                drop(memberships.insert(id, data.clone()))
            }
            _ => {}
        }
    }
    let live: Vec<Value> = active
        .iter()
        .map(|m| {
            let mut membership = memberships[m["clerk_membership_id"].as_str().unwrap_or_default()].clone();
            membership["role"] = m["role"].clone();
            membership["organization"] = orgs[m["clerk_org_id"].as_str().unwrap_or_default()].clone();
            membership
        })
        .collect();
    (users.into_values().collect(), orgs.into_values().collect(), live)
}

/// The mirror as the comparison sees it: live users and organizations with
/// their data, active memberships, and which ids are deleted. A database
/// that never heard of an object Clerk created and deleted has no row for
/// it, and deletion times differ by who noticed first: neither matters.
fn live_mirror(snapshot: &Value) -> (Value, Value, Value, Vec<Value>, Vec<Value>) {
    let rows = |key: &str| snapshot[key].as_array().cloned().unwrap_or_default();
    let (live, deleted): (Vec<Value>, Vec<Value>) = rows("users").into_iter().partition(|u| u["deleted_at"].is_null());
    let (live_orgs, deleted_orgs): (Vec<Value>, Vec<Value>) =
        rows("organizations").into_iter().partition(|o| o["deleted_at"].is_null());
    let active: Vec<Value> = rows("memberships").into_iter().filter(|m| m["deleted_at"].is_null()).collect();
    (
        Value::from(live),
        Value::from(live_orgs),
        Value::from(active),
        deleted.into_iter().map(|u| u["clerk_user_id"].clone()).collect(),
        deleted_orgs.into_iter().map(|o| o["clerk_org_id"].clone()).collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Webhooks lost at random (the rest shuffled), then a reconcile from
    /// the Backend API, then, maybe, the lost ones arriving late after all:
    /// the mirror is the one full in-order delivery gives, whichever way
    /// each object came.
    #[test]
    fn lost_webhooks_and_a_reconcile_converge_to_what_delivery_gives(
        ops in prop::collection::vec(op(), 4..32),
        kept in prop::collection::vec(any::<bool>(), 64),
        keys in prop::collection::vec(any::<u32>(), 64),
        late in any::<bool>(),
    ) {
        use clerk_sync::{backend_api::{BackendApi, BackendApiConfig}, reconcile::{reconcile, Options, Quiet, Trigger}};
        use clerk_sync_tests::{fake_backend_api::{FakeBackendApi, FAKE_KEY}, Vars};

        let mut clerk = Clerk::new();
        for op in &ops {
            clerk.apply(op);
        }
        let expected_memberships = clerk.active_memberships();
        let events = clerk.events;
        let (api_users, api_orgs, api_memberships) = backend_api_state(&events, &expected_memberships);

        let in_order: Vec<usize> = (0..events.len()).collect();
        let mut shuffled: Vec<(u32, usize)> = in_order.iter().map(|&i| (keys[i % keys.len()], i)).collect();
        shuffled.sort();
        let (delivered, lost): (Vec<usize>, Vec<usize>) =
            shuffled.into_iter().map(|(_, i)| i).partition(|&i| kept[i % kept.len()]);

        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (expected, actual, memberships) = runtime.block_on(async {
            let (a, b) = tokio::join!(TestStack::spawn(), TestStack::spawn());
            deliver_all(&a, &events, &in_order).await;
            deliver_all(&b, &events, &delivered).await;
            let fake = FakeBackendApi::start().await;
            fake.set_users(api_users);
            fake.set_organizations(api_orgs);
            fake.set_memberships(api_memberships);
            let vars = Vars(vec![("CLERK_SECRET_KEY", FAKE_KEY.to_string()), ("CLERK_API_URL", fake.url())]);
            let mut config = BackendApiConfig::from_source(&vars).expect("settings");
            (config.page_size, config.max_requests) = (2, 1000);
            let api = BackendApi::new(config).expect("client");
            let pool = clerk_sync_tests::pool(&b.db.url, 1);
            let client = pool.get().await.expect("connection");
            let outcome = reconcile(&client, &api, &Options::new(Trigger::Cli), &Quiet).await.expect("reconcile");
            assert!(outcome.report.complete, "{outcome:?}");
            if late {
                deliver_all(&b, &events, &lost).await;
            }
            (a.snapshot().await, b.snapshot().await, active_memberships(&b).await)
        });
        let (live_a, orgs_a, active_a, deleted_a, deleted_orgs_a) = live_mirror(&expected);
        let (live_b, orgs_b, active_b, deleted_b, deleted_orgs_b) = live_mirror(&actual);
        prop_assert_eq!(live_a, live_b, "live users");
        prop_assert_eq!(orgs_a, orgs_b, "live organizations");
        prop_assert_eq!(active_a, active_b, "active memberships");
        prop_assert!(deleted_b.iter().all(|id| deleted_a.contains(id)), "{:?} ⊄ {:?}", deleted_b, deleted_a);
        prop_assert!(deleted_orgs_b.iter().all(|id| deleted_orgs_a.contains(id)));
        prop_assert_eq!(memberships, expected_memberships, "the mirror is not Clerk's");
    }
}
