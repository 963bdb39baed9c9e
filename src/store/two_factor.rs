//! Two-factor sign-in: an account's sealed TOTP secret and its recovery
//! codes' digests.

use sqlx::AnyPool;

use crate::domain::time::Timestamp;
use crate::store::Tx;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TwoFactorRow {
    pub user_id: String,
    pub secret_ciphertext: Vec<u8>,
    /// `None` while the enrolment waits for its first code.
    pub enabled_at: Option<i64>,
    pub last_step: i64,
}

pub async fn find<'e, E>(exec: E, user_id: &str) -> Result<Option<TwoFactorRow>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as(
        "SELECT user_id, secret_ciphertext, enabled_at, last_step FROM two_factor \
         WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(exec)
    .await
}

/// Whether the account has two-factor sign-in turned on.
pub async fn is_enabled(pool: &AnyPool, user_id: &str) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT 1 FROM two_factor WHERE user_id = $1 AND enabled_at IS NOT NULL")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    Ok(found.is_some())
}

/// Starts (or restarts) an enrolment with a new secret; false when two-factor
/// sign-in is already on (turn it off first).
pub async fn begin(
    tx: &mut Tx,
    user_id: &str,
    secret_ciphertext: &[u8],
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO two_factor (user_id, secret_ciphertext, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET secret_ciphertext = excluded.secret_ciphertext, \
         created_at = excluded.created_at, last_step = 0 \
         WHERE two_factor.enabled_at IS NULL",
    )
    .bind(user_id)
    .bind(secret_ciphertext)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns it on, the first code's step used.
pub async fn enable(
    tx: &mut Tx,
    user_id: &str,
    step: i64,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE two_factor SET enabled_at = $2, last_step = $3 \
         WHERE user_id = $1 AND enabled_at IS NULL",
    )
    .bind(user_id)
    .bind(now.unix())
    .bind(step)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses a step's code: false when that step (or a later one) was already
/// used, so a code is accepted once even by two sign-ins at the same time.
pub async fn use_step(tx: &mut Tx, user_id: &str, step: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE two_factor SET last_step = $2 \
         WHERE user_id = $1 AND enabled_at IS NOT NULL AND last_step < $2",
    )
    .bind(user_id)
    .bind(step)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the account's recovery codes.
pub async fn set_recovery_codes(
    tx: &mut Tx,
    user_id: &str,
    digests: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    for digest in digests {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_digest) VALUES ($1, $2)")
            .bind(user_id)
            .bind(digest)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Uses a recovery code; false when it is not one of the account's unused
/// codes.
pub async fn use_recovery_code(
    tx: &mut Tx,
    user_id: &str,
    digest: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 \
         WHERE user_id = $1 AND code_digest = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(digest)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn unused_recovery_codes(pool: &AnyPool, user_id: &str) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// Turns two-factor sign-in off: the secret and the codes are gone.
pub async fn remove(tx: &mut Tx, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM two_factor WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
