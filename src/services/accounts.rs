//! Customer accounts: sign-up, email verification, sign-in, password reset
//! and change. Answers never reveal whether an email is registered.

use anyhow::Context;
use secrecy::SecretString;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::domain::audit::WebhookEvent;
use crate::domain::audit::{Actor, EventKind};
use crate::domain::email::EmailAddress;
use crate::domain::id::{OrganizationId, UserId, new_id};
use crate::domain::password::Password;
use crate::domain::role::OrgRole;
use crate::domain::role::Role;
use crate::domain::time::Timestamp;
use crate::domain::token::TokenKind;
use crate::mail::templates::{AccountExists, PasswordChanged, PasswordReset, VerifyEmail};
use crate::services::context::{Brand, Ctx};
use crate::services::credentials::{hash_password, verify_password};
use crate::services::notify::{About, enqueue_email};
use crate::store::events::{self, NewEvent};
use crate::store::tokens::{self, NewToken};
use crate::store::users::{self, NewUser};

pub use crate::store::organizations::OrganizationRow;
pub use crate::store::users::UserRow;
use crate::store::{Db, Tx, organizations, outbox, sessions};

pub const VERIFY_HOURS: i64 = 24;
pub const RESET_MINUTES: i64 = 60;
/// The least time between two verification emails.
pub const RESEND_COOLDOWN_SECS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("This link is not valid. Ask for a new one.")]
    BadToken,
    #[error("This link has expired. Ask for a new one.")]
    ExpiredToken,
    #[error("This link was already used.")]
    UsedToken,
    #[error("Wait {0} seconds before asking again.")]
    Cooldown(i64),
    #[error("The email or password is not right.")]
    BadCredentials,
    #[error("{0}")]
    WeakPassword(#[from] crate::domain::password::PasswordError),
    #[error("The current password is not right.")]
    WrongCurrentPassword,
    #[error("The organization name must be 1 to 100 characters.")]
    BadOrganizationName,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Unexpected(e.into())
    }
}

/// A random single-use token: the text for the link, the digest to store.
fn new_token() -> anyhow::Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok((text.clone(), token_digest(&text)))
}

