//! Group commit for SQLite: write use cases that arrive while another holds
//! the write lock share its transaction, and one durable commit (one fsync
//! of the WAL) answers them all.
//!
//! SQLite has one writer at a time. An activation holds the lock for its few
//! statements and then for its `COMMIT`, which waits for the disk; at 64
//! concurrent activations the commit was nearly half of the lock time. Here
//! the use case joins the open batch ([`WriteBatch::join`]), runs its
//! statements on the shared transaction, and calls [`BatchSlot::finish`]:
//! the last job of the batch (no one waiting for the lock, or
//! [`MAX_JOBS`] reached) commits, and every job of the batch answers only
//! after that commit, so nothing is acknowledged before it is durable.
//!
//! A job that fails with its statements half done must not be committed by
//! the others: dropping its slot without `finish` drops the transaction
//! (SQLite rolls it back) and every job already waiting in that batch gets
//! [`BatchError::Retry`] and runs again on its own transaction. Only a job
//! whose failure wrote nothing may `finish` (a refusal decided on reads).
//!
//! The jobs run on the batch's own thread ([`WriteBatch::spawn`]), not on
//! the HTTP workers: while one holds the write lock, the next is woken at
//! once rather than behind the requests queued on a busy worker.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::{Mutex, MutexGuard, oneshot, watch};

use crate::store::{Db, Tx};

/// Jobs per batch at most: bounds how long the first waits for the commit.
pub const MAX_JOBS: usize = 32;

/// Why a job's batch did not commit.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Another job of the batch failed, or the batch's commit did: nothing
    /// of this job was written; run it again on its own transaction.
    #[error("the write batch was rolled back; the job must run again")]
    Retry,
    /// This job's own commit failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The write transactions shared by concurrent jobs (one per database).
#[derive(Debug)]
pub struct WriteBatch {
    open: Mutex<Option<OpenBatch>>,
    /// Jobs waiting for the lock: while any wait, the holder leaves the
    /// commit to them.
    queued: AtomicUsize,
    commits: AtomicU64,
    jobs: AtomicU64,
    /// The thread the jobs run on; it ends with the batch.
    writer: Handle,
    _stop: oneshot::Sender<()>,
}

#[derive(Debug)]
struct OpenBatch {
    tx: Tx,
    jobs: usize,
    /// `Some(true)` once committed, `Some(false)` if the commit failed;
    /// dropped unsent when the batch was rolled back.
    committed: watch::Sender<Option<bool>>,
}

/// A job's turn on the shared transaction. Derefs to the transaction;
/// dropped without [`finish`](Self::finish), it rolls the whole batch back.
#[derive(Debug)]
pub struct BatchSlot<'a> {
    guard: MutexGuard<'a, Option<OpenBatch>>,
    open: OpenBatch,
    batch: &'a Arc<WriteBatch>,
}

impl WriteBatch {
    /// Starts the batch's thread.
    pub fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let writer = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("licensor-writer".to_owned())
            .spawn(move || runtime.block_on(async move { stopped.await.unwrap_or_default() }))?;
        Ok(Self {
            open: Mutex::new(None),
            queued: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            jobs: AtomicU64::new(0),
            writer,
            _stop: stop,
        })
    }

    /// Runs a job on the batch's thread. It runs to its end even if the
    /// caller stops waiting; `Err` only if it panicked.
    pub async fn spawn<T: Send + 'static>(
        &self,
        job: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        self.writer.spawn(job).await
    }

    /// Waits for the write lock's turn and joins the open batch, or begins
    /// one (`BEGIN IMMEDIATE`).
    pub async fn join<'a>(self: &'a Arc<Self>, db: &Db) -> Result<BatchSlot<'a>, sqlx::Error> {
        let queued = Queued::new(self);
        let mut guard = self.open.lock().await;
        queued.served();
        let open = match guard.take() {
            Some(open) => open,
            None => OpenBatch {
                tx: db.begin_write().await?,
                jobs: 0,
                committed: watch::Sender::new(None),
            },
        };
        Ok(BatchSlot {
            guard,
            open,
            batch: self,
        })
    }

    /// Batches committed and jobs they carried, since the start.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.jobs.load(Ordering::Relaxed),
        )
    }

    /// Commits the open batch, if any: when the job it was left to gave up
    /// waiting for the lock.
    async fn flush(&self) {
        let mut guard = self.open.lock().await;
        if let Some(open) = guard.take() {
            // The waiters hear the outcome; no one else to tell.
            let _ = self.commit(open).await;
        }
    }

    async fn commit(&self, open: OpenBatch) -> Result<(), sqlx::Error> {
        let OpenBatch {
            tx,
            jobs,
            committed,
        } = open;
        let result = tx.commit().await;
        if result.is_ok() {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.jobs.fetch_add(jobs as u64, Ordering::Relaxed);
        }
        committed.send_replace(Some(result.is_ok()));
        result
    }
}

impl BatchSlot<'_> {
    /// Ends the job's turn. Its writes are answered when this returns
    /// `Ok`: the batch committed. The last job of a batch commits; the
    /// others wait for it.
    pub async fn finish(self) -> Result<(), BatchError> {
        let BatchSlot {
            mut guard,
            mut open,
            batch,
        } = self;
        open.jobs += 1;
        if open.jobs >= MAX_JOBS || batch.queued.load(Ordering::SeqCst) == 0 {
            // Committed under the lock: the next batch begins after it.
            let result = batch.commit(open).await;
            drop(guard);
            return result.map_err(BatchError::Database);
        }
        let mut committed = open.committed.subscribe();
        *guard = Some(open);
        drop(guard);
        loop {
            if let Some(ok) = *committed.borrow_and_update() {
                return if ok { Ok(()) } else { Err(BatchError::Retry) };
            }
            if committed.changed().await.is_err() {
                // Rolled back: the sender went with the transaction.
                return Err(BatchError::Retry);
            }
        }
    }
}

