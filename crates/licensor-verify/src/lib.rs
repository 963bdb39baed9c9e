//! Offline verification of Licensor's license and machine files (format
//! v1, docs/license-file.md) and of its signed API answers (docs/api.md,
//! "Response signatures"). No database, no HTTP: the server
//! (`licensor::verify`), `licensor verify` and the Rust client library
//! (`licensor-client`) all verify with this crate.
//!
//! The checks, in order: armor, base64, envelope JSON, version and
//! algorithm, key id, signature (ed25519 `verify_strict` over
//! `licensor-license-v1.` + the payload's base64url text), for an encrypted
//! file the decryption with the license key, payload JSON, then the clock:
//! a clock behind the file's issue time, expiry (plus grace), the machine's
//! fingerprint and the offline check-in deadline.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, VerifyingKey};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

pub const BEGIN: &str = "-----BEGIN LICENSOR LICENSE-----";
pub const END: &str = "-----END LICENSOR LICENSE-----";
/// The domain tag in front of the signed payload text.
pub const SIGNING_PREFIX: &str = "licensor-license-v1.";
/// How far a clock may be behind the file's issue time before it counts as
/// set back.
pub const CLOCK_TOLERANCE_SECS: i64 = 300;
/// The `enc` value of an encrypted file: the payload is AES-256-GCM
/// ciphertext under a key derived from the license key.
pub const ENCRYPTION: &str = "aes-256-gcm";
/// HKDF-SHA256 salt and info that derive an encrypted file's key from the
/// license key's canonical characters.
pub const FILE_KEY_SALT: &[u8] = b"licensor-license-v1";
pub const FILE_KEY_INFO: &[u8] = b"payload-encryption";
/// Bytes of the AES-GCM nonce in front of an encrypted payload.
pub const NONCE_LEN: usize = 12;

/// The signed envelope inside the armor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub v: u32,
    pub alg: String,
    pub kid: String,
    /// Present on encrypted files: `aes-256-gcm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enc: Option<String>,
    /// base64url (no padding) of the payload JSON bytes; on an encrypted
    /// file, of the 12-byte nonce followed by the ciphertext and tag.
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
    #[error("the file was signed with key `{0}`, which the vendor revoked: get a new file")]
    RevokedKey(String),
    #[error("the signature does not match: the file was altered or not issued by this vendor")]
    BadSignature,
    #[error("the file is encrypted: give the license key to read it")]
    KeyRequired,
    #[error("the license key does not open this file")]
    WrongKey,
    #[error("the computer's clock is behind the file's issue time; correct the clock")]
    ClockBehind,
    #[error("the license expired")]
    Expired,
    #[error("this machine file is for another machine")]
    FingerprintMismatch,
    #[error("the offline period is over: connect to check in")]
    CheckInOverdue,
}

impl VerifyError {
    /// A stable name for the verdict, as `licensor verify` prints it and the
    /// test vectors record it.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::BadArmor => "bad_armor",
            VerifyError::BadEncoding(_) => "bad_encoding",
            VerifyError::Unsupported(_) => "unsupported",
            VerifyError::UnknownKey(_) => "unknown_key",
            VerifyError::RevokedKey(_) => "revoked_key",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::KeyRequired => "key_required",
            VerifyError::WrongKey => "wrong_key",
            VerifyError::ClockBehind => "clock_behind",
            VerifyError::Expired => "expired",
            VerifyError::FingerprintMismatch => "fingerprint_mismatch",
            VerifyError::CheckInOverdue => "check_in_overdue",
        }
    }
}

/// The message a response signature covers: a domain tag, the request id,
/// the Date header and the SHA-256 of the body (base64url, no padding), one
/// per line (docs/api.md, "Response signatures").
pub fn response_signing_message(request_id: &str, date: &str, body: &[u8]) -> String {
    use sha2::Digest;
    let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(body));
    format!("licensor-response-v1\n{request_id}\n{date}\n{digest}")
}

/// Checks an API answer's `Licensor-Signature` header
/// (`kid="…", alg="ed25519", sig="…"`) against the trusted keys, the
/// answer's `X-Request-Id` and `Date` values and its exact body bytes.
pub fn verify_response(
    keys: &PublicKeys,
    signature_header: &str,
    request_id: &str,
    date: &str,
    body: &[u8],
) -> Result<(), VerifyError> {
    let mut kid = None;
    let mut alg = None;
    let mut sig = None;
    for part in signature_header.split(',') {
        let (name, value) = part.trim().split_once('=').ok_or(VerifyError::BadEncoding(
            "the signature header is malformed",
        ))?;
        let value = value.trim_matches('"');
        match name {
            "kid" => kid = Some(value),
            "alg" => alg = Some(value),
            "sig" => sig = Some(value),
            _ => {}
        }
    }
    let (Some(kid), Some(sig)) = (kid, sig) else {
        return Err(VerifyError::BadEncoding(
            "the signature header is malformed",
        ));
    };
    if alg != Some("ed25519") {
        return Err(VerifyError::Unsupported(alg.unwrap_or("none").to_owned()));
    }
    let key = keys.trusted(kid)?;
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(VerifyError::BadSignature)?;
    let message = response_signing_message(request_id, date, body);
    key.verify_strict(message.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| VerifyError::BadSignature)
}

