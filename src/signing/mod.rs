//! Ed25519 signing keys with key ids, and the key ring that signs with the
//! active key and publishes every key, retired ones included.
//!
//! Signatures are made by AWS-LC (`aws-lc-rs`), whose Ed25519 signs in
//! about half the time of ed25519-dalek's on x86_64 (s2n-bignum's
//! constant-time base-point multiplication); every validation answer is
//! signed, so that is most of what a validation costs beyond `/healthz`
//! (docs/decisions/0076). ed25519-dalek keeps the seed, derives the public
//! key and verifies. Ed25519 signatures are deterministic: both make the
//! same bytes, which a test checks.

pub mod license_file;

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::domain::time::Timestamp;

/// A freshly made key pair.
pub struct KeyPair {
    pub kid: String,
    signing: SigningKey,
    /// The same key in AWS-LC, which signs.
    signer: aws_lc_rs::signature::Ed25519KeyPair,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A new key from the OS random source.
    pub fn generate() -> anyhow::Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())
            .map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
        Self::from_seed(&seed)
    }

    /// The key of a 32-byte seed. Fails only if AWS-LC derives another
    /// public key from the seed than ed25519-dalek does.
    pub fn from_seed(seed: &[u8; 32]) -> anyhow::Result<Self> {
        let signing = SigningKey::from_bytes(seed);
        let public = signing.verifying_key();
        let signer =
            aws_lc_rs::signature::Ed25519KeyPair::from_seed_and_public_key(seed, public.as_bytes())
                .map_err(|e| anyhow::anyhow!("AWS-LC refused the signing key: {e}"))?;
        let kid = key_id(&public);
        Ok(Self {
            kid,
            signing,
            signer,
        })
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The 32-byte seed, to be sealed before it is stored.
    pub fn secret_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }
}

/// A key id derived from the public key: the first 8 bytes of its SHA-256
/// in hex. Stable, unique in practice, and checkable by anyone.
pub fn key_id(key: &VerifyingKey) -> String {
    crate::verify::key_id_of(key)
}

/// A published public key.
#[derive(Debug, Clone, Serialize)]
pub struct PublicKeyEntry {
    pub kid: String,
    pub alg: &'static str,
    /// Standard base64 of the 32-byte ed25519 public key.
    pub public_key: String,
    pub created_at: i64,
    pub active: bool,
    /// When the key was revoked: verifiers refuse what it signed.
    pub revoked_at: Option<i64>,
}

impl PublicKeyEntry {
    pub fn new(kid: &str, public_key: &[u8], created_at: Timestamp, active: bool) -> Self {
        Self {
            kid: kid.to_owned(),
            alg: "ed25519",
            public_key: STANDARD.encode(public_key),
            created_at: created_at.unix(),
            active,
            revoked_at: None,
        }
    }
}

/// The public key document served at `/.well-known/licensor-keys.json` and
/// printed by `licensor keys export-public`: `{"keys": {kid: {...}}}`; a
/// revoked key carries `revoked_at`.
pub fn key_set_document(entries: &[PublicKeyEntry]) -> serde_json::Value {
    let keys: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|k| {
            let mut key = serde_json::json!({
                "alg": k.alg,
                "public_key": k.public_key,
                "created_at": k.created_at,
                "active": k.active,
            });
            if let Some(at) = k.revoked_at {
                key["revoked_at"] = serde_json::json!(at);
            }
            (k.kid.clone(), key)
        })
        .collect();
    serde_json::json!({ "keys": keys })
}

/// The keys a running server holds: the one that signs, and all that are
/// published.
pub struct KeyRing {
    active: Option<KeyPair>,
    published: Vec<PublicKeyEntry>,
}

/// The key ring a running server signs with: replaced whole when the keys
/// in the database change (a rotation by any instance or the command
/// line; `jobs::run_key_refresh`), so each request signs with one ring.
#[derive(Debug)]
pub struct LiveKeyRing {
    ring: std::sync::RwLock<std::sync::Arc<KeyRing>>,
}

impl LiveKeyRing {
    pub fn new(ring: KeyRing) -> Self {
        Self {
            ring: std::sync::RwLock::new(std::sync::Arc::new(ring)),
        }
    }

