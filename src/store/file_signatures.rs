//! Which key signed each license's latest license file and each machine's
//! latest machine file (migration 0014): what the console lists when a key
//! is revoked.

use sqlx::{AnyPool, FromRow};

use crate::store::{ROWS_PER_STATEMENT, Tx, values_list};

/// One file signed: `file` is '' for the license file, else the machine id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRow<'a> {
    pub license_id: &'a str,
    pub file: &'a str,
    pub kid: &'a str,
    pub signed_at: i64,
}

/// Records files signed, many per statement; an older record never
/// replaces a newer one (batches of two instances may cross).
pub async fn record(tx: &mut Tx, rows: &[SignatureRow<'_>]) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO file_signatures (license_id, file, kid, signed_at) VALUES {} \
             ON CONFLICT (license_id, file) DO UPDATE SET kid = excluded.kid, \
             signed_at = excluded.signed_at \
             WHERE excluded.signed_at >= file_signatures.signed_at",
            values_list(tx.backend(), chunk.len(), 4)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            query = query
                .bind(r.license_id)
                .bind(r.file)
                .bind(r.kid)
                .bind(r.signed_at);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// A license with files whose latest signature is by one key.
#[derive(Debug, Clone, FromRow)]
pub struct SignedByRow {
    pub license_id: String,
    pub key_last4: String,
    pub product_code: String,
    pub organization_name: Option<String>,
    pub assigned_email: Option<String>,
    /// How many of its files (license file, machine files) the key signed
    /// last.
    pub files: i64,
    pub last_signed_at: i64,
}

/// The licenses whose files `kid` signed last, most recently signed first,
/// and how many there are in all.
pub async fn licenses_signed_by(
    pool: &AnyPool,
    kid: &str,
    limit: i64,
) -> Result<(Vec<SignedByRow>, i64), sqlx::Error> {
    let rows = sqlx::query_as(
        "SELECT l.id AS license_id, l.key_last4, p.code AS product_code, \
         o.name AS organization_name, l.assigned_email, s.files, s.last_signed_at \
         FROM (SELECT license_id, COUNT(*) AS files, MAX(signed_at) AS last_signed_at \
               FROM file_signatures WHERE kid = $1 GROUP BY license_id) s \
         JOIN licenses l ON l.id = s.license_id \
         JOIN products p ON p.id = l.product_id \
         LEFT JOIN organizations o ON o.id = l.organization_id \
         ORDER BY s.last_signed_at DESC, l.id LIMIT $2",
    )
    .bind(kid)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let (count,): (i64,) = sqlx::query_as(
        "SELECT CAST(COUNT(DISTINCT license_id) AS BIGINT) FROM file_signatures WHERE kid = $1",
    )
    .bind(kid)
    .fetch_one(pool)
    .await?;
    Ok((rows, count))
}
