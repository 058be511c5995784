//! The seller-account store over a real database: tenant scoping,
//! encryption at rest, and key rotation.

use std::process::Command;

use clerk_sync::db::{Client, Pool};
use clerk_sync::{
    seller_accounts::{
        self, LwaCredentials, NewSellerAccount, Region, RotationFailure, SellerAccountUpdate, StoreError,
        ValidationError,
    },
    vault::{ExposeSecret, Vault, VaultConfig, VaultError},
};
use clerk_sync_tests::{pg_binary, pool, TestDb, Vars};
use uuid::Uuid;

const SECRET_OLD: &str = "old-secret-0123456789abcdefghijklmnopqrstu";
const SECRET_NEW: &str = "new-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA98765";

fn vault(keys: &str) -> Vault {
    Vault::new(VaultConfig::from_source(&Vars(vec![("ENCRYPTION_KEYS", keys.to_string())])).unwrap())
}

fn old_vault() -> Vault {
    vault(&format!("old:{SECRET_OLD}"))
}

struct Store {
    db: TestDb,
    pool: Pool,
}

impl Store {
    async fn spawn() -> Self {
        let db = TestDb::spawn().await;
        let pool = pool(&db.url, 4);
        Self { db, pool }
    }

    async fn client(&self) -> Client {
        self.pool.get().await.unwrap()
    }

    async fn organization(&self, clerk_org_id: &str) -> Uuid {
        let client = self.client().await;
        let row = client
            .query_one("INSERT INTO organization (clerk_org_id, name) VALUES ($1, $1) RETURNING id", &[&clerk_org_id])
            .await
            .unwrap();
        row.get(0)
    }
}

/// Credentials unique to `tag`, shaped like Amazon's.
fn credentials(tag: &str) -> LwaCredentials {
    LwaCredentials::new(
        format!("Atzr|IwEBI-refresh-{tag}"),
        format!("amzn1.application-oa2-client.id-{tag}"),
        format!("amzn1.oa2-cs.v1.secret-{tag}"),
    )
}

fn plaintexts(tag: &str) -> [String; 3] {
    [
        format!("Atzr|IwEBI-refresh-{tag}"),
        format!("amzn1.application-oa2-client.id-{tag}"),
        format!("amzn1.oa2-cs.v1.secret-{tag}"),
    ]
}

fn new_account(seller_id: &str, marketplace_id: &str, tag: &str) -> NewSellerAccount {
    NewSellerAccount {
        seller_id: seller_id.into(),
        marketplace_id: marketplace_id.into(),
        marketplace_code: Some("US".into()),
        marketplace_name: Some("Amazon.com".into()),
        region: Some(Region::Na),
        currency: Some("USD".into()),
        user_id: None,
        credentials: credentials(tag),
    }
}

fn assert_credentials(c: &LwaCredentials, tag: &str) {
    let [refresh_token, client_id, client_secret] = plaintexts(tag);
    assert_eq!(c.refresh_token.expose_secret(), refresh_token);
    assert_eq!(c.client_id.expose_secret(), client_id);
    assert_eq!(c.client_secret.expose_secret(), client_secret);
}

#[tokio::test]
async fn connecting_the_same_seller_and_marketplace_twice_updates_one_row() {
    let store = Store::spawn().await;
    let org = store.organization("org_twice").await;
    let client = store.client().await;
    let v = old_vault();

    let first =
        seller_accounts::upsert(&client, &v, org, &new_account("A1SELLER", "ATVPDKIKX0DER", "first")).await.unwrap();
    client
        .execute(
            "UPDATE seller_accounts SET status = 'error', last_error = 'token revoked' WHERE id = $1",
            &[&first.id],
        )
        .await
        .unwrap();
    let mut again = new_account("A1SELLER", "ATVPDKIKX0DER", "second");
    again.marketplace_name = Some("Amazon US".into());
    let second = seller_accounts::upsert(&client, &v, org, &again).await.unwrap();

    assert_eq!(second.id, first.id);
    assert_eq!(second.marketplace_name.as_deref(), Some("Amazon US"));
    assert_eq!((second.status.as_str(), second.last_error.as_deref()), ("active", None), "a reconnect starts afresh");
    assert_eq!(store.db.count("seller_accounts").await, 1);
    let stored = seller_accounts::credentials(&client, &v, org, first.id).await.unwrap();
    assert_credentials(&stored, "second");

    // Another marketplace of the same seller is another account.
    let other =
        seller_accounts::upsert(&client, &v, org, &new_account("A1SELLER", "A1F83G8C2ARO7P", "uk")).await.unwrap();
    assert_ne!(other.id, first.id);
    assert_eq!(seller_accounts::list(&client, org).await.unwrap().len(), 2);
}