/// The public keys a verifier knows, by key id: trusted, or revoked (and
/// then refused whatever they signed).
#[derive(Clone, Default)]
pub struct PublicKeys(HashMap<String, KnownKey>);

#[derive(Clone)]
struct KnownKey {
    key: VerifyingKey,
    revoked_at: Option<i64>,
}

impl fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<_> = self.0.iter().collect();
        kids.sort_unstable_by_key(|(kid, _)| kid.as_str());
        let mut set = f.debug_set();
        for (kid, known) in kids {
            match known.revoked_at {
                None => set.entry(kid),
                Some(at) => set.entry(&format_args!("{kid} (revoked at {at})")),
            };
        }
        set.finish()
    }
}

impl PublicKeys {
    pub fn insert(&mut self, kid: &str, key: VerifyingKey) {
        self.0.insert(
            kid.to_owned(),
            KnownKey {
                key,
                revoked_at: None,
            },
        );
    }

    /// Marks a known key revoked (at unix time `at`).
    pub fn revoke(&mut self, kid: &str, at: i64) {
        if let Some(known) = self.0.get_mut(kid) {
            known.revoked_at = Some(at);
        }
    }

    /// The key `kid` names, if it is known and not revoked.
    fn trusted(&self, kid: &str) -> Result<&VerifyingKey, VerifyError> {
        match self.0.get(kid) {
            None => Err(VerifyError::UnknownKey(kid.to_owned())),
            Some(KnownKey {
                revoked_at: Some(_),
                ..
            }) => Err(VerifyError::RevokedKey(kid.to_owned())),
            Some(known) => Ok(&known.key),
        }
    }

    /// One trusted key from the base64 of its 32 bytes; its key id is
    /// computed as the server does (first 8 bytes of SHA-256, hex).
    pub fn from_public_key_base64(text: &str) -> Result<Self, VerifyError> {
        let key = decode_public_key(text)?;
        let mut keys = PublicKeys::default();
        keys.insert(&key_id_of(&key), key);
        Ok(keys)
    }

    /// Reads `{"keys": {kid: {"public_key": "<base64>", "revoked_at": ...}}}`,
    /// the document of `/.well-known/licensor-keys.json` and `licensor keys
    /// export-public`.
    pub fn from_key_set_json(text: &str) -> Result<Self, VerifyError> {
        #[derive(Deserialize)]
        struct Entry {
            public_key: String,
            #[serde(default)]
            revoked_at: Option<i64>,
        }
        #[derive(Deserialize)]
        struct Set {
            keys: HashMap<String, Entry>,
        }
        let set: Set = serde_json::from_str(text)
            .map_err(|_| VerifyError::BadEncoding("the key set is not JSON"))?;
        let mut keys = PublicKeys::default();
        for (kid, entry) in set.keys {
            keys.insert(&kid, decode_public_key(&entry.public_key)?);
            if let Some(at) = entry.revoked_at {
                keys.revoke(&kid, at);
            }
        }
        Ok(keys)
    }
}

fn decode_public_key(text: &str) -> Result<VerifyingKey, VerifyError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| VerifyError::BadEncoding("a public key is not base64"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| VerifyError::BadEncoding("a public key is not 32 bytes"))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| VerifyError::BadEncoding("a public key is invalid"))
}

/// A key's id: the first 8 bytes of SHA-256 of its 32 bytes, lower-case hex.
pub fn key_id_of(key: &VerifyingKey) -> String {
    use sha2::Digest;
    Sha256::digest(key.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    let json = unarmor(text)?;
    serde_json::from_slice(&json).map_err(|_| BAD_ENVELOPE)
}

const BAD_ENVELOPE: VerifyError = VerifyError::BadEncoding("the envelope is not the expected JSON");

/// The envelope JSON bytes inside the armor.
fn unarmor(text: &str) -> Result<Vec<u8>, VerifyError> {
    let body = text
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|rest| rest.strip_suffix(END))
        .ok_or(VerifyError::BadArmor)?;
    let mut b64 = Vec::with_capacity(body.len());
    b64.extend(body.bytes().filter(|b| !b.is_ascii_whitespace()));
    STANDARD
        .decode(b64)
        .map_err(|_| VerifyError::BadEncoding("the body is not base64"))
}

