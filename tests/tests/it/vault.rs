//! The credential vault: round trips, tampering, contexts, keys and their
//! configuration, and what its types print.

use std::{
    collections::BTreeMap,
    sync::LazyLock,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use clerk_sync::{
    config::ConfigError,
    seller_accounts::{LwaCredentials, NewSellerAccount, Region, StoreError},
    vault::{Ciphertext, ExposeSecret, Vault, VaultConfig, VaultError, PBKDF2_ITERATIONS},
};
use clerk_sync_tests::Vars;
use proptest::prelude::*;
use serde_json::{json, Value};

const SECRET_1: &str = "k1-secret-0123456789abcdefghijklmnopqrstuv";
const SECRET_2: &str = "k2-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA9876543";
const CONTEXT: &str = "seller_accounts:8f2b0a6e-3c1d-4e5f-9a7b-0c1d2e3f4a5b:lwa_refresh_token";

fn config(vars: &[(&'static str, &str)]) -> Result<VaultConfig, ConfigError> {
    VaultConfig::from_source(&Vars(vars.iter().map(|(k, v)| (*k, v.to_string())).collect()))
}

fn vault(keys: &str) -> Vault {
    Vault::new(config(&[("ENCRYPTION_KEYS", keys)]).unwrap())
}

fn k1() -> Vault {
    vault(&format!("k1:{SECRET_1}"))
}

/// One vault for the property tests, so its key is derived once.
static SHARED: LazyLock<Vault> = LazyLock::new(k1);

/// An envelope's six fields.
fn fields(ct: &Ciphertext) -> Vec<String> {
    ct.as_str().split('.').map(str::to_string).collect()
}

fn with_field(ct: &Ciphertext, index: usize, value: &str) -> String {
    let mut f = fields(ct);
    f[index] = value.to_string();
    f.join(".")
}

/// Parses and decrypts `text`: every way it can fail, as one result.
fn open(vault: &Vault, text: &str, context: &str) -> Result<Vec<u8>, VaultError> {
    let ct = Ciphertext::parse(text)?;
    Ok(vault.decrypt(&ct, context)?.expose_secret().to_vec())
}

#[test]
fn bytes_strings_and_json_round_trip() {
    let v = k1();
    for bytes in [&b""[..], b"x", &[0u8, 255, 1, 254], &vec![0xa5; 4096]] {
        let ct = v.encrypt(bytes, CONTEXT).unwrap();
        assert_eq!(v.decrypt(&ct, CONTEXT).unwrap().expose_secret(), bytes);
        // The text form survives storage: parse it back.
        let again = Ciphertext::parse(ct.as_str()).unwrap();
        assert_eq!(again, ct);
        assert_eq!(v.decrypt(&again, CONTEXT).unwrap().expose_secret(), bytes);
    }

    for text in ["", "Atzr|IwEBIA-refresh", "ünïcødé ✓ 🦀", "line\nbreak\0nul"] {
        let ct = v.encrypt_str(text, CONTEXT).unwrap();
        assert_eq!(v.decrypt_str(&ct, CONTEXT).unwrap().expose_secret(), text);
    }

    let object = json!({
        "refresh_token": "Atzr|IwEBIK-object",
        "client_id": "amzn1.application-oa2-client.0123456789abcdef",
        "client_secret": "amzn1.oa2-cs.v1.0123456789abcdef",
        "scopes": ["sellingpartnerapi::notifications"],
        "expires_in": 3600,
        "nested": {"ok": true, "none": null}
    });
    let ct = v.encrypt_json(&object, CONTEXT).unwrap();
    assert_eq!(v.decrypt_json::<Value>(&ct, CONTEXT).unwrap(), object);

    let typed: BTreeMap<String, Vec<u32>> = [("a".to_string(), vec![1, 2]), ("b".to_string(), vec![])].into();
    let ct = v.encrypt_json(&typed, CONTEXT).unwrap();
    assert_eq!(v.decrypt_json::<BTreeMap<String, Vec<u32>>>(&ct, CONTEXT).unwrap(), typed);
}

#[test]
fn envelopes_have_the_documented_shape_and_a_fresh_nonce_each_time() {
    let v = k1();
    let a = v.encrypt(b"same plaintext", CONTEXT).unwrap();
    let b = v.encrypt(b"same plaintext", CONTEXT).unwrap();
    let (fa, fb) = (fields(&a), fields(&b));
    assert_eq!(fa.len(), 6, "{a}");
    assert_eq!(fa[0], "cs1");
    assert_eq!(fa[1], "k1");
    assert_eq!(fa[2], PBKDF2_ITERATIONS.to_string());
    const { assert!(PBKDF2_ITERATIONS >= 600_000) };
    assert_eq!(B64.decode(&fa[3]).unwrap().len(), 16, "salt");
    assert_eq!(B64.decode(&fa[4]).unwrap().len(), 12, "nonce");
    assert_eq!(B64.decode(&fa[5]).unwrap().len(), b"same plaintext".len() + 16, "ciphertext and tag");
    assert!(a.as_str().bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)), "{a}");
    // The salt belongs to the key; the nonce to the message.
    assert_eq!(fa[..4], fb[..4]);
    assert_ne!(fa[4], fb[4]);
    assert_ne!(fa[5], fb[5]);
    assert_eq!((a.key_id(), a.iterations()), ("k1", PBKDF2_ITERATIONS));
    assert!(v.is_current(&a));
}

fn kind(error: &VaultError) -> &'static str {
    match error {
        VaultError::Malformed(_) => "malformed",
        VaultError::UnknownVersion(_) => "unknown version",
        VaultError::UnknownKey(_) => "unknown key",
        VaultError::Decrypt => "decrypt",
        _ => "other",
    }
}

