//! Machine fingerprints: whatever stable identifier the vendor's application
//! computes for a machine (usually a hash). Printable, bounded, no spaces.

use std::fmt;

pub const MAX_LEN: usize = 256;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    #[error("the fingerprint is empty")]
    Empty,
    #[error("a fingerprint is at most {MAX_LEN} characters")]
    TooLong,
    #[error("a fingerprint uses only letters, digits and . _ : + / = -")]
    Character,
}

impl Fingerprint {
    pub fn parse(input: &str) -> Result<Self, FingerprintError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(FingerprintError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(FingerprintError::TooLong);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:+/=-".contains(c))
        {
            return Err(FingerprintError::Character);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hashes_and_ids() {
        for ok in [
            "a1b2c3",
            "sha256:9f86d081884c7d659a2feaa0c55ad015",
            "MAC-00:1A:2B:3C:4D:5E",
            "dGVzdA==",
            &"f".repeat(MAX_LEN),
        ] {
            assert!(Fingerprint::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Fingerprint::parse("  abc ").unwrap().as_str(), "abc");
    }

    #[test]
    fn refuses_the_rest() {
        assert_eq!(Fingerprint::parse(""), Err(FingerprintError::Empty));
        assert_eq!(Fingerprint::parse("   "), Err(FingerprintError::Empty));
        assert_eq!(
            Fingerprint::parse(&"f".repeat(MAX_LEN + 1)),
            Err(FingerprintError::TooLong)
        );
        for bad in [
            "a b",
            "a\nb",
            "a\0b",
            "<script>",
            "a'; DROP TABLE x;--",
            "é",
        ] {
            assert_eq!(
                Fingerprint::parse(bad),
                Err(FingerprintError::Character),
                "{bad:?}"
            );
        }
    }
}
