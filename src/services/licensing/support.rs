//! What support does to a license: type changes, transfers, resets, resends.

use crate::domain::id::LicenseId;

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::machine::DeactivatedBy;
use crate::mail::templates::StandingChange;
use crate::services::context::{Brand, Ctx};
use crate::store::Tx;
use crate::store::licenses;
use crate::store::machines;
use crate::store::{license_types, organizations};

use super::audit::record;
use super::error::LicensingError;
use super::machines::deactivate_machine;
use super::status::email_standing;
use super::view::{LicenseView, view_in_tx};

/// Moves a license to another type of the same product: its rules and seat
/// count follow the new type, its key, expiry and machines stay. Refused
/// when the active machines would not fit.
pub async fn change_type(
    ctx: &Ctx<'_>,
    license_id: &LicenseId,
    license_type_id: &str,
) -> Result<LicenseView, LicensingError> {
    let now = ctx.clock.now();
    let target = license_types::find_by_id(ctx.db.pool(), license_type_id)
        .await?
        .filter(|t| t.retired_at.is_none())
        .ok_or(LicensingError::NotFound("license type"))?;
    let mut tx = ctx.db.begin_write().await?;
    let before = view_in_tx(&mut tx, license_id).await?;
    if before.product_id != target.product_id {
        return Err(LicensingError::Invalid(
            "the new license type is for another product".to_owned(),
        ));
    }
    if before.license_type_id == target.id {
        return Err(LicensingError::Conflict(
            "the license already has this type".to_owned(),
        ));
    }
    if !licenses::set_type(&mut tx, license_id, &target.id, target.max_machines, now).await? {
        return Err(LicensingError::Conflict(format!(
            "{} machines are active and the new type allows {}; deactivate some first",
            before.machines_used, target.max_machines
        )));
    }
    let after = view_in_tx(&mut tx, license_id).await?;
    record(
        ctx,
        &mut tx,
        EventKind::LicenseTypeChanged,
        &after,
        json!({ "before": before.snapshot(), "after": after.snapshot(),
                "from_type": before.license_type_id, "to_type": after.license_type_id }),
    )
    .await?;
    tx.commit().await.context("committing the type change")?;
    Ok(after)
}

/// Gives a license to another organization (or to one for the first time,
/// for a license waiting to be claimed). Its machines stay until someone
/// deactivates them. A trial moves only to an organization without a trial
/// of the product.
pub async fn transfer(
    ctx: &Ctx<'_>,
    brand: &Brand,
    license_id: &LicenseId,
    organization_id: &str,
) -> Result<LicenseView, LicensingError> {
    let mut tx = ctx.db.begin_write().await?;
    let before = view_in_tx(&mut tx, license_id).await?;
    if before.organization_id.as_deref() == Some(organization_id) {
        return Err(LicensingError::Conflict(
            "the license already belongs to this organization".to_owned(),
        ));
    }
    let after = transfer_in_tx(ctx, brand, &mut tx, before, organization_id).await?;
    tx.commit().await.context("committing the transfer")?;
    Ok(after)
}

/// [`transfer`] inside a write transaction: `before` is the license as the
/// transaction sees it.
pub(super) async fn transfer_in_tx(
    ctx: &Ctx<'_>,
    brand: &Brand,
    tx: &mut Tx,
    before: LicenseView,
    organization_id: &str,
) -> Result<LicenseView, LicensingError> {
    let now = ctx.clock.now();
    organizations::find_by_id(&mut **tx, organization_id)
        .await?
        .ok_or_else(|| LicensingError::field("organization_id", "no such organization"))?;
    let license_id = &before.id;
    match licenses::set_organization(tx, license_id, organization_id, now).await {
        Ok(true) => {}
        Ok(false) => return Err(LicensingError::NotFound("license")),
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            return Err(LicensingError::Conflict(
                "that organization already has a trial of this product".to_owned(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let after = view_in_tx(tx, license_id).await?;
    record(
        ctx,
        tx,
        EventKind::LicenseTransferred,
        &after,
        json!({ "before": before.snapshot(), "after": after.snapshot(),
                "from_organization": before.organization_id, "to_organization": organization_id }),
    )
    .await?;
    email_standing(
        tx,
        brand,
        &before,
        StandingChange::TransferredAway,
        ctx.reason.as_deref(),
        now,
    )
    .await?;
    super::notices::welcome(tx, brand, &after, now).await?;
    Ok(after)
}

/// Deactivates every active machine of a license (support's "reset"), so
/// the customer can activate afresh. Returns how many were freed.
pub async fn reset_machines(
    ctx: &Ctx<'_>,
    license_id: &LicenseId,
) -> Result<usize, LicensingError> {
    let active = machines::list_active(ctx.db.pool(), license_id, i64::MAX).await?;
    let mut freed = 0;
    for machine in active {
        match deactivate_machine(ctx, license_id, &machine.id, DeactivatedBy::Staff).await {
            Ok(_) => freed += 1,
            // Deactivated meanwhile by someone else: nothing to do.
            Err(LicensingError::NotFound(_) | LicensingError::Refused { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(freed)
}

/// Sends the license's details (the welcome message) again to its
/// organization's members. Returns how many messages were queued.
pub async fn resend_license_email(
    ctx: &Ctx<'_>,
    brand: &Brand,
    license_id: &LicenseId,
) -> Result<usize, LicensingError> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let license = view_in_tx(&mut tx, license_id).await?;
    let sent = if license.organization_id.is_some() {
        super::notices::welcome(&mut tx, brand, &license, now).await?
    } else {
        super::notices::tell_assignee(&mut tx, brand, &license, now).await?
    };
    record(
        ctx,
        &mut tx,
        EventKind::LicenseEmailResent,
        &license,
        json!({ "messages": sent }),
    )
    .await?;
    tx.commit().await.context("committing the resend")?;
    Ok(sent)
}
