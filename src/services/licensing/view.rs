//! What callers see of a license and its machines, and reading them.

use crate::domain::license_key::masked;
use crate::mail::templates::LicenseSummary;
use crate::services::notify::About;
use serde_json::json;

use crate::domain::id::{LicenseId, LicenseTypeId, MachineId, OrganizationId, ProductId};
use crate::domain::license::{self, ExpiryFrom, LicenseFacts, LicenseStatus};
use crate::domain::time::Timestamp;
use crate::store::cache::CachedLicense;
use crate::store::license_edits;
use crate::store::licenses::{self, LicenseRow};
use crate::store::machines::{self, MachineRow};
use crate::store::{Db, Tx};

use super::error::LicensingError;

/// A license as every caller sees it (never the key, only its last four).
#[derive(Debug, Clone)]
pub struct LicenseView {
    pub id: LicenseId,
    pub key_last4: String,
    pub product_id: ProductId,
    pub product_code: String,
    pub product_name: String,
    pub license_type_id: LicenseTypeId,
    pub license_type_name: String,
    pub organization_id: Option<OrganizationId>,
    pub assigned_email: Option<String>,
    pub status: LicenseStatus,
    pub is_trial: bool,
    pub max_machines: i64,
    pub machines_used: i64,
    pub issued_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub grace_days: i64,
    pub floating: bool,
    pub heartbeat_window_secs: Option<i64>,
    pub offline_checkin_days: i64,
    pub duration_days: Option<i64>,
    pub expiry_from: ExpiryFrom,
    pub customer_may_deactivate: bool,
    pub deactivation_limit: Option<i64>,
    pub deactivation_period_days: Option<i64>,
    pub entitlements: Vec<String>,
    pub updated_at: Timestamp,
    /// When a validation first answered VALID (written by the usage batch).
    pub first_validated_at: Option<Timestamp>,
    /// Raised by every change to the license's row.
    pub version: i64,
}

impl LicenseView {
    pub(super) fn from_row(row: LicenseRow, entitlements: Vec<String>) -> Self {
        Self {
            id: row.id,
            key_last4: row.key_last4,
            product_id: row.product_id,
            product_code: row.product_code,
            product_name: row.product_name,
            license_type_id: row.license_type_id,
            license_type_name: row.license_type_name,
            organization_id: row.organization_id,
            assigned_email: row.assigned_email,
            status: row.status,
            is_trial: row.is_trial == 1,
            max_machines: row.max_machines,
            machines_used: row.machines_used,
            issued_at: Timestamp::from_unix(row.issued_at),
            expires_at: row.expires_at.map(Timestamp::from_unix),
            grace_days: row.grace_days,
            floating: row.floating == 1,
            heartbeat_window_secs: row.heartbeat_window_secs,
            offline_checkin_days: row.offline_checkin_days,
            duration_days: row.duration_days,
            expiry_from: row.expiry_from,
            customer_may_deactivate: row.customer_may_deactivate == 1,
            deactivation_limit: row.deactivation_limit,
            deactivation_period_days: row.deactivation_period_days,
            entitlements,
            updated_at: Timestamp::from_unix(row.updated_at),
            first_validated_at: row.first_validated_at.map(Timestamp::from_unix),
            version: row.version,
        }
    }

    /// The license as the validation cache holds it, without a row in
    /// between.
    pub(super) fn from_cached(state: &CachedLicense) -> Self {
        let p = state.parts();
        Self {
            id: LicenseId::from_stored(p.id),
            key_last4: p.key_last4.to_owned(),
            product_id: ProductId::from_stored(p.product_id.to_owned()),
            product_code: p.product_code.to_owned(),
            product_name: p.product_name.to_owned(),
            license_type_id: LicenseTypeId::from_stored(p.license_type_id.to_owned()),
            license_type_name: p.license_type_name.to_owned(),
            organization_id: p.organization_id.map(OrganizationId::from_stored),
            assigned_email: p.assigned_email.map(str::to_owned),
            status: p.status,
            is_trial: p.is_trial,
            max_machines: p.max_machines,
            machines_used: p.machines_used,
            issued_at: Timestamp::from_unix(p.issued_at),
            expires_at: p.expires_at.map(Timestamp::from_unix),
            grace_days: p.grace_days,
            floating: p.floating,
            heartbeat_window_secs: p.heartbeat_window_secs,
            offline_checkin_days: p.offline_checkin_days,
            duration_days: p.duration_days,
            expiry_from: p.expiry_from,
            customer_may_deactivate: p.customer_may_deactivate,
            deactivation_limit: p.deactivation_limit,
            deactivation_period_days: p.deactivation_period_days,
            entitlements: p.entitlements.to_vec(),
            updated_at: Timestamp::from_unix(p.updated_at),
            first_validated_at: p.first_validated_at.map(Timestamp::from_unix),
            version: p.version,
        }
    }

