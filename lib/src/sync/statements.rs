//! Every statement of the event path, composed at compile time from the
//! files in `sql/`: a claim of the event row, the effect of the event's
//! family, and the recording of the event with the status the effect earned.

use tokio_postgres::types::Type;

use crate::db::routines::{Returns, Routine};

/// `$1`–`$8` of every recording statement, the event row (svix id, type,
/// object id, time, body, status, error, family), then the effect's.
macro_rules! event_and {
    ($($effect:ident),*) => {
        &[Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, $(Type::$effect),*]
    };
}

/// What every recording statement yields.
const RECORDED: Returns = Returns::Rows("recorded bigint, applied bigint");

/// A recording statement's routine, named after its way of claiming the
/// event row and its field (`deliver_user_upsert`), with the effect's
/// parameter types after the event's.
macro_rules! recording {
    ($way:literal, $field:ident, $sql:expr $(, $effect:ident)* $(,)?) => {
        Routine::new(concat!($way, "_", stringify!($field)), $sql, event_and!($($effect),*), RECORDED)
    };
}

/// The statements for one way of claiming the event row, with their
/// parameters after the event's.
pub struct Statements {
    /// Ignored and failed events: recorded, nothing applied.
    pub record_only: Routine,
    /// The same, for a body PostgreSQL refuses as jsonb.
    pub record_only_as_text: Routine,
    /// User id, email, first name, last name, image, clock.
    pub user_upsert: Routine,
    /// Every delete: the object's id, its deletion time.
    pub user_delete: Routine,
    /// Organization id, name, slug, image, clock.
    pub organization_upsert: Routine,
    pub organization_delete: Routine,
    /// User id, first name, last name, image, email; organization id, name,
    /// slug, image, clock; membership id, role, clock, removed.
    pub membership: Routine,
    /// Invitation id; organization id, name, slug, image; email, role,
    /// status, expiry, accepting user, clock.
    pub invitation: Routine,
    /// Domain id; organization id, name, slug, image; domain name,
    /// enrollment mode, verification status, affiliation email, clock.
    pub domain_upsert: Routine,
    pub domain_delete: Routine,
    /// Role id, key, name, description, clock, then the listed permissions
    /// as arrays: ids, keys, names, descriptions, types, clocks.
    pub role_upsert: Routine,
    pub role_delete: Routine,
    /// Permission id, key, name, description, type, clock.
    pub permission_upsert: Routine,
    pub permission_delete: Routine,
}

impl Statements {
    fn all(&'static self) -> [&'static Routine; 14] {
        [
            &self.record_only,
            &self.record_only_as_text,
            &self.user_upsert,
            &self.user_delete,
            &self.organization_upsert,
            &self.organization_delete,
            &self.membership,
            &self.invitation,
            &self.domain_upsert,
            &self.domain_delete,
            &self.role_upsert,
            &self.role_delete,
            &self.permission_upsert,
            &self.permission_delete,
        ]
    }
}

