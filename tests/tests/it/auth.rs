//! Clerk session verification: what is accepted, what is refused, and the
//! JWKS path with a key rotation served by a local HTTP server.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Mutex,
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use clerk_sync::ids::ClerkOrgId;
use clerk_sync::session::{ActiveOrganization, SessionError, SessionVerifier};
use clerk_sync_tests::{
    session::{fixture, pem_settings, sign, sign_with_header, v1_claims, v2_claims, APP_ORIGIN, ISSUER},
    Vars,
};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

fn verifier(extra: Vec<(&'static str, String)>) -> SessionVerifier {
    let mut vars = pem_settings();
    vars.extend(extra);
    SessionVerifier::from_source(&Vars(vars)).unwrap()
}

#[tokio::test]
async fn v1_and_v2_tokens_name_the_active_organization() {
    let v = verifier(vec![]);
    for claims in [v1_claims("user_a", Some(("org_a", "org:admin"))), v2_claims("user_a", Some(("org_a", "org:admin")))]
    {
        let session = v.verify(&sign("k1", &claims)).await.unwrap();
        assert_eq!(session.user_id.as_str(), "user_a");
        assert_eq!(
            session.organization,
            Some(ActiveOrganization {
                id: ClerkOrgId::parse("org_a").unwrap(),
                role: Some("org:admin".into()),
                slug: Some("slug".into())
            })
        );
    }
    let personal = v.verify(&sign("k1", &v2_claims("user_a", None))).await.unwrap();
    assert_eq!(personal.organization, None);
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let v = verifier(vec![]);
    let now = clerk_sync_tests::now();
    let with = |patch: Value| {
        let mut claims = v1_claims("user_a", Some(("org_a", "org:admin")));
        for (k, val) in patch.as_object().unwrap() {
            claims[k] = val.clone();
        }
        claims
    };
    // Forged: the attacker's key, presenting our kid.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("ins_test_k1".into());
    let attacker = EncodingKey::from_rsa_pem(fixture("attacker.private.pem").as_bytes()).unwrap();
    let forged = encode(&header, &v1_claims("user_a", None), &attacker).unwrap();
    assert_eq!(v.verify(&forged).await, Err(SessionError::BadSignature));

    assert_eq!(v.verify(&sign("k1", &with(json!({"exp": now - 60})))).await, Err(SessionError::Expired));
    assert_eq!(v.verify(&sign("k1", &with(json!({"nbf": now + 120})))).await, Err(SessionError::NotYetValid));
    // Within the small leeway is fine.
    assert!(v.verify(&sign("k1", &with(json!({"nbf": now + 2})))).await.is_ok());
    assert_eq!(
        v.verify(&sign("k1", &with(json!({"azp": "https://evil.example"})))).await,
        Err(SessionError::UnauthorizedParty)
    );
    assert!(v.verify(&sign("k1", &with(json!({"azp": "http://localhost:3000/"})))).await.is_ok());
    assert_eq!(
        v.verify(&sign("k1", &with(json!({"iss": "https://other.clerk.test"})))).await,
        Err(SessionError::WrongIssuer)
    );
    assert!(v.verify(&sign("k1", &with(json!({"sub": "not-a-user-id"})))).await.is_err());

    // alg: none.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(v1_claims("user_a", None).to_string());
    assert!(v.verify(&format!("{header}.{payload}.")).await.is_err());
    // HS256 keyed with the public key (the classic algorithm confusion).
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &v1_claims("user_a", None),
        &EncodingKey::from_secret(fixture("k1.public.pem").as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(v.verify(&hs).await, Err(SessionError::WrongAlgorithm));

    assert_eq!(v.verify("not.a.jwt").await, Err(SessionError::Malformed));
    assert_eq!(v.verify_request(&http::HeaderMap::new()).await, Err(SessionError::Missing));
}

/// Clerk's `assertIssuedAtClaim`: `iat`, when present, is a number no later
/// than now + 5 s (the same skew as `exp` and `nbf`).
#[tokio::test]
async fn tokens_issued_in_the_future_are_refused() {
    let v = verifier(vec![]);
    let now = clerk_sync_tests::now();
    let with_iat = |iat: Option<Value>| {
        let mut claims = v2_claims("user_a", Some(("org_a", "org:admin")));
        match iat {
            Some(iat) => claims["iat"] = iat,
            None => {
                claims.as_object_mut().unwrap().remove("iat");
            }
        }
        sign("k1", &claims)
    };
    assert_eq!(v.verify(&with_iat(Some(json!(now + 60)))).await, Err(SessionError::IssuedInFuture));
    // v1 too, and in the cookie.
    let mut v1 = v1_claims("user_a", None);
    v1["iat"] = json!(now + 60);
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::COOKIE, format!("__session={}", sign("k1", &v1)).parse().unwrap());
    assert_eq!(v.verify_request(&headers).await, Err(SessionError::IssuedInFuture));
    // Within the skew, or absent (Clerk checks it only when present): fine.
    assert!(v.verify(&with_iat(Some(json!(now + 3)))).await.is_ok());
    assert!(v.verify(&with_iat(None)).await.is_ok());
    // Present but not a number.
    for bad in [json!("0"), Value::Null, json!([now])] {
        assert_eq!(v.verify(&with_iat(Some(bad.clone()))).await, Err(SessionError::Malformed), "iat {bad}");
    }
}

/// Clerk's session path refuses machine tokens: a header `cat` other than
/// the session (or ignored) category, an OAuth `typ`, an M2M `mch_` subject;
/// and `assertHeaderType`: a `typ`, when present, must be exactly `JWT`.
#[tokio::test]
async fn machine_tokens_and_other_types_are_refused() {
    let v = verifier(vec![]);
    let claims = v1_claims("user_a", Some(("org_a", "org:admin")));
    let with_header = |extra: Value| {
        let mut header = json!({"alg": "RS256", "kid": "ins_test_k1", "typ": "JWT"});
        for (k, val) in extra.as_object().unwrap() {
            if val == "<absent>" {
                header.as_object_mut().unwrap().remove(k);
            } else {
                header[k] = val.clone();
            }
        }
        sign_with_header("k1", &header, &claims)
    };
    // Clerk's M2M category, any other value, even null.
    for cat in [json!("cl_B7d4PD333AAA"), json!("cl_anything"), json!(""), json!(1), Value::Null] {
        assert_eq!(v.verify(&with_header(json!({"cat": cat}))).await, Err(SessionError::MachineToken), "cat {cat}");
    }
    // Clerk's session category and the one it ignores are sessions.
    for cat in ["cl_B7d4PD111AAA", "cl_I7d4PD111III"] {
        assert!(v.verify(&with_header(json!({"cat": cat}))).await.is_ok(), "cat {cat}");
    }
    // OAuth access tokens.
    for typ in ["at+jwt", "application/at+jwt"] {
        assert_eq!(v.verify(&with_header(json!({"typ": typ}))).await, Err(SessionError::MachineToken), "typ {typ}");
    }
    // An M2M token's subject is a machine.
    let mut m2m = claims.clone();
    m2m["sub"] = json!("mch_2vYVtestmachine");
    assert_eq!(v.verify(&sign("k1", &m2m)).await, Err(SessionError::MachineToken));
    // typ: exactly "JWT" when present.
    for typ in [json!("jwt"), json!("JOSE"), json!("JWS"), Value::Null, json!(1)] {
        assert_eq!(v.verify(&with_header(json!({"typ": typ}))).await, Err(SessionError::WrongType), "typ {typ}");
    }
    assert!(v.verify(&with_header(json!({"typ": "<absent>"}))).await.is_ok());
    assert!(v.verify(&with_header(json!({}))).await.is_ok());
}

#[tokio::test]
async fn the_session_cookie_is_read_when_there_is_no_bearer() {
    let v = verifier(vec![]);
    let mut headers = http::HeaderMap::new();
    let token = sign("k1", &v1_claims("user_a", None));
    headers.insert(http::header::COOKIE, format!("theme=dark; __session={token}; other=1").parse().unwrap());
    assert_eq!(v.verify_request(&headers).await.unwrap().user_id.as_str(), "user_a");
}

#[test]
fn configuration_is_checked_at_startup() {
    let err = SessionVerifier::from_source(&Vars(vec![])).unwrap_err();
    assert!(err.to_string().contains("CLERK_JWT_KEY"), "{err}");
    let err = SessionVerifier::from_source(&Vars(vec![("CLERK_JWT_KEY", "-----BEGIN nonsense".into())])).unwrap_err();
    assert!(err.to_string().contains("CLERK_JWT_KEY") && !err.to_string().contains("nonsense"), "{err}");
    // A PEM with literal \n (as environment variables often carry it) is accepted.
    let escaped = fixture("k1.public.pem").replace('\n', "\\n");
    assert!(SessionVerifier::from_source(&Vars(vec![("CLERK_JWT_KEY", escaped)])).is_ok());
    let _ = (APP_ORIGIN, ISSUER);
}

/// A minimal JWKS endpoint: serves whatever set it holds, counts requests.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
}

