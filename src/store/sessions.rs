//! Web sessions, server side: the cookie holds a random key; the row is
//! found by the key's digest, so a leaked database does not leak sessions.

use sqlx::{AnyPool, FromRow};

use crate::domain::time::Timestamp;

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub user_id: Option<String>,
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn find(pool: &AnyPool, digest: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as("SELECT user_id, state, created_at, expires_at FROM sessions WHERE id = $1")
        .bind(digest)
        .fetch_optional(pool)
        .await
}

pub async fn insert(
    pool: &AnyPool,
    digest: &str,
    user_id: Option<&str>,
    state: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, state, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $4, $5)",
    )
    .bind(digest)
    .bind(user_id)
    .bind(state)
    .bind(now.unix())
    .bind(expires_at.unix())
    .execute(pool)
    .await?;
    Ok(())
}

/// Updates state and expiry; false when the row is gone (revoked).
pub async fn update(
    pool: &AnyPool,
    digest: &str,
    user_id: Option<&str>,
    state: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE sessions SET user_id = $2, state = $3, last_seen_at = $4, expires_at = $5 WHERE id = $1",
    )
    .bind(digest)
    .bind(user_id)
    .bind(state)
    .bind(now.unix())
    .bind(expires_at.unix())
    .execute(pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn touch(
    pool: &AnyPool,
    digest: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1")
        .bind(digest)
        .bind(now.unix())
        .bind(expires_at.unix())
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn delete(pool: &AnyPool, digest: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(digest)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends every session of a user.
pub async fn delete_for_user<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Any>,
    user_id: &str,
) -> Result<u64, sqlx::Error> {
    let res = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(res.rows_affected())
}

pub async fn purge_expired(pool: &AnyPool, now: Timestamp) -> Result<u64, sqlx::Error> {
    let res = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now.unix())
        .execute(pool)
        .await?;
    Ok(res.rows_affected())
}
