//! sqlx, one file per aggregate: the only place with SQL. One code path for
//! SQLite and PostgreSQL through sqlx's `Any` driver; the backend is chosen
//! at run time by the database URL.

pub mod analytics;
pub mod api_tokens;
pub mod backup;
pub mod batch;
pub mod cache;
pub mod events;
pub mod file_signatures;
pub mod idempotency;
pub mod imports;
pub mod license_edits;
pub mod license_types;
pub mod licenses;
pub mod machines;
pub mod notices;
pub mod offers;
pub mod organizations;
pub mod outbox;
pub mod payments;
pub mod personal_data;
pub mod products;
pub mod retention;
pub mod seed;
pub mod sessions;
pub mod sign_in_failures;
pub mod signing_keys;
pub mod tokens;
pub mod two_factor;
pub mod usage;
pub mod users;
pub mod webhooks;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};

use crate::config::{Backend, DatabaseSettings, SqliteSynchronous};
use crate::store::batch::WriteBatch;
use crate::store::cache::{Changes, LicenseCache};

/// A write transaction. It derefs to the connection (`&mut **tx` is an
/// executor), and remembers which licenses it changed: its commit drops
/// them from this instance's license cache before the write is answered.
/// Other instances hear of the change from the database's change feed
/// (`store::cache`), as they hear of any other write.
pub struct Tx {
    inner: Transaction<'static, Any>,
    backend: Backend,
    cache: Arc<LicenseCache>,
    touched: Changes,
    writes: Arc<WriteHealth>,
}

impl Tx {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Marks a license's row as changed by this transaction.
    pub fn touch_license(&mut self, id: &str) {
        self.touched.license(id);
    }

    /// Marks a machine of a license as changed by this transaction.
    pub fn touch_machine(&mut self, license_id: &str, fingerprint: &str) {
        self.touched.machine(license_id, fingerprint);
    }

    /// Marks every license as changed (a product or type they all show).
    pub fn touch_all_licenses(&mut self) {
        self.touched.all();
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let result = self.inner.commit().await;
        // Also after a failed commit: the outcome may be unknown.
        self.cache.apply(&self.touched);
        match &result {
            Ok(()) => self.writes.note_ok(),
            Err(e) if is_disk_full(e) => self.writes.note_disk_full(),
            Err(_) => {}
        }
        result
    }

    /// Undoes the transaction; the cache keeps its entries.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }

