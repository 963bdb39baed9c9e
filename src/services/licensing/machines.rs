//! Machines leaving their seats: deactivation, heartbeats, the reaper.

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::id::LicenseId;
use crate::domain::id::MachineId;
use crate::domain::license::{
    self, Lookup, MachineFacts, SECS_PER_DAY, ValidationCode, ValidationRequest,
};
use crate::domain::license_key::KeyDigest;
use crate::domain::machine::DeactivatedBy;
use crate::domain::time::Timestamp;
use crate::services::context::Ctx;
use crate::store::Tx;
use crate::store::licenses;
use crate::store::machines::{self, MachineRow};

use super::activate::{license_in_tx, named_key};
use super::audit::record;
use super::error::LicensingError;
use super::view::{LicenseView, MachineView, load_view, view_in_tx};

/// Frees the seats of floating machines whose heartbeat window passed.
pub(super) async fn reap_dead_seats(
    tx: &mut Tx,
    license: &LicenseView,
    now: Timestamp,
) -> Result<i64, LicensingError> {
    let (true, Some(window)) = (license.floating, license.heartbeat_window_secs) else {
        return Ok(0);
    };
    let reaped = machines::reap_dead(tx, &license.id, now.plus_secs(-window), now).await?;
    if reaped > 0 {
        licenses::release_seats(tx, &license.id, reaped, now).await?;
    }
    Ok(reaped)
}

#[derive(Debug, Clone)]
pub struct Deactivation {
    pub license: LicenseView,
    pub machine: MachineView,
}

/// Deactivates the machine with this fingerprint, by key (the application
/// or the customer): the type must allow it, within its limit.
pub async fn deactivate(
    ctx: &Ctx<'_>,
    key: Option<&KeyDigest>,
    fingerprint: &Fingerprint,
    by: DeactivatedBy,
) -> Result<Deactivation, LicensingError> {
    let key = named_key(key)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let license = license_in_tx(&mut tx, key).await?;
    let machine = machines::find_active(&mut *tx, &license.id, fingerprint.as_str())
        .await?
        .ok_or_else(|| LicensingError::refused_for(ValidationCode::NotActivated, &license))?;
    check_self_deactivation(&mut tx, &license, by, now).await?;
    finish_deactivation(ctx, tx, license, machine, by, now).await
}

pub(super) async fn finish_deactivation(
    ctx: &Ctx<'_>,
    mut tx: Tx,
    license: LicenseView,
    machine: MachineRow,
    by: DeactivatedBy,
    now: Timestamp,
) -> Result<Deactivation, LicensingError> {
    if !machines::deactivate(&mut tx, &machine.id, by, now).await? {
        return Err(LicensingError::refused_for(
            ValidationCode::NotActivated,
            &license,
        ));
    }
    licenses::release_seats(&mut tx, &license.id, 1, now).await?;
    let after = view_in_tx(&mut tx, &license.id).await?;
    record(
        ctx,
        &mut tx,
        EventKind::LicenseDeactivated,
        &after,
        json!({
            "machine_id": machine.id,
            "fingerprint": machine.fingerprint,
            "by": by.as_str(),
            "before": license.snapshot(),
            "after": after.snapshot(),
        }),
    )
    .await?;
    tx.commit().await.context("committing the deactivation")?;
    let mut machine = MachineView::from(machine);
    machine.deactivated_at = Some(now);
    Ok(Deactivation {
        license: after,
        machine,
    })
}

/// Deactivates one machine of a license by id: by a customer in the portal
/// (the type's rules and limit apply) or by support staff (they do not).
pub async fn deactivate_machine(
    ctx: &Ctx<'_>,
    license_id: &LicenseId,
    machine_id: &MachineId,
    by: DeactivatedBy,
) -> Result<Deactivation, LicensingError> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let license = view_in_tx(&mut tx, license_id).await?;
    let machine = machines::find_active_by_id(&mut *tx, license_id, machine_id)
        .await?
        .ok_or(LicensingError::NotFound("machine"))?;
    check_self_deactivation(&mut tx, &license, by, now).await?;
    finish_deactivation(ctx, tx, license, machine, by, now).await
}

