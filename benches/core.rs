//! Micro-benchmarks of the hot paths that touch no database: key parsing,
//! the validation decision, and response signing (next to a bare ed25519
//! sign and verify of the same bytes). Run: `cargo bench --bench core`.

// Benchmark set-up: a failed unwrap is a broken benchmark.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use licensor::domain::license::{
    LicenseFacts, LicenseStatus, Lookup, MachineFacts, ValidationRequest, validate,
};
use licensor::domain::license_key::LicenseKey;
use licensor::domain::time::Timestamp;
use licensor::signing::{KeyPair, KeyRing, PublicKeyEntry, response_signing_message};

fn key_parse(c: &mut Criterion) {
    let key = LicenseKey::from_random_bytes(&[0x5a; 15]).expose();
    let typed = key.to_lowercase().replace('-', " ");
    c.bench_function("key_parse", |b| {
        b.iter(|| LicenseKey::parse(black_box(&typed)))
    });
    let parsed = LicenseKey::parse(&key).unwrap();
    c.bench_function("key_digest", |b| b.iter(|| black_box(&parsed).digest()));
}

fn decision(c: &mut Criterion) {
    let now = Timestamp::from_unix(1_800_000_000);
    let facts = LicenseFacts {
        product_code: "app".to_owned(),
        status: LicenseStatus::Active,
        expires_at: Some(now.plus_days(30)),
        grace_days: 3,
        floating: true,
        heartbeat_window_secs: Some(600),
        entitlements: vec!["export".to_owned(), "pro".to_owned()],
    };
    let machine = MachineFacts {
        last_heartbeat_at: now,
    };
    let wanted = vec!["pro".to_owned()];
    let request = ValidationRequest {
        fingerprint: Some("4f1c9e2a"),
        product: Some("app"),
        entitlements: &wanted,
    };
    c.bench_function("validate_decision", |b| {
        b.iter(|| {
            validate(
                Lookup::Found(black_box(&facts)),
                Some(&machine),
                black_box(&request),
                now,
            )
        })
    });
}

fn signatures(c: &mut Criterion) {
    let pair = KeyPair::from_seed(&[7; 32]);
    let entry = PublicKeyEntry::new(
        &pair.kid,
        &pair.public_key_bytes(),
        Timestamp::from_unix(0),
        true,
    );
    let ring = KeyRing::new(Some(pair), vec![entry]);
    let body =
        br#"{"valid":true,"code":"VALID","detail":"The license is valid.","license":{"id":"x"}}"#;
    c.bench_function("response_signature", |b| {
        b.iter(|| {
            let message = response_signing_message(
                "2adb36e1-5d96-48c0-b616-b9e4f8a14542",
                "Sun, 29 Nov 2026 00:52:59 GMT",
                black_box(body),
            );
            ring.sign(message.as_bytes())
        })
    });
    let bare = SigningKey::from_bytes(&[7; 32]);
    let message = response_signing_message(
        "2adb36e1-5d96-48c0-b616-b9e4f8a14542",
        "Sun, 29 Nov 2026 00:52:59 GMT",
        body,
    );
    c.bench_function("bare_ed25519_sign", |b| {
        b.iter(|| bare.sign(black_box(message.as_bytes())))
    });
    let signature = bare.sign(message.as_bytes());
    let verifying = bare.verifying_key();
    c.bench_function("bare_ed25519_verify", |b| {
        b.iter(|| verifying.verify(black_box(message.as_bytes()), &signature))
    });
}

criterion_group!(benches, key_parse, decision, signatures);
criterion_main!(benches);
