//! Email addresses, parsed once at the edge.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, MixedScript, skeleton};

/// A syntactically plausible address, trimmed and lower-cased so that one
/// mailbox has one spelling in the database.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Enter an email address.")]
    Empty,
    #[error("An email address is at most 254 characters.")]
    TooLong,
    #[error("Enter an email address like name@example.com.")]
    Malformed,
    #[error(
        "This address mixes alphabets or has characters that make it look like another address. Type it in one alphabet, as your mail provider spells it."
    )]
    LookAlike,
}

impl EmailAddress {
    /// Parses an address: one spelling per mailbox (NFC, lower case, the
    /// domain in its IDNA ASCII form) and none that could pass for another
    /// (UTS #39: no invisible or format characters, no character outside
    /// the identifier profile, one script per part, no non-ASCII part whose
    /// confusable skeleton is an ASCII spelling).
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let normalized: String = input.trim().nfc().collect();
        let s = normalized.as_str();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| {
                c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || !c.is_ascii()
            });
        let domain_ok = domain.len() >= 3
            && domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
            });
        // Control and space characters are ASCII and excluded above, so no
        // header injection (CR, LF) can pass.
        if !(local_ok && domain_ok) || s.chars().any(is_invisible) {
            return Err(EmailError::Malformed);
        }
        let local = local.to_lowercase();
        let domain = domain.to_lowercase();
        if !one_plain_spelling(&local) || !domain.split('.').all(one_plain_spelling) {
            return Err(EmailError::LookAlike);
        }
        let domain = idna::domain_to_ascii(&domain).map_err(|_| EmailError::Malformed)?;
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the address looks like: each part that is not ASCII replaced by
    /// its UTS #39 confusable skeleton (the domain's labels in their Unicode
    /// form). Two addresses that look alike have one key, and one account
    /// may hold it (the database's unique index on `users.email_key`). ASCII
    /// parts stay as they are: `modern` and `modem` are two mailboxes, and
    /// no accepted non-ASCII part can pass for an ASCII one
    /// ([`EmailAddress::parse`]).
    pub fn spelling_key(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        let (unicode, _) = idna::domain_to_unicode(domain);
        let labels: Vec<String> = unicode.split('.').map(looks_like).collect();
        format!("{}@{}", looks_like(local), labels.join("."))
    }

    /// A form safe for logs: `j***@e***.com`.
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

/// Masks any string that looks like an address, for logs.
pub fn mask_email(s: &str) -> String {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return "***".to_owned();
    };
    let first = |part: &str| part.chars().next().map(String::from).unwrap_or_default();
    let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let tld = if tld.is_empty() {
        String::new()
    } else {
        format!(".{tld}")
    };
    format!("{}***@{}***{tld}", first(local), first(host))
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a part of an address (the local part, or one domain label) has
/// one plain spelling: ASCII, or characters of the UTS #39 identifier
/// profile (no default-ignorable, format, compatibility or
/// mathematical-alphanumeric forms) in one script, and not a look-alike of
/// an ASCII spelling (its confusable skeleton is not ASCII, so `alıce` and
/// Cyrillic `аррӏе` do not pass for `alice` and `apple`).
fn one_plain_spelling(part: &str) -> bool {
    if part.is_ascii() {
        return true;
    }
    part.chars()
        .all(|c| c.is_ascii() || GeneralSecurityProfile::identifier_allowed(c))
        && part.is_single_script()
        && !skeleton(part).all(|c| c.is_ascii())
}

/// A part of an address as it looks: itself when ASCII, else its confusable
/// skeleton.
fn looks_like(part: &str) -> String {
    if part.is_ascii() {
        part.to_owned()
    } else {
        skeleton(part).collect()
    }
}

