//! Background loops started by `serve`. Each pass is a plain function the
//! tests call directly; the loop only repeats it.

pub mod outbox;

use std::time::Duration;

use crate::clock::SharedClock;
use crate::domain::audit::Actor;
use crate::services::context::{Brand, Ctx};
use crate::services::usage::UsageRecorder;
use crate::services::{keys, licensing, reminders};
use crate::store::{Db, idempotency};

/// How often housekeeping runs.
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// What one housekeeping pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Maintenance {
    pub seats_freed: i64,
    pub idempotency_keys_purged: u64,
    pub sessions_purged: u64,
    pub sign_in_failures_purged: u64,
    /// IPs and fingerprints past `validation_retention_days`.
    pub personal_data_erased: u64,
}

/// One pass: frees floating seats whose heartbeats stopped, forgets
/// idempotency keys past their retention, deletes expired sessions and
/// old failed sign-in records, and erases the addresses and fingerprints
/// validations saw more than `retention_days` ago.
pub async fn maintenance_pass(
    db: &Db,
    clock: &SharedClock,
    retention_days: i64,
) -> anyhow::Result<Maintenance> {
    let ctx = Ctx::new(db, clock.as_ref(), Actor::System);
    let seats_freed = licensing::reap_dead_machines(&ctx, 500)
        .await
        .map_err(|e| anyhow::anyhow!("reaping dead seats: {e}"))?;
    let idempotency_keys_purged = idempotency::purge_expired(db.pool(), clock.now()).await?;
    let sessions_purged = crate::store::sessions::purge_expired(db.pool(), clock.now()).await?;
    let sign_in_failures_purged = crate::services::sign_in_throttle::purge(db).await?;
    let erased = crate::services::retention::erase_expired(db, clock.now(), retention_days).await?;
    Ok(Maintenance {
        seats_freed,
        idempotency_keys_purged,
        sessions_purged,
        sign_in_failures_purged,
        personal_data_erased: erased.total(),
    })
}

/// How often validation usage is written (see `services::usage`).
pub const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(2);

/// The usage writer's nice value. Its batch is thousands of rows on a
/// database of a million licenses (a new page for nearly every validation),
/// about a third of a core at 1,000 validations per second; at the default
/// priority that time was taken from the requests in flight and showed as
/// their p99. It waits for no one, so it runs after them.
const USAGE_WRITER_NICE: i32 = 10;

/// Writes the validation usage batch every [`USAGE_FLUSH_EVERY`] until
/// `stop` fires. A write under way always finishes: the stop is heard only
/// between writes, since a write cancelled half-way would drop the batch it
/// had taken (a shutdown lost the validations of its last seconds).
pub async fn run_usage_flush(
    db: &Db,
    recorder: &UsageRecorder,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut tick = tokio::time::interval(USAGE_FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = recorder.flush(db).await {
            tracing::warn!(error = %format!("{e:#}"), "writing validation usage failed; kept for the next try");
        }
    }
}

/// The thread that writes validation usage ([`run_usage_flush`]) at a low
/// scheduling priority, through a one-connection pool of its own (on
/// SQLite the connection's worker thread inherits the priority). It stops,
/// writing the last batch, when [`stop`](Self::stop) is awaited or the
/// writer is dropped.
#[derive(Debug)]
pub struct UsageWriter {
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl UsageWriter {
    pub fn start(db: &Db, recorder: std::sync::Arc<UsageRecorder>) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (finished, done) = tokio::sync::oneshot::channel::<()>();
        let shared = db.clone();
        std::thread::Builder::new()
            .name("licensor-usage".to_owned())
            .spawn(move || {
                lower_this_threads_priority(USAGE_WRITER_NICE);
                runtime.block_on(async move {
                    let own = match shared.with_own_pool(1).await {
                        Ok(own) => Some(own),
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "no pool of its own for the usage writer; it shares the server's");
                            None
                        }
                    };
                    let db = own.as_ref().unwrap_or(&shared);
                    run_usage_flush(db, &recorder, stopped).await;
                    if let Err(e) = recorder.flush(db).await {
                        tracing::warn!(error = %format!("{e:#}"), "writing the last validation usage failed");
                    }
                    if let Some(own) = own {
                        own.close().await;
                    }
                    let _ = finished.send(());
                });
            })?;
        Ok(Self { stop, done })
    }

    /// Writes the last batch and ends the thread.
    pub async fn stop(self) {
        drop(self.stop);
        let _ = self.done.await;
    }
}

/// Raises the calling thread's nice value (Linux applies it to the thread,
/// and threads it starts inherit it). Failing leaves the priority as it is.
fn lower_this_threads_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, nice) {
        tracing::warn!(error = %e, "could not lower the usage writer's priority");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// Licenses per notice window per reminder sweep.
const REMINDER_BATCH: i64 = 500;

/// Runs the expiry reminder sweep ([`reminders::sweep`]) every
/// [`MAINTENANCE_EVERY`]; a failed sweep is logged and retried.
pub async fn run_reminders(db: Db, clock: SharedClock, brand: Brand, days_before: Vec<i64>) {
    let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ctx = Ctx::new(&db, clock.as_ref(), Actor::System);
        match reminders::sweep(&ctx, &brand, &days_before, REMINDER_BATCH).await {
            Ok(swept) if swept.notices > 0 => {
                tracing::info!(
                    notices = swept.notices,
                    emails = swept.emails,
                    "reminder sweep"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reminder sweep failed"),
        }
    }
}

/// How often a server looks for a new key set.
pub const KEY_REFRESH_EVERY: Duration = Duration::from_secs(2);

/// Keeps the server's key ring in step with the database: a rotation by
/// another instance, the console or `licensor keys rotate` signs this
/// server's next answers within [`KEY_REFRESH_EVERY`], and its published
/// key set shows the new key, with no restart.
pub async fn run_key_refresh(
    db: Db,
    cipher: std::sync::Arc<crate::secret::DataCipher>,
    ring: std::sync::Arc<crate::signing::LiveKeyRing>,
) {
    let mut seen = keys::stamp(&db).await.ok();
    let mut tick = tokio::time::interval(KEY_REFRESH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let stamp = match keys::stamp(&db).await {
            Ok(stamp) => stamp,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot read the key set");
                continue;
            }
        };
        if seen.as_ref() == Some(&stamp) {
            continue;
        }
        match keys::load_ring(&db, &cipher).await {
            Ok(loaded) => {
                ring.replace(loaded);
                tracing::info!(active_kid = ?ring.active_kid(), "signing keys reloaded");
                seen = Some(stamp);
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot load the new signing keys")
            }
        }
    }
}

/// Runs [`maintenance_pass`] forever; a failed pass is logged and retried
/// at the next tick.
pub async fn run_maintenance(db: Db, clock: SharedClock, retention_days: i64) {
    let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match maintenance_pass(&db, &clock, retention_days).await {
            Ok(done) if done != Maintenance::default() => {
                tracing::info!(
                    seats_freed = done.seats_freed,
                    idempotency_keys_purged = done.idempotency_keys_purged,
                    sessions_purged = done.sessions_purged,
                    sign_in_failures_purged = done.sign_in_failures_purged,
                    personal_data_erased = done.personal_data_erased,
                    "maintenance pass"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "maintenance pass failed"),
        }
    }
}
