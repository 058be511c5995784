//! `organizationInvitation.*`: one statement that makes placeholders for
//! the organization and the accepting user and applies the invitation by
//! its clock (sql/invitation.sql).

use crate::db::Client;
use tokio_postgres::{Error, Row};

use super::{event::Params, statements::Statements};
use crate::{clerk::InvitationRecord, db::statements::prepare_routine};

pub(super) async fn apply(
    client: &Client,
    statements: &'static Statements,
    event: &Params<'_>,
    invitation: &InvitationRecord,
) -> Result<Row, Error> {
    let stmt = prepare_routine(client, &statements.invitation).await?;
    let (id, org) = (invitation.id.as_str(), &invitation.organization);
    let org_id = org.id.as_str();
    let user_id = invitation.user_id.as_ref().map(|id| id.as_str());
    let mut params = event.to_vec();
    params.extend_from_slice(&[
        &id,
        &org_id,
        &org.name,
        &org.slug,
        &org.image_url,
        &invitation.email_address,
        &invitation.role,
        &invitation.status,
        &invitation.expires_ms,
        &user_id,
        &invitation.updated_ms,
    ]);
    client.query_one(&stmt, &params).await
}
