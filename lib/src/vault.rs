//! The credential vault: AES-256-GCM under keys derived with
//! PBKDF2-HMAC-SHA256 from `ENCRYPTION_KEY` / `ENCRYPTION_KEYS`.
//!
//! A ciphertext is a self-describing text envelope:
//!
//! ```text
//! cs1.<key_id>.<iterations>.<salt>.<nonce>.<ciphertext_and_tag>
//! ```
//!
//! - `cs1`: format version.
//! - `key_id`: which configured secret, `[A-Za-z0-9_-]{1,32}`.
//! - `iterations`: PBKDF2 iteration count, decimal without leading zeros.
//! - `salt` (16 bytes), `nonce` (12 bytes), `ciphertext_and_tag` (the
//!   AES-256-GCM output, 16-byte tag last): base64url without padding.
//!
//! The AES key is `PBKDF2-HMAC-SHA256(secret, salt, iterations, 32 bytes)`;
//! the associated data is the caller's context string (UTF-8), so a value
//! copied to another row, field or tenant no longer decrypts.
//!
//! The salt belongs to the key, not the message (the first 16 bytes of
//! `SHA-256("clerk-sync/vault/v1/" || key_id)`), so each key is derived once
//! per process and cached; it is still written into every envelope, and
//! decryption uses whatever salt and iteration count the envelope carries.
//! Nothing is derived until a credential is first touched: functions that
//! never do pay nothing at cold start.

use std::{
    collections::HashMap,
    fmt,
    str::FromStr,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use aes_gcm::{
    aead::{AeadInOut, Generate, KeyInit, Nonce},
    Aes256Gcm,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use pbkdf2::sha2::{Digest, Sha256};
use serde::{de::DeserializeOwned, Serialize};
use zeroize::Zeroizing;

use crate::config::{ConfigError, Env, Source};

pub use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// Envelope format version, the first field of every ciphertext.
pub const VERSION: &str = "cs1";

/// PBKDF2-HMAC-SHA256 iterations for new ciphertexts: OWASP's 2023 figure
/// for this PRF. Raising it later is safe: envelopes carry their own count
/// and `rotate-keys` re-encrypts old ones.
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// Iteration counts a ciphertext may carry. The floor is the count this
/// format started with; the ceiling stops a forged envelope from buying
/// minutes of CPU.
pub const MIN_ITERATIONS: u32 = 600_000;
pub const MAX_ITERATIONS: u32 = 10_000_000;
// New envelopes must be readable by this build.
const _: () = assert!(MIN_ITERATIONS <= PBKDF2_ITERATIONS && PBKDF2_ITERATIONS <= MAX_ITERATIONS);

/// Largest plaintext accepted (credentials are a few hundred bytes).
pub const MAX_PLAINTEXT_LEN: usize = 1024 * 1024;

/// Shortest accepted secret, in characters.
pub const MIN_SECRET_CHARS: usize = 32;

/// Key id used when only `ENCRYPTION_KEY` is set.
pub const DEFAULT_KEY_ID: &str = "default";

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_ID_MAX: usize = 32;
const SALT_DOMAIN: &[u8] = b"clerk-sync/vault/v1/";
/// Envelope text above this cannot come from a plaintext we would encrypt.
const MAX_ENVELOPE_LEN: usize = 128 + (MAX_PLAINTEXT_LEN + TAG_LEN).div_ceil(3) * 4;
/// Derived keys kept per vault. Legitimately there is one per configured key
/// (two during an iteration-count change); the cap bounds what forged
/// envelopes with made-up salts can make us keep.
const MAX_CACHED_KEYS: usize = 32;

/// Why a value could not be encrypted or decrypted.
///
/// Messages never contain plaintext, key material or arbitrary input: only
/// a fixed reason, or a version / key id that passed the syntax check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// Not a well-formed envelope (wrong field count, bad base64, bad
    /// lengths, iteration count out of range…).
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    /// An envelope of a format version this build does not read.
    #[error("unknown ciphertext version {0:?}: this build reads {VERSION}")]
    UnknownVersion(String),
    /// Encrypted under a key id that is not configured.
    #[error("no key with id {0:?} is configured (ENCRYPTION_KEYS)")]
    UnknownKey(String),
    /// AES-GCM authentication failed. GCM cannot tell these apart: the key
    /// secret is wrong, the context differs from the one used to encrypt,
    /// or the envelope was altered.
    #[error("cannot decrypt: wrong key or context, or the ciphertext was altered")]
    Decrypt,
    #[error("the decrypted value is not UTF-8 text")]
    NotUtf8,
    /// The value could not be (de)serialized. serde's own message is left
    /// out: it may quote the (secret) data.
    #[error("the value is not the expected JSON ({category} error at line {line}, column {column})")]
    Json { category: &'static str, line: usize, column: usize },
    #[error("plaintext too large: at most {MAX_PLAINTEXT_LEN} bytes")]
    TooLarge,
    #[error("the operating system's random number generator failed")]
    Rng,
}

impl VaultError {
    fn json(e: &serde_json::Error) -> Self {
        let category = match e.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        };
        VaultError::Json { category, line: e.line(), column: e.column() }
    }
}

/// A key id: `[A-Za-z0-9_-]{1,32}`, so it can never contain the `.` that
/// separates envelope fields.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(s: &str) -> Option<Self> {
        let valid = !s.is_empty()
            && s.len() <= KEY_ID_MAX
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        valid.then(|| KeyId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The configured keys: `current` encrypts, all decrypt.
pub struct VaultConfig {
    current: (KeyId, SecretString),
    older: Vec<(KeyId, SecretString)>,
}

impl fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultConfig")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .field("secrets", &"[REDACTED]")
            .finish()
    }
}

