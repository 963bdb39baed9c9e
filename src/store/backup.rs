//! Backing up and restoring a SQLite database: a consistent copy of a live
//! database (`VACUUM INTO`, a read transaction: the server keeps serving
//! and writing), and a restore that refuses to replace a database a server
//! has open, a damaged file, or one from a newer Licensor.
//!
//! A serving server holds a shared lock on `<database>.lock`; a restore
//! takes it exclusively or refuses.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sqlx::Connection;

use crate::domain::time::Timestamp;
use crate::store::{Backend, Db, schema_version};

/// The file of a SQLite database URL (`None` for PostgreSQL or memory).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    (path != ":memory:" && !path.is_empty()).then(|| PathBuf::from(path))
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock(database: &Path) -> anyhow::Result<File> {
    let path = lock_path(database);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))
}

/// Held by a serving server for its whole life: a restore cannot replace
/// its database under it.
#[derive(Debug)]
pub struct ServingLock {
    _file: File,
}

/// Takes the serving lock of a SQLite database (shared: several servers
/// may serve one file); `None` for PostgreSQL.
pub fn hold_serving_lock(url: &str) -> anyhow::Result<Option<ServingLock>> {
    let Some(database) = sqlite_path(url) else {
        return Ok(None);
    };
    let file = open_lock(&database)?;
    file.lock_shared()
        .with_context(|| format!("cannot lock {}", lock_path(&database).display()))?;
    Ok(Some(ServingLock { _file: file }))
}

/// A consistent copy of the live database in `dest`, which must not exist;
/// returns its size in bytes.
pub async fn backup(db: &Db, dest: &Path) -> anyhow::Result<u64> {
    if db.backend() != Backend::Sqlite {
        bail!(
            "`licensor backup` copies a SQLite database; back PostgreSQL up with pg_dump or \
             continuous archiving (docs/deploy.md)"
        );
    }
    if dest.exists() {
        bail!("{} exists: give a new file for the backup", dest.display());
    }
    let text = dest
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", dest.display()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(text)
        .execute(db.pool())
        .await
        .with_context(|| format!("cannot write the backup {}", dest.display()))?;
    Ok(std::fs::metadata(dest)
        .with_context(|| format!("cannot read {}", dest.display()))?
        .len())
}

/// What a backup file holds: its schema version, once it is known whole.
pub async fn check_backup(file: &Path) -> anyhow::Result<i64> {
    if !file.is_file() {
        bail!("{} is not a file", file.display());
    }
    let url = format!("sqlite://{}?mode=ro", file.display());
    let opened = async {
        let mut conn = sqlx::SqliteConnection::connect(&url).await?;
        let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await?;
        let (version,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM _sqlx_migrations \
             WHERE success = 1",
        )
        .fetch_one(&mut conn)
        .await?;
        conn.close().await?;
        Ok::<_, sqlx::Error>((check, version))
    };
    let (check, version) = opened.await.map_err(|e| {
        anyhow::anyhow!(
            "{} is not a Licensor backup (a SQLite database with its migrations): {e}",
            file.display()
        )
    })?;
    if check != "ok" {
        bail!("{} is damaged: {check}", file.display());
    }
    if version > schema_version() {
        bail!(
            "{} is at database schema {version}, newer than this Licensor's {}: restore it \
             with the release that made it",
            file.display(),
            schema_version()
        );
    }
    Ok(version)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub schema: i64,
    /// Where the database it replaced was moved, if there was one.
    pub previous: Option<PathBuf>,
}

/// Replaces the SQLite database of `url` with `backup`: refused while a
/// server has it open, or when the backup is damaged or newer. The old
/// database (with its WAL) is moved aside, never deleted.
pub async fn restore(url: &str, backup: &Path, now: Timestamp) -> anyhow::Result<Restored> {
    let Some(database) = sqlite_path(url) else {
        bail!(
            "`licensor restore` replaces a SQLite database; restore PostgreSQL with pg_restore \
             or point-in-time recovery (docs/deploy.md)"
        );
    };
    let schema = check_backup(backup).await?;
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let lock = open_lock(&database)?;
    if lock.try_lock().is_err() {
        bail!(
            "a server is running on {}: stop it first, then restore",
            database.display()
        );
    }
    let staged = sibling(&database, ".restoring");
    std::fs::copy(backup, &staged)
        .with_context(|| format!("cannot copy {} to {}", backup.display(), staged.display()))?;
    let previous = if database.exists() {
        let aside = sibling(&database, &format!(".before-restore-{}", now.unix()));
        for suffix in ["", "-wal", "-shm"] {
            let from = sibling(&database, suffix);
            if from.exists() {
                let to = sibling(&aside, suffix);
                std::fs::rename(&from, &to).with_context(|| {
                    format!("cannot move {} to {}", from.display(), to.display())
                })?;
            }
        }
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staged, &database)
        .with_context(|| format!("cannot move the restored copy to {}", database.display()))?;
    drop(lock);
    Ok(Restored { schema, previous })
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
