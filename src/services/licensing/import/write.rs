//! Writing an import's new licenses, on the import's one transaction.

use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::id::{LicenseId, new_id};
use crate::secret::DataCipher;
use crate::services::context::Ctx;
use crate::store::events::{self, NewEvent};
use crate::store::licenses::{self, NewLicense};
use crate::store::machines::{self, NewMachine};
use crate::store::webhooks as store_webhooks;
use crate::store::{Tx, license_edits};

use super::super::audit::publish_event;
use super::super::error::LicensingError;
use super::super::view::view_in_tx;
use super::check::{Holder, Planned};
use super::{ImportError, ImportedLine};

/// Inserts every planned license with its entitlements, metadata and
/// machines, and the audit event of each (and the CRM's `license.created`
/// when endpoints listen).
pub(super) async fn insert_all(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    cipher: &DataCipher,
    planned: &[&Planned],
) -> Result<Vec<ImportedLine>, ImportError> {
    let endpoints = store_webhooks::enabled(&mut **tx).await?;
    let now = ctx.clock.now();
    let mut created = Vec::with_capacity(planned.len());
    for p in planned {
        let id = LicenseId::new();
        let sealed = cipher
            .seal(p.key.canonical().as_bytes(), id.as_bytes())
            .map_err(LicensingError::from)?;
        let (organization_id, assigned_email) = match &p.holder {
            Holder::Nobody => (None, None),
            Holder::Organization(org) => (Some(org.as_str()), None),
            Holder::Email(email) => (None, Some(email.as_str())),
        };
        licenses::insert(
            tx,
            &NewLicense {
                id: &id,
                key_digest: &p.key.digest(),
                key_ciphertext: &sealed,
                key_last4: &p.key.last4(),
                product_id: &p.product_id,
                license_type_id: &p.license_type_id,
                organization_id,
                assigned_email,
                is_trial: false,
                max_machines: p.max_machines,
                issued_at: p.issued_at,
                expires_at: p.expires_at,
            },
        )
        .await
        .map_err(|e| taken_key(e, p.line))?;
        if let Some(codes) = &p.entitlements {
            license_edits::set_own_entitlements(tx, &id, codes, now).await?;
        }
        if !p.metadata.is_empty() {
            let set = p
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect();
            license_edits::patch_metadata(tx, &id, &set).await?;
        }
        seat_machines(tx, &id, p, now).await?;
        let mut event = NewEvent::new(EventKind::LicenseImported, &ctx.actor);
        event.request_id = ctx.request_id.as_deref();
        event.license_id = Some(&id);
        event.organization_id = organization_id;
        event.data = json!({
            "line": p.line,
            "key_last4": p.key.last4(),
            "license_type_id": p.license_type_id,
            "assigned_email": assigned_email,
            "max_machines": p.max_machines,
            "issued_at": p.issued_at.unix(),
            "expires_at": p.expires_at.map(|t| t.unix()),
            "entitlements": p.entitlements,
            "machines": p.machines.len(),
        });
        events::insert(tx, now, &event).await?;
        if !endpoints.is_empty() {
            let view = view_in_tx(tx, &id).await?;
            publish_event(ctx, tx, &endpoints, &event, &view).await?;
        }
        created.push(ImportedLine {
            line: p.line,
            license_id: Some(id.to_string()),
        });
    }
    Ok(created)
}

/// The row's machines, each in a seat, active from now.
async fn seat_machines(
    tx: &mut Tx,
    license_id: &LicenseId,
    p: &Planned,
    now: crate::domain::time::Timestamp,
) -> Result<(), ImportError> {
    for (fingerprint, name) in &p.machines {
        machines::insert(
            tx,
            &NewMachine {
                id: &new_id(),
                license_id,
                fingerprint: fingerprint.as_str(),
                name: name.as_deref(),
                platform: None,
                ip: None,
            },
            now,
        )
        .await?;
        licenses::take_seat(tx, license_id, now, None)
            .await?
            .ok_or_else(|| anyhow::anyhow!("line {}: no free seat for a machine", p.line))?;
    }
    Ok(())
}

/// A key another license took since the import was checked.
fn taken_key(e: sqlx::Error, line: u64) -> ImportError {
    if e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
    {
        return ImportError::Licensing(LicensingError::Conflict(format!(
            "line {line}: another import or issue took this key at the same moment; \
             nothing was imported, run the import again"
        )));
    }
    e.into()
}
