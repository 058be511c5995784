//! `organizationMembership.*`: one statement that fills placeholders for
//! the member and the nested organization and merges the membership into
//! its pair's history (sql/membership.sql).

use crate::db::Client;
use tokio_postgres::{Error, Row};

use super::{event::Params, statements::Statements};
use crate::{clerk::MembershipRecord, db::statements::prepare_routine};

pub(super) async fn apply(
    client: &Client,
    statements: &'static Statements,
    event: &Params<'_>,
    m: &MembershipRecord,
) -> Result<Row, Error> {
    let stmt = prepare_routine(client, &statements.membership).await?;
    let (user_id, org_id, membership_id) = (m.member.user_id.as_str(), m.organization.id.as_str(), m.id.as_str());
    let mut params = event.to_vec();
    params.extend_from_slice(&[
        &user_id,
        &m.member.first_name,
        &m.member.last_name,
        &m.member.image_url,
        &m.member.email,
        &org_id,
        &m.organization.name,
        &m.organization.slug,
        &m.organization.image_url,
        &m.organization.updated_ms,
        &membership_id,
        &m.role,
        &m.event_ms,
        &m.removed,
    ]);
    client.query_one(&stmt, &params).await
}
