//! License and machine files for a license, signed with the active key.

use crate::domain::fingerprint::Fingerprint;
use crate::domain::id::LicenseId;
use crate::domain::license::{LicenseStatus, ValidationCode};
use crate::domain::license_key::LicenseKey;
use crate::domain::time::Timestamp;
use crate::services::licensing::{self, Activation, LicenseView, LicensingError};
use crate::signing::KeyRing;
use crate::signing::license_file;
use crate::store::{Db, machines, organizations};
use crate::verify::{Licensee, Payload};

/// Whether a file may be signed for a license that is not in good standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Only an active license gets a new file (the portal, the API, the
    /// CLI's default): a suspended or revoked one is refused.
    Required,
    /// The vendor's operator asked for it anyway (`license export --force`).
    Overridden,
}

/// Refuses a new signed file for a suspended or revoked license: a file
/// says "valid" offline until its own expiry, so none is made while the
/// license is not in good standing. Files issued before keep their expiry.
fn check_standing(license: &LicenseView, standing: Standing) -> Result<(), LicensingError> {
    let code = match license.status {
        LicenseStatus::Active => return Ok(()),
        LicenseStatus::Suspended => ValidationCode::Suspended,
        LicenseStatus::Revoked => ValidationCode::Revoked,
    };
    match standing {
        Standing::Overridden => Ok(()),
        Standing::Required => Err(LicensingError::Refused {
            code,
            license_id: Some(license.id.to_string()),
        }),
    }
}

/// The payload of a license file, or of a machine file when `fingerprint`
/// names an active machine of the license.
pub async fn payload(
    db: &Db,
    license_id: &LicenseId,
    fingerprint: Option<&Fingerprint>,
    now: Timestamp,
    standing: Standing,
) -> Result<Payload, LicensingError> {
    let license = licensing::get_license(db, license_id).await?;
    check_standing(&license, standing)?;
    if let Some(fp) = fingerprint {
        machines::find_active(db.pool(), &license.id, fp.as_str())
            .await?
            .ok_or(LicensingError::Refused {
                code: ValidationCode::NotActivated,
                license_id: Some(license.id.to_string()),
            })?;
    }
    let name = licensee_name(db, &license).await?;
    Ok(payload_of(&license, name, fingerprint, now))
}

/// The name of the organization holding the license, if one does.
async fn licensee_name(db: &Db, license: &LicenseView) -> Result<Option<String>, LicensingError> {
    Ok(match license.organization_id.as_deref() {
        Some(id) => organizations::find_by_id(db.pool(), id)
            .await?
            .map(|o| o.name),
        None => None,
    })
}

/// The payload for `license` as it stands, for a machine file when
/// `fingerprint` is given (an active machine of the license).
fn payload_of(
    license: &LicenseView,
    licensee_name: Option<String>,
    fingerprint: Option<&Fingerprint>,
    now: Timestamp,
) -> Payload {
    let (kind, valid_until) = match fingerprint {
        None => ("license", None),
        Some(_) => (
            "machine",
            Some(now.plus_days(license.offline_checkin_days).unix()),
        ),
    };
    Payload {
        kind: kind.to_owned(),
        license_id: license.id.to_string(),
        product: license.product_code.clone(),
        license_type: license.license_type_name.clone(),
        licensee: Licensee {
            organization_id: license.organization_id.as_ref().map(ToString::to_string),
            name: licensee_name,
            email: license.assigned_email.clone(),
        },
        entitlements: license.entitlements.clone(),
        max_machines: license.max_machines,
        issued_at: license.issued_at.unix(),
        expires_at: license.expires_at.map(Timestamp::unix),
        grace_days: license.grace_days,
        file_issued_at: now.unix(),
        fingerprint: fingerprint.map(|fp| fp.as_str().to_owned()),
        valid_until,
    }
}

/// Whether a file's payload is readable by anyone or sealed with the
/// license's key (docs/license-file.md, "Encrypted files").
#[derive(Debug, Clone, Copy)]
pub enum FileForm<'a> {
    Plain,
    Encrypted(&'a LicenseKey),
}

/// The armored, signed file.
pub async fn file(
    db: &Db,
    ring: &KeyRing,
    license_id: &LicenseId,
    fingerprint: Option<&Fingerprint>,
    now: Timestamp,
    form: FileForm<'_>,
    standing: Standing,
) -> Result<String, LicensingError> {
    let payload = payload(db, license_id, fingerprint, now, standing).await?;
    sign(ring, &payload, form)
}

/// The machine file an activation answers with, from the license and
/// machine it just wrote or found active (no second read of either).
pub async fn activation_file(
    db: &Db,
    ring: &KeyRing,
    activation: &Activation,
    fingerprint: &Fingerprint,
    now: Timestamp,
    form: FileForm<'_>,
) -> Result<String, LicensingError> {
    let name = licensee_name(db, &activation.license).await?;
    sign(
        ring,
        &payload_of(&activation.license, name, Some(fingerprint), now),
        form,
    )
}

fn sign(ring: &KeyRing, payload: &Payload, form: FileForm<'_>) -> Result<String, LicensingError> {
    match form {
        FileForm::Plain => license_file::issue(ring, payload),
        FileForm::Encrypted(key) => license_file::issue_encrypted(ring, payload, key),
    }
    .map_err(|e| LicensingError::Unexpected(e.into()))
}
