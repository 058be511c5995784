//! Seller accounts and their Amazon SP-API (Login with Amazon) credentials.
//!
//! - Every query names the organization: an id from another organization
//!   behaves exactly like an id that does not exist.
//! - Credentials are encrypted before they reach the database, each bound
//!   to `seller_accounts:<row id>:<field>`, so a value copied to another
//!   row, field or tenant does not decrypt.
//! - [`get`] and [`list`] return [`SellerAccount`], which has no secret;
//!   [`credentials`] is the only function that decrypts.
//! - [`rotate_keys`] is the operator's exception to tenant scoping: it
//!   re-encrypts every organization's credentials under the current key.

use std::{fmt, str::FromStr, sync::LazyLock};

use crate::db::Client;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::{error::SqlState, types::Type, Row};
use uuid::Uuid;

use crate::{
    db::{
        statements::{begin_with, commit_with, prepare, rollback},
        DbError,
    },
    timestamp::rfc3339,
    vault::{Ciphertext, ExposeSecret, SecretString, Vault, VaultError},
};

/// Amazon SP-API selling region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// North America
    Na,
    /// Europe (with India, Turkey and the Middle East)
    Eu,
    /// Far East
    Fe,
}

impl Region {
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Na => "na",
            Region::Eu => "eu",
            Region::Fe => "fe",
        }
    }
}

impl FromStr for Region {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "na" => Ok(Region::Na),
            "eu" => Ok(Region::Eu),
            "fe" => Ok(Region::Fe),
            _ => Err(ValidationError { field: "region", reason: "must be one of na, eu, fe" }),
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field that failed validation. The message names the field and never
/// quotes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: &'static str,
    pub reason: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid seller account: {0}")]
    Invalid(#[from] ValidationError),
    /// No such account in this organization (it may exist in another).
    #[error("seller account not found")]
    NotFound,
    /// Rows elsewhere (analytics) still reference the account.
    #[error("seller account is still referenced by {by}")]
    InUse { by: &'static str },
    /// The row has no stored value for this credential.
    #[error("seller account has no stored {0}")]
    MissingCredential(&'static str),
    #[error("credential vault: {0}")]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Db(e.into())
    }
}

/// Login-with-Amazon credentials. Each value is zeroized on drop and never
/// printed.
pub struct LwaCredentials {
    pub refresh_token: SecretString,
    pub client_id: SecretString,
    pub client_secret: SecretString,
}

impl fmt::Debug for LwaCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LwaCredentials { refresh_token: [REDACTED], client_id: [REDACTED], client_secret: [REDACTED] }")
    }
}

impl LwaCredentials {
    pub fn new(
        refresh_token: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            refresh_token: SecretString::from(refresh_token.into()),
            client_id: SecretString::from(client_id.into()),
            client_secret: SecretString::from(client_secret.into()),
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        for (field, value) in self.fields() {
            let value = value.expose_secret();
            if value.trim().is_empty() {
                return Err(ValidationError { field, reason: "must not be empty" });
            }
            if value.len() > MAX_CREDENTIAL_LEN {
                return Err(ValidationError { field, reason: "is longer than 8192 bytes" });
            }
        }
        Ok(())
    }

    fn fields(&self) -> [(&'static str, &SecretString); 3] {
        [
            (Field::RefreshToken.input_name(), &self.refresh_token),
            (Field::ClientId.input_name(), &self.client_id),
            (Field::ClientSecret.input_name(), &self.client_secret),
        ]
    }

    /// The three envelopes for row `id`, in column order.
    fn encrypt(&self, vault: &Vault, id: Uuid) -> Result<[String; 3], VaultError> {
        let [a, b, c] = Field::ALL;
        Ok([
            vault.encrypt_str(self.refresh_token.expose_secret(), &a.context(id))?.into_string(),
            vault.encrypt_str(self.client_id.expose_secret(), &b.context(id))?.into_string(),
            vault.encrypt_str(self.client_secret.expose_secret(), &c.context(id))?.into_string(),
        ])
    }
}

const MAX_CREDENTIAL_LEN: usize = 8192;

/// The encrypted columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    RefreshToken,
    ClientId,
    ClientSecret,
}

impl Field {
    const ALL: [Field; 3] = [Field::RefreshToken, Field::ClientId, Field::ClientSecret];

