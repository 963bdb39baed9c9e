//! What the admin dashboard shows: the onboarding funnel (counts,
//! conversion, where customers stopped and how long each step took), error
//! patterns and license utilization. Pure computation over the rows of
//! `store::analytics`, so the numbers are testable without a server.

use std::collections::BTreeMap;

use crate::domain::time::Timestamp;
use crate::store::Db;
use crate::store::analytics::{self, FunnelRow};

/// The onboarding steps, in order.
pub const STEPS: [&str; 5] = [
    "Signed up",
    "Email verified",
    "License assigned",
    "First activation",
    "Working install",
];

/// What the dashboard calls each step in its explanations.
pub const STEP_DETAILS: [&str; 5] = [
    "created an account",
    "followed the link in the confirmation email",
    "got a license (a trial, or one assigned to their email)",
    "activated a first machine",
    "their application validated the license successfully",
];

const DAY: i64 = 86_400;

/// Time between two steps over the customers who took both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durations {
    pub median_secs: i64,
    pub p90_secs: i64,
    pub samples: usize,
}

impl Durations {
    fn of(mut secs: Vec<i64>) -> Option<Self> {
        if secs.is_empty() {
            return None;
        }
        secs.sort_unstable();
        Some(Self {
            median_secs: nearest_rank(&secs, 0.5),
            p90_secs: nearest_rank(&secs, 0.9),
            samples: secs.len(),
        })
    }
}

/// The nearest-rank percentile of sorted values.
fn nearest_rank(sorted: &[i64], p: f64) -> i64 {
    let n = sorted.len();
    // ceil(p * n), 1-based; p is a fixed fraction and n a small count.
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// One group of customers (a sign-up week, a product, or everyone).
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    pub label: String,
    /// Customers who reached each step (and every step before it).
    pub reached: [usize; 5],
    /// Customers whose last step was this one.
    pub stopped: [usize; 5],
    /// From each step to the next.
    pub between: [Option<Durations>; 4],
    /// From sign-up to a working install.
    pub total: Option<Durations>,
}

impl Cohort {
    fn of<'a>(label: String, rows: impl IntoIterator<Item = &'a FunnelRow>) -> Self {
        let mut reached = [0usize; 5];
        let mut stopped = [0usize; 5];
        let mut between: [Vec<i64>; 4] = Default::default();
        let mut total = Vec::new();
        for row in rows {
            let times = steps_of(row);
            let last = times.iter().take_while(|t| t.is_some()).count();
            for r in reached.iter_mut().take(last) {
                *r += 1;
            }
            if last > 0 {
                stopped[last - 1] += 1;
            }
            for (k, gap) in between.iter_mut().enumerate() {
                if k + 1 < last
                    && let (Some(a), Some(b)) = (times[k], times[k + 1])
                {
                    gap.push((b - a).max(0));
                }
            }
            if last == 5
                && let (Some(a), Some(b)) = (times[0], times[4])
            {
                total.push((b - a).max(0));
            }
        }
        Self {
            label,
            reached,
            stopped,
            between: between.map(Durations::of),
            total: Durations::of(total),
        }
    }

    pub fn signed_up(&self) -> usize {
        self.reached[0]
    }

    pub fn completed(&self) -> usize {
        self.reached[4]
    }

    /// The share of the previous step's customers who reached step `k`.
    pub fn conversion(&self, k: usize) -> Option<f64> {
        match k {
            0 => None,
            _ => ratio(self.reached[k], self.reached[k - 1]),
        }
    }

    /// The share of sign-ups who reached a working install.
    pub fn overall(&self) -> Option<f64> {
        ratio(self.reached[4], self.reached[0])
    }
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// A customer's step times; a step counts only after the one before it.
fn steps_of(row: &FunnelRow) -> [Option<i64>; 5] {
    [
        Some(row.signed_up_at),
        row.verified_at,
        row.licensed_at,
        row.activated_at,
        row.validated_at,
    ]
}

/// The Monday (UTC) of the week of `t`, as a day number.
pub fn week_of(t: i64) -> i64 {
    let day = t.div_euclid(DAY);
    day - (day + 3).rem_euclid(7)
}

/// The funnel of every customer who signed up in the window, by sign-up
/// week (newest first) and by product.
#[derive(Debug, Clone, PartialEq)]
pub struct Funnel {
    pub everyone: Cohort,
    pub by_week: Vec<Cohort>,
    pub by_product: Vec<Cohort>,
    /// The sign-up week of `now`.
    pub this_week: Cohort,
    /// Working installs completed this week, whenever their customer signed up.
    pub completed_this_week: usize,
}