const KEYS_HINT: &str = "set ENCRYPTION_KEY to a random secret of at least 32 characters \
    (e.g. `openssl rand -base64 32`), or ENCRYPTION_KEYS to id:secret pairs for rotation";

impl VaultConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Env)
    }

    /// Reads `ENCRYPTION_KEYS` (`id1:secret1,id2:secret2`, the first
    /// encrypts) or `ENCRYPTION_KEY` (one secret, key id `default`).
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let list = src.get("ENCRYPTION_KEYS").map(SecretString::from);
        let single = src.get("ENCRYPTION_KEY").map(SecretString::from);
        match (list, single) {
            // Refused rather than one silently winning: dropping the other
            // could make stored credentials undecryptable.
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                var: "ENCRYPTION_KEY",
                reason: "set ENCRYPTION_KEY or ENCRYPTION_KEYS, not both (to rotate away from ENCRYPTION_KEY, \
                         list it in ENCRYPTION_KEYS as default:<secret>)"
                    .into(),
            }),
            (Some(list), None) => Self::parse_list(&list),
            (None, Some(secret)) => {
                check_secret("ENCRYPTION_KEY", &secret, None)?;
                Ok(Self { current: (KeyId(DEFAULT_KEY_ID.into()), secret), older: Vec::new() })
            }
            (None, None) => Err(ConfigError::Missing { var: "ENCRYPTION_KEY", hint: KEYS_HINT }),
        }
    }

    fn parse_list(raw: &SecretString) -> Result<Self, ConfigError> {
        const VAR: &str = "ENCRYPTION_KEYS";
        let mut keys: Vec<(KeyId, SecretString)> = Vec::new();
        for (i, entry) in raw.expose_secret().split(',').map(str::trim).enumerate() {
            let n = i + 1;
            let invalid = |reason: String| ConfigError::Invalid { var: VAR, reason };
            if entry.is_empty() {
                return Err(invalid(format!("entry #{n} is empty")));
            }
            let (id, secret) =
                entry.split_once(':').ok_or_else(|| invalid(format!("entry #{n} is not of the form id:secret")))?;
            let id = KeyId::parse(id.trim())
                .ok_or_else(|| invalid(format!("entry #{n}: the key id must match [A-Za-z0-9_-]{{1,32}}")))?;
            if keys.iter().any(|(known, _)| *known == id) {
                return Err(invalid(format!("key id {id:?} appears twice")));
            }
            let secret = SecretString::from(secret.trim());
            check_secret(VAR, &secret, Some(&id))?;
            keys.push((id, secret));
        }
        let mut keys = keys.into_iter();
        // `split` yields at least one entry, and empty entries were refused.
        let current = keys.next().ok_or(ConfigError::Missing { var: VAR, hint: KEYS_HINT })?;
        Ok(Self { current, older: keys.collect() })
    }

    /// Key ids, the encrypting one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&self.current).chain(&self.older).map(|(id, _)| id.as_str())
    }
}

