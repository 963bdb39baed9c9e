//! An activation's writes under the write lock, batched with others.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::audit::WebhookEvent;
use crate::domain::id::{LicenseId, MachineId};
use crate::domain::license_key::KeyDigest;
use crate::domain::time::Timestamp;
use crate::mail::templates::MachineActivated;
use crate::services::context::{Brand, Ctx};
use crate::services::notify;
use crate::services::webhooks;
use crate::store::Tx;
use crate::store::batch::{BatchError, WriteBatch};
use crate::store::events::{self, NewEvent};
use crate::store::licenses;
use crate::store::machines::{self, MachineRow};

use super::activate::{
    ActivateInput, Activation, Listeners, Seat, expiry_on_activation, seat_under_lock,
};
use super::audit::{event_about, publish_event};
use super::error::LicensingError;
use super::view::LicenseView;

/// An activation's writes, given what was read before the write lock.
pub(super) struct ActivationWrite<'a> {
    pub(super) ctx: &'a Ctx<'a>,
    pub(super) brand: &'a Brand,
    pub(super) key: &'a KeyDigest,
    pub(super) input: &'a ActivateInput,
    /// The license as read before the lock (not refused, fingerprint not
    /// active).
    pub(super) seen: &'a LicenseView,
    pub(super) listeners: &'a Listeners,
    pub(super) now: Timestamp,
}

