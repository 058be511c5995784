//! `user.*`: an upsert when newer, or a final delete that ends the user's
//! memberships (sql/user_*.sql).

use crate::db::Client;
use tokio_postgres::{Error, Row};

use super::{
    deletes::delete_and_end_memberships,
    event::Params,
    statements::{Statements, USER_END_MEMBERSHIPS},
};
use crate::{
    clerk::{UserChange, UserRecord},
    db::{routines::Routine, statements::prepare_routine},
};

pub(super) async fn apply(
    client: &Client,
    statements: &'static Statements,
    event: &Params<'_>,
    change: &UserChange,
) -> Result<Row, Error> {
    match change {
        UserChange::Upsert(user) => upsert(client, &statements.user_upsert, event, user).await,
        UserChange::Delete { id, deleted_ms } => {
            delete_and_end_memberships(
                client,
                event,
                &statements.user_delete,
                &USER_END_MEMBERSHIPS,
                id.as_str(),
                *deleted_ms,
            )
            .await
        }
    }
}

async fn upsert(
    client: &Client,
    routine: &'static Routine,
    event: &Params<'_>,
    user: &UserRecord,
) -> Result<Row, Error> {
    let stmt = prepare_routine(client, routine).await?;
    let id = user.id.as_str();
    let mut params = event.to_vec();
    params.extend_from_slice(&[&id, &user.email, &user.first_name, &user.last_name, &user.image_url, &user.updated_ms]);
    client.query_one(&stmt, &params).await
}
