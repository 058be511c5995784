//! Clerk-shaped session tokens signed with the test keys in `tests/fixtures/session-keys/`.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

pub const ISSUER: &str = "https://clerk.example.test";
pub const APP_ORIGIN: &str = "https://app.example.test";

pub fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/session-keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn now() -> i64 {
    crate::now()
}

/// v1 claims: `org_id` / `org_role` / `org_slug`.
pub fn v1_claims(user: &str, org: Option<(&str, &str)>) -> Value {
    let now = now();
    let mut claims = json!({
        "azp": APP_ORIGIN, "exp": now + 60, "iat": now, "nbf": now - 5, "iss": ISSUER,
        "sid": "sess_test", "sub": user
    });
    if let Some((org, role)) = org {
        claims["org_id"] = json!(org);
        claims["org_role"] = json!(role);
        claims["org_slug"] = json!("slug");
    }
    claims
}

/// v2 claims: `v: 2`, `o: {id, rol, slg}` with the role lacking `org:`.
pub fn v2_claims(user: &str, org: Option<(&str, &str)>) -> Value {
    let now = now();
    let mut claims = json!({
        "v": 2, "azp": APP_ORIGIN, "exp": now + 60, "iat": now, "nbf": now - 5, "iss": ISSUER,
        "sid": "sess_test", "sub": user, "fva": [0, -1], "pla": "u:free", "fea": ""
    });
    if let Some((org, role)) = org {
        claims["o"] = json!({"id": org, "rol": role.trim_start_matches("org:"), "slg": "slug", "per": "", "fpm": ""});
    }
    claims
}

/// Signs `claims` with the named test key, RS256, `kid` = `ins_test_<key>`.
pub fn sign(key: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(format!("ins_test_{key}"));
    let encoding = EncodingKey::from_rsa_pem(fixture(&format!("{key}.private.pem")).as_bytes()).expect("test key");
    encode(&header, claims, &encoding).expect("sign")
}

/// Signs `claims` with the named test key under exactly this `header` JSON
/// (RS256 whatever it says), for headers jsonwebtoken's `Header` cannot
/// carry: Clerk's `cat`, a `null` or odd `typ`.
pub fn sign_with_header(key: &str, header: &Value, claims: &Value) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let encoding = EncodingKey::from_rsa_pem(fixture(&format!("{key}.private.pem")).as_bytes()).expect("test key");
    let message =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &encoding, Algorithm::RS256).expect("sign");
    format!("{message}.{signature}")
}

/// A token for `user`, active in `org` with `role` (v1 shape), signed with k1.
pub fn token(user: &str, org: Option<(&str, &str)>) -> String {
    sign("k1", &v1_claims(user, org))
}

/// The settings that make a verifier trust k1 networklessly.
pub fn pem_settings() -> Vec<(&'static str, String)> {
    vec![
        ("CLERK_JWT_KEY", fixture("k1.public.pem")),
        ("CLERK_ISSUER", ISSUER.to_string()),
        ("CLERK_AUTHORIZED_PARTIES", format!("{APP_ORIGIN}, http://localhost:3000")),
    ]
}
