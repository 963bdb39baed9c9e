//! Reading the outbox, for the console and the metrics: what was queued,
//! where it stands, and how much waits.

use crate::store::Db;
use crate::store::outbox;

pub use crate::store::outbox::{OutboxEntry, Shown};

/// A page of messages, newest first, before the `(created_at, id)` cursor.
pub async fn page(
    db: &Db,
    shown: Shown,
    before: Option<(i64, &str)>,
    limit: i64,
) -> anyhow::Result<Vec<OutboxEntry>> {
    Ok(outbox::list(db.pool(), shown, None, before, limit).await?)
}

/// How many messages stand in each status (`failed`: queued after a failed
/// attempt).
pub async fn counts(db: &Db) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(outbox::counts(db.pool()).await?)
}

/// Queued emails and webhooks.
pub async fn queued_by_channel(db: &Db) -> anyhow::Result<(i64, i64)> {
    Ok(outbox::queued_by_channel(db.pool()).await?)
}

/// The latest deliveries to one webhook endpoint.
pub async fn deliveries_to(
    db: &Db,
    endpoint_id: &str,
    limit: i64,
) -> anyhow::Result<Vec<OutboxEntry>> {
    Ok(outbox::for_endpoint(db.pool(), endpoint_id, limit).await?)
}
