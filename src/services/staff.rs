//! Staff accounts (support and admin), created from the command line.

use anyhow::Context;
use serde_json::json;

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::domain::email::EmailAddress;
use crate::domain::id::new_id;
use crate::domain::password::Password;
use crate::domain::role::Role;
use crate::services::credentials::hash_password;
use crate::store::Db;
use crate::store::events::{self, NewEvent};
use crate::store::users::{self, NewUser};

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("{0} is not a staff role; use admin or support")]
    NotStaff(Role),
    #[error("an account with this email already exists")]
    EmailTaken,
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
    let mut event = NewEvent::new("staff.created", actor);
    event.user_id = Some(&id);
    event.data = json!({ "role": role.as_str() });
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the event")?;
    tx.commit().await.context("committing the staff account")?;
    tracing::info!(user_id = %id, role = %role, "staff account created");
    Ok(id)
}
