//! Clerk session tokens: RS256 JWTs, verified networklessly with the PEM
//! public key (`CLERK_JWT_KEY`, Clerk's recommended mode) or with keys from
//! `CLERK_JWKS_URL`, fetched on first use, cached, and refetched (at most
//! once per `CLERK_JWKS_MIN_REFRESH_SECS`) when a token names an unknown `kid`.
//!
//! Both session-token versions are read: v1 carries the active organization
//! as `org_id` / `org_role` / `org_slug`, v2 as `o: {id, rol, slg}` with the
//! role lacking its `org:` prefix.
//!
//! The rules are those of Clerk's own verifier (`@clerk/backend` 3.x:
//! `jwt/assertions.ts`, `jwt/verifyJwt.ts`, `tokens/verify.ts`,
//! `tokens/request.ts`, `tokens/jwtCategories.ts`, `tokens/machine.ts`), or
//! stricter: RS256 only (Clerk also takes RS384/RS512), `nbf` required.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use http::HeaderMap;
use jsonwebtoken::{decode, decode_header, jwk::Jwk, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::{
    config::{self, ConfigError, Source},
    ids::{ClerkOrgId, ClerkUserId},
};

/// Clock skew allowed on `exp`, `nbf` and `iat`: clocks differ a little
/// between Clerk and us. Clerk's verifier allows the same, 5 s by default
/// (`DEFAULT_CLOCK_SKEW_IN_MS` in `@clerk/backend`), on all three claims.
const LEEWAY_SECS: u64 = 5;

/// The header `cat` (token category) values Clerk's verifier takes for a
/// session token: its session category, and the one it says to ignore. Any
/// other `cat` (e.g. `cl_B7d4PD333AAA`, M2M tokens) marks a machine token.
const SESSION_CATEGORIES: [&str; 2] = ["cl_B7d4PD111AAA", "cl_I7d4PD111III"];

/// Header `typ` values of Clerk's OAuth access tokens (machine tokens).
const OAUTH_ACCESS_TOKEN_TYPES: [&str; 2] = ["at+jwt", "application/at+jwt"];

/// `sub` prefix of Clerk's M2M tokens (a machine, not a user).
const MACHINE_SUBJECT_PREFIX: &str = "mch_";

/// Why a session was refused. Every variant is a 401 to the caller (but
/// `KeysUnavailable`, a 503); [`SessionError::code`] names it in the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no session token (Authorization: Bearer … or the __session cookie)")]
    Missing,
    #[error("the session token is malformed")]
    Malformed,
    #[error("the session token's signature does not verify")]
    BadSignature,
    #[error("only RS256 session tokens are accepted")]
    WrongAlgorithm,
    #[error("the session token has expired")]
    Expired,
    #[error("the session token is not valid yet")]
    NotYetValid,
    #[error("the session token was issued by another Clerk instance")]
    WrongIssuer,
    #[error("the session token was issued to a party that is not authorized")]
    UnauthorizedParty,
    #[error("no key verifies the session token (unknown kid)")]
    UnknownKey,
    #[error("the signing keys could not be fetched")]
    KeysUnavailable,
    #[error("the session token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("a machine token (M2M or OAuth) is not a session token")]
    MachineToken,
    #[error("the session token's type (typ) is not JWT")]
    WrongType,
}

impl SessionError {
    /// A stable machine-readable code, the `reason` of the 401 answer.
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::Missing => "missing",
            SessionError::Malformed => "malformed",
            SessionError::BadSignature => "bad_signature",
            SessionError::WrongAlgorithm => "wrong_algorithm",
            SessionError::Expired => "expired",
            SessionError::NotYetValid => "not_yet_valid",
            SessionError::WrongIssuer => "wrong_issuer",
            SessionError::UnauthorizedParty => "unauthorized_party",
            SessionError::UnknownKey => "unknown_key",
            SessionError::KeysUnavailable => "keys_unavailable",
            SessionError::IssuedInFuture => "issued_in_future",
            SessionError::MachineToken => "machine_token",
            SessionError::WrongType => "wrong_type",
        }
    }
}

/// The active organization a session names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveOrganization {
    pub id: ClerkOrgId,
    /// With its `org:` prefix, whatever the token version.
    pub role: Option<String>,
    pub slug: Option<String>,
}

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: ClerkUserId,
    pub session_id: Option<String>,
    pub organization: Option<ActiveOrganization>,
}