/// The type's rules for deactivations by customers and applications.
pub(super) async fn check_self_deactivation(
    tx: &mut Tx,
    license: &LicenseView,
    by: DeactivatedBy,
    now: Timestamp,
) -> Result<(), LicensingError> {
    if !matches!(by, DeactivatedBy::Customer | DeactivatedBy::Application) {
        return Ok(());
    }
    if !license.customer_may_deactivate {
        return Err(LicensingError::DeactivationNotAllowed);
    }
    if let (Some(limit), Some(period_days)) =
        (license.deactivation_limit, license.deactivation_period_days)
    {
        let since = now.plus_secs(-period_days * SECS_PER_DAY);
        let used = machines::count_self_deactivations_since(&mut **tx, &license.id, since).await?;
        if used >= limit {
            return Err(LicensingError::DeactivationLimit { limit, period_days });
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub license: LicenseView,
    pub machine: MachineView,
    /// When the next heartbeat is due at the latest (floating licenses).
    pub next_deadline: Option<Timestamp>,
}

/// Records a heartbeat. A machine already past its window has lost its
/// seat and must activate again.
pub async fn heartbeat(
    ctx: &Ctx<'_>,
    key: Option<&KeyDigest>,
    fingerprint: &Fingerprint,
) -> Result<Heartbeat, LicensingError> {
    let key = named_key(key)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let license = license_in_tx(&mut tx, key).await?;
    let facts = license.facts();
    let machine = machines::find_active(&mut *tx, &license.id, fingerprint.as_str()).await?;
    let machine_facts = machine.as_ref().map(|m| MachineFacts {
        last_heartbeat_at: Timestamp::from_unix(m.last_heartbeat_at),
    });
    let request = ValidationRequest {
        fingerprint: Some(fingerprint.as_str()),
        product: None,
        entitlements: &[],
    };
    let decision = license::validate(Lookup::Found(&facts), machine_facts.as_ref(), &request, now);
    if decision.code == ValidationCode::HeartbeatDead {
        reap_dead_seats(&mut tx, &license, now).await?;
        tx.commit().await?;
        return Err(LicensingError::refused_for(
            ValidationCode::HeartbeatDead,
            &license,
        ));
    }
    if !decision.is_valid() {
        return Err(LicensingError::refused_for(decision.code, &license));
    }
    let Some(machine) = machine else {
        return Err(LicensingError::refused_for(
            ValidationCode::NotActivated,
            &license,
        ));
    };
    machines::touch_heartbeat(&mut tx, &machine.id, now).await?;
    tx.commit().await?;
    let mut machine = MachineView::from(machine);
    machine.last_heartbeat_at = now;
    let next_deadline = match (license.floating, license.heartbeat_window_secs) {
        (true, Some(window)) => Some(now.plus_secs(window)),
        _ => None,
    };
    Ok(Heartbeat {
        license,
        machine,
        next_deadline,
    })
}

/// Frees the seats of every floating machine whose heartbeat window passed
/// (the background reaper); returns how many seats were freed.
pub async fn reap_dead_machines(ctx: &Ctx<'_>, batch: i64) -> Result<i64, LicensingError> {
    let now = ctx.clock.now();
    let mut freed = 0;
    for license_id in machines::licenses_with_dead_seats(ctx.db.pool(), now, batch).await? {
        let mut tx = ctx.db.begin_write().await?;
        let Some(row) = licenses::find_by_id(&mut *tx, &license_id).await? else {
            continue;
        };
        let before = load_view(&mut *tx, row).await?;
        let reaped = reap_dead_seats(&mut tx, &before, now).await?;
        if reaped > 0 {
            let after = view_in_tx(&mut tx, &license_id).await?;
            record(
                ctx,
                &mut tx,
                EventKind::LicenseDeactivated,
                &after,
                json!({
                    "by": DeactivatedBy::Heartbeat.as_str(),
                    "machines": reaped,
                    "before": before.snapshot(),
                    "after": after.snapshot(),
                }),
            )
            .await?;
        }
        tx.commit().await.context("committing the reaping")?;
        freed += reaped;
    }
    Ok(freed)
}