#[tokio::test]
async fn get_and_list_never_return_credentials_and_credentials_decrypts_them() {
    let store = Store::spawn().await;
    let org = store.organization("org_read").await;
    let client = store.client().await;
    let v = old_vault();
    let created =
        seller_accounts::upsert(&client, &v, org, &new_account("A2SELLER", "ATVPDKIKX0DER", "read")).await.unwrap();

    assert!(created.has_credentials);
    assert_eq!((created.region, created.currency.as_deref()), (Some(Region::Na), Some("USD")));
    assert!(created.created_at.ends_with('Z') && created.created_at.contains('T'), "{}", created.created_at);
    let fetched = seller_accounts::get(&client, org, created.id).await.unwrap();
    assert_eq!(fetched, created);
    let listed = seller_accounts::list(&client, org).await.unwrap();
    assert_eq!(listed, vec![created.clone()]);

    let shown = format!("{} {:?} {:?}", serde_json::to_string(&listed).unwrap(), fetched, listed);
    for secret in plaintexts("read") {
        assert!(!shown.contains(&secret), "{secret} in {shown}");
    }
    assert!(!shown.contains("cs1."), "not even the envelopes leave the store: {shown}");

    // At rest: envelopes under the key, each bound to its own row and field.
    let rows = store
        .db
        .rows(
            "SELECT lwa_refresh_token_encrypted AS r, lwa_client_id_encrypted AS i, lwa_client_secret_encrypted AS s
             FROM seller_accounts",
        )
        .await;
    for column in ["r", "i", "s"] {
        assert!(rows[0][column].as_str().unwrap().starts_with("cs1.old.600000."), "{rows:?}");
    }
    let credentials = seller_accounts::credentials(&client, &v, org, created.id).await.unwrap();
    assert_credentials(&credentials, "read");
}

#[tokio::test]
async fn organizations_cannot_reach_each_others_accounts() {
    let store = Store::spawn().await;
    let (org_a, org_b) = (store.organization("org_a").await, store.organization("org_b").await);
    let client = store.client().await;
    let v = old_vault();
    let a =
        seller_accounts::upsert(&client, &v, org_a, &new_account("A3SELLER", "ATVPDKIKX0DER", "tenant")).await.unwrap();

    assert!(matches!(seller_accounts::get(&client, org_b, a.id).await, Err(StoreError::NotFound)));
    assert!(seller_accounts::list(&client, org_b).await.unwrap().is_empty());
    assert!(matches!(seller_accounts::credentials(&client, &v, org_b, a.id).await, Err(StoreError::NotFound)));
    let change = SellerAccountUpdate {
        status: Some("paused".into()),
        credentials: Some(credentials("hijack")),
        ..Default::default()
    };
    assert!(matches!(seller_accounts::update(&client, &v, org_b, a.id, &change).await, Err(StoreError::NotFound)));
    assert!(matches!(seller_accounts::delete(&client, org_b, a.id).await, Err(StoreError::NotFound)));

    // Org B connecting the same seller gets an account of its own.
    let b = seller_accounts::upsert(&client, &v, org_b, &new_account("A3SELLER", "ATVPDKIKX0DER", "tenant-b"))
        .await
        .unwrap();
    assert_ne!(b.id, a.id);

    // Org A's account is untouched.
    let still = seller_accounts::get(&client, org_a, a.id).await.unwrap();
    assert_eq!(still, a);
    assert_credentials(&seller_accounts::credentials(&client, &v, org_a, a.id).await.unwrap(), "tenant");
    assert_eq!(seller_accounts::list(&client, org_a).await.unwrap(), vec![a]);
}

