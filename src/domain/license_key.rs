//! License keys: 120 random bits in Crockford base32, with a check
//! character, printed as five groups of five:
//! `XXXXX-XXXXX-XXXXX-XXXXX-XXXXC`.
//!
//! Parsing ignores case, spaces and dashes and reads the look-alikes
//! Crockford allows (`O` as `0`, `I` and `L` as `1`). The check character is
//! a weighted sum with odd weights modulo 32; an odd weight is invertible
//! modulo 32, so every single-character substitution changes the sum and a
//! mistyped key is refused as malformed before any database lookup.
//!
//! A vendor that brings its licenses over keeps its own keys
//! ([`LicenseKey::vendor`]): any text of 6 to 256 characters without spaces
//! or control characters, kept exactly as given. A key that is not
//! Licensor-shaped is looked up as typed; when no license has it, it is
//! answered as malformed, as before imports existed.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Data characters: 24 x 5 bits = 120 bits.
pub const DATA_CHARS: usize = 24;
pub const KEY_CHARS: usize = DATA_CHARS + 1;
const GROUP: usize = 5;

/// The shortest and longest key in a vendor's own format.
pub const VENDOR_KEY_CHARS: std::ops::RangeInclusive<usize> = 6..=256;

/// Which kind of key a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyShape {
    /// Ours: five groups of five with a check character.
    Licensor,
    /// A vendor's own format, brought over by an import.
    Vendor,
}

/// A well-formed license key. Neither `Debug` nor `Display` shows it; use
/// [`LicenseKey::expose`] where it must be shown (once, to its owner).
#[derive(Clone, PartialEq, Eq)]
pub struct LicenseKey {
    text: Zeroizing<String>,
    shape: KeyShape,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a license key has {KEY_CHARS} characters; this has {0}")]
    Length(usize),
    #[error("a license key uses only the letters and digits 0-9, A-Z without U")]
    Character,
    #[error("the license key has a typo: its check character does not match")]
    Check,
    #[error(
        "a key in a vendor's own format has 6 to 256 characters, without spaces or control characters"
    )]
    Vendor,
}

fn value_of(c: char) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == c)
        .and_then(|p| u8::try_from(p).ok())
}

fn check_value(values: &[u8]) -> u8 {
    let sum: u32 = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let weight = u32::try_from(2 * i + 1).unwrap_or(1) % 32;
            weight * u32::from(v)
        })
        .sum();
    u8::try_from(sum % 32).unwrap_or(0)
}

fn char_of(v: u8) -> char {
    char::from(ALPHABET[usize::from(v & 31)])
}

impl LicenseKey {
    /// A new key from the OS random source.
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 15]);
        getrandom::fill(bytes.as_mut())
            .map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
        Ok(Self::from_random_bytes(&bytes))
    }

    /// The key whose 120 data bits are `bytes`.
    pub fn from_random_bytes(bytes: &[u8; 15]) -> Self {
        let mut values = Zeroizing::new([0u8; DATA_CHARS]);
        // 15 bytes = 120 bits = 24 groups of 5 bits, most significant first.
        let mut acc: u32 = 0;
        let mut bits = 0;
        let mut out = 0;
        for &b in bytes.iter() {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                values[out] = u8::try_from((acc >> bits) & 31).unwrap_or(0);
                out += 1;
            }
            acc &= (1 << bits) - 1;
        }
        let mut s = Zeroizing::new(String::with_capacity(KEY_CHARS));
        for &v in values.iter() {
            s.push(char_of(v));
        }
        s.push(char_of(check_value(values.as_ref())));
        Self::licensor(s)
    }

    fn licensor(text: Zeroizing<String>) -> Self {
        Self {
            text,
            shape: KeyShape::Licensor,
        }
    }

    /// A key in a vendor's own format, kept exactly as given (trimmed):
    /// 6 to 256 characters, none of them a space or a control character.
    pub fn vendor(input: &str) -> Result<Self, KeyError> {
        let text = input.trim();
        let count = text.chars().count();
        if !VENDOR_KEY_CHARS.contains(&count)
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(KeyError::Vendor);
        }
        Ok(Self {
            text: Zeroizing::new(text.to_owned()),
            shape: KeyShape::Vendor,
        })
    }

    /// A key as an application or a person names it: ours when it parses
    /// as ours, else a vendor's own (looked up as typed). The error is the
    /// reason it is not ours.
    pub fn named(input: &str) -> Result<Self, KeyError> {
        Self::parse(input).or_else(|ours| Self::vendor(input).map_err(|_| ours))
    }

    pub fn shape(&self) -> KeyShape {
        self.shape
    }

    /// Reads a key as a person typed or pasted it.
    pub fn parse(input: &str) -> Result<Self, KeyError> {
        let mut values = Zeroizing::new(Vec::with_capacity(KEY_CHARS));
        let mut count = 0usize;
        for c in input.chars() {
            if c == '-' || c == ' ' || c == '\t' {
                continue;
            }
            count += 1;
            if count > KEY_CHARS {
                continue;
            }
            values.push(value_of(c).ok_or(KeyError::Character)?);
        }
        if count != KEY_CHARS {
            return Err(KeyError::Length(count));
        }
        let (data, check) = values.split_at(DATA_CHARS);
        if check_value(data) != check[0] {
            return Err(KeyError::Check);
        }
        let mut s = Zeroizing::new(String::with_capacity(KEY_CHARS));
        for &v in values.iter() {
            s.push(char_of(v));
        }
        Ok(Self::licensor(s))
    }

    /// The canonical form in groups: `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`; a
    /// vendor's key as it was given.
    pub fn expose(&self) -> String {
        if self.shape == KeyShape::Vendor {
            return self.text.as_str().to_owned();
        }
        let mut out = String::with_capacity(KEY_CHARS + KEY_CHARS / GROUP);
        for (i, c) in self.text.chars().enumerate() {
            if i > 0 && i % GROUP == 0 {
                out.push('-');
            }
            out.push(c);
        }
        out
    }

    /// The lookup digest stored in the database: SHA-256 of the canonical
    /// form without dashes (a vendor's key as given), in hex.
    pub fn digest(&self) -> String {
        self.key_digest().hex()
    }

    /// The SHA-256 of the canonical key: what [`digest`](Self::digest)
    /// spells in hex.
    pub fn digest_bytes(&self) -> [u8; 32] {
        Sha256::digest(self.text.as_bytes()).into()
    }

    /// The key's digest, computed once, for every lookup a request makes.
    pub fn key_digest(&self) -> KeyDigest {
        KeyDigest {
            bytes: self.digest_bytes(),
            shape: self.shape,
        }
    }

    /// The last four characters, the only part shown unmasked by default.
    pub fn last4(&self) -> String {
        let count = self.text.chars().count();
        self.text.chars().skip(count.saturating_sub(4)).collect()
    }

    /// The canonical characters, for sealing at rest.
    pub fn canonical(&self) -> &str {
        &self.text
    }
}

