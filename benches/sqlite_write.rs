//! The bare SQLite write-transaction rate on this machine: the ceiling an
//! activation (one write transaction) is measured against in
//! docs/performance.md. One connection through sqlx's native SQLite driver
//! (not `Any`), the server's own PRAGMAs (WAL, `synchronous` FULL, then
//! NORMAL for comparison), and per transaction `BEGIN IMMEDIATE`, one
//! conditional UPDATE, one INSERT, `COMMIT`: the shape of an activation
//! with none of its other work.
//!
//! `cargo bench --bench sqlite_write [-- SECONDS]`

// A benchmark binary: a failed expect is a failed run.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

async fn rate(synchronous: SqliteSynchronous, secs: u64) -> f64 {
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("bare.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(Duration::from_secs(5));
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .expect("open SQLite");
    sqlx::raw_sql(
        "CREATE TABLE seats (id TEXT PRIMARY KEY, used BIGINT NOT NULL, max BIGINT NOT NULL);
         CREATE TABLE rows (id TEXT PRIMARY KEY, seat_id TEXT NOT NULL, at BIGINT NOT NULL);
         INSERT INTO seats VALUES ('s', 0, 1000000000);",
    )
    .execute(&mut conn)
    .await
    .expect("schema");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.expect("begin");
        sqlx::query("UPDATE seats SET used = used + 1 WHERE id = 's' AND used < max")
            .execute(&mut *tx)
            .await
            .expect("update");
        sqlx::query("INSERT INTO rows (id, seat_id, at) VALUES ($1, 's', $2)")
            .bind(format!("row-{n}"))
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let secs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<u64>().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (name, synchronous) in [
        ("FULL", SqliteSynchronous::Full),
        ("NORMAL", SqliteSynchronous::Normal),
    ] {
        let per_sec = rt.block_on(rate(synchronous, secs));
        println!("bare SQLite write transactions, synchronous={name}: {per_sec:.0}/s");
    }
}