/// An effect runs only while its event is unclaimed (`fresh`) and the event
/// row is written after it, so that it can say `stale` when the effect
/// changed nothing. Two deliveries of one message racing may both run the
/// effect: the rules make the second a no-op, and the event row's unique key
/// lets only one of them claim it.
macro_rules! statements {
    ($way:literal, $fresh:literal, $claim:literal, $claim_as_text:literal) => {
        Statements {
            record_only: recording!($way, record_only, statements!(@record $claim)),
            record_only_as_text: recording!($way, record_only_as_text, statements!(@record $claim_as_text)),
            user_upsert: recording!(
                $way, user_upsert,
                statements!(@effect $fresh, "incoming_users", "sql/user_from_event.sql", "sql/user_upsert.sql", $claim),
                TEXT, TEXT, TEXT, TEXT, TEXT, INT8,
            ),
            user_delete: recording!(
                $way, user_delete,
                statements!(
                    @effect $fresh, "deleted_users", "sql/user_deleted_from_event.sql", "sql/user_delete.sql", $claim
                ),
                TEXT, INT8,
            ),
            organization_upsert: recording!(
                $way, organization_upsert,
                statements!(
                    @effect $fresh, "incoming_organizations", "sql/organization_from_event.sql",
                    "sql/organization_upsert.sql", $claim
                ),
                TEXT, TEXT, TEXT, TEXT, INT8,
            ),
            organization_delete: recording!(
                $way, organization_delete,
                statements!(
                    @effect $fresh, "deleted_organizations", "sql/organization_deleted_from_event.sql",
                    "sql/organization_delete.sql", $claim
                ),
                TEXT, INT8,
            ),
            membership: recording!(
                $way, membership,
                statements!(
                    @nested $fresh, "incoming_memberships", "sql/membership_from_event.sql",
                    "sql/memberships_nested_organizations.sql", "sql/membership.sql", $claim
                ),
                TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, INT8, TEXT, TEXT, INT8, BOOL,
            ),
            invitation: recording!(
                $way, invitation,
                statements!(
                    @nested $fresh, "incoming_invitations", "sql/invitation_from_event.sql",
                    "sql/invitations_nested_organizations.sql", "sql/invitation.sql", $claim
                ),
                TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, INT8, TEXT, INT8,
            ),
            domain_upsert: recording!(
                $way, domain_upsert,
                statements!(
                    @nested $fresh, "incoming_domains", "sql/domain_from_event.sql",
                    "sql/domains_nested_organizations.sql", "sql/domain_upsert.sql", $claim
                ),
                TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, INT8,
            ),
            domain_delete: recording!(
                $way, domain_delete,
                statements!(
                    @effect $fresh, "deleted_domains", "sql/domain_deleted_from_event.sql", "sql/domain_delete.sql",
                    $claim
                ),
                TEXT, INT8,
            ),
            role_upsert: recording!(
                $way, role_upsert,
                statements!(@effect $fresh, "incoming_roles", "sql/role_from_event.sql", "sql/role_upsert.sql", $claim),
                TEXT, TEXT, TEXT, TEXT, INT8, TEXT_ARRAY, TEXT_ARRAY, TEXT_ARRAY, TEXT_ARRAY, TEXT_ARRAY, INT8_ARRAY,
            ),
            role_delete: recording!(
                $way, role_delete,
                statements!(
                    @effect $fresh, "deleted_roles", "sql/role_deleted_from_event.sql", "sql/role_delete.sql", $claim
                ),
                TEXT, INT8,
            ),
            permission_upsert: recording!(
                $way, permission_upsert,
                statements!(
                    @effect $fresh, "incoming_permissions", "sql/permission_from_event.sql",
                    "sql/permission_upsert.sql", $claim
                ),
                TEXT, TEXT, TEXT, TEXT, TEXT, INT8,
            ),
            permission_delete: recording!(
                $way, permission_delete,
                statements!(
                    @effect $fresh, "deleted_permissions", "sql/permission_deleted_from_event.sql",
                    "sql/permission_delete.sql", $claim
                ),
                TEXT, INT8,
            ),
        }
    };
    (@record $claim:literal) => {
        concat!(
            "WITH ", include_str!("sql/no_effect.sql"), ",\nev AS (", include_str!($claim), ")\n",
            "SELECT count(*) AS recorded, 0::bigint AS applied FROM ev"
        )
    };
    // An effect whose rule reads its rows from a CTE of its own (`$name`),
    // which the event's parameters fill here and a page of the Backend API's
    // objects fills for reconcile: one rule for both.
    (@effect $fresh:literal, $name:literal, $input:literal, $effect:literal, $claim:literal) => {
        concat!(
            "WITH fresh AS (", include_str!($fresh), "),\n",
            $name, " AS (", include_str!($input), "),\n",
            include_str!($effect), ",\nev AS (", include_str!($claim), ")\n",
            "SELECT (SELECT count(*) FROM ev) AS recorded, (SELECT count(*) FROM applied) AS applied"
        )
    };
    // The same, for a rule that names an organization (`org`, a placeholder
    // when it is not known yet): `$nested` selects the organizations from
    // `$name` for the organization's rule for nested copies.
    (@nested $fresh:literal, $name:literal, $input:literal, $nested:literal, $effect:literal, $claim:literal) => {
        concat!(
            "WITH fresh AS (", include_str!($fresh), "),\n",
            $name, " AS (", include_str!($input), "),\n",
            nested_organizations!($nested),
            include_str!($effect), ",\nev AS (", include_str!($claim), ")\n",
            "SELECT (SELECT count(*) FROM ev) AS recorded, (SELECT count(*) FROM applied) AS applied"
        )
    };
}

/// `nested_organizations` (selected by `$nested` from the rule's input) and
/// `org`, the organization's rule for nested copies
/// (sql/organization_nested.sql), for the rules that follow.
macro_rules! nested_organizations {
    ($nested:literal) => {
        concat!(
            "nested_organizations AS (",
            include_str!($nested),
            "),\n",
            include_str!("sql/organization_nested.sql"),
            ",\n"
        )
    };
}

