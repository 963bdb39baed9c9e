//! Validation usage: every validation of a known license is counted (by
//! day and code, with the last IP and fingerprint) and the fingerprints and
//! IPs it came from are remembered per day. Every answer of the
//! key-authenticated API is counted by day, endpoint and code, refusals by
//! client address too, each license's first successful validation is
//! marked, and the key that signed each file handed out is noted.
//! Validations are the hot path, so they only touch memory here; a job
//! writes the batch every few seconds in one transaction. A crash loses at
//! most that batch: statistics, never license state.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use anyhow::Context;

use crate::domain::license::ValidationCode;
use crate::domain::time::Timestamp;
use crate::services::license_files::FileSignature;
use crate::store::file_signatures::{self, SignatureRow};
use crate::store::usage::{SightingRow, StatRow};
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
    /// (day, endpoint, code) -> count.
    outcomes: HashMap<(i64, &'static str, &'static str), i64>,
    /// (day, ip) -> (count, last code, last time).
    refusal_ips: HashMap<(i64, String), (i64, &'static str, i64)>,
    /// License -> time of its first VALID answer in this batch.
    first_valid: HashMap<String, i64>,
    /// (license, '' or machine id) -> the key that signed its latest file,
    /// and when.
    files: HashMap<(String, String), (String, i64)>,
}

impl Pending {
    fn with_same_capacity(&self) -> Self {
        Self {
            stats: HashMap::with_capacity(self.stats.len()),
            sightings: HashMap::with_capacity(self.sightings.len()),
            outcomes: HashMap::with_capacity(self.outcomes.len()),
            refusal_ips: HashMap::with_capacity(self.refusal_ips.len()),
            first_valid: HashMap::with_capacity(self.first_valid.len()),
            files: HashMap::with_capacity(self.files.len()),
        }
    }

    fn is_empty(&self) -> bool {
        self.stats.is_empty()
            && self.sightings.is_empty()
            && self.outcomes.is_empty()
            && self.refusal_ips.is_empty()
            && self.first_valid.is_empty()
            && self.files.is_empty()
    }

    /// Puts a batch that could not be written back under this one.
    fn merge(&mut self, batch: Pending) {
        for (k, s) in batch.stats {
            let e = self.stats.entry(k).or_default();
            e.count += s.count;
            e.last_at = e.last_at.max(s.last_at);
            e.last_ip = e.last_ip.take().or(s.last_ip);
            e.last_fingerprint = e.last_fingerprint.take().or(s.last_fingerprint);
        }
        for (k, (n, at)) in batch.sightings {
            let e = self.sightings.entry(k).or_default();
            e.0 += n;
            e.1 = e.1.max(at);
        }
        for (k, n) in batch.outcomes {
            *self.outcomes.entry(k).or_default() += n;
        }
        for (k, (n, code, at)) in batch.refusal_ips {
            let e = self.refusal_ips.entry(k).or_insert((0, code, at));
            e.0 += n;
            if at >= e.2 {
                (e.1, e.2) = (code, at);
            }
        }
        for (license, at) in batch.first_valid {
            let e = self.first_valid.entry(license).or_insert(at);
            *e = (*e).min(at);
        }
        for (file, (kid, at)) in batch.files {
            note_file(&mut self.files, file, kid, at);
        }
    }
}

/// Keeps the latest signature of a file.
fn note_file(
    files: &mut HashMap<(String, String), (String, i64)>,
    file: (String, String),
    kid: String,
    at: i64,
) {
    match files.entry(file) {
        std::collections::hash_map::Entry::Occupied(mut e) => {
            if at >= e.get().1 {
                e.insert((kid, at));
            }
        }
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert((kid, at));
        }
    }
}

/// The in-memory batch of validation usage.
#[derive(Debug, Default)]
pub struct UsageRecorder {
    pending: Mutex<Pending>,
    written: Mutex<WrittenSightings>,
    metrics: crate::metrics::Metrics,
}

/// The sightings this instance already wrote today, by hash: the console
/// only counts distinct fingerprints and IPs, so a sighting is written
/// once a day (its row's count and time are those of that first batch),
/// and a busy server does not upsert the same rows every few seconds. A
/// 64-bit hash collision could skip one sighting in about 2^64/n.
#[derive(Debug, Default)]
struct WrittenSightings {
    day: i64,
    hashes: HashSet<u64>,
}

fn sighting_hash(license_id: &str, day: i64, kind: &str, value: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    (license_id, day, kind, value).hash(&mut h);
    h.finish()
}