    /// The name in the encryption context: `seller_accounts:<id>:<name>`.
    fn name(self) -> &'static str {
        match self {
            Field::RefreshToken => "lwa_refresh_token",
            Field::ClientId => "lwa_client_id",
            Field::ClientSecret => "lwa_client_secret",
        }
    }

    fn input_name(self) -> &'static str {
        match self {
            Field::RefreshToken => "credentials.refresh_token",
            Field::ClientId => "credentials.client_id",
            Field::ClientSecret => "credentials.client_secret",
        }
    }

    fn context(self, id: Uuid) -> String {
        format!("seller_accounts:{}:{}", id.hyphenated(), self.name())
    }
}

/// A seller account as the app shows it: no credential in any form.
/// Timestamps are RFC 3339 in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SellerAccount {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub user_id: Option<Uuid>,
    pub seller_id: String,
    pub marketplace_id: String,
    pub marketplace_code: Option<String>,
    pub marketplace_name: Option<String>,
    pub region: Option<Region>,
    pub currency: Option<String>,
    pub status: String,
    /// All three credentials are stored.
    pub has_credentials: bool,
    pub last_sync_at: Option<String>,
    pub last_error_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// What [`connect`] wrote: the account, and whether it is new (else an
/// existing one was updated).
#[derive(Debug, Clone, Serialize)]
pub struct Upserted {
    pub account: SellerAccount,
    pub created: bool,
}

/// Connecting a seller account to an organization.
#[derive(Debug)]
pub struct NewSellerAccount {
    pub seller_id: String,
    pub marketplace_id: String,
    pub marketplace_code: Option<String>,
    pub marketplace_name: Option<String>,
    pub region: Option<Region>,
    /// ISO 4217 code, three uppercase letters.
    pub currency: Option<String>,
    /// The user who connected it.
    pub user_id: Option<Uuid>,
    pub credentials: LwaCredentials,
}

impl NewSellerAccount {
    fn validate(&self) -> Result<(), ValidationError> {
        check_id("seller_id", &self.seller_id)?;
        check_id("marketplace_id", &self.marketplace_id)?;
        check_optional_text("marketplace_code", self.marketplace_code.as_deref(), 16)?;
        check_optional_text("marketplace_name", self.marketplace_name.as_deref(), 200)?;
        check_currency(self.currency.as_deref())?;
        self.credentials.validate()
    }
}

/// A change to an account; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct SellerAccountUpdate {
    pub marketplace_code: Option<String>,
    pub marketplace_name: Option<String>,
    pub region: Option<Region>,
    pub currency: Option<String>,
    pub status: Option<String>,
    /// New credentials replace all three stored ones.
    pub credentials: Option<LwaCredentials>,
}

impl SellerAccountUpdate {
    fn validate(&self) -> Result<(), ValidationError> {
        check_optional_text("marketplace_code", self.marketplace_code.as_deref(), 16)?;
        check_optional_text("marketplace_name", self.marketplace_name.as_deref(), 200)?;
        check_currency(self.currency.as_deref())?;
        if let Some(status) = &self.status {
            let valid = (1..=32).contains(&status.len()) && status.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !valid {
                return Err(ValidationError { field: "status", reason: "must be 1-32 lowercase letters or _" });
            }
        }
        match &self.credentials {
            Some(credentials) => credentials.validate(),
            None => Ok(()),
        }
    }
}

/// Amazon ids (seller, marketplace) are short uppercase alphanumerics; this
/// is looser, but keeps out whitespace, separators and control characters.
fn check_id(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError { field, reason: "must not be empty" });
    }
    if value.len() > 64 {
        return Err(ValidationError { field, reason: "is longer than 64 characters" });
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(ValidationError { field, reason: "may hold only ASCII letters, digits, '-', '_' and '.'" });
    }
    Ok(())
}

fn check_optional_text(field: &'static str, value: Option<&str>, max_chars: usize) -> Result<(), ValidationError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(ValidationError { field, reason: "must not be blank" }),
        Some(v) if v.chars().count() > max_chars => Err(ValidationError { field, reason: "is too long" }),
        Some(v) if v.chars().any(char::is_control) => {
            Err(ValidationError { field, reason: "must not contain control characters" })
        }
        _ => Ok(()),
    }
}

fn check_currency(value: Option<&str>) -> Result<(), ValidationError> {
    match value {
        Some(c) if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) => {
            Err(ValidationError { field: "currency", reason: "must be three uppercase letters (ISO 4217)" })
        }
        _ => Ok(()),
    }
}