/// New deliveries: the event row is inserted, once per message and family.
pub static DELIVERING: Statements =
    statements!("deliver", "sql/event_unclaimed.sql", "sql/event_insert.sql", "sql/event_insert_text.sql");

/// Replays of stored events: the row still failed or received is updated.
pub static REPLAYING: Statements =
    statements!("replay", "sql/event_replayable.sql", "sql/event_update.sql", "sql/event_update.sql");

/// Run after a delete, in its transaction: end the memberships hanging
/// from it. A webhook's one id (`$1` text: planned as one row, so the plan
/// cached per connection stays generic and cheap) …
pub static USER_END_MEMBERSHIPS: Routine = Routine::new(
    "user_end_memberships",
    concat!("WITH ended AS (SELECT $1::text AS clerk_id)\n", include_str!("sql/user_end_memberships.sql")),
    &[Type::TEXT],
    Returns::Nothing,
);
pub static ORGANIZATION_END_MEMBERSHIPS: Routine = Routine::new(
    "organization_end_memberships",
    concat!("WITH ended AS (SELECT $1::text AS clerk_id)\n", include_str!("sql/organization_end_memberships.sql")),
    &[Type::TEXT],
    Returns::Nothing,
);
/// … or a reconcile batch of them (`$1` text[]).
pub const USERS_END_MEMBERSHIPS: &str =
    concat!("WITH ended AS (SELECT unnest($1::text[]) AS clerk_id)\n", include_str!("sql/user_end_memberships.sql"));
pub const ORGANIZATIONS_END_MEMBERSHIPS: &str = concat!(
    "WITH ended AS (SELECT unnest($1::text[]) AS clerk_id)\n",
    include_str!("sql/organization_end_memberships.sql")
);

/// Run after a role upsert, in its transaction: when the role applied, its
/// permission set becomes the one its event lists. `$1` the role's Clerk id,
/// `$2` the permissions' Clerk ids (NULL: not listed, the set stays).
pub static ROLE_PERMISSIONS: Routine = Routine::new(
    "role_permissions",
    include_str!("sql/role_permissions.sql"),
    &[Type::TEXT, Type::TEXT_ARRAY],
    Returns::Nothing,
);

/// Every statement of the event path (deliveries and replays), each with
/// its server-side routine for connections behind a transaction pooler.
pub fn routines() -> Vec<&'static Routine> {
    let mut all: Vec<&'static Routine> = DELIVERING.all().into_iter().chain(REPLAYING.all()).collect();
    all.extend([&USER_END_MEMBERSHIPS, &ORGANIZATION_END_MEMBERSHIPS, &ROLE_PERMISSIONS]);
    all
}

/// Every statement by name, for the benchmarks (pgbench scripts are made
/// from these, never copied by hand).
pub fn all() -> Vec<(&'static str, &'static str)> {
    vec![
        ("record_only", DELIVERING.record_only.sql()),
        ("user_upsert", DELIVERING.user_upsert.sql()),
        ("user_delete", DELIVERING.user_delete.sql()),
        ("user_end_memberships", USER_END_MEMBERSHIPS.sql()),
        ("organization_upsert", DELIVERING.organization_upsert.sql()),
        ("organization_delete", DELIVERING.organization_delete.sql()),
        ("organization_end_memberships", ORGANIZATION_END_MEMBERSHIPS.sql()),
        ("membership", DELIVERING.membership.sql()),
        ("invitation", DELIVERING.invitation.sql()),
        ("domain_upsert", DELIVERING.domain_upsert.sql()),
        ("domain_delete", DELIVERING.domain_delete.sql()),
        ("role_upsert", DELIVERING.role_upsert.sql()),
        ("role_permissions", ROLE_PERMISSIONS.sql()),
        ("role_delete", DELIVERING.role_delete.sql()),
        ("permission_upsert", DELIVERING.permission_upsert.sql()),
        ("permission_delete", DELIVERING.permission_delete.sql()),
    ]
}

/// The final `SELECT` of every page and absence statement: the rows the
/// rule changed (Clerk id, its clock after, created or not).
macro_rules! changed_rows {
    ($from:literal) => {
        concat!("SELECT clerk_id, clerk_updated_ms, created FROM ", $from)
    };
}

