//! Machines: one row per activation; a deactivated row stays for history.

use sqlx::{Any, Executor, FromRow};

use crate::domain::id::{LicenseId, MachineId};
use crate::domain::machine::DeactivatedBy;
use crate::domain::time::Timestamp;
use crate::store::Tx;

#[derive(Debug, Clone, FromRow)]
pub struct MachineRow {
    pub id: MachineId,
    pub license_id: LicenseId,
    pub fingerprint: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub ip: Option<String>,
    pub activated_at: i64,
    pub last_heartbeat_at: i64,
    pub deactivated_at: Option<i64>,
    pub deactivated_by: Option<DeactivatedBy>,
}

impl MachineRow {
    /// The row as [`insert`] writes it.
    pub fn as_new(&self) -> NewMachine<'_> {
        NewMachine {
            id: &self.id,
            license_id: &self.license_id,
            fingerprint: &self.fingerprint,
            name: self.name.as_deref(),
            platform: self.platform.as_deref(),
            ip: self.ip.as_deref(),
        }
    }
}

const COLUMNS: &str = "id, license_id, fingerprint, name, platform, ip, activated_at, \
     last_heartbeat_at, deactivated_at, deactivated_by";

macro_rules! select_machine {
    () => {
        "SELECT id, license_id, fingerprint, name, platform, ip, activated_at, \
         last_heartbeat_at, deactivated_at, deactivated_by FROM machines "
    };
}

#[derive(Debug)]
pub struct NewMachine<'a> {
    pub id: &'a str,
    pub license_id: &'a str,
    pub fingerprint: &'a str,
    pub name: Option<&'a str>,
    pub platform: Option<&'a str>,
    pub ip: Option<&'a str>,
}

/// The live machine with this fingerprint on this license.
pub async fn find_active<'e, E>(
    exec: E,
    license_id: &str,
    fingerprint: &str,
) -> Result<Option<MachineRow>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_as(concat!(
        select_machine!(),
        "WHERE license_id = $1 AND fingerprint = $2 AND deactivated_at IS NULL"
    ))
    .bind(license_id)
    .bind(fingerprint)
    .fetch_optional(exec)
    .await
}

/// The live machine with this id on this license.
pub async fn find_active_by_id<'e, E>(
    exec: E,
    license_id: &str,
    id: &str,
) -> Result<Option<MachineRow>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_as(concat!(
        select_machine!(),
        "WHERE id = $1 AND license_id = $2 AND deactivated_at IS NULL"
    ))
    .bind(id)
    .bind(license_id)
    .fetch_optional(exec)
    .await
}

/// Live machines of a license, oldest first: at most `limit`.
pub async fn list_active<'e, E>(
    exec: E,
    license_id: &str,
    limit: i64,
) -> Result<Vec<MachineRow>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_as(concat!(
        select_machine!(),
        "WHERE license_id = $1 AND deactivated_at IS NULL ORDER BY activated_at, id LIMIT $2"
    ))
    .bind(license_id)
    .bind(limit)
    .fetch_all(exec)
    .await
}

