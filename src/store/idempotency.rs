//! Stored responses of creating requests, replayed on retry. A request
//! first claims its key with a placeholder row (status 0), so two
//! concurrent requests with one key cannot both run.

use sqlx::{AnyPool, FromRow};

use crate::domain::time::Timestamp;

/// How long a key is remembered.
pub const RETENTION_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone, FromRow)]
pub struct StoredResponse {
    pub request_digest: String,
    /// 0 while the first request is still running.
    pub status_code: i64,
    pub response_headers: String,
    pub response_body: Vec<u8>,
    pub created_at: i64,
}

/// Claims the key for a request; false when a row for it exists.
pub async fn claim(
    pool: &AnyPool,
    scope: &str,
    key: &str,
    request_digest: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO idempotency_keys (scope, idempotency_key, request_digest, status_code, \
         response_headers, response_body, created_at) VALUES ($1, $2, $3, 0, '', $4, $5) \
         ON CONFLICT (scope, idempotency_key) DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(request_digest)
    .bind(Vec::<u8>::new())
    .bind(now.unix())
    .execute(pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn find(
    pool: &AnyPool,
    scope: &str,
    key: &str,
) -> Result<Option<StoredResponse>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_digest, status_code, response_headers, response_body, created_at \
         FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// Records the response of the request that claimed the key.
pub async fn complete(
    pool: &AnyPool,
    scope: &str,
    key: &str,
    status_code: i64,
    headers: &str,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status_code = $3, response_headers = $4, response_body = $5 \
         WHERE scope = $1 AND idempotency_key = $2",
    )
    .bind(scope)
    .bind(key)
    .bind(status_code)
    .bind(headers)
    .bind(body)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a claim: the request failed, so a retry may run it again.
pub async fn release(pool: &AnyPool, scope: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND status_code = 0")
        .bind(scope)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets the row of a key older than the retention (so it can be reused).
pub async fn forget_expired(
    pool: &AnyPool,
    scope: &str,
    key: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND created_at < $3")
        .bind(scope)
        .bind(key)
        .bind(now.unix() - RETENTION_SECS)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes every row past retention; returns how many.
pub async fn purge_expired(pool: &AnyPool, now: Timestamp) -> Result<u64, sqlx::Error> {
    let res = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now.unix() - RETENTION_SECS)
        .execute(pool)
        .await?;
    Ok(res.rows_affected())
}