#[tokio::test]
async fn update_changes_fields_and_replaces_credentials() {
    let store = Store::spawn().await;
    let org = store.organization("org_update").await;
    let client = store.client().await;
    let v = old_vault();
    let a =
        seller_accounts::upsert(&client, &v, org, &new_account("A4SELLER", "A1PA6795UKMFR9", "before")).await.unwrap();

    let change = SellerAccountUpdate { currency: Some("EUR".into()), region: Some(Region::Eu), ..Default::default() };
    let changed = seller_accounts::update(&client, &v, org, a.id, &change).await.unwrap();
    assert_eq!((changed.region, changed.currency.as_deref()), (Some(Region::Eu), Some("EUR")));
    assert_eq!(changed.marketplace_name, a.marketplace_name, "fields left out stay");
    assert_credentials(&seller_accounts::credentials(&client, &v, org, a.id).await.unwrap(), "before");

    let change = SellerAccountUpdate { credentials: Some(credentials("after")), ..Default::default() };
    seller_accounts::update(&client, &v, org, a.id, &change).await.unwrap();
    assert_credentials(&seller_accounts::credentials(&client, &v, org, a.id).await.unwrap(), "after");
}

#[tokio::test]
async fn delete_removes_the_account() {
    let store = Store::spawn().await;
    let org = store.organization("org_delete").await;
    let client = store.client().await;
    let v = old_vault();
    let a =
        seller_accounts::upsert(&client, &v, org, &new_account("A5SELLER", "ATVPDKIKX0DER", "delete")).await.unwrap();
    seller_accounts::delete(&client, org, a.id).await.unwrap();
    assert!(matches!(seller_accounts::get(&client, org, a.id).await, Err(StoreError::NotFound)));
    assert!(matches!(seller_accounts::delete(&client, org, a.id).await, Err(StoreError::NotFound)));
    assert_eq!(store.db.count("seller_accounts").await, 0);
}

#[tokio::test]
async fn invalid_input_names_the_field_and_writes_nothing() {
    let store = Store::spawn().await;
    let org = store.organization("org_invalid").await;
    let client = store.client().await;
    let v = old_vault();

    type Edit = fn(&mut NewSellerAccount);
    let cases: [(Edit, &str); 10] = [
        (|a| a.seller_id = String::new(), "seller_id"),
        (|a| a.seller_id = "A1 SELLER".into(), "seller_id"),
        (|a| a.marketplace_id = "x".repeat(65), "marketplace_id"),
        (|a| a.currency = Some("usd".into()), "currency"),
        (|a| a.currency = Some("USDT".into()), "currency"),
        (|a| a.currency = Some("U$D".into()), "currency"),
        (|a| a.marketplace_name = Some("  ".into()), "marketplace_name"),
        (|a| a.credentials.refresh_token = "".into(), "credentials.refresh_token"),
        (|a| a.credentials.client_id = " ".into(), "credentials.client_id"),
        (|a| a.credentials.client_secret = "x".repeat(8193).into(), "credentials.client_secret"),
    ];
    for (edit, field) in cases {
        let mut account = new_account("A6SELLER", "ATVPDKIKX0DER", "invalid");
        edit(&mut account);
        match seller_accounts::upsert(&client, &v, org, &account).await {
            Err(StoreError::Invalid(e)) => {
                assert_eq!(e.field, field);
                assert!(e.to_string().starts_with(field), "{e}");
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    assert_eq!("xx".parse::<Region>(), Err(ValidationError { field: "region", reason: "must be one of na, eu, fe" }));
    assert_eq!(["na", "eu", "fe"].map(|r| r.parse::<Region>().unwrap()), [Region::Na, Region::Eu, Region::Fe]);
    let bad_status = SellerAccountUpdate { status: Some("Paused!".into()), ..Default::default() };
    let error = seller_accounts::update(&client, &v, org, Uuid::new_v4(), &bad_status).await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid(ValidationError { field: "status", .. })), "{error:?}");

    // References that name no row.
    let error = seller_accounts::upsert(&client, &v, Uuid::new_v4(), &new_account("A6SELLER", "ATVPDKIKX0DER", "x"))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Invalid(ValidationError { field: "organization_id", .. })), "{error:?}");
    let mut account = new_account("A6SELLER", "ATVPDKIKX0DER", "x");
    account.user_id = Some(Uuid::new_v4());
    let error = seller_accounts::upsert(&client, &v, org, &account).await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid(ValidationError { field: "user_id", .. })), "{error:?}");

    assert_eq!(store.db.count("seller_accounts").await, 0);
    // The connection is usable after the failed transactions.
    seller_accounts::upsert(&client, &v, org, &new_account("A6SELLER", "ATVPDKIKX0DER", "valid")).await.unwrap();
}

