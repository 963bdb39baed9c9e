//! What a payment does to a license, inside the transaction that settles
//! the provider's event: upgrade a trial to the terms bought, and move an
//! expiry forward to the end of what was paid for (never back).

use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::id::LicenseId;
use crate::domain::license::LicenseStatus;
use crate::domain::time::Timestamp;
use crate::mail::templates::LicensePurchased;
use crate::services::context::{Brand, Ctx};
use crate::services::notify::{self, Audience};
use crate::store::{Tx, license_edits, license_types, licenses};

use super::audit::record;
use super::error::LicensingError;
use super::status::renew_in_tx;
use super::view::{LicenseView, view_in_tx};

/// The terms a purchase grants.
#[derive(Debug, Clone)]
pub struct PaidTerms {
    pub license_type_id: String,
    /// `None`: the type's seats.
    pub max_machines: Option<i64>,
    /// `None`: the type's entitlements.
    pub entitlements: Option<Vec<String>>,
    pub expires_at: Option<Timestamp>,
}

/// Who paid, and through what, as the audit event records it.
#[derive(Debug, Clone)]
pub struct PaymentNote {
    pub provider: &'static str,
    pub event_id: String,
}

impl PaymentNote {
    fn json(&self) -> serde_json::Value {
        json!({ "provider": self.provider, "provider_event_id": self.event_id })
    }
}

/// Makes a trial the license bought: the type, seats, entitlements and
/// expiry of the terms, the trial flag cleared; the key and the machines
/// stay. Records `license.upgraded` (the CRM hears `license.updated`).
pub(crate) async fn upgrade_in_tx(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    license_id: &LicenseId,
    terms: &PaidTerms,
    note: &PaymentNote,
) -> Result<LicenseView, LicensingError> {
    let now = ctx.clock.now();
    let before = view_in_tx(tx, license_id).await?;
    if before.status == LicenseStatus::Revoked {
        return Err(LicensingError::Conflict(
            "the license is revoked; it cannot be upgraded".to_owned(),
        ));
    }
    let target = license_types::find_by_id(&mut **tx, &terms.license_type_id)
        .await?
        .ok_or(LicensingError::NotFound("license type"))?;
    if target.product_id != before.product_id.as_str() {
        return Err(LicensingError::Invalid(
            "the offer is for another product than the license".to_owned(),
        ));
    }
    let seats = terms.max_machines.unwrap_or(target.max_machines);
    if !licenses::set_type(tx, license_id, &target.id, seats, now).await? {
        return Err(LicensingError::Conflict(format!(
            "{} machines are active and the offer grants {seats}",
            before.machines_used
        )));
    }
    licenses::clear_trial(tx, license_id, now).await?;
    if let Some(codes) = &terms.entitlements {
        license_edits::set_own_entitlements(tx, license_id, codes, now).await?;
    }
    if terms.expires_at.is_some() || before.expires_at.is_some() {
        licenses::set_expiry(tx, license_id, terms.expires_at, now).await?;
    }
    let after = view_in_tx(tx, license_id).await?;
    let mut data = json!({ "before": before.snapshot(), "after": after.snapshot(),
                           "from_type": before.license_type_id, "to_type": after.license_type_id });
    if let (Some(data), serde_json::Value::Object(paid)) = (data.as_object_mut(), note.json()) {
        data.extend(paid);
    }
    record(ctx, tx, EventKind::LicenseUpgraded, &after, data).await?;
    tracing::info!(license_id = %license_id, provider = note.provider, "trial upgraded");
    Ok(after)
}

/// Moves a license's expiry to `until` when that is later than its
/// expiry: a renewal (`license.renewed`, with the payment) and its email.
/// Answers `None` when the license already runs that long: an event that
/// arrives late never moves an expiry back.
pub(crate) async fn extend_to_in_tx(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    brand: &Brand,
    license_id: &LicenseId,
    until: Timestamp,
    note: &PaymentNote,
) -> Result<Option<LicenseView>, LicensingError> {
    let before = view_in_tx(tx, license_id).await?;
    if before.status == LicenseStatus::Revoked {
        return Err(LicensingError::Conflict(
            "the license is revoked; a payment for it needs a refund or a new license".to_owned(),
        ));
    }
    if before.expires_at.is_none_or(|at| at >= until) {
        return Ok(None);
    }
    let after = renew_in_tx(ctx, tx, brand, before, until, note.json()).await?;
    Ok(Some(after))
}

/// Records that a license's subscription was canceled: it runs to its
/// period end and is not renewed.
pub(crate) async fn note_cancellation_in_tx(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    license_id: &LicenseId,
    period_end: Option<Timestamp>,
    note: &PaymentNote,
) -> Result<LicenseView, LicensingError> {
    let license = view_in_tx(tx, license_id).await?;
    let mut data = note.json();
    data["runs_until"] = json!(period_end.or(license.expires_at).map(Timestamp::unix));
    record(
        ctx,
        tx,
        EventKind::LicenseSubscriptionCanceled,
        &license,
        data,
    )
    .await?;
    Ok(license)
}

/// Tells the license's organization what it bought (or that its trial is
/// now paid): the purchase email, in the settling transaction's outbox.
pub(crate) async fn email_purchase_in_tx(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    brand: &Brand,
    license_id: &LicenseId,
    provider: &str,
    upgraded: bool,
    renews: bool,
) -> Result<(), LicensingError> {
    let license = view_in_tx(tx, license_id).await?;
    let link = brand.license_link(&license.id);
    let provider = match provider {
        "stripe" => "Stripe",
        "paddle" => "Paddle",
        other => other,
    }
    .to_owned();
    notify::email_organization(
        tx,
        brand,
        "license_purchased",
        license.about(),
        Audience::Everyone,
        ctx.clock.now(),
        |_| LicensePurchased {
            vendor_name: brand.vendor_name.clone(),
            license: license.summary(),
            provider: provider.clone(),
            upgraded,
            renews,
            link: link.clone(),
        },
    )
    .await?;
    Ok(())
}
