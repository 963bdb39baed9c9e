//! Consecutive failed sign-ins per account (migration 0015), shared by
//! every instance. Times are unix milliseconds.

use sqlx::AnyPool;

use crate::store::Tx;

/// Until when the account must wait, if a delay is on record.
pub async fn locked_until(pool: &AnyPool, account: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT locked_until FROM sign_in_failures WHERE account = $1")
            .bind(account)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(until,)| until))
}

/// Counts one more failure and returns the count; a record whose last
/// failure and delay are older than `forget_before` starts again at one.
pub async fn add_failure(
    tx: &mut Tx,
    account: &str,
    now_ms: i64,
    forget_before: i64,
) -> Result<i64, sqlx::Error> {
    let (failures,): (i64,) = sqlx::query_as(
        "INSERT INTO sign_in_failures (account, failures, locked_until, updated_at) \
         VALUES ($1, 1, $2, $2) \
         ON CONFLICT (account) DO UPDATE SET updated_at = $2, failures = CASE \
         WHEN sign_in_failures.updated_at < $3 AND sign_in_failures.locked_until < $3 THEN 1 \
         ELSE sign_in_failures.failures + 1 END \
         RETURNING failures",
    )
    .bind(account)
    .bind(now_ms)
    .bind(forget_before)
    .fetch_one(&mut **tx)
    .await?;
    Ok(failures)
}

pub async fn lock_until(tx: &mut Tx, account: &str, until_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sign_in_failures SET locked_until = $2 WHERE account = $1")
        .bind(account)
        .bind(until_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Forgets an account's failures (it signed in).
pub async fn clear(pool: &AnyPool, account: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sign_in_failures WHERE account = $1")
        .bind(account)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes records whose last failure and delay are older than `before`.
pub async fn purge(pool: &AnyPool, before: i64) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM sign_in_failures WHERE updated_at < $1 AND locked_until < $1")
            .bind(before)
            .execute(pool)
            .await?;
    Ok(done.rows_affected())
}
