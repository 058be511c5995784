//! The vault's envelope parser and decryption: `Ciphertext::parse` on
//! arbitrary text, and every decrypt entry point on real envelopes that
//! were edited (bits flipped, bytes inserted or cut, fields replaced,
//! re-encoded, swapped or spliced from another envelope) or opened under
//! another context.
//!
//! Checks: never a panic; what parses prints back as the same text; an
//! envelope that is not byte for byte the one sealed, or a context that is
//! not the one it was sealed under, never decrypts.
//!
//! Key derivation is PBKDF2 with 600,000 iterations: the vault and its keys
//! are built once per process. An edited envelope that names a configured
//! key with another salt or iteration count would make the vault derive a
//! new key (seconds per input), so those are parsed but not decrypted.
#![no_main]

use std::{collections::HashMap, sync::LazyLock};

use arbitrary::Arbitrary;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use clerk_sync::vault::{Ciphertext, ExposeSecret, Vault, PBKDF2_ITERATIONS};
use libfuzzer_sys::fuzz_target;

const SECRET_1: &str = "fuzz-k1-secret-0123456789abcdefghijklmnop";
const SECRET_2: &str = "fuzz-k2-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA98";
const CONTEXTS: [&str; 4] = [
    "seller_accounts:8f2b0a6e-3c1d-4e5f-9a7b-0c1d2e3f4a5b:lwa_refresh_token",
    "seller_accounts:8f2b0a6e-3c1d-4e5f-9a7b-0c1d2e3f4a5b:lwa_client_secret",
    "seller_accounts:00000000-0000-0000-0000-000000000000:lwa_refresh_token",
    "",
];

struct Sealed {
    text: String,
    context: &'static str,
    plaintext: Vec<u8>,
}

struct Fixture {
    vault: Vault,
    envelopes: Vec<Sealed>,
    /// (key id, salt field) whose keys are derived already.
    derived: Vec<(String, String)>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let keys = format!("k1:{SECRET_1},k2:{SECRET_2}");
    let vault = Vault::from_source(&HashMap::from([("ENCRYPTION_KEYS", keys.as_str())])).expect("vault");
    // k2 envelopes come from a vault whose current key is k2.
    let k2_keys = format!("k2:{SECRET_2}");
    let older = Vault::from_source(&HashMap::from([("ENCRYPTION_KEYS", k2_keys.as_str())])).expect("vault");
    let plain: [(&Vault, &[u8], &'static str); 5] = [
        (&vault, b"Atzr|IwEBIA-fuzz-refresh-token", CONTEXTS[0]),
        (&vault, b"", CONTEXTS[0]),
        (&vault, &[0xa5; 100], CONTEXTS[1]),
        (&vault, b"{\"client_id\":\"amzn1.application-oa2-client.fuzz\"}", CONTEXTS[3]),
        (&older, b"amzn1.oa2-cs.v1.fuzz-client-secret", CONTEXTS[0]),
    ];
    let envelopes: Vec<Sealed> = plain
        .into_iter()
        .map(|(v, p, context)| Sealed {
            text: v.encrypt(p, context).expect("encrypts").into_string(),
            context,
            plaintext: p.to_vec(),
        })
        .collect();
    // Derive the main vault's k2 key now, not inside the first input.
    for e in &envelopes {
        let ct = Ciphertext::parse(&e.text).expect("own envelope parses");
        assert_eq!(vault.decrypt(&ct, e.context).expect("own envelope opens").expose_secret(), &e.plaintext[..]);
    }
    let derived = envelopes
        .iter()
        .map(|e| {
            let f: Vec<&str> = e.text.split('.').collect();
            (f[1].to_string(), f[3].to_string())
        })
        .collect();
    Fixture { vault, envelopes, derived }
});

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
    /// One field replaced by arbitrary text.
    ReplaceField {
        field: u8,
        text: String,
    },
    /// One field replaced by the canonical base64url of arbitrary bytes:
    /// well-formed, wrong content.
    ReEncodeField {
        field: u8,
        bytes: Vec<u8>,
    },
    /// One field taken from another real envelope.
    SpliceField {
        field: u8,
        from: u8,
    },
    SwapFields {
        a: u8,
        b: u8,
    },
}

