//! The transactional outbox: emails and webhooks written in the same
//! transaction as the change that causes them, delivered by a worker.

use sqlx::FromRow;

use crate::config::Backend;
use crate::domain::time::Timestamp;
use crate::store::{Db, Tx};

#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub channel: String,
    pub topic: String,
    pub recipient: String,
    pub payload: String,
    pub attempts: i64,
}

#[derive(Debug)]
pub struct NewMessage<'a> {
    pub id: &'a str,
    pub channel: &'a str,
    pub topic: &'a str,
    pub recipient: &'a str,
    pub organization_id: Option<&'a str>,
    pub license_id: Option<&'a str>,
    pub payload: &'a str,
}

pub async fn insert(
    tx: &mut Tx,
    message: &NewMessage<'_>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (id, channel, topic, recipient, organization_id, license_id, payload, \
         status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $8)",
    )
    .bind(message.id)
    .bind(message.channel)
    .bind(message.topic)
    .bind(message.recipient)
    .bind(message.organization_id)
    .bind(message.license_id)
    .bind(message.payload)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims up to `limit` due messages for `lease_secs`: a claimed message is
/// invisible to other workers (in this process or another instance) until
/// it is marked or its lease runs out. PostgreSQL skips rows another
/// claim holds (`FOR UPDATE SKIP LOCKED`); SQLite has one writer at a time.
pub async fn claim_due(
    db: &Db,
    now: Timestamp,
    limit: i64,
    lease_secs: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $2 \
         AND (locked_until IS NULL OR locked_until <= $2) ORDER BY next_attempt_at, id LIMIT $3{lock}) \
         RETURNING id, channel, topic, recipient, payload, attempts"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now.unix() + lease_secs)
        .bind(now.unix())
        .bind(limit)
        .fetch_all(db.pool())
        .await
}

pub async fn mark_sent(db: &Db, id: &str, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $2, locked_until = NULL, last_error = NULL \
         WHERE id = $1",
    )
    .bind(id)
    .bind(now.unix())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at`, or dead when `None`.
pub async fn mark_failed(
    db: &Db,
    id: &str,
    error: &str,
    retry_at: Option<Timestamp>,
) -> Result<(), sqlx::Error> {
    let (status, next) = match retry_at {
        Some(at) => ("queued", Some(at.unix())),
        None => ("dead", None),
    };
    sqlx::query(
        "UPDATE outbox SET status = $2, next_attempt_at = COALESCE($3, next_attempt_at), \
         locked_until = NULL, last_error = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(next)
    .bind(error)
    .execute(db.pool())
    .await?;
    Ok(())
}