#[derive(Deserialize)]
struct V2Org {
    id: Option<String>,
    rol: Option<String>,
    slg: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    /// Kept as any JSON value, `null` included, to refuse what is not a number.
    #[serde(default, deserialize_with = "present")]
    iat: Option<serde_json::Value>,
    sid: Option<String>,
    azp: Option<String>,
    org_id: Option<String>,
    org_role: Option<String>,
    org_slug: Option<String>,
    o: Option<V2Org>,
}

/// Where verification keys come from.
enum Keys {
    /// `CLERK_JWT_KEY`: no network, ever.
    Pem(DecodingKey),
    Jwks(JwksCache),
}

struct JwksCache {
    url: String,
    min_refresh: Duration,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
}

/// Verifies Clerk session tokens. Built once per cold start, without I/O.
pub struct SessionVerifier {
    keys: Keys,
    issuer: Option<String>,
    authorized_parties: Vec<String>,
}

impl std::fmt::Debug for SessionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match &self.keys {
            Keys::Pem(_) => "CLERK_JWT_KEY",
            Keys::Jwks(_) => "CLERK_JWKS_URL",
        };
        f.debug_struct("SessionVerifier")
            .field("keys", &keys)
            .field("issuer", &self.issuer)
            .field("authorized_parties", &self.authorized_parties)
            .finish()
    }
}

impl SessionVerifier {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&config::Env)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let keys = match (src.get("CLERK_JWT_KEY"), src.get("CLERK_JWKS_URL")) {
            (Some(pem), _) => {
                // Environment variables often carry the PEM with literal "\n".
                let pem = pem.replace("\\n", "\n");
                Keys::Pem(DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| ConfigError::Invalid {
                    var: "CLERK_JWT_KEY",
                    reason: "not an RSA public key in PEM form (Clerk dashboard → API keys → JWT public key)".into(),
                })?)
            }
            (None, Some(url)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(ConfigError::Invalid {
                        var: "CLERK_JWKS_URL",
                        reason: "must be an http(s) URL".into(),
                    });
                }
                Keys::Jwks(JwksCache {
                    url,
                    min_refresh: config::seconds(src, "CLERK_JWKS_MIN_REFRESH_SECS", Duration::from_secs(60))?,
                    keys: RwLock::new(HashMap::new()),
                    last_fetch: Mutex::new(None),
                })
            }
            (None, None) => {
                return Err(ConfigError::Missing {
                    var: "CLERK_JWT_KEY",
                    hint: "set CLERK_JWT_KEY to the instance's PEM public key (or CLERK_JWKS_URL to its JWKS URL)",
                })
            }
        };
        let authorized_parties = src
            .get("CLERK_AUTHORIZED_PARTIES")
            .map(|v| {
                v.split(',').map(|p| p.trim().trim_end_matches('/').to_string()).filter(|p| !p.is_empty()).collect()
            })
            .unwrap_or_default();
        Ok(Self {
            keys,
            issuer: src.get("CLERK_ISSUER").map(|i| i.trim().trim_end_matches('/').to_string()),
            authorized_parties,
        })
    }

    /// Verifies the session token carried by a request.
    pub async fn verify_request(&self, headers: &HeaderMap) -> Result<Session, SessionError> {
        let token = session_token(headers).ok_or(SessionError::Missing)?;
        self.verify(token).await
    }

    /// Verifies one token: no machine-token `cat`, `typ` JWT when present,
    /// RS256 only, signature, `exp`/`nbf` with a small leeway, `iat` not in
    /// the future, `iss` when configured, `azp` against the allow-list, and a
    /// user (not a machine) as `sub`.
    pub async fn verify(&self, token: &str) -> Result<Session, SessionError> {
        // First, as Clerk does, and before any key lookup: a machine token
        // never makes us fetch keys.
        check_category_and_type(token)?;
        let header = decode_header(token).map_err(|_| SessionError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(SessionError::WrongAlgorithm);
        }
        let key = match &self.keys {
            Keys::Pem(key) => key.clone(),
            Keys::Jwks(cache) => cache.key(header.kid.as_deref().ok_or(SessionError::UnknownKey)?).await?,
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "nbf", "sub"]);
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        let claims = decode::<Claims>(token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => SessionError::Expired,
                    ErrorKind::ImmatureSignature => SessionError::NotYetValid,
                    ErrorKind::InvalidIssuer => SessionError::WrongIssuer,
                    ErrorKind::InvalidAlgorithm => SessionError::WrongAlgorithm,
                    ErrorKind::InvalidSignature => SessionError::BadSignature,
                    _ => SessionError::Malformed,
                }
            })?
            .claims;
        check_issued_at(claims.iat.as_ref(), now_secs())?;
        if !self.authorized_parties.is_empty() {
            let azp = claims.azp.as_deref().map(|a| a.trim_end_matches('/'));
            if !azp.is_some_and(|azp| self.authorized_parties.iter().any(|p| p == azp)) {
                return Err(SessionError::UnauthorizedParty);
            }
        }
        session_from(claims)
    }
}

