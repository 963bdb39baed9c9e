//! License and machine files for a license, signed with the active key,
//! and which key signed each (recorded with the usage batch, so that the
//! console can list the files a revoked key signed last).

use crate::domain::fingerprint::Fingerprint;
use crate::domain::id::{LicenseId, MachineId};
use crate::domain::license::{LicenseStatus, ValidationCode};
use crate::domain::license_key::LicenseKey;
use crate::domain::time::Timestamp;
use crate::services::licensing::{self, Activation, LicenseView, LicensingError};
use crate::signing::KeyRing;
use crate::signing::license_file;
use crate::store::{Db, file_signatures, machines, organizations};
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

/// A signed file, and which file of which license it is.
#[derive(Debug, Clone)]
pub struct SignedFile {
    /// The armored file.
    pub text: String,
    pub signature: FileSignature,
}

/// Which key signed which file: the license file (`machine` none) or a
/// machine's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSignature {
    pub license_id: LicenseId,
    pub machine: Option<MachineId>,
    pub kid: String,
}

/// The payload of a license file, or of a machine file when `fingerprint`
/// names an active machine of the license (whose id comes with it).
pub async fn payload(
    db: &Db,
    license_id: &LicenseId,
    fingerprint: Option<&Fingerprint>,
    now: Timestamp,
    standing: Standing,
) -> Result<(Payload, Option<MachineId>), LicensingError> {
    let license = licensing::get_license(db, license_id).await?;
    check_standing(&license, standing)?;
    let machine = match fingerprint {
        Some(fp) => Some(
            machines::find_active(db.pool(), &license.id, fp.as_str())
                .await?
                .ok_or(LicensingError::Refused {
                    code: ValidationCode::NotActivated,
                    license_id: Some(license.id.to_string()),
                })?
                .id,
        ),
        None => None,
    };
    let name = licensee_name(db, &license).await?;
    Ok((payload_of(&license, name, fingerprint, now), machine))
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
) -> Result<SignedFile, LicensingError> {
    let (payload, machine) = payload(db, license_id, fingerprint, now, standing).await?;
    let file = FileSignature {
        license_id: license_id.clone(),
        machine,
        kid: String::new(),
    };
    sign(ring, &payload, form, file)
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
) -> Result<SignedFile, LicensingError> {
    let name = licensee_name(db, &activation.license).await?;
    sign(
        ring,
        &payload_of(&activation.license, name, Some(fingerprint), now),
        form,
        FileSignature {
            license_id: activation.license.id.clone(),
            machine: Some(activation.machine.id.clone()),
            kid: String::new(),
        },
    )
}

/// Signs `payload` as `file` (whose key id is filled in here).
fn sign(
    ring: &KeyRing,
    payload: &Payload,
    form: FileForm<'_>,
    mut file: FileSignature,
) -> Result<SignedFile, LicensingError> {
    let text = match form {
        FileForm::Plain => license_file::issue(ring, payload),
        FileForm::Encrypted(key) => license_file::issue_encrypted(ring, payload, key),
    }
    .map_err(|e| LicensingError::Unexpected(e.into()))?;
    // `issue` signs with the ring's active key, or fails without one.
    ring.active_kid()
        .unwrap_or_default()
        .clone_into(&mut file.kid);
    Ok(SignedFile {
        text,
        signature: file,
    })
}

/// Records at once which key signed a file (the command line, which has no
/// usage batch).
pub async fn record(db: &Db, signature: &FileSignature, now: Timestamp) -> anyhow::Result<()> {
    let license_id = signature.license_id.to_string();
    let machine = signature
        .machine
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut tx = db.begin_write().await?;
    file_signatures::record(
        &mut tx,
        &[file_signatures::SignatureRow {
            license_id: &license_id,
            file: &machine,
            kid: &signature.kid,
            signed_at: now.unix(),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
