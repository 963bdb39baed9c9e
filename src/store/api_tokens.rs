//! API tokens: stored as a SHA-256 digest, shown once at creation.

use sqlx::{AnyPool, FromRow};

use crate::domain::time::Timestamp;
use crate::store::Tx;

#[derive(Debug, Clone, FromRow)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scope: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug)]
pub struct NewApiToken<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub digest: &'a str,
    pub prefix: &'a str,
    pub scope: &'a str,
    pub created_by: Option<&'a str>,
}

pub async fn insert(
    tx: &mut Tx,
    token: &NewApiToken<'_>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, digest, prefix, scope, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token.id)
    .bind(token.name)
    .bind(token.digest)
    .bind(token.prefix)
    .bind(token.scope)
    .bind(token.created_by)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The live (not revoked) token with this digest.
pub async fn find_live_by_digest(
    pool: &AnyPool,
    digest: &str,
) -> Result<Option<ApiTokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, prefix, scope, created_at, last_used_at, revoked_at FROM api_tokens \
         WHERE digest = $1 AND revoked_at IS NULL",
    )
    .bind(digest)
    .fetch_optional(pool)
    .await
}

/// Records use, at most once a minute per token to spare the database.
pub async fn touch(pool: &AnyPool, id: &str, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 \
         AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(id)
    .bind(now.unix())
    .bind(now.unix() - 60)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every token, newest first, revoked ones too.
pub async fn list(pool: &AnyPool) -> Result<Vec<ApiTokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, prefix, scope, created_at, last_used_at, revoked_at FROM api_tokens \
         ORDER BY created_at DESC, id DESC",
    )
    .fetch_all(pool)
    .await
}

/// Revokes a live token; false when it is unknown or already revoked.
pub async fn revoke(tx: &mut Tx, id: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let res =
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now.unix())
            .execute(&mut **tx)
            .await?;
    Ok(res.rows_affected() == 1)
}
