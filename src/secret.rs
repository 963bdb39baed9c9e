//! The server secret and what is derived from it: the data key that seals
//! license keys, signing keys and webhook secrets at rest.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

const NONCE_LEN: usize = 12;

/// 32 random bytes that every derived key comes from. Debug never shows it.
#[derive(Clone)]
pub struct ServerSecret(Zeroizing<[u8; 32]>);

impl fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerSecret([redacted])")
    }
}

/// Where the secret came from, so start-up can refuse a generated one in
/// production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretOrigin {
    /// Read from a file the operator provided (`licensor secret create`).
    Loaded,
    /// Created just now because the file did not exist.
    Generated,
    /// Read from a file an earlier start generated for development.
    LoadedGenerated,
}

impl SecretOrigin {
    /// Whether the secret was made by the server itself, for development.
    pub fn is_generated(self) -> bool {
        !matches!(self, SecretOrigin::Loaded)
    }
}

/// The first line of a secret file the server generated for itself.
pub const GENERATED_MARKER: &str = "# licensor development secret, generated at first start; for production create one with `licensor secret create`";

impl ServerSecret {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn random() -> anyhow::Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut())
            .map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
        Ok(Self(bytes))
    }

    /// The secret from its base64 text (as `LICENSOR_SECRET` carries it).
    /// The error never repeats the text.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let mut decoded = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| {
            "is not base64 (create one with `licensor secret create --print`)".to_owned()
        })?);
        if decoded.len() != 32 {
            return Err(format!(
                "must be 32 bytes in base64, found {} bytes",
                decoded.len()
            ));
        }
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&decoded);
        decoded.zeroize();
        Ok(Self::from_bytes(bytes))
    }

    /// The base64 text of a new random secret, for `LICENSOR_SECRET`.
    pub fn random_base64() -> anyhow::Result<Zeroizing<String>> {
        Ok(Zeroizing::new(STANDARD.encode(Self::random()?.0.as_ref())))
    }

    /// Reads the secret (base64 of 32 bytes, after optional `#` comment
    /// lines) from `path`, or creates the file with mode 0600, marked as a
    /// development secret, when it does not exist.
    pub fn load_or_generate(path: &Path) -> anyhow::Result<(Self, SecretOrigin)> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                let generated = text.lines().any(|l| l.trim() == GENERATED_MARKER);
                let body: Zeroizing<String> = Zeroizing::new(
                    text.lines()
                        .filter(|l| !l.trim_start().starts_with('#'))
                        .collect::<String>(),
                );
                let secret = Self::from_base64(&body).map_err(|reason| {
                    anyhow::anyhow!("server secret file {}: {reason}", path.display())
                })?;
                let origin = if generated {
                    SecretOrigin::LoadedGenerated
                } else {
                    SecretOrigin::Loaded
                };
                Ok((secret, origin))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = Self::write_new(path, Some(GENERATED_MARKER))?;
                Ok((secret, SecretOrigin::Generated))
            }
            Err(e) => {
                Err(e).with_context(|| format!("cannot read server secret file {}", path.display()))
            }
        }
    }

    /// `licensor secret create`: a new secret in a new file (mode 0600) that
    /// the server treats as provided by the operator. Never overwrites.
    pub fn create_file(path: &Path) -> anyhow::Result<()> {
        if path.exists() {
            bail!(
                "{} exists; a server secret is never overwritten (keys sealed with it would be lost)",
                path.display()
            );
        }
        Self::write_new(path, None).map(|_| ())
    }

    fn write_new(path: &Path, marker: Option<&str>) -> anyhow::Result<Self> {
        let secret = Self::random()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        let mut file = open_private(path)
            .with_context(|| format!("cannot create server secret file {}", path.display()))?;
        let encoded = Zeroizing::new(STANDARD.encode(secret.0.as_ref()));
        let header = marker.map(|m| format!("{m}\n")).unwrap_or_default();
        file.write_all(header.as_bytes())
            .and_then(|()| file.write_all(encoded.as_bytes()))
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write server secret file {}", path.display()))?;
        Ok(secret)
    }

    /// `N` bytes for one purpose, derived with HKDF-SHA256 (e.g. the key
    /// that protects session cookies).
    pub fn derive_bytes<const N: usize>(
        &self,
        purpose: &str,
    ) -> anyhow::Result<Zeroizing<[u8; N]>> {
        let hk = Hkdf::<Sha256>::new(Some(b"licensor"), self.0.as_ref());
        let mut okm = Zeroizing::new([0u8; N]);
        hk.expand(purpose.as_bytes(), okm.as_mut())
            .map_err(|_| anyhow::anyhow!("HKDF output length rejected"))?;
        Ok(okm)
    }

    /// The AEAD that seals values at rest.
    pub fn data_cipher(&self) -> anyhow::Result<DataCipher> {
        let key = self.derive_bytes::<32>("data-encryption-v1")?;
        let cipher = Aes256Gcm::new_from_slice(key.as_ref())
            .map_err(|_| anyhow::anyhow!("AES-256-GCM key length rejected"))?;
        Ok(DataCipher { cipher })
    }
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// AES-256-GCM under the data key. A sealed value is `nonce || ciphertext`;
/// the associated data binds it to its place (e.g. the row it belongs to),
/// so a ciphertext copied to another row does not open.
#[derive(Clone)]
pub struct DataCipher {
    cipher: Aes256Gcm,
}