pub fn funnel(rows: &[FunnelRow], now: Timestamp) -> Funnel {
    let week_label = |week: i64| Timestamp::from_unix(week * DAY).to_date_string();
    let mut weeks: BTreeMap<i64, Vec<&FunnelRow>> = BTreeMap::new();
    let mut products: BTreeMap<String, Vec<&FunnelRow>> = BTreeMap::new();
    for row in rows {
        weeks
            .entry(week_of(row.signed_up_at))
            .or_default()
            .push(row);
        products
            .entry(
                row.product
                    .clone()
                    .unwrap_or_else(|| "(no license yet)".to_owned()),
            )
            .or_default()
            .push(row);
    }
    let current = week_of(now.unix());
    Funnel {
        everyone: Cohort::of("All customers".to_owned(), rows),
        by_week: weeks
            .iter()
            .rev()
            .map(|(week, rows)| Cohort::of(week_label(*week), rows.iter().copied()))
            .collect(),
        by_product: products
            .iter()
            .map(|(product, rows)| Cohort::of(product.clone(), rows.iter().copied()))
            .collect(),
        this_week: Cohort::of(
            week_label(current),
            weeks.get(&current).into_iter().flatten().copied(),
        ),
        completed_this_week: rows
            .iter()
            .filter(|r| r.validated_at.is_some_and(|t| week_of(t) == current))
            .filter(|r| steps_of(r).iter().all(Option::is_some))
            .count(),
    }
}

/// Refusals of the key-authenticated API over time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorPatterns {
    /// The days shown, oldest first, as day numbers.
    pub days: Vec<i64>,
    /// Refusals per code, a count per day of `days`; most frequent first.
    pub by_code: Vec<(String, Vec<i64>)>,
    /// Answers per endpoint: (endpoint, answers, refusals).
    pub by_endpoint: Vec<(String, i64, i64)>,
}

impl ErrorPatterns {
    pub fn total(&self, code: &str) -> i64 {
        self.by_code
            .iter()
            .find(|(c, _)| c == code)
            .map_or(0, |(_, per_day)| per_day.iter().sum())
    }
}

pub fn error_patterns(
    rows: &[analytics::OutcomeRow],
    first_day: i64,
    last_day: i64,
) -> ErrorPatterns {
    let days: Vec<i64> = (first_day..=last_day).collect();
    let mut by_code: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut by_endpoint: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| (first_day..=last_day).contains(&r.day))
    {
        let refused = !crate::services::usage::is_success(&row.code);
        let e = by_endpoint.entry(row.endpoint.clone()).or_default();
        e.0 += row.count;
        if refused {
            e.1 += row.count;
            let series = by_code
                .entry(row.code.clone())
                .or_insert_with(|| vec![0; days.len()]);
            if let Ok(i) = usize::try_from(row.day - first_day) {
                series[i] += row.count;
            }
        }
    }
    let mut by_code: Vec<(String, Vec<i64>)> = by_code.into_iter().collect();
    by_code.sort_by_key(|(code, per_day)| (-per_day.iter().sum::<i64>(), code.clone()));
    ErrorPatterns {
        days,
        by_code,
        by_endpoint: by_endpoint
            .into_iter()
            .map(|(endpoint, (n, refused))| (endpoint, n, refused))
            .collect(),
    }
}

/// Everything the dashboard shows, read in one go.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// When these figures were read.
    pub computed_at: Timestamp,
    pub weeks: i64,
    pub funnel: Funnel,
    pub errors: ErrorPatterns,
    pub failing_licenses: Vec<analytics::FailingLicense>,
    pub failing_ips: Vec<analytics::FailingIp>,
    /// (channel, retrying, dead).
    pub delivery_failures: Vec<(String, i64, i64)>,
    pub seats: Vec<analytics::SeatRow>,
    /// Licenses in force with a validation in the last 30 days, and all.
    pub active: i64,
    pub in_force: i64,
    pub expiring: Vec<analytics::ExpiringRow>,
    pub expiring_count: i64,
}

/// Days of error history and of the active/dormant split.
pub const ERROR_DAYS: i64 = 30;
pub const DORMANT_DAYS: i64 = 30;
pub const EXPIRING_DAYS: i64 = 30;