/// [`Envelope`] borrowing from the decoded JSON: verification allocates
/// no strings for it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeRef<'a> {
    v: u32,
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow)]
    kid: Cow<'a, str>,
    #[serde(default, borrow)]
    enc: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payload: Cow<'a, str>,
    #[serde(borrow)]
    sig: Cow<'a, str>,
}

/// The AES-256 key of an encrypted file: HKDF-SHA256 of the license key's
/// canonical characters (a Licensor key: 25, upper case, no dashes; a
/// vendor's own key as given), salt [`FILE_KEY_SALT`], info
/// [`FILE_KEY_INFO`].
pub fn file_key(canonical_key: &str) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(FILE_KEY_SALT), canonical_key.as_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
    let _ = hk.expand(FILE_KEY_INFO, key.as_mut());
    key
}

/// Encrypts payload bytes for an encrypted file: `nonce || ciphertext+tag`.
pub fn seal_payload(canonical_key: &str, nonce: [u8; NONCE_LEN], plain: &[u8]) -> Option<Vec<u8>> {
    let cipher = Aes256Gcm::new_from_slice(file_key(canonical_key).as_ref()).ok()?;
    let sealed = cipher.encrypt(&Nonce::from(nonce), plain).ok()?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Some(out)
}

fn open_payload(canonical_key: &str, sealed: &[u8]) -> Result<Vec<u8>, VerifyError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(VerifyError::BadEncoding(
            "the encrypted payload is too short",
        ));
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VerifyError::WrongKey)?;
    let cipher = Aes256Gcm::new_from_slice(file_key(canonical_key).as_ref())
        .map_err(|_| VerifyError::WrongKey)?;
    cipher
        .decrypt(&Nonce::from(nonce), body)
        .map_err(|_| VerifyError::WrongKey)
}

/// Verifies a file at `now` (unix seconds); for a machine file, against
/// the machine's `fingerprint`. Returns the payload. An encrypted file
/// needs [`verify_with_key`].
pub fn verify(
    text: &str,
    keys: &PublicKeys,
    now: i64,
    fingerprint: Option<&str>,
) -> Result<Payload, VerifyError> {
    verify_with_key(text, keys, now, fingerprint, None)
}

/// [`verify`], reading an encrypted file with the license key in its
/// canonical form ([`file_key`]; a plain file ignores the key).
pub fn verify_with_key(
    text: &str,
    keys: &PublicKeys,
    now: i64,
    fingerprint: Option<&str>,
    license_key: Option<&str>,
) -> Result<Payload, VerifyError> {
    let json = unarmor(text)?;
    let envelope: EnvelopeRef<'_> = serde_json::from_slice(&json).map_err(|_| BAD_ENVELOPE)?;
    if envelope.v != 1 || envelope.alg != "ed25519" {
        return Err(VerifyError::Unsupported(format!(
            "{}/{}",
            envelope.v, envelope.alg
        )));
    }
    let encrypted = match envelope.enc.as_deref() {
        None => false,
        Some(ENCRYPTION) => true,
        Some(other) => return Err(VerifyError::Unsupported(format!("encryption {other}"))),
    };
    let key = keys.trusted(&envelope.kid)?;
    let mut sig = [0u8; 64];
    match URL_SAFE_NO_PAD.decode_slice(envelope.sig.as_bytes(), &mut sig) {
        Ok(64) => {}
        _ => return Err(VerifyError::BadSignature),
    }
    let mut message = Vec::with_capacity(SIGNING_PREFIX.len() + envelope.payload.len());
    message.extend_from_slice(SIGNING_PREFIX.as_bytes());
    message.extend_from_slice(envelope.payload.as_bytes());
    key.verify_strict(&message, &Signature::from_bytes(&sig))
        .map_err(|_| VerifyError::BadSignature)?;
    let mut payload_bytes = URL_SAFE_NO_PAD
        .decode(envelope.payload.as_bytes())
        .map_err(|_| VerifyError::BadEncoding("the payload is not base64url"))?;
    if encrypted {
        let key = license_key.ok_or(VerifyError::KeyRequired)?;
        payload_bytes = open_payload(key, &payload_bytes)?;
    }
    let payload: Payload = serde_json::from_slice(&payload_bytes)
        .map_err(|_| VerifyError::BadEncoding("the payload is not the expected JSON"))?;

    if now.saturating_add(CLOCK_TOLERANCE_SECS) < payload.file_issued_at {
        return Err(VerifyError::ClockBehind);
    }
    if let Some(expires_at) = payload.expires_at
        && now >= expires_at.saturating_add(payload.grace_days.saturating_mul(86_400))
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