/// Clerk's header rules for a session token (`isNonSessionJwtCategory`,
/// `isMachineJwt` and `assertHeaderType` in `@clerk/backend`): a `cat`, when
/// present (even `null`), must be a session category; a `typ`, when present,
/// must be exactly `JWT`. Reads the same header segment `decode_header` read,
/// as raw JSON, since jsonwebtoken's `Header` drops `cat` and a `null` `typ`.
fn check_category_and_type(token: &str) -> Result<(), SessionError> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    let encoded = token.rsplitn(3, '.').nth(2).ok_or(SessionError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| SessionError::Malformed)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| SessionError::Malformed)?;
    if let Some(cat) = header.get("cat") {
        if !cat.as_str().is_some_and(|cat| SESSION_CATEGORIES.contains(&cat)) {
            return Err(SessionError::MachineToken);
        }
    }
    match header.get("typ") {
        None => Ok(()),
        Some(typ) if typ.as_str() == Some("JWT") => Ok(()),
        Some(typ) if typ.as_str().is_some_and(|typ| OAUTH_ACCESS_TOKEN_TYPES.contains(&typ)) => {
            Err(SessionError::MachineToken)
        }
        Some(_) => Err(SessionError::WrongType),
    }
}

/// Clerk's `assertIssuedAtClaim`: `iat` is optional, but when present it
/// must be a number and not later than now plus the clock skew. Clerk
/// compares milliseconds after dropping `iat`'s fraction; whole seconds with
/// now rounded down give the same answer. (An `iat` beyond JavaScript's date
/// range passes Clerk's check as NaN; here it is refused.)
fn check_issued_at(iat: Option<&serde_json::Value>, now: u64) -> Result<(), SessionError> {
    let Some(iat) = iat else { return Ok(()) };
    let iat = iat.as_f64().ok_or(SessionError::Malformed)?.trunc();
    if iat > now.saturating_add(LEEWAY_SECS) as f64 {
        return Err(SessionError::IssuedInFuture);
    }
    Ok(())
}

/// Deserializes a field that is present as `Some`, `null` included (serde
/// reads a present `null` as `None` otherwise); absent stays `None` through
/// `#[serde(default)]`.
fn present<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(de).map(Some)
}

fn now_secs() -> u64 {
    // The clock jsonwebtoken checks `exp` and `nbf` against.
    jsonwebtoken::get_current_timestamp()
}

fn session_from(claims: Claims) -> Result<Session, SessionError> {
    if claims.sub.starts_with(MACHINE_SUBJECT_PREFIX) {
        // Clerk's `isM2MJwt`: an M2M token presented as a session.
        return Err(SessionError::MachineToken);
    }
    let user_id = ClerkUserId::parse(&claims.sub).map_err(|_| SessionError::Malformed)?;
    let (org_id, role, slug) = match claims.o {
        Some(o) => (o.id, o.rol, o.slg),
        None => (claims.org_id, claims.org_role, claims.org_slug),
    };
    let organization = match org_id {
        Some(id) => Some(ActiveOrganization {
            id: ClerkOrgId::parse(&id).map_err(|_| SessionError::Malformed)?,
            role: role.map(|r| if r.starts_with("org:") { r } else { format!("org:{r}") }),
            slug,
        }),
        None => None,
    };
    Ok(Session { user_id, session_id: claims.sid, organization })
}

/// `Authorization: Bearer <jwt>`, else Clerk's same-origin `__session` cookie.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    bearer.or_else(|| {
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().strip_prefix("__session="))
            .find(|t| !t.is_empty())
    })
}

