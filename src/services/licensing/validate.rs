//! Validation: the answer an application gets for a key.

use std::sync::Arc;

use crate::domain::fingerprint::Fingerprint;
use crate::domain::license::{self, Decision, Lookup, MachineFacts, ValidationRequest};
use crate::domain::license_key::KeyDigest;
use crate::domain::time::Timestamp;
use crate::store::Db;
use crate::store::cache::{self, CachedLicense, Fill, LiveMachines, MachineLookup};
use crate::store::license_edits;
use crate::store::licenses;
use crate::store::machines::{self, MachineRow};

use super::error::LicensingError;
use super::view::{LicenseView, MachineView};

/// A validation request as the API receives it, already shaped.
#[derive(Debug, Clone, Default)]
pub struct ValidateInput {
    /// The key's digest; `None` when the key is malformed.
    pub key: Option<KeyDigest>,
    pub fingerprint: Option<Fingerprint>,
    pub product: Option<String>,
    pub entitlements: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ValidationOutcome {
    pub decision: Decision,
    pub license: Option<LicenseView>,
    pub machine: Option<MachineView>,
}

/// The validation decision for a request, read from the database.
pub async fn validate(
    db: &Db,
    now: Timestamp,
    input: &ValidateInput,
) -> Result<ValidationOutcome, LicensingError> {
    let request = ValidationRequest {
        fingerprint: input.fingerprint.as_ref().map(Fingerprint::as_str),
        product: input.product.as_deref(),
        entitlements: &input.entitlements,
    };
    let Some(key) = &input.key else {
        let decision = license::validate(Lookup::Malformed, None, &request, now);
        return Ok(ValidationOutcome {
            decision,
            license: None,
            machine: None,
        });
    };
    let Some(state) = license_state(db, key).await? else {
        let decision = license::validate(unknown(key), None, &request, now);
        return Ok(ValidationOutcome {
            decision,
            license: None,
            machine: None,
        });
    };
    let view = LicenseView::from_cached(&state);
    let machine = match &input.fingerprint {
        Some(fp) => live_machine(db, &state, fp).await?.map(MachineView::from),
        None => None,
    };
    let facts = view.facts();
    let machine_facts = machine.as_ref().map(|m| MachineFacts {
        last_heartbeat_at: m.last_heartbeat_at,
    });
    let decision = license::validate(Lookup::Found(&facts), machine_facts.as_ref(), &request, now);
    Ok(ValidationOutcome {
        decision,
        license: Some(view),
        machine,
    })
}

/// What a key no license has is: not found, or malformed when it is not
/// ours.
pub(super) fn unknown(key: &KeyDigest) -> Lookup<'static> {
    if key.unknown_is_malformed() {
        Lookup::Malformed
    } else {
        Lookup::NotFound
    }
}

/// What validation knows of the license with this key digest: from the
/// license cache, or read (on one connection) and cached. Every write
/// transaction that changes a license drops its entry (`Tx::touch_license`).
/// The read costs the same however many machines the license has: their
/// count is a column, and only a license with at most
/// [`HELD_MACHINES`](cache::HELD_MACHINES) has them read with it.
pub(super) async fn license_state(
    db: &Db,
    key: &KeyDigest,
) -> Result<Option<Arc<CachedLicense>>, LicensingError> {
    let cache = db.license_cache();
    let digest = key.bytes();
    if let Some(state) = cache.get(digest) {
        return Ok(Some(state));
    }
    let ticket = cache.ticket();
    let mut conn = db.pool().acquire().await?;
    let Some(row) = licenses::find_by_digest(&mut *conn, &key.hex()).await? else {
        return Ok(None);
    };
    let type_entitlements =
        licenses::entitlements_of_type(&mut *conn, &row.license_type_id).await?;
    let own_entitlements = if row.own_entitlements == 1 {
        Some(license_edits::own_entitlements(&mut *conn, &row.id).await?)
    } else {
        None
    };
    let machines = if row.machines_used <= cache::HELD_MACHINES {
        // One more than held: the count may have been edited by hand.
        let live = machines::list_active(&mut *conn, &row.id, cache::HELD_MACHINES + 1).await?;
        match i64::try_from(live.len()) {
            Ok(n) if n <= cache::HELD_MACHINES => LiveMachines::All(live),
            _ => LiveMachines::TooMany,
        }
    } else {
        LiveMachines::TooMany
    };
    drop(conn);
    let fill = Fill {
        row,
        type_entitlements,
        own_entitlements,
        machines,
    };
    Ok(Some(cache.insert(ticket, digest, fill)))
}

/// The live machine of the cached license with this fingerprint: from the
/// cache, or one indexed lookup (then cached).
pub(super) async fn live_machine(
    db: &Db,
    license: &CachedLicense,
    fingerprint: &Fingerprint,
) -> Result<Option<MachineRow>, LicensingError> {
    let cache = db.license_cache();
    match cache.machine(license, fingerprint.as_str()) {
        MachineLookup::Known(machine) => Ok(machine),
        MachineLookup::Unknown(ticket) => {
            let found =
                machines::find_active(db.pool(), &license.id(), fingerprint.as_str()).await?;
            cache.insert_machine(ticket, license, fingerprint.as_str(), found.as_ref());
            Ok(found)
        }
    }
}