fn check_secret(var: &'static str, secret: &SecretString, id: Option<&KeyId>) -> Result<(), ConfigError> {
    if secret.expose_secret().chars().count() >= MIN_SECRET_CHARS {
        return Ok(());
    }
    let which = id.map(|id| format!("the secret of key {id:?}")).unwrap_or_else(|| "the secret".into());
    Err(ConfigError::Invalid { var, reason: format!("{which} is shorter than {MIN_SECRET_CHARS} characters") })
}

/// A parsed envelope. Holding one proves the text is well formed; whether
/// it decrypts is another matter.
#[derive(Clone, PartialEq, Eq)]
pub struct Ciphertext {
    text: String,
    key_id: KeyId,
    iterations: u32,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the 16-byte tag.
    sealed: Vec<u8>,
}

impl Ciphertext {
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        if text.len() > MAX_ENVELOPE_LEN {
            return Err(VaultError::Malformed("too long"));
        }
        let mut fields = text.split('.');
        let version = fields.next().unwrap_or_default();
        if version != VERSION {
            return Err(if looks_like_version(version) {
                VaultError::UnknownVersion(version.to_string())
            } else {
                VaultError::Malformed("not a vault envelope")
            });
        }
        let (Some(key_id), Some(iterations), Some(salt), Some(nonce), Some(sealed), None) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(VaultError::Malformed("expected 6 dot-separated fields"));
        };
        let key_id = KeyId::parse(key_id).ok_or(VaultError::Malformed("invalid key id"))?;
        let iterations = parse_iterations(iterations)?;
        let salt = decode_array(salt).ok_or(VaultError::Malformed("invalid salt"))?;
        let nonce = decode_array(nonce).ok_or(VaultError::Malformed("invalid nonce"))?;
        let sealed = B64.decode(sealed).map_err(|_| VaultError::Malformed("invalid ciphertext encoding"))?;
        if sealed.len() < TAG_LEN {
            return Err(VaultError::Malformed("ciphertext shorter than its tag"));
        }
        Ok(Self { text: text.to_string(), key_id, iterations, salt, nonce, sealed })
    }

    fn assemble(key_id: &KeyId, iterations: u32, salt: &[u8; SALT_LEN], nonce: &[u8], sealed: Vec<u8>) -> Self {
        let text = format!("{}{}.{}", header(key_id, iterations, salt), B64.encode(nonce), B64.encode(&sealed));
        let mut fixed = [0u8; NONCE_LEN];
        fixed.copy_from_slice(nonce);
        Self { text, key_id: key_id.clone(), iterations, salt: *salt, nonce: fixed, sealed }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }

    pub fn key_id(&self) -> &str {
        self.key_id.as_str()
    }

    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

/// `cs1.<key_id>.<iterations>.<salt>.`: every envelope made with these
/// parameters starts with it.
fn header(key_id: &KeyId, iterations: u32, salt: &[u8; SALT_LEN]) -> String {
    format!("{VERSION}.{key_id}.{iterations}.{}.", B64.encode(salt))
}

/// `cs` and 1–6 digits: worth naming as a version; anything else (perhaps a
/// plaintext credential stored by mistake) is never echoed.
fn looks_like_version(s: &str) -> bool {
    s.strip_prefix("cs").is_some_and(|n| (1..=6).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_iterations(s: &str) -> Result<u32, VaultError> {
    // Canonical decimal only, so each envelope has exactly one spelling.
    if s.is_empty() || s.len() > 10 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VaultError::Malformed("invalid iteration count"));
    }
    match s.parse::<u32>() {
        Ok(n) if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&n) => Ok(n),
        _ => Err(VaultError::Malformed("iteration count out of range")),
    }
}

fn decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    // The engine rejects padding and non-zero trailing bits: one spelling per value.
    B64.decode(s).ok()?.try_into().ok()
}

