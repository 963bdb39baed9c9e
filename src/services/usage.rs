//! Validation usage: every validation of a known license is counted (by
//! day and code, with the last IP and fingerprint) and the fingerprints and
//! IPs it came from are remembered per day. Validations are the hot path,
//! so they only touch memory here; a job writes the batch every few seconds
//! in one transaction. A crash loses at most that batch: statistics, never
//! license state.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;

use crate::domain::time::Timestamp;
use crate::store::{Db, usage};

/// What the support console shows about a license's use.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Validations in the window, by code, most frequent first:
    /// (code, count, last time).
    pub by_code: Vec<(String, i64, Timestamp)>,
    pub last_seen: Option<(Timestamp, Option<String>, Option<String>)>,
    pub fingerprints: i64,
    pub ips: i64,
    /// More fingerprints or IPs than seats within the window.
    pub sharing_suspected: bool,
}

/// Days the console looks back for the key-sharing warning and counts.
pub const WINDOW_DAYS: i64 = 7;

#[derive(Debug, Default)]
struct Stat {
    count: i64,
    last_at: i64,
    last_ip: Option<String>,
    last_fingerprint: Option<String>,
}

#[derive(Debug, Default)]
struct Pending {
    stats: HashMap<(String, i64, &'static str), Stat>,
    sightings: HashMap<(String, i64, &'static str, String), (i64, i64)>,
}

/// The in-memory batch of validation usage.
#[derive(Debug, Default)]
pub struct UsageRecorder {
    pending: Mutex<Pending>,
}

impl UsageRecorder {
    /// Counts one validation of a license.
    pub fn record(
        &self,
        license_id: &str,
        code: &'static str,
        ip: Option<&str>,
        fingerprint: Option<&str>,
        now: Timestamp,
    ) {
        let day = now.unix().div_euclid(86_400);
        let Ok(mut p) = self.pending.lock() else {
            return;
        };
        let stat = p
            .stats
            .entry((license_id.to_owned(), day, code))
            .or_default();
        stat.count += 1;
        stat.last_at = now.unix();
        if ip.is_some() {
            stat.last_ip = ip.map(str::to_owned);
        }
        if fingerprint.is_some() {
            stat.last_fingerprint = fingerprint.map(str::to_owned);
        }
        for (kind, value) in [("ip", ip), ("fingerprint", fingerprint)] {
            if let Some(v) = value {
                let seen = p
                    .sightings
                    .entry((license_id.to_owned(), day, kind, v.to_owned()))
                    .or_default();
                seen.0 += 1;
                seen.1 = now.unix();
            }
        }
    }

    /// Writes the batch in one transaction; on failure it is put back for
    /// the next flush. Returns the number of rows written.
    pub async fn flush(&self, db: &Db) -> anyhow::Result<usize> {
        let batch = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return Ok(0),
        };
        if batch.stats.is_empty() && batch.sightings.is_empty() {
            return Ok(0);
        }
        let written = write(db, &batch).await;
        if written.is_err()
            && let Ok(mut p) = self.pending.lock()
        {
            // Merge back what could not be written.
            for (k, s) in batch.stats {
                let e = p.stats.entry(k).or_default();
                e.count += s.count;
                e.last_at = e.last_at.max(s.last_at);
                e.last_ip = e.last_ip.take().or(s.last_ip);
                e.last_fingerprint = e.last_fingerprint.take().or(s.last_fingerprint);
            }
            for (k, (n, at)) in batch.sightings {
                let e = p.sightings.entry(k).or_default();
                e.0 += n;
                e.1 = e.1.max(at);
            }
        }
        written
    }
}

async fn write(db: &Db, batch: &Pending) -> anyhow::Result<usize> {
    let mut tx = db.begin_write().await?;
    for ((license, day, code), s) in &batch.stats {
        usage::add_stat(
            &mut tx,
            license,
            *day,
            code,
            s.count,
            s.last_at,
            s.last_ip.as_deref(),
            s.last_fingerprint.as_deref(),
        )
        .await
        .context("writing validation stats")?;
    }
    for ((license, day, kind, value), (n, at)) in &batch.sightings {
        usage::add_sighting(&mut tx, license, *day, kind, value, *n, *at)
            .await
            .context("writing validation sightings")?;
    }
    tx.commit().await.context("committing validation stats")?;
    Ok(batch.stats.len() + batch.sightings.len())
}

/// A license's use in the last [`WINDOW_DAYS`], and whether it looks shared.
pub async fn usage(db: &Db, license_id: &str, seats: i64, now: Timestamp) -> anyhow::Result<Usage> {
    let since = now.unix().div_euclid(86_400) - (WINDOW_DAYS - 1);
    let by_code = usage::counts_since(db.pool(), license_id, since)
        .await?
        .into_iter()
        .map(|c| (c.code, c.count, Timestamp::from_unix(c.last_at)))
        .collect();
    let last_seen = usage::last_seen(db.pool(), license_id)
        .await?
        .map(|(at, ip, fp)| (Timestamp::from_unix(at), ip, fp));
    let fingerprints = usage::distinct_since(db.pool(), license_id, "fingerprint", since).await?;
    let ips = usage::distinct_since(db.pool(), license_id, "ip", since).await?;
    Ok(Usage {
        by_code,
        last_seen,
        fingerprints,
        ips,
        sharing_suspected: fingerprints > seats || ips > seats,
    })
}
