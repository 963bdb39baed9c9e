//! Micro-benchmarks of the hot paths that touch no database: key parsing,
//! the validation decision, and response signing (next to a bare ed25519
//! sign, ed25519-dalek's and AWS-LC's, and a bare verify of the same
//! bytes). Run: `cargo bench --bench core`.

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
    let entitlements = vec!["export".to_owned(), "pro".to_owned()];
    let facts = LicenseFacts {
        product_code: "app",
        status: LicenseStatus::Active,
        expires_at: Some(now.plus_days(30)),
        grace_days: 3,
        floating: true,
        heartbeat_window_secs: Some(600),
        entitlements: &entitlements,
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
    let pair = KeyPair::from_seed(&[7; 32]).unwrap();
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
    // What KeyRing signs with (docs/decisions/0076).
    let aws_lc = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
    c.bench_function("bare_aws_lc_ed25519_sign", |b| {
        b.iter(|| aws_lc.sign(black_box(message.as_bytes())))
    });
    let signature = bare.sign(message.as_bytes());
    let verifying = bare.verifying_key();
    c.bench_function("bare_ed25519_verify", |b| {
        b.iter(|| verifying.verify(black_box(message.as_bytes()), &signature))
    });
}

/// Verifying a whole machine file (armor, envelope, `verify_strict`,
/// payload, clock checks) next to a bare `verify_strict` of the same signed
/// bytes, the public key parsed once in both.
fn license_files(c: &mut Criterion) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use licensor::signing::license_file;
    use licensor::verify::{Licensee, Payload, PublicKeys, SIGNING_PREFIX, parse, verify};

    let pair = KeyPair::from_seed(&[7; 32]).unwrap();
    let public = ed25519_dalek::VerifyingKey::from_bytes(&pair.public_key_bytes()).unwrap();
    let kid = pair.kid.clone();
    let entry = PublicKeyEntry::new(
        &kid,
        &pair.public_key_bytes(),
        Timestamp::from_unix(0),
        true,
    );
    let ring = KeyRing::new(Some(pair), vec![entry]);
    let now = 1_800_000_000;
    let payload = Payload {
        kind: "machine".to_owned(),
        license_id: "01a224ca-7b2c-76bc-b555-28ab9da014f9".to_owned(),
        product: "demo-app".to_owned(),
        license_type: "Pro yearly".to_owned(),
        licensee: Licensee {
            organization_id: Some("01a224ca-71aa-75b4-8e8d-861f43329fbf".to_owned()),
            name: Some("Acme Ltd".to_owned()),
            email: Some("it@acme.example".to_owned()),
        },
        entitlements: vec!["pro".to_owned(), "export".to_owned()],
        max_machines: 3,
        issued_at: now - 86_400,
        expires_at: Some(now + 365 * 86_400),
        grace_days: 7,
        file_issued_at: now,
        fingerprint: Some("4f1c9e2a".to_owned()),
        valid_until: Some(now + 30 * 86_400),
    };
    let file = license_file::issue(&ring, &payload).unwrap();
    c.bench_function("license_file_sign", |b| {
        b.iter(|| license_file::issue(&ring, black_box(&payload)))
    });
    let mut keys = PublicKeys::default();
    keys.insert(&kid, public);
    let at = Timestamp::from_unix(now);
    let envelope = parse(&file).unwrap();
    let message = [SIGNING_PREFIX.as_bytes(), envelope.payload.as_bytes()].concat();
    let signature = ed25519_dalek::Signature::from_bytes(
        &URL_SAFE_NO_PAD
            .decode(&envelope.sig)
            .unwrap()
            .try_into()
            .unwrap(),
    );
    c.bench_function("bare_ed25519_verify_strict_same_bytes", |b| {
        b.iter(|| {
            public
                .verify_strict(black_box(&message), &signature)
                .unwrap()
        })
    });
    c.bench_function("license_file_verify", |b| {
        b.iter(|| verify(black_box(&file), &keys, at, Some("4f1c9e2a")).unwrap())
    });
    c.bench_function("bare_ed25519_verify_strict_same_bytes_again", |b| {
        b.iter(|| {
            public
                .verify_strict(black_box(&message), &signature)
                .unwrap()
        })
    });
}

criterion_group!(benches, key_parse, decision, signatures, license_files);
criterion_main!(benches);
