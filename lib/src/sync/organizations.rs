//! `organization.*`: an upsert when newer (a deleted organization keeps
//! converging its name), or a final delete that ends its memberships
//! (sql/organization_*.sql).

use crate::db::Client;
use tokio_postgres::{types::Type, Error, Row};

use super::{
    deletes::delete_and_end_memberships,
    event::Params,
    statements::{with_event_types, Statements, ORGANIZATION_END_MEMBERSHIPS},
};
use crate::{
    clerk::{OrgChange, OrgRecord},
    db::statements::prepare,
};

const UPSERT_TYPES: [Type; 5] = [Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8];

pub(super) async fn apply(
    client: &Client,
    statements: &Statements,
    event: &Params<'_>,
    change: &OrgChange,
) -> Result<Row, Error> {
    match change {
        OrgChange::Upsert(org) => upsert(client, statements.organization_upsert, event, org).await,
        OrgChange::Delete { id, deleted_ms } => {
            let (delete, end) = (statements.organization_delete, ORGANIZATION_END_MEMBERSHIPS);
            delete_and_end_memberships(client, event, delete, end, id.as_str(), *deleted_ms).await
        }
    }
}

async fn upsert(client: &Client, sql: &str, event: &Params<'_>, org: &OrgRecord) -> Result<Row, Error> {
    let stmt = prepare(client, sql, &with_event_types(&UPSERT_TYPES)).await?;
    let id = org.id.as_str();
    let mut params = event.to_vec();
    params.extend_from_slice(&[&id, &org.name, &org.slug, &org.image_url, &org.updated_ms]);
    crate::db::statements::single(client, client.query_one(&stmt, &params)).await
}