/// What every query returns: never a credential column itself.
const COLUMNS: &str = "id, organization_id, user_id, seller_id, marketplace_id, marketplace_code, marketplace_name,
    region, currency, status,
    (lwa_refresh_token_encrypted IS NOT NULL AND lwa_client_id_encrypted IS NOT NULL
     AND lwa_client_secret_encrypted IS NOT NULL) AS has_credentials,
    last_sync_at, last_error_at, last_error, created_at, updated_at";

fn read_account(row: &Row) -> Result<SellerAccount, StoreError> {
    let region = match row.try_get::<_, Option<&str>>("region")? {
        None => None,
        Some(r) => {
            Some(r.parse().map_err(|_| DbError::Schema("seller_accounts.region holds an unknown value".into()))?)
        }
    };
    Ok(SellerAccount {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        user_id: row.try_get("user_id")?,
        seller_id: row.try_get("seller_id")?,
        marketplace_id: row.try_get("marketplace_id")?,
        marketplace_code: row.try_get("marketplace_code")?,
        marketplace_name: row.try_get("marketplace_name")?,
        region,
        currency: row.try_get("currency")?,
        status: row.try_get("status")?,
        has_credentials: row.try_get("has_credentials")?,
        last_sync_at: row.try_get::<_, Option<OffsetDateTime>>("last_sync_at")?.map(rfc3339),
        last_error_at: row.try_get::<_, Option<OffsetDateTime>>("last_error_at")?.map(rfc3339),
        last_error: row.try_get("last_error")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

/// A foreign key the caller supplied that names no row.
fn invalid_reference(e: tokio_postgres::Error) -> StoreError {
    let constraint =
        e.as_db_error().filter(|d| *d.code() == SqlState::FOREIGN_KEY_VIOLATION).and_then(|d| d.constraint());
    match constraint {
        Some(c) if c.contains("organization_id") => {
            ValidationError { field: "organization_id", reason: "no such organization" }.into()
        }
        Some(c) if c.contains("user_id") => ValidationError { field: "user_id", reason: "no such user" }.into(),
        _ => e.into(),
    }
}

// $1 organization_id, $2 user_id, $3 seller_id, $4 marketplace_id,
// $5 marketplace_code, $6 marketplace_name, $7 region, $8 currency.
// Connecting again is a fresh start: the account is active and its last
// error (likely about the old credentials) is cleared.
const UPSERT: &str = "INSERT INTO seller_accounts AS s
        (organization_id, user_id, seller_id, marketplace_id, marketplace_code, marketplace_name, region, currency)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (organization_id, seller_id, marketplace_id) DO UPDATE SET
        user_id = coalesce(EXCLUDED.user_id, s.user_id),
        marketplace_code = EXCLUDED.marketplace_code, marketplace_name = EXCLUDED.marketplace_name,
        region = EXCLUDED.region, currency = EXCLUDED.currency,
        status = 'active', last_error = NULL, last_error_at = NULL, updated_at = now()
    -- xmax is 0 on a row this statement inserted, the locker's id on one it updated.
    RETURNING id, (xmax = 0) AS created";
const UPSERT_TYPES: [Type; 8] =
    [Type::UUID, Type::UUID, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT];

// $1 id, $2 organization_id, $3-$5 envelopes.
static STORE_CREDENTIALS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE seller_accounts SET lwa_refresh_token_encrypted = $3, lwa_client_id_encrypted = $4,
             lwa_client_secret_encrypted = $5
         WHERE id = $1 AND organization_id = $2
         RETURNING {}",
        COLUMNS
    )
});
const STORE_CREDENTIALS_TYPES: [Type; 5] = [Type::UUID, Type::UUID, Type::TEXT, Type::TEXT, Type::TEXT];

/// [`connect`], for callers that need only the account.
pub async fn upsert(
    client: &Client,
    vault: &Vault,
    organization_id: Uuid,
    account: &NewSellerAccount,
) -> Result<SellerAccount, StoreError> {
    Ok(connect(client, vault, organization_id, account).await?.account)
}