impl fmt::Debug for DataCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataCipher([redacted])")
    }
}

impl DataCipher {
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce_bytes)
            .map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
        let nonce = Nonce::from(nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + 16 {
            bail!("sealed value is too short");
        }
        let (nonce_bytes, ciphertext) = sealed.split_at(NONCE_LEN);
        let mut nonce_arr = [0u8; NONCE_LEN];
        nonce_arr.copy_from_slice(nonce_bytes);
        let plaintext = self
            .cipher
            .decrypt(
                &Nonce::from(nonce_arr),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| {
                anyhow::anyhow!("sealed value does not open: wrong server secret or tampered data")
            })?;
        Ok(Zeroizing::new(plaintext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_secret_counts_as_provided_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.key");
        ServerSecret::create_file(&path).unwrap();
        let (_, origin) = ServerSecret::load_or_generate(&path).unwrap();
        assert_eq!(origin, SecretOrigin::Loaded);
        assert!(!origin.is_generated());
        let before = std::fs::read(&path).unwrap();
        assert!(ServerSecret::create_file(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn seal_and_open_round_trip_and_bind_aad() {
        let cipher = ServerSecret::from_bytes([7; 32]).data_cipher().unwrap();
        let sealed = cipher.seal(b"hello", b"row-1").unwrap();
        assert_eq!(cipher.open(&sealed, b"row-1").unwrap().as_slice(), b"hello");
        assert!(cipher.open(&sealed, b"row-2").is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(cipher.open(&tampered, b"row-1").is_err());
        assert!(cipher.open(&sealed[..10], b"row-1").is_err());
        let other = ServerSecret::from_bytes([8; 32]).data_cipher().unwrap();
        assert!(other.open(&sealed, b"row-1").is_err());
    }

    #[test]
    fn the_secret_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/secret.key");
        let (a, origin) = ServerSecret::load_or_generate(&path).unwrap();
        assert_eq!(origin, SecretOrigin::Generated);
        let (b, origin) = ServerSecret::load_or_generate(&path).unwrap();
        assert_eq!(
            origin,
            SecretOrigin::LoadedGenerated,
            "still the development one"
        );
        assert!(origin.is_generated());
        assert_eq!(a.0.as_ref(), b.0.as_ref());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(format!("{a:?}"), "ServerSecret([redacted])");
    }

    #[test]
    fn a_corrupt_secret_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, "not base64!").unwrap();
        let err = ServerSecret::load_or_generate(&path).unwrap_err();
        assert!(format!("{err:#}").contains("is not base64"));
        std::fs::write(&path, STANDARD.encode([1u8; 16])).unwrap();
        let err = ServerSecret::load_or_generate(&path).unwrap_err();
        assert!(format!("{err:#}").contains("must be 32 bytes"));
    }
}