/// Characters that must never sit in an address: whitespace and controls
/// (CR and LF would inject mail headers; U+0085 and U+2028 are line breaks
/// to some mailers), and the invisible format characters (bidirectional
/// overrides, zero-width ones) that make one address look like another,
/// and U+FFFD, which only bytes that were not UTF-8 turn into.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fffd}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalizes() {
        let e = EmailAddress::parse("  Jane.Doe+lic@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "jane.doe+lic@example.com");
        assert!(EmailAddress::parse("a@b.co").is_ok());
        assert!(EmailAddress::parse("josé@exämple.de").is_ok());
    }

    #[test]
    fn rejects_malformed() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let too_long = format!("a@{}.com", "b".repeat(260));
        let cases: &[(&str, EmailError)] = &[
            ("", EmailError::Empty),
            ("   ", EmailError::Empty),
            ("plain", EmailError::Malformed),
            ("@example.com", EmailError::Malformed),
            ("a@", EmailError::Malformed),
            ("a@localhost", EmailError::Malformed),
            ("a@b..com", EmailError::Malformed),
            ("a b@example.com", EmailError::Malformed),
            ("a@example.com\r\nBcc: x@y.z", EmailError::Malformed),
            ("a\0@example.com", EmailError::Malformed),
            (".a@example.com", EmailError::Malformed),
            ("a..b@example.com", EmailError::Malformed),
            ("a@-example.com", EmailError::Malformed),
            ("<a>@example.com", EmailError::Malformed),
            ("a\u{85}b@example.com", EmailError::Malformed),
            ("a\u{2028}b@example.com", EmailError::Malformed),
            (
                "admin\u{202e}moc.elpmaxe@example.com",
                EmailError::Malformed,
            ),
            ("pay\u{200b}pal@example.com", EmailError::Malformed),
            ("a@exam\u{feff}ple.com", EmailError::Malformed),
            ("a\u{9f}@example.com", EmailError::Malformed),
            ("a\u{fffd}@example.com", EmailError::Malformed),
            (long_local.as_str(), EmailError::Malformed),
            (too_long.as_str(), EmailError::TooLong),
        ];
        for (input, expected) in cases {
            assert_eq!(
                EmailAddress::parse(input).as_ref().err(),
                Some(expected),
                "{input:?}"
            );
        }
    }

    /// Addresses that must not become accounts beside `alice@example.com`
    /// (or `apple@example.com`): each is refused, or is the same address.
    #[test]
    fn look_alike_addresses_are_refused_or_one_with_the_original() {
        let alice = EmailAddress::parse("alice@example.com").unwrap();
        // Invisible and format characters, each inside the local part.
        let invisible = [
            '\u{00ad}',
            '\u{034f}',
            '\u{061c}',
            '\u{115f}',
            '\u{1160}',
            '\u{17b4}',
            '\u{180e}',
            '\u{3164}',
            '\u{fe0f}',
            '\u{ffa0}',
            '\u{e0041}',
            '\u{1d173}',
            '\u{2800}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{200b}',
        ];
        let mut refused: Vec<String> = invisible
            .iter()
            .map(|c| format!("ali{c}ce@example.com"))
            .collect();
        refused.extend(
            [
                "аlice@example.com",         // Cyrillic a
                "alicе@example.com",         // Cyrillic e
                "alіce@example.com",         // Cyrillic i
                "аррle@example.com",         // Cyrillic a, p, p
                "аррӏе@example.com",         // all Cyrillic, looks like apple
                "αlice@example.com",         // Greek alpha
                "aliсe@example.com",         // Cyrillic es
                "alıce@example.com",         // dotless i
                "ａｌｉｃｅ@example.com",    // fullwidth
                "𝐚𝐥𝐢𝐜𝐞@example.com",         // mathematical bold
                "𝑎lice@example.com",         // mathematical italic
                "ⅰalice@example.com",        // roman numeral one
                "alice@exаmple.com",         // Cyrillic a in the domain
                "alice@ехample.com",         // Cyrillic e, x in the domain
                "alice@examplе.com",         // Cyrillic e at the end of the label
                "alice@example.сom",         // Cyrillic es in the TLD
                "alice@ｅxample.com",        // fullwidth in the domain
                "a\u{2024}lice@example.com", // one dot leader
                "alice\u{ff20}example.com",  // fullwidth at sign
            ]
            .map(str::to_owned),
        );
        for input in &refused {
            match EmailAddress::parse(input) {
                Err(_) => {}
                Ok(e) => assert_eq!(e, alice, "{input:?} became an account of its own: {e}"),
            }
        }
        assert!(refused.len() >= 37, "{} cases", refused.len());
        // The same address in other spellings is the same account.
        let same = ["ALICE@EXAMPLE.COM", " alice@Example.Com "];
        for input in same {
            assert_eq!(EmailAddress::parse(input).unwrap(), alice, "{input:?}");
        }
        // NFC and NFD of one name, an IDN domain and its ASCII form.
        let nfc = EmailAddress::parse("jos\u{e9}@b\u{fc}cher.example").unwrap();
        let nfd = EmailAddress::parse("jose\u{301}@bu\u{308}cher.example").unwrap();
        assert_eq!(nfc, nfd);
        assert_eq!(nfc.as_str(), "jos\u{e9}@xn--bcher-kva.example");
        assert_eq!(
            EmailAddress::parse("jos\u{e9}@xn--bcher-kva.example").unwrap(),
            nfc
        );
        // Addresses written in one script of their own are welcome.
        for ok in [
            "иван@пример.рф",
            "μαρία@example.gr",
            "josé@exämple.de",
            "李@例子.中国",
        ] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
    }

    /// Spellings in scripts of their own that look alike share a key (one
    /// account among them); ASCII spellings keep theirs.
    #[test]
    fn look_alike_spellings_share_one_key() {
        let key = |s: &str| EmailAddress::parse(s).unwrap().spelling_key();
        let alike = [
            // Cyrillic and Greek: п/π, к/κ, т/τ.
            ("пкт@example.com", "πκτ@example.com"),
            // Arabic and Persian keyboards: yeh and kaf.
            ("علي@example.com", "علی@example.com"),
            ("كمال@example.com", "کمال@example.com"),
            // Thai kho khai and kho khuat.
            ("ขา@example.com", "ฃา@example.com"),
            // The same in the domain, in its IDNA form or not.
            ("a@пкт.example", "a@πκτ.example"),
        ];
        for (a, b) in alike {
            assert_ne!(EmailAddress::parse(a), EmailAddress::parse(b), "{a} {b}");
            assert_eq!(key(a), key(b), "{a} {b}");
        }
        let apart = [
            ("modern@example.com", "modem@example.com"),
            ("a1ice@example.com", "alice@example.com"),
            ("пкт@example.com", "пкт@example.org"),
            ("josé@example.com", "jose@example.com"),
        ];
        for (a, b) in apart {
            assert_ne!(key(a), key(b), "{a} {b}");
        }
        assert_eq!(key("alice@example.com"), "alice@example.com");
        // A domain typed in its IDNA ASCII form looks as it does in Unicode.
        let ascii = EmailAddress::parse("a@пкт.example").unwrap();
        assert!(ascii.as_str().starts_with("a@xn--"));
        assert_eq!(key(ascii.as_str()), key("a@πκτ.example"));
    }

    #[test]
    fn masks_for_logs() {
        let e = EmailAddress::parse("jane@example.com").unwrap();
        assert_eq!(e.masked(), "j***@e***.com");
        assert_eq!(format!("{e:?}"), "EmailAddress(j***@e***.com)");
        assert_eq!(mask_email("nonsense"), "***");
    }
}