impl WrittenSightings {
    fn contains(&self, hash: u64, day: i64) -> bool {
        self.day == day && self.hashes.contains(&hash)
    }

    fn add(&mut self, day: i64, hashes: impl Iterator<Item = u64>) {
        if day > self.day {
            self.day = day;
            self.hashes.clear();
        }
        if day == self.day {
            self.hashes.extend(hashes);
        }
    }
}

/// Whether an API code is a success.
pub fn is_success(code: &str) -> bool {
    matches!(code, "VALID" | "OK")
}

impl UsageRecorder {
    pub fn new(metrics: crate::metrics::Metrics) -> Self {
        Self {
            pending: Mutex::default(),
            written: Mutex::default(),
            metrics,
        }
    }

    /// Counts one answer of the key-authenticated API (`endpoint` is
    /// validate, activate, deactivate or heartbeat), in the metrics at once
    /// and in the database with the next batch.
    pub fn record_outcome(
        &self,
        endpoint: &'static str,
        code: &'static str,
        ip: Option<&str>,
        now: Timestamp,
    ) {
        self.metrics.outcome(endpoint, code);
        let day = now.unix().div_euclid(86_400);
        let Ok(mut p) = self.pending.lock() else {
            return;
        };
        *p.outcomes.entry((day, endpoint, code)).or_default() += 1;
        if !is_success(code)
            && let Some(ip) = ip
        {
            let e = p
                .refusal_ips
                .entry((day, ip.to_owned()))
                .or_insert((0, code, now.unix()));
            e.0 += 1;
            (e.1, e.2) = (code, now.unix());
        }
    }

    /// Counts one validation of a license (`validated_before`: the license
    /// already has its first successful validation on record).
    pub fn record(
        &self,
        license_id: &str,
        code: ValidationCode,
        ip: Option<&str>,
        fingerprint: Option<&str>,
        validated_before: bool,
        now: Timestamp,
    ) {
        let day = now.unix().div_euclid(86_400);
        let Ok(mut p) = self.pending.lock() else {
            return;
        };
        if code == ValidationCode::Valid && !validated_before {
            p.first_valid
                .entry(license_id.to_owned())
                .or_insert(now.unix());
        }
        let stat = p
            .stats
            .entry((license_id.to_owned(), day, code.as_str()))
            .or_default();
        stat.count += 1;
        stat.last_at = now.unix();
        if ip.is_some() && stat.last_ip.as_deref() != ip {
            stat.last_ip = ip.map(str::to_owned);
        }
        if fingerprint.is_some() && stat.last_fingerprint.as_deref() != fingerprint {
            stat.last_fingerprint = fingerprint.map(str::to_owned);
        }
        let written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        for (kind, value) in [("ip", ip), ("fingerprint", fingerprint)] {
            if let Some(v) = value {
                if written.contains(sighting_hash(license_id, day, kind, v), day) {
                    continue;
                }
                let seen = p
                    .sightings
                    .entry((license_id.to_owned(), day, kind, v.to_owned()))
                    .or_default();
                seen.0 += 1;
                seen.1 = now.unix();
            }
        }
    }