impl ActivationWrite<'_> {
    /// In the open write batch (on its thread); alone if another
    /// activation of the batch failed and rolled it back.
    pub(super) async fn in_batch(
        &self,
        batch: &Arc<WriteBatch>,
    ) -> Result<Activation, LicensingError> {
        let mut slot = batch.join(self.ctx.db).await?;
        match self.run(&mut slot).await {
            // A refusal here was decided on reads and wrote nothing. Both
            // are answered after the batch commits: they may rest on the
            // writes of the batch's other activations.
            result @ (Ok(_) | Err(LicensingError::Refused { .. })) => match slot.finish().await {
                Ok(()) => return result,
                Err(BatchError::Retry) => {}
                Err(BatchError::Database(e)) => {
                    return Err(anyhow::Error::new(e)
                        .context("committing the activation")
                        .into());
                }
            },
            // Half written: dropping the slot rolls the batch back.
            Err(e) => return Err(e),
        }
        self.alone().await
    }

    /// On a write transaction of its own.
    pub(super) async fn alone(&self) -> Result<Activation, LicensingError> {
        let mut tx = self.ctx.db.begin_write().await?;
        let activation = self.run(&mut tx).await?;
        tx.commit().await.context("committing the activation")?;
        Ok(activation)
    }

    async fn run(&self, tx: &mut Tx) -> Result<Activation, LicensingError> {
        let (seen, now) = (self.seen, self.now);
        // First try: the seat, machine and event in one statement, taken
        // only while the license is still the version read, so every check
        // made on it still holds. A floating license frees its dead
        // machines' seats first, which the second path does.
        if !seen.floating {
            let first_for_customer = self.first_for_customer(tx, seen).await?;
            let expires = expiry_on_activation(seen, now);
            // What the seat UPDATE leaves of the license read.
            let after = after_seat(
                seen,
                licenses::SeatTaken {
                    machines_used: seen.machines_used + 1,
                    expires_at: seen.expires_at.or(expires).map(Timestamp::unix),
                    version: seen.version + 1,
                },
                now,
            );
            let machine = self.new_machine(&seen.id);
            let event = event_about(
                self.ctx,
                EventKind::LicenseActivated,
                &after,
                activated_data(&machine, seen, &after),
            );
            let taken = licenses::take_seat_for_machine(
                tx,
                seen.version,
                expires,
                &machine.as_new(),
                &event,
                now,
            )
            .await
            .map_err(conflict_if_duplicate)?;
            if taken {
                return self
                    .announce(tx, &event, &after, machine, first_for_customer)
                    .await;
            }
        }
        // It changed (or may free seats): decide again under the lock.
        let (license, seat) = match seat_under_lock(tx, self.key, self.input, now).await? {
            Seat::Taken(license, seat) => (license, seat),
            Seat::AlreadyActive(license, machine) => {
                return Ok(Activation {
                    license,
                    machine: machine.into(),
                    created: false,
                    first_for_customer: false,
                });
            }
        };
        let first_for_customer = self.first_for_customer(tx, &license).await?;
        let machine = self.new_machine(&license.id);
        machines::insert(tx, &machine.as_new(), now)
            .await
            .map_err(conflict_if_duplicate)?;
        let after = after_seat(&license, seat, now);
        let event = event_about(
            self.ctx,
            EventKind::LicenseActivated,
            &after,
            activated_data(&machine, &license, &after),
        );
        events::insert(tx, now, &event)
            .await
            .context("recording license.activated")?;
        self.announce(tx, &event, &after, machine, first_for_customer)
            .await
    }

    /// Before the machine row exists: is this the customer's first machine
    /// ever?
    async fn first_for_customer(
        &self,
        tx: &mut Tx,
        license: &LicenseView,
    ) -> Result<bool, LicensingError> {
        Ok(match license.organization_id.as_deref() {
            Some(org) if !self.listeners.customer_activated => {
                !licenses::organization_has_activated(&mut **tx, org).await?
            }
            _ => false,
        })
    }

    /// The machine row the activation writes.
    fn new_machine(&self, license_id: &LicenseId) -> MachineRow {
        let input = self.input;
        MachineRow {
            id: MachineId::new(),
            license_id: license_id.clone(),
            fingerprint: input.fingerprint.as_str().to_owned(),
            name: input.name.clone(),
            platform: input.platform.clone(),
            ip: input.ip.clone(),
            activated_at: self.now.unix(),
            last_heartbeat_at: self.now.unix(),
            deactivated_at: None,
            deactivated_by: None,
        }
    }

    /// After the seat, machine and event: the CRM's webhooks and the
    /// members' security notice, in the same transaction.
    async fn announce(
        &self,
        tx: &mut Tx,
        event: &NewEvent<'_>,
        after: &LicenseView,
        machine: MachineRow,
        first_for_customer: bool,
    ) -> Result<Activation, LicensingError> {
        let (ctx, brand, now) = (self.ctx, self.brand, self.now);
        let endpoints = &self.listeners.endpoints;
        publish_event(ctx, tx, endpoints, event, after).await?;
        if first_for_customer {
            webhooks::publish_to(
                tx,
                endpoints,
                WebhookEvent::OnboardingCompleted,
                (after.organization_id.as_deref(), Some(&after.id)),
                json!({ "organization_id": after.organization_id,
                        "license": after.webhook_data(),
                        "machine": { "id": machine.id, "fingerprint": machine.fingerprint } }),
                now,
            )
            .await?;
        }
        // A security notice: every member hears of a new machine on their
        // key.
        let link = brand.license_link(&after.id);
        notify::email_recipients(
            tx,
            brand,
            "machine_activated",
            after.about(),
            &self.listeners.recipients,
            now,
            |_| MachineActivated {
                vendor_name: brand.vendor_name.clone(),
                license: after.summary(),
                machine_name: machine
                    .name
                    .clone()
                    .unwrap_or_else(|| "(unnamed)".to_owned()),
                platform: machine
                    .platform
                    .clone()
                    .unwrap_or_else(|| "(not given)".to_owned()),
                activated_at: now.to_utc_string(),
                seats_used: after.machines_used,
                link: link.clone(),
            },
        )
        .await?;
        Ok(Activation {
            license: after.clone(),
            machine: machine.into(),
            created: true,
            first_for_customer,
        })
    }
}

/// The license as a seat UPDATE left it (what reading it again would give).
pub(super) fn after_seat(
    license: &LicenseView,
    seat: licenses::SeatTaken,
    now: Timestamp,
) -> LicenseView {
    LicenseView {
        machines_used: seat.machines_used,
        expires_at: seat.expires_at.map(Timestamp::from_unix),
        version: seat.version,
        updated_at: now,
        ..license.clone()
    }
}

/// What `license.activated` records.
pub(super) fn activated_data(
    machine: &MachineRow,
    before: &LicenseView,
    after: &LicenseView,
) -> serde_json::Value {
    json!({
        "machine_id": machine.id,
        "fingerprint": machine.fingerprint,
        "before": before.snapshot(),
        "after": after.snapshot(),
    })
}

/// A second machine row for a live fingerprint: a concurrent activation of
/// the same machine won.
pub(super) fn conflict_if_duplicate(e: sqlx::Error) -> LicensingError {
    if e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
    {
        LicensingError::Conflict("fingerprint activated concurrently".to_owned())
    } else {
        e.into()
    }
}
