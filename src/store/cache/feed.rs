//! The change feed that keeps the cache true: `NOTIFY` on PostgreSQL,
//! the `license_changes` table on SQLite.

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;

use super::{CHANNEL, Changes, LicenseCache};

/// Follows the change feed on PostgreSQL: listens on [`CHANNEL`], where
/// the triggers of every write (this instance's, another's, hand-written
/// SQL) arrive, and serves from memory only while subscribed. A lost
/// connection stops serving and clears the cache until the subscription is
/// back, since notices sent meanwhile are lost.
pub async fn listen(url: String, cache: Arc<LicenseCache>) {
    follow_for_ever(&cache, || async {
        let mut listener = subscribe(&url).await.map_err(Unfollowed::NotStarted)?;
        cache.set_serving(true);
        tracing::debug!("license cache: subscribed to change notices");
        loop {
            match listener.try_recv().await {
                Ok(Some(notice)) => cache.apply_notice(notice.payload()),
                Ok(None) => return Ok(()),
                Err(e) => return Err(Unfollowed::Lost(e)),
            }
        }
    })
    .await;
}

/// Why following the change feed stopped.
enum Unfollowed {
    /// It could not start (no connection, no first read).
    NotStarted(sqlx::Error),
    /// It was followed, then lost.
    Lost(sqlx::Error),
}

/// Follows a change feed for ever: `follow` turns serving on once it
/// follows and returns when it no longer does; serving then stops (the
/// cache empties) and, after a pause that grows while it cannot start
/// again, it follows again.
async fn follow_for_ever<F, Fut>(cache: &LicenseCache, mut follow: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), Unfollowed>>,
{
    const FIRST_PAUSE: Duration = Duration::from_millis(250);
    let mut pause = FIRST_PAUSE;
    loop {
        match follow().await {
            Ok(()) => pause = FIRST_PAUSE,
            Err(Unfollowed::Lost(e)) => {
                pause = FIRST_PAUSE;
                tracing::warn!(error = %e, "license cache: lost the change feed; validation reads the database until it is back");
            }
            Err(Unfollowed::NotStarted(e)) => {
                tracing::warn!(error = %e, "license cache: cannot follow the change feed; validation reads the database");
            }
        }
        cache.set_serving(false);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

async fn subscribe(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// How often the SQLite server reads the change feed: the bound on how
/// long a change made outside Licensor goes unseen.
pub const FEED_POLL_EVERY: Duration = Duration::from_secs(1);
/// Change rows read per query.
const FEED_BATCH: i64 = 1_000;

/// Follows the change feed on SQLite: every [`FEED_POLL_EVERY`] applies
/// the rows the triggers appended to `license_changes` since the last pass
/// ([`apply_changes`]). It serves from memory only while the feed reads:
/// a failed read stops serving and clears the cache, and following starts
/// again (from the newest row, with an empty cache) when the database
/// answers.
pub async fn follow_changes(pool: AnyPool, cache: Arc<LicenseCache>) {
    follow_for_ever(&cache, || async {
        let mut cursor = latest_change(&pool).await.map_err(Unfollowed::NotStarted)?;
        // Clears anything filled before the cursor was read.
        cache.set_serving(true);
        // Rows written while no server ran (`licensor seed`, SQL).
        delete_applied(&pool, cursor).await;
        let mut tick = tokio::time::interval(FEED_POLL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            cursor = apply_changes(&pool, &cache, cursor)
                .await
                .map_err(Unfollowed::Lost)?;
        }
    })
    .await;
}

/// The newest row of the SQLite change feed (0 when it is empty).
async fn latest_change(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    let (seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM license_changes")
        .fetch_one(pool)
        .await?;
    Ok(seq)
}

/// One pass over the SQLite change feed: drops the entries of the changes
/// after `cursor` and returns the new cursor. The rows applied are then
/// deleted (SQLite has one server).
async fn apply_changes(
    pool: &AnyPool,
    cache: &LicenseCache,
    cursor: i64,
) -> Result<i64, sqlx::Error> {
    let mut next = cursor;
    loop {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, notice FROM license_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(next)
        .bind(FEED_BATCH)
        .fetch_all(pool)
        .await?;
        let Some(&(last, _)) = rows.last() else {
            break;
        };
        next = last;
        let mut changes = Changes::default();
        for (_, notice) in &rows {
            changes.notice(notice);
        }
        cache.apply(&changes);
        if (rows.len() as i64) < FEED_BATCH {
            break;
        }
    }
    if next > cursor {
        delete_applied(pool, next).await;
    }
    Ok(next)
}

/// Deletes the feed's rows up to `seq`; failing only leaves them for the
/// next pass that applies a change.
async fn delete_applied(pool: &AnyPool, seq: i64) {
    if let Err(e) = sqlx::query("DELETE FROM license_changes WHERE seq <= $1")
        .bind(seq)
        .execute(pool)
        .await
    {
        tracing::warn!(error = %e, "license cache: cannot delete applied changes; a later pass will");
    }
}