pub fn token_digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn record(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    kind: EventKind,
    user_id: &str,
    org: Option<&str>,
    data: serde_json::Value,
) -> anyhow::Result<()> {
    let mut event = NewEvent::new(kind, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.user_id = Some(user_id);
    event.organization_id = org;
    event.data = data;
    events::insert(tx, ctx.clock.now(), &event)
        .await
        .with_context(|| format!("recording {kind}"))
}

async fn enqueue_verification(
    tx: &mut Tx,
    brand: &Brand,
    user_id: &str,
    email: &str,
    org: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<()> {
    let (text, digest) = new_token()?;
    tokens::insert(
        tx,
        &NewToken {
            id: &new_id(),
            digest: &digest,
            kind: TokenKind::EmailVerification,
            user_id: Some(user_id),
            email: Some(email),
            organization_id: None,
            license_id: None,
            expires_at: now.plus_secs(VERIFY_HOURS * 3600),
        },
        now,
    )
    .await
    .context("storing the verification token")?;
    let mail = VerifyEmail {
        vendor_name: brand.vendor_name.clone(),
        link: brand.link(&format!("/verify-email?token={text}")),
        hours_valid: VERIFY_HOURS,
    };
    enqueue_email(
        tx,
        brand,
        "verify_email",
        email,
        &mail,
        About {
            organization_id: org,
            license_id: None,
        },
        now,
    )
    .await
}

/// Signs a customer up: a new organization they own, an unverified
/// account, and a verification email, in one transaction. An email that is
/// already registered gets nothing new, and the caller cannot tell.
pub async fn sign_up(
    ctx: &Ctx<'_>,
    brand: &Brand,
    email: &EmailAddress,
    password: Password,
    organization_name: &str,
) -> Result<Option<String>, AccountError> {
    let organization_name = organization_name.trim();
    if organization_name.is_empty()
        || organization_name.chars().count() > 100
        || organization_name.chars().any(char::is_control)
    {
        return Err(AccountError::BadOrganizationName);
    }
    // ~50 ms of argon2 before the transaction, never inside it.
    let hash = hash_password(password).await?;
    let now = ctx.clock.now();
    let user_id = new_id();
    let org_id = new_id();
    let mut tx = ctx.db.begin_write().await?;
    organizations::insert(&mut tx, &org_id, organization_name, now).await?;
    let inserted = users::insert(
        &mut tx,
        &NewUser {
            id: &user_id,
            organization_id: Some(&org_id),
            org_role: Some(OrgRole::Owner),
            email,
            password_hash: &hash,
            role: Role::Customer,
            email_verified_at: None,
        },
        now,
    )
    .await?;
    if !inserted {
        tx.rollback().await?;
        if users::find_by_email(ctx.db.pool(), email).await?.is_some() {
            tracing::info!(email = %email.masked(), "sign-up for a registered email");
            tell_the_account_holder(ctx, brand, email).await?;
        } else {
            // Another account's address looks like this one: its holder is
            // not this mailbox, and this mailbox gets no account.
            tracing::warn!(email = %email.masked(),
                "sign-up refused: the address looks like a registered one");
        }
        return Ok(None);
    }
    enqueue_verification(&mut tx, brand, &user_id, email.as_str(), Some(&org_id), now).await?;
    let mut ctx_actor = Ctx::new(
        ctx.db,
        ctx.clock,
        Actor::Customer {
            user_id: user_id.clone(),
        },
    );
    ctx_actor.request_id = ctx.request_id.clone();
    record(
        &ctx_actor,
        &mut tx,
        EventKind::CustomerCreated,
        &user_id,
        Some(&org_id),
        json!({ "organization_name": organization_name }),
    )
    .await?;
    crate::services::webhooks::publish(
        &mut tx,
        WebhookEvent::CustomerCreated,
        (Some(&org_id), None),
        json!({ "organization": { "id": org_id, "name": organization_name },
                "user": { "id": user_id, "email": email.as_str() } }),
        now,
    )
    .await?;
    tx.commit().await.context("committing the sign-up")?;
    tracing::info!(user_id = %user_id, "customer signed up");
    Ok(Some(user_id))
}

/// A sign-up with an address that has an account: the page says "check
/// your inbox" as for any sign-up (no enumeration), and the inbox says the
/// account exists, with the sign-in and reset links. At most one such
/// message an hour per address, so sign-ups cannot flood it.
async fn tell_the_account_holder(
    ctx: &Ctx<'_>,
    brand: &Brand,
    email: &EmailAddress,
) -> Result<(), AccountError> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    if outbox::queued_to_since(
        &mut tx,
        email.as_str(),
        ACCOUNT_EXISTS,
        now.plus_secs(-3600),
    )
    .await?
    {
        tracing::info!(email = %email.masked(), "account-exists message sent within the hour");
        return Ok(());
    }
    let mail = AccountExists {
        vendor_name: brand.vendor_name.clone(),
        sign_in_link: brand.link("/login"),
        reset_link: brand.link("/forgot-password"),
    };
    enqueue_email(
        &mut tx,
        brand,
        ACCOUNT_EXISTS,
        email.as_str(),
        &mail,
        About::default(),
        now,
    )
    .await?;
    tx.commit()
        .await
        .context("committing the account-exists message")?;
    Ok(())
}

/// The outbox topic of [`tell_the_account_holder`]'s message.
const ACCOUNT_EXISTS: &str = "account_exists";

/// Checks a single-use token of `kind`.
async fn check_token(
    ctx: &Ctx<'_>,
    text: &str,
    kind: TokenKind,
) -> Result<tokens::TokenRow, AccountError> {
    if text.len() != 64 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AccountError::BadToken);
    }
    let row = tokens::find_by_digest(ctx.db.pool(), &token_digest(text), kind)
        .await?
        .ok_or(AccountError::BadToken)?;
    if row.used_at.is_some() {
        return Err(AccountError::UsedToken);
    }
    if row.expires_at <= ctx.clock.now().unix() {
        return Err(AccountError::ExpiredToken);
    }
    Ok(row)
}

