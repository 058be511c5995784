//! The seller-accounts function: tenant isolation, roles, validation.

use clerk_sync::api::seller_accounts::{handle, SellerAccountsState};
use clerk_sync_tests::{
    api_answer, api_request,
    clerk::{joined, organization, simple_user, user_deleted},
    session::{pem_settings, token},
    Answer, TestStack, Vars,
};
use serde_json::{json, Value};

const KEY: &str = "test-encryption-key-0123456789abcdefghijklmnop";

fn state(url: &str) -> SellerAccountsState {
    let mut vars = vec![
        ("DATABASE_URL", url.to_string()),
        ("SKIP_DB_MIGRATIONS", "true".to_string()),
        ("ENCRYPTION_KEY", KEY.to_string()),
    ];
    vars.extend(pem_settings());
    SellerAccountsState::from_source(&Vars(vars)).unwrap()
}

/// Ada: admin of org_a and org_b. Bob: member of org_a.
async fn setup() -> (TestStack, SellerAccountsState) {
    let stack = TestStack::spawn().await;
    let events = [
        simple_user("user.created", "user_ada", 100, "Ada", "ada@example.com"),
        simple_user("user.created", "user_bob", 100, "Bob", "bob@example.com"),
        organization("organization.created", "org_a", "A", 100),
        organization("organization.created", "org_b", "B", 100),
        joined("organizationMembership.created", "orgmem_1", "user_ada", "org_a", "org:admin", 200),
        joined("organizationMembership.created", "orgmem_2", "user_ada", "org_b", "org:admin", 200),
        joined("organizationMembership.created", "orgmem_3", "user_bob", "org_a", "org:member", 200),
    ];
    for (i, event) in events.iter().enumerate() {
        stack.expect(&format!("msg_setup_{i}"), event, "processed").await;
    }
    let state = state(&stack.db.url);
    (stack, state)
}

fn connect_body(seller: &str) -> String {
    json!({
        "seller_id": seller, "marketplace_id": "ATVPDKIKX0DER", "region": "na",
        "refresh_token": "Atzr|refresh-token-plaintext", "lwa_client_id": "amzn1.application-oa2-client.plain",
        "lwa_client_secret": "lwa-client-secret-plaintext", "marketplace_code": "US", "currency": "USD"
    })
    .to_string()
}

async fn call(
    state: &SellerAccountsState,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    api_answer(handle(state, api_request(method, path, token, body)).await)
}

#[tokio::test]
async fn admins_connect_list_and_delete_within_their_active_organization() {
    let (_stack, state) = setup().await;
    let ada_a = token("user_ada", Some(("org_a", "org:admin")));
    let ada_b = token("user_ada", Some(("org_b", "org:admin")));

    let created = call(&state, "POST", "/seller-accounts", Some(&ada_a), Some(&connect_body("A1SELLER"))).await;
    assert_eq!(created.status, 201, "{created:?}");
    let text = created.body.to_string();
    assert!(!text.contains("plaintext") && !text.contains("Atzr"), "no secrets in answers: {text}");
    assert_eq!(created.body["seller_id"], "A1SELLER");
    let id = created.body["id"].as_str().unwrap().to_string();

    // Reconnecting the same seller and marketplace updates it: no duplicate.
    let again = call(&state, "POST", "/seller-accounts", Some(&ada_a), Some(&connect_body("A1SELLER"))).await;
    assert_eq!((again.status, again.body["id"].as_str()), (200, Some(id.as_str())));
    call(&state, "POST", "/", Some(&ada_b), Some(&connect_body("B1SELLER"))).await;

    let list_a = call(&state, "GET", "/seller-accounts", Some(&ada_a), None).await;
    let sellers: Vec<&str> =
        list_a.body["seller_accounts"].as_array().unwrap().iter().map(|a| a["seller_id"].as_str().unwrap()).collect();
    assert_eq!(sellers, ["A1SELLER"], "only the active organization's accounts");
    assert!(!list_a.body.to_string().contains("plaintext"));
    let list_b = call(&state, "GET", "/", Some(&ada_b), None).await;
    assert_eq!(list_b.body["seller_accounts"].as_array().unwrap().len(), 1);

    // Another organization's id is 404, not 403; the account survives.
    let cross = call(&state, "DELETE", &format!("/seller-accounts/{id}"), Some(&ada_b), None).await;
    assert_eq!((cross.status, cross.body["error"].as_str()), (404, Some("not_found")));
    let cross_get = call(&state, "GET", &format!("/seller-accounts/{id}"), Some(&ada_b), None).await;
    assert_eq!(cross_get.status, 404);
    assert_eq!(call(&state, "DELETE", "/seller-accounts/not-a-uuid", Some(&ada_b), None).await.status, 404);

    let deleted = call(&state, "DELETE", &format!("/{id}"), Some(&ada_a), None).await;
    assert_eq!(deleted.status, 204);
    let gone = call(&state, "GET", "/seller-accounts", Some(&ada_a), None).await;
    assert_eq!(gone.body["seller_accounts"], json!([]));
}