async fn jwks_server(initial: Vec<Value>) -> JwksServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    let keys = Arc::new(Mutex::new(initial));
    let hits = Arc::new(AtomicUsize::new(0));
    let (served, counter) = (keys.clone(), hits.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            counter.fetch_add(1, Ordering::SeqCst);
            let body = json!({"keys": *served.lock().unwrap()}).to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    JwksServer { url, keys, hits }
}

fn jwk(name: &str) -> Value {
    serde_json::from_str(&fixture(&format!("{name}.jwk.json"))).unwrap()
}

#[tokio::test]
async fn jwks_keys_are_fetched_once_cached_and_refetched_on_rotation() {
    // An unsupported key in the set is skipped, not fatal.
    let server = jwks_server(vec![json!({"kty": "oct", "kid": "weird", "k": "AAAA"}), jwk("k1")]).await;
    let v = SessionVerifier::from_source(&Vars(vec![
        ("CLERK_JWKS_URL", server.url.clone()),
        ("CLERK_JWKS_MIN_REFRESH_SECS", "0".into()),
    ]))
    .unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 0, "no fetch at construction");
    for _ in 0..3 {
        v.verify(&sign("k1", &v1_claims("user_a", None))).await.unwrap();
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "fetched once, then cached");

    // Clerk rotates: the new kid is unknown, so the set is fetched again.
    *server.keys.lock().unwrap() = vec![jwk("k2")];
    v.verify(&sign("k2", &v1_claims("user_a", None))).await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    // A forged token under an unknown kid refetches, finds nothing, fails.
    let mut forged = v1_claims("user_a", None);
    forged["sub"] = json!("user_b");
    assert_eq!(v.verify(&sign("attacker", &forged)).await, Err(SessionError::UnknownKey));
    let hits = server.hits.load(Ordering::SeqCst);
    // A machine token is refused from its header: no fetch for its kid.
    let header = json!({"alg": "RS256", "kid": "ins_test_attacker", "typ": "JWT", "cat": "cl_B7d4PD333AAA"});
    let m2m = sign_with_header("attacker", &header, &v1_claims("user_a", None));
    assert_eq!(v.verify(&m2m).await, Err(SessionError::MachineToken));
    assert_eq!(server.hits.load(Ordering::SeqCst), hits);
}

#[tokio::test]
async fn unknown_kids_cannot_make_us_hammer_the_jwks_endpoint() {
    let server = jwks_server(vec![jwk("k1")]).await;
    let v = SessionVerifier::from_source(&Vars(vec![("CLERK_JWKS_URL", server.url.clone())])).unwrap();
    v.verify(&sign("k1", &v1_claims("user_a", None))).await.unwrap();
    for _ in 0..5 {
        assert_eq!(v.verify(&sign("attacker", &v1_claims("user_a", None))).await, Err(SessionError::UnknownKey));
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "refetches are rate-limited");
}

#[tokio::test]
async fn an_unreachable_jwks_endpoint_is_keys_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let v = SessionVerifier::from_source(&Vars(vec![(
        "CLERK_JWKS_URL",
        format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
    )]))
    .unwrap();
    assert_eq!(v.verify(&sign("k1", &v1_claims("user_a", None))).await, Err(SessionError::KeysUnavailable));
}
