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