    /// The ring now; a request keeps it for its whole answer.
    pub fn current(&self) -> std::sync::Arc<KeyRing> {
        match self.ring.read() {
            Ok(ring) => std::sync::Arc::clone(&ring),
            Err(poisoned) => std::sync::Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace(&self, ring: KeyRing) {
        let ring = std::sync::Arc::new(ring);
        match self.ring.write() {
            Ok(mut slot) => *slot = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }

    /// The signing key's id now, if there is one.
    pub fn active_kid(&self) -> Option<String> {
        self.current().active_kid().map(str::to_owned)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active.as_ref().map(|k| &k.kid))
            .field("published", &self.published.len())
            .finish()
    }
}

impl KeyRing {
    pub fn new(active: Option<KeyPair>, published: Vec<PublicKeyEntry>) -> Self {
        Self { active, published }
    }

    pub fn published(&self) -> &[PublicKeyEntry] {
        &self.published
    }

    /// The id of the key that signs, if there is one.
    pub fn active_kid(&self) -> Option<&str> {
        self.active.as_ref().map(|k| k.kid.as_str())
    }

    /// Signs `message` with the active key: (kid, signature bytes).
    pub fn sign(&self, message: &[u8]) -> Option<(&str, [u8; 64])> {
        let key = self.active.as_ref()?;
        let mut signature = [0u8; 64];
        signature.copy_from_slice(key.signer.sign(message).as_ref());
        Some((key.kid.as_str(), signature))
    }

    /// The public key of `kid`, if it is published.
    pub fn verifying_key(&self, kid: &str) -> Option<VerifyingKey> {
        let entry = self.published.iter().find(|k| k.kid == kid)?;
        let bytes = STANDARD.decode(&entry.public_key).ok()?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }
}

pub use crate::verify::response_signing_message;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_derived_from_the_public_key() {
        let a = KeyPair::from_seed(&[1; 32]).unwrap();
        let b = KeyPair::from_seed(&[1; 32]).unwrap();
        let c = KeyPair::from_seed(&[2; 32]).unwrap();
        assert_eq!(a.kid, b.kid);
        assert_ne!(a.kid, c.kid);
        assert_eq!(a.kid.len(), 16);
        assert_eq!(a.public_key_bytes(), b.public_key_bytes());
    }

    #[test]
    fn the_key_set_document_maps_kid_to_key() {
        let pair = KeyPair::from_seed(&[3; 32]).unwrap();
        let entry = PublicKeyEntry::new(
            &pair.kid,
            &pair.public_key_bytes(),
            Timestamp::from_unix(5),
            true,
        );
        let doc = key_set_document(&[entry]);
        let key = &doc["keys"][pair.kid.as_str()];
        assert_eq!(key["alg"], "ed25519");
        assert_eq!(key["created_at"], 5);
        assert_eq!(key["active"], true);
        let decoded = STANDARD
            .decode(key["public_key"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded, pair.public_key_bytes());
    }

    #[test]
    fn ring_signatures_verify_with_the_published_key() {
        use ed25519_dalek::{Signature, Verifier};
        let pair = KeyPair::from_seed(&[9; 32]).unwrap();
        let entry = PublicKeyEntry::new(
            &pair.kid,
            &pair.public_key_bytes(),
            Timestamp::from_unix(1),
            true,
        );
        let ring = KeyRing::new(Some(pair), vec![entry]);
        let msg = response_signing_message("rid", "Thu, 01 Jan 1970 00:00:00 GMT", b"{}");
        assert!(msg.starts_with("licensor-response-v1\nrid\n"));
        let (kid, sig) = ring.sign(msg.as_bytes()).unwrap();
        let key = ring.verifying_key(kid).unwrap();
        assert!(
            key.verify(msg.as_bytes(), &Signature::from_bytes(&sig))
                .is_ok()
        );
        assert!(key.verify(b"other", &Signature::from_bytes(&sig)).is_err());
    }

    #[test]
    fn aws_lc_signs_the_bytes_ed25519_dalek_would() {
        use ed25519_dalek::Signer;
        for seed in [[0u8; 32], [9; 32], [0xff; 32]] {
            let pair = KeyPair::from_seed(&seed).unwrap();
            let dalek = SigningKey::from_bytes(&seed);
            let ring = KeyRing::new(Some(pair), Vec::new());
            for message in [&b""[..], b"licensor-response-v1\nrid", &[0xa5; 1000][..]] {
                let (_, sig) = ring.sign(message).unwrap();
                assert_eq!(sig, dalek.sign(message).to_bytes());
            }
        }
    }

    #[test]
    fn a_signed_answer_verifies_and_any_edit_is_refused() {
        use crate::verify::{PublicKeys, VerifyError, verify_response};
        let pair = KeyPair::from_seed(&[9; 32]).unwrap();
        let entry = PublicKeyEntry::new(
            &pair.kid,
            &pair.public_key_bytes(),
            Timestamp::from_unix(1),
            true,
        );
        let ring = KeyRing::new(Some(pair), vec![entry.clone()]);
        let keys = PublicKeys::from_key_set_json(&key_set_document(&[entry]).to_string()).unwrap();
        let date = "Sun, 29 Nov 2026 00:52:59 GMT";
        let body = br#"{"valid":true,"code":"VALID"}"#;
        let (kid, sig) = ring
            .sign(response_signing_message("rid-1", date, body).as_bytes())
            .unwrap();
        let header = format!(
            "kid=\"{kid}\", alg=\"ed25519\", sig=\"{}\"",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
        );
        assert_eq!(verify_response(&keys, &header, "rid-1", date, body), Ok(()));
        let edited = br#"{"valid":true,"code":"VALIE"}"#;
        for (rid, d, b) in [
            ("rid-1", date, &edited[..]),
            ("rid-2", date, &body[..]),
            ("rid-1", "Mon, 30 Nov 2026 00:52:59 GMT", &body[..]),
        ] {
            assert_eq!(
                verify_response(&keys, &header, rid, d, b),
                Err(VerifyError::BadSignature)
            );
        }
        assert!(matches!(
            verify_response(&PublicKeys::default(), &header, "rid-1", date, body),
            Err(VerifyError::UnknownKey(_))
        ));
        assert!(verify_response(&keys, "garbage", "rid-1", date, body).is_err());
    }

    #[test]
    fn generated_keys_differ_and_debug_hides_the_secret() {
        let a = KeyPair::generate().unwrap();
        let b = KeyPair::generate().unwrap();
        assert_ne!(a.kid, b.kid);
        let shown = format!("{a:?}");
        assert!(shown.contains(&a.kid));
        assert!(!shown.contains("signing"));
    }
}
