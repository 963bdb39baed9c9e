//! Data retention: the IP addresses and fingerprints that validations came
//! from are kept `validation_retention_days`, then erased (the day's counts
//! stay), as are the addresses of refused API clients and the IP of a
//! machine deactivated that long ago. The maintenance pass runs it every
//! minute, off the request path, a batch per statement.

use anyhow::Context;

use crate::domain::time::Timestamp;
use crate::store::{Db, retention};

/// Rows per statement: each is a short write transaction.
const BATCH: i64 = 1_000;
/// Statements per table per pass: a backlog (a first run on an old
/// database, a shortened retention) is worked off over several passes.
const BATCHES_PER_PASS: usize = 20;

/// What one pass erased.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    pub sightings: u64,
    pub statistics: u64,
    pub refused_addresses: u64,
    pub machine_addresses: u64,
}

impl Erased {
    pub fn total(&self) -> u64 {
        self.sightings + self.statistics + self.refused_addresses + self.machine_addresses
    }
}

/// Erases what is older than `days` before `now`, up to
/// [`BATCHES_PER_PASS`] batches of each kind.
pub async fn erase_expired(db: &Db, now: Timestamp, days: i64) -> anyhow::Result<Erased> {
    let cutoff = now.plus_days(-days);
    let day = cutoff.unix().div_euclid(86_400);
    let pool = db.pool();
    Ok(Erased {
        sightings: batches(|| retention::delete_sightings(pool, day, BATCH))
            .await
            .context("erasing old validation sightings")?,
        statistics: batches(|| retention::clear_stat_sightings(pool, day, BATCH))
            .await
            .context("clearing old statistics' addresses")?,
        refused_addresses: batches(|| retention::delete_refusal_ips(pool, day, BATCH))
            .await
            .context("erasing old refused addresses")?,
        machine_addresses: batches(|| retention::clear_machine_ips(pool, cutoff.unix(), BATCH))
            .await
            .context("clearing old machines' addresses")?,
    })
}

/// Runs `step` until a batch comes back short or the pass's share is used.
async fn batches<F, Fut>(mut step: F) -> Result<u64, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, sqlx::Error>>,
{
    let mut total = 0;
    for _ in 0..BATCHES_PER_PASS {
        let n = step().await?;
        total += n;
        if n < BATCH as u64 {
            break;
        }
    }
    Ok(total)
}
