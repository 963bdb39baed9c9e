//! The transactional outbox: emails and webhooks written in the same
//! transaction as the change that causes them, delivered by a worker.

use sqlx::FromRow;

use crate::config::Backend;
use crate::domain::outbox::{Channel, DeliveryStatus};
use crate::domain::time::Timestamp;
use crate::store::decode;
use crate::store::{Db, Tx};

#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    pub topic: String,
    pub recipient: String,
    pub payload: String,
    pub attempts: i64,
    pub webhook_endpoint_id: Option<String>,
}

#[derive(Debug)]
pub struct NewMessage<'a> {
    pub id: &'a str,
    pub channel: Channel,
    pub topic: &'a str,
    pub recipient: &'a str,
    pub webhook_endpoint_id: Option<&'a str>,
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
         status, attempts, next_attempt_at, created_at, webhook_endpoint_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $8, $9)",
    )
    .bind(message.id)
    .bind(message.channel.as_str())
    .bind(message.topic)
    .bind(message.recipient)
    .bind(message.organization_id)
    .bind(message.license_id)
    .bind(message.payload)
    .bind(now.unix())
    .bind(message.webhook_endpoint_id)
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
    claimant: &str,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE outbox SET locked_until = $1, claimed_by = $4, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $2 \
         AND (locked_until IS NULL OR locked_until <= $2) ORDER BY next_attempt_at, id LIMIT $3{lock}) \
         RETURNING id, channel, topic, recipient, payload, attempts, webhook_endpoint_id"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now.unix() + lease_secs)
        .bind(now.unix())
        .bind(limit)
        .bind(claimant)
        .fetch_all(db.pool())
        .await
}

/// Extends this claimant's lease on one message, just before it is sent;
/// false when the claim is no longer its own.
pub async fn renew_claim(
    db: &Db,
    id: &str,
    claimant: &str,
    until: Timestamp,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE outbox SET locked_until = $3 WHERE id = $1 AND claimed_by = $2 AND status = 'queued'",
    )
    .bind(id)
    .bind(claimant)
    .bind(until.unix())
    .execute(db.pool())
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Releases the claims a previous process left: on SQLite (one server)
/// every claim but `claimant`'s; on PostgreSQL those of the same host and
/// listen address (`predecessor_prefix`) from an earlier start. Their
/// messages are due again at once instead of after the lease.
pub async fn release_stale_claims(
    db: &Db,
    claimant: &str,
    predecessor_prefix: &str,
) -> Result<u64, sqlx::Error> {
    let res = match db.backend() {
        Backend::Sqlite => {
            sqlx::query(
                "UPDATE outbox SET locked_until = NULL, claimed_by = NULL \
                 WHERE claimed_by IS NOT NULL AND claimed_by <> $1",
            )
            .bind(claimant)
            .execute(db.pool())
            .await?
        }
        Backend::Postgres => {
            sqlx::query(
                "UPDATE outbox SET locked_until = NULL, claimed_by = NULL \
                 WHERE substr(claimed_by, 1, CAST($3 AS INTEGER)) = $2 AND claimed_by <> $1",
            )
            .bind(claimant)
            .bind(predecessor_prefix)
            .bind(i64::try_from(predecessor_prefix.chars().count()).unwrap_or(i64::MAX))
            .execute(db.pool())
            .await?
        }
    };
    Ok(res.rows_affected())
}

/// Records a delivery (`status_code`: the webhook receiver's answer).
pub async fn mark_sent(
    db: &Db,
    id: &str,
    now: Timestamp,
    status_code: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $2, locked_until = NULL, claimed_by = NULL, last_error = NULL, \
         last_status_code = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(now.unix())
    .bind(status_code)
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
    status_code: Option<i64>,
) -> Result<(), sqlx::Error> {
    let (status, next) = match retry_at {
        Some(at) => ("queued", Some(at.unix())),
        None => ("dead", None),
    };
    sqlx::query(
        "UPDATE outbox SET status = $2, next_attempt_at = COALESCE($3, next_attempt_at), \
         locked_until = NULL, claimed_by = NULL, last_error = $4, last_status_code = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(next)
    .bind(error)
    .bind(status_code)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A message as the admin outbox page shows it.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxEntry {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    pub topic: String,
    pub recipient: String,
    pub organization_id: Option<String>,
    pub license_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub last_status_code: Option<i64>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

impl OutboxEntry {
    /// The status as listings show it: a queued message whose last attempt
    /// failed is `failed` (it will be retried).
    pub fn shown_status(&self) -> &'static str {
        if self.status == DeliveryStatus::Queued && self.last_error.is_some() {
            "failed"
        } else {
            self.status.as_str()
        }
    }
}

/// Which messages a listing shows. `Failed` are queued messages whose last
/// attempt failed (they will be retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    All,
    Queued,
    Failed,
    Sent,
    Dead,
}

impl Shown {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "all" => Self::All,
            "queued" => Self::Queued,
            "failed" => Self::Failed,
            "sent" => Self::Sent,
            "dead" => Self::Dead,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Queued => "queued",
            Self::Failed => "failed",
            Self::Sent => "sent",
            Self::Dead => "dead",
        }
    }
}

