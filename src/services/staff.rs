//! Staff accounts (support and admin): created from the command line or
//! invited from the console, with their role and whether they may sign in.

use anyhow::Context;
use serde_json::json;

use crate::clock::Clock;
use crate::domain::audit::{Actor, EventKind};
use crate::domain::email::EmailAddress;
use crate::domain::id::new_id;
use crate::domain::password::Password;
use crate::domain::role::Role;
use crate::services::credentials::hash_password;
use crate::store::Db;
use crate::store::events::{self, NewEvent};
use crate::store::users::{self, NewUser};

pub use crate::store::users::StaffRow;

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("{0} is not a staff role; use admin or support")]
    NotStaff(Role),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("change your own account with another admin")]
    OwnAccount,
    #[error("no such staff account")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Creates a staff account, verified from the start; returns its id.
#[tracing::instrument(skip(db, clock, password), fields(email = %email.masked()))]
pub async fn create_staff(
    db: &Db,
    clock: &dyn Clock,
    actor: &Actor,
    email: &EmailAddress,
    role: Role,
    password: Password,
) -> Result<String, StaffError> {
    if !role.is_staff() {
        return Err(StaffError::NotStaff(role));
    }
    // Hash before the transaction: it takes ~50 ms and must not hold a lock.
    let hash = hash_password(password).await?;
    let now = clock.now();
    let id = new_id();
    let mut tx = db.begin_write().await.context("starting the transaction")?;
    let inserted = users::insert(
        &mut tx,
        &NewUser {
            id: &id,
            organization_id: None,
            org_role: None,
            email,
            password_hash: &hash,
            role,
            email_verified_at: Some(now),
        },
        now,
    )
    .await
    .context("inserting the staff account")?;
    if !inserted {
        return Err(StaffError::EmailTaken);
    }
    let mut event = NewEvent::new(EventKind::StaffCreated, actor);
    event.user_id = Some(&id);
    event.data = json!({ "role": role.as_str() });
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the event")?;
    tx.commit().await.context("committing the staff account")?;
    tracing::info!(user_id = %id, role = %role, "staff account created");
    Ok(id)
}

/// Invites a staff member: the account gets an unusable random password and
/// the person a link to set their own (the password-reset message).
pub async fn invite_staff(
    ctx: &crate::services::context::Ctx<'_>,
    brand: &crate::services::context::Brand,
    email: &EmailAddress,
    role: Role,
) -> Result<String, StaffError> {
    let mut random = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(random.as_mut())
        .map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
    let text: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let password = Password::parse(secrecy::SecretString::from(text))
        .map_err(|e| anyhow::anyhow!("generated password refused: {e}"))?;
    let id = create_staff(ctx.db, ctx.clock, &ctx.actor, email, role, password).await?;
    crate::services::accounts::request_password_reset(ctx, brand, email)
        .await
        .map_err(|e| anyhow::anyhow!("sending the set-password link: {e}"))?;
    Ok(id)
}

/// Changes a staff member's role or disables them; disabling ends their
/// sessions at once. Nobody changes their own account here (no lock-out).
pub async fn update_staff(
    ctx: &crate::services::context::Ctx<'_>,
    id: &str,
    role: Role,
    disabled: bool,
) -> Result<(), StaffError> {
    if !role.is_staff() {
        return Err(StaffError::NotStaff(role));
    }
    if ctx.actor.id() == Some(id) {
        return Err(StaffError::OwnAccount);
    }
    let now = ctx.clock.now();
    let mut tx = ctx
        .db
        .begin_write()
        .await
        .context("starting the transaction")?;
    let disabled_at = disabled.then_some(now.unix());
    if !users::update_staff(&mut tx, id, role.as_str(), disabled_at, now)
        .await
        .context("updating the staff account")?
    {
        return Err(StaffError::NotFound);
    }
    let mut event = NewEvent::new(EventKind::StaffUpdated, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.user_id = Some(id);
    event.data = json!({ "role": role.as_str(), "disabled": disabled, "reason": ctx.reason });
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the event")?;
    tx.commit().await.context("committing the staff account")?;
    if disabled {
        crate::store::sessions::delete_for_user(ctx.db.pool(), id)
            .await
            .context("ending the sessions")?;
    }
    Ok(())
}

/// Every staff account.
pub async fn list(db: &Db) -> anyhow::Result<Vec<StaffRow>> {
    Ok(users::staff(db.pool()).await?)
}