impl FromStr for Ciphertext {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Ciphertext {
    type Error = VaultError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl fmt::Display for Ciphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Ciphertext {
    // Not secret, but long: the header says all a reader needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ciphertext({}…, {} bytes)", header(&self.key_id, self.iterations, &self.salt), self.sealed.len())
    }
}

impl Serialize for Ciphertext {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

struct Key {
    id: KeyId,
    secret: SecretString,
    salt: [u8; SALT_LEN],
}

/// What a derived key depends on: which secret, the salt and the count.
type Derivation = (usize, [u8; SALT_LEN], u32);
type Slot = Arc<OnceLock<Arc<Aes256Gcm>>>;

/// Encrypts and decrypts with the configured keys. Build one per process;
/// construction is free, each key is derived on first use and kept.
pub struct Vault {
    current: Key,
    older: Vec<Key>,
    derived: Mutex<HashMap<Derivation, Slot>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("current_key", &self.current.id)
            .field("key_ids", &self.keys().map(|k| &k.id).collect::<Vec<_>>())
            .field("derived_keys", &self.derived_key_count())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Builds the vault. Derives nothing: that waits for the first use.
    pub fn new(config: VaultConfig) -> Self {
        let key = |(id, secret): (KeyId, SecretString)| Key { salt: key_salt(&id), id, secret };
        Self {
            current: key(config.current),
            older: config.older.into_iter().map(key).collect(),
            derived: Mutex::new(HashMap::new()),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        VaultConfig::from_env().map(Self::new)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        VaultConfig::from_source(src).map(Self::new)
    }

    /// Every key, the current one first: a key's position is its index.
    fn keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current).chain(&self.older)
    }

    /// The id of the key new ciphertexts are made with.
    pub fn current_key_id(&self) -> &str {
        self.current.id.as_str()
    }

    /// The text every envelope made now starts with: version, current key
    /// id, iteration count and salt. Anything else is due for rotation.
    pub fn current_prefix(&self) -> String {
        let key = &self.current;
        header(&key.id, PBKDF2_ITERATIONS, &key.salt)
    }

    /// True when `ciphertext` is under the current key and parameters.
    pub fn is_current(&self, ciphertext: &Ciphertext) -> bool {
        let key = &self.current;
        ciphertext.key_id == key.id && ciphertext.iterations == PBKDF2_ITERATIONS && ciphertext.salt == key.salt
    }

    /// How many keys have been derived so far (diagnostics and tests).
    pub fn derived_key_count(&self) -> usize {
        self.derived.lock().unwrap_or_else(PoisonError::into_inner).values().filter(|s| s.get().is_some()).count()
    }

    /// Encrypts `plaintext` under the current key, bound to `context`.
    pub fn encrypt(&self, plaintext: &[u8], context: &str) -> Result<Ciphertext, VaultError> {
        let nonce = Nonce::<Aes256Gcm>::try_generate().map_err(|_| VaultError::Rng)?;
        self.seal(plaintext, context, &nonce)
    }

