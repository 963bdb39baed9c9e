//! Activation: a machine takes a seat, or is found holding one.

use std::sync::Arc;

use anyhow::Context;
use tracing::Instrument;

use crate::clock::ManualClock;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::license::{self, ExpiryFrom, Lookup, ValidationCode};
use crate::domain::license_key::KeyDigest;
use crate::domain::time::Timestamp;
use crate::services::context::{Brand, Ctx};
use crate::store::licenses;
use crate::store::machines::{self, MachineRow};
use crate::store::users;
use crate::store::webhooks::{self as store_webhooks, EndpointRow};
use crate::store::{Db, Tx};

use super::activation_write::ActivationWrite;
use super::error::LicensingError;
use super::machines::reap_dead_seats;
use super::validate::{license_state, live_machine};
use super::view::{LicenseView, MachineView, load_view};

#[derive(Debug, Clone)]
pub struct ActivateInput {
    /// The key's digest; `None` when the key is malformed.
    pub key: Option<KeyDigest>,
    pub fingerprint: Fingerprint,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub ip: Option<String>,
    pub product: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Activation {
    pub license: LicenseView,
    pub machine: MachineView,
    /// False when the fingerprint was already active (no seat taken).
    pub created: bool,
    /// The customer's first activation ever: onboarding completed.
    pub first_for_customer: bool,
}

/// The key a request named, or its refusal as malformed.
pub(super) fn named_key(key: Option<&KeyDigest>) -> Result<&KeyDigest, LicensingError> {
    key.ok_or(LicensingError::refused(ValidationCode::MalformedKey))
}

/// The refusal of a key no license has.
pub(super) fn unknown_code(key: &KeyDigest) -> ValidationCode {
    if key.unknown_is_malformed() {
        ValidationCode::MalformedKey
    } else {
        ValidationCode::NotFound
    }
}

pub(super) async fn license_in_tx(
    tx: &mut Tx,
    key: &KeyDigest,
) -> Result<LicenseView, LicensingError> {
    let row = licenses::find_by_digest(&mut **tx, &key.hex())
        .await?
        .ok_or(LicensingError::refused(unknown_code(key)))?;
    load_view(&mut **tx, row).await
}

/// Activates a machine. Idempotent per fingerprint: an already active
/// fingerprint returns its machine and takes no second seat.
pub async fn activate(
    ctx: &Ctx<'_>,
    brand: &Brand,
    input: &ActivateInput,
) -> Result<Activation, LicensingError> {
    let key = named_key(input.key.as_ref())?;
    match activate_once(ctx, brand, key, input).await {
        // A concurrent activation of the same fingerprint won the unique
        // index; it holds the seat, so answer with its machine.
        Err(LicensingError::Conflict(_)) => {
            let row = licenses::find_by_digest(ctx.db.pool(), &key.hex())
                .await?
                .ok_or(LicensingError::refused(unknown_code(key)))?;
            let license = load_view(ctx.db.pool(), row).await?;
            let machine =
                machines::find_active(ctx.db.pool(), &license.id, input.fingerprint.as_str())
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the concurrent activation disappeared"))?;
            Ok(Activation {
                license,
                machine: machine.into(),
                created: false,
                first_for_customer: false,
            })
        }
        other => other,
    }
}

/// Why this license cannot take this activation, if it cannot.
pub(super) fn activation_refusal(
    license: &LicenseView,
    input: &ActivateInput,
    now: Timestamp,
) -> Option<ValidationCode> {
    license::activation_refusal(
        Lookup::Found(&license.facts()),
        input.product.as_deref(),
        now,
    )
}

/// The expiry a first activation sets, for terms that start then.
pub(super) fn expiry_on_activation(license: &LicenseView, now: Timestamp) -> Option<Timestamp> {
    match (license.expiry_from, license.duration_days) {
        (ExpiryFrom::FirstActivation, Some(days)) => Some(now.plus_days(days)),
        _ => None,
    }
}

/// What an activation found under the write lock.
pub(super) enum Seat {
    /// A seat taken on the license as it was just before.
    Taken(LicenseView, licenses::SeatTaken),
    /// The fingerprint is active already: no seat taken.
    AlreadyActive(LicenseView, MachineRow),
}

/// The activation's checks and seat, all under the write lock: the path
/// when the license changed after it was read, or is floating. A refusal
/// here has written nothing for a license that is not floating.
pub(super) async fn seat_under_lock(
    tx: &mut Tx,
    key: &KeyDigest,
    input: &ActivateInput,
    now: Timestamp,
) -> Result<Seat, LicensingError> {
    let license = license_in_tx(tx, key).await?;
    if let Some(code) = activation_refusal(&license, input, now) {
        return Err(LicensingError::refused_for(code, &license));
    }
    if let Some(existing) =
        machines::find_active(&mut **tx, &license.id, input.fingerprint.as_str()).await?
    {
        return Ok(Seat::AlreadyActive(license, existing));
    }
    reap_dead_seats(tx, &license, now).await?;
    let expires = expiry_on_activation(&license, now);
    match licenses::take_seat(tx, &license.id, now, expires).await? {
        Some(seat) => Ok(Seat::Taken(license, seat)),
        None => Err(LicensingError::refused_for(
            ValidationCode::TooManyMachines,
            &license,
        )),
    }
}

/// Who hears of an activation: read before the write lock, so that the
/// reads do not hold it. A webhook endpoint or member added while the
/// activation runs hears of the next change, not of this one.
pub(super) struct Listeners {
    pub(super) endpoints: Vec<EndpointRow>,
    /// The organization's verified members.
    pub(super) recipients: Vec<users::Recipient>,
    /// A machine of this customer was activated before (once true, it
    /// stays true); when false, the write lock checks again.
    pub(super) customer_activated: bool,
}

impl Listeners {
    async fn read(db: &Db, license: &LicenseView) -> Result<Self, LicensingError> {
        let mut conn = db.pool().acquire().await?;
        let endpoints = store_webhooks::enabled(&mut *conn).await?;
        let Some(org) = license.organization_id.as_deref() else {
            return Ok(Self {
                endpoints,
                recipients: Vec::new(),
                customer_activated: true,
            });
        };
        Ok(Self {
            endpoints,
            recipients: users::recipients(&mut *conn, org, false).await?,
            customer_activated: licenses::organization_has_activated(&mut *conn, org).await?,
        })
    }
}

/// Activates on the license as validation sees it (the cache, or one
/// read): refusals and an already active fingerprint are answered from
/// it and write nothing. Otherwise the seat is taken under the write lock,
/// on SQLite in a batch with the activations waiting for the lock at the
/// same moment (one commit for all of them, `store::batch`).
pub(super) async fn activate_once(
    ctx: &Ctx<'_>,
    brand: &Brand,
    key: &KeyDigest,
    input: &ActivateInput,
) -> Result<Activation, LicensingError> {
    let now = ctx.clock.now();
    let state = license_state(ctx.db, key)
        .await?
        .ok_or(LicensingError::refused(unknown_code(key)))?;
    let seen = LicenseView::from_cached(&state);
    if let Some(code) = activation_refusal(&seen, input, now) {
        return Err(LicensingError::refused_for(code, &seen));
    }
    if let Some(existing) = live_machine(ctx.db, &state, &input.fingerprint).await? {
        return Ok(Activation {
            license: seen,
            machine: existing.into(),
            created: false,
            first_for_customer: false,
        });
    }
    drop(state);
    let listeners = Listeners::read(ctx.db, &seen).await?;
    // A floating license frees its dead machines' seats first: writes that
    // a refusal would have to undo, which a batch cannot.
    let activation = match ctx.db.write_batch() {
        Some(writer) if !seen.floating => {
            let batch = Arc::clone(writer);
            let (db, brand, key, input) = (ctx.db.clone(), brand.clone(), *key, input.clone());
            let (actor, request_id, reason) = (
                ctx.actor.clone(),
                ctx.request_id.clone(),
                ctx.reason.clone(),
            );
            let job = async move {
                let clock = ManualClock::new(now);
                let ctx = Ctx {
                    db: &db,
                    clock: &clock,
                    actor,
                    request_id,
                    reason,
                };
                let write = ActivationWrite {
                    ctx: &ctx,
                    brand: &brand,
                    key: &key,
                    input: &input,
                    seen: &seen,
                    listeners: &listeners,
                    now,
                };
                write.in_batch(&batch).await
            };
            writer
                .spawn(job.in_current_span())
                .await
                .context("the activation's writer failed")??
        }
        _ => {
            ActivationWrite {
                ctx,
                brand,
                key,
                input,
                seen: &seen,
                listeners: &listeners,
                now,
            }
            .alone()
            .await?
        }
    };
    log_activation(&activation);
    Ok(activation)
}

pub(super) fn log_activation(activation: &Activation) {
    if activation.created {
        tracing::info!(license_id = %activation.license.id,
            machine_id = %activation.machine.id, "machine activated");
    }
}
