//! Licenses, read together with their product and type rules.

use sqlx::{Any, AnyPool, Executor, FromRow};

use crate::config::Backend;
use crate::domain::id::{LicenseId, LicenseTypeId, OrganizationId, ProductId, new_id};
use crate::domain::license::{ExpiryFrom, LicenseStatus};
use crate::domain::time::Timestamp;
use crate::store::events::{BindWho, NewEvent, new_event_columns};
use crate::store::machines::NewMachine;
use crate::store::{Tx, flag};

/// One license with what its product and type say about it.
#[derive(Debug, Clone, FromRow)]
pub struct LicenseRow {
    pub id: LicenseId,
    pub key_last4: String,
    pub key_ciphertext: Vec<u8>,
    pub product_id: ProductId,
    pub product_code: String,
    pub product_name: String,
    pub license_type_id: LicenseTypeId,
    pub license_type_name: String,
    pub organization_id: Option<OrganizationId>,
    pub assigned_email: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: LicenseStatus,
    pub is_trial: i64,
    pub max_machines: i64,
    pub machines_used: i64,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub first_activated_at: Option<i64>,
    pub first_validated_at: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub duration_days: Option<i64>,
    pub floating: i64,
    pub heartbeat_window_secs: Option<i64>,
    pub grace_days: i64,
    pub customer_may_deactivate: i64,
    pub deactivation_limit: Option<i64>,
    pub deactivation_period_days: Option<i64>,
    #[sqlx(try_from = "String")]
    pub expiry_from: ExpiryFrom,
    pub offline_checkin_days: i64,
    /// 1: the license has entitlements of its own (`license_edits`), not
    /// its type's.
    pub own_entitlements: i64,
}

macro_rules! select_license {
    () => {
        "SELECT l.id, l.key_last4, l.key_ciphertext, l.product_id, p.code AS product_code, \
         p.name AS product_name, l.license_type_id, lt.name AS license_type_name, \
         l.organization_id, l.assigned_email, l.status, l.is_trial, l.max_machines, \
         l.machines_used, l.issued_at, l.expires_at, l.first_activated_at, l.first_validated_at, l.version, \
         l.created_at, l.updated_at, lt.duration_days, lt.floating, lt.heartbeat_window_secs, \
         lt.grace_days, lt.customer_may_deactivate, lt.deactivation_limit, \
         lt.deactivation_period_days, lt.expiry_from, lt.offline_checkin_days, \
         l.own_entitlements \
         FROM licenses l JOIN products p ON p.id = l.product_id \
         JOIN license_types lt ON lt.id = l.license_type_id "
    };
}

#[derive(Debug)]
pub struct NewLicense<'a> {
    pub id: &'a str,
    pub key_digest: &'a str,
    pub key_ciphertext: &'a [u8],
    pub key_last4: &'a str,
    pub product_id: &'a str,
    pub license_type_id: &'a str,
    pub organization_id: Option<&'a str>,
    pub assigned_email: Option<&'a str>,
    pub is_trial: bool,
    pub max_machines: i64,
    pub issued_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

#[tracing::instrument(level = "debug", skip_all, fields(license_id = license.id))]
pub async fn insert(tx: &mut Tx, license: &NewLicense<'_>) -> Result<(), sqlx::Error> {
    tx.touch_license(license.id);
    sqlx::query(
        "INSERT INTO licenses (id, key_digest, key_ciphertext, key_last4, product_id, \
         license_type_id, organization_id, assigned_email, status, is_trial, max_machines, \
         machines_used, issued_at, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $10, 0, $11, $12, $11, $11)",
    )
    .bind(license.id)
    .bind(license.key_digest)
    .bind(license.key_ciphertext)
    .bind(license.key_last4)
    .bind(license.product_id)
    .bind(license.license_type_id)
    .bind(license.organization_id)
    .bind(license.assigned_email)
    .bind(flag(license.is_trial))
    .bind(license.max_machines)
    .bind(license.issued_at.unix())
    .bind(license.expires_at.map(Timestamp::unix))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_by_digest<'e, E>(exec: E, digest: &str) -> Result<Option<LicenseRow>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_as(concat!(select_license!(), "WHERE l.key_digest = $1"))
        .bind(digest)
        .fetch_optional(exec)
        .await
}

