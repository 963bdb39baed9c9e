//! Editing a license: seats, expiry, entitlements, metadata and owner, in
//! one write transaction, all checked before anything is written.

use std::collections::BTreeMap;

use anyhow::Context;
use serde_json::{Value, json};

use crate::domain::audit::EventKind;
use crate::domain::id::{LicenseId, OrganizationId};
use crate::domain::time::Timestamp;
use crate::services::context::{Brand, Ctx};
use crate::store::license_edits;
use crate::store::{Tx, licenses};

use super::audit::record;
use super::error::LicensingError;
use super::support::transfer_in_tx;
use super::view::{LicenseView, view_in_tx};

/// The most seats a license may have (as a license type).
pub const MAX_SEATS: i64 = 100_000;
/// The most metadata keys a license may hold.
pub const MAX_METADATA_KEYS: usize = 50;
const MAX_KEY_LEN: usize = 64;
const MAX_VALUE_LEN: usize = 500;

/// A change to a license; what is `None` (or empty) stays as it is.
#[derive(Debug, Default, Clone)]
pub struct LicenseEdit {
    pub max_machines: Option<i64>,
    /// `Some(None)`: it never expires.
    pub expires_at: Option<Option<Timestamp>>,
    /// The license's entitlement codes from now on (its own, no longer its
    /// type's).
    pub entitlements: Option<Vec<String>>,
    /// Keys to set (`Some`) or remove (`None`).
    pub metadata: BTreeMap<String, Option<String>>,
    /// Its new owner.
    pub organization_id: Option<OrganizationId>,
}

impl LicenseEdit {
    pub fn is_empty(&self) -> bool {
        self.max_machines.is_none()
            && self.expires_at.is_none()
            && self.entitlements.is_none()
            && self.metadata.is_empty()
            && self.organization_id.is_none()
    }
}

/// A license as an edit left it, with its metadata.
#[derive(Debug, Clone)]
pub struct Edited {
    pub license: LicenseView,
    pub metadata: BTreeMap<String, String>,
}

/// Applies an edit: refused whole, naming the field, when any part breaks
/// its rules (seats below the machines in use, an expiry in the past, an
/// unknown entitlement, a bad metadata key or value, an unknown owner).
/// Records `license.updated` with each field's before and after (and
/// `license.transferred` for a new owner), which the CRM hears of.
pub async fn edit_license(
    ctx: &Ctx<'_>,
    brand: &Brand,
    license_id: &LicenseId,
    edit: &LicenseEdit,
) -> Result<Edited, LicensingError> {
    let now = ctx.clock.now();
    check_shape(edit, now)?;
    let mut tx = ctx.db.begin_write().await?;
    let before = view_in_tx(&mut tx, license_id).await?;
    let metadata_before = license_edits::metadata(&mut *tx, license_id).await?;
    let mut changes = serde_json::Map::new();
    set_seats(&mut tx, &before, edit, now, &mut changes).await?;
    set_expiry(&mut tx, &before, edit, now, &mut changes).await?;
    set_entitlements(&mut tx, &before, edit, now, &mut changes).await?;
    let metadata = set_metadata(&mut tx, license_id, &metadata_before, edit, &mut changes).await?;
    let mut after = view_in_tx(&mut tx, license_id).await?;
    if !changes.is_empty() {
        if metadata != metadata_before && before.version == after.version {
            // Metadata alone: the row says when the license last changed.
            licenses::touch(&mut tx, license_id, now).await?;
            after = view_in_tx(&mut tx, license_id).await?;
        }
        record(
            ctx,
            &mut tx,
            EventKind::LicenseUpdated,
            &after,
            json!({ "changes": changes, "before": before.snapshot(), "after": after.snapshot() }),
        )
        .await?;
    }
    if let Some(owner) = &edit.organization_id
        && after.organization_id.as_ref() != Some(owner)
    {
        after = transfer_in_tx(ctx, brand, &mut tx, after, owner).await?;
    }
    tx.commit().await.context("committing the license edit")?;
    if !changes.is_empty() {
        tracing::info!(license_id = %license_id, fields = ?changes.keys().collect::<Vec<_>>(), "license edited");
    }
    Ok(Edited {
        license: after,
        metadata,
    })
}

/// The rules a field keeps whatever the license: checked before the
/// transaction.
fn check_shape(edit: &LicenseEdit, now: Timestamp) -> Result<(), LicensingError> {
    if let Some(seats) = edit.max_machines
        && !(1..=MAX_SEATS).contains(&seats)
    {
        return Err(LicensingError::field(
            "max_machines",
            format!("must be from 1 to {MAX_SEATS}"),
        ));
    }
    if let Some(Some(at)) = edit.expires_at
        && at <= now
    {
        return Err(LicensingError::field(
            "expires_at",
            "is in the past: give a later date, or null for a license that never expires",
        ));
    }
    if let Some(codes) = &edit.entitlements
        && let Some(bad) = codes.iter().find(|c| !is_entitlement_code(c))
    {
        return Err(LicensingError::field(
            "entitlements",
            format!("{bad:?} is not an entitlement code"),
        ));
    }
    for (key, value) in &edit.metadata {
        if let Some(problem) = metadata_problem(key, value.as_deref().unwrap_or_default()) {
            return Err(LicensingError::field("metadata", problem));
        }
    }
    Ok(())
}

