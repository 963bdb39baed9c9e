//! The providers' webhook signatures: an HMAC-SHA256, in hex, of the
//! timestamp and the raw body, under the endpoint's secret, checked before
//! the body is parsed, in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::time::Timestamp;

/// How far a signature's timestamp may be from this clock: Stripe's
/// default tolerance, used for both providers.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a delivery's signature was refused; each is a 400 with its `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the signature's timestamp is more than 300 s from this server's clock")]
    Stale,
    #[error("no signature matches the body under the configured secret")]
    Mismatch,
}

impl SignatureError {
    /// The problem document's stable code.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing(_) => "signature_missing",
            SignatureError::Malformed(_) => "signature_malformed",
            SignatureError::Stale => "signature_stale",
            SignatureError::Mismatch => "signature_mismatch",
        }
    }
}

/// How a provider signs: a header of `name=value` pairs split by
/// `separator`, the timestamp under `timestamp`, every signature under
/// `signature` (several during a secret's rotation), each over the
/// timestamp, `joiner` and the raw body.
#[derive(Debug, Clone, Copy)]
pub struct Scheme {
    pub header: &'static str,
    pub separator: char,
    pub timestamp: &'static str,
    pub signature: &'static str,
    pub joiner: &'static [u8],
}

/// Checks a delivery's signature header against the raw body.
pub fn verify(
    scheme: &Scheme,
    header: Option<&str>,
    secret: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    let header_name = scheme.header;
    let (timestamp_name, signature_name, joiner) =
        (scheme.timestamp, scheme.signature, scheme.joiner);
    let header = header
        .filter(|h| !h.trim().is_empty())
        .ok_or(SignatureError::Missing(header_name))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(scheme.separator) {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed(header_name))?;
        if name == timestamp_name {
            timestamp = Some(value);
        } else if name == signature_name {
            signatures.push(value);
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed(header_name))?;
    let at: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::Malformed(header_name))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed(header_name));
    }
    if (now.unix() - at).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let matches = signatures.iter().any(|hex_sig| {
        decode_hex(hex_sig).is_some_and(|bytes| {
            mac(secret, timestamp, joiner, body)
                .verify_slice(&bytes)
                .is_ok()
        })
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The hex signature a provider sends for `body` at `timestamp`: what the
/// tests sign their events with.
pub fn sign(scheme: &Scheme, secret: &str, timestamp: i64, body: &[u8]) -> String {
    mac(secret, &timestamp.to_string(), scheme.joiner, body)
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// HMAC-SHA256 under the secret's bytes of `timestamp`, `joiner`, `body`.
fn mac(secret: &str, timestamp: &str, joiner: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(joiner);
    mac.update(body);
    mac
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::payments::{paddle, stripe};

    const SECRET: &str = "whsec_unit_test_secret_0123456789";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    fn at(t: i64) -> Timestamp {
        Timestamp::from_unix(t)
    }

    #[test]
    fn a_stripe_signature_verifies_and_any_change_breaks_it() {
        let sig = sign(&stripe::SCHEME, SECRET, 1_000, BODY);
        let header = format!("t=1000,v1={sig}");
        let ok = verify(&stripe::SCHEME, Some(&header), SECRET, BODY, at(1_100));
        assert_eq!(ok, Ok(()));
        let other_body = verify(&stripe::SCHEME, Some(&header), SECRET, b"{}", at(1_100));
        assert_eq!(other_body, Err(SignatureError::Mismatch));
        let other_secret = verify(
            &stripe::SCHEME,
            Some(&header),
            "whsec_other",
            BODY,
            at(1_100),
        );
        assert_eq!(other_secret, Err(SignatureError::Mismatch));
        let stale = verify(&stripe::SCHEME, Some(&header), SECRET, BODY, at(1_301));
        assert_eq!(stale, Err(SignatureError::Stale));
        // During a rotation either of two signatures verifies.
        let rotated = format!("t=1000,v1={},v1={sig},v0=ignored", "ab".repeat(32));
        let ok = verify(&stripe::SCHEME, Some(&rotated), SECRET, BODY, at(1_000));
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn a_paddle_signature_uses_its_own_header_shape() {
        let sig = sign(&paddle::SCHEME, SECRET, 2_000, BODY);
        let header = format!("ts=2000;h1={sig}");
        let ok = verify(&paddle::SCHEME, Some(&header), SECRET, BODY, at(2_000));
        assert_eq!(ok, Ok(()));
        // Stripe's signature of the same body is not Paddle's.
        let stripe_sig = sign(&stripe::SCHEME, SECRET, 2_000, BODY);
        let header = format!("ts=2000;h1={stripe_sig}");
        let wrong = verify(&paddle::SCHEME, Some(&header), SECRET, BODY, at(2_000));
        assert_eq!(wrong, Err(SignatureError::Mismatch));
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let scheme = &stripe::SCHEME;
        let missing = verify(scheme, None, SECRET, BODY, at(0));
        assert_eq!(missing, Err(SignatureError::Missing("Stripe-Signature")));
        for header in ["", "garbage", "t=abc,v1=00", "t=1", "v1=00"] {
            let refused = verify(scheme, Some(header), SECRET, BODY, at(1));
            assert!(refused.is_err(), "{header}");
        }
        let short = verify(scheme, Some("t=1,v1=abcd"), SECRET, BODY, at(1));
        assert_eq!(short, Err(SignatureError::Mismatch));
    }
}
