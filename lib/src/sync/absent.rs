//! Objects a complete listing of Clerk's Backend API no longer holds,
//! applied through the webhooks' own rules: users deleted (scrubbed),
//! organizations deleted (kept, named), memberships removed through the
//! membership rule, their memberships ended as a delete webhook ends them;
//! permissions, roles and domains soft deleted through their delete rules.
//! Invitations have no absence rule: Clerk never deletes an invitation (it
//! sends no such webhook), so one absent from a listing is left as it is.
//! The run's ids seen live in `clerk_reconcile_seen`; a row written or
//! updated after the listing began is spared. The candidates are found
//! first (counted, checked against a mass deletion), then applied by id,
//! each checked again.

use crate::db::Client;
use tokio_postgres::{types::Type, Error};

use super::{
    pages::{applied, Applied},
    statements::{
        DOMAINS_ABSENT, DOMAINS_DELETE_ABSENT, MEMBERSHIPS_ABSENT, MEMBERSHIPS_REMOVE_ABSENT, ORGANIZATIONS_ABSENT,
        ORGANIZATIONS_DELETE_ABSENT, ORGANIZATIONS_END_MEMBERSHIPS, PERMISSIONS_ABSENT, PERMISSIONS_DELETE_ABSENT,
        ROLES_ABSENT, ROLES_DELETE_ABSENT, USERS_ABSENT, USERS_DELETE_ABSENT, USERS_END_MEMBERSHIPS,
    },
};
use crate::db::statements::prepare;

/// One kind's statements.
#[derive(Debug, Clone, Copy)]
pub struct AbsenceRule {
    candidates: &'static str,
    apply: &'static str,
    end_memberships: Option<&'static str>,
    live: &'static str,
}

pub const USERS: AbsenceRule = AbsenceRule {
    candidates: USERS_ABSENT,
    apply: USERS_DELETE_ABSENT,
    end_memberships: Some(USERS_END_MEMBERSHIPS),
    live: "SELECT count(*) FROM users WHERE deleted_at IS NULL",
};

pub const ORGANIZATIONS: AbsenceRule = AbsenceRule {
    candidates: ORGANIZATIONS_ABSENT,
    apply: ORGANIZATIONS_DELETE_ABSENT,
    end_memberships: Some(ORGANIZATIONS_END_MEMBERSHIPS),
    live: "SELECT count(*) FROM organization WHERE deleted_at IS NULL",
};

pub const MEMBERSHIPS: AbsenceRule = AbsenceRule {
    candidates: MEMBERSHIPS_ABSENT,
    apply: MEMBERSHIPS_REMOVE_ABSENT,
    end_memberships: None,
    live: "SELECT count(*) FROM user_organizations WHERE deleted_at IS NULL",
};

/// Soft deleted, as `permission.deleted` does; roles keep listing them.
pub const PERMISSIONS: AbsenceRule = AbsenceRule {
    candidates: PERMISSIONS_ABSENT,
    apply: PERMISSIONS_DELETE_ABSENT,
    end_memberships: None,
    live: "SELECT count(*) FROM organization_permissions WHERE deleted_at IS NULL",
};

/// Soft deleted, as `role.deleted` does; their permission sets stay.
pub const ROLES: AbsenceRule = AbsenceRule {
    candidates: ROLES_ABSENT,
    apply: ROLES_DELETE_ABSENT,
    end_memberships: None,
    live: "SELECT count(*) FROM organization_roles WHERE deleted_at IS NULL",
};

/// Soft deleted, as `organizationDomain.deleted` does.
pub const DOMAINS: AbsenceRule = AbsenceRule {
    candidates: DOMAINS_ABSENT,
    apply: DOMAINS_DELETE_ABSENT,
    end_memberships: None,
    live: "SELECT count(*) FROM organization_domains WHERE deleted_at IS NULL",
};

/// `$1` when the listing began (ms), `$2` ids, `$3` the run.
const PARAMETER_TYPES: [Type; 3] = [Type::INT8, Type::TEXT_ARRAY, Type::INT8];

/// The statements of one absence batch, prepared beforehand so that a
/// flight never waits on a prepare.
pub struct PreparedAbsence {
    apply: crate::db::statements::Prepared,
    end_memberships: Option<crate::db::statements::Prepared>,
}

impl AbsenceRule {
    /// The Clerk ids of the live rows the run (`run`) has not seen, older
    /// than `began_ms`, when the listing began.
    pub async fn candidates(&self, client: &Client, run: i64, began_ms: i64) -> Result<Vec<String>, Error> {
        let stmt = prepare(client, self.candidates, &PARAMETER_TYPES).await?;
        let rows = client.query(&stmt, &[&began_ms, &None::<Vec<String>>, &run]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Live rows of the kind.
    pub async fn live(&self, client: &Client) -> Result<u64, Error> {
        let n: i64 = client.query_one(self.live, &[]).await?.get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub async fn prepare(&self, client: &Client) -> Result<PreparedAbsence, Error> {
        let apply = prepare(client, self.apply, &PARAMETER_TYPES).await?;
        let end_memberships = match self.end_memberships {
            Some(sql) => Some(prepare(client, sql, &[Type::TEXT_ARRAY]).await?),
            None => None,
        };
        Ok(PreparedAbsence { apply, end_memberships })
    }
}

impl PreparedAbsence {
    /// Deletes (or removes) the candidates still absent: the rows changed.
    /// The caller's transaction must then [`Self::end_memberships`].
    pub async fn apply(&self, client: &Client, run: i64, began_ms: i64, ids: &[String]) -> Result<Applied, Error> {
        let rows = client.query(&self.apply, &[&began_ms, &ids, &run]).await?;
        Ok(applied(&rows))
    }

    /// Ends the memberships of the users or organizations just deleted.
    pub async fn end_memberships(&self, client: &Client, deleted: &Applied) -> Result<(), Error> {
        let Some(stmt) = &self.end_memberships else { return Ok(()) };
        if deleted.changed.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = deleted.changed.iter().map(|c| c.clerk_id.as_str()).collect();
        client.execute(stmt, &[&ids]).await.map(drop)
    }
}
