//! Vault costs: a 1 KiB credential object once the key is derived, and the
//! one-off derivation a process pays on first use.
//!
//! `cargo bench -p clerk-sync --bench vault`

use std::{collections::HashMap, hint::black_box};

use clerk_sync::vault::{Ciphertext, ExposeSecret, Vault};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::{json, Value};

const CONTEXT: &str = "seller_accounts:8f2b0a6e-3c1d-4e5f-9a7b-0c1d2e3f4a5b:credentials";

fn vault() -> Vault {
    let vars: HashMap<&str, &str> = [("ENCRYPTION_KEYS", "bench:bench-secret-0123456789abcdefghijklmnop")].into();
    Vault::from_source(&vars).expect("valid bench key")
}

/// An SP-API credential object of about 1 KiB as JSON.
fn credential_object() -> Value {
    let object = json!({
        "refresh_token": format!("Atzr|IwEBI{}", "x7Kq2".repeat(100)),
        "client_id": "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef",
        "client_secret": format!("amzn1.oa2-cs.v1.{}", "0123456789abcdef".repeat(4)),
        "seller_id": "A1B2C3D4E5F6G7",
        "marketplace_ids": ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8", "A2Q3Y263D00KWC"],
        "region": "na",
        "scopes": ["sellingpartnerapi::notifications", "sellingpartnerapi::migration"],
        "connected_by": "user_2abcdefghijklmnopqrstuvwxyz",
        "note": "x".repeat(96)
    });
    let len = serde_json::to_vec(&object).expect("serializable").len();
    assert!((1000..=1100).contains(&len), "credential object is {len} bytes");
    object
}

fn warm(c: &mut Criterion) {
    let v = vault();
    let object = credential_object();
    let bytes = serde_json::to_vec(&object).expect("serializable");
    // First use derives the key; everything below runs on the cached one.
    let sealed: Ciphertext = v.encrypt_json(&object, CONTEXT).expect("encrypt");

    let mut group = c.benchmark_group("vault_1KiB");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encrypt_json", |b| b.iter(|| v.encrypt_json(black_box(&object), CONTEXT)));
    group.bench_function("decrypt_json", |b| b.iter(|| v.decrypt_json::<Value>(black_box(&sealed), CONTEXT)));
    group.bench_function("encrypt_bytes", |b| b.iter(|| v.encrypt(black_box(&bytes), CONTEXT)));
    group.bench_function("decrypt_bytes", |b| {
        b.iter(|| v.decrypt(black_box(&sealed), CONTEXT).map(|p| p.expose_secret().len()))
    });
    group.bench_function("parse_envelope", |b| b.iter(|| Ciphertext::parse(black_box(sealed.as_str()))));
    group.finish();
}

fn first_use(c: &mut Criterion) {
    let mut group = c.benchmark_group("vault_first_use");
    group.sample_size(10);
    group.bench_function("construct", |b| b.iter(vault));
    group.bench_function("derive_then_encrypt", |b| {
        b.iter_batched(vault, |v| v.encrypt(b"x", CONTEXT), BatchSize::PerIteration)
    });
    group.finish();
}

criterion_group!(benches, warm, first_use);
criterion_main!(benches);
