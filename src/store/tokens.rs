//! Single-use tokens (email verification, password reset, invitations),
//! stored as a SHA-256 digest with an expiry.

use sqlx::{AnyPool, FromRow};

use crate::domain::time::Timestamp;
use crate::domain::token::TokenKind;
use crate::store::Tx;

#[derive(Debug, Clone, FromRow)]
pub struct TokenRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub kind: TokenKind,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub organization_id: Option<String>,
    pub license_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Debug)]
pub struct NewToken<'a> {
    pub id: &'a str,
    pub digest: &'a str,
    pub kind: TokenKind,
    pub user_id: Option<&'a str>,
    pub email: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    pub license_id: Option<&'a str>,
    pub expires_at: Timestamp,
}

pub async fn insert(tx: &mut Tx, token: &NewToken<'_>, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tokens (id, digest, kind, user_id, email, organization_id, license_id, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(token.id)
    .bind(token.digest)
    .bind(token.kind.as_str())
    .bind(token.user_id)
    .bind(token.email)
    .bind(token.organization_id)
    .bind(token.license_id)
    .bind(now.unix())
    .bind(token.expires_at.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn find_by_digest(
    pool: &AnyPool,
    digest: &str,
    kind: TokenKind,
) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, user_id, email, organization_id, license_id, created_at, expires_at, used_at \
         FROM tokens WHERE digest = $1 AND kind = $2",
    )
    .bind(digest)
    .bind(kind.as_str())
    .fetch_optional(pool)
    .await
}

/// Uses a token once: false when it was used or expired meanwhile.
pub async fn consume(tx: &mut Tx, id: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(id)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// The newest token of a kind for a user (for resend cooldowns).
pub async fn newest_for_user(
    pool: &AnyPool,
    user_id: &str,
    kind: TokenKind,
) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, user_id, email, organization_id, license_id, created_at, expires_at, used_at \
         FROM tokens WHERE user_id = $1 AND kind = $2 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(kind.as_str())
    .fetch_optional(pool)
    .await
}

/// Spends every unused token of a kind for a user (e.g. after a reset).
pub async fn revoke_for_user(
    tx: &mut Tx,
    user_id: &str,
    kind: TokenKind,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tokens SET used_at = $3 WHERE user_id = $1 AND kind = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(kind.as_str())
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An organization's invitations that can still be accepted, newest first.
pub async fn pending_invitations(
    pool: &AnyPool,
    organization_id: &str,
    now: Timestamp,
) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, user_id, email, organization_id, license_id, created_at, expires_at, used_at \
         FROM tokens WHERE kind = 'invitation' AND organization_id = $1 AND used_at IS NULL \
         AND expires_at > $2 ORDER BY created_at DESC, id DESC",
    )
    .bind(organization_id)
    .bind(now.unix())
    .fetch_all(pool)
    .await
}

/// Withdraws the organization's pending invitations: the one with `id`,
/// or every one to `email`. Returns the addresses they went to.
pub async fn withdraw_invitations(
    tx: &mut Tx,
    organization_id: &str,
    which: InvitationRef<'_>,
    now: Timestamp,
) -> Result<Vec<String>, sqlx::Error> {
    let (id, email) = match which {
        InvitationRef::Id(id) => (Some(id), None),
        InvitationRef::Email(email) => (None, Some(email)),
    };
    let rows: Vec<(Option<String>,)> = sqlx::query_as(
        "UPDATE tokens SET used_at = $1 WHERE kind = 'invitation' AND organization_id = $2 \
         AND used_at IS NULL AND (id = $3 OR email = $4) RETURNING email",
    )
    .bind(now.unix())
    .bind(organization_id)
    .bind(id)
    .bind(email)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().filter_map(|(e,)| e).collect())
}

/// Which pending invitations [`withdraw_invitations`] takes back.
#[derive(Debug, Clone, Copy)]
pub enum InvitationRef<'a> {
    Id(&'a str),
    Email(&'a str),
}