#[test]
fn altering_any_character_of_the_envelope_fails() {
    let v = vault(&format!("k1:{SECRET_1},k2:{SECRET_2}"));
    let ct = v.encrypt_str("Atzr|IwEBIA-tamper-me", CONTEXT).unwrap();
    let text = ct.as_str();
    let f = fields(&ct);
    let salt_start = f[..3].iter().map(|s| s.len() + 1).sum::<usize>();
    let salt = salt_start..salt_start + f[3].len();
    let mut outcomes = BTreeMap::new();
    for (i, c) in text.char_indices() {
        // Each salt that decodes costs a key derivation: one variant there.
        let replacements: &[char] = if salt.contains(&i) { &['A', '.'] } else { &['A', 'B', '-', '.'] };
        for &replacement in replacements.iter().filter(|&&r| r != c) {
            let mut altered = text.to_string();
            altered.replace_range(i..i + c.len_utf8(), &replacement.to_string());
            match open(&v, &altered, CONTEXT) {
                Ok(_) => panic!("position {i} ({c} -> {replacement}) still decrypts"),
                Err(e) => *outcomes.entry(kind(&e)).or_insert(0) += 1,
            }
        }
    }
    // Every kind of failure was reached somewhere along the envelope.
    for kind in ["malformed", "unknown key", "decrypt"] {
        assert!(outcomes.contains_key(kind), "{outcomes:?}");
    }
    assert_eq!(v.decrypt_str(&ct, CONTEXT).unwrap().expose_secret(), "Atzr|IwEBIA-tamper-me");
}

