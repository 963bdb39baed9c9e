use sqlx::{AnyPool, FromRow};

use crate::domain::time::Timestamp;
use crate::store::Tx;

#[derive(Debug, Clone, FromRow)]
pub struct SigningKeyRow {
    pub id: String,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub private_key_ciphertext: Vec<u8>,
    pub is_active: i64,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// Set when the key was distrusted (`licensor keys revoke`).
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

#[derive(Debug)]
pub struct NewSigningKey<'a> {
    pub id: &'a str,
    pub public_key: &'a [u8],
    pub private_key_ciphertext: &'a [u8],
}

/// Every key, oldest first; retired keys stay so old files still verify.
pub async fn list(pool: &AnyPool) -> Result<Vec<SigningKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, algorithm, public_key, private_key_ciphertext, is_active, created_at, \
         retired_at, revoked_at, revoked_reason FROM signing_keys ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await
}

/// What changes whenever the key set does (a key added, activated,
/// retired or revoked): one small read, for a running server to notice a rotation.
pub async fn stamp(pool: &AnyPool) -> Result<String, sqlx::Error> {
    let (count, created, retired, revoked, active): (i64, i64, i64, i64, String) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(MAX(created_at), 0) AS BIGINT), \
             CAST(COALESCE(MAX(retired_at), 0) AS BIGINT), \
             CAST(COALESCE(MAX(revoked_at), 0) AS BIGINT), \
             COALESCE(MAX(CASE WHEN is_active = 1 THEN id END), '') FROM signing_keys",
    )
    .fetch_one(pool)
    .await?;
    Ok(format!("{count} {created} {retired} {revoked} {active}"))
}

/// Whether any key exists (read inside the write transaction that would
/// create the first one, so two starting instances create only one).
pub async fn any_exists(tx: &mut Tx) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM signing_keys LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

/// Retires the active key (it stays published) so a new one can sign.
pub async fn retire_active(tx: &mut Tx, now: Timestamp) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "UPDATE signing_keys SET is_active = 0, retired_at = $1 WHERE is_active = 1 RETURNING id",
    )
    .bind(now.unix())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Inserts a key as the active one. The partial unique index on
/// `is_active` refuses a second active key.
pub async fn insert_active(
    tx: &mut Tx,
    key: &NewSigningKey<'_>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO signing_keys (id, algorithm, public_key, private_key_ciphertext, is_active, created_at) \
         VALUES ($1, 'ed25519', $2, $3, 1, $4)",
    )
    .bind(key.id)
    .bind(key.public_key)
    .bind(key.private_key_ciphertext)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A key's state, read inside the transaction that revokes it:
/// (active, revoked_at).
pub async fn state(tx: &mut Tx, kid: &str) -> Result<Option<(bool, Option<i64>)>, sqlx::Error> {
    let row: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT is_active, revoked_at FROM signing_keys WHERE id = $1")
            .bind(kid)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(active, revoked)| (active == 1, revoked)))
}

/// Marks a key that is not active revoked; false when it was already.
pub async fn revoke(
    tx: &mut Tx,
    kid: &str,
    reason: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE signing_keys SET revoked_at = $2, revoked_reason = $3 \
         WHERE id = $1 AND is_active = 0 AND revoked_at IS NULL",
    )
    .bind(kid)
    .bind(now.unix())
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