pub async fn dashboard(db: &Db, now: Timestamp, weeks: i64) -> anyhow::Result<Dashboard> {
    let pool = db.pool();
    let today = now.unix().div_euclid(DAY);
    let since = (week_of(now.unix()) - 7 * (weeks - 1)) * DAY;
    let rows = analytics::funnel(pool, since).await?;
    let first_day = today - (ERROR_DAYS - 1);
    let outcomes = analytics::outcomes(pool, first_day).await?;
    let (active, in_force) =
        analytics::activity(pool, now.unix(), today - (DORMANT_DAYS - 1)).await?;
    let until = now.unix() + EXPIRING_DAYS * DAY;
    Ok(Dashboard {
        computed_at: now,
        weeks,
        funnel: funnel(&rows, now),
        errors: error_patterns(&outcomes, first_day, today),
        failing_licenses: analytics::failing_licenses(pool, first_day, 10).await?,
        failing_ips: analytics::failing_ips(pool, first_day, 10).await?,
        delivery_failures: analytics::delivery_failures(pool).await?,
        seats: analytics::seats(pool, now.unix()).await?,
        active,
        in_force,
        expiring: analytics::expiring(pool, now.unix(), until, 20).await?,
        expiring_count: analytics::expiring_count(pool, now.unix(), until).await?,
    })
}

/// Licenses in force from which a dashboard is kept as a snapshot: its read
/// visits every one (about a second per 400,000 on the build machine).
const SNAPSHOT_FROM_LICENSES: i64 = 100_000;
/// How long a snapshot is shown before it is read again.
const SNAPSHOT_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// The dashboard of a large database, as last read. Reading it visits every
/// license (seconds at a million), so the dashboard of a database with
/// [`SNAPSHOT_FROM_LICENSES`] licenses in force or more is kept and shown
/// for a minute, then read again in the background while the last one is
/// still shown; a smaller one is read afresh on every view. The server
/// reads the default one at start.
#[derive(Debug, Default)]
pub struct DashboardSnapshots {
    slots: std::sync::Mutex<std::collections::HashMap<i64, Snapshot>>,
    refreshing: std::sync::Mutex<std::collections::HashSet<i64>>,
    /// One read at a time: a viewer arriving during a read waits for it
    /// rather than starting another.
    reading: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone)]
struct Snapshot {
    read_at: std::time::Instant,
    dashboard: std::sync::Arc<Dashboard>,
}

impl DashboardSnapshots {
    fn snapshot(&self, weeks: i64) -> Option<Snapshot> {
        self.slots.lock().ok()?.get(&weeks).cloned()
    }

    /// The dashboard for `weeks`: a snapshot under a minute old, or a
    /// stale one while a fresh one is read, or read now.
    pub async fn get(
        self: &std::sync::Arc<Self>,
        db: &Db,
        now: Timestamp,
        weeks: i64,
    ) -> anyhow::Result<std::sync::Arc<Dashboard>> {
        if let Some(snapshot) = self.snapshot(weeks) {
            if snapshot.read_at.elapsed() >= SNAPSHOT_FOR {
                self.refresh_in_background(db, now, weeks);
            }
            return Ok(snapshot.dashboard);
        }
        self.read(db, now, weeks).await
    }

    /// Reads the dashboard, and keeps it when the database is large.
    pub async fn read(
        &self,
        db: &Db,
        now: Timestamp,
        weeks: i64,
    ) -> anyhow::Result<std::sync::Arc<Dashboard>> {
        let _reading = self.reading.lock().await;
        if let Some(snapshot) = self.snapshot(weeks)
            && snapshot.read_at.elapsed() < SNAPSHOT_FOR
        {
            return Ok(snapshot.dashboard);
        }
        let started = std::time::Instant::now();
        let dashboard = std::sync::Arc::new(dashboard(db, now, weeks).await?);
        let took = started.elapsed();
        if let Ok(mut slots) = self.slots.lock() {
            if dashboard.in_force >= SNAPSHOT_FROM_LICENSES {
                slots.insert(
                    weeks,
                    Snapshot {
                        read_at: std::time::Instant::now(),
                        dashboard: std::sync::Arc::clone(&dashboard),
                    },
                );
            } else {
                slots.remove(&weeks);
            }
        }
        tracing::debug!(weeks, took_ms = took.as_millis(), "dashboard read");
        Ok(dashboard)
    }

    fn refresh_in_background(self: &std::sync::Arc<Self>, db: &Db, now: Timestamp, weeks: i64) {
        let Ok(mut refreshing) = self.refreshing.lock() else {
            return;
        };
        if !refreshing.insert(weeks) {
            return;
        }
        let (this, db) = (std::sync::Arc::clone(self), db.clone());
        tokio::spawn(async move {
            if let Err(e) = this.read(&db, now, weeks).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot read the dashboard");
            }
            if let Ok(mut refreshing) = this.refreshing.lock() {
                refreshing.remove(&weeks);
            }
        });
    }
}