/// Connects a seller account to `organization_id`, or updates it when this
/// seller and marketplace are already connected there (never a duplicate).
///
/// The row id is part of each credential's encryption context, so the row
/// is written first, then its credentials, in one transaction of two round
/// trips (`BEGIN` + upsert, then credentials + `COMMIT`).
pub async fn connect(
    client: &Client,
    vault: &Vault,
    organization_id: Uuid,
    account: &NewSellerAccount,
) -> Result<Upserted, StoreError> {
    account.validate()?;
    let (upsert, store) = tokio::try_join!(
        prepare(client, UPSERT, &UPSERT_TYPES),
        prepare(client, &STORE_CREDENTIALS, &STORE_CREDENTIALS_TYPES),
    )?;
    let region = account.region.map(Region::as_str);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        &organization_id,
        &account.user_id,
        &account.seller_id,
        &account.marketplace_id,
        &account.marketplace_code,
        &account.marketplace_name,
        &region,
        &account.currency,
    ];
    let row = begin_with(client, client.query_one(&upsert, &params)).await.map_err(invalid_reference)?;
    let (id, created): (Uuid, bool) = (row.get(0), row.get(1));
    let [refresh_token, client_id, client_secret] = match account.credentials.encrypt(vault, id) {
        Ok(envelopes) => envelopes,
        Err(e) => {
            rollback(client).await;
            return Err(e.into());
        }
    };
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&id, &organization_id, &refresh_token, &client_id, &client_secret];
    let account = read_account(&commit_with(client, client.query_one(&store, &params)).await?)?;
    Ok(Upserted { account, created })
}

// $1 id, $2 organization_id, $3 marketplace_code, $4 marketplace_name,
// $5 region, $6 currency, $7 status, $8-$10 envelopes; NULL keeps a value.
static UPDATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE seller_accounts SET
             marketplace_code = coalesce($3, marketplace_code), marketplace_name = coalesce($4, marketplace_name),
             region = coalesce($5, region), currency = coalesce($6, currency), status = coalesce($7, status),
             lwa_refresh_token_encrypted = coalesce($8, lwa_refresh_token_encrypted),
             lwa_client_id_encrypted = coalesce($9, lwa_client_id_encrypted),
             lwa_client_secret_encrypted = coalesce($10, lwa_client_secret_encrypted),
             updated_at = now()
         WHERE id = $1 AND organization_id = $2
         RETURNING {}",
        COLUMNS
    )
});
const UPDATE_TYPES: [Type; 10] = [
    Type::UUID,
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// Changes an account of `organization_id`. The id is known, so new
/// credentials are encrypted first and everything is one statement.
pub async fn update(
    client: &Client,
    vault: &Vault,
    organization_id: Uuid,
    id: Uuid,
    change: &SellerAccountUpdate,
) -> Result<SellerAccount, StoreError> {
    change.validate()?;
    let [refresh_token, client_id, client_secret] = match &change.credentials {
        Some(credentials) => credentials.encrypt(vault, id)?.map(Some),
        None => [None, None, None],
    };
    let stmt = prepare(client, &UPDATE, &UPDATE_TYPES).await?;
    let region = change.region.map(Region::as_str);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] = [
        &id,
        &organization_id,
        &change.marketplace_code,
        &change.marketplace_name,
        &region,
        &change.currency,
        &change.status,
        &refresh_token,
        &client_id,
        &client_secret,
    ];
    match client.query_opt(&stmt, &params).await? {
        Some(row) => read_account(&row),
        None => Err(StoreError::NotFound),
    }
}

static GET: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM seller_accounts WHERE id = $1 AND organization_id = $2", COLUMNS));

/// One account of `organization_id`, without credentials.
pub async fn get(client: &Client, organization_id: Uuid, id: Uuid) -> Result<SellerAccount, StoreError> {
    let stmt = prepare(client, &GET, &[Type::UUID, Type::UUID]).await?;
    match client.query_opt(&stmt, &[&id, &organization_id]).await? {
        Some(row) => read_account(&row),
        None => Err(StoreError::NotFound),
    }
}

static LIST: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {} FROM seller_accounts WHERE organization_id = $1 ORDER BY created_at, id", COLUMNS)
});

/// The accounts of `organization_id`, oldest first, without credentials.
pub async fn list(client: &Client, organization_id: Uuid) -> Result<Vec<SellerAccount>, StoreError> {
    let stmt = prepare(client, &LIST, &[Type::UUID]).await?;
    client.query(&stmt, &[&organization_id]).await?.iter().map(read_account).collect()
}

const DELETE: &str = "DELETE FROM seller_accounts WHERE id = $1 AND organization_id = $2";

