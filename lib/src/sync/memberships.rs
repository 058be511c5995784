//! `organizationMembership.*`: one statement that fills placeholders for
//! the member and the nested organization and merges the membership into
//! its pair's history (sql/membership.sql).

use crate::db::Client;
use tokio_postgres::{types::Type, Error, Row};

use super::{
    event::Params,
    statements::{with_event_types, Statements},
};
use crate::{clerk::MembershipRecord, db::statements::prepare};

const TYPES: [Type; 14] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::BOOL,
];

pub(super) async fn apply(
    client: &Client,
    statements: &Statements,
    event: &Params<'_>,
    m: &MembershipRecord,
) -> Result<Row, Error> {
    let stmt = prepare(client, statements.membership, &with_event_types(&TYPES)).await?;
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
    crate::db::statements::single(client, client.query_one(&stmt, &params)).await
}
