//! Offline verification of a license or machine file (format v1,
//! docs/license-file.md). Depends on nothing in the crate but domain types:
//! no database, no actix. This is what a vendor's application embeds.
//!
//! The checks, in order: armor, base64, envelope JSON, version and
//! algorithm, key id, signature (ed25519 `verify_strict` over
//! `licensor-license-v1.` + the payload's base64url text), payload JSON,
//! then the clock: a clock behind the file's issue time, expiry (plus
//! grace), the machine's fingerprint and the offline check-in deadline.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::domain::time::Timestamp;

pub const BEGIN: &str = "-----BEGIN LICENSOR LICENSE-----";
pub const END: &str = "-----END LICENSOR LICENSE-----";
/// The domain tag in front of the signed payload text.
pub const SIGNING_PREFIX: &str = "licensor-license-v1.";
/// How far a clock may be behind the file's issue time before it counts as
/// set back.
pub const CLOCK_TOLERANCE_SECS: i64 = 300;

/// The signed envelope inside the armor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub v: u32,
    pub alg: String,
    pub kid: String,
    /// base64url (no padding) of the payload JSON bytes.
    pub payload: String,
    /// base64url (no padding) of the 64-byte signature.
    pub sig: String,
}

/// What a file says about a license (and, for a machine file, a machine).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payload {
    /// `license` or `machine`.
    #[serde(rename = "type")]
    pub kind: String,
    pub license_id: String,
    pub product: String,
    pub license_type: String,
    pub licensee: Licensee,
    pub entitlements: Vec<String>,
    pub max_machines: i64,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub grace_days: i64,
    /// When this file was made.
    pub file_issued_at: i64,
    /// Machine files: the machine this file is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Machine files: the application must check in online before this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Licensee {
    pub organization_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a Licensor license file: the BEGIN/END lines are missing or misplaced")]
    BadArmor,
    #[error("the file is damaged: {0}")]
    BadEncoding(&'static str),
    #[error("file format version {0} is not supported (this verifier reads version 1, ed25519)")]
    Unsupported(String),
    #[error("the file was signed with key `{0}`, which is not among the trusted keys")]
    UnknownKey(String),
    #[error("the signature does not match: the file was altered or not issued by this vendor")]
    BadSignature,
    #[error("the computer's clock is behind the file's issue time; correct the clock")]
    ClockBehind,
    #[error("the license expired")]
    Expired,
    #[error("this machine file is for another machine")]
    FingerprintMismatch,
    #[error("the offline period is over: connect to check in")]
    CheckInOverdue,
}

/// The trusted public keys, by key id.
#[derive(Clone, Default)]
pub struct PublicKeys(HashMap<String, VerifyingKey>);

impl fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl PublicKeys {
    pub fn insert(&mut self, kid: &str, key: VerifyingKey) {
        self.0.insert(kid.to_owned(), key);
    }

    /// Reads `{"keys": {kid: {"public_key": "<base64>", ...}}}`, the document
    /// of `/.well-known/licensor-keys.json` and `licensor keys export-public`.
    pub fn from_key_set_json(text: &str) -> Result<Self, VerifyError> {
        #[derive(Deserialize)]
        struct Entry {
            public_key: String,
        }
        #[derive(Deserialize)]
        struct Set {
            keys: HashMap<String, Entry>,
        }
        let set: Set = serde_json::from_str(text)
            .map_err(|_| VerifyError::BadEncoding("the key set is not JSON"))?;
        let mut keys = PublicKeys::default();
        for (kid, entry) in set.keys {
            let bytes = STANDARD
                .decode(entry.public_key.trim())
                .map_err(|_| VerifyError::BadEncoding("a public key is not base64"))?;
            let bytes: [u8; 32] = bytes
                .try_into()
                .map_err(|_| VerifyError::BadEncoding("a public key is not 32 bytes"))?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| VerifyError::BadEncoding("a public key is invalid"))?;
            keys.insert(&kid, key);
        }
        Ok(keys)
    }
}

/// The armored text of an envelope, base64 wrapped at 64 columns.
pub fn armor(envelope: &Envelope) -> String {
    let json = serde_json::to_vec(envelope).unwrap_or_default();
    let b64 = STANDARD.encode(json);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 80);
    out.push_str(BEGIN);
    out.push('\n');
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// The envelope of an armored file, unverified.
pub fn parse(text: &str) -> Result<Envelope, VerifyError> {
    let text = text.trim();
    let body = text
        .strip_prefix(BEGIN)
        .and_then(|rest| rest.strip_suffix(END))
        .ok_or(VerifyError::BadArmor)?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let json = STANDARD
        .decode(b64)
        .map_err(|_| VerifyError::BadEncoding("the body is not base64"))?;
    serde_json::from_slice(&json)
        .map_err(|_| VerifyError::BadEncoding("the envelope is not the expected JSON"))
}

/// Verifies a file at `now`; for a machine file, against the machine's
/// `fingerprint`. Returns the payload.
pub fn verify(
    text: &str,
    keys: &PublicKeys,
    now: Timestamp,
    fingerprint: Option<&str>,
) -> Result<Payload, VerifyError> {
    let envelope = parse(text)?;
    if envelope.v != 1 || envelope.alg != "ed25519" {
        return Err(VerifyError::Unsupported(format!(
            "{}/{}",
            envelope.v, envelope.alg
        )));
    }
    let key = keys
        .0
        .get(&envelope.kid)
        .ok_or_else(|| VerifyError::UnknownKey(envelope.kid.clone()))?;
    let sig = URL_SAFE_NO_PAD
        .decode(&envelope.sig)
        .map_err(|_| VerifyError::BadEncoding("the signature is not base64url"))?;
    let sig: [u8; 64] = sig.try_into().map_err(|_| VerifyError::BadSignature)?;
    let mut message = Vec::with_capacity(SIGNING_PREFIX.len() + envelope.payload.len());
    message.extend_from_slice(SIGNING_PREFIX.as_bytes());
    message.extend_from_slice(envelope.payload.as_bytes());
    key.verify_strict(&message, &Signature::from_bytes(&sig))
        .map_err(|_| VerifyError::BadSignature)?;
    let payload_bytes = URL_SAFE_NO_PAD
        .decode(&envelope.payload)
        .map_err(|_| VerifyError::BadEncoding("the payload is not base64url"))?;
    let payload: Payload = serde_json::from_slice(&payload_bytes)
        .map_err(|_| VerifyError::BadEncoding("the payload is not the expected JSON"))?;

    let now = now.unix();
    if now + CLOCK_TOLERANCE_SECS < payload.file_issued_at {
        return Err(VerifyError::ClockBehind);
    }
    if let Some(expires_at) = payload.expires_at
        && now >= expires_at + payload.grace_days * 86_400
    {
        return Err(VerifyError::Expired);
    }
    if payload.kind == "machine" {
        if payload.fingerprint.as_deref() != fingerprint {
            return Err(VerifyError::FingerprintMismatch);
        }
        if payload.valid_until.is_some_and(|until| now >= until) {
            return Err(VerifyError::CheckInOverdue);
        }
    }
    Ok(payload)
}