/// Deletes an account of `organization_id`. Analytics rows referencing it
/// keep it: [`StoreError::InUse`] names what they are.
pub async fn delete(client: &Client, organization_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    let stmt = prepare(client, DELETE, &[Type::UUID, Type::UUID]).await?;
    match client.execute(&stmt, &[&id, &organization_id]).await {
        Ok(0) => Err(StoreError::NotFound),
        Ok(_) => Ok(()),
        Err(e) => Err(referenced(e)),
    }
}

/// A foreign key violation on delete: rows of another table still point here.
fn referenced(e: tokio_postgres::Error) -> StoreError {
    let table = e.as_db_error().filter(|d| *d.code() == SqlState::FOREIGN_KEY_VIOLATION).and_then(|d| d.table());
    match table {
        Some("amazon_orders") => StoreError::InUse { by: "Amazon orders" },
        Some("amazon_sales_traffic_daily") => StoreError::InUse { by: "sales and traffic reports" },
        Some(_) => StoreError::InUse { by: "data that references it" },
        None => e.into(),
    }
}

const CREDENTIALS: &str = "SELECT lwa_refresh_token_encrypted, lwa_client_id_encrypted, lwa_client_secret_encrypted
    FROM seller_accounts WHERE id = $1 AND organization_id = $2";

/// Decrypts the credentials of an account of `organization_id`: the one
/// place plaintext comes back out.
pub async fn credentials(
    client: &Client,
    vault: &Vault,
    organization_id: Uuid,
    id: Uuid,
) -> Result<LwaCredentials, StoreError> {
    let stmt = prepare(client, CREDENTIALS, &[Type::UUID, Type::UUID]).await?;
    let row = client.query_opt(&stmt, &[&id, &organization_id]).await?.ok_or(StoreError::NotFound)?;
    let open = |index: usize, field: Field| -> Result<SecretString, StoreError> {
        let text: Option<&str> = row.try_get(index)?;
        let text = text.ok_or(StoreError::MissingCredential(field.name()))?;
        Ok(vault.decrypt_str(&Ciphertext::parse(text)?, &field.context(id))?)
    };
    Ok(LwaCredentials {
        refresh_token: open(0, Field::RefreshToken)?,
        client_id: open(1, Field::ClientId)?,
        client_secret: open(2, Field::ClientSecret)?,
    })
}

