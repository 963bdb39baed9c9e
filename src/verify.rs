//! Offline verification of license and machine files and of signed API
//! answers: the `licensor-verify` crate (crates/licensor-verify), which the
//! Rust client library shares, taken with the server's types (a
//! [`Timestamp`], a [`LicenseKey`]).

use zeroize::Zeroizing;

use crate::domain::license_key::LicenseKey;
use crate::domain::time::Timestamp;

pub use licensor_verify::{
    BEGIN, CLOCK_TOLERANCE_SECS, ENCRYPTION, END, Envelope, FILE_KEY_INFO, FILE_KEY_SALT, Licensee,
    NONCE_LEN, Payload, PublicKeys, SIGNING_PREFIX, VerifyError, armor, key_id_of, parse,
    response_signing_message, verify_response,
};

/// Verifies a file at `now`; for a machine file, against the machine's
/// `fingerprint`. An encrypted file needs [`verify_with_key`].
pub fn verify(
    text: &str,
    keys: &PublicKeys,
    now: Timestamp,
    fingerprint: Option<&str>,
) -> Result<Payload, VerifyError> {
    licensor_verify::verify(text, keys, now.unix(), fingerprint)
}

/// [`verify`], reading an encrypted file with the license key.
pub fn verify_with_key(
    text: &str,
    keys: &PublicKeys,
    now: Timestamp,
    fingerprint: Option<&str>,
    license_key: Option<&LicenseKey>,
) -> Result<Payload, VerifyError> {
    licensor_verify::verify_with_key(
        text,
        keys,
        now.unix(),
        fingerprint,
        license_key.map(LicenseKey::canonical),
    )
}

/// The AES-256 key of a license's encrypted files.
pub fn file_key(license_key: &LicenseKey) -> Zeroizing<[u8; 32]> {
    licensor_verify::file_key(license_key.canonical())
}

/// Encrypts payload bytes for an encrypted file: `nonce || ciphertext+tag`.
pub fn seal_payload(
    license_key: &LicenseKey,
    nonce: [u8; NONCE_LEN],
    plain: &[u8],
) -> Option<Vec<u8>> {
    licensor_verify::seal_payload(license_key.canonical(), nonce, plain)
}

/// The fuzz target's body (`fuzz/fuzz_targets/license_file.rs`), also
/// replayed over the corpus by the test suite: any bytes through the whole
/// reader, which must answer with a verdict and never panic. The trusted
/// key is the test vectors' (seed `0x4c` x 32), so corpus files derived from
/// the vectors reach the signature and payload checks.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let signing = ed25519_dalek::SigningKey::from_bytes(&[0x4c; 32]);
    let public = signing.verifying_key();
    let mut keys = PublicKeys::default();
    keys.insert(&key_id_of(&public), public);
    let license_key = LicenseKey::from_random_bytes(&[0x21; 15]);
    for now in [1_800_000_000, 0, i64::MAX, i64::MIN] {
        let _ = verify_with_key(
            text,
            &keys,
            Timestamp::from_unix(now),
            Some("fp-1"),
            Some(&license_key),
        );
    }
    let _ = verify(text, &keys, Timestamp::from_unix(1_800_000_000), None);
    let _ = PublicKeys::from_key_set_json(text);
    let _ = verify_response(&keys, text, text, text, data);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bounded fuzzing on stable: every input of the fuzzer's minimized
    /// corpus (`cargo fuzz cmin`), and every single-bit flip and truncation
    /// of each test vector, through the reader.
    #[test]
    fn the_fuzz_corpus_and_mutated_vectors_never_panic() {
        let corpus = crate::test_support::fuzz_corpus("license_file");
        assert!(corpus.len() >= 100, "the corpus is missing");
        for input in &corpus {
            fuzz_one(input);
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let vectors: Vec<Vec<u8>> = std::fs::read_dir(root.join("tests/vectors"))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        assert!(vectors.len() >= 7);
        for input in &vectors {
            for i in 0..input.len() {
                let mut flipped = input.clone();
                flipped[i] ^= 1;
                fuzz_one(&flipped);
                fuzz_one(&input[..i]);
            }
        }
    }
}
