//! Issuing license and machine files: a payload signed with the active key
//! and armored in the v1 format that `crate::verify` reads.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::signing::KeyRing;
use crate::verify::{Envelope, Payload, SIGNING_PREFIX, armor};

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("no active signing key; run `licensor keys generate`")]
    NoKey,
    #[error("the payload does not serialize: {0}")]
    Payload(#[from] serde_json::Error),
}

/// The armored, signed file for `payload`.
pub fn issue(ring: &KeyRing, payload: &Payload) -> Result<String, IssueError> {
    let payload_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload)?);
    let mut message = Vec::with_capacity(SIGNING_PREFIX.len() + payload_b64.len());
    message.extend_from_slice(SIGNING_PREFIX.as_bytes());
    message.extend_from_slice(payload_b64.as_bytes());
    let (kid, sig) = ring.sign(&message).ok_or(IssueError::NoKey)?;
    Ok(armor(&Envelope {
        v: 1,
        alg: "ed25519".to_owned(),
        kid: kid.to_owned(),
        payload: payload_b64,
        sig: URL_SAFE_NO_PAD.encode(sig),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;
    use crate::signing::{KeyPair, PublicKeyEntry};
    use crate::verify::{Licensee, PublicKeys, VerifyError, parse, verify};
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;

    fn ring(seed: u8) -> (KeyRing, PublicKeys) {
        let pair = KeyPair::from_seed(&[seed; 32]);
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

    proptest! {
        /// Flipping any byte of the payload, the signature or the key id
        /// fails verification.
        #[test]
        fn any_flipped_byte_fails(field in 0usize..3, index in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (ring, keys) = ring(1);
            let file = issue(&ring, &payload("license")).unwrap();
            let mut env = parse(&file).unwrap();
            let target = match field { 0 => &mut env.payload, 1 => &mut env.sig, _ => &mut env.kid };
            let mut bytes = target.clone().into_bytes();
            let i = index.index(bytes.len());
            bytes[i] ^= 1 << bit;
            *target = String::from_utf8_lossy(&bytes).into_owned();
            let tampered = crate::verify::armor(&env);
            prop_assert!(verify(&tampered, &keys, Timestamp::from_unix(NOW), None).is_err());
        }
    }
}