/// What a [`rotate_keys`] run did.
#[derive(Debug, Default)]
pub struct RotationReport {
    /// Batches committed.
    pub batches: usize,
    /// Rows re-encrypted.
    pub rows: usize,
    /// Credential values re-encrypted.
    pub values: usize,
    /// Rows left as they were because a value would not decrypt (unknown
    /// key, altered, copied from another row): they need a human.
    pub failed: Vec<RotationFailure>,
    /// Rows still not wholly under the current key when the run ended: the
    /// failures, rows locked by others, and all unvisited rows when
    /// `max_batches` stopped the run. Zero means done.
    pub remaining: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationFailure {
    pub id: Uuid,
    pub field: &'static str,
    pub error: VaultError,
}

// Rows with a value not under the current prefix ($1). Locked rows are
// skipped (a concurrent rotation or a writer has them); rows that failed in
// this run ($2) are not retried.
const STALE_BATCH: &str = "SELECT id, lwa_refresh_token_encrypted, lwa_client_id_encrypted, lwa_client_secret_encrypted
    FROM seller_accounts
    WHERE (NOT starts_with(coalesce(lwa_refresh_token_encrypted, $1), $1)
        OR NOT starts_with(coalesce(lwa_client_id_encrypted, $1), $1)
        OR NOT starts_with(coalesce(lwa_client_secret_encrypted, $1), $1))
      AND NOT (id = ANY($2))
    ORDER BY id
    LIMIT $3
    FOR UPDATE SKIP LOCKED";
const STALE_COUNT: &str = "SELECT count(*) FROM seller_accounts
    WHERE NOT starts_with(coalesce(lwa_refresh_token_encrypted, $1), $1)
       OR NOT starts_with(coalesce(lwa_client_id_encrypted, $1), $1)
       OR NOT starts_with(coalesce(lwa_client_secret_encrypted, $1), $1)";
// Credentials only: rotation changes how a value is stored, not the
// account, so updated_at stays.
const ROTATE: &str = "UPDATE seller_accounts AS s SET
        lwa_refresh_token_encrypted = v.refresh_token, lwa_client_id_encrypted = v.client_id,
        lwa_client_secret_encrypted = v.client_secret
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS v(id, refresh_token, client_id, client_secret)
    WHERE s.id = v.id";

/// Largest accepted `batch_size`.
pub const MAX_ROTATION_BATCH: usize = 10_000;

/// Re-encrypts every stored credential that is not under the vault's
/// current key, `batch_size` rows per transaction, across all
/// organizations.
///
/// Idempotent and resumable: each batch commits on its own and only rows
/// still under another key are picked, so a run after an interruption
/// carries on and a run after a complete one changes nothing. Concurrent
/// runs share the work (`FOR UPDATE SKIP LOCKED`). `max_batches` stops after
/// that many batches. The vault must still hold the old keys.
pub async fn rotate_keys(
    client: &Client,
    vault: &Vault,
    batch_size: usize,
    max_batches: Option<usize>,
) -> Result<RotationReport, StoreError> {
    if !(1..=MAX_ROTATION_BATCH).contains(&batch_size) {
        return Err(ValidationError { field: "batch_size", reason: "must be between 1 and 10000" }.into());
    }
    let (select, rotate, count) = tokio::try_join!(
        prepare(client, STALE_BATCH, &[Type::TEXT, Type::UUID_ARRAY, Type::INT8]),
        prepare(client, ROTATE, &[Type::UUID_ARRAY, Type::TEXT_ARRAY, Type::TEXT_ARRAY, Type::TEXT_ARRAY]),
        prepare(client, STALE_COUNT, &[Type::TEXT]),
    )?;
    let prefix = vault.current_prefix();
    let limit = batch_size as i64;
    let mut report = RotationReport::default();
    let mut skip: Vec<Uuid> = Vec::new();
    while max_batches.is_none_or(|max| report.batches < max) {
        let select_params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&prefix, &skip, &limit];
        let rows = begin_with(client, client.query(&select, &select_params)).await?;
        let batch = match reencrypt_batch(vault, &rows, &prefix) {
            Ok(batch) => batch,
            Err(e) => {
                rollback(client).await;
                return Err(e);
            }
        };
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&batch.ids, &batch.columns[0], &batch.columns[1], &batch.columns[2]];
        commit_with(client, client.execute(&rotate, &params)).await?;
        if !rows.is_empty() {
            report.batches += 1;
        }
        report.rows += batch.ids.len();
        report.values += batch.values;
        tracing::info!(
            batch = report.batches,
            rows = batch.ids.len(),
            failed = batch.failed.len(),
            "rotate-keys: batch committed"
        );
        skip.extend(batch.failed.iter().map(|f| f.id));
        report.failed.extend(batch.failed);
        if rows.len() < batch_size {
            break;
        }
    }
    report.remaining = client.query_one(&count, &[&prefix]).await?.try_get(0)?;
    Ok(report)
}

struct Batch {
    ids: Vec<Uuid>,
    /// New column values, in `Field::ALL` order, parallel to `ids`.
    columns: [Vec<Option<String>>; 3],
    values: usize,
    failed: Vec<RotationFailure>,
}

fn reencrypt_batch(vault: &Vault, rows: &[Row], prefix: &str) -> Result<Batch, StoreError> {
    let mut batch = Batch { ids: Vec::new(), columns: Default::default(), values: 0, failed: Vec::new() };
    'rows: for row in rows {
        let id: Uuid = row.try_get(0)?;
        let mut new: [Option<String>; 3] = Default::default();
        let mut values = 0;
        for (i, field) in Field::ALL.into_iter().enumerate() {
            let Some(text) = row.try_get::<_, Option<String>>(i + 1)? else { continue };
            if text.starts_with(prefix) {
                new[i] = Some(text);
                continue;
            }
            match Ciphertext::parse(&text).and_then(|ct| vault.reencrypt(&ct, &field.context(id))) {
                Ok(ct) => {
                    new[i] = Some(ct.into_string());
                    values += 1;
                }
                Err(error) => {
                    // The whole row stays as it was: half-rotated rows are
                    // harder to reason about than untouched ones.
                    batch.failed.push(RotationFailure { id, field: field.name(), error });
                    continue 'rows;
                }
            }
        }
        batch.ids.push(id);
        for (column, value) in batch.columns.iter_mut().zip(new) {
            column.push(value);
        }
        batch.values += values;
    }
    Ok(batch)
}