    fn seal(&self, plaintext: &[u8], context: &str, nonce: &Nonce<Aes256Gcm>) -> Result<Ciphertext, VaultError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(VaultError::TooLarge);
        }
        let key = &self.current;
        let cipher = self.cipher(0, key, &key.salt, PBKDF2_ITERATIONS);
        // Exact capacity: growing would leave a plaintext copy behind in freed memory.
        let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
        buffer.extend_from_slice(plaintext);
        cipher.encrypt_in_place(nonce, context.as_bytes(), &mut *buffer).map_err(|_| VaultError::TooLarge)?;
        Ok(Ciphertext::assemble(&key.id, PBKDF2_ITERATIONS, &key.salt, nonce, std::mem::take(&mut *buffer)))
    }

    /// Decrypts into a buffer wiped on drop.
    fn open(&self, ciphertext: &Ciphertext, context: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (index, key) = self
            .keys()
            .enumerate()
            .find(|(_, k)| k.id == ciphertext.key_id)
            .ok_or_else(|| VaultError::UnknownKey(ciphertext.key_id.to_string()))?;
        let cipher = self.cipher(index, key, &ciphertext.salt, ciphertext.iterations);
        let mut buffer = Zeroizing::new(ciphertext.sealed.clone());
        let nonce = Nonce::<Aes256Gcm>::from(ciphertext.nonce);
        cipher.decrypt_in_place(&nonce, context.as_bytes(), &mut *buffer).map_err(|_| VaultError::Decrypt)?;
        Ok(buffer)
    }

    /// Decrypts `ciphertext`, which must have been made with `context`.
    pub fn decrypt(&self, ciphertext: &Ciphertext, context: &str) -> Result<SecretSlice<u8>, VaultError> {
        let plain = self.open(ciphertext, context)?;
        // An exact-size copy: the caller's secret never shares a buffer
        // with spare capacity that outlives it unwiped.
        Ok(SecretSlice::from(Box::<[u8]>::from(plain.as_slice())))
    }

    pub fn encrypt_str(&self, plaintext: &str, context: &str) -> Result<Ciphertext, VaultError> {
        self.encrypt(plaintext.as_bytes(), context)
    }

    pub fn decrypt_str(&self, ciphertext: &Ciphertext, context: &str) -> Result<SecretString, VaultError> {
        let plain = self.open(ciphertext, context)?;
        let text = std::str::from_utf8(&plain).map_err(|_| VaultError::NotUtf8)?;
        Ok(SecretString::from(text))
    }

    /// Encrypts any serde value as its JSON text.
    pub fn encrypt_json<T: Serialize + ?Sized>(&self, value: &T, context: &str) -> Result<Ciphertext, VaultError> {
        let json = Zeroizing::new(serde_json::to_vec(value).map_err(|e| VaultError::json(&e))?);
        self.encrypt(&json, context)
    }

    /// Decrypts a value made by [`Vault::encrypt_json`]. Secrets inside `T`
    /// are the caller's to protect (e.g. `SecretString` fields).
    pub fn decrypt_json<T: DeserializeOwned>(&self, ciphertext: &Ciphertext, context: &str) -> Result<T, VaultError> {
        let plain = self.open(ciphertext, context)?;
        serde_json::from_slice(&plain).map_err(|e| VaultError::json(&e))
    }

    /// Decrypts and encrypts again under the current key, without the
    /// plaintext leaving the vault.
    pub fn reencrypt(&self, ciphertext: &Ciphertext, context: &str) -> Result<Ciphertext, VaultError> {
        let plain = self.open(ciphertext, context)?;
        self.encrypt(&plain, context)
    }

    /// The cipher for `key` (at `index`) under `salt` and `iterations`,
    /// derived at most once per vault.
    fn cipher(&self, index: usize, key: &Key, salt: &[u8; SALT_LEN], iterations: u32) -> Arc<Aes256Gcm> {
        let slot = {
            let mut derived = self.derived.lock().unwrap_or_else(PoisonError::into_inner);
            match derived.get(&(index, *salt, iterations)) {
                Some(slot) => Some(slot.clone()),
                None if derived.len() < MAX_CACHED_KEYS => {
                    Some(derived.entry((index, *salt, iterations)).or_default().clone())
                }
                None => None,
            }
        };
        let secret = &key.secret;
        match slot {
            // Derived outside the map's lock; the OnceLock makes concurrent
            // first users wait for one derivation instead of repeating it.
            Some(slot) => slot.get_or_init(|| Arc::new(derive(secret, salt, iterations))).clone(),
            None => Arc::new(derive(secret, salt, iterations)),
        }
    }
}

/// The per-key salt: SHA-256("clerk-sync/vault/v1/" || key_id), first 16 bytes.
fn key_salt(id: &KeyId) -> [u8; SALT_LEN] {
    let digest = Sha256::new().chain_update(SALT_DOMAIN).chain_update(id.as_str().as_bytes()).finalize();
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&digest[..SALT_LEN]);
    salt
}

// Cached ciphers hold expanded key material: dropping one must wipe it
// (the `zeroize` feature of aes-gcm). Fails to compile otherwise.
const _: fn() = || {
    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wiped_on_drop::<Aes256Gcm>();
};

fn derive(secret: &SecretString, salt: &[u8], iterations: u32) -> Aes256Gcm {
    let key = derive_key(secret.expose_secret().as_bytes(), salt, iterations);
    Aes256Gcm::new((&*key).into())
}