/// What is wrong with a metadata key and value, if anything.
pub fn metadata_problem(key: &str, value: &str) -> Option<String> {
    if !is_metadata_key(key) {
        return Some(format!(
            "{key:?}: a key is 1 to {MAX_KEY_LEN} letters, digits and . _ -"
        ));
    }
    if value.chars().count() > MAX_VALUE_LEN || value.chars().any(char::is_control) {
        return Some(format!(
            "{key}: a value is at most {MAX_VALUE_LEN} characters, none a control character"
        ));
    }
    None
}

pub fn is_entitlement_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn is_metadata_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn change(changes: &mut serde_json::Map<String, Value>, field: &str, before: Value, after: Value) {
    if before != after {
        changes.insert(
            field.to_owned(),
            json!({ "before": before, "after": after }),
        );
    }
}

async fn set_seats(
    tx: &mut Tx,
    before: &LicenseView,
    edit: &LicenseEdit,
    now: Timestamp,
    changes: &mut serde_json::Map<String, Value>,
) -> Result<(), LicensingError> {
    let Some(seats) = edit.max_machines.filter(|s| *s != before.max_machines) else {
        return Ok(());
    };
    if !license_edits::set_max_machines(tx, &before.id, seats, now).await? {
        let extra = before.machines_used - seats;
        return Err(LicensingError::field(
            "max_machines",
            format!(
                "{} machines are active: deactivate {extra} of them before lowering the seats to {seats}",
                before.machines_used
            ),
        ));
    }
    change(
        changes,
        "max_machines",
        json!(before.max_machines),
        json!(seats),
    );
    Ok(())
}

async fn set_expiry(
    tx: &mut Tx,
    before: &LicenseView,
    edit: &LicenseEdit,
    now: Timestamp,
    changes: &mut serde_json::Map<String, Value>,
) -> Result<(), LicensingError> {
    let Some(expires_at) = edit.expires_at.filter(|at| *at != before.expires_at) else {
        return Ok(());
    };
    licenses::set_expiry(tx, &before.id, expires_at, now).await?;
    change(
        changes,
        "expires_at",
        json!(before.expires_at.map(Timestamp::unix)),
        json!(expires_at.map(Timestamp::unix)),
    );
    Ok(())
}

async fn set_entitlements(
    tx: &mut Tx,
    before: &LicenseView,
    edit: &LicenseEdit,
    now: Timestamp,
    changes: &mut serde_json::Map<String, Value>,
) -> Result<(), LicensingError> {
    let Some(codes) = &edit.entitlements else {
        return Ok(());
    };
    let mut codes = codes.clone();
    codes.sort();
    codes.dedup();
    if codes == before.entitlements {
        return Ok(());
    }
    let unknown = license_edits::unknown_entitlements(tx, &codes).await?;
    if !unknown.is_empty() {
        return Err(LicensingError::field(
            "entitlements",
            format!(
                "no entitlement is called {}; the entitlements are those of the license types",
                unknown.join(", ")
            ),
        ));
    }
    license_edits::set_own_entitlements(tx, &before.id, &codes, now).await?;
    change(
        changes,
        "entitlements",
        json!(before.entitlements),
        json!(codes),
    );
    Ok(())
}

async fn set_metadata(
    tx: &mut Tx,
    license_id: &LicenseId,
    before: &BTreeMap<String, String>,
    edit: &LicenseEdit,
    changes: &mut serde_json::Map<String, Value>,
) -> Result<BTreeMap<String, String>, LicensingError> {
    let mut after = before.clone();
    for (key, value) in &edit.metadata {
        match value {
            Some(value) => after.insert(key.clone(), value.clone()),
            None => after.remove(key),
        };
    }
    if after == *before {
        return Ok(after);
    }
    if after.len() > MAX_METADATA_KEYS {
        return Err(LicensingError::field(
            "metadata",
            format!("a license holds at most {MAX_METADATA_KEYS} keys"),
        ));
    }
    license_edits::patch_metadata(tx, license_id, &edit.metadata).await?;
    change(changes, "metadata", json!(before), json!(after));
    Ok(after)
}

/// A license's metadata.
pub async fn metadata_of(
    db: &crate::store::Db,
    license_id: &LicenseId,
) -> Result<BTreeMap<String, String>, LicensingError> {
    Ok(license_edits::metadata(db.pool(), license_id).await?)
}