impl Deref for BatchSlot<'_> {
    type Target = Tx;

    fn deref(&self) -> &Tx {
        &self.open.tx
    }
}

impl DerefMut for BatchSlot<'_> {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.open.tx
    }
}

/// A job counted as waiting for the lock. If it stops waiting before its
/// turn (its request was dropped) and was the last, the batch left open
/// for it is committed by a task of its own.
struct Queued<'a> {
    batch: &'a Arc<WriteBatch>,
    waiting: bool,
}

impl<'a> Queued<'a> {
    fn new(batch: &'a Arc<WriteBatch>) -> Self {
        batch.queued.fetch_add(1, Ordering::SeqCst);
        Self {
            batch,
            waiting: true,
        }
    }

    fn served(mut self) {
        self.waiting = false;
        self.batch.queued.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.waiting && self.batch.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            let batch = Arc::clone(self.batch);
            tokio::spawn(async move { batch.flush().await });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Backend, DatabaseSettings, LicenseCacheSettings, SqliteSynchronous};

    async fn db(dir: &tempfile::TempDir) -> Db {
        let db = Db::connect(&DatabaseSettings {
            url: format!("sqlite://{}", dir.path().join("batch.db").display()),
            backend: Backend::Sqlite,
            max_connections: 4,
            sqlite_synchronous: SqliteSynchronous::Full,
            license_cache: LicenseCacheSettings::default(),
        })
        .await
        .unwrap();
        sqlx::raw_sql("CREATE TABLE t (id TEXT PRIMARY KEY)")
            .execute(db.pool())
            .await
            .unwrap();
        db
    }

    async fn insert(tx: &mut Tx, id: &str) {
        sqlx::query("INSERT INTO t (id) VALUES ($1)")
            .bind(id)
            .execute(&mut **tx)
            .await
            .unwrap();
    }

    async fn committed_rows(db: &Db) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(db.pool())
            .await
            .unwrap()
    }

    /// Waits until `n` jobs wait for the lock.
    async fn until_queued(batch: &WriteBatch, n: usize) {
        for _ in 0..500 {
            if batch.queued.load(Ordering::SeqCst) == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("{n} jobs never queued");
    }

    /// A job that joins, writes `id` and finishes (or, if `fail`, drops its
    /// slot half done).
    fn job(
        db: &Db,
        id: &'static str,
        fail: bool,
    ) -> tokio::task::JoinHandle<Result<(), BatchError>> {
        let db = db.clone();
        tokio::spawn(async move {
            let batch = Arc::clone(db.write_batch().unwrap());
            let mut slot = batch.join(&db).await?;
            insert(&mut slot, id).await;
            if fail {
                drop(slot);
                return Err(BatchError::Retry);
            }
            slot.finish().await
        })
    }

    #[tokio::test]
    async fn jobs_waiting_for_the_lock_share_one_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let batch = Arc::clone(db.write_batch().unwrap());
        let mut first = batch.join(&db).await.unwrap();
        let others = ["b", "c", "d", "e", "f"].map(|id| job(&db, id, false));
        until_queued(&batch, 5).await;
        insert(&mut first, "a").await;
        first.finish().await.unwrap();
        for other in others {
            other.await.unwrap().unwrap();
        }
        assert_eq!(committed_rows(&db).await, 6);
        assert_eq!(batch.stats(), (1, 6), "one commit for six jobs");
    }

    #[tokio::test]
    async fn a_job_alone_commits_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        job(&db, "a", false).await.unwrap().unwrap();
        job(&db, "b", false).await.unwrap().unwrap();
        assert_eq!(committed_rows(&db).await, 2);
        assert_eq!(db.write_batch().unwrap().stats(), (2, 2));
    }

    #[tokio::test]
    async fn a_job_dropped_half_done_rolls_its_batch_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let batch = Arc::clone(db.write_batch().unwrap());
        let mut first = batch.join(&db).await.unwrap();
        let failing = job(&db, "b", true);
        until_queued(&batch, 1).await;
        insert(&mut first, "a").await;
        let finished = first.finish().await;
        assert!(
            matches!(finished, Err(BatchError::Retry)),
            "the job waiting on the failed batch must run again: {finished:?}"
        );
        assert!(failing.await.unwrap().is_err());
        assert_eq!(committed_rows(&db).await, 0, "nothing of the batch");
        // The next job begins a batch of its own.
        job(&db, "c", false).await.unwrap().unwrap();
        assert_eq!(committed_rows(&db).await, 1);
    }

    #[tokio::test]
    async fn a_batch_left_to_a_job_that_gave_up_waiting_still_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let batch = Arc::clone(db.write_batch().unwrap());
        let mut first = batch.join(&db).await.unwrap();
        // A job waiting for the lock, as `join` counts it.
        let waiting = Queued::new(&batch);
        insert(&mut first, "a").await;
        let finish = first.finish();
        tokio::pin!(finish);
        // The first job leaves the commit to the one waiting…
        let early = tokio::time::timeout(Duration::from_millis(100), &mut finish).await;
        assert!(early.is_err(), "the first job waits for the batch's commit");
        assert_eq!(committed_rows(&db).await, 0);
        // …which gives up (its request was dropped) before its turn.
        drop(waiting);
        finish.await.unwrap();
        assert_eq!(committed_rows(&db).await, 1);
        assert_eq!(batch.stats(), (1, 1));
    }
}