/// A page of the Backend API's users, applied through the webhooks' rule:
/// `$1`–`$6` arrays; yields the users created or updated.
pub const USERS_PAGE: &str = concat!(
    "WITH incoming_users AS (",
    include_str!("sql/users_from_page.sql"),
    "),\n",
    include_str!("sql/user_upsert.sql"),
    "\n",
    changed_rows!("applied")
);

/// A page of the Backend API's organizations, applied through the webhooks'
/// rule: `$1`–`$5` arrays; yields the organizations created or updated.
pub const ORGANIZATIONS_PAGE: &str = concat!(
    "WITH incoming_organizations AS (",
    include_str!("sql/organizations_from_page.sql"),
    "),\n",
    include_str!("sql/organization_upsert.sql"),
    "\n",
    changed_rows!("applied")
);

/// A page of the Backend API's memberships, applied through the webhooks'
/// rule (placeholders for members and organizations not seen yet, the
/// membership history): `$1`–`$13` arrays; yields the memberships created
/// or updated (by the id the pair's row now shows).
pub const MEMBERSHIPS_PAGE: &str = concat!(
    "WITH incoming_memberships AS (",
    include_str!("sql/memberships_from_page.sql"),
    "),\n",
    nested_organizations!("sql/memberships_nested_organizations.sql"),
    include_str!("sql/membership.sql"),
    "\n",
    changed_rows!("merged WHERE changed")
);

/// Absence from a complete listing (`$1` the moment the listing began, in
/// ms, `$2` NULL, `$3` the run): the rows old enough to be gone, less the
/// ids the run's listing returned, found before anything is deleted (for
/// dry runs, and the guard against mass deletion). A set difference, never
/// a join: its cost cannot hang on the planner's estimates of tables that
/// grew within the run.
macro_rules! absent {
    ($id:literal, $file:literal, $kind:literal) => {
        concat!(
            "SELECT ",
            $id,
            " FROM (",
            include_str!($file),
            ") AS old_enough\n",
            "EXCEPT SELECT clerk_id FROM clerk_reconcile_seen WHERE run_id = $3 AND kind = '",
            $kind,
            "'"
        )
    };
}
pub const USERS_ABSENT: &str = absent!("clerk_user_id", "sql/users_absent.sql", "user");
pub const ORGANIZATIONS_ABSENT: &str = absent!("clerk_org_id", "sql/organizations_absent.sql", "organization");
pub const MEMBERSHIPS_ABSENT: &str = absent!("clerk_membership_id", "sql/memberships_old_enough.sql", "membership");

/// The candidates (`$1` the moment, `$2` their ids, checked again), applied
/// through the webhooks' delete rules (users scrubbed,
/// organizations kept as deleted) and, for memberships, the membership
/// rule as removals; yields the rows deleted. The memberships of deleted
/// users and organizations are ended after, by [`USERS_END_MEMBERSHIPS`] and
/// [`ORGANIZATIONS_END_MEMBERSHIPS`].
pub const USERS_DELETE_ABSENT: &str = concat!(
    "WITH deleted_users AS (",
    include_str!("sql/users_absent.sql"),
    "),\n",
    include_str!("sql/user_delete.sql"),
    "\n",
    "SELECT clerk_id, NULL::bigint AS clerk_updated_ms, false AS created FROM applied"
);
pub const ORGANIZATIONS_DELETE_ABSENT: &str = concat!(
    "WITH deleted_organizations AS (",
    include_str!("sql/organizations_absent.sql"),
    "),\n",
    include_str!("sql/organization_delete.sql"),
    "\n",
    "SELECT clerk_id, NULL::bigint AS clerk_updated_ms, false AS created FROM applied"
);
pub const MEMBERSHIPS_REMOVE_ABSENT: &str = concat!(
    "WITH old_enough AS (",
    include_str!("sql/memberships_old_enough.sql"),
    "),\nincoming_memberships AS (",
    include_str!("sql/memberships_absent.sql"),
    "),\n",
    nested_organizations!("sql/memberships_nested_organizations.sql"),
    include_str!("sql/membership.sql"),
    "\n",
    changed_rows!("merged WHERE changed")
);

/// A page of the Backend API's permissions, applied through the webhooks'
/// rule: `$1`–`$6` arrays; yields the permissions created or updated.
pub const PERMISSIONS_PAGE: &str = concat!(
    "WITH incoming_permissions AS (",
    include_str!("sql/permissions_from_page.sql"),
    "),\n",
    include_str!("sql/permission_upsert.sql"),
    "\n",
    changed_rows!("applied")
);

