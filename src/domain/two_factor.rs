//! Two-factor sign-in: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second
//! steps, one step either side accepted) and one-time recovery codes.

use std::fmt::Write;

use sha2::{Digest, Sha256};
use totp_rs::{Builder, Secret, Totp};
use zeroize::Zeroizing;

/// Bytes of a TOTP secret: 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;
/// Recovery codes an account gets.
pub const RECOVERY_CODES: usize = 10;
const STEP_SECS: u64 = 30;

/// An account's TOTP secret.
pub struct TotpSecret(Zeroizing<[u8; SECRET_BYTES]>);

impl TotpSecret {
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        getrandom::fill(bytes.as_mut())
            .map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
        Ok(Self(bytes))
    }

    /// The secret as stored (opened from its sealed form).
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let array: [u8; SECRET_BYTES] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("a TOTP secret has {SECRET_BYTES} bytes"))?;
        Ok(Self(Zeroizing::new(array)))
    }

    /// The secret as an authenticator app is given it (base32).
    pub fn from_base32(text: &str) -> anyhow::Result<Self> {
        let secret = Secret::try_from_base32(text.trim())
            .map_err(|e| anyhow::anyhow!("not a base32 TOTP secret: {e:?}"))?;
        Self::from_bytes(secret.as_bytes())
    }

    pub fn bytes(&self) -> &[u8] {
        self.0.as_ref()
    }

    fn totp(&self) -> anyhow::Result<Totp> {
        Builder::new()
            .with_secret(Secret::new_stack(*self.0))
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(STEP_SECS)
            .build()
            .map_err(|e| anyhow::anyhow!("TOTP parameters: {e:?}"))
    }

    /// The code for the step of `unix_secs` (what an authenticator app shows).
    pub fn code_at(&self, unix_secs: u64) -> anyhow::Result<String> {
        Ok(self.totp()?.generate(unix_secs).to_string())
    }

    /// The step a code is right for at `unix_secs` (one step either side),
    /// if it is right. The caller accepts each step once.
    pub fn check(&self, code: &str, unix_secs: u64) -> anyhow::Result<Option<u64>> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        Ok(self.totp()?.check(&code, unix_secs))
    }

    /// The secret in base32 (RFC 4648, no padding), for typing into an app.
    pub fn base32(&self) -> String {
        Secret::new_stack(*self.0).to_base32()
    }

    /// The `otpauth://` URI an authenticator app reads from the QR code.
    pub fn provisioning_uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", percent(issuer), percent(account));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits=6&period={STEP_SECS}",
            self.base32(),
            percent(issuer)
        )
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The QR code of a URI as an SVG image.
pub fn qr_svg(uri: &str) -> anyhow::Result<String> {
    let code =
        qrcode::QrCode::new(uri.as_bytes()).map_err(|e| anyhow::anyhow!("the QR code: {e}"))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// Whether a typed code is shaped like a TOTP code (six digits, spaces
/// allowed) rather than a recovery code.
pub fn is_totp_code(code: &str) -> bool {
    let digits: Vec<char> = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == 6 && digits.iter().all(char::is_ascii_digit)
}

/// New recovery codes, `xxxxx-xxxxx` in lower-case base32 (50 bits each).
pub fn new_recovery_codes() -> anyhow::Result<Vec<String>> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; 10];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
        let mut code = String::with_capacity(11);
        for (i, b) in bytes.iter().enumerate() {
            if i == 5 {
                code.push('-');
            }
            code.push(char::from(ALPHABET[usize::from(b & 31)]));
        }
        codes.push(code);
    }
    Ok(codes)
}

/// What a recovery code is stored as: the SHA-256 of its characters,
/// lower-case, without dashes or spaces.
pub fn recovery_digest(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normal.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 test vectors (its secret is the ASCII
    /// `12345678901234567890`), as six-digit codes.
    #[test]
    fn codes_match_rfc_6238_and_one_step_either_side_is_accepted() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(secret.code_at(time).unwrap(), code, "{time}");
        }
        let now = 1_234_567_890;
        let step = now / 30;
        assert_eq!(secret.check("005924", now).unwrap(), Some(step));
        assert_eq!(secret.check("005 924", now).unwrap(), Some(step));
        let before = secret.code_at(now - 30).unwrap();
        assert_eq!(secret.check(&before, now).unwrap(), Some(step - 1));
        let after = secret.code_at(now + 30).unwrap();
        assert_eq!(secret.check(&after, now).unwrap(), Some(step + 1));
        let too_old = secret.code_at(now - 60).unwrap();
        assert_eq!(secret.check(&too_old, now).unwrap(), None);
        assert_eq!(secret.check("12345", now).unwrap(), None);
    }

    #[test]
    fn the_uri_and_qr_code_carry_the_secret() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let again = TotpSecret::from_base32(&secret.base32()).unwrap();
        assert_eq!(again.bytes(), secret.bytes());
        let uri = secret.provisioning_uri("Acme Licensing", "ann@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Licensing:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Licensing&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    }

    #[test]
    fn recovery_codes_are_distinct_and_read_however_they_are_typed() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let code = &codes[0];
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_digest(code),
            recovery_digest(&code.to_uppercase().replace('-', " "))
        );
        assert!(!is_totp_code(code));
        assert!(is_totp_code("123 456"));
        assert!(!is_totp_code("12345a"));
    }
}
