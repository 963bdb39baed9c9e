//! What a license may have of its own: entitlements instead of its type's,
//! metadata, a seat count.

use std::collections::BTreeMap;

use sqlx::{Any, Executor};

use crate::domain::time::Timestamp;
use crate::store::Tx;

/// The license's own entitlement codes, sorted.
pub async fn own_entitlements<'e, E>(exec: E, license_id: &str) -> Result<Vec<String>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT e.code FROM license_entitlements le \
         JOIN entitlements e ON e.id = le.entitlement_id \
         WHERE le.license_id = $1 ORDER BY e.code",
    )
    .bind(license_id)
    .fetch_all(exec)
    .await?;
    Ok(rows.into_iter().map(|(c,)| c).collect())
}

/// Which of these codes name no entitlement.
pub async fn unknown_entitlements(
    tx: &mut Tx,
    codes: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let mut unknown = Vec::new();
    for code in codes {
        let found: Option<(String,)> =
            sqlx::query_as("SELECT id FROM entitlements WHERE code = $1")
                .bind(code)
                .fetch_optional(&mut **tx)
                .await?;
        if found.is_none() {
            unknown.push(code.clone());
        }
    }
    Ok(unknown)
}

/// Gives the license these entitlements of its own (codes that exist).
pub async fn set_own_entitlements(
    tx: &mut Tx,
    license_id: &str,
    codes: &[String],
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    tx.touch_license(license_id);
    sqlx::query("DELETE FROM license_entitlements WHERE license_id = $1")
        .bind(license_id)
        .execute(&mut **tx)
        .await?;
    for code in codes {
        sqlx::query(
            "INSERT INTO license_entitlements (license_id, entitlement_id) \
             SELECT $1, id FROM entitlements WHERE code = $2",
        )
        .bind(license_id)
        .bind(code)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "UPDATE licenses SET own_entitlements = 1, version = version + 1, updated_at = $2 \
         WHERE id = $1",
    )
    .bind(license_id)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets the seat count, unless more machines are active; false then.
pub async fn set_max_machines(
    tx: &mut Tx,
    license_id: &str,
    max_machines: i64,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    tx.touch_license(license_id);
    let res = sqlx::query(
        "UPDATE licenses SET max_machines = $2, version = version + 1, updated_at = $3 \
         WHERE id = $1 AND machines_used <= $2",
    )
    .bind(license_id)
    .bind(max_machines)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// The license's metadata, by key.
pub async fn metadata<'e, E>(
    exec: E,
    license_id: &str,
) -> Result<BTreeMap<String, String>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM license_metadata WHERE license_id = $1")
            .bind(license_id)
            .fetch_all(exec)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Sets (`Some`) or removes (`None`) metadata keys.
pub async fn patch_metadata(
    tx: &mut Tx,
    license_id: &str,
    changes: &BTreeMap<String, Option<String>>,
) -> Result<(), sqlx::Error> {
    for (key, value) in changes {
        match value {
            Some(value) => {
                sqlx::query(
                    "INSERT INTO license_metadata (license_id, key, value) VALUES ($1, $2, $3) \
                     ON CONFLICT (license_id, key) DO UPDATE SET value = excluded.value",
                )
                .bind(license_id)
                .bind(key)
                .bind(value)
                .execute(&mut **tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM license_metadata WHERE license_id = $1 AND key = $2")
                    .bind(license_id)
                    .bind(key)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Licenses whose metadata has this value (under any key, or under `key`),
/// newest first.
pub async fn licenses_with_metadata(
    pool: &sqlx::AnyPool,
    key: Option<&str>,
    value: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT license_id FROM license_metadata WHERE value = $1 \
         AND ($2 IS NULL OR key = $2) ORDER BY license_id DESC LIMIT $3",
    )
    .bind(value)
    .bind(key)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
