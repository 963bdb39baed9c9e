//! Issuing a license, and showing its key.

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::email::EmailAddress;
use crate::domain::id::{LicenseId, OrganizationId};
use crate::domain::license::ExpiryFrom;
use crate::domain::license_key::LicenseKey;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::context::{Brand, Ctx};
use crate::store::events::{self, NewEvent};
use crate::store::licenses::{self, NewLicense};
use crate::store::{Db, Tx, license_edits, license_types, organizations};

use super::audit::record;
use super::error::LicensingError;
use super::view::{LicenseView, view_in_tx};

/// Who a new license is for.
#[derive(Debug, Clone)]
pub enum Holder {
    Organization(OrganizationId),
    /// Someone who will claim it by email.
    Email(EmailAddress),
}

#[derive(Debug, Clone)]
pub struct IssueRequest {
    pub license_type_id: String,
    pub holder: Option<Holder>,
    /// Overrides the type's seat count.
    pub max_machines: Option<i64>,
    /// Overrides the type's duration.
    pub expires_at: Option<Timestamp>,
    pub is_trial: bool,
    /// Entitlements of its own instead of its type's (codes that exist).
    pub entitlements: Option<Vec<String>>,
    /// Why it was issued (an order, a deal), kept in its audit event.
    pub note: Option<String>,
}

/// A new license and its key: the only time the full key is returned.
#[derive(Debug)]
pub struct Issued {
    pub license: LicenseView,
    pub key: LicenseKey,
}

/// A new license id and key, and the key sealed for storage: encrypted
/// under the server secret and bound to the id, so a ciphertext copied to
/// another row does not open.
pub(crate) fn new_sealed_key(
    cipher: &DataCipher,
) -> Result<(LicenseId, LicenseKey, Vec<u8>), LicensingError> {
    let key = LicenseKey::generate()?;
    let id = LicenseId::new();
    let sealed = cipher.seal(key.canonical().as_bytes(), id.as_bytes())?;
    Ok((id, key, sealed))
}

pub async fn issue_license(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    brand: &Brand,
    request: &IssueRequest,
) -> Result<Issued, LicensingError> {
    let mut tx = ctx.db.begin_write().await?;
    let issued = issue_in_tx(ctx, &mut tx, cipher, brand, request).await;
    let issued = tx.finish(issued, "the license").await?;
    tracing::info!(license_id = %issued.license.id, "license issued");
    Ok(issued)
}

/// [`issue_license`] inside a write transaction (a purchase issues its
/// license in the transaction that settles the provider's event).
pub(crate) async fn issue_in_tx(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    cipher: &DataCipher,
    brand: &Brand,
    request: &IssueRequest,
) -> Result<Issued, LicensingError> {
    let now = ctx.clock.now();
    let lt = license_types::find_by_id(&mut **tx, &request.license_type_id)
        .await?
        .ok_or(LicensingError::NotFound("license type"))?;
    if lt.retired_at.is_some() {
        return Err(LicensingError::Invalid(
            "this license type is retired; issue licenses of a current type".to_owned(),
        ));
    }
    check_request(request, now)?;
    let (organization_id, assigned_email) = match &request.holder {
        None => (None, None),
        Some(Holder::Organization(id)) => {
            organizations::find_by_id(&mut **tx, id)
                .await?
                .ok_or(LicensingError::NotFound("organization"))?;
            (Some(id.clone()), None)
        }
        Some(Holder::Email(email)) => (None, Some(email.as_str().to_owned())),
    };
    let expires_at = request
        .expires_at
        .or(match (lt.expiry_from, lt.duration_days) {
            (ExpiryFrom::Issue, Some(days)) => Some(now.plus_days(days)),
            _ => None,
        });

    let (id, key, sealed) = new_sealed_key(cipher)?;
    let inserted = licenses::insert(
        tx,
        &NewLicense {
            id: &id,
            key_digest: &key.digest(),
            key_ciphertext: &sealed,
            key_last4: &key.last4(),
            product_id: &lt.product_id,
            license_type_id: &lt.id,
            organization_id: organization_id.as_deref(),
            assigned_email: assigned_email.as_deref(),
            is_trial: request.is_trial,
            max_machines: request.max_machines.unwrap_or(lt.max_machines),
            issued_at: now,
            expires_at,
        },
    )
    .await;
    if let Err(e) = inserted {
        if e.as_database_error()
            .is_some_and(|d| d.is_unique_violation())
        {
            return Err(LicensingError::Conflict(
                "this organization already has a trial of this product".to_owned(),
            ));
        }
        return Err(e.into());
    }
    if let Some(codes) = &request.entitlements {
        own_entitlements(tx, &id, codes, now).await?;
    }
    let license = view_in_tx(tx, &id).await?;
    record(
        ctx,
        tx,
        EventKind::LicenseCreated,
        &license,
        json!({ "after": license.snapshot(), "license_type_id": license.license_type_id,
                "entitlements": license.entitlements, "note": request.note }),
    )
    .await?;
    // A license for someone who will claim it: tell them, with the link.
    super::notices::tell_assignee(tx, brand, &license, now).await?;
    // A license for an organization: welcome its people with the details.
    super::notices::welcome(tx, brand, &license, now).await?;
    Ok(Issued { license, key })
}

