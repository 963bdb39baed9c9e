use sqlx::{Any, Executor};

use crate::domain::email::EmailAddress;
use crate::domain::id::{OrganizationId, UserId};
use crate::domain::role::{OrgRole, Role};
use crate::domain::time::Timestamp;
use crate::store::Tx;

#[derive(Debug)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub organization_id: Option<&'a str>,
    pub org_role: Option<OrgRole>,
    pub email: &'a EmailAddress,
    pub password_hash: &'a str,
    pub role: Role,
    pub email_verified_at: Option<Timestamp>,
}

/// Inserts the user; `false` when the email, or one that looks the same
/// ([`EmailAddress::spelling_key`]), is already registered (the unique
/// indexes decide, so two racing sign-ups cannot both win).
#[tracing::instrument(level = "debug", skip_all, fields(email = %user.email.masked()))]
pub async fn insert(tx: &mut Tx, user: &NewUser<'_>, now: Timestamp) -> Result<bool, sqlx::Error> {
    let inserted: Option<(String,)> = sqlx::query_as(
        "INSERT INTO users (id, organization_id, org_role, email, email_key, password_hash, \
         role, email_verified_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $9, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(user.id)
    .bind(user.organization_id)
    .bind(user.org_role.map(OrgRole::as_str))
    .bind(user.email.as_str())
    .bind(user.password_hash)
    .bind(user.role.as_str())
    .bind(user.email_verified_at.map(Timestamp::unix))
    .bind(now.unix())
    .bind(user.email.spelling_key())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(inserted.is_some())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub organization_id: Option<OrganizationId>,
    pub org_role: Option<OrgRole>,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub email_verified_at: Option<i64>,
    pub created_at: i64,
}

pub async fn find_by_email(
    pool: &sqlx::AnyPool,
    email: &EmailAddress,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, organization_id, org_role, email, role, email_verified_at, created_at \
         FROM users WHERE email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Credentials {
    pub id: String,
    pub password_hash: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub disabled_at: Option<i64>,
}

pub async fn credentials(
    pool: &sqlx::AnyPool,
    email: &EmailAddress,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as("SELECT id, password_hash, role, disabled_at FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(pool)
        .await
}

pub async fn credentials_by_id(
    pool: &sqlx::AnyPool,
    id: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as("SELECT id, password_hash, role, disabled_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn find_by_id(pool: &sqlx::AnyPool, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, organization_id, org_role, email, role, email_verified_at, created_at \
         FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Marks the email verified (once); false when it already was.
pub async fn mark_verified(tx: &mut Tx, id: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE users SET email_verified_at = $2, updated_at = $2 WHERE id = $1 AND email_verified_at IS NULL",
    )
    .bind(id)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn set_password_hash(
    tx: &mut Tx,
    id: &str,
    hash: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(now.unix())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The members of an organization, owners first.
pub async fn members(
    pool: &sqlx::AnyPool,
    organization_id: &str,
) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, organization_id, org_role, email, role, email_verified_at, created_at \
         FROM users WHERE organization_id = $1 ORDER BY org_role DESC, email",
    )
    .bind(organization_id)
    .fetch_all(pool)
    .await
}

/// Takes a member (never an owner) out of an organization.
pub async fn remove_member(
    tx: &mut Tx,
    id: &str,
    organization_id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE users SET organization_id = NULL, org_role = NULL, updated_at = $3 \
         WHERE id = $1 AND organization_id = $2 AND org_role = 'member'",
    )
    .bind(id)
    .bind(organization_id)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Who gets a license message of an organization: its verified, enabled
/// customer accounts; for reminders, only those who did not turn them off.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recipient {
    pub id: String,
    pub email: String,
}

pub async fn recipients<'e, E>(
    exec: E,
    organization_id: &str,
    reminders_only: bool,
) -> Result<Vec<Recipient>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_as(
        "SELECT id, email FROM users \
         WHERE organization_id = $1 AND role = 'customer' AND email_verified_at IS NOT NULL \
           AND disabled_at IS NULL AND ($2 = 0 OR reminders_enabled = 1) \
         ORDER BY email",
    )
    .bind(organization_id)
    .bind(i64::from(reminders_only))
    .fetch_all(exec)
    .await
}

/// Turns a user's expiry reminders on or off; false when there is no such
/// user.
pub async fn set_reminders(
    tx: &mut Tx,
    id: &str,
    enabled: bool,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query("UPDATE users SET reminders_enabled = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(i64::from(enabled))
        .bind(now.unix())
        .execute(&mut **tx)
        .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn reminders_enabled(pool: &sqlx::AnyPool, id: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT reminders_enabled FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some_and(|(v,)| v == 1))
}

/// Accounts whose email starts with `needle` (any case), by email.
pub async fn search_by_email(
    pool: &sqlx::AnyPool,
    backend: crate::store::Backend,
    needle: &str,
    limit: i64,
) -> Result<Vec<UserRow>, sqlx::Error> {
    use crate::store::organizations::{bytes_order, prefix_range};
    let email = bytes_order(backend, "email");
    let (from, to) = prefix_range(&needle.to_lowercase());
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, organization_id, org_role, email, role, email_verified_at, created_at \
         FROM users WHERE {email} >= $1 AND {email} < $2 ORDER BY {email} LIMIT $3"
    )))
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// An organization's people, for the support console.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberDetail {
    pub id: String,
    pub email: String,
    pub org_role: Option<OrgRole>,
    pub email_verified_at: Option<i64>,
    pub reminders_enabled: i64,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