    /// Commits after `Ok`; rolls back after `Err`, so a refusal leaves
    /// nothing written and the connection outside any transaction.
    pub async fn finish<T, E>(self, result: Result<T, E>, what: &'static str) -> Result<T, E>
    where
        E: From<anyhow::Error>,
    {
        match result {
            Ok(value) => {
                self.commit()
                    .await
                    .with_context(|| format!("committing {what}"))?;
                Ok(value)
            }
            Err(e) => {
                if let Err(rollback) = self.rollback().await {
                    tracing::warn!(error = %rollback, "rolling back {what} failed");
                }
                Err(e)
            }
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("touched", &self.touched)
            .finish()
    }
}

/// How long a request waits for a connection before it answers 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// SQLite's page cache per connection, in KiB (its default is 2,000). Hot
/// license state lives in the license cache; the operating system's file
/// cache holds the pages again, and every write by another connection
/// empties this cache anyway (WAL).
const SQLITE_CACHE_KIB: u32 = 512;
/// How long SQLite waits on a lock held by another writer.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The database schema this build applies: its newest migration's number,
/// the same on both backends.
pub fn schema_version() -> i64 {
    SQLITE_MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The database: a pool, the backend it talks to, the license cache its
/// write transactions keep current and, on SQLite, the write batch that
/// concurrent activations share.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    url: Arc<str>,
    cache: Arc<LicenseCache>,
    batch: Option<Arc<WriteBatch>>,
    recipe: Arc<PoolRecipe>,
    writes: Arc<WriteHealth>,
}

/// Whether writes have been failing for lack of space: `/readyz` reports
/// it until a write commits again, or for [`WriteHealth::REPORTED_FOR`]
/// after the last failure, so a proxy stops sending writes while the disk
/// is full and tries again after.
#[derive(Debug, Default)]
pub struct WriteHealth {
    last_failure: std::sync::Mutex<Option<std::time::Instant>>,
}

impl WriteHealth {
    pub const REPORTED_FOR: Duration = Duration::from_secs(10);

    /// A write failed because the database could not grow.
    pub fn note_disk_full(&self) {
        if let Ok(mut last) = self.last_failure.lock() {
            *last = Some(std::time::Instant::now());
        }
    }

    /// A write committed: there is room again.
    pub fn note_ok(&self) {
        if let Ok(mut last) = self.last_failure.lock()
            && last.is_some()
        {
            *last = None;
        }
    }

    /// Whether a write failed for lack of space within the reporting window.
    pub fn failing(&self) -> bool {
        self.last_failure
            .lock()
            .ok()
            .and_then(|last| *last)
            .is_some_and(|at| at.elapsed() < Self::REPORTED_FOR)
    }
}

/// What opening a pool on the database takes, kept to open another.
#[derive(Debug)]
struct PoolRecipe {
    options: AnyConnectOptions,
    backend: Backend,
    synchronous: SqliteSynchronous,
    /// The URL without its password, for errors.
    redacted_url: String,
}

impl PoolRecipe {
    async fn open(&self, max_connections: u32) -> anyhow::Result<AnyPool> {
        let backend = self.backend;
        let synchronous = self.synchronous;
        AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A ping before each use finds PostgreSQL connections the server
            // closed. A SQLite connection is a file handle that stays good,
            // and its ping is one more round trip to its worker thread.
            .test_before_acquire(backend == Backend::Postgres)
            // A connection still inside a transaction when it comes back
            // (a COMMIT that failed on a full disk, and a ROLLBACK that
            // failed after it) would refuse every later BEGIN: close it
            // instead, and the pool opens a fresh one.
            .after_release(|conn, _meta| {
                Box::pin(async move {
                    let clean = !sqlx::Connection::is_in_transaction(conn);
                    if !clean {
                        tracing::warn!("a connection came back inside a transaction; closing it");
                    }
                    Ok(clean)
                })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Only our own constant PRAGMA text is assembled here.
                        let pragmas = sqlx::AssertSqlSafe(sqlite_pragmas(synchronous));
                        conn.execute(sqlx::raw_sql(pragmas)).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(self.options.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{}", open_error(&self.redacted_url, &e)))
    }
}

/// Why the database could not be opened, in one line: the innermost cause
/// once (sqlx repeats it in its own message), with a hint for TLS.
fn open_error(url: &str, err: &sqlx::Error) -> String {
    let mut cause = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    let hint = if cause.contains("UnknownIssuer") {
        " (the server's certificate is not signed by the CA in sslrootcert)"
    } else if cause.contains("No such file") && url.contains("sslrootcert") {
        " (is sslrootcert the path of the CA certificate?)"
    } else if cause.contains("not valid for name") {
        " (connect by a name the certificate carries, or use sslmode=verify-ca)"
    } else {
        ""
    };
    format!("cannot open the database at {url}: {cause}{hint}")
}

impl Db {
    /// Opens the pool. For SQLite the file (and its directory) is created
    /// and every connection gets WAL, foreign keys and a busy timeout.
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let url = match settings.backend {
            Backend::Sqlite => sqlite_url_creating_dirs(&settings.url)?,
            Backend::Postgres => settings.url.clone(),
        };
        let options: AnyConnectOptions = url
            .parse()
            .with_context(|| "invalid database_url".to_owned())?;
        let backend = settings.backend;
        let recipe = Arc::new(PoolRecipe {
            options,
            backend,
            synchronous: settings.sqlite_synchronous,
            redacted_url: redact_url(&settings.url),
        });
        let pool = recipe.open(settings.max_connections).await?;
        // Served from only while the change feed is followed
        // (`spawn_cache_feed`).
        let cache = LicenseCache::new(settings.license_cache, false);
        let batch = match backend {
            Backend::Sqlite => Some(Arc::new(
                WriteBatch::start().context("cannot start the database writer thread")?,
            )),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend,
            url: Arc::from(settings.url.as_str()),
            cache: Arc::new(cache),
            batch,
            recipe,
            writes: Arc::default(),
        })
    }

    /// The same database through a pool of its own, with this one's
    /// license cache: for a background writer on its own thread. The pool
    /// connects here and again wherever a connection is later acquired, so
    /// on SQLite its worker threads start from (and inherit the scheduling
    /// priority of) the writer's thread.
    pub async fn with_own_pool(&self, max_connections: u32) -> anyhow::Result<Db> {
        Ok(Db {
            pool: self.recipe.open(max_connections).await?,
            backend: self.backend,
            url: Arc::clone(&self.url),
            cache: Arc::clone(&self.cache),
            batch: None,
            recipe: Arc::clone(&self.recipe),
            writes: Arc::clone(&self.writes),
        })
    }

    /// Whether writes have been failing for lack of space.
    pub fn write_health(&self) -> &WriteHealth {
        &self.writes
    }

    /// The license state validation reads without a query.
    pub fn license_cache(&self) -> &LicenseCache {
        &self.cache
    }

    /// The task that follows the database's change feed, keeping the
    /// license cache in step with every write (and turning it on): none
    /// when the cache is off.
    pub fn spawn_cache_feed(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.cache.capacity() == 0 {
            return None;
        }
        let cache = Arc::clone(&self.cache);
        Some(match self.backend {
            Backend::Sqlite => tokio::spawn(cache::follow_changes(self.pool.clone(), cache)),
            Backend::Postgres => tokio::spawn(cache::listen(self.url.to_string(), cache)),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// On SQLite, the group commit that concurrent writers may join
    /// (`store::batch`); none on PostgreSQL, whose writers commit side by
    /// side.
    pub fn write_batch(&self) -> Option<&Arc<WriteBatch>> {
        self.batch.as_ref()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies the pending migrations of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator
            .run(&self.pool)
            .await
            .context("cannot apply database migrations")?;
        let keyed = users::backfill_email_keys(&self.pool)
            .await
            .context("cannot record the accounts' address keys")?;
        if keyed > 0 {
            tracing::info!(
                accounts = keyed,
                "recorded the address keys of existing accounts"
            );
        }
        Ok(())
    }

    /// Answers whether the database responds within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> bool {
        let probe = async {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("SELECT 1").execute(&mut *conn).await
        };
        matches!(tokio::time::timeout(timeout, probe).await, Ok(Ok(_)))
    }

    /// A transaction for a use case that writes. On SQLite it takes the
    /// write lock at once (`BEGIN IMMEDIATE`): a deferred transaction that
    /// reads and then writes fails with "database is locked" under load.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        let inner = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            inner,
            backend: self.backend,
            cache: Arc::clone(&self.cache),
            touched: Changes::default(),
            writes: Arc::clone(&self.writes),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn sqlite_pragmas(synchronous: SqliteSynchronous) -> String {
    format!(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA synchronous = {}; \
         PRAGMA cache_size = -{SQLITE_CACHE_KIB};",
        synchronous.as_pragma()
    )
}

/// `sqlite://path` as sqlx wants it: the directory exists and the file is
/// created when missing (`mode=rwc`).
fn sqlite_url_creating_dirs(url: &str) -> anyhow::Result<String> {
    let rest = url.strip_prefix("sqlite://").unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| path != ":memory:" && !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create database directory {}", dir.display()))?;
    }
    let query = if query.is_empty() {
        "mode=rwc".to_owned()
    } else if query.contains("mode=") {
        query.to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Whether an error means the database is out of reach (as opposed to a
/// bad query): such errors answer 503 and `/readyz` fails.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    is_disk_full(err)
        || matches!(
            err,
            sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                // A conversation cut short: over TLS a server that went
                // away mid-handshake answers the SSLRequest with nothing.
                | sqlx::Error::Protocol(_)
                | sqlx::Error::InvalidSavePointStatement
                | sqlx::Error::BeginFailed
                | sqlx::Error::WorkerCrashed
        )
}

/// Whether a write failed because the database could not grow: SQLite's
/// SQLITE_FULL (13) or an I/O error while writing (10, which a full disk
/// gives during a commit), PostgreSQL's `disk_full` (53100).
pub fn is_disk_full(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    let code = db.code();
    // SQLite's codes are numbers (an extended code keeps the primary in
    // its low byte); PostgreSQL's are five-character SQLSTATEs.
    let sqlite_primary = code
        .as_deref()
        .filter(|c| c.len() < 5)
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    matches!(sqlite_primary, Some(13 | 10))
        || code.as_deref() == Some("53100")
        || db.message().contains("database or disk is full")
}

/// The VALUES list of a multi-row INSERT: `($1, $2), ($3, $4)` for two
/// rows of two columns on PostgreSQL; `(?, ?), (?, ?)` on SQLite, where
/// binding each numbered `$N` looks its name up in a list (a statement of
/// n numbered parameters costs n², 3 % of a busy server's CPU at 50 rows)
/// and anonymous ones are bound in order.
pub(crate) fn values_list(backend: Backend, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * columns + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Rows per multi-row statement. Far under either backend's limit on bound
/// parameters (SQLite 32,766; PostgreSQL 65,535).
pub(crate) const ROWS_PER_STATEMENT: usize = 50;

/// Lets a type stored as text decode from its column: `$read` turns the
/// column's `String` into the type (or the error that makes the row fail).
macro_rules! decoded_from_text {
    ($read:expr => $($ty:ty),+) => {$(
        impl sqlx::Type<sqlx::Any> for $ty {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }
            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Any>>::compatible(ty)
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Any> for $ty {
            fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let read: fn(String) -> Result<$ty, sqlx::error::BoxDynError> = $read;
                read(<String as sqlx::Decode<'r, sqlx::Any>>::decode(value)?)
            }
        }
    )+};
}

// Words in nullable columns (so `Option<T>` decodes): parsed, an unknown
// word an error.
decoded_from_text!(
    |text| Ok(text.parse::<Self>()?) =>
    crate::domain::role::OrgRole,
    crate::domain::machine::DeactivatedBy
);

// Typed ids: the ids the database holds are ours.
decoded_from_text!(
    |text| Ok(Self::from_stored(text)) =>
    crate::domain::id::LicenseId,
    crate::domain::id::OrganizationId,
    crate::domain::id::UserId,
    crate::domain::id::ProductId,
    crate::domain::id::LicenseTypeId,
    crate::domain::id::MachineId,
    crate::domain::id::EndpointId
);

/// Reads a stored word (a status, a kind) as its type: a word the code
/// does not know is a decode error, never a default.
pub(crate) fn decode<T>(text: String) -> Result<T, sqlx::Error>
where
    T: TryFrom<String, Error = crate::domain::vocabulary::UnknownWord>,
{
    T::try_from(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Converts the 0/1 integers that stand for booleans on both backends.
pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_number_every_placeholder_on_postgres_only() {
        assert_eq!(values_list(Backend::Postgres, 1, 1), "($1)");
        assert_eq!(
            values_list(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(values_list(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a/b/licensor.db");
        let url = sqlite_url_creating_dirs(&format!("sqlite://{}", db.display())).unwrap();
        assert_eq!(url, format!("sqlite://{}?mode=rwc", db.display()));
        assert!(dir.path().join("a/b").is_dir());
        assert_eq!(
            sqlite_url_creating_dirs("sqlite://x.db?cache=shared").unwrap(),
            "sqlite://x.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating_dirs("sqlite://x.db?mode=ro").unwrap(),
            "sqlite://x.db?mode=ro"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db.example:5432/lic"),
            "postgres://app:***@db.example:5432/lic"
        );
        assert_eq!(
            redact_url("sqlite://data/licensor.db"),
            "sqlite://data/licensor.db"
        );
    }
}
