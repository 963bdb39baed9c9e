//! Stored responses of creating requests, replayed on retry.

use sqlx::{AnyPool, FromRow};

use crate::domain::time::Timestamp;

#[derive(Debug, Clone, FromRow)]
pub struct StoredResponse {
    pub request_digest: String,
    pub status_code: i64,
    pub response_headers: String,
    pub response_body: Vec<u8>,
}

pub async fn find(
    pool: &AnyPool,
    scope: &str,
    key: &str,
    not_before: Timestamp,
) -> Result<Option<StoredResponse>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_digest, status_code, response_headers, response_body FROM idempotency_keys \
         WHERE scope = $1 AND idempotency_key = $2 AND created_at >= $3",
    )
    .bind(scope)
    .bind(key)
    .bind(not_before.unix())
    .fetch_optional(pool)
    .await
}

/// Stores a response; when another request stored one first, keeps that one.
pub async fn insert(
    pool: &AnyPool,
    scope: &str,
    key: &str,
    response: &StoredResponse,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, idempotency_key, request_digest, status_code, \
         response_headers, response_body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (scope, idempotency_key) DO UPDATE SET request_digest = excluded.request_digest, \
         status_code = excluded.status_code, response_headers = excluded.response_headers, \
         response_body = excluded.response_body, created_at = excluded.created_at \
         WHERE idempotency_keys.created_at < $8",
    )
    .bind(scope)
    .bind(key)
    .bind(&response.request_digest)
    .bind(response.status_code)
    .bind(&response.response_headers)
    .bind(&response.response_body)
    .bind(now.unix())
    .bind(now.unix() - super::idempotency::RETENTION_SECS)
    .execute(pool)
    .await?;
    Ok(())
}

/// How long a key is remembered.
pub const RETENTION_SECS: i64 = 24 * 3600;