pub async fn member_details(
    pool: &sqlx::AnyPool,
    organization_id: &str,
) -> Result<Vec<MemberDetail>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, org_role, email_verified_at, reminders_enabled, disabled_at, created_at \
         FROM users WHERE organization_id = $1 ORDER BY org_role DESC, email",
    )
    .bind(organization_id)
    .fetch_all(pool)
    .await
}

/// A staff account as the staff page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffRow {
    pub id: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

pub async fn staff(pool: &sqlx::AnyPool) -> Result<Vec<StaffRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, role, disabled_at, created_at FROM users \
         WHERE role <> 'customer' ORDER BY email",
    )
    .fetch_all(pool)
    .await
}

/// Changes a staff account's role, or disables/enables it.
pub async fn update_staff(
    tx: &mut Tx,
    id: &str,
    role: &str,
    disabled_at: Option<i64>,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE users SET role = $2, disabled_at = $3, updated_at = $4 \
         WHERE id = $1 AND role <> 'customer'",
    )
    .bind(id)
    .bind(role)
    .bind(disabled_at)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Whether an account is disabled (unknown accounts count as disabled).
pub async fn is_disabled(pool: &sqlx::AnyPool, id: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT disabled_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_none_or(|(d,)| d.is_some()))
}

/// Gives every account without one its spelling key (accounts made before
/// migration 0009), in batches; an account whose address looks like one
/// that already holds the key keeps none, and is logged for support.
/// Returns how many keys it wrote.
pub async fn backfill_email_keys(pool: &sqlx::AnyPool) -> Result<u64, sqlx::Error> {
    const BATCH: i64 = 1_000;
    let mut written = 0;
    let mut after = String::new();
    loop {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, email FROM users WHERE email_key IS NULL AND id > $1 ORDER BY id LIMIT $2",
        )
        .bind(&after)
        .bind(BATCH)
        .fetch_all(pool)
        .await?;
        let Some((last, _)) = rows.last() else {
            return Ok(written);
        };
        after = last.clone();
        for (id, email) in &rows {
            let key = match EmailAddress::parse(email) {
                Ok(parsed) => parsed.spelling_key(),
                // Stored before today's rules: the address as it is.
                Err(_) => email.clone(),
            };
            let res =
                sqlx::query("UPDATE users SET email_key = $2 WHERE id = $1 AND email_key IS NULL")
                    .bind(id)
                    .bind(&key)
                    .execute(pool)
                    .await;
            match res {
                Ok(done) => written += done.rows_affected(),
                Err(e)
                    if e.as_database_error()
                        .is_some_and(|d| d.is_unique_violation()) =>
                {
                    tracing::warn!(user_id = %id, email = %crate::domain::email::mask_email(email),
                        "this account's address looks like another account's; support should merge or disable one");
                }
                Err(e) => return Err(e),
            }
        }
    }
}