#[tracing::instrument(level = "debug", skip_all, fields(license_id = id))]
pub async fn find_by_id<'e, E>(exec: E, id: &str) -> Result<Option<LicenseRow>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_as(concat!(select_license!(), "WHERE l.id = $1"))
        .bind(id)
        .fetch_optional(exec)
        .await
}

/// The entitlement codes of a license type, sorted.
pub async fn entitlements_of_type<'e, E>(
    exec: E,
    license_type_id: &str,
) -> Result<Vec<String>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT e.code FROM license_type_entitlements lte \
         JOIN entitlements e ON e.id = lte.entitlement_id \
         WHERE lte.license_type_id = $1 ORDER BY e.code",
    )
    .bind(license_type_id)
    .fetch_all(exec)
    .await?;
    Ok(rows.into_iter().map(|(c,)| c).collect())
}

/// Filters for listing licenses; all optional, combined with AND.
#[derive(Debug, Default, Clone)]
pub struct LicenseFilter {
    pub email: Option<String>,
    pub organization_id: Option<String>,
    pub status: Option<String>,
    pub license_type_id: Option<String>,
    pub product_id: Option<String>,
    /// Only ids after this one (the page cursor).
    pub after: Option<String>,
    /// Licenses whose metadata has this value (under this key, if given).
    pub metadata_value: Option<String>,
    pub metadata_key: Option<String>,
}

