//! Clerk session verification: `SessionVerifier::verify` (PEM key, issuer
//! and authorized parties configured, as deployed) on arbitrary text, on
//! `Authorization` / `Cookie` headers through `verify_request`, on real
//! tokens signed with the k1 test key and then edited, on forgeries (`alg:
//! none`, HS256 keyed with the public key, another RSA key, claims swapped
//! under the original signature), and on arbitrary claims that k1 did sign.
//!
//! Checks: never a panic; no token that k1 did not sign byte for byte is
//! ever accepted; a token k1 did sign is accepted only with a `user_` id.
#![no_main]

use std::{collections::HashMap, sync::LazyLock};

use arbitrary::Arbitrary;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use clerk_sync::session::SessionVerifier;
use clerk_sync_fuzz::{now_secs, Node};
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{crypto::sign, Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const K1_PUBLIC: &str = include_str!("../../tests/fixtures/session-keys/k1.public.pem");
const K1_PRIVATE: &str = include_str!("../../tests/fixtures/session-keys/k1.private.pem");
const ATTACKER_PRIVATE: &str = include_str!("../../tests/fixtures/session-keys/attacker.private.pem");
const ISSUER: &str = "https://clerk.example.test";
const APP_ORIGIN: &str = "https://app.example.test";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: SessionVerifier,
    k1: EncodingKey,
    attacker: EncodingKey,
    /// HMAC keyed with the PEM public key text.
    confused: EncodingKey,
    /// Real tokens k1 signed, which the verifier accepts.
    tokens: Vec<String>,
    claims: Vec<Value>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let verifier = SessionVerifier::from_source(&HashMap::from([
        ("CLERK_JWT_KEY", K1_PUBLIC),
        ("CLERK_ISSUER", ISSUER),
        ("CLERK_AUTHORIZED_PARTIES", APP_ORIGIN),
    ]))
    .expect("verifier");
    let k1 = EncodingKey::from_rsa_pem(K1_PRIVATE.as_bytes()).expect("k1 private key");
    let attacker = EncodingKey::from_rsa_pem(ATTACKER_PRIVATE.as_bytes()).expect("attacker private key");
    let confused = EncodingKey::from_secret(K1_PUBLIC.as_bytes()).expect("HMAC key");
    let now = now_secs();
    // Valid for years: a long fuzzing run must not see them expire.
    let common = json!({"azp": APP_ORIGIN, "exp": now + 10 * 365 * 86_400, "iat": now, "nbf": now - 5, "iss": ISSUER,
        "sid": "sess_fuzz", "sub": "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs"});
    let mut v1 = common.clone();
    v1["org_id"] = json!("org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF");
    v1["org_role"] = json!("org:admin");
    v1["org_slug"] = json!("acme");
    let mut v2 = common.clone();
    v2["v"] = json!(2);
    v2["o"] = json!({"id": "org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", "rol": "admin", "slg": "acme"});
    let claims = vec![common, v1, v2];
    let header = json!({"alg": "RS256", "kid": "ins_test_k1", "typ": "JWT"});
    let tokens = claims.iter().map(|c| jws(&header.to_string(), &c.to_string(), &k1, Algorithm::RS256)).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let fixture = Fixture { runtime, verifier, k1, attacker, confused, tokens, claims };
    for token in &fixture.tokens {
        assert!(fixture.runtime.block_on(fixture.verifier.verify(token)).is_ok(), "the base tokens verify");
    }
    fixture
});

/// `b64(header).b64(claims).signature`, signed as `alg` with `key`.
fn jws(header: &str, claims: &str, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let signature = sign(message.as_bytes(), key, alg).expect("signs");
    format!("{message}.{signature}")
}