/// PBKDF2-HMAC-SHA256 to 32 bytes, wiped on drop.
fn derive_key(password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    let recommended = pbkdf2::Params::RECOMMENDED;
    if iterations == recommended.rounds() {
        // Same function, but this entry point is compiled inside `pbkdf2`,
        // so the workspace profile optimizes it in debug builds as well
        // (the generic one is compiled at this crate's opt-level).
        let sha256 = pbkdf2::Algorithm::Pbkdf2Sha256;
        pbkdf2::pbkdf2_hmac_with_params(password, salt, sha256, recommended, key.as_mut_slice());
    } else {
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, key.as_mut_slice());
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn vault(vars: &[(&'static str, &'static str)]) -> Vault {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        Vault::from_source(&map).expect("valid test keys")
    }

    /// Produced independently with Python's `hashlib.pbkdf2_hmac` and
    /// `cryptography`'s AESGCM from the README's description of the format
    /// (key id `k1`, secret `SECRET`, nonce 000102…0b, context
    /// `seller_accounts:00000000-0000-0000-0000-000000000001:lwa_refresh_token`).
    const KNOWN: &str =
        "cs1.k1.600000.x3N9SjZWWXRTBWUxMO2pcg.AAECAwQFBgcICQoL.PKCwYVx_Lpf2EU_11RJUxAR77ZyDI_LIEbc7WsJ-zMyyDQ";
    const KNOWN_CONTEXT: &str = "seller_accounts:00000000-0000-0000-0000-000000000001:lwa_refresh_token";

    #[test]
    fn matches_an_independent_implementation() {
        let v = vault(&[("ENCRYPTION_KEYS", "k1:0123456789abcdef0123456789abcdef")]);
        let nonce = Nonce::<Aes256Gcm>::from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        let sealed = v.seal(b"Atzr|refresh-token", KNOWN_CONTEXT, &nonce).expect("seal");
        assert_eq!(sealed.as_str(), KNOWN);
        let parsed = Ciphertext::parse(KNOWN).expect("parses");
        assert_eq!(v.decrypt(&parsed, KNOWN_CONTEXT).expect("decrypts").expose_secret(), b"Atzr|refresh-token");
    }

    #[test]
    fn both_derivation_paths_give_the_published_pbkdf2_value() {
        // RFC 6070-style vector for PBKDF2-HMAC-SHA256 at 600,000 iterations.
        let expected: [u8; 32] = [
            0x66, 0x9c, 0xfe, 0x52, 0x48, 0x21, 0x16, 0xfd, 0xa1, 0xaa, 0x2c, 0xbe, 0x40, 0x9b, 0x2f, 0x56, 0xc8, 0xe4,
            0x56, 0x37, 0x52, 0xb7, 0xa2, 0x8f, 0x6e, 0xaa, 0xb6, 0x14, 0xee, 0x00, 0x51, 0x78,
        ];
        assert_eq!(*derive_key(b"password", b"salt", PBKDF2_ITERATIONS), expected);
        let mut generic = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"password", b"salt", PBKDF2_ITERATIONS, &mut generic);
        assert_eq!(generic, expected);
    }

    #[test]
    fn salt_is_derived_from_the_key_id() {
        let id = KeyId::parse("k1").expect("valid id");
        let full = Sha256::digest(b"clerk-sync/vault/v1/k1");
        assert_eq!(key_salt(&id)[..], full[..16]);
        assert_ne!(key_salt(&id), key_salt(&KeyId::parse("k2").expect("valid id")));
    }

    #[test]
    fn key_ids() {
        for ok in ["a", "default", "k-1_B", &"x".repeat(32)] {
            assert!(KeyId::parse(ok).is_some(), "{ok}");
        }
        for bad in ["", "a.b", "a b", "ä", "a:b", &"x".repeat(33)] {
            assert!(KeyId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn iteration_counts_are_canonical_and_bounded() {
        assert_eq!(parse_iterations("600000"), Ok(600_000));
        assert_eq!(parse_iterations("10000000"), Ok(10_000_000));
        for bad in ["", "0600000", "+600000", "600000 ", "6e5", "599999", "10000001", "99999999999", "４"] {
            assert!(parse_iterations(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_are_named_only_when_they_look_like_one() {
        assert_eq!(Ciphertext::parse("cs2.a.b"), Err(VaultError::UnknownVersion("cs2".into())));
        assert_eq!(Ciphertext::parse("Atzr|secret"), Err(VaultError::Malformed("not a vault envelope")));
        assert_eq!(Ciphertext::parse(""), Err(VaultError::Malformed("not a vault envelope")));
        assert_eq!(Ciphertext::parse("cs1"), Err(VaultError::Malformed("expected 6 dot-separated fields")));
    }

    #[test]
    fn construction_derives_nothing_and_first_use_derives_once() {
        let v = vault(&[("ENCRYPTION_KEY", SECRET)]);
        assert_eq!(v.derived_key_count(), 0);
        let a = v.encrypt(b"x", "ctx").expect("encrypt");
        let b = v.encrypt(b"x", "ctx").expect("encrypt");
        assert_eq!(v.derived_key_count(), 1);
        assert_ne!(a, b, "fresh nonce each time");
        assert_eq!(a.key_id(), DEFAULT_KEY_ID);
        assert!(a.as_str().starts_with(&v.current_prefix()));
        assert!(v.is_current(&a));
    }
}