/// A page of licenses in id order (ids are time-ordered UUIDv7). The
/// WHERE names only the filters given, numbered by hand (sqlx's
/// `QueryBuilder` writes `?` through the `Any` driver, which PostgreSQL
/// refuses), so each filter reads its index: an optional `$n IS NULL OR`
/// would walk every license in id order.
pub async fn list(
    pool: &AnyPool,
    filter: &LicenseFilter,
    limit: i64,
) -> Result<Vec<LicenseRow>, sqlx::Error> {
    let mut sql = String::from(select_license!());
    sql.push_str("WHERE 1 = 1");
    let mut values: Vec<String> = Vec::new();
    // An email: licenses assigned to it, or its account's organization's,
    // that organization read first so each side is an index lookup (as a
    // subquery PostgreSQL walked every license in id order instead).
    if let Some(email) = filter.email.as_deref() {
        let organization: Option<String> = sqlx::query_scalar::<_, Option<String>>(
            "SELECT organization_id FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(pool)
        .await?
        .flatten();
        values.push(email.to_owned());
        sql.push_str(&format!(" AND (l.assigned_email = ${}", values.len()));
        if let Some(organization) = organization {
            values.push(organization);
            sql.push_str(&format!(" OR l.organization_id = ${}", values.len()));
        }
        sql.push(')');
    }
    let given: [(Option<&str>, &str); 5] = [
        (
            filter.organization_id.as_deref(),
            " AND l.organization_id = ?",
        ),
        (filter.status.as_deref(), " AND l.status = ?"),
        (
            filter.license_type_id.as_deref(),
            " AND l.license_type_id = ?",
        ),
        (filter.product_id.as_deref(), " AND l.product_id = ?"),
        (filter.after.as_deref(), " AND l.id > ?"),
    ];
    for (value, fragment) in given {
        if let Some(value) = value {
            for piece in fragment.split_inclusive('?') {
                if piece.ends_with('?') {
                    values.push(value.to_owned());
                    sql.push_str(&piece.replace('?', &format!("${}", values.len())));
                } else {
                    sql.push_str(piece);
                }
            }
        }
    }
    if let Some(value) = filter.metadata_value.as_deref() {
        values.push(value.to_owned());
        sql.push_str(&format!(
            " AND l.id IN (SELECT m.license_id FROM license_metadata m WHERE m.value = ${}",
            values.len()
        ));
        if let Some(key) = filter.metadata_key.as_deref() {
            values.push(key.to_owned());
            sql.push_str(&format!(" AND m.key = ${}", values.len()));
        }
        sql.push(')');
    }
    sql.push_str(&format!(" ORDER BY l.id LIMIT ${}", values.len() + 1));
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for value in values {
        query = query.bind(value);
    }
    query.bind(limit).fetch_all(pool).await
}

/// The seat UPDATE's SET and WHERE (a macro, for `concat!`): one more
/// seat used, if one is free and the license is active; on the first
/// activation it stamps `first_activated_at` and, for terms that start
/// then, `expires_at`. `$1` the license, `$2` now, `$3` the expiry to set.
macro_rules! take_seat_sql {
    () => {
        "UPDATE licenses SET machines_used = machines_used + 1, \
         first_activated_at = COALESCE(first_activated_at, $2), \
         expires_at = COALESCE(expires_at, $3), version = version + 1, updated_at = $2 \
         WHERE id = $1 AND machines_used < max_machines AND status = 'active'"
    };
}

/// Takes one seat if one is free and the license is active: the conditional
/// UPDATE is what keeps the seat limit under any concurrency.
pub async fn take_seat(
    tx: &mut Tx,
    id: &str,
    now: Timestamp,
    expires_if_unset: Option<Timestamp>,
) -> Result<Option<SeatTaken>, sqlx::Error> {
    tx.touch_license(id);
    sqlx::query_as(concat!(
        take_seat_sql!(),
        " RETURNING machines_used, expires_at, version"
    ))
    .bind(id)
    .bind(now.unix())
    .bind(expires_if_unset.map(Timestamp::unix))
    .fetch_optional(&mut **tx)
    .await
}

/// An activation in one statement (one round trip): the seat as
/// [`take_seat`] takes it but only while the license is still `version`
/// (nothing about it changed since it was read, so the caller knows what
/// the UPDATE leaves), then the machine and the event. False, with nothing
/// written, when the license changed or has no free seat.
pub async fn take_seat_for_machine(
    tx: &mut Tx,
    version: i64,
    expires_if_unset: Option<Timestamp>,
    machine: &NewMachine<'_>,
    event: &NewEvent<'_>,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    tx.touch_license(machine.license_id);
    tx.touch_machine(machine.license_id, machine.fingerprint);
    // SQLite runs the statements one after the other in one call, each
    // only if the one before changed a row; PostgreSQL chains them in one
    // statement. `$5`-`$9` the machine, `$10`-`$17` the event.
    let sql = match tx.backend() {
        Backend::Sqlite => concat!(
            take_seat_sql!(),
            " AND version = $4; \
             INSERT INTO machines (id, license_id, fingerprint, name, platform, ip, \
             activated_at, last_heartbeat_at) \
             SELECT $5, $1, $6, $7, $8, $9, $2, $2 WHERE changes() = 1; \
             INSERT INTO events (",
            new_event_columns!(),
            ") SELECT $10, $2, $11, $12, $13, $14, $15, $16, $1, $17 WHERE changes() = 1; \
             SELECT 1 WHERE changes() = 1"
        ),
        Backend::Postgres => concat!(
            "WITH seat AS (",
            take_seat_sql!(),
            " AND version = $4 RETURNING id), \
             machine AS (INSERT INTO machines (id, license_id, fingerprint, name, platform, ip, \
             activated_at, last_heartbeat_at) \
             SELECT $5, seat.id, $6, $7, $8, $9, $2, $2 FROM seat RETURNING id) \
             INSERT INTO events (",
            new_event_columns!(),
            ") SELECT $10, $2, $11, $12, $13, $14, $15, $16, $1, $17 FROM machine RETURNING id"
        ),
    };
    let rows = sqlx::query(sql)
        .bind(machine.license_id)
        .bind(now.unix())
        .bind(expires_if_unset.map(Timestamp::unix))
        .bind(version)
        .bind(machine.id)
        .bind(machine.fingerprint)
        .bind(machine.name)
        .bind(machine.platform)
        .bind(machine.ip)
        .bind(new_id())
        .bind_who(event)
        .bind(event.data.to_string())
        .fetch_all(&mut **tx)
        .await?;
    Ok(!rows.is_empty())
}

/// The license's seat count, expiry and version after [`take_seat`] took
/// a seat.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct SeatTaken {
    pub machines_used: i64,
    pub expires_at: Option<i64>,
    pub version: i64,
}