impl JwksCache {
    async fn key(&self, kid: &str) -> Result<DecodingKey, SessionError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        // One fetch at a time; the others wait and then find the key.
        let mut last_fetch = self.last_fetch.lock().await;
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if last_fetch.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return Err(SessionError::UnknownKey);
        }
        *last_fetch = Some(Instant::now());
        let keys = fetch_jwks(&self.url).await.map_err(|reason| {
            tracing::error!(%reason, "fetching the JWKS failed");
            SessionError::KeysUnavailable
        })?;
        let mut cache = self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *cache = keys;
        cache.get(kid).cloned().ok_or(SessionError::UnknownKey)
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(kid).cloned()
    }
}

/// Fetches a JWKS document and keeps its RSA signing keys by `kid`.
async fn fetch_jwks(url: &str) -> Result<HashMap<String, DecodingKey>, String> {
    use crate::http::client::{self, Error};

    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }

    let uri: http::Uri = url.parse().map_err(|_| "CLERK_JWKS_URL is not a valid URI".to_string())?;
    // The process's one client: its TLS setup and the system roots are made
    // once, on first use, not again on every fetch.
    let response = client::shared()
        .map_err(|e| format!("no TLS roots: {e}"))?
        .get(uri, Duration::from_secs(5), 256 * 1024)
        .await
        .map_err(|e| match e {
            Error::Tls(e) => format!("no TLS roots: {e}"),
            Error::Request(e) => format!("request failed: {e}"),
            Error::Body(e) => format!("reading the body failed: {e}"),
            Error::Timeout => "timed out".to_string(),
        })?;
    if !response.status.is_success() {
        return Err(format!("answered {}", response.status));
    }
    let document: Document = serde_json::from_slice(&response.body).map_err(|_| "not a JWKS document".to_string())?;
    Ok(document
        .keys
        .into_iter()
        // Keys of other types or algorithms are skipped, not fatal.
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            Some((kid, DecodingKey::from_jwk(&jwk).ok()?))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn iat_is_refused_past_clerks_skew_and_when_not_a_number() {
        let now = 1_700_000_000;
        assert_eq!(check_issued_at(None, now), Ok(()));
        for ok in [json!(now), json!(now + 5), json!(now as f64 + 5.9), json!(0)] {
            assert_eq!(check_issued_at(Some(&ok), now), Ok(()), "iat {ok}");
        }
        for future in [json!(now + 6), json!(now + 60), json!(u64::MAX), json!(1e300)] {
            assert_eq!(check_issued_at(Some(&future), now), Err(SessionError::IssuedInFuture), "iat {future}");
        }
        for bad in [Value::Null, json!("1700000000"), json!(true), json!({})] {
            assert_eq!(check_issued_at(Some(&bad), now), Err(SessionError::Malformed), "iat {bad}");
        }
    }

    fn token_with_header(header: Value) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header.to_string()))
    }

    #[test]
    fn header_category_and_type_follow_clerk() {
        let check = |header: Value| check_category_and_type(&token_with_header(header));
        assert_eq!(check(json!({"alg": "RS256"})), Ok(()));
        assert_eq!(check(json!({"alg": "RS256", "typ": "JWT", "cat": "cl_B7d4PD111AAA"})), Ok(()));
        assert_eq!(check(json!({"alg": "RS256", "cat": "cl_I7d4PD111III"})), Ok(()));
        for cat in [json!("cl_B7d4PD333AAA"), json!("x"), Value::Null, json!(["cl_B7d4PD111AAA"])] {
            assert_eq!(check(json!({"alg": "RS256", "cat": cat})), Err(SessionError::MachineToken), "cat {cat}");
        }
        assert_eq!(check(json!({"alg": "RS256", "typ": "at+jwt"})), Err(SessionError::MachineToken));
        for typ in [json!("jwt"), json!("JOSE"), Value::Null, json!(0)] {
            assert_eq!(check(json!({"alg": "RS256", "typ": typ})), Err(SessionError::WrongType), "typ {typ}");
        }
        assert_eq!(check_category_and_type("bm90IGpzb24.e30.c2ln"), Err(SessionError::Malformed));
        assert_eq!(check_category_and_type("nodots"), Err(SessionError::Malformed));
    }
}
