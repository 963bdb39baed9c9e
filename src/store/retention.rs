//! Erasing what validations saw (IP addresses, fingerprints) once it is
//! older than the retention, a batch per statement so that no transaction
//! holds the write lock for long.

use sqlx::AnyPool;

/// Deletes up to `batch` sightings of days before `day`.
pub async fn delete_sightings(pool: &AnyPool, day: i64, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM validation_sightings WHERE (license_id, day, kind, value) IN \
         (SELECT license_id, day, kind, value FROM validation_sightings WHERE day < $1 LIMIT $2)",
    )
    .bind(day)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Clears the last IP and fingerprint of up to `batch` daily statistics of
/// days before `day` (their counts stay).
pub async fn clear_stat_sightings(
    pool: &AnyPool,
    day: i64,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE validation_stats SET last_ip = NULL, last_fingerprint = NULL \
         WHERE (license_id, day, code) IN (SELECT license_id, day, code FROM validation_stats \
         WHERE day < $1 AND (last_ip IS NOT NULL OR last_fingerprint IS NOT NULL) LIMIT $2)",
    )
    .bind(day)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes up to `batch` refused client addresses of days before `day`.
pub async fn delete_refusal_ips(pool: &AnyPool, day: i64, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM api_refusal_ips WHERE (day, ip) IN \
         (SELECT day, ip FROM api_refusal_ips WHERE day < $1 LIMIT $2)",
    )
    .bind(day)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Clears the IP of up to `batch` machines deactivated before `before`.
pub async fn clear_machine_ips(
    pool: &AnyPool,
    before: i64,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE machines SET ip = NULL WHERE id IN (SELECT id FROM machines \
         WHERE deactivated_at < $1 AND ip IS NOT NULL LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
