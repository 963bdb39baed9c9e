//! Validation statistics per license and day (see migration 0003).

use sqlx::AnyPool;

use crate::store::{ROWS_PER_STATEMENT, Tx, values_list};

/// One license's validations on one day with one code.
#[derive(Debug)]
pub struct StatRow<'a> {
    pub license_id: &'a str,
    pub day: i64,
    pub code: &'a str,
    pub count: i64,
    pub last_at: i64,
    pub last_ip: Option<&'a str>,
    pub last_fingerprint: Option<&'a str>,
}

/// Adds validation counts, many rows per statement (a busy server flushes
/// thousands of licenses at a time).
pub async fn add_stats(tx: &mut Tx, rows: &[StatRow<'_>]) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO validation_stats (license_id, day, code, count, last_at, last_ip, last_fingerprint) \
             VALUES {} \
             ON CONFLICT (license_id, day, code) DO UPDATE SET count = validation_stats.count + excluded.count, \
             last_at = excluded.last_at, \
             last_ip = COALESCE(excluded.last_ip, validation_stats.last_ip), \
             last_fingerprint = COALESCE(excluded.last_fingerprint, validation_stats.last_fingerprint)",
            values_list(tx.backend(), chunk.len(), 7)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            query = query
                .bind(r.license_id)
                .bind(r.day)
                .bind(r.code)
                .bind(r.count)
                .bind(r.last_at)
                .bind(r.last_ip)
                .bind(r.last_fingerprint);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// How often one value (an IP or a fingerprint) was seen for a license on
/// a day.
#[derive(Debug)]
pub struct SightingRow<'a> {
    pub license_id: &'a str,
    pub day: i64,
    pub kind: &'a str,
    pub value: &'a str,
    pub count: i64,
    pub last_at: i64,
}

pub async fn add_sightings(tx: &mut Tx, rows: &[SightingRow<'_>]) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO validation_sightings (license_id, day, kind, value, count, last_at) \
             VALUES {} \
             ON CONFLICT (license_id, day, kind, value) DO UPDATE SET \
             count = validation_sightings.count + excluded.count, last_at = excluded.last_at",
            values_list(tx.backend(), chunk.len(), 6)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            query = query
                .bind(r.license_id)
                .bind(r.day)
                .bind(r.kind)
                .bind(r.value)
                .bind(r.count)
                .bind(r.last_at);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Outcomes of a license since `since_day`, by code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeCount {
    pub code: String,
    pub count: i64,
    pub last_at: i64,
}

pub async fn counts_since(
    pool: &AnyPool,
    license_id: &str,
    since_day: i64,
) -> Result<Vec<CodeCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT code, CAST(SUM(count) AS BIGINT) AS count, MAX(last_at) AS last_at \
         FROM validation_stats WHERE license_id = $1 AND day >= $2 GROUP BY code ORDER BY count DESC, code",
    )
    .bind(license_id)
    .bind(since_day)
    .fetch_all(pool)
    .await
}

/// The most recent validation's IP and fingerprint.
pub async fn last_seen(
    pool: &AnyPool,
    license_id: &str,
) -> Result<Option<(i64, Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT last_at, last_ip, last_fingerprint FROM validation_stats WHERE license_id = $1 \
         ORDER BY last_at DESC LIMIT 1",
    )
    .bind(license_id)
    .fetch_optional(pool)
    .await
}

/// Distinct fingerprints or IPs a license was validated from since a day.
pub async fn distinct_since(
    pool: &AnyPool,
    license_id: &str,
    kind: &str,
    since_day: i64,
) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(DISTINCT value) FROM validation_sightings \
         WHERE license_id = $1 AND kind = $2 AND day >= $3",
    )
    .bind(license_id)
    .bind(kind)
    .bind(since_day)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// Adds answers of the key-authenticated API to a day's count.
pub async fn add_outcome(
    tx: &mut Tx,
    day: i64,
    endpoint: &str,
    code: &str,
    count: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_outcomes (day, endpoint, code, count) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (day, endpoint, code) DO UPDATE SET count = api_outcomes.count + excluded.count",
    )
    .bind(day)
    .bind(endpoint)
    .bind(code)
    .bind(count)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds refused requests from one address to a day's count.
pub async fn add_refusal_ip(
    tx: &mut Tx,
    day: i64,
    ip: &str,
    count: i64,
    last_code: &str,
    last_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_refusal_ips (day, ip, count, last_code, last_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (day, ip) DO UPDATE SET count = api_refusal_ips.count + excluded.count, \
         last_code = excluded.last_code, last_at = excluded.last_at",
    )
    .bind(day)
    .bind(ip)
    .bind(count)
    .bind(last_code)
    .bind(last_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks licenses' first successful validations (license id, time), many
/// per statement; a license that already has one keeps it. Returns how
/// many were marked now.
pub async fn mark_first_validated(tx: &mut Tx, firsts: &[(&str, i64)]) -> Result<u64, sqlx::Error> {
    let mut marked = 0;
    for chunk in firsts.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "WITH firsts (id, at) AS (VALUES {}) \
             UPDATE licenses SET first_validated_at = firsts.at FROM firsts \
             WHERE licenses.id = firsts.id AND licenses.first_validated_at IS NULL",
            values_list(tx.backend(), chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (license_id, at) in chunk {
            query = query.bind(*license_id).bind(*at);
        }
        marked += query.execute(&mut **tx).await?.rows_affected();
    }
    Ok(marked)
}