    /// Notes which key signed a license or machine file just handed out.
    pub fn record_file(&self, signature: &FileSignature, now: Timestamp) {
        let Ok(mut p) = self.pending.lock() else {
            return;
        };
        let file = (
            signature.license_id.to_string(),
            signature
                .machine
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        note_file(&mut p.files, file, signature.kid.clone(), now.unix());
    }

    /// Writes the batch in one transaction; on failure it is put back for
    /// the next flush. Returns the number of rows written.
    pub async fn flush(&self, db: &Db) -> anyhow::Result<usize> {
        let batch = match self.pending.lock() {
            // The next batch starts at this one's size: growing maps of
            // thousands of entries from empty every few seconds was a
            // measurable share of a busy server's time (rehashing).
            Ok(mut p) => {
                let next = p.with_same_capacity();
                std::mem::replace(&mut *p, next)
            }
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let started = std::time::Instant::now();
        match write(db, &batch).await {
            Ok((rows, first_validations)) => {
                tracing::debug!(
                    rows,
                    first_validations,
                    ms = started.elapsed().as_millis() as u64,
                    "validation usage written"
                );
                self.metrics.steps("first_validation", first_validations);
                let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(day) = batch.sightings.keys().map(|k| k.1).max() {
                    let today = batch.sightings.keys().filter(|k| k.1 == day).map(
                        |(license, day, kind, value)| sighting_hash(license, *day, kind, value),
                    );
                    written.add(day, today);
                }
                Ok(rows)
            }
            Err(e) => {
                if let Ok(mut p) = self.pending.lock() {
                    p.merge(batch);
                }
                Err(e)
            }
        }
    }
}

/// Writes a batch; returns the rows written and how many licenses validated
/// successfully for the first time.
async fn write(db: &Db, batch: &Pending) -> anyhow::Result<(usize, u64)> {
    // Rows go in in key order: SQLite then walks each B-tree once, forward,
    // instead of jumping to a random page for every row. They are sorted
    // before the write lock is taken.
    let mut stats: Vec<StatRow<'_>> = batch
        .stats
        .iter()
        .map(|((license, day, code), s)| StatRow {
            license_id: license,
            day: *day,
            code,
            count: s.count,
            last_at: s.last_at,
            last_ip: s.last_ip.as_deref(),
            last_fingerprint: s.last_fingerprint.as_deref(),
        })
        .collect();
    stats.sort_unstable_by_key(|r| (r.license_id, r.day, r.code));
    let mut sightings: Vec<SightingRow<'_>> = batch
        .sightings
        .iter()
        .map(|((license, day, kind, value), (n, at))| SightingRow {
            license_id: license,
            day: *day,
            kind,
            value,
            count: *n,
            last_at: *at,
        })
        .collect();
    sightings.sort_unstable_by_key(|r| (r.license_id, r.day, r.kind, r.value));
    let mut firsts: Vec<(&str, i64)> = batch
        .first_valid
        .iter()
        .map(|(license, at)| (license.as_str(), *at))
        .collect();
    firsts.sort_unstable();
    let mut files: Vec<SignatureRow<'_>> = batch
        .files
        .iter()
        .map(|((license, file), (kid, at))| SignatureRow {
            license_id: license,
            file,
            kid,
            signed_at: *at,
        })
        .collect();
    files.sort_unstable_by_key(|r| (r.license_id, r.file));

    let mut tx = db.begin_write().await?;
    usage::add_stats(&mut tx, &stats)
        .await
        .context("writing validation stats")?;
    usage::add_sightings(&mut tx, &sightings)
        .await
        .context("writing validation sightings")?;
    for ((day, endpoint, code), n) in &batch.outcomes {
        usage::add_outcome(&mut tx, *day, endpoint, code, *n)
            .await
            .context("writing API outcomes")?;
    }
    for ((day, ip), (n, code, at)) in &batch.refusal_ips {
        usage::add_refusal_ip(&mut tx, *day, ip, *n, code, *at)
            .await
            .context("writing refused addresses")?;
    }
    let first_validations = usage::mark_first_validated(&mut tx, &firsts)
        .await
        .context("marking first validations")?;
    file_signatures::record(&mut tx, &files)
        .await
        .context("recording which keys signed files")?;
    tx.commit().await.context("committing validation stats")?;
    // Marked now (here or by another instance): validations stop asking.
    for (license, at) in &batch.first_valid {
        db.license_cache().note_first_validated(license, *at);
    }
    let rows = batch.stats.len()
        + batch.sightings.len()
        + batch.outcomes.len()
        + batch.refusal_ips.len()
        + batch.files.len();
    Ok((rows, first_validations))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sighting_written_today_is_not_batched_again() {
        let recorder = UsageRecorder::default();
        let now = Timestamp::from_unix(1_795_910_400);
        let day = now.unix().div_euclid(86_400);
        recorder.written.lock().unwrap().add(
            day,
            [sighting_hash("l1", day, "ip", "10.0.0.1")].into_iter(),
        );
        recorder.record(
            "l1",
            ValidationCode::Valid,
            Some("10.0.0.1"),
            Some("fp"),
            false,
            now,
        );
        let pending = recorder.pending.lock().unwrap();
        let kinds: Vec<&str> = pending.sightings.keys().map(|k| k.2).collect();
        assert_eq!(kinds, ["fingerprint"], "only the new sighting is batched");
        assert_eq!(pending.stats.len(), 1, "every validation is still counted");
        assert!(pending.first_valid.contains_key("l1"));
    }

    #[test]
    fn the_written_set_starts_again_each_day() {
        let mut written = WrittenSightings::default();
        written.add(10, [1, 2].into_iter());
        assert!(written.contains(1, 10));
        assert!(!written.contains(1, 11));
        written.add(11, [3].into_iter());
        assert!(!written.contains(1, 11) && written.contains(3, 11));
        // A late batch of yesterday's never brings yesterday back.
        written.add(10, [4].into_iter());
        assert!(!written.contains(4, 10) && written.contains(3, 11));
    }
}