macro_rules! select_entry {
    () => {
        "SELECT id, channel, topic, recipient, organization_id, license_id, status, attempts, \
         next_attempt_at, last_error, last_status_code, created_at, sent_at FROM outbox "
    };
}

/// Newest first; `before` is the (created_at, id) of the last row of the
/// previous page. `organization_id` narrows to one customer.
pub async fn list(
    pool: &sqlx::AnyPool,
    shown: Shown,
    organization_id: Option<&str>,
    before: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<OutboxEntry>, sqlx::Error> {
    let (status, failed) = match shown {
        Shown::All => (None, None),
        Shown::Queued => (Some("queued"), None),
        Shown::Failed => (Some("queued"), Some(1_i64)),
        Shown::Sent => (Some("sent"), None),
        Shown::Dead => (Some("dead"), None),
    };
    let (before_at, before_id) = match before {
        Some((at, id)) => (Some(at), Some(id)),
        None => (None, None),
    };
    sqlx::query_as(concat!(
        select_entry!(),
        "WHERE ($1 IS NULL OR status = $1) \
           AND ($2 IS NULL OR last_error IS NOT NULL) \
           AND ($3 IS NULL OR organization_id = $3) \
           AND ($4 IS NULL OR created_at < $4 OR (created_at = $4 AND id < $5)) \
         ORDER BY created_at DESC, id DESC LIMIT $6"
    ))
    .bind(status)
    .bind(failed)
    .bind(organization_id)
    .bind(before_at)
    .bind(before_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Counts by status, and failed (queued with an error), for the page's tabs.
pub async fn counts(pool: &sqlx::AnyPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, COUNT(*) FROM outbox GROUP BY status \
         UNION ALL SELECT 'failed', COUNT(*) FROM outbox WHERE status = 'queued' AND last_error IS NOT NULL",
    )
    .fetch_all(pool)
    .await
}

/// Sends a queued or dead message again now, with a fresh set of attempts;
/// false when it is not queued or dead (a sent message is copied instead).
pub async fn requeue(tx: &mut Tx, id: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = $2, \
         locked_until = NULL WHERE id = $1 AND status IN ('queued', 'dead')",
    )
    .bind(id)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// The stored payload of a message.
/// A message's status and payload.
pub async fn payload(
    tx: &mut Tx,
    id: &str,
) -> Result<Option<(DeliveryStatus, String)>, sqlx::Error> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT status, payload FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    row.map(|(status, payload)| Ok((decode(status)?, payload)))
        .transpose()
}

/// A new queued message with the same recipient and subject matter as `id`
/// and the given payload (a resend of a sent message).
pub async fn copy(
    tx: &mut Tx,
    id: &str,
    new_id: &str,
    payload: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO outbox (id, channel, topic, recipient, webhook_endpoint_id, organization_id, \
         license_id, payload, status, attempts, next_attempt_at, created_at) \
         SELECT $2, channel, topic, recipient, webhook_endpoint_id, organization_id, license_id, \
         $3, 'queued', 0, $4, $4 FROM outbox WHERE id = $1",
    )
    .bind(id)
    .bind(new_id)
    .bind(payload)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// The deliveries of one webhook endpoint, newest first.
pub async fn for_endpoint(
    pool: &sqlx::AnyPool,
    endpoint_id: &str,
    limit: i64,
) -> Result<Vec<OutboxEntry>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_entry!(),
        "WHERE webhook_endpoint_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(endpoint_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Messages waiting to go out, by channel: (email, webhook).
pub async fn queued_by_channel(pool: &sqlx::AnyPool) -> Result<(i64, i64), sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT channel, COUNT(*) FROM outbox WHERE status = 'queued' GROUP BY channel",
    )
    .fetch_all(pool)
    .await?;
    let count = |channel: &str| {
        rows.iter()
            .find(|(c, _)| c == channel)
            .map_or(0, |(_, n)| *n)
    };
    Ok((count("email"), count("webhook")))
}

/// Whether a message of `topic` was queued to `recipient` since `since`.
pub async fn queued_to_since(
    tx: &mut Tx,
    recipient: &str,
    topic: &str,
    since: Timestamp,
) -> Result<bool, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND topic = $2 AND created_at >= $3",
    )
    .bind(recipient)
    .bind(topic)
    .bind(since.unix())
    .fetch_one(&mut **tx)
    .await?;
    Ok(n > 0)
}