/// What following a verification link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The address is confirmed now (the user's id).
    Confirmed(UserId),
    /// A used or expired link of an address confirmed before: nothing to
    /// do, and the person is told so rather than shown an error.
    AlreadyConfirmed(UserId),
}

/// Verifies an email from the link's token.
pub async fn verify_email(ctx: &Ctx<'_>, token: &str) -> Result<Verification, AccountError> {
    match confirm_email(ctx, token).await {
        Ok(user_id) => Ok(Verification::Confirmed(user_id)),
        Err(e @ (AccountError::UsedToken | AccountError::ExpiredToken)) => {
            let row = tokens::find_by_digest(
                ctx.db.pool(),
                &token_digest(token),
                TokenKind::EmailVerification,
            )
            .await?;
            let user = match row.and_then(|r| r.user_id) {
                Some(id) => users::find_by_id(ctx.db.pool(), &id).await?,
                None => None,
            };
            match user {
                Some(u) if u.email_verified_at.is_some() => {
                    Ok(Verification::AlreadyConfirmed(u.id))
                }
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

async fn confirm_email(ctx: &Ctx<'_>, token: &str) -> Result<UserId, AccountError> {
    let row = check_token(ctx, token, TokenKind::EmailVerification).await?;
    let user_id = row.user_id.clone().ok_or(AccountError::BadToken)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    if !tokens::consume(&mut tx, &row.id, now).await? {
        return Err(AccountError::UsedToken);
    }
    if users::mark_verified(&mut tx, &user_id, now).await? {
        let user = users::find_by_id(ctx.db.pool(), &user_id).await?;
        let org = user.as_ref().and_then(|u| u.organization_id.clone());
        let actor = Ctx::new(
            ctx.db,
            ctx.clock,
            Actor::Customer {
                user_id: user_id.clone(),
            },
        );
        record(
            &actor,
            &mut tx,
            EventKind::CustomerEmailVerified,
            &user_id,
            org.as_deref(),
            json!({}),
        )
        .await?;
    }
    tx.commit().await.context("committing the verification")?;
    Ok(UserId::from_stored(user_id))
}

/// Sends a new verification email, at most once a minute.
pub async fn resend_verification(
    ctx: &Ctx<'_>,
    brand: &Brand,
    user: &UserRow,
) -> Result<(), AccountError> {
    if user.email_verified_at.is_some() {
        return Ok(());
    }
    let now = ctx.clock.now();
    if let Some(last) =
        tokens::newest_for_user(ctx.db.pool(), &user.id, TokenKind::EmailVerification).await?
    {
        let wait = last.created_at + RESEND_COOLDOWN_SECS - now.unix();
        if wait > 0 {
            return Err(AccountError::Cooldown(wait));
        }
    }
    let mut tx = ctx.db.begin_write().await?;
    enqueue_verification(
        &mut tx,
        brand,
        &user.id,
        &user.email,
        user.organization_id.as_deref(),
        now,
    )
    .await?;
    tx.commit().await.context("committing the resend")?;
    Ok(())
}

/// Checks an email and password; the same answer and about the same time
/// for an unknown email as for a wrong password.
pub async fn authenticate(
    ctx: &Ctx<'_>,
    email: &EmailAddress,
    password: SecretString,
) -> Result<UserRow, AccountError> {
    let creds = users::credentials(ctx.db.pool(), email).await?;
    let hash = creds.as_ref().map(|c| c.password_hash.clone());
    let ok = verify_password(hash, password).await?;
    match creds {
        Some(c) if ok && c.disabled_at.is_none() => users::find_by_id(ctx.db.pool(), &c.id)
            .await?
            .ok_or(AccountError::BadCredentials),
        _ => Err(AccountError::BadCredentials),
    }
}

/// Emails a reset link if the address has an account; silent otherwise.
pub async fn request_password_reset(
    ctx: &Ctx<'_>,
    brand: &Brand,
    email: &EmailAddress,
) -> Result<(), AccountError> {
    let Some(user) = users::find_by_email(ctx.db.pool(), email).await? else {
        tracing::info!(email = %email.masked(), "password reset for an unknown email");
        return Ok(());
    };
    let now = ctx.clock.now();
    let (text, digest) = new_token()?;
    let mut tx = ctx.db.begin_write().await?;
    tokens::insert(
        &mut tx,
        &NewToken {
            id: &new_id(),
            digest: &digest,
            kind: TokenKind::PasswordReset,
            user_id: Some(&user.id),
            email: Some(&user.email),
            organization_id: None,
            license_id: None,
            expires_at: now.plus_secs(RESET_MINUTES * 60),
        },
        now,
    )
    .await?;
    let mail = PasswordReset {
        vendor_name: brand.vendor_name.clone(),
        link: brand.link(&format!("/reset-password?token={text}")),
        minutes_valid: RESET_MINUTES,
    };
    enqueue_email(
        &mut tx,
        brand,
        "password_reset",
        &user.email,
        &mail,
        About {
            organization_id: user.organization_id.as_deref(),
            license_id: None,
        },
        now,
    )
    .await?;
    tx.commit().await.context("committing the reset request")?;
    Ok(())
}

/// Whether a reset token is usable now (to show the form or an error).
pub async fn check_reset_token(ctx: &Ctx<'_>, token: &str) -> Result<(), AccountError> {
    check_token(ctx, token, TokenKind::PasswordReset)
        .await
        .map(|_| ())
}

async fn replace_password(
    ctx: &Ctx<'_>,
    brand: &Brand,
    mut tx: Tx,
    user: &UserRow,
    password: Password,
    kind: EventKind,
) -> Result<(), AccountError> {
    let hash = hash_password(password).await?;
    let now = ctx.clock.now();
    users::set_password_hash(&mut tx, &user.id, &hash, now).await?;
    tokens::revoke_for_user(&mut tx, &user.id, TokenKind::PasswordReset, now).await?;
    let mail = PasswordChanged {
        vendor_name: brand.vendor_name.clone(),
        reset_link: brand.link("/forgot-password"),
    };
    enqueue_email(
        &mut tx,
        brand,
        "password_changed",
        &user.email,
        &mail,
        About {
            organization_id: user.organization_id.as_deref(),
            license_id: None,
        },
        now,
    )
    .await?;
    record(
        ctx,
        &mut tx,
        kind,
        &user.id,
        user.organization_id.as_deref(),
        json!({}),
    )
    .await?;
    tx.commit().await.context("committing the new password")?;
    // Every session of the user ends; the caller starts a fresh one.
    sessions::delete_for_user(ctx.db.pool(), &user.id).await?;
    Ok(())
}

/// "Sign out everywhere": every session of the user ends, this one too,
/// in the same transaction as its audit event. Returns how many ended.
pub async fn sign_out_everywhere(ctx: &Ctx<'_>, user: &UserRow) -> Result<u64, AccountError> {
    let mut tx = ctx.db.begin_write().await?;
    let ended = sessions::delete_for_user(&mut *tx, &user.id).await?;
    record(
        ctx,
        &mut tx,
        EventKind::UserSignedOutEverywhere,
        &user.id,
        user.organization_id.as_deref(),
        json!({ "sessions_ended": ended }),
    )
    .await?;
    tx.commit()
        .await
        .context("committing the end of every session")?;
    tracing::info!(user_id = %user.id, sessions_ended = ended, "signed out everywhere");
    Ok(ended)
}

/// Sets a new password from a reset link; every session ends.
pub async fn reset_password(
    ctx: &Ctx<'_>,
    brand: &Brand,
    token: &str,
    password: Password,
) -> Result<UserRow, AccountError> {
    let row = check_token(ctx, token, TokenKind::PasswordReset).await?;
    let user_id = row.user_id.clone().ok_or(AccountError::BadToken)?;
    let user = users::find_by_id(ctx.db.pool(), &user_id)
        .await?
        .ok_or(AccountError::BadToken)?;
    password.check_for(&user.email)?;
    let mut tx = ctx.db.begin_write().await?;
    if !tokens::consume(&mut tx, &row.id, ctx.clock.now()).await? {
        return Err(AccountError::UsedToken);
    }
    // Following the emailed link proves the address too.
    users::mark_verified(&mut tx, &user.id, ctx.clock.now()).await?;
    replace_password(
        ctx,
        brand,
        tx,
        &user,
        password,
        EventKind::CustomerPasswordReset,
    )
    .await?;
    Ok(user)
}

/// Changes the password of a signed-in user who knows the current one.
pub async fn change_password(
    ctx: &Ctx<'_>,
    brand: &Brand,
    user: &UserRow,
    current: SecretString,
    new: Password,
) -> Result<(), AccountError> {
    let creds = users::credentials_by_id(ctx.db.pool(), &user.id).await?;
    if !verify_password(creds.map(|c| c.password_hash), current).await? {
        return Err(AccountError::WrongCurrentPassword);
    }
    let tx = ctx.db.begin_write().await?;
    replace_password(
        ctx,
        brand,
        tx,
        user,
        new,
        EventKind::CustomerPasswordChanged,
    )
    .await
}

/// Turns a user's expiry reminders on or off (their account page, or the
/// one-click link in a reminder). Security messages are not affected.
pub async fn set_reminders(
    ctx: &Ctx<'_>,
    user_id: &str,
    enabled: bool,
) -> Result<bool, AccountError> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    if !users::set_reminders(&mut tx, user_id, enabled, now).await? {
        return Ok(false);
    }
    let mut event = NewEvent::new(EventKind::UserRemindersChanged, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.user_id = Some(user_id);
    event.data = json!({ "reminders_enabled": enabled });
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the reminder setting")?;
    tx.commit()
        .await
        .context("committing the reminder setting")?;
    Ok(true)
}

/// A user of this organization.
pub async fn member(
    db: &Db,
    organization_id: &str,
    user_id: &str,
) -> anyhow::Result<Option<UserRow>> {
    Ok(users::find_by_id(db.pool(), user_id)
        .await?
        .filter(|u| u.organization_id.as_deref() == Some(organization_id)))
}

/// The user with this email, and their organization.
pub async fn find_customer(
    db: &Db,
    email: &EmailAddress,
) -> anyhow::Result<Option<(UserRow, Option<OrganizationRow>)>> {
    let Some(user) = users::find_by_email(db.pool(), email).await? else {
        return Ok(None);
    };
    let organization = match &user.organization_id {
        Some(id) => organizations::find_by_id(db.pool(), id).await?,
        None => None,
    };
    Ok(Some((user, organization)))
}

/// An organization.
pub async fn organization(db: &Db, id: &OrganizationId) -> anyhow::Result<Option<OrganizationRow>> {
    Ok(organizations::find_by_id(db.pool(), id).await?)
}

/// Whether the user gets expiry reminders.
pub async fn reminders_enabled(db: &Db, user_id: &str) -> anyhow::Result<bool> {
    Ok(users::reminders_enabled(db.pool(), user_id).await?)
}

/// The account a session names, if it still exists and is not disabled.
pub async fn active_user(db: &Db, user_id: &str) -> anyhow::Result<Option<UserRow>> {
    let Some(user) = users::find_by_id(db.pool(), user_id).await? else {
        return Ok(None);
    };
    if users::is_disabled(db.pool(), &user.id).await? {
        return Ok(None);
    }
    Ok(Some(user))
}