#[derive(Debug, Arbitrary)]
enum Mutation {
    FlipBit {
        at: u16,
        bit: u8,
    },
    Delete {
        at: u16,
        len: u8,
    },
    Insert {
        at: u16,
        bytes: Vec<u8>,
    },
    Truncate(u16),
    ReplaceSegment {
        segment: u8,
        text: String,
    },
    /// A segment replaced by the base64url of arbitrary bytes.
    ReEncodeSegment {
        segment: u8,
        bytes: Vec<u8>,
    },
    /// A segment replaced by the base64url of generated JSON.
    JsonSegment {
        segment: u8,
        json: Node,
    },
    /// A segment taken from another real token.
    SpliceSegment {
        segment: u8,
        from: u8,
    },
    SwapSegments {
        a: u8,
        b: u8,
    },
    /// Claims edited (one key set to a generated value), signature kept.
    EditClaim {
        key: u8,
        value: Node,
    },
}

const CLAIM_KEYS: [&str; 12] = ["sub", "exp", "nbf", "iat", "iss", "azp", "org_id", "org_role", "o", "sid", "v", "aud"];

#[derive(Debug, Arbitrary)]
enum Claims {
    Base(u8),
    Edited { base: u8, key: u8, value: Node },
    Any(Node),
}

#[derive(Debug, Arbitrary)]
enum Forgery {
    AlgNone(Claims),
    /// HS256 keyed with the PEM public key: the classic algorithm confusion.
    Hs256WithPublicKey(Claims),
    AttackerKey(Claims),
    /// A header of any shape over real claims and k1's real signature.
    Header(Node, u8),
}

#[derive(Debug, Arbitrary)]
enum Input {
    Text(String),
    Headers {
        authorization: Option<Vec<u8>>,
        cookie: Option<Vec<u8>>,
    },
    Edited {
        base: u8,
        mutations: Vec<Mutation>,
    },
    Forged(Forgery),
    /// Claims k1 really signed: whatever they hold, no panic.
    SignedByK1(Claims),
}

fuzz_target!(|input: Input| {
    let fixture = &*FIXTURE;
    match input {
        Input::Text(text) => refused(fixture, &text),
        Input::Headers { authorization, cookie } => {
            let mut headers = HeaderMap::new();
            if let Some(value) = authorization.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
                headers.insert(http::header::AUTHORIZATION, value);
            }
            if let Some(value) = cookie.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
                headers.insert(http::header::COOKIE, value);
            }
            if let Ok(session) = fixture.runtime.block_on(fixture.verifier.verify_request(&headers)) {
                // Only by carrying a base token whole.
                let carried = headers.values().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(" ");
                assert!(fixture.tokens.iter().any(|t| carried.contains(t.as_str())), "headers verified: {headers:?}");
                assert!(session.user_id.as_str().starts_with("user_"));
            }
        }
        Input::Edited { base, mutations } => {
            let original = &fixture.tokens[base as usize % fixture.tokens.len()];
            let mut bytes = original.clone().into_bytes();
            for mutation in mutations.iter().take(4) {
                apply(&mut bytes, mutation, fixture);
            }
            let token = String::from_utf8_lossy(&bytes).into_owned();
            refused(fixture, &token);
        }
        Input::Forged(forgery) => {
            let token = match forgery {
                Forgery::AlgNone(claims) => {
                    let header = json!({"alg": "none", "typ": "JWT"}).to_string();
                    format!("{}.{}.", B64.encode(header), B64.encode(claims_text(fixture, &claims)))
                }
                Forgery::Hs256WithPublicKey(claims) => {
                    let header = json!({"alg": "HS256", "kid": "ins_test_k1", "typ": "JWT"}).to_string();
                    jws(&header, &claims_text(fixture, &claims), &fixture.confused, Algorithm::HS256)
                }
                Forgery::AttackerKey(claims) => {
                    let header = json!({"alg": "RS256", "kid": "ins_test_k1", "typ": "JWT"}).to_string();
                    jws(&header, &claims_text(fixture, &claims), &fixture.attacker, Algorithm::RS256)
                }
                Forgery::Header(node, base) => {
                    let original = &fixture.tokens[base as usize % fixture.tokens.len()];
                    let (_, rest) = original.split_once('.').unwrap_or_default();
                    format!("{}.{rest}", B64.encode(node.text()))
                }
            };
            refused(fixture, &token);
        }
        Input::SignedByK1(claims) => {
            let header = json!({"alg": "RS256", "kid": "ins_test_k1", "typ": "JWT"}).to_string();
            let token = jws(&header, &claims_text(fixture, &claims), &fixture.k1, Algorithm::RS256);
            if let Ok(session) = fixture.runtime.block_on(fixture.verifier.verify(&token)) {
                assert!(session.user_id.as_str().starts_with("user_"), "{session:?}");
                if let Some(org) = &session.organization {
                    assert!(org.id.as_str().starts_with("org_"), "{session:?}");
                    assert!(org.role.as_ref().is_none_or(|r| r.starts_with("org:")), "{session:?}");
                }
            }
        }
    }
});