/// A duration as people say it: "40 s", "12 min", "3.5 h", "2.0 d".
pub fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * DAY => format!("{:.1} h", s as f64 / 3600.0),
        s => format!("{:.1} d", s as f64 / DAY as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(signed: i64, steps: [Option<i64>; 4], product: &str) -> FunnelRow {
        FunnelRow {
            organization_id: format!("org-{signed}"),
            signed_up_at: signed,
            verified_at: steps[0],
            licensed_at: steps[1],
            activated_at: steps[2],
            validated_at: steps[3],
            product: Some(product.to_owned()),
        }
    }

    #[test]
    fn the_funnel_counts_each_step_after_the_one_before() {
        let t = 1_795_996_800; // Monday 2026-11-30, 00:00 UTC
        let rows = vec![
            row(
                t,
                [Some(t + 60), Some(t + 120), Some(t + 600), Some(t + 660)],
                "A",
            ),
            row(
                t + 1,
                [Some(t + 301), Some(t + 361), Some(t + 3601), Some(t + 3661)],
                "A",
            ),
            row(t + 2, [Some(t + 62), Some(t + 122), None, None], "B"),
            row(t + 3, [Some(t + 63), None, None, None], "B"),
            // Activated without a verified email never counts as activated.
            row(t + 4, [None, None, Some(t + 100), None], "B"),
        ];
        let f = funnel(&rows, Timestamp::from_unix(t + 5000));
        assert_eq!(f.everyone.reached, [5, 4, 3, 2, 2]);
        assert_eq!(f.everyone.stopped, [1, 1, 1, 0, 2]);
        assert_eq!(f.everyone.conversion(1), Some(0.8));
        assert_eq!(f.everyone.overall(), Some(0.4));
        // Sign-up to working install: 660 s and 3660 s.
        let total = f.everyone.total.unwrap();
        assert_eq!(
            (total.median_secs, total.p90_secs, total.samples),
            (660, 3660, 2)
        );
        // License assigned to first activation: 480 s and 3240 s.
        let assigned = f.everyone.between[2].unwrap();
        assert_eq!((assigned.median_secs, assigned.p90_secs), (480, 3240));
        assert_eq!(f.this_week.signed_up(), 5);
        assert_eq!(f.completed_this_week, 2);
        assert_eq!(f.by_product.len(), 2);
        assert_eq!(f.by_product[0].label, "A");
        assert_eq!(f.by_product[0].reached, [2, 2, 2, 2, 2]);
        assert_eq!(f.by_week.len(), 1);
        assert_eq!(f.by_week[0].label, "2026-11-30");
    }

    #[test]
    fn weeks_start_on_monday() {
        let monday = 1_795_996_800 / DAY;
        for d in 0..7 {
            assert_eq!(week_of((monday + d) * DAY + 3600), monday);
        }
        assert_eq!(week_of((monday + 7) * DAY), monday + 7);
        assert_eq!(week_of((monday - 1) * DAY), monday - 7);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = Durations::of((1..=10).collect()).unwrap();
        assert_eq!((d.median_secs, d.p90_secs, d.samples), (5, 9, 10));
        assert_eq!(Durations::of(vec![]), None);
        assert_eq!(Durations::of(vec![7]).unwrap().p90_secs, 7);
    }

    #[test]
    fn error_patterns_count_refusals_per_day_and_code() {
        let r = |day, endpoint: &str, code: &str, count| analytics::OutcomeRow {
            day,
            endpoint: endpoint.to_owned(),
            code: code.to_owned(),
            count,
        };
        let rows = vec![
            r(100, "validate", "VALID", 10),
            r(100, "validate", "NOT_FOUND", 2),
            r(101, "validate", "NOT_FOUND", 1),
            r(101, "activate", "TOO_MANY_MACHINES", 3),
            r(101, "activate", "OK", 4),
            r(90, "validate", "EXPIRED", 50),
        ];
        let e = error_patterns(&rows, 99, 101);
        assert_eq!(e.days, vec![99, 100, 101]);
        assert_eq!(e.by_code[0], ("NOT_FOUND".to_owned(), vec![0, 2, 1]));
        assert_eq!(
            e.by_code[1],
            ("TOO_MANY_MACHINES".to_owned(), vec![0, 0, 3])
        );
        assert_eq!(e.total("EXPIRED"), 0, "outside the window");
        assert_eq!(
            e.by_endpoint,
            vec![
                ("activate".to_owned(), 7, 3),
                ("validate".to_owned(), 13, 3)
            ]
        );
    }

    #[test]
    fn durations_read_like_speech() {
        assert_eq!(human_duration(42), "42 s");
        assert_eq!(human_duration(720), "12 min");
        assert_eq!(human_duration(3 * 3600 + 1800), "3.5 h");
        assert_eq!(human_duration(2 * DAY), "2.0 d");
    }
}
