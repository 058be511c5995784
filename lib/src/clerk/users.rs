//! `user.*`: a user's payload, read into what the database keeps.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    read::{deletion, id_error, read},
    time::valid_ms,
};
use crate::ids::ClerkUserId;

/// A user as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: ClerkUserId,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: Option<String>,
    pub updated_ms: i64,
}

/// What a `user.*` event asks of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    Upsert(UserRecord),
    Delete { id: ClerkUserId, deleted_ms: i64 },
}

pub(super) fn change(action: &str, data: &RawValue, timestamp: Option<i64>) -> Result<UserChange, String> {
    match action {
        "deleted" => {
            deletion(data, timestamp, ClerkUserId::parse).map(|(id, deleted_ms)| UserChange::Delete { id, deleted_ms })
        }
        _ => parse_user(data).map(UserChange::Upsert),
    }
}

fn parse_user(data: &RawValue) -> Result<UserRecord, String> {
    #[derive(Deserialize)]
    struct EmailAddress {
        id: Option<String>,
        email_address: Option<String>,
    }
    #[derive(Deserialize)]
    struct User {
        id: String,
        first_name: Option<String>,
        last_name: Option<String>,
        image_url: Option<String>,
        #[serde(default)]
        email_addresses: Option<Vec<EmailAddress>>,
        primary_email_address_id: Option<String>,
        updated_at: Option<i64>,
    }
    let user: User = read(data)?;
    // The primary is the one its id names, not necessarily the first.
    let email = user.primary_email_address_id.as_deref().and_then(|primary| {
        user.email_addresses
            .iter()
            .flatten()
            .find(|e| e.id.as_deref() == Some(primary))
            .and_then(|e| e.email_address.clone())
    });
    Ok(UserRecord {
        id: ClerkUserId::parse(&user.id).map_err(id_error("data.id"))?,
        email,
        first_name: user.first_name,
        last_name: user.last_name,
        image_url: user.image_url,
        updated_ms: valid_ms(user.updated_at.ok_or("data.updated_at is missing")?, "data.updated_at")?,
    })
}
