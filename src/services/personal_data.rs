//! A customer's personal data: everything Licensor holds about them as one
//! JSON document, and erasing their account. The organization's licenses
//! stay with the organization (they are the vendor's records, and their
//! keys keep working); an organization left without an owner is handed to
//! its oldest other member, or, with no one left, loses its name.
//! docs/security.md lists every personal field and how long it is kept.

use anyhow::Context;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::domain::audit::EventKind;
use crate::domain::role::Role;
use crate::services::context::Ctx;
use crate::services::credentials::verify_password;
use crate::store::events::{self, NewEvent};
use crate::store::{Db, personal_data, users};

/// The name an organization keeps once its last member erased their
/// account.
pub const ERASED_ORGANIZATION: &str = "Erased customer";

#[derive(Debug, thiserror::Error)]
pub enum PersonalDataError {
    #[error("There is no such account.")]
    NotFound,
    #[error("The password is not right.")]
    WrongPassword,
    #[error(
        "Staff accounts are not erased here: an admin disables them on the console's Staff page."
    )]
    Staff,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for PersonalDataError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

/// Everything Licensor holds about a customer, as JSON: the account, the
/// organization and its licenses, machines and the addresses validations
/// came from, sessions, the audit events about or by them and the emails
/// sent to them. Keys are never in it (the portal reveals them).
pub async fn export(db: &Db, user_id: &str, now: i64) -> Result<Value, PersonalDataError> {
    let pool = db.pool();
    let account = personal_data::account(pool, user_id)
        .await?
        .ok_or(PersonalDataError::NotFound)?;
    let organization = match account.organization_id.as_deref() {
        Some(org) => {
            let name = crate::store::organizations::find_by_id(pool, org)
                .await?
                .map(|o| o.name);
            json!({
                "id": org,
                "name": name,
                "your_role": account.org_role,
                "licenses": personal_data::licenses(pool, org).await?,
                "machines": personal_data::machines(pool, org).await?,
                "validations_seen_from": personal_data::sightings(pool, org).await?,
            })
        }
        None => Value::Null,
    };
    let events: Vec<Value> = personal_data::events(pool, user_id)
        .await?
        .into_iter()
        .map(|e| {
            json!({
                "occurred_at": e.occurred_at,
                "kind": e.kind,
                "request_id": e.request_id,
                "data": serde_json::from_str::<Value>(&e.data).unwrap_or(Value::String(e.data)),
            })
        })
        .collect();
    Ok(json!({
        "format": "licensor-personal-data-v1",
        "exported_at": now,
        "account": account,
        "two_factor": personal_data::two_factor_on(pool, user_id).await?,
        "organization": organization,
        "sessions": personal_data::sessions(pool, user_id).await?,
        "events": events,
        "emails": personal_data::emails(pool, &account.email).await?,
        "times": "unix seconds (UTC); `day` is days since 1970-01-01",
    }))
}

/// What erasing an account does to its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizationFate {
    /// No organization, or another owner remains.
    Unchanged,
    /// The account was the only owner: this member becomes the owner.
    HandedOver { to: String },
    /// No one else was in it: its name is erased; its licenses stay.
    NameErased,
}

impl OrganizationFate {
    /// Said plainly, before and after.
    pub fn describe(&self) -> String {
        match self {
            OrganizationFate::Unchanged => "Your organization and its licenses stay as they are \
                 for its other members."
                .to_owned(),
            OrganizationFate::HandedOver { to } => format!(
                "You are your organization's only owner: {to} becomes its owner, and its \
                 licenses stay with it."
            ),
            OrganizationFate::NameErased => "No one else is in your organization: its name is \
                 erased. Its licenses stay with the vendor as records without your name; their \
                 keys keep working until they expire."
                .to_owned(),
        }
    }
}

/// What erasing the account would do to its organization, read now.
pub async fn fate_of(db: &Db, user_id: &str) -> Result<OrganizationFate, PersonalDataError> {
    let account = personal_data::account(db.pool(), user_id)
        .await?
        .ok_or(PersonalDataError::NotFound)?;
    let mut conn = db.pool().acquire().await?;
    decide_fate(&mut conn, &account).await
}

async fn decide_fate(
    conn: &mut sqlx::AnyConnection,
    account: &personal_data::AccountRow,
) -> Result<OrganizationFate, PersonalDataError> {
    let Some(org) = account.organization_id.as_deref() else {
        return Ok(OrganizationFate::Unchanged);
    };
    let others = personal_data::other_members(conn, org, &account.id).await?;
    let another_owner = others
        .iter()
        .any(|(_, _, role)| role.as_deref() == Some("owner"));
    Ok(match (account.org_role.as_deref(), others.first()) {
        (Some("owner"), Some(_)) if !another_owner => OrganizationFate::HandedOver {
            to: others[0].1.clone(),
        },
        (_, None) => OrganizationFate::NameErased,
        _ => OrganizationFate::Unchanged,
    })
}

/// A customer erases their own account: the password first.
pub async fn erase_own_account(
    ctx: &Ctx<'_>,
    user_id: &str,
    password: SecretString,
) -> Result<OrganizationFate, PersonalDataError> {
    let creds = users::credentials_by_id(ctx.db.pool(), user_id).await?;
    if !verify_password(creds.map(|c| c.password_hash), password).await? {
        return Err(PersonalDataError::WrongPassword);
    }
    erase_account(ctx, user_id).await
}

/// Erases a customer's account in one transaction (the customer, or staff
/// for them: `ctx` says who, and why). Recorded as `customer.erased`, with
/// no address in it.
pub async fn erase_account(
    ctx: &Ctx<'_>,
    user_id: &str,
) -> Result<OrganizationFate, PersonalDataError> {
    let now = ctx.clock.now();
    let account = personal_data::account(ctx.db.pool(), user_id)
        .await?
        .ok_or(PersonalDataError::NotFound)?;
    if account.role != Role::Customer.as_str() {
        return Err(PersonalDataError::Staff);
    }
    let mut tx = ctx.db.begin_write().await?;
    let fate = decide_fate(&mut tx, &account).await?;
    let org = account.organization_id.as_deref();
    match (&fate, org) {
        (OrganizationFate::HandedOver { .. }, Some(org)) => {
            let others = personal_data::other_members(&mut tx, org, user_id).await?;
            if let Some((heir, _, _)) = others.first() {
                personal_data::make_owner(&mut tx, heir, now.unix()).await?;
            }
        }
        (OrganizationFate::NameErased, Some(org)) => {
            personal_data::erase_organization_name(&mut tx, org, ERASED_ORGANIZATION).await?;
        }
        _ => {}
    }
    if !personal_data::erase_user(&mut tx, user_id, &account.email).await? {
        // Erased meanwhile (another request): nothing of this is kept.
        tx.rollback().await.context("ending the transaction")?;
        return Err(PersonalDataError::NotFound);
    }
    let mut event = NewEvent::new(EventKind::CustomerErased, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.user_id = Some(user_id);
    event.organization_id = org;
    event.data = json!({
        "organization": match &fate {
            OrganizationFate::Unchanged => "unchanged",
            OrganizationFate::HandedOver { .. } => "handed_over",
            OrganizationFate::NameErased => "name_erased",
        },
        "reason": ctx.reason,
    });
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the erasure")?;
    tx.commit().await.context("committing the erasure")?;
    tracing::info!(user_id, "customer account erased");
    Ok(fate)
}