pub async fn insert(
    tx: &mut Tx,
    machine: &NewMachine<'_>,
    now: Timestamp,
) -> Result<MachineRow, sqlx::Error> {
    tx.touch_machine(machine.license_id, machine.fingerprint);
    let sql = format!(
        "INSERT INTO machines (id, license_id, fingerprint, name, platform, ip, activated_at, \
         last_heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(machine.id)
        .bind(machine.license_id)
        .bind(machine.fingerprint)
        .bind(machine.name)
        .bind(machine.platform)
        .bind(machine.ip)
        .bind(now.unix())
        .fetch_one(&mut **tx)
        .await
}

/// Ends one activation; false when it had already ended.
pub async fn deactivate(
    tx: &mut Tx,
    id: &str,
    by: DeactivatedBy,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let ended: Option<(String, String)> = sqlx::query_as(
        "UPDATE machines SET deactivated_at = $2, deactivated_by = $3 \
         WHERE id = $1 AND deactivated_at IS NULL RETURNING license_id, fingerprint",
    )
    .bind(id)
    .bind(now.unix())
    .bind(by.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((license_id, fingerprint)) = &ended {
        tx.touch_machine(license_id, fingerprint);
    }
    Ok(ended.is_some())
}

/// Ends the activations of a license whose last heartbeat is before
/// `cutoff`; returns how many.
pub async fn reap_dead(
    tx: &mut Tx,
    license_id: &str,
    cutoff: Timestamp,
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    let reaped: Vec<(String,)> = sqlx::query_as(
        "UPDATE machines SET deactivated_at = $3, deactivated_by = 'heartbeat' \
         WHERE license_id = $1 AND deactivated_at IS NULL AND last_heartbeat_at < $2 \
         RETURNING fingerprint",
    )
    .bind(license_id)
    .bind(cutoff.unix())
    .bind(now.unix())
    .fetch_all(&mut **tx)
    .await?;
    for (fingerprint,) in &reaped {
        tx.touch_machine(license_id, fingerprint);
    }
    Ok(i64::try_from(reaped.len()).unwrap_or(i64::MAX))
}

pub async fn touch_heartbeat(tx: &mut Tx, id: &str, now: Timestamp) -> Result<(), sqlx::Error> {
    let touched: Option<(String, String)> = sqlx::query_as(
        "UPDATE machines SET last_heartbeat_at = $2 WHERE id = $1 AND deactivated_at IS NULL \
         RETURNING license_id, fingerprint",
    )
    .bind(id)
    .bind(now.unix())
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((license_id, fingerprint)) = &touched {
        tx.touch_machine(license_id, fingerprint);
    }
    Ok(())
}

/// Deactivations by customers or applications since `since` (the ones the
/// deactivation limit counts).
pub async fn count_self_deactivations_since<'e, E>(
    exec: E,
    license_id: &str,
    since: Timestamp,
) -> Result<i64, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM machines WHERE license_id = $1 AND deactivated_at >= $2 \
         AND deactivated_by IN ('customer', 'application')",
    )
    .bind(license_id)
    .bind(since.unix())
    .fetch_one(exec)
    .await?;
    Ok(n)
}

/// Live machines of floating licenses whose heartbeat window has passed:
/// (license id), at most `limit` licenses. Read type by type from the few
/// floating types with a window, so that a database whose million machines
/// are on other types is not walked every minute (it was 0.3 s a pass).
pub async fn licenses_with_dead_seats(
    pool: &sqlx::AnyPool,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<LicenseId>, sqlx::Error> {
    let types: Vec<(String, i64)> = sqlx::query_as(
        "SELECT id, heartbeat_window_secs FROM license_types \
         WHERE floating = 1 AND heartbeat_window_secs IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let mut found = Vec::new();
    for (type_id, window) in types {
        let left = limit - found.len() as i64;
        if left <= 0 {
            break;
        }
        let rows: Vec<(LicenseId,)> = sqlx::query_as(
            "SELECT DISTINCT m.license_id FROM licenses l \
             JOIN machines m ON m.license_id = l.id \
             WHERE l.license_type_id = $1 AND m.deactivated_at IS NULL \
             AND m.last_heartbeat_at < $2 ORDER BY m.license_id LIMIT $3",
        )
        .bind(&type_id)
        .bind(now.unix() - window)
        .bind(left)
        .fetch_all(pool)
        .await?;
        found.extend(rows.into_iter().map(|(id,)| id));
    }
    Ok(found)
}

/// Machines (active or not) with this exact fingerprint, then those whose
/// name starts with `needle` (any case): two index lookups.
pub async fn search(
    pool: &sqlx::AnyPool,
    backend: crate::store::Backend,
    needle: &str,
    limit: i64,
) -> Result<Vec<MachineRow>, sqlx::Error> {
    use crate::store::organizations::{bytes_order, prefix_range};
    let mut found: Vec<MachineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM machines WHERE fingerprint = $1 \
         ORDER BY activated_at DESC, id LIMIT $2"
    )))
    .bind(needle)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let name = bytes_order(backend, "LOWER(name)");
    let (from, to) = prefix_range(&needle.to_lowercase());
    let named: Vec<MachineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM machines WHERE {name} >= $1 AND {name} < $2 \
         ORDER BY {name} LIMIT $3"
    )))
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    for machine in named {
        if found.len() < usize::try_from(limit).unwrap_or(0)
            && !found.iter().any(|m| m.id == machine.id)
        {
            found.push(machine);
        }
    }
    Ok(found)
}

/// Every machine of a license, active first, then newest.
pub async fn list_all(
    pool: &sqlx::AnyPool,
    license_id: &str,
    limit: i64,
) -> Result<Vec<MachineRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM machines WHERE license_id = $1 \
         ORDER BY CASE WHEN deactivated_at IS NULL THEN 0 ELSE 1 END, activated_at DESC, id LIMIT $2"
    )))
    .bind(license_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