#[tokio::test]
async fn plain_members_read_but_cannot_write() {
    let (_stack, state) = setup().await;
    let ada = token("user_ada", Some(("org_a", "org:admin")));
    let created = call(&state, "POST", "/seller-accounts", Some(&ada), Some(&connect_body("A1SELLER"))).await;
    let id = created.body["id"].as_str().unwrap().to_string();

    // Even a token claiming admin: the database decides the role.
    let bob = token("user_bob", Some(("org_a", "org:admin")));
    let list = call(&state, "GET", "/seller-accounts", Some(&bob), None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["seller_accounts"].as_array().unwrap().len(), 1);
    let post = call(&state, "POST", "/seller-accounts", Some(&bob), Some(&connect_body("B2"))).await;
    assert_eq!((post.status, post.body["error"].as_str()), (403, Some("insufficient_role")));
    let delete = call(&state, "DELETE", &format!("/seller-accounts/{id}"), Some(&bob), None).await;
    assert_eq!(delete.status, 403);
}

#[tokio::test]
async fn removed_members_and_deleted_users_lose_access_while_their_tokens_are_valid() {
    let (stack, state) = setup().await;
    let bob = token("user_bob", Some(("org_a", "org:member")));
    assert_eq!(call(&state, "GET", "/seller-accounts", Some(&bob), None).await.status, 200);
    let removed = joined("organizationMembership.deleted", "orgmem_3", "user_bob", "org_a", "org:member", 300);
    stack.expect("msg_removed", &removed, "processed").await;
    let refused = call(&state, "GET", "/seller-accounts", Some(&bob), None).await;
    assert_eq!((refused.status, refused.body["error"].as_str()), (403, Some("no_active_organization")));

    let ada = token("user_ada", Some(("org_a", "org:admin")));
    stack.expect("msg_ada_deleted", &user_deleted("user_ada", 900), "processed").await;
    let refused = call(&state, "GET", "/seller-accounts", Some(&ada), None).await;
    assert_eq!((refused.status, refused.body["error"].as_str()), (401, Some("unknown_user")));

    // No token, or no active organization in it.
    assert_eq!(call(&state, "GET", "/seller-accounts", None, None).await.status, 401);
    let no_org = token("user_bob", None);
    assert_eq!(call(&state, "GET", "/seller-accounts", Some(&no_org), None).await.status, 403);
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let (stack, state) = setup().await;
    let ada = token("user_ada", Some(("org_a", "org:admin")));
    let mut body: Value = serde_json::from_str(&connect_body("A1")).unwrap();
    for (field, value) in [
        ("seller_id", json!(null)),
        ("region", json!("mars")),
        ("refresh_token", json!("")),
        ("currency", json!("dollars")),
        ("marketplace_id", json!("has spaces in it")),
    ] {
        let original = body[field].clone();
        body[field] = value;
        let answer = call(&state, "POST", "/seller-accounts", Some(&ada), Some(&body.to_string())).await;
        assert_eq!(answer.status, 422, "{field}: {answer:?}");
        assert_eq!(answer.body["field"], field, "{answer:?}");
        assert!(!answer.body.to_string().contains("plaintext"));
        body[field] = original;
    }
    let bad_json = call(&state, "POST", "/seller-accounts", Some(&ada), Some("{not json")).await;
    assert_eq!((bad_json.status, bad_json.body["error"].as_str()), (400, Some("invalid_json")));
    assert_eq!(call(&state, "PUT", "/seller-accounts", Some(&ada), None).await.status, 405);
    assert_eq!(call(&state, "GET", "/seller-accounts/a/b", Some(&ada), None).await.status, 404);
    assert_eq!(stack.db.count("seller_accounts").await, 0, "nothing written");
}

/// An account that analytics rows still reference cannot go: 409 with the
/// reason, never a 503 that would be retried forever.
#[tokio::test]
async fn deleting_an_account_analytics_still_reference_is_a_conflict() {
    let (stack, state) = setup().await;
    let ada_a = token("user_ada", Some(("org_a", "org:admin")));
    let created = call(&state, "POST", "/seller-accounts", Some(&ada_a), Some(&connect_body("A1SELLER"))).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let client = stack.db.connect().await;
    client
        .execute(
            "INSERT INTO amazon_orders (organization_id, seller_account_id, marketplace_id, amazon_order_id)
             SELECT organization_id, id, marketplace_id, '111-0000000-0000000' FROM seller_accounts WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap();
    let refused = call(&state, "DELETE", &format!("/seller-accounts/{id}"), Some(&ada_a), None).await;
    assert_eq!((refused.status, refused.body["error"].as_str()), (409, Some("conflict")), "{refused:?}");
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("Amazon orders"), "{message}");
    assert!(!message.contains("amazon_orders_seller_account_id_fkey"), "no database internals: {message}");
    let still = call(&state, "GET", &format!("/seller-accounts/{id}"), Some(&ada_a), None).await;
    assert_eq!(still.status, 200);
}