#[test]
fn altering_each_field_gives_the_matching_error() {
    let v = vault(&format!("k1:{SECRET_1},k2:{SECRET_2}"));
    let ct = v.encrypt_str("Atzr|IwEBIA-fields", CONTEXT).unwrap();
    let f = fields(&ct);
    let decrypt = VaultError::Decrypt;
    let malformed = |s: &str| -> bool { matches!(Ciphertext::parse(s), Err(VaultError::Malformed(_))) };

    // Version.
    assert_eq!(open(&v, &with_field(&ct, 0, "cs2"), CONTEXT), Err(VaultError::UnknownVersion("cs2".into())));
    assert_eq!(open(&v, &with_field(&ct, 0, "cs999"), CONTEXT), Err(VaultError::UnknownVersion("cs999".into())));
    for bad in ["CS1", "cs1x", "", "v1"] {
        assert!(malformed(&with_field(&ct, 0, bad)), "version {bad:?}");
    }
    // Key id: another configured key, an unknown one, an impossible one.
    assert_eq!(open(&v, &with_field(&ct, 1, "k2"), CONTEXT), Err(decrypt.clone()));
    assert_eq!(open(&v, &with_field(&ct, 1, "k3"), CONTEXT), Err(VaultError::UnknownKey("k3".into())));
    for bad in ["", "k 1", "k:1", &"k".repeat(33)] {
        assert!(malformed(&with_field(&ct, 1, bad)), "key id {bad:?}");
    }
    // Iterations: another valid count derives another key.
    assert_eq!(open(&v, &with_field(&ct, 2, "600001"), CONTEXT), Err(decrypt.clone()));
    for bad in ["", "0600000", "599999", "10000001", "4294967296", "-600000", "600000.0", "6e5"] {
        assert!(malformed(&with_field(&ct, 2, bad)), "iterations {bad:?}");
    }
    // Salt and nonce: other bytes, other lengths, other alphabets.
    let other_salt = B64.encode([7u8; 16]);
    assert_eq!(open(&v, &with_field(&ct, 3, &other_salt), CONTEXT), Err(decrypt.clone()));
    let other_nonce = B64.encode([7u8; 12]);
    assert_eq!(open(&v, &with_field(&ct, 4, &other_nonce), CONTEXT), Err(decrypt.clone()));
    for index in [3, 4] {
        let value = &f[index];
        for bad in [
            String::new(),
            value[1..].to_string(),
            format!("{value}A"),
            format!("{value}=="),
            value.replace(|c: char| c.is_ascii_alphabetic(), "+"),
        ] {
            assert!(malformed(&with_field(&ct, index, &bad)), "field {index}: {bad:?}");
        }
    }
    // Ciphertext and tag: dropping bytes, adding bytes, shorter than a tag.
    let sealed = B64.decode(&f[5]).unwrap();
    for changed in [&sealed[1..], &sealed[..sealed.len() - 1], &[sealed.as_slice(), &[0]].concat()] {
        assert_eq!(open(&v, &with_field(&ct, 5, &B64.encode(changed)), CONTEXT), Err(decrypt.clone()));
    }
    assert!(malformed(&with_field(&ct, 5, &B64.encode(&sealed[..15]))));
    assert!(malformed(&with_field(&ct, 5, "")));
    // Structure.
    assert!(malformed(&f[..5].join(".")));
    assert!(malformed(&format!("{ct}.")));
    assert!(malformed(&format!("{ct}.extra")));
    assert!(malformed(&format!(" {ct}")));
    assert!(malformed(&format!("{ct}\n")));
}

#[test]
fn flipping_any_bit_of_the_ciphertext_or_tag_fails() {
    let v = k1();
    let ct = v.encrypt_json(&json!({"refresh_token": "Atzr|IwEBIA-bits"}), CONTEXT).unwrap();
    let sealed = B64.decode(&fields(&ct)[5]).unwrap();
    for byte in 0..sealed.len() {
        for bit in 0..8 {
            let mut flipped = sealed.clone();
            flipped[byte] ^= 1 << bit;
            let text = with_field(&ct, 5, &B64.encode(&flipped));
            assert_eq!(open(&v, &text, CONTEXT), Err(VaultError::Decrypt), "byte {byte} bit {bit}");
        }
    }
    let nonce = B64.decode(&fields(&ct)[4]).unwrap();
    for byte in 0..nonce.len() {
        let mut flipped = nonce.clone();
        flipped[byte] ^= 0x80;
        assert_eq!(open(&v, &with_field(&ct, 4, &B64.encode(&flipped)), CONTEXT), Err(VaultError::Decrypt));
    }
}

