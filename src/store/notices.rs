//! Which expiry notice went out for which license and expiry date. The
//! primary key (license, kind, expiry) makes "once" a constraint: however
//! many sweeps run, one insert wins.

use crate::domain::id::LicenseId;
use crate::domain::time::Timestamp;
use crate::store::Tx;

/// Claims a notice; true when this caller is the one to send it.
pub async fn claim(
    tx: &mut Tx,
    license_id: &str,
    kind: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO notices (license_id, kind, expires_at, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (license_id, kind, expires_at) DO NOTHING",
    )
    .bind(license_id)
    .bind(kind)
    .bind(expires_at.unix())
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Active licenses that expire in `(after, until]` and have no `kind`
/// notice for their current expiry; with `opened_before_issue = false`,
/// only those whose notice window (`expires_at - window_secs`) opened after
/// they were issued. Oldest expiry first.
pub async fn due(
    pool: &sqlx::AnyPool,
    kind: &str,
    after: Timestamp,
    until: Timestamp,
    window_secs: i64,
    limit: i64,
) -> Result<Vec<(LicenseId, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id, l.expires_at FROM licenses l \
         WHERE l.status = 'active' AND l.expires_at > $2 AND l.expires_at <= $3 \
           AND l.expires_at - $4 >= l.issued_at \
           AND NOT EXISTS (SELECT 1 FROM notices n WHERE n.license_id = l.id \
                           AND n.kind = $1 AND n.expires_at = l.expires_at) \
         ORDER BY l.expires_at LIMIT $5",
    )
    .bind(kind)
    .bind(after.unix())
    .bind(until.unix())
    .bind(window_secs)
    .bind(limit)
    .fetch_all(pool)
    .await
}