#[tokio::test]
async fn a_credential_copied_to_another_row_or_field_does_not_decrypt() {
    let store = Store::spawn().await;
    let org = store.organization("org_copy").await;
    let client = store.client().await;
    let v = old_vault();
    let a = seller_accounts::upsert(&client, &v, org, &new_account("A7SELLER", "ATVPDKIKX0DER", "a")).await.unwrap();
    let b = seller_accounts::upsert(&client, &v, org, &new_account("A7SELLER", "A2EUQ1WTGCTBG2", "b")).await.unwrap();

    client
        .execute(
            "UPDATE seller_accounts SET lwa_refresh_token_encrypted =
                 (SELECT lwa_refresh_token_encrypted FROM seller_accounts WHERE id = $1) WHERE id = $2",
            &[&a.id, &b.id],
        )
        .await
        .unwrap();
    let error = seller_accounts::credentials(&client, &v, org, b.id).await.unwrap_err();
    assert!(matches!(error, StoreError::Vault(VaultError::Decrypt)), "{error:?}");

    client
        .execute(
            "UPDATE seller_accounts SET lwa_client_secret_encrypted = lwa_client_id_encrypted WHERE id = $1",
            &[&a.id],
        )
        .await
        .unwrap();
    let error = seller_accounts::credentials(&client, &v, org, a.id).await.unwrap_err();
    assert!(matches!(error, StoreError::Vault(VaultError::Decrypt)), "{error:?}");

    client.execute("UPDATE seller_accounts SET lwa_client_id_encrypted = NULL WHERE id = $1", &[&b.id]).await.unwrap();
    let error = seller_accounts::credentials(&client, &v, org, b.id).await.unwrap_err();
    // The refresh token (checked first) is still the copied one.
    assert!(matches!(error, StoreError::Vault(VaultError::Decrypt)), "{error:?}");
    let fixed = SellerAccountUpdate { credentials: Some(credentials("b2")), ..Default::default() };
    seller_accounts::update(&client, &v, org, b.id, &fixed).await.unwrap();
    assert_credentials(&seller_accounts::credentials(&client, &v, org, b.id).await.unwrap(), "b2");
}

#[tokio::test]
async fn no_credential_plaintext_appears_in_a_pg_dump() {
    let store = Store::spawn().await;
    let client = store.client().await;
    let v = old_vault();
    let mut secrets = Vec::new();
    for o in 0..3 {
        let org = store.organization(&format!("org_dump_{o}")).await;
        for s in 0..4 {
            let (first, second) = (Uuid::new_v4().simple().to_string(), Uuid::new_v4().simple().to_string());
            let account = new_account(&format!("A8SELLER{o}{s}"), "ATVPDKIKX0DER", &first);
            let created = seller_accounts::upsert(&client, &v, org, &account).await.unwrap();
            // Updates write credentials too.
            let change = SellerAccountUpdate { credentials: Some(credentials(&second)), ..Default::default() };
            seller_accounts::update(&client, &v, org, created.id, &change).await.unwrap();
            secrets.extend(plaintexts(&first));
            secrets.extend(plaintexts(&second));
        }
    }

    let output = Command::new(pg_binary("pg_dump"))
        .arg(format!("--dbname={}", store.db.url))
        .args(["--no-owner", "--no-privileges"])
        .output()
        .expect("run pg_dump");
    assert!(output.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&output.stderr));
    let dump = String::from_utf8(output.stdout).unwrap();

    // The dump does hold the accounts (so a miss below is meaningful)…
    assert!(dump.contains("COPY public.seller_accounts"), "no seller_accounts data in the dump");
    assert!(dump.contains("A8SELLER21"));
    assert_eq!(dump.matches("cs1.old.600000.").count(), 3 * 12, "three envelopes per account");
    // …and none of their credentials, nor any distinctive part of one.
    for secret in &secrets {
        assert!(!dump.contains(secret.as_str()), "{secret} is in the dump");
        let tail = secret.rsplit('-').next().unwrap();
        assert!(!dump.contains(tail), "part of {secret} is in the dump");
    }
    for marker in ["Atzr|", "amzn1.application-oa2-client", "amzn1.oa2-cs"] {
        assert!(!dump.contains(marker), "{marker} is in the dump");
    }
}

