//! The local stack's session signing key (`clerk-sync token` mints with it).
//!
//! `clerk-sync dev` creates an RS256 key pair once, under its folder
//! (`target/clerk-sync-dev/` by default), and gives its public half to the
//! API functions it serves as `CLERK_JWT_KEY`, unless a real key is
//! configured. Tokens minted with it are Clerk-shaped (v2 claims) and verify
//! through the very same `SessionVerifier` as Clerk's: a function trusts them
//! only when its `CLERK_JWT_KEY` is this public key, which no deployment has.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use clerk_sync::ids::{ClerkOrgId, ClerkUserId, InvalidId};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::{devdir::write_file, error::Failure};

/// The private key (PKCS#8 PEM, mode 0600) in the dev folder.
pub const PRIVATE_FILE: &str = "session-key.pem";
/// The public key (SPKI PEM): the value for `CLERK_JWT_KEY`.
pub const PUBLIC_FILE: &str = "session-key.pub.pem";
/// The `kid` of the tokens (PEM mode does not need it; it tells them apart in logs).
const KID: &str = "clerk-sync-dev";

#[derive(Debug, thiserror::Error)]
pub enum DevKeyError {
    #[error(
        "no development session key in {}: run clerk-sync dev once (it creates one there), or pass --data-dir \
         (CLERK_SYNC_DEV_DIR) to name the folder clerk-sync dev uses",
        dir.display()
    )]
    Missing { dir: PathBuf },
    #[error("cannot generate the development session key: {0}")]
    Generate(rcgen::Error),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{} is not an RSA key in PEM form: remove {} and {} and run clerk-sync dev to make a new pair", path.display(), PRIVATE_FILE, PUBLIC_FILE)]
    Invalid { path: PathBuf },
    #[error("cannot sign the token: {0}")]
    Sign(jsonwebtoken::errors::Error),
    #[error("--user is not a Clerk user id: {0}")]
    User(InvalidId),
    #[error("--org is not a Clerk organization id: {0}")]
    Org(InvalidId),
}

impl Failure for DevKeyError {}

/// The key pair, loaded.
pub struct DevKey {
    encoding: EncodingKey,
    pub public_pem: String,
    pub public_path: PathBuf,
}

impl DevKey {
    /// Loads the pair in `dir`, creating it first when absent.
    pub fn ensure(dir: &Path) -> Result<Self, DevKeyError> {
        if !dir.join(PRIVATE_FILE).is_file() || !dir.join(PUBLIC_FILE).is_file() {
            generate(dir)?;
        }
        Self::load(dir)
    }

    /// Loads the pair in `dir`; never creates one.
    pub fn load(dir: &Path) -> Result<Self, DevKeyError> {
        let private_path = dir.join(PRIVATE_FILE);
        let public_path = dir.join(PUBLIC_FILE);
        if !private_path.is_file() || !public_path.is_file() {
            return Err(DevKeyError::Missing { dir: dir.to_path_buf() });
        }
        let read =
            |path: &Path| fs::read_to_string(path).map_err(|source| DevKeyError::Read { path: path.into(), source });
        let private_pem = read(&private_path)?;
        let public_pem = read(&public_path)?;
        let encoding = EncodingKey::from_rsa_pem(private_pem.as_bytes())
            .map_err(|_| DevKeyError::Invalid { path: private_path })?;
        Ok(Self { encoding, public_pem, public_path })
    }

    /// A Clerk-shaped (v2) session token for `user`, active in `org` with `role`.
    pub fn mint(&self, user: &str, org: Option<(&str, &str)>, ttl: Duration) -> Result<String, DevKeyError> {
        self.sign(&claims(user, org, ttl, crate::sign::now())?)
    }

    fn sign(&self, claims: &Value) -> Result<String, DevKeyError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(DevKeyError::Sign)
    }
}

