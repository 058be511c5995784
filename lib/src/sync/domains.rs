//! `organizationDomain.*`: an upsert when newer, with a placeholder for the
//! organization (a deleted domain keeps converging its data), or a final
//! soft delete (sql/domain_*.sql).

use crate::db::Client;
use tokio_postgres::{Error, Row};

use super::{deletes::delete, event::Params, statements::Statements};
use crate::{
    clerk::{DomainChange, DomainRecord},
    db::{routines::Routine, statements::prepare_routine},
};

pub(super) async fn apply(
    client: &Client,
    statements: &'static Statements,
    event: &Params<'_>,
    change: &DomainChange,
) -> Result<Row, Error> {
    match change {
        DomainChange::Upsert(domain) => upsert(client, &statements.domain_upsert, event, domain).await,
        DomainChange::Delete { id, deleted_ms } => {
            delete(client, event, &statements.domain_delete, id.as_str(), *deleted_ms).await
        }
    }
}

async fn upsert(
    client: &Client,
    routine: &'static Routine,
    event: &Params<'_>,
    domain: &DomainRecord,
) -> Result<Row, Error> {
    let stmt = prepare_routine(client, routine).await?;
    let (id, org) = (domain.id.as_str(), &domain.organization);
    let org_id = org.id.as_str();
    let mut params = event.to_vec();
    params.extend_from_slice(&[
        &id,
        &org_id,
        &org.name,
        &org.slug,
        &org.image_url,
        &domain.name,
        &domain.enrollment_mode,
        &domain.verification_status,
        &domain.affiliation_email_address,
        &domain.updated_ms,
    ]);
    client.query_one(&stmt, &params).await
}
