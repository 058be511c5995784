//! `user.*`: an upsert when newer, or a final delete that ends the user's
//! memberships (sql/user_*.sql).

use crate::db::Client;
use tokio_postgres::{types::Type, Error, Row};

use super::{
    deletes::delete_and_end_memberships,
    event::Params,
    statements::{with_event_types, Statements, USER_END_MEMBERSHIPS},
};
use crate::{
    clerk::{UserChange, UserRecord},
    db::statements::prepare,
};

const UPSERT_TYPES: [Type; 6] = [Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8];

pub(super) async fn apply(
    client: &Client,
    statements: &Statements,
    event: &Params<'_>,
    change: &UserChange,
) -> Result<Row, Error> {
    match change {
        UserChange::Upsert(user) => upsert(client, statements.user_upsert, event, user).await,
        UserChange::Delete { id, deleted_ms } => {
            delete_and_end_memberships(
                client,
                event,
                statements.user_delete,
                USER_END_MEMBERSHIPS,
                id.as_str(),
                *deleted_ms,
            )
            .await
        }
    }
}

async fn upsert(client: &Client, sql: &str, event: &Params<'_>, user: &UserRecord) -> Result<Row, Error> {
    let stmt = prepare(client, sql, &with_event_types(&UPSERT_TYPES)).await?;
    let id = user.id.as_str();
    let mut params = event.to_vec();
    params.extend_from_slice(&[&id, &user.email, &user.first_name, &user.last_name, &user.image_url, &user.updated_ms]);
    crate::db::statements::single(client, client.query_one(&stmt, &params)).await
}