#[test]
fn another_context_does_not_decrypt() {
    let v = k1();
    let row_a = "seller_accounts:11111111-1111-1111-1111-111111111111:lwa_refresh_token";
    let ct = v.encrypt_str("Atzr|IwEBIA-context", row_a).unwrap();
    for other in [
        "seller_accounts:22222222-2222-2222-2222-222222222222:lwa_refresh_token",
        "seller_accounts:11111111-1111-1111-1111-111111111111:lwa_client_secret",
        "seller_accounts:11111111-1111-1111-1111-111111111111:lwa_refresh_token ",
        "",
    ] {
        assert_eq!(v.decrypt_str(&ct, other).map(|_| ()), Err(VaultError::Decrypt), "{other:?}");
    }
    assert_eq!(v.decrypt_str(&ct, row_a).unwrap().expose_secret(), "Atzr|IwEBIA-context");
}

#[test]
fn a_wrong_key_does_not_decrypt() {
    let ct = k1().encrypt_str("Atzr|IwEBIA-key", CONTEXT).unwrap();
    // Same id, another secret.
    let impostor = vault(&format!("k1:{SECRET_2}"));
    assert_eq!(impostor.decrypt_str(&ct, CONTEXT).map(|_| ()), Err(VaultError::Decrypt));
    // The right secret under another id is not even tried.
    let renamed = vault(&format!("k9:{SECRET_1}"));
    assert_eq!(renamed.decrypt_str(&ct, CONTEXT).map(|_| ()), Err(VaultError::UnknownKey("k1".into())));
}

#[test]
fn unknown_version_unknown_key_and_malformed_text_are_distinct_errors() {
    let v = k1();
    let ct = v.encrypt(b"x", CONTEXT).unwrap();
    let unknown_version = Ciphertext::parse(&with_field(&ct, 0, "cs2")).unwrap_err();
    let unknown_key = open(&vault(&format!("k2:{SECRET_2}")), ct.as_str(), CONTEXT).unwrap_err();
    let malformed = Ciphertext::parse("Atzr|IwEBIA-not-an-envelope").unwrap_err();
    let tampered = open(&v, &with_field(&ct, 4, &B64.encode([0u8; 12])), CONTEXT).unwrap_err();
    assert!(matches!(unknown_version, VaultError::UnknownVersion(ref s) if s == "cs2"), "{unknown_version:?}");
    assert!(matches!(unknown_key, VaultError::UnknownKey(ref s) if s == "k1"), "{unknown_key:?}");
    assert!(matches!(malformed, VaultError::Malformed(_)), "{malformed:?}");
    assert_eq!(tampered, VaultError::Decrypt);
    // A credential stored in clear by mistake is never quoted back.
    assert!(!malformed.to_string().contains("Atzr"), "{malformed}");
    let long = format!("cs{}", "1".repeat(40));
    assert!(matches!(Ciphertext::parse(&long), Err(VaultError::Malformed(_))));
}

#[test]
fn json_errors_do_not_quote_the_plaintext() {
    let v = k1();
    let ct = v.encrypt_json(&json!({"refresh_token": "Atzr|IwEBIA-quoted"}), CONTEXT).unwrap();
    let error = v.decrypt_json::<Vec<String>>(&ct, CONTEXT).unwrap_err();
    assert!(matches!(error, VaultError::Json { .. }), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("Atzr"), "{error}");
    let ct = v.encrypt_json(&json!("Atzr|IwEBIA-quoted"), CONTEXT).unwrap();
    let error = v.decrypt_json::<u32>(&ct, CONTEXT).unwrap_err();
    assert!(!format!("{error} {error:?}").contains("Atzr"), "{error}");
    let ct = v.encrypt(&[0xff, 0xfe], CONTEXT).unwrap();
    assert_eq!(v.decrypt_str(&ct, CONTEXT).map(|_| ()), Err(VaultError::NotUtf8));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".*", dotted in "(cs[0-9]?|[A-Za-z0-9_-]{0,24})(\\.[A-Za-z0-9_=+/-]{0,30}){0,7}") {
        let v = &*SHARED;
        for t in [&text, &dotted] {
            if let Ok(ct) = Ciphertext::parse(t) {
                prop_assert!(v.decrypt(&ct, CONTEXT).is_err());
            }
        }
    }

    #[test]
    fn arbitrary_edits_of_an_envelope_never_panic_and_never_decrypt(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<char>(), 0..3u8), 1..4)
    ) {
        let v = &*SHARED;
        let original = v.encrypt_str("Atzr|IwEBIA-prop", CONTEXT).unwrap().into_string();
        let mut chars: Vec<char> = original.chars().collect();
        for (at, c, op) in edits {
            let i = at.index(chars.len());
            match op {
                0 => chars[i] = c,
                1 => { chars.remove(i); }
                _ => chars.insert(i, c),
            }
        }
        let edited: String = chars.into_iter().collect();
        match open(v, &edited, CONTEXT) {
            Ok(plain) => prop_assert!(edited == original && plain == b"Atzr|IwEBIA-prop"),
            Err(_) => prop_assert!(edited != original),
        }
    }
}