/// A key for display when only its last four characters may be shown.
pub fn masked(last4: &str) -> String {
    format!("•••••-•••••-•••••-•••••-•{last4}")
}

impl fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LicenseKey(…{})", self.last4())
    }
}

/// One fuzz input for the key parser (the `license_key` cargo-fuzz target;
/// the test suite replays its corpus): any text either fails to parse or
/// parses to a key whose every printed form parses back to the same key.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = LicenseKey::parse(text) {
        for form in [key.expose(), key.canonical().to_lowercase()] {
            let again = LicenseKey::parse(&form);
            assert!(
                again
                    .as_ref()
                    .is_ok_and(|k| k.canonical() == key.canonical()),
                "a printed key does not parse back"
            );
        }
        assert_eq!(key.digest().len(), 64);
        assert_eq!(key.last4().chars().count(), 4);
    }
}

/// The SHA-256 of a well-formed key: how a key is looked up (the cache's
/// key as bytes, the database's column in hex) once the request has named
/// it. A request's key is parsed and hashed once, into this.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest {
    bytes: [u8; 32],
    shape: KeyShape,
}

impl KeyDigest {
    /// The digest of a key as typed (ours, or a vendor's own format);
    /// `None` when it is neither.
    pub fn of_input(text: &str) -> Option<Self> {
        LicenseKey::named(text).ok().map(|key| key.key_digest())
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Whether no license having this key means the key does not exist
    /// (ours: well formed, so "not found") or was never a key (a text in no
    /// format Licensor issued, that no import brought: "malformed").
    pub fn unknown_is_malformed(&self) -> bool {
        self.shape == KeyShape::Vendor
    }

    /// The digest in lower-case hex, as the database stores it.
    pub fn hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for b in self.bytes {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        hex
    }
}

/// Shows only a prefix: a digest identifies a key.
impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({}..)", &self.hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_fuzz_corpus_never_panics() {
        let corpus = crate::test_support::fuzz_corpus("license_key");
        assert!(corpus.len() >= 10, "the corpus is missing");
        for input in &corpus {
            fuzz_one(input);
        }
    }

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let a = LicenseKey::generate().unwrap();
        let b = LicenseKey::generate().unwrap();
        assert_ne!(a, b);
        let shown = a.expose();
        assert_eq!(shown.len(), 29);
        assert_eq!(shown.matches('-').count(), 4);
        assert_eq!(LicenseKey::parse(&shown).unwrap(), a);
        assert_eq!(a.digest().len(), 64);
        assert_eq!(a.last4().len(), 4);
        assert!(shown.ends_with(&a.last4()));
    }

    #[test]
    fn debug_shows_only_the_last_four() {
        let key = LicenseKey::from_random_bytes(&[0xAB; 15]);
        let debug = format!("{key:?}");
        assert!(debug.ends_with(&format!("…{})", key.last4())));
        assert!(!debug.contains(&key.canonical()[..10]));
    }

    #[test]
    fn parsing_is_forgiving_about_case_spaces_and_look_alikes() {
        let key = LicenseKey::from_random_bytes(&[0; 15]);
        assert_eq!(key.expose(), "00000-00000-00000-00000-00000");
        for typed in [
            "00000-00000-00000-00000-00000",
            "00000 00000 00000 00000 00000",
            "0000000000000000000000000",
            "OOOOO-ooooo-00000-00000-00000",
            "  00000-00000--00000-00000-00000\t",
        ] {
            assert_eq!(LicenseKey::parse(typed).unwrap(), key, "{typed:?}");
        }
    }

    #[test]
    fn malformed_keys_are_refused_with_a_reason() {
        assert_eq!(LicenseKey::parse(""), Err(KeyError::Length(0)));
        assert_eq!(LicenseKey::parse("ABC"), Err(KeyError::Length(3)));
        assert_eq!(
            LicenseKey::parse(&"0".repeat(100)),
            Err(KeyError::Length(100))
        );
        assert_eq!(
            LicenseKey::parse("00000-00000-00000-00000-0000U"),
            Err(KeyError::Character)
        );
        assert_eq!(
            LicenseKey::parse("00000-00000-00000-00000-0000!"),
            Err(KeyError::Character)
        );
        assert_eq!(
            LicenseKey::parse("00000-00000-00000-00000-00001"),
            Err(KeyError::Check)
        );
    }

    #[test]
    fn a_vendor_s_own_keys_are_kept_as_given_and_ours_stay_ours() {
        let theirs = LicenseKey::named("  acme-PRO-2024-7f3a9c  ").unwrap();
        assert_eq!(theirs.shape(), KeyShape::Vendor);
        assert_eq!(theirs.expose(), "acme-PRO-2024-7f3a9c");
        assert_eq!(theirs.last4(), "3a9c");
        assert!(theirs.key_digest().unknown_is_malformed());
        // Case matters in a vendor's format: another key, another digest.
        let upper = LicenseKey::named("ACME-PRO-2024-7F3A9C").unwrap();
        assert_ne!(upper.digest(), theirs.digest());

        let ours = LicenseKey::from_random_bytes(&[7; 15]);
        let named = LicenseKey::named(&ours.expose().to_lowercase()).unwrap();
        assert_eq!(named, ours, "a key of ours is ours however it is typed");
        assert_eq!(named.shape(), KeyShape::Licensor);
        assert!(!named.key_digest().unknown_is_malformed());

        // Not a key in any format: the reason it is not ours.
        assert_eq!(LicenseKey::named("abc"), Err(KeyError::Length(3)));
        assert_eq!(
            LicenseKey::named("two words here"),
            Err(KeyError::Length(12))
        );
        assert!(LicenseKey::named(&"x".repeat(257)).is_err());
        assert!(LicenseKey::named("tab\there-key").is_err());
        assert_eq!(LicenseKey::vendor("abc"), Err(KeyError::Vendor));
        // A typo of ours is no key of ours; looked up as typed, unknown is
        // still malformed.
        let typo = KeyDigest::of_input("00000-00000-00000-00000-00001").unwrap();
        assert!(typo.unknown_is_malformed());
    }

    proptest! {
        #[test]
        fn generate_then_parse_round_trips(bytes in any::<[u8; 15]>()) {
            let key = LicenseKey::from_random_bytes(&bytes);
            prop_assert_eq!(LicenseKey::parse(&key.expose()).unwrap(), key.clone());
            prop_assert_eq!(LicenseKey::parse(&key.expose().to_lowercase()).unwrap(), key.clone());
            prop_assert_eq!(LicenseKey::parse(key.canonical()).unwrap(), key);
        }

        /// Every single-character substitution, at every position including
        /// the check character, is caught.
        #[test]
        fn every_single_character_typo_is_rejected(bytes in any::<[u8; 15]>()) {
            let key = LicenseKey::from_random_bytes(&bytes);
            let canonical: Vec<char> = key.canonical().chars().collect();
            for pos in 0..KEY_CHARS {
                for &replacement in ALPHABET.iter() {
                    let replacement = char::from(replacement);
                    if replacement == canonical[pos] {
                        continue;
                    }
                    let mut typo = canonical.clone();
                    typo[pos] = replacement;
                    let typo: String = typo.into_iter().collect();
                    prop_assert_eq!(LicenseKey::parse(&typo), Err(KeyError::Check), "{}", typo);
                }
            }
        }
    }
}
