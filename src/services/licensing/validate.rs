//! Validation: the answer an application gets for a key.

use std::sync::Arc;

use crate::domain::fingerprint::Fingerprint;
use crate::domain::license::{self, Decision, Lookup, MachineFacts, ValidationRequest};
use crate::domain::license_key::KeyDigest;
use crate::domain::time::Timestamp;
use crate::store::Db;
use crate::store::cache::CachedLicense;
use crate::store::licenses;
use crate::store::machines;

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
        let decision = license::validate(Lookup::NotFound, None, &request, now);
        return Ok(ValidationOutcome {
            decision,
            license: None,
            machine: None,
        });
    };
    let view = LicenseView::from_cached(&state);
    let machine = input
        .fingerprint
        .as_ref()
        .and_then(|fp| state.machine(fp.as_str()))
        .map(MachineView::from);
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

/// What validation knows of the license with this key digest: from the
/// license cache, or read (on one connection) and cached. Every write
/// transaction that changes a license drops its entry (`Tx::touch_license`).
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
    let entitlements = licenses::entitlements_of_type(&mut *conn, &row.license_type_id).await?;
    let machines = machines::list_active(&mut *conn, &row.id).await?;
    drop(conn);
    Ok(Some(cache.insert(
        ticket,
        digest,
        row,
        entitlements,
        machines,
    )))
}
