//! CPU costs on the delivery path, no database: signature verification per
//! KiB of body, and reading a payload (envelope, object id, plan).
//!
//! `cargo bench -p clerk-sync-bench --bench micro`
//! (vault encrypt/decrypt: `cargo bench -p clerk-sync --bench vault`)

use std::hint::black_box;

use clerk_sync::{
    clerk::{plan, Envelope},
    webhook::SigningSecrets,
    Family,
};
use clerk_sync_tests::{now, signed_headers, TEST_SECRET};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::{HeaderMap, HeaderName, HeaderValue};

/// A Clerk-like JSON body of exactly `len` bytes.
fn body(len: usize) -> String {
    let head = r#"{"type":"user.updated","object":"event","data":{"pad":""#;
    let tail = r#""}}"#;
    let body = format!("{head}{}{tail}", "x".repeat(len - head.len() - tail.len()));
    assert_eq!(body.len(), len);
    body
}

fn header_map(headers: &[(String, String)]) -> HeaderMap {
    headers
        .iter()
        .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).expect("name"), HeaderValue::from_str(v).expect("value")))
        .collect()
}

fn signature(c: &mut Criterion) {
    let secrets = SigningSecrets::parse(&TEST_SECRET.to_string().into()).expect("test secret");
    let mut group = c.benchmark_group("verify_signature");
    for kib in [1usize, 4, 16, 64] {
        let body = body(kib * 1024);
        // Signed now: criterion's run is far inside Svix's 5-minute tolerance.
        let headers = header_map(&signed_headers(TEST_SECRET, "msg_bench_signature", now(), &body));
        secrets.verify(body.as_bytes(), &headers).expect("authentic");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format!("{kib}KiB")), &body, |b, body| {
            b.iter(|| secrets.verify(black_box(body.as_bytes()), black_box(&headers)))
        });
    }
    group.finish();
}

/// The committed samples, each with the family that applies it.
const SAMPLES: [(&str, Family); 6] = [
    ("user.created", Family::Users),
    ("user.deleted", Family::Users),
    ("organization.updated", Family::Organizations),
    ("organization.deleted", Family::Organizations),
    ("organizationMembership.created", Family::Memberships),
    ("organizationMembership.deleted", Family::Memberships),
];

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_and_plan");
    for (name, family) in SAMPLES {
        let path = format!("{}/../events/payloads/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read(&path).expect("sample payload");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| {
                let envelope = Envelope::parse(black_box(body)).expect("parses");
                (envelope.object_id(), plan(family, &envelope))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, signature, parsing);
criterion_main!(benches);