/// A page of the Backend API's roles, applied through the webhooks' rule
/// (each permission a role lists is real data for it, a placeholder when
/// unknown): `$1`–`$12` arrays (roles_from_page.sql); yields the roles
/// created or updated (a role row that existed before the statement, as its
/// snapshot shows, was updated). [`ROLES_PAGE_PERMISSIONS`] follows it in
/// the same transaction.
pub const ROLES_PAGE: &str = concat!(
    "WITH incoming_roles AS (",
    include_str!("sql/roles_from_page.sql"),
    "),\n",
    include_str!("sql/role_upsert.sql"),
    "\n",
    "SELECT role.clerk_id, n.clerk_updated_ms,\n",
    "       NOT EXISTS (SELECT FROM organization_roles AS o WHERE o.clerk_role_id = role.clerk_id) AS created\n",
    "FROM role JOIN incoming_roles AS n ON n.clerk_role_id = role.clerk_id"
);

/// After [`ROLES_PAGE`], in its transaction: the permission set of each role
/// it applied becomes the one the page lists, as [`ROLE_PERMISSIONS`] does
/// for a webhook. `$1` the roles that list theirs, `$2`/`$3` the pairs.
pub const ROLES_PAGE_PERMISSIONS: &str = include_str!("sql/role_permissions_from_page.sql");

/// A page of the Backend API's domains, applied through the webhooks' rule
/// (a placeholder for an organization not seen yet): `$1`–`$10` arrays;
/// yields the domains created or updated.
pub const DOMAINS_PAGE: &str = concat!(
    "WITH incoming_domains AS (",
    include_str!("sql/domains_from_page.sql"),
    "),\n",
    nested_organizations!("sql/domains_nested_organizations.sql"),
    include_str!("sql/domain_upsert.sql"),
    "\n",
    changed_rows!("applied")
);

/// A page of the Backend API's invitations, applied through the webhooks'
/// rule (placeholders for the organization and the accepting user; ordered
/// by updated_at, then terminal status): `$1`–`$11` arrays; yields the
/// invitations created or updated.
pub const INVITATIONS_PAGE: &str = concat!(
    "WITH incoming_invitations AS (",
    include_str!("sql/invitations_from_page.sql"),
    "),\n",
    nested_organizations!("sql/invitations_nested_organizations.sql"),
    include_str!("sql/invitation.sql"),
    "\n",
    changed_rows!("invited")
);

pub const PERMISSIONS_ABSENT: &str = absent!("clerk_permission_id", "sql/permissions_absent.sql", "permission");
pub const ROLES_ABSENT: &str = absent!("clerk_role_id", "sql/roles_absent.sql", "role");
pub const DOMAINS_ABSENT: &str = absent!("clerk_domain_id", "sql/domains_absent.sql", "domain");

/// Permissions, roles and domains absent from a complete listing, soft
/// deleted through the webhooks' delete rules (at the moment the listing
/// began; the earliest delete wins). Invitations have none: Clerk never
/// deletes one (no `organizationInvitation.deleted` exists), so an
/// invitation absent from a listing is left as it is.
pub const PERMISSIONS_DELETE_ABSENT: &str = concat!(
    "WITH deleted_permissions AS (",
    include_str!("sql/permissions_absent.sql"),
    "),\n",
    include_str!("sql/permission_delete.sql"),
    "\n",
    "SELECT clerk_id, NULL::bigint AS clerk_updated_ms, false AS created FROM applied"
);
pub const ROLES_DELETE_ABSENT: &str = concat!(
    "WITH deleted_roles AS (",
    include_str!("sql/roles_absent.sql"),
    "),\n",
    include_str!("sql/role_delete.sql"),
    "\n",
    "SELECT clerk_id, NULL::bigint AS clerk_updated_ms, false AS created FROM applied"
);
pub const DOMAINS_DELETE_ABSENT: &str = concat!(
    "WITH deleted_domains AS (",
    include_str!("sql/domains_absent.sql"),
    "),\n",
    include_str!("sql/domain_delete.sql"),
    "\n",
    "SELECT clerk_id, NULL::bigint AS clerk_updated_ms, false AS created FROM applied"
);

#[cfg(test)]
mod tests {
    use super::routines;

    #[test]
    fn every_routine_has_a_name_of_its_own_within_postgres_limit() {
        let names: Vec<&str> = routines().iter().map(|r| r.function()).collect();
        for name in &names {
            assert!(name.len() <= 63, "PostgreSQL would truncate {name}");
            assert_eq!(names.iter().filter(|n| *n == name).count(), 1, "{name} twice");
        }
    }
}