/// Gives back `n` seats.
pub async fn release_seats(
    tx: &mut Tx,
    id: &str,
    n: i64,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    tx.touch_license(id);
    sqlx::query(
        "UPDATE licenses SET machines_used = machines_used - $2, version = version + 1, \
         updated_at = $3 WHERE id = $1 AND machines_used >= $2",
    )
    .bind(id)
    .bind(n)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves the status from `from` (one or two states) to `to`, with the
/// reason the customer is shown; false when the license was in neither.
pub async fn set_status(
    tx: &mut Tx,
    id: &str,
    from: &[LicenseStatus],
    to: LicenseStatus,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    tx.touch_license(id);
    let (first, second) = match from {
        [one] => (*one, *one),
        [one, two] => (*one, *two),
        _ => return Ok(false),
    };
    let res = sqlx::query(
        "UPDATE licenses SET status = $1, status_reason = $6, version = version + 1, \
         updated_at = $2 WHERE id = $3 AND (status = $4 OR status = $5)",
    )
    .bind(to.as_str())
    .bind(now.unix())
    .bind(id)
    .bind(first.as_str())
    .bind(second.as_str())
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn set_expiry(
    tx: &mut Tx,
    id: &str,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    tx.touch_license(id);
    let res = sqlx::query(
        "UPDATE licenses SET expires_at = $2, version = version + 1, updated_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(expires_at.map(Timestamp::unix))
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Marks the license changed (its version and time) for a change kept
/// elsewhere (its metadata).
pub async fn touch(tx: &mut Tx, id: &str, now: Timestamp) -> Result<(), sqlx::Error> {
    tx.touch_license(id);
    sqlx::query("UPDATE licenses SET version = version + 1, updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now.unix())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Why the license is in its current status, as support wrote it.
pub async fn status_reason(pool: &AnyPool, id: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT status_reason FROM licenses WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(reason,)| reason))
}

/// Licenses assigned to an email and not yet claimed by an organization.
pub async fn unclaimed_for_email(
    pool: &AnyPool,
    email: &str,
) -> Result<Vec<LicenseRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_license!(),
        "WHERE l.assigned_email = $1 AND l.organization_id IS NULL ORDER BY l.id"
    ))
    .bind(email)
    .fetch_all(pool)
    .await
}

/// Gives an unclaimed license assigned to `email` to an organization.
pub async fn claim_for_organization(
    tx: &mut Tx,
    id: &str,
    email: &str,
    organization_id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    tx.touch_license(id);
    let res = sqlx::query(
        "UPDATE licenses SET organization_id = $3, version = version + 1, updated_at = $4 \
         WHERE id = $1 AND assigned_email = $2 AND organization_id IS NULL",
    )
    .bind(id)
    .bind(email)
    .bind(organization_id)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Whether any machine was ever activated on the organization's licenses.
pub async fn organization_has_activated<'e, E>(
    exec: E,
    organization_id: &str,
) -> Result<bool, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT m.id FROM machines m JOIN licenses l ON l.id = m.license_id \
         WHERE l.organization_id = $1 LIMIT 1",
    )
    .bind(organization_id)
    .fetch_optional(exec)
    .await?;
    Ok(row.is_some())
}