/// The claims Clerk's v2 session tokens carry, with `iss` and `azp` from the
/// environment when the functions check them.
fn claims(user: &str, org: Option<(&str, &str)>, ttl: Duration, now: i64) -> Result<Value, DevKeyError> {
    let user = ClerkUserId::parse(user).map_err(DevKeyError::User)?;
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let mut claims = json!({
        "v": 2,
        "sub": user.to_string(),
        "sid": format!("sess_dev{}", uuid::Uuid::new_v4().simple()),
        "iat": now,
        // Clerk backdates nbf a little, for clock skew.
        "nbf": now - 10,
        "exp": now.saturating_add(ttl),
    });
    if let Some((org, role)) = org {
        let org = ClerkOrgId::parse(org).map_err(DevKeyError::Org)?;
        // v2 drops the `org:` prefix; the verifier restores it.
        claims["o"] = json!({"id": org.to_string(), "rol": role.trim_start_matches("org:")});
    }
    if let Some(issuer) = std::env::var("CLERK_ISSUER").ok().filter(|i| !i.trim().is_empty()) {
        claims["iss"] = json!(issuer.trim().trim_end_matches('/'));
    }
    let first_party = std::env::var("CLERK_AUTHORIZED_PARTIES")
        .ok()
        .and_then(|v| v.split(',').map(str::trim).find(|p| !p.is_empty()).map(str::to_string));
    if let Some(party) = first_party {
        claims["azp"] = json!(party);
    }
    Ok(claims)
}

/// Writes a new pair: each file under a temporary name, then renamed, so a
/// concurrent reader never sees half a key.
fn generate(dir: &Path) -> Result<(), DevKeyError> {
    fs::create_dir_all(dir).map_err(|source| DevKeyError::Write { path: dir.to_path_buf(), source })?;
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(DevKeyError::Generate)?;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    for (name, text, private) in
        [(PRIVATE_FILE, pair.serialize_pem(), true), (PUBLIC_FILE, pair.public_key_pem(), false)]
    {
        let path = dir.join(name);
        let temp = dir.join(format!(".{name}.{unique}"));
        let write = |source| DevKeyError::Write { path: path.clone(), source };
        write_file(&temp, text.as_bytes(), private).map_err(write)?;
        fs::rename(&temp, &path).map_err(write)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_clerk_v2_shaped() {
        let claims = claims(
            "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs",
            Some(("org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", "org:admin")),
            Duration::from_secs(60),
            1_000,
        )
        .expect("valid ids");
        assert_eq!(claims["v"], 2);
        assert_eq!(claims["sub"], "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs");
        assert_eq!(
            (claims["iat"].as_i64(), claims["nbf"].as_i64(), claims["exp"].as_i64()),
            (Some(1_000), Some(990), Some(1_060))
        );
        assert_eq!(claims["o"], json!({"id": "org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", "rol": "admin"}));
        assert!(claims["sid"].as_str().is_some_and(|s| s.starts_with("sess_")), "{claims}");
        assert!(matches!(claims_err("nope"), Some(DevKeyError::User(_))));
    }

    fn claims_err(user: &str) -> Option<DevKeyError> {
        claims(user, None, Duration::from_secs(60), 0).err()
    }

    #[tokio::test]
    async fn the_pair_is_created_once_private_and_verifies_through_the_session_verifier() {
        let dir = std::env::temp_dir().join(format!("clerk-sync-devkey-{}", uuid::Uuid::new_v4().simple()));
        assert!(matches!(DevKey::load(&dir), Err(DevKeyError::Missing { .. })));
        let key = DevKey::ensure(&dir).expect("creates the pair");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(PRIVATE_FILE)).expect("exists").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the private key is the owner's only");
        }
        let again = DevKey::ensure(&dir).expect("reuses it");
        assert_eq!(again.public_pem, key.public_pem, "reused, not replaced");

        let token = key
            .mint(
                "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs",
                Some(("org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", "org:admin")),
                Duration::from_secs(60),
            )
            .expect("mints");
        let trusting = std::collections::HashMap::from([("CLERK_JWT_KEY", key.public_pem.as_str())]);
        let verifier = clerk_sync::session::SessionVerifier::from_source(&trusting).expect("a valid key");
        let session = verifier.verify(&token).await.expect("verifies");
        assert_eq!(session.user_id.to_string(), "user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs");
        let org = session.organization.expect("an active organization");
        assert_eq!(
            (org.id.to_string().as_str(), org.role.as_deref()),
            ("org_2qA8sLk3VwX9mNbT5cJ7RpEyUdF", Some("org:admin"))
        );

        // Any other key (a real Clerk instance's) refuses it.
        let k1 = clerk_sync_tests::session::fixture("k1.public.pem");
        let other = std::collections::HashMap::from([("CLERK_JWT_KEY", k1.as_str())]);
        let verifier = clerk_sync::session::SessionVerifier::from_source(&other).expect("a valid key");
        assert_eq!(verifier.verify(&token).await.err(), Some(clerk_sync::session::SessionError::BadSignature));
        let _ = fs::remove_dir_all(&dir);
    }
}
