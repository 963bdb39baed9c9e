//! Suspension, reinstatement, revocation and renewal.

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::id::LicenseId;
use crate::domain::license::LicenseStatus;
use crate::domain::time::Timestamp;
use crate::mail::templates::{LicenseRenewed, LicenseStandingChanged, StandingChange};
use crate::services::context::{Brand, Ctx};
use crate::services::notify::{self, Audience};
use crate::store::Tx;
use crate::store::licenses;

use super::audit::record;
use super::error::LicensingError;
use super::view::{LicenseView, view_in_tx};

/// The actions support and provisioning take on a license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseAction {
    Suspend,
    Reinstate,
    Revoke,
}

impl LicenseAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "suspend" => Some(LicenseAction::Suspend),
            "reinstate" => Some(LicenseAction::Reinstate),
            "revoke" => Some(LicenseAction::Revoke),
            _ => None,
        }
    }

    fn transition(self) -> (&'static [LicenseStatus], LicenseStatus, EventKind) {
        match self {
            LicenseAction::Suspend => (
                &[LicenseStatus::Active],
                LicenseStatus::Suspended,
                EventKind::LicenseSuspended,
            ),
            LicenseAction::Reinstate => (
                &[LicenseStatus::Suspended],
                LicenseStatus::Active,
                EventKind::LicenseReinstated,
            ),
            LicenseAction::Revoke => (
                &[LicenseStatus::Active, LicenseStatus::Suspended],
                LicenseStatus::Revoked,
                EventKind::LicenseRevoked,
            ),
        }
    }
}

/// Suspends, reinstates or revokes a license; its customers are told, with
/// the reason, which their license page shows too.
pub async fn change_status(
    ctx: &Ctx<'_>,
    brand: &Brand,
    license_id: &LicenseId,
    action: LicenseAction,
    reason: Option<&str>,
) -> Result<LicenseView, LicensingError> {
    let mut tx = ctx.db.begin_write().await?;
    let after = change_status_in_tx(ctx, &mut tx, brand, license_id, action, reason).await;
    tx.finish(after, "the status change").await
}

/// [`change_status`] inside a write transaction.
pub(crate) async fn change_status_in_tx(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    brand: &Brand,
    license_id: &LicenseId,
    action: LicenseAction,
    reason: Option<&str>,
) -> Result<LicenseView, LicensingError> {
    let now = ctx.clock.now();
    let (from, to, event) = action.transition();
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let before = view_in_tx(tx, license_id).await?;
    if !licenses::set_status(tx, license_id, from, to, reason, now).await? {
        return Err(LicensingError::Conflict(format!(
            "the license is {}; it cannot be made {}",
            before.status, to
        )));
    }
    let after = view_in_tx(tx, license_id).await?;
    record(
        ctx,
        tx,
        event,
        &after,
        json!({ "before": before.snapshot(), "after": after.snapshot(), "reason": reason }),
    )
    .await?;
    let change = match action {
        LicenseAction::Suspend => StandingChange::Suspended,
        LicenseAction::Reinstate => StandingChange::Reinstated,
        LicenseAction::Revoke => StandingChange::Revoked,
    };
    email_standing(tx, brand, &after, change, reason, now).await?;
    Ok(after)
}

/// Tells the license's organization what support changed, and why.
pub(super) async fn email_standing(
    tx: &mut Tx,
    brand: &Brand,
    license: &LicenseView,
    change: StandingChange,
    reason: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let link = brand.license_link(&license.id);
    notify::email_organization(
        tx,
        brand,
        "license_standing",
        license.about(),
        Audience::Everyone,
        now,
        |_| LicenseStandingChanged {
            vendor_name: brand.vendor_name.clone(),
            license: license.summary(),
            change,
            reason: reason.unwrap_or_default().to_owned(),
            link: link.clone(),
        },
    )
    .await
}

/// How a renewal sets the new expiry.
#[derive(Debug, Clone, Copy)]
pub enum Renewal {
    /// Adds days to the later of the current expiry and now.
    ExtendDays(i64),
    /// Sets the expiry.
    Until(Timestamp),
}

pub async fn renew(
    ctx: &Ctx<'_>,
    brand: &Brand,
    license_id: &LicenseId,
    renewal: Renewal,
    reason: Option<&str>,
) -> Result<LicenseView, LicensingError> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let before = view_in_tx(&mut tx, license_id).await?;
    if before.status == LicenseStatus::Revoked {
        return Err(LicensingError::Conflict(
            "a revoked license cannot be renewed".to_owned(),
        ));
    }
    let new_expiry = match renewal {
        Renewal::ExtendDays(days) if (1..=36_500).contains(&days) => {
            let base = before.expires_at.map_or(now, |at| at.max(now));
            base.plus_days(days)
        }
        Renewal::ExtendDays(_) => {
            return Err(LicensingError::Invalid(
                "days must be from 1 to 36500".to_owned(),
            ));
        }
        Renewal::Until(at) if at > now => at,
        Renewal::Until(_) => {
            return Err(LicensingError::Invalid(
                "expires_at must be in the future".to_owned(),
            ));
        }
    };
    let why = json!({ "reason": reason });
    let after = renew_in_tx(ctx, &mut tx, brand, before, new_expiry, why).await?;
    tx.commit().await.context("committing the renewal")?;
    Ok(after)
}

/// Sets a license's new expiry inside a write transaction, records
/// `license.renewed` with the fields of `why` (a reason, or the payment
/// that renewed it) and tells its organization. `before` is the license as the
/// transaction sees it.
pub(crate) async fn renew_in_tx(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    brand: &Brand,
    before: LicenseView,
    new_expiry: Timestamp,
    why: serde_json::Value,
) -> Result<LicenseView, LicensingError> {
    let now = ctx.clock.now();
    let license_id = &before.id;
    licenses::set_expiry(tx, license_id, Some(new_expiry), now).await?;
    let after = view_in_tx(tx, license_id).await?;
    let mut data = json!({ "before": before.snapshot(), "after": after.snapshot() });
    if let (Some(data), serde_json::Value::Object(why)) = (data.as_object_mut(), why) {
        data.extend(why);
    }
    record(ctx, tx, EventKind::LicenseRenewed, &after, data).await?;
    let link = brand.license_link(&after.id);
    notify::email_organization(
        tx,
        brand,
        "license_renewed",
        after.about(),
        Audience::Everyone,
        now,
        |_| LicenseRenewed {
            vendor_name: brand.vendor_name.clone(),
            license: after.summary(),
            previous_expiry: before
                .expires_at
                .map(Timestamp::to_date_string)
                .unwrap_or_default(),
            link: link.clone(),
        },
    )
    .await?;
    Ok(after)
}