/// A self-service trial an organization can still claim.
#[derive(Debug, Clone, FromRow)]
pub struct TrialOffer {
    pub license_type_id: String,
    pub license_type_name: String,
    pub product_code: String,
    pub product_name: String,
    pub product_description: String,
    pub duration_days: Option<i64>,
    pub max_machines: i64,
}

pub async fn trial_offers(
    pool: &AnyPool,
    organization_id: &str,
) -> Result<Vec<TrialOffer>, sqlx::Error> {
    sqlx::query_as(
        "SELECT lt.id AS license_type_id, lt.name AS license_type_name, p.code AS product_code, \
         p.name AS product_name, p.description AS product_description, lt.duration_days, lt.max_machines \
         FROM license_types lt JOIN products p ON p.id = lt.product_id \
         WHERE lt.self_service_trial = 1 AND lt.retired_at IS NULL AND p.retired_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM licenses l WHERE l.organization_id = $1 \
                         AND l.product_id = p.id AND l.is_trial = 1) \
         ORDER BY p.name, lt.name",
    )
    .bind(organization_id)
    .fetch_all(pool)
    .await
}

/// Licenses whose key ends in these four characters, newest first.
pub async fn find_by_last4(
    pool: &AnyPool,
    last4: &str,
    limit: i64,
) -> Result<Vec<LicenseRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_license!(),
        "WHERE l.key_last4 = $1 ORDER BY l.id DESC LIMIT $2"
    ))
    .bind(last4)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Moves a license to another license type (and its seat count); false
/// when the active machines would not fit the new seat count.
pub async fn set_type(
    tx: &mut Tx,
    id: &str,
    license_type_id: &str,
    max_machines: i64,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    tx.touch_license(id);
    let res = sqlx::query(
        "UPDATE licenses SET license_type_id = $2, max_machines = $3, version = version + 1, \
         updated_at = $4 WHERE id = $1 AND machines_used <= $3",
    )
    .bind(id)
    .bind(license_type_id)
    .bind(max_machines)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Gives a license to an organization (it is no longer waiting for an
/// email's owner to claim it).
pub async fn set_organization(
    tx: &mut Tx,
    id: &str,
    organization_id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    tx.touch_license(id);
    let res = sqlx::query(
        "UPDATE licenses SET organization_id = $2, assigned_email = NULL, version = version + 1, \
         updated_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(organization_id)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// One line of the license export.
#[derive(Debug, Clone, FromRow)]
pub struct ExportRow {
    pub license_id: String,
    pub key_last4: String,
    pub product: String,
    pub license_type: String,
    #[sqlx(try_from = "String")]
    pub status: LicenseStatus,
    pub organization_id: Option<String>,
    pub organization_name: Option<String>,
    pub assigned_email: Option<String>,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub machines_used: i64,
    pub max_machines: i64,
}

/// Every license with its customer, type, status, expiry and seats.
pub async fn export(pool: &AnyPool) -> Result<Vec<ExportRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id AS license_id, l.key_last4, p.code AS product, lt.name AS license_type, \
         l.status, l.organization_id, o.name AS organization_name, l.assigned_email, \
         l.issued_at, l.expires_at, l.machines_used, l.max_machines \
         FROM licenses l JOIN products p ON p.id = l.product_id \
         JOIN license_types lt ON lt.id = l.license_type_id \
         LEFT JOIN organizations o ON o.id = l.organization_id ORDER BY l.id",
    )
    .fetch_all(pool)
    .await
}

/// A trial bought: it is a paid license from now on (same key, same
/// machines).
pub async fn clear_trial(tx: &mut Tx, id: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    tx.touch_license(id);
    let res = sqlx::query(
        "UPDATE licenses SET is_trial = 0, version = version + 1, updated_at = $1 \
         WHERE id = $2 AND is_trial = 1",
    )
    .bind(now.unix())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}
