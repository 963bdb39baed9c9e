//! Issuing license and machine files: a payload signed with the active key
//! and armored in the v1 format that `crate::verify` reads.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::license_key::LicenseKey;
use crate::signing::KeyRing;
use crate::verify::{
    ENCRYPTION, Envelope, NONCE_LEN, Payload, SIGNING_PREFIX, armor, seal_payload,
};

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("no active signing key; run `licensor keys generate`")]
    NoKey,
    #[error("the payload does not serialize: {0}")]
    Payload(#[from] serde_json::Error),
    #[error("encrypting the payload failed: {0}")]
    Encryption(&'static str),
}

/// The armored, signed file for `payload`.
pub fn issue(ring: &KeyRing, payload: &Payload) -> Result<String, IssueError> {
    sign(ring, serde_json::to_vec(payload)?, None)
}

/// The encrypted variant: the payload sealed with AES-256-GCM under a key
/// derived from the license key (docs/license-file.md), then signed, so
/// only a holder of the key can read it and anyone can check it.
pub fn issue_encrypted(
    ring: &KeyRing,
    payload: &Payload,
    license_key: &LicenseKey,
) -> Result<String, IssueError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| IssueError::Encryption("no random nonce"))?;
    issue_encrypted_with_nonce(ring, payload, license_key, nonce)
}

fn issue_encrypted_with_nonce(
    ring: &KeyRing,
    payload: &Payload,
    license_key: &LicenseKey,
    nonce: [u8; NONCE_LEN],
) -> Result<String, IssueError> {
    let sealed = seal_payload(license_key, nonce, &serde_json::to_vec(payload)?)
        .ok_or(IssueError::Encryption("AES-GCM refused the payload"))?;
    sign(ring, sealed, Some(ENCRYPTION))
}

