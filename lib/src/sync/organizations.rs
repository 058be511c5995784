//! `organization.*`: an upsert when newer (a deleted organization keeps
//! converging its name), or a final delete that ends its memberships
//! (sql/organization_*.sql).

use crate::db::Client;
use tokio_postgres::{Error, Row};

use super::{
    deletes::delete_and_end_memberships,
    event::Params,
    statements::{Statements, ORGANIZATION_END_MEMBERSHIPS},
};
use crate::{
    clerk::{OrgChange, OrgRecord},
    db::{routines::Routine, statements::prepare_routine},
};

pub(super) async fn apply(
    client: &Client,
    statements: &'static Statements,
    event: &Params<'_>,
    change: &OrgChange,
) -> Result<Row, Error> {
    match change {
        OrgChange::Upsert(org) => upsert(client, &statements.organization_upsert, event, org).await,
        OrgChange::Delete { id, deleted_ms } => {
            let (delete, end) = (&statements.organization_delete, &ORGANIZATION_END_MEMBERSHIPS);
            delete_and_end_memberships(client, event, delete, end, id.as_str(), *deleted_ms).await
        }
    }
}

async fn upsert(client: &Client, routine: &'static Routine, event: &Params<'_>, org: &OrgRecord) -> Result<Row, Error> {
    let stmt = prepare_routine(client, routine).await?;
    let id = org.id.as_str();
    let mut params = event.to_vec();
    params.extend_from_slice(&[&id, &org.name, &org.slug, &org.image_url, &org.updated_ms]);
    client.query_one(&stmt, &params).await
}
