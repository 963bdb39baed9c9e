//! What Licensor holds about one customer, read for their export, and the
//! writes that erase their account (docs/security.md, "Personal data").

use serde::Serialize;
use sqlx::{AnyPool, FromRow};

use crate::store::Tx;

/// Most rows of one kind an export lists (the newest).
pub const EXPORT_LIMIT: i64 = 10_000;

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct AccountRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub organization_id: Option<String>,
    pub org_role: Option<String>,
    pub email_verified_at: Option<i64>,
    pub reminders_enabled: i64,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub async fn account(pool: &AnyPool, user_id: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, role, organization_id, org_role, email_verified_at, reminders_enabled, \
         disabled_at, created_at, updated_at FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

pub async fn two_factor_on(pool: &AnyPool, user_id: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT user_id FROM two_factor WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.is_some())
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct LicenseRow {
    pub id: String,
    pub product: String,
    pub license_type: String,
    pub status: String,
    pub key_last4: String,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
}

pub async fn licenses(
    pool: &AnyPool,
    organization_id: &str,
) -> Result<Vec<LicenseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id, p.code AS product, t.name AS license_type, l.status, l.key_last4, \
         l.issued_at, l.expires_at FROM licenses l JOIN products p ON p.id = l.product_id \
         JOIN license_types t ON t.id = l.license_type_id \
         WHERE l.organization_id = $1 ORDER BY l.issued_at DESC, l.id LIMIT $2",
    )
    .bind(organization_id)
    .bind(EXPORT_LIMIT)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct MachineRow {
    pub license_id: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub fingerprint: String,
    pub ip: Option<String>,
    pub activated_at: i64,
    pub deactivated_at: Option<i64>,
}

pub async fn machines(
    pool: &AnyPool,
    organization_id: &str,
) -> Result<Vec<MachineRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.license_id, m.name, m.platform, m.fingerprint, m.ip, m.activated_at, \
         m.deactivated_at FROM machines m JOIN licenses l ON l.id = m.license_id \
         WHERE l.organization_id = $1 ORDER BY m.activated_at DESC, m.id LIMIT $2",
    )
    .bind(organization_id)
    .bind(EXPORT_LIMIT)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct SightingRow {
    pub license_id: String,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub kind: String,
    pub value: String,
    pub count: i64,
}

/// The addresses and fingerprints validations of the organization's
/// licenses came from (kept `validation_retention_days`).
pub async fn sightings(
    pool: &AnyPool,
    organization_id: &str,
) -> Result<Vec<SightingRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.license_id, s.day, s.kind, s.value, s.count FROM validation_sightings s \
         JOIN licenses l ON l.id = s.license_id WHERE l.organization_id = $1 \
         ORDER BY s.day DESC, s.license_id, s.kind, s.value LIMIT $2",
    )
    .bind(organization_id)
    .bind(EXPORT_LIMIT)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct SessionRow {
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

pub async fn sessions(pool: &AnyPool, user_id: &str) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT created_at, last_seen_at, expires_at FROM sessions WHERE user_id = $1 \
         ORDER BY created_at DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(EXPORT_LIMIT)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub occurred_at: i64,
    pub kind: String,
    pub request_id: Option<String>,
    pub data: String,
}

/// The audit events about the user or made by them.
pub async fn events(pool: &AnyPool, user_id: &str) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT occurred_at, kind, request_id, data FROM events \
         WHERE user_id = $1 OR actor_id = $1 ORDER BY occurred_at DESC, id LIMIT $2",
    )
    .bind(user_id)
    .bind(EXPORT_LIMIT)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct EmailRow {
    pub topic: String,
    pub status: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// The emails sent (or to be sent) to the address.
pub async fn emails(pool: &AnyPool, email: &str) -> Result<Vec<EmailRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT topic, status, created_at, sent_at FROM outbox \
         WHERE channel = 'email' AND recipient = $1 ORDER BY created_at DESC, id LIMIT $2",
    )
    .bind(email)
    .bind(EXPORT_LIMIT)
    .fetch_all(pool)
    .await
}

/// The other members of an organization, oldest first: (id, email, role).
pub async fn other_members(
    conn: &mut sqlx::AnyConnection,
    organization_id: &str,
    user_id: &str,
) -> Result<Vec<(String, String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, org_role FROM users WHERE organization_id = $1 AND id <> $2 \
         ORDER BY created_at, id",
    )
    .bind(organization_id)
    .bind(user_id)
    .fetch_all(conn)
    .await
}

pub async fn make_owner(tx: &mut Tx, user_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET org_role = 'owner', updated_at = $2 WHERE id = $1")
        .bind(user_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Replaces an organization's name, the one personal field it has.
pub async fn erase_organization_name(
    tx: &mut Tx,
    organization_id: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE organizations SET name = $2 WHERE id = $1")
        .bind(organization_id)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Erases an account's rows: the emails to its address and the tokens for
/// it, the details of the events about it (kind and time stay), then the
/// user (sessions, single-use tokens, two-factor secrets and recovery codes
/// go with it). Returns false when the user was gone already.
pub async fn erase_user(tx: &mut Tx, user_id: &str, email: &str) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM outbox WHERE channel = 'email' AND recipient = $1")
        .bind(email)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM tokens WHERE email = $1 OR user_id = $2")
        .bind(email)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE events SET data = '{}' WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