#[test]
fn old_keys_keep_decrypting_after_rotation_and_new_values_use_the_first_key() {
    let old = k1().encrypt_str("Atzr|IwEBIA-old", CONTEXT).unwrap();
    let rotated = vault(&format!("k2:{SECRET_2},k1:{SECRET_1}"));
    assert_eq!(rotated.current_key_id(), "k2");
    assert_eq!(rotated.decrypt_str(&old, CONTEXT).unwrap().expose_secret(), "Atzr|IwEBIA-old");
    assert!(!rotated.is_current(&old));
    let new = rotated.reencrypt(&old, CONTEXT).unwrap();
    assert_eq!(new.key_id(), "k2");
    assert!(rotated.is_current(&new));
    assert!(new.as_str().starts_with(&rotated.current_prefix()));
    let only_new = vault(&format!("k2:{SECRET_2}"));
    assert_eq!(only_new.decrypt_str(&new, CONTEXT).unwrap().expose_secret(), "Atzr|IwEBIA-old");
    assert_eq!(only_new.decrypt_str(&old, CONTEXT).map(|_| ()), Err(VaultError::UnknownKey("k1".into())));
}

#[test]
fn keys_are_derived_on_first_use_once_then_cost_microseconds() {
    let v = vault(&format!("k2:{SECRET_2},k1:{SECRET_1}"));
    assert_eq!(v.derived_key_count(), 0, "construction derives nothing");
    let first = Instant::now();
    let ct = v.encrypt_json(&json!({"refresh_token": "Atzr|IwEBIA-cost"}), CONTEXT).unwrap();
    let first = first.elapsed();
    assert_eq!(v.derived_key_count(), 1);

    let old = k1().encrypt_str("Atzr|IwEBIA-cost-old", CONTEXT).unwrap();
    v.decrypt_str(&old, CONTEXT).unwrap();
    assert_eq!(v.derived_key_count(), 2, "the old key is derived when first needed");

    let start = Instant::now();
    for _ in 0..200 {
        let value = v.decrypt_json::<Value>(&ct, CONTEXT).unwrap();
        v.encrypt_json(&value, CONTEXT).unwrap();
        v.decrypt_str(&old, CONTEXT).unwrap();
    }
    let warm = start.elapsed();
    assert_eq!(v.derived_key_count(), 2, "nothing derived again");
    // 600 operations against 600,000 PBKDF2 iterations: were any of them
    // deriving, this would take far longer than one derivation.
    assert!(warm < first.max(Duration::from_millis(50)) * 20, "600 warm operations took {warm:?}, first use {first:?}");
}

#[test]
fn encryption_key_alone_is_the_default_key() {
    let c = config(&[("ENCRYPTION_KEY", SECRET_1)]).unwrap();
    assert_eq!(c.key_ids().collect::<Vec<_>>(), ["default"]);
    let v = Vault::new(c);
    let ct = v.encrypt(b"x", CONTEXT).unwrap();
    assert!(ct.as_str().starts_with("cs1.default.600000."), "{ct}");
}

