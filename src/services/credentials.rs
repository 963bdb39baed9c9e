//! Password hashing: argon2id with explicit OWASP parameters, always off the
//! async executor.

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};

use crate::domain::password::Password;

/// OWASP's recommended argon2id cost: 19 MiB, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

fn hasher() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters rejected: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of a new hash of `password`, computed on the blocking pool.
pub async fn hash_password(password: Password) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let hash = hasher()?
            .hash_password(password.expose().as_bytes())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
        Ok(hash.to_string())
    })
    .await
    .context("the hashing task did not finish")?
}

/// A hash of a random password, verified against when an email is unknown
/// so a sign-in takes as long for an unknown email as for a known one.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn dummy_hash() -> anyhow::Result<&'static str> {
    if let Some(h) = DUMMY_HASH.get() {
        return Ok(h);
    }
    let mut random = [0u8; 24];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
    let hash = hasher()?
        .hash_password(&random)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?
        .to_string();
    Ok(DUMMY_HASH.get_or_init(|| hash))
}

/// Whether `password` matches `hash`; with no hash (unknown account) it
/// does the same work and answers false.
pub async fn verify_password(
    hash: Option<String>,
    password: secrecy::SecretString,
) -> anyhow::Result<bool> {
    use argon2::{PasswordHash, PasswordVerifier};
    use secrecy::ExposeSecret;
    tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
        let known = hash.is_some();
        let phc = match &hash {
            Some(h) => h.as_str(),
            None => dummy_hash()?,
        };
        let parsed =
            PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("stored hash is damaged: {e}"))?;
        // Over-long input is refused before hashing, in constant work.
        let input = password.expose_secret();
        if input.len() > crate::domain::password::MAX_BYTES {
            return Ok(false);
        }
        let ok = hasher()?.verify_password(input.as_bytes(), &parsed).is_ok();
        Ok(known && ok)
    })
    .await
    .context("the verification task did not finish")?
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let password = Password::parse(SecretString::from("correct horse battery staple")).unwrap();
        let hash = hash_password(password).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let ok = verify_password(
            Some(hash.clone()),
            SecretString::from("correct horse battery staple"),
        )
        .await;
        assert!(ok.unwrap());
        let wrong =
            verify_password(Some(hash), SecretString::from("incorrect horse battery")).await;
        assert!(!wrong.unwrap());
        let unknown = verify_password(None, SecretString::from("anything at all here")).await;
        assert!(!unknown.unwrap());
    }
}