    pub fn facts(&self) -> LicenseFacts<'_> {
        LicenseFacts {
            product_code: &self.product_code,
            status: self.status,
            expires_at: self.expires_at,
            grace_days: self.grace_days,
            floating: self.floating,
            heartbeat_window_secs: self.heartbeat_window_secs,
            entitlements: &self.entitlements,
        }
    }

    /// Expired past grace at `now`, or in grace.
    pub fn expiry_state(&self, now: Timestamp) -> (bool, bool) {
        license::expiry_state(self.expires_at, self.grace_days, now)
    }

    /// Who a message about this license is about (its organization, if
    /// it has one yet, and itself).
    pub fn about(&self) -> About<'_> {
        About {
            organization_id: self.organization_id.as_deref(),
            license_id: Some(&self.id),
        }
    }

    /// What a license message shows about the license: never the full key.
    pub fn summary(&self) -> LicenseSummary {
        LicenseSummary {
            product_name: self.product_name.clone(),
            license_type_name: self.license_type_name.clone(),
            key_masked: masked(&self.key_last4),
            expires: self
                .expires_at
                .map_or_else(|| "never".to_owned(), Timestamp::to_date_string),
            max_machines: self.max_machines,
            entitlements: self.entitlements.join(", "),
        }
    }

    /// The license as webhook payloads describe it (never the key, only
    /// its last four characters).
    pub fn webhook_data(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "key_last4": self.key_last4,
            "product": self.product_code,
            "license_type": self.license_type_name,
            "license_type_id": self.license_type_id,
            "organization_id": self.organization_id,
            "assigned_email": self.assigned_email,
            "status": self.status.as_str(),
            "is_trial": self.is_trial,
            "max_machines": self.max_machines,
            "machines_used": self.machines_used,
            "issued_at": self.issued_at.unix(),
            "expires_at": self.expires_at.map(Timestamp::unix),
        })
    }

    pub(super) fn snapshot(&self) -> serde_json::Value {
        json!({
            "status": self.status.as_str(),
            "expires_at": self.expires_at.map(Timestamp::unix),
            "max_machines": self.max_machines,
            "machines_used": self.machines_used,
        })
    }
}

/// A machine as callers see it.
#[derive(Debug, Clone)]
pub struct MachineView {
    pub id: MachineId,
    pub fingerprint: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub activated_at: Timestamp,
    pub last_heartbeat_at: Timestamp,
    pub deactivated_at: Option<Timestamp>,
}

impl From<MachineRow> for MachineView {
    fn from(row: MachineRow) -> Self {
        Self {
            id: row.id,
            fingerprint: row.fingerprint,
            name: row.name,
            platform: row.platform,
            activated_at: Timestamp::from_unix(row.activated_at),
            last_heartbeat_at: Timestamp::from_unix(row.last_heartbeat_at),
            deactivated_at: row.deactivated_at.map(Timestamp::from_unix),
        }
    }
}

pub(super) async fn load_view<'e, E>(
    exec: E,
    row: LicenseRow,
) -> Result<LicenseView, LicensingError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let entitlements = if row.own_entitlements == 1 {
        license_edits::own_entitlements(exec, &row.id).await?
    } else {
        licenses::entitlements_of_type(exec, &row.license_type_id).await?
    };
    Ok(LicenseView::from_row(row, entitlements))
}

/// The license with this id as it stands inside the transaction.
pub(crate) async fn view_in_tx(tx: &mut Tx, id: &LicenseId) -> Result<LicenseView, LicensingError> {
    let row = licenses::find_by_id(&mut **tx, id)
        .await?
        .ok_or(LicensingError::NotFound("license"))?;
    load_view(&mut **tx, row).await
}

pub async fn get_license(db: &Db, id: &LicenseId) -> Result<LicenseView, LicensingError> {
    let row = licenses::find_by_id(db.pool(), id)
        .await?
        .ok_or(LicensingError::NotFound("license"))?;
    load_view(db.pool(), row).await
}

pub async fn list_licenses(
    db: &Db,
    filter: &licenses::LicenseFilter,
    limit: i64,
) -> Result<Vec<LicenseView>, LicensingError> {
    let rows = licenses::list(db.pool(), filter, limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(load_view(db.pool(), row).await?);
    }
    Ok(out)
}

/// A license's live machines, oldest first: at most `limit`.
pub async fn active_machines(
    db: &Db,
    license_id: &LicenseId,
    limit: i64,
) -> Result<Vec<MachineView>, LicensingError> {
    Ok(machines::list_active(db.pool(), license_id, limit)
        .await?
        .into_iter()
        .map(MachineView::from)
        .collect())
}

/// Why a license was last suspended or revoked, as staff wrote it.
/// The live machine with this id on this license.
pub async fn active_machine(
    db: &Db,
    license_id: &LicenseId,
    machine_id: &MachineId,
) -> Result<Option<MachineView>, LicensingError> {
    Ok(
        machines::find_active_by_id(db.pool(), license_id, machine_id)
            .await?
            .map(MachineView::from),
    )
}

pub async fn status_reason(db: &Db, license_id: &LicenseId) -> anyhow::Result<Option<String>> {
    Ok(licenses::status_reason(db.pool(), license_id).await?)
}