#[derive(Debug, Arbitrary)]
enum ContextChoice {
    Same,
    Known(u8),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Opener {
    Bytes,
    Str,
    Json,
    Reencrypt,
}

#[derive(Debug, Arbitrary)]
enum Input {
    Text(String, Opener),
    Edited { base: u8, mutations: Vec<Mutation>, context: ContextChoice, opener: Opener },
}

fuzz_target!(|input: Input| {
    let fixture = &*FIXTURE;
    match input {
        Input::Text(text, opener) => {
            if let Some(ct) = parse(&text) {
                // Arbitrary text that parses is not one of our envelopes (or
                // is, byte for byte): only ours may open.
                let ours = fixture.envelopes.iter().find(|e| e.text == text);
                for context in CONTEXTS {
                    let opened = open(fixture, &ct, context, &opener);
                    if opened.is_some() {
                        assert!(ours.is_some_and(|e| e.context == context), "arbitrary text decrypted: {text:?}");
                    }
                }
            }
        }
        Input::Edited { base, mutations, context, opener } => {
            let sealed = &fixture.envelopes[base as usize % fixture.envelopes.len()];
            let mut bytes = sealed.text.clone().into_bytes();
            for mutation in mutations.iter().take(4) {
                apply(&mut bytes, mutation, fixture);
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let context = match &context {
                ContextChoice::Same => sealed.context.to_string(),
                ContextChoice::Known(i) => CONTEXTS[*i as usize % CONTEXTS.len()].to_string(),
                ContextChoice::Raw(s) => s.clone(),
            };
            let Some(ct) = parse(&text) else { return };
            if let Some(plain) = open(fixture, &ct, &context, &opener) {
                // Splicing every field of another envelope in rebuilds that
                // envelope, which then rightly opens under its own context.
                let original = fixture.envelopes.iter().find(|e| e.text == text && e.context == context);
                let Some(original) = original else {
                    panic!("an edited envelope decrypted: {text:?} under {context:?}");
                };
                assert_eq!(plain, original.plaintext);
            }
        }
    }
});

/// Parses, checking that what parses prints back unchanged.
fn parse(text: &str) -> Option<Ciphertext> {
    let ct = Ciphertext::parse(text).ok()?;
    assert_eq!(ct.as_str(), text);
    assert_eq!(Ciphertext::parse(&ct.to_string()).ok().as_ref(), Some(&ct));
    assert!(!text.contains(SECRET_1) && !text.contains(SECRET_2));
    Some(ct)
}

/// Decrypts with the chosen entry point when that needs no new key
/// derivation; `Some(plaintext)` when it opened.
fn open(fixture: &Fixture, ct: &Ciphertext, context: &str, opener: &Opener) -> Option<Vec<u8>> {
    let salt = ct.as_str().split('.').nth(3).unwrap_or_default();
    let configured = matches!(ct.key_id(), "k1" | "k2");
    let derived =
        ct.iterations() == PBKDF2_ITERATIONS && fixture.derived.iter().any(|(id, s)| id == ct.key_id() && s == salt);
    if configured && !derived {
        return None;
    }
    let vault = &fixture.vault;
    match opener {
        Opener::Bytes => vault.decrypt(ct, context).ok().map(|p| p.expose_secret().to_vec()),
        Opener::Str => vault.decrypt_str(ct, context).ok().map(|p| p.expose_secret().as_bytes().to_vec()),
        Opener::Json => {
            vault.decrypt_json::<serde_json::Value>(ct, context).ok()?;
            // It opened: compare the bytes themselves.
            Some(vault.decrypt(ct, context).ok()?.expose_secret().to_vec())
        }
        Opener::Reencrypt => {
            let again = vault.reencrypt(ct, context).ok()?;
            Some(vault.decrypt(&again, context).ok()?.expose_secret().to_vec())
        }
    }
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
        Mutation::ReplaceField { field, text } => with_fields(bytes, |f| set(f, *field, text.clone())),
        Mutation::ReEncodeField { field, bytes: raw } => with_fields(bytes, |f| set(f, *field, B64.encode(raw))),
        Mutation::SpliceField { field, from } => {
            let other = &fixture.envelopes[*from as usize % fixture.envelopes.len()].text;
            let donor: Vec<&str> = other.split('.').collect();
            let value = donor[*field as usize % donor.len()].to_string();
            with_fields(bytes, |f| set(f, *field, value));
        }
        Mutation::SwapFields { a, b } => with_fields(bytes, |f| {
            if !f.is_empty() {
                let (a, b) = (*a as usize % f.len(), *b as usize % f.len());
                f.swap(a, b);
            }
        }),
    }
}

fn with_fields(bytes: &mut Vec<u8>, edit: impl FnOnce(&mut Vec<String>)) {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut fields: Vec<String> = text.split('.').map(str::to_string).collect();
    edit(&mut fields);
    *bytes = fields.join(".").into_bytes();
}

fn set(fields: &mut [String], field: u8, value: String) {
    if !fields.is_empty() {
        let i = field as usize % fields.len();
        fields[i] = value;
    }
}