#[test]
fn encryption_keys_lists_ids_and_the_first_encrypts() {
    let c = config(&[("ENCRYPTION_KEYS", &format!(" k2:{SECRET_2} , k1:{SECRET_1}:with:colons "))]).unwrap();
    assert_eq!(c.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
    let v = Vault::new(c);
    assert_eq!(v.encrypt(b"x", CONTEXT).unwrap().key_id(), "k2");
}

#[test]
fn bad_key_configuration_names_the_variable_and_never_the_secret() {
    let short = "short-secret-31-characters-long";
    assert_eq!(short.len(), 31);
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (vec![("ENCRYPTION_KEY", short.into())], "ENCRYPTION_KEY"),
        (vec![("ENCRYPTION_KEYS", format!("k1:{short}"))], "ENCRYPTION_KEYS"),
        (vec![("ENCRYPTION_KEYS", format!("k1:{SECRET_1},k2:{short}"))], "ENCRYPTION_KEYS"),
        (vec![("ENCRYPTION_KEYS", SECRET_1.into())], "ENCRYPTION_KEYS"),
        (vec![("ENCRYPTION_KEYS", format!("bad.id:{SECRET_1}"))], "ENCRYPTION_KEYS"),
        (vec![("ENCRYPTION_KEYS", format!(":{SECRET_1}"))], "ENCRYPTION_KEYS"),
        (vec![("ENCRYPTION_KEYS", format!("k1:{SECRET_1},k1:{SECRET_2}"))], "ENCRYPTION_KEYS"),
        (vec![("ENCRYPTION_KEYS", format!("k1:{SECRET_1},,k2:{SECRET_2}"))], "ENCRYPTION_KEYS"),
        (vec![("ENCRYPTION_KEYS", format!("k1:{SECRET_1}")), ("ENCRYPTION_KEY", SECRET_2.into())], "ENCRYPTION_KEY"),
        (vec![], "ENCRYPTION_KEY"),
    ];
    for (vars, var) in cases {
        let error = VaultConfig::from_source(&Vars(vars.clone())).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(shown.contains(var), "{vars:?}: {shown}");
        for secret in [short, SECRET_1, SECRET_2, "bad.id"] {
            assert!(!shown.contains(secret), "{shown} quotes {secret}");
        }
    }
    // Multi-byte characters count as characters.
    assert!(config(&[("ENCRYPTION_KEY", &"ü".repeat(32))]).is_ok());
    assert!(config(&[("ENCRYPTION_KEY", &"ü".repeat(31))]).is_err());
}

#[test]
fn nothing_secret_in_debug_output() {
    let c = config(&[("ENCRYPTION_KEYS", &format!("k2:{SECRET_2},k1:{SECRET_1}"))]).unwrap();
    let config_debug = format!("{c:?}");
    let v = Vault::new(c);
    let plaintext = "Atzr|IwEBIA-debug-plaintext";
    let ct = v.encrypt_str(plaintext, CONTEXT).unwrap();
    let decrypted = v.decrypt_str(&ct, CONTEXT).unwrap();
    let bytes = v.decrypt(&ct, CONTEXT).unwrap();
    let credentials = LwaCredentials::new(plaintext, "amzn1.application-oa2-client.debug", "amzn1.oa2-cs.v1.debug");
    let account = NewSellerAccount {
        seller_id: "A1DEBUG".into(),
        marketplace_id: "ATVPDKIKX0DER".into(),
        marketplace_code: Some("US".into()),
        marketplace_name: None,
        region: Some(Region::Na),
        currency: Some("USD".into()),
        user_id: None,
        credentials,
    };
    let errors = [
        format!("{:?}", StoreError::Vault(VaultError::Decrypt)),
        format!("{:?}", StoreError::MissingCredential("lwa_refresh_token")),
    ];
    let shown = [
        config_debug.clone(),
        format!("{v:?}"),
        format!("{v:#?}"),
        format!("{ct:?}"),
        format!("{decrypted:?}"),
        format!("{bytes:?}"),
        format!("{account:?}"),
        format!("{:?}", account.credentials),
        errors.join(" "),
    ]
    .join("\n");
    for secret in [SECRET_1, SECRET_2, plaintext, "amzn1.application-oa2-client.debug", "amzn1.oa2-cs.v1.debug"] {
        assert!(!shown.contains(secret), "{secret} in:\n{shown}");
    }
    // What is shown is useful.
    assert!(config_debug.contains("k2") && config_debug.contains("k1"), "{config_debug}");
    assert!(format!("{v:?}").contains("k2"));
    assert!(format!("{account:?}").contains("A1DEBUG"));
}
