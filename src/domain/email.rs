//! Email addresses, parsed once at the edge.

use std::fmt;

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
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
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
        if local_ok && domain_ok && !s.chars().any(is_invisible) {
            Ok(Self(s.to_lowercase()))
        } else {
            Err(EmailError::Malformed)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
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

    #[test]
    fn masks_for_logs() {
        let e = EmailAddress::parse("jane@example.com").unwrap();
        assert_eq!(e.masked(), "j***@e***.com");
        assert_eq!(format!("{e:?}"), "EmailAddress(j***@e***.com)");
        assert_eq!(mask_email("nonsense"), "***");
    }
}
