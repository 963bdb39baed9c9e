//! Webhook endpoints: where the vendor's CRM listens, which events it
//! wants, and its signing secret (sealed under the server secret).

use sqlx::{Any, AnyPool, Executor, FromRow};

use crate::domain::time::Timestamp;
use crate::store::Tx;

#[derive(Debug, Clone, FromRow)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub secret_ciphertext: Vec<u8>,
    /// `*`, or event types separated by commas.
    pub event_filter: String,
    pub enabled: i64,
    pub created_at: i64,
}

const COLUMNS: &str = "id, url, secret_ciphertext, event_filter, enabled, created_at";

pub async fn insert(
    tx: &mut Tx,
    id: &str,
    url: &str,
    secret_ciphertext: &[u8],
    event_filter: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret_ciphertext, event_filter, enabled, created_at) \
         VALUES ($1, $2, $3, $4, 1, $5)",
    )
    .bind(id)
    .bind(url)
    .bind(secret_ciphertext)
    .bind(event_filter)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn list(pool: &AnyPool) -> Result<Vec<EndpointRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
    )))
    .fetch_all(pool)
    .await
}

pub async fn find(pool: &AnyPool, id: &str) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The enabled endpoints.
pub async fn enabled<'e, E>(exec: E) -> Result<Vec<EndpointRow>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE enabled = 1 ORDER BY created_at, id"
    )))
    .fetch_all(exec)
    .await
}

pub async fn set_enabled(tx: &mut Tx, id: &str, enabled: bool) -> Result<bool, sqlx::Error> {
    let res = sqlx::query("UPDATE webhook_endpoints SET enabled = $2 WHERE id = $1")
        .bind(id)
        .bind(i64::from(enabled))
        .execute(&mut **tx)
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Deletes an endpoint and (by cascade) its deliveries.
pub async fn delete(tx: &mut Tx, id: &str) -> Result<bool, sqlx::Error> {
    let res = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(res.rows_affected() == 1)
}
