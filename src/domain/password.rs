//! Passwords per NIST SP 800-63B rev. 4 for a single-factor password: at
//! least 15 characters, any Unicode, never truncated, no composition rules.

use secrecy::{ExposeSecret, SecretString};

pub const MIN_CHARS: usize = 15;
/// Far above the 64 the guideline asks us to accept; the cap only keeps a
/// hostile request from making us hash megabytes.
pub const MAX_BYTES: usize = 1024;

/// A password that meets the length rules. Neither `Debug` nor `Display`
/// reveals it.
pub struct Password(SecretString);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("Use at least {MIN_CHARS} characters. A short sentence is easy to remember.")]
    TooShort,
    #[error("Use at most {MAX_BYTES} bytes.")]
    TooLong,
}

impl Password {
    pub fn parse(input: SecretString) -> Result<Self, PasswordError> {
        let s = input.expose_secret();
        if s.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        if s.chars().count() < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        Ok(Self(input))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Password, PasswordError> {
        Password::parse(SecretString::from(s.to_owned()))
    }

    #[test]
    fn length_rules() {
        assert_eq!(
            parse("fourteen chars").unwrap_err(),
            PasswordError::TooShort
        );
        assert!(parse("fifteen chars!!").is_ok());
        // Fifteen characters, counted as characters rather than bytes.
        assert!(parse("ééééééééééééééé").is_ok());
        assert!(parse(&"x".repeat(64)).is_ok());
        assert!(parse(&"x".repeat(MAX_BYTES)).is_ok());
        assert_eq!(
            parse(&"x".repeat(MAX_BYTES + 1)).unwrap_err(),
            PasswordError::TooLong
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = parse("correct horse battery staple").unwrap();
        assert_eq!(format!("{p:?}"), "Password([redacted])");
    }
}