/// Connects `per_org` accounts in each of `orgs` organizations under `vault`.
async fn fill(store: &Store, vault: &Vault, orgs: usize, per_org: usize) -> Vec<(Uuid, Uuid, String)> {
    let client = store.client().await;
    let mut accounts = Vec::new();
    for o in 0..orgs {
        let org = store.organization(&format!("org_rotate_{o}")).await;
        for s in 0..per_org {
            let tag = format!("rotate-{o}-{s}");
            let account = new_account(&format!("A9SELLER{o}"), &format!("MARKETPLACE{s}"), &tag);
            let created = seller_accounts::upsert(&client, vault, org, &account).await.unwrap();
            accounts.push((org, created.id, tag));
        }
    }
    accounts
}

async fn envelopes_under(store: &Store, key_id: &str) -> i64 {
    let prefix = format!("cs1.{key_id}.%");
    let row = store
        .client()
        .await
        .query_one(
            "SELECT (count(*) FILTER (WHERE lwa_refresh_token_encrypted LIKE $1)
                   + count(*) FILTER (WHERE lwa_client_id_encrypted LIKE $1)
                   + count(*) FILTER (WHERE lwa_client_secret_encrypted LIKE $1))::int8
             FROM seller_accounts",
            &[&prefix],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_across_two_keys_interrupted_half_way_then_resumed() {
    let store = Store::spawn().await;
    let accounts = fill(&store, &old_vault(), 5, 10).await;
    assert_eq!(envelopes_under(&store, "old").await, 150);
    let updated_before = store.db.rows("SELECT id, updated_at FROM seller_accounts ORDER BY id").await;

    let rotating = vault(&format!("new:{SECRET_NEW},old:{SECRET_OLD}"));
    let client = store.client().await;

    // Interrupted after three batches of eight.
    let first = seller_accounts::rotate_keys(&client, &rotating, 8, Some(3)).await.unwrap();
    assert_eq!((first.batches, first.rows, first.values), (3, 24, 72), "{first:?}");
    assert_eq!(first.remaining, 26, "{first:?}");
    assert!(first.failed.is_empty());
    assert_eq!(envelopes_under(&store, "new").await, 72);
    assert_eq!(envelopes_under(&store, "old").await, 78);
    // Half-way, every account still reads, whichever key holds it.
    for (org, id, tag) in &accounts {
        assert_credentials(&seller_accounts::credentials(&client, &rotating, *org, *id).await.unwrap(), tag);
    }

    // Resumed: only what is left.
    let second = seller_accounts::rotate_keys(&client, &rotating, 8, None).await.unwrap();
    assert_eq!((second.batches, second.rows, second.values, second.remaining), (4, 26, 78, 0), "{second:?}");
    assert_eq!(envelopes_under(&store, "old").await, 0);
    assert_eq!(envelopes_under(&store, "new").await, 150);

    // Idempotent: nothing left to do.
    let third = seller_accounts::rotate_keys(&client, &rotating, 8, None).await.unwrap();
    assert_eq!((third.batches, third.rows, third.values, third.remaining), (0, 0, 0, 0), "{third:?}");

    // The old key can go: everything reads under the new key alone.
    let new_only = vault(&format!("new:{SECRET_NEW}"));
    for (org, id, tag) in &accounts {
        assert_credentials(&seller_accounts::credentials(&client, &new_only, *org, *id).await.unwrap(), tag);
    }
    // Rotation is not an account change.
    assert_eq!(store.db.rows("SELECT id, updated_at FROM seller_accounts ORDER BY id").await, updated_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_share_the_work_and_skip_locked_rows() {
    let store = Store::spawn().await;
    let accounts = fill(&store, &old_vault(), 4, 10).await;
    let rotating = vault(&format!("new:{SECRET_NEW},old:{SECRET_OLD}"));

    // A writer holds five rows: rotation passes them by and says so.
    let mut locker = clerk_sync_tests::connect(&store.db.url).await;
    let held: Vec<Uuid> = accounts.iter().take(5).map(|(_, id, _)| *id).collect();
    let tx = locker.transaction().await.unwrap();
    tx.execute("SELECT 1 FROM seller_accounts WHERE id = ANY($1) FOR UPDATE", &[&held]).await.unwrap();

    let (a, b) = (store.client().await, store.client().await);
    let (x, y) = tokio::join!(
        seller_accounts::rotate_keys(&a, &rotating, 3, None),
        seller_accounts::rotate_keys(&b, &rotating, 3, None),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.rows + y.rows, 35, "each row once: {x:?} {y:?}");
    // Each counted while the other may still have had a batch in flight.
    assert!(x.remaining >= 5 && y.remaining >= 5, "{x:?} {y:?}");
    assert!(x.failed.is_empty() && y.failed.is_empty());
    assert_eq!(envelopes_under(&store, "old").await, 15, "only the held rows are left");

    tx.rollback().await.unwrap();
    let rest = seller_accounts::rotate_keys(&a, &rotating, 3, None).await.unwrap();
    assert_eq!((rest.rows, rest.remaining), (5, 0), "{rest:?}");
    let new_only = vault(&format!("new:{SECRET_NEW}"));
    for (org, id, tag) in &accounts {
        assert_credentials(&seller_accounts::credentials(&a, &new_only, *org, *id).await.unwrap(), tag);
    }
}

#[tokio::test]
async fn rotation_reports_what_it_cannot_decrypt_and_still_finishes() {
    let store = Store::spawn().await;
    let accounts = fill(&store, &old_vault(), 2, 5).await;
    let client = store.client().await;
    let (_, a, _) = accounts[0];
    let (_, b, _) = accounts[1];
    // B's refresh token is A's, copied: it cannot decrypt in B's context.
    client
        .execute(
            "UPDATE seller_accounts SET lwa_refresh_token_encrypted =
                 (SELECT lwa_refresh_token_encrypted FROM seller_accounts WHERE id = $1) WHERE id = $2",
            &[&a, &b],
        )
        .await
        .unwrap();

    let rotating = vault(&format!("new:{SECRET_NEW},old:{SECRET_OLD}"));
    let report = seller_accounts::rotate_keys(&client, &rotating, 4, None).await.unwrap();
    assert_eq!(report.rows, 9, "{report:?}");
    assert_eq!(
        report.failed,
        vec![RotationFailure { id: b, field: "lwa_refresh_token", error: VaultError::Decrypt }],
        "{report:?}"
    );
    assert_eq!(report.remaining, 1);
    // B is left exactly as it was, not half-rotated.
    assert_eq!(
        store.db.rows("SELECT id FROM seller_accounts WHERE lwa_client_id_encrypted LIKE 'cs1.old.%'").await,
        vec![serde_json::json!({"id": b})]
    );
    // A second run reports it again and ends.
    let again = seller_accounts::rotate_keys(&client, &rotating, 4, None).await.unwrap();
    assert_eq!((again.rows, again.failed.len(), again.remaining), (0, 1, 1), "{again:?}");

    assert!(matches!(
        seller_accounts::rotate_keys(&client, &rotating, 0, None).await,
        Err(StoreError::Invalid(ValidationError { field: "batch_size", .. }))
    ));
}