fn sign(ring: &KeyRing, payload: Vec<u8>, enc: Option<&str>) -> Result<String, IssueError> {
    let payload_b64 = URL_SAFE_NO_PAD.encode(payload);
    let mut message = Vec::with_capacity(SIGNING_PREFIX.len() + payload_b64.len());
    message.extend_from_slice(SIGNING_PREFIX.as_bytes());
    message.extend_from_slice(payload_b64.as_bytes());
    let (kid, sig) = ring.sign(&message).ok_or(IssueError::NoKey)?;
    Ok(armor(&Envelope {
        v: 1,
        alg: "ed25519".to_owned(),
        kid: kid.to_owned(),
        enc: enc.map(str::to_owned),
        payload: payload_b64,
        sig: URL_SAFE_NO_PAD.encode(sig),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;
    use crate::signing::{KeyPair, PublicKeyEntry};
    use crate::verify::{Licensee, PublicKeys, VerifyError, parse, verify, verify_with_key};
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;

    fn ring(seed: u8) -> (KeyRing, PublicKeys) {
        let pair = KeyPair::from_seed(&[seed; 32]).unwrap();
        let mut keys = PublicKeys::default();
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&pair.public_key_bytes()).unwrap();
        keys.insert(&pair.kid, vk);
        let entry = PublicKeyEntry::new(
            &pair.kid,
            &pair.public_key_bytes(),
            Timestamp::from_unix(0),
            true,
        );
        (KeyRing::new(Some(pair), vec![entry]), keys)
    }

    fn payload(kind: &str) -> Payload {
        Payload {
            kind: kind.to_owned(),
            license_id: "01a224ca-7b2c-76bc-b555-28ab9da014f9".to_owned(),
            product: "demo-app".to_owned(),
            license_type: "Trial".to_owned(),
            licensee: Licensee {
                organization_id: Some("org".to_owned()),
                name: Some("Acme".to_owned()),
                email: None,
            },
            entitlements: vec!["pro".to_owned()],
            max_machines: 2,
            issued_at: NOW - 10,
            expires_at: Some(NOW + 86_400),
            grace_days: 1,
            file_issued_at: NOW,
            fingerprint: (kind == "machine").then(|| "fp-1".to_owned()),
            valid_until: (kind == "machine").then_some(NOW + 7 * 86_400),
        }
    }

    #[test]
    fn issued_files_verify_and_the_armor_is_wrapped() {
        let (ring, keys) = ring(1);
        let file = issue(&ring, &payload("license")).unwrap();
        assert!(file.starts_with("-----BEGIN LICENSOR LICENSE-----\n"));
        assert!(
            file.lines()
                .all(|l| l.len() <= 64 || l.starts_with("-----"))
        );
        let got = verify(&file, &keys, Timestamp::from_unix(NOW), None).unwrap();
        assert_eq!(got, payload("license"));
    }

    #[test]
    fn every_refusal_is_precise() {
        let (ring, keys) = ring(1);
        let (_, other_keys) = self::ring(2);
        let now = Timestamp::from_unix(NOW);
        let lic = issue(&ring, &payload("license")).unwrap();
        let machine = issue(&ring, &payload("machine")).unwrap();
        assert_eq!(
            verify("hello", &keys, now, None),
            Err(VerifyError::BadArmor)
        );
        assert!(matches!(
            verify(
                "-----BEGIN LICENSOR LICENSE-----\n!!!\n-----END LICENSOR LICENSE-----",
                &keys,
                now,
                None
            ),
            Err(VerifyError::BadEncoding(_))
        ));
        assert!(matches!(
            verify(&lic, &other_keys, now, None),
            Err(VerifyError::UnknownKey(_))
        ));
        assert_eq!(
            verify(&lic, &keys, Timestamp::from_unix(NOW - 3600), None),
            Err(VerifyError::ClockBehind)
        );
        assert!(
            verify(&lic, &keys, Timestamp::from_unix(NOW - 60), None).is_ok(),
            "within the tolerance"
        );
        assert!(
            verify(&lic, &keys, Timestamp::from_unix(NOW + 86_400 + 3600), None).is_ok(),
            "in grace"
        );
        assert_eq!(
            verify(&lic, &keys, Timestamp::from_unix(NOW + 2 * 86_400), None),
            Err(VerifyError::Expired)
        );
        assert!(verify(&machine, &keys, now, Some("fp-1")).is_ok());
        assert_eq!(
            verify(&machine, &keys, now, Some("fp-2")),
            Err(VerifyError::FingerprintMismatch)
        );
        assert_eq!(
            verify(&machine, &keys, now, None),
            Err(VerifyError::FingerprintMismatch)
        );
        let mut late = payload("machine");
        late.expires_at = None;
        let late = issue(&ring, &late).unwrap();
        assert_eq!(
            verify(
                &late,
                &keys,
                Timestamp::from_unix(NOW + 8 * 86_400),
                Some("fp-1")
            ),
            Err(VerifyError::CheckInOverdue)
        );
    }

    #[test]
    fn re_encoding_the_payload_json_breaks_the_signature() {
        let (ring, keys) = ring(1);
        let file = issue(&ring, &payload("license")).unwrap();
        let mut env = parse(&file).unwrap();
        let json = URL_SAFE_NO_PAD.decode(&env.payload).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        env.payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec_pretty(&value).unwrap());
        assert_eq!(
            verify(
                &crate::verify::armor(&env),
                &keys,
                Timestamp::from_unix(NOW),
                None
            ),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn an_encrypted_file_hides_the_payload_and_opens_only_with_its_key() {
        let (ring, keys) = ring(1);
        let key = LicenseKey::from_random_bytes(&[9; 15]);
        let other = LicenseKey::from_random_bytes(&[8; 15]);
        let now = Timestamp::from_unix(NOW);
        let file = issue_encrypted(&ring, &payload("machine"), &key).unwrap();
        let env = parse(&file).unwrap();
        assert_eq!(env.enc.as_deref(), Some("aes-256-gcm"));
        let sealed = URL_SAFE_NO_PAD.decode(&env.payload).unwrap();
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("demo-app") && !text.contains("Acme") && !text.contains("fp-1"));
        assert_eq!(
            verify_with_key(&file, &keys, now, Some("fp-1"), Some(&key)).unwrap(),
            payload("machine")
        );
        assert_eq!(
            verify(&file, &keys, now, Some("fp-1")),
            Err(VerifyError::KeyRequired)
        );
        assert_eq!(
            verify_with_key(&file, &keys, now, Some("fp-1"), Some(&other)),
            Err(VerifyError::WrongKey)
        );
        // Still signed: an altered ciphertext is refused before decryption.
        let mut altered = env.clone();
        let mut bytes = sealed.clone();
        bytes[20] ^= 1;
        altered.payload = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            verify_with_key(
                &crate::verify::armor(&altered),
                &keys,
                now,
                Some("fp-1"),
                Some(&key)
            ),
            Err(VerifyError::BadSignature)
        );
        // Two encryptions of one payload differ (fresh nonce).
        assert_ne!(
            file,
            issue_encrypted(&ring, &payload("machine"), &key).unwrap()
        );
    }

    proptest! {
        /// Flipping any bit of the payload, the signature or the key id
        /// (in the decoded bytes, or in the text of the envelope) fails
        /// verification.
        #[test]
        fn any_flipped_byte_fails(field in 0usize..3, decoded in any::<bool>(), index in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (ring, keys) = ring(1);
            let file = issue(&ring, &payload("license")).unwrap();
            let mut env = parse(&file).unwrap();
            let target = match field { 0 => &mut env.payload, 1 => &mut env.sig, _ => &mut env.kid };
            let mut bytes = if decoded && field < 2 {
                URL_SAFE_NO_PAD.decode(target.as_bytes()).unwrap()
            } else {
                target.clone().into_bytes()
            };
            let i = index.index(bytes.len());
            bytes[i] ^= 1 << bit;
            *target = if decoded && field < 2 {
                URL_SAFE_NO_PAD.encode(&bytes)
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            };
            let tampered = crate::verify::armor(&env);
            prop_assert!(verify(&tampered, &keys, Timestamp::from_unix(NOW), None).is_err());
        }

        /// Whatever text it is given, the verifier answers with a verdict
        /// and never panics.
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,400}") {
            let (_, keys) = ring(1);
            let _ = verify(&text, &keys, Timestamp::from_unix(NOW), Some("fp"));
            let armored = format!("{}\n{}\n{}", crate::verify::BEGIN, text, crate::verify::END);
            let _ = verify(&armored, &keys, Timestamp::from_unix(NOW), Some("fp"));
        }
    }

    /// `tests/vectors/`: files made with a fixed key (seed 0x4c x 32) and
    /// nonce, and the verdict each must get. Regenerate after a deliberate
    /// format change with `UPDATE_VECTORS=1 cargo test --lib vectors`.
    #[test]
    fn test_vectors_match_and_verify() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
        let (ring, keys) = ring(0x4c);
        let (other_ring, _) = self::ring(0x4d);
        // A key the vendor revoked (seed 0x4e): published, with the time.
        let (revoked_ring, _) = self::ring(0x4e);
        let mut revoked_entry = revoked_ring.published()[0].clone();
        revoked_entry.active = false;
        revoked_entry.revoked_at = Some(NOW - 86_400);
        let key = LicenseKey::from_random_bytes(&[0x21; 15]);
        let license = issue(&ring, &payload("license")).unwrap();
        let machine = issue(&ring, &payload("machine")).unwrap();
        let encrypted =
            issue_encrypted_with_nonce(&ring, &payload("machine"), &key, [7; NONCE_LEN]).unwrap();
        let mut env = parse(&license).unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&env.payload).unwrap()).unwrap();
        json["max_machines"] = serde_json::json!(200);
        env.payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json).unwrap());
        let edited = crate::verify::armor(&env);
        let foreign = issue(&other_ring, &payload("license")).unwrap();
        let revoked = issue(&revoked_ring, &payload("license")).unwrap();
        let published = [ring.published()[0].clone(), revoked_entry];
        let key_set = serde_json::to_string_pretty(&crate::signing::key_set_document(&published))
            .unwrap()
            + "\n";

        let key_text = key.expose();
        let wrong_key = LicenseKey::from_random_bytes(&[0x22; 15]).expose();
        let case = |file: &str, now: i64, fp: Option<&str>, lk: Option<&str>, verdict: &str| serde_json::json!({"file": file, "now": now, "fingerprint": fp, "license_key": lk, "verdict": verdict});
        let cases = serde_json::json!({
            "about": "Licensor license file v1 test vectors (docs/license-file.md). Verify each file with keys.json at `now` (unix seconds) with the given fingerprint and license key; the result must be `verdict`.",
            "cases": [
                case("license.lic", NOW, None, None, "valid"),
                case("license.lic", NOW + 86_400 + 3600, None, None, "valid"),
                case("license.lic", NOW + 2 * 86_400, None, None, "expired"),
                case("license.lic", NOW - 3600, None, None, "clock_behind"),
                case("machine.lic", NOW, Some("fp-1"), None, "valid"),
                case("machine.lic", NOW, Some("fp-2"), None, "fingerprint_mismatch"),
                case("encrypted.lic", NOW, Some("fp-1"), Some(&key_text), "valid"),
                case("encrypted.lic", NOW, Some("fp-1"), None, "key_required"),
                case("encrypted.lic", NOW, Some("fp-1"), Some(&wrong_key), "wrong_key"),
                case("edited.lic", NOW, None, None, "bad_signature"),
                case("foreign.lic", NOW, None, None, "unknown_key"),
                case("revoked.lic", NOW, None, None, "revoked_key"),
            ]
        });
        let files = [
            ("keys.json", key_set),
            ("license.lic", license),
            ("machine.lic", machine),
            ("encrypted.lic", encrypted),
            ("edited.lic", edited),
            ("foreign.lic", foreign),
            ("revoked.lic", revoked),
            (
                "cases.json",
                serde_json::to_string_pretty(&cases).unwrap() + "\n",
            ),
        ];
        for (name, content) in &files {
            stored_vector(&dir, name, content);
        }
        let stored_keys =
            PublicKeys::from_key_set_json(&std::fs::read_to_string(dir.join("keys.json")).unwrap())
                .unwrap();
        let mut expected = keys.clone();
        let revoked_public = revoked_ring.verifying_key(&published[1].kid).unwrap();
        expected.insert(&published[1].kid, revoked_public);
        expected.revoke(&published[1].kid, NOW - 86_400);
        assert_eq!(format!("{stored_keys:?}"), format!("{expected:?}"));
        for case in cases["cases"].as_array().unwrap() {
            let file = std::fs::read_to_string(dir.join(case["file"].as_str().unwrap())).unwrap();
            let lk = case["license_key"]
                .as_str()
                .map(|k| LicenseKey::parse(k).unwrap());
            let got = verify_with_key(
                &file,
                &stored_keys,
                Timestamp::from_unix(case["now"].as_i64().unwrap()),
                case["fingerprint"].as_str(),
                lk.as_ref(),
            );
            let verdict = got.as_ref().map_or_else(VerifyError::code, |_| "valid");
            assert_eq!(verdict, case["verdict"].as_str().unwrap(), "{case}");
        }
    }

    /// Writes a vector file (`UPDATE_VECTORS=1`) or checks that the stored
    /// one is what the code makes now.
    fn stored_vector(dir: &std::path::Path, name: &str, content: &str) {
        let path = dir.join(name);
        if std::env::var_os("UPDATE_VECTORS").is_some() {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(&path, content).unwrap();
        } else {
            let stored = std::fs::read_to_string(&path).unwrap_or_default();
            assert_eq!(
                stored, content,
                "tests/vectors/{name} differs from what the code issues; if the format change is deliberate, run UPDATE_VECTORS=1 cargo test --lib vectors"
            );
        }
    }

    /// `tests/vectors/answers.json`: signed API answers (docs/api.md,
    /// "Response signatures") with the verdict each must get against
    /// `keys.json`: the answer as signed, then its body, request id or
    /// date changed, signed by an unknown or the revoked key, a malformed
    /// header and another algorithm.
    #[test]
    fn signed_answer_vectors_match_and_verify() {
        use crate::verify::{response_signing_message, verify_response};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
        let (ring, _) = ring(0x4c);
        let (foreign, _) = self::ring(0x4d);
        let (revoked, _) = self::ring(0x4e);
        let body = r#"{"valid":true,"code":"VALID","meta":{"request_id":"rid-vector-1","ts":1800000000,"nonce":"n-vector-1"}}"#;
        let (rid, date) = ("rid-vector-1", "Fri, 15 Jan 2027 08:00:00 GMT");
        let header = |ring: &KeyRing, alg: &str| {
            let (kid, sig) = ring
                .sign(response_signing_message(rid, date, body.as_bytes()).as_bytes())
                .unwrap();
            format!(
                "kid=\"{kid}\", alg=\"{alg}\", sig=\"{}\"",
                URL_SAFE_NO_PAD.encode(sig)
            )
        };
        let signed = header(&ring, "ed25519");
        let case = |name: &str,
                    request_id: &str,
                    date: &str,
                    body: &str,
                    signature: &str,
                    verdict: &str| {
            serde_json::json!({"name": name, "request_id": request_id, "date": date, "body": body, "signature": signature, "verdict": verdict})
        };
        let answers = serde_json::json!({
            "about": "Signed API answers (docs/api.md, Response signatures). Verify `signature` (the Licensor-Signature header) over `request_id` (X-Request-Id), `date` (Date) and the exact bytes of `body` with keys.json; the result must be `verdict`.",
            "answers": [
                case("as signed", rid, date, body, &signed, "valid"),
                case("body edited", rid, date, &body.replace("VALID", "VALIE"), &signed, "bad_signature"),
                case("another request id", "rid-vector-2", date, body, &signed, "bad_signature"),
                case("another date", rid, "Sat, 16 Jan 2027 08:00:00 GMT", body, &signed, "bad_signature"),
                case("an unknown key", rid, date, body, &header(&foreign, "ed25519"), "unknown_key"),
                case("the revoked key", rid, date, body, &header(&revoked, "ed25519"), "revoked_key"),
                case("a malformed header", rid, date, body, "kid", "bad_encoding"),
                case("another algorithm", rid, date, body, &header(&ring, "rsa"), "unsupported"),
            ]
        });
        stored_vector(
            &dir,
            "answers.json",
            &(serde_json::to_string_pretty(&answers).unwrap() + "\n"),
        );
        let keys =
            PublicKeys::from_key_set_json(&std::fs::read_to_string(dir.join("keys.json")).unwrap())
                .unwrap();
        let stored: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("answers.json")).unwrap())
                .unwrap();
        for case in stored["answers"].as_array().unwrap() {
            let text = |field: &str| case[field].as_str().unwrap();
            let got = verify_response(
                &keys,
                text("signature"),
                text("request_id"),
                text("date"),
                text("body").as_bytes(),
            );
            let verdict = got.map_or_else(|e| e.code(), |()| "valid");
            assert_eq!(verdict, text("verdict"), "{case}");
        }
    }
}
