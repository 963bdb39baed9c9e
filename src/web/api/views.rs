//! The JSON shapes the API answers with. Times are unix seconds (UTC).

use serde::Serialize;

use crate::domain::license::ValidationCode;
use crate::domain::time::Timestamp;
use crate::services::catalog::{LicenseTypeRow, ProductRow};
use crate::services::licensing::{LicenseView, MachineView};
use crate::web::layout::Site;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductRef {
    pub id: String,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TypeRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LicenseJson {
    pub id: String,
    /// The key is never returned after creation; this is its last four.
    pub key_last4: String,
    pub product: ProductRef,
    pub license_type: TypeRef,
    pub organization_id: Option<String>,
    pub assigned_email: Option<String>,
    /// active, suspended or revoked.
    #[schema(value_type = String)]
    pub status: &'static str,
    pub trial: bool,
    pub max_machines: i64,
    pub machines_used: i64,
    pub floating: bool,
    pub heartbeat_window_secs: Option<i64>,
    pub entitlements: Vec<String>,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub grace_days: i64,
    pub in_grace: bool,
    pub expired: bool,
}

impl LicenseJson {
    pub fn new(l: &LicenseView, now: Timestamp) -> Self {
        Self::from_view(l.clone(), now)
    }

    /// [`new`](Self::new) without copying: the validation answer's way.
    pub fn from_view(l: LicenseView, now: Timestamp) -> Self {
        let (expired, in_grace) = l.expiry_state(now);
        Self {
            id: l.id.into(),
            key_last4: l.key_last4,
            product: ProductRef {
                id: l.product_id.into(),
                code: l.product_code,
                name: l.product_name,
            },
            license_type: TypeRef {
                id: l.license_type_id.into(),
                name: l.license_type_name,
            },
            organization_id: l.organization_id.map(String::from),
            assigned_email: l.assigned_email,
            status: l.status.as_str(),
            trial: l.is_trial,
            max_machines: l.max_machines,
            machines_used: l.machines_used,
            floating: l.floating,
            heartbeat_window_secs: l.heartbeat_window_secs,
            entitlements: l.entitlements,
            issued_at: l.issued_at.unix(),
            expires_at: l.expires_at.map(Timestamp::unix),
            grace_days: l.grace_days,
            in_grace,
            expired,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MachineJson {
    pub id: String,
    pub fingerprint: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub activated_at: i64,
    pub last_heartbeat_at: i64,
    pub deactivated_at: Option<i64>,
}

impl From<&MachineView> for MachineJson {
    fn from(m: &MachineView) -> Self {
        Self {
            id: m.id.to_string(),
            fingerprint: m.fingerprint.clone(),
            name: m.name.clone(),
            platform: m.platform.clone(),
            activated_at: m.activated_at.unix(),
            last_heartbeat_at: m.last_heartbeat_at.unix(),
            deactivated_at: m.deactivated_at.map(Timestamp::unix),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductJson {
    pub id: String,
    pub code: String,
    pub name: String,
    pub description: String,
    pub activation_instructions: String,
    pub download_url: Option<String>,
    pub retired: bool,
    pub created_at: i64,
}

impl From<ProductRow> for ProductJson {
    fn from(p: ProductRow) -> Self {
        Self {
            id: p.id,
            code: p.code,
            name: p.name,
            description: p.description,
            activation_instructions: p.activation_instructions,
            download_url: p.download_url,
            retired: p.retired_at.is_some(),
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LicenseTypeJson {
    pub id: String,
    pub product_id: String,
    pub name: String,
    pub duration_days: Option<i64>,
    pub max_machines: i64,
    pub floating: bool,
    pub heartbeat_window_secs: Option<i64>,
    pub grace_days: i64,
    pub self_service_trial: bool,
    pub customer_may_deactivate: bool,
    pub deactivation_limit: Option<i64>,
    pub deactivation_period_days: Option<i64>,
    pub expiry_from: &'static str,
    pub offline_checkin_days: i64,
    pub entitlements: Vec<String>,
    pub retired: bool,
    pub created_at: i64,
}

impl LicenseTypeJson {
    pub fn new(t: LicenseTypeRow, entitlements: Vec<String>) -> Self {
        Self {
            id: t.id,
            product_id: t.product_id,
            name: t.name,
            duration_days: t.duration_days,
            max_machines: t.max_machines,
            floating: t.floating == 1,
            heartbeat_window_secs: t.heartbeat_window_secs,
            grace_days: t.grace_days,
            self_service_trial: t.self_service_trial == 1,
            customer_may_deactivate: t.customer_may_deactivate == 1,
            deactivation_limit: t.deactivation_limit,
            deactivation_period_days: t.deactivation_period_days,
            expiry_from: t.expiry_from.as_str(),
            offline_checkin_days: t.offline_checkin_days,
            entitlements,
            retired: t.retired_at.is_some(),
            created_at: t.created_at,
        }
    }
}

/// What an application should show its user to fix a refusal.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct NextAction {
    pub message: String,
    pub url: Option<String>,
}

/// The next action for a code; `license_id` when the key was found.
pub fn next_action(
    code: ValidationCode,
    license_id: Option<&str>,
    site: &Site,
) -> Option<NextAction> {
    use ValidationCode as C;
    let home = site.public_url.to_string();
    let license_page = license_id.map(|id| format!("{home}licenses/{id}"));
    let vendor = &site.vendor_name;
    let (message, url) = match code {
        C::Valid => return None,
        C::MalformedKey => (
            "Check the license key for typos: it has 25 letters and digits in five groups."
                .to_owned(),
            None,
        ),
        C::NotFound => (
            format!("Check the license key, or get one from {vendor}."),
            Some(home),
        ),
        C::ProductMismatch => (
            "This key belongs to another product; enter the key for this product.".to_owned(),
            license_page,
        ),
        C::Revoked => (
            format!("This license was revoked. Contact {vendor} support."),
            Some(home),
        ),
        C::Suspended => (
            format!("This license is suspended. Contact {vendor} support to reinstate it."),
            license_page,
        ),
        C::Expired => (
            "Renew the license to keep using the product.".to_owned(),
            license_id.map(|id| format!("{home}licenses/{id}/renew")),
        ),
        C::FingerprintRequired => (
            "The application must send this machine's fingerprint; update the application."
                .to_owned(),
            None,
        ),
        C::NotActivated => (
            "Activate this machine with your license key.".to_owned(),
            license_page,
        ),
        C::HeartbeatDead => (
            "This machine lost its seat after missing heartbeats; activate it again.".to_owned(),
            license_page,
        ),
        C::EntitlementMissing => (
            "Your license does not include this feature; upgrade the license to use it.".to_owned(),
            license_page,
        ),
        C::TooManyMachines => (
            "Every seat is in use. Deactivate a machine you no longer use, then try again."
                .to_owned(),
            license_page,
        ),
    };
    Some(NextAction { message, url })
}