/// The rules of a request whatever the type.
fn check_request(request: &IssueRequest, now: Timestamp) -> Result<(), LicensingError> {
    if let Some(n) = request.max_machines
        && !(1..=100_000).contains(&n)
    {
        return Err(LicensingError::field(
            "max_machines",
            "must be from 1 to 100,000",
        ));
    }
    if request
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > 1_000)
    {
        return Err(LicensingError::field("note", "is at most 1,000 characters"));
    }
    if let Some(at) = request.expires_at
        && at <= now
    {
        return Err(LicensingError::field("expires_at", "must be in the future"));
    }
    Ok(())
}

/// Reveals the full key of a license (for its owner, after re-authentication).
pub async fn reveal_key(
    db: &Db,
    cipher: &DataCipher,
    license_id: &LicenseId,
) -> Result<LicenseKey, LicensingError> {
    let row = licenses::find_by_id(db.pool(), license_id)
        .await?
        .ok_or(LicensingError::NotFound("license"))?;
    let plain = cipher.open(&row.key_ciphertext, row.id.as_bytes())?;
    let text = std::str::from_utf8(&plain).context("stored key is not text")?;
    LicenseKey::named(text)
        .map_err(|e| LicensingError::Unexpected(anyhow::anyhow!("stored key is damaged: {e}")))
}

/// Reveals the full key to a customer who gave their password again, and
/// records that it was shown.
pub async fn reveal_key_audited(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    license: &LicenseView,
    user_id: &str,
) -> Result<LicenseKey, LicensingError> {
    let key = reveal_key(ctx.db, cipher, &license.id).await?;
    let mut tx = ctx.db.begin_write().await?;
    let mut event = NewEvent::new(EventKind::LicenseKeyRevealed, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.license_id = Some(&license.id);
    event.organization_id = license.organization_id.as_deref();
    event.user_id = Some(user_id);
    events::insert(&mut tx, ctx.clock.now(), &event)
        .await
        .context("recording the reveal")?;
    tx.commit().await.context("committing the reveal")?;
    Ok(key)
}

/// Gives a new license entitlements of its own: each code must exist.
async fn own_entitlements(
    tx: &mut Tx,
    id: &LicenseId,
    codes: &[String],
    now: Timestamp,
) -> Result<(), LicensingError> {
    let mut codes = codes.to_vec();
    codes.sort();
    codes.dedup();
    let unknown = license_edits::unknown_entitlements(tx, &codes).await?;
    if !unknown.is_empty() {
        return Err(LicensingError::field(
            "entitlements",
            format!("no entitlement is called {}", unknown.join(", ")),
        ));
    }
    license_edits::set_own_entitlements(tx, id, &codes, now).await?;
    Ok(())
}