/// Anything but a real token, byte for byte, is refused.
fn refused(fixture: &Fixture, token: &str) {
    let result = fixture.runtime.block_on(fixture.verifier.verify(token));
    if fixture.tokens.iter().any(|t| t == token) {
        assert!(result.is_ok());
    } else {
        assert!(result.is_err(), "accepted a token k1 did not sign as is: {token:?}");
    }
}

fn claims_text(fixture: &Fixture, claims: &Claims) -> String {
    match claims {
        Claims::Base(i) => fixture.claims[*i as usize % fixture.claims.len()].to_string(),
        Claims::Edited { base, key, value } => edited_claims(fixture, *base, *key, value),
        Claims::Any(node) => node.text(),
    }
}

/// Base claims with one key set to a generated (possibly invalid) JSON value.
fn edited_claims(fixture: &Fixture, base: u8, key: u8, value: &Node) -> String {
    let mut claims = fixture.claims[base as usize % fixture.claims.len()].clone();
    claims[CLAIM_KEYS[key as usize % CLAIM_KEYS.len()]] = Value::String("\u{1}MARK\u{1}".into());
    claims.to_string().replacen("\"\\u0001MARK\\u0001\"", &value.text(), 1)
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation, fixture: &Fixture) {
    let len = bytes.len().max(1);
    match mutation {
        Mutation::FlipBit { at, bit } => {
            if let Some(b) = bytes.get_mut(*at as usize % len) {
                *b ^= 1 << (bit % 8);
            }
        }
        Mutation::Delete { at, len: n } => {
            let start = (*at as usize % len).min(bytes.len());
            let end = (start + *n as usize).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Insert { at, bytes: new } => {
            let at = (*at as usize % len).min(bytes.len());
            bytes.splice(at..at, new.iter().copied().take(64));
        }
        Mutation::Truncate(at) => bytes.truncate(*at as usize % len),
        Mutation::ReplaceSegment { segment, text } => with_segments(bytes, |s| set(s, *segment, text.clone())),
        Mutation::ReEncodeSegment { segment, bytes: raw } => {
            with_segments(bytes, |s| set(s, *segment, B64.encode(raw)))
        }
        Mutation::JsonSegment { segment, json } => with_segments(bytes, |s| set(s, *segment, B64.encode(json.text()))),
        Mutation::SpliceSegment { segment, from } => {
            let donor = &fixture.tokens[*from as usize % fixture.tokens.len()];
            let parts: Vec<&str> = donor.split('.').collect();
            let value = parts[*segment as usize % parts.len()].to_string();
            with_segments(bytes, |s| set(s, *segment, value));
        }
        Mutation::SwapSegments { a, b } => with_segments(bytes, |s| {
            if !s.is_empty() {
                let (a, b) = (*a as usize % s.len(), *b as usize % s.len());
                s.swap(a, b);
            }
        }),
        Mutation::EditClaim { key, value } => with_segments(bytes, |s| {
            if s.len() > 1 {
                let base = fixture.claims.iter().position(|c| B64.encode(c.to_string()) == s[1]).unwrap_or(0);
                s[1] = B64.encode(edited_claims(fixture, base as u8, *key, value));
            }
        }),
    }
}

fn with_segments(bytes: &mut Vec<u8>, edit: impl FnOnce(&mut Vec<String>)) {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut segments: Vec<String> = text.split('.').map(str::to_string).collect();
    edit(&mut segments);
    *bytes = segments.join(".").into_bytes();
}

fn set(segments: &mut [String], segment: u8, value: String) {
    if !segments.is_empty() {
        let i = segment as usize % segments.len();
        segments[i] = value;
    }
}
