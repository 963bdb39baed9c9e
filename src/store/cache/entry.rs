//! A cache entry: what validation needs of one license, held compactly.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use crate::domain::id::{LicenseId, MachineId};
use crate::domain::license::{ExpiryFrom, LicenseStatus};
use crate::store::licenses::LicenseRow;
use crate::store::machines::MachineRow;

/// A key's SHA-256, the cache's key.
pub type Digest = [u8; 32];

/// What every license of one type shares: its product and type columns
/// and entitlements, held once however many of its licenses are cached.
#[derive(Debug)]
pub(super) struct TypeState {
    product_id: String,
    product_code: String,
    product_name: String,
    license_type_id: String,
    license_type_name: String,
    duration_days: Option<i64>,
    floating: i64,
    heartbeat_window_secs: Option<i64>,
    grace_days: i64,
    customer_may_deactivate: i64,
    deactivation_limit: Option<i64>,
    deactivation_period_days: Option<i64>,
    expiry_from: ExpiryFrom,
    offline_checkin_days: i64,
    entitlements: Vec<String>,
}

/// An id held in 16 bytes when it is a canonical (lower-case, hyphenated)
/// UUID, as every id Licensor issues is; as text otherwise. Reads back
/// exactly as stored either way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum CompactId {
    Uuid([u8; 16]),
    Text(Box<str>),
}

impl CompactId {
    pub(super) fn new(id: &str) -> Self {
        match uuid::Uuid::try_parse(id) {
            Ok(u) if u.hyphenated().encode_lower(&mut [0u8; 36]) == id => {
                CompactId::Uuid(u.into_bytes())
            }
            _ => CompactId::Text(id.into()),
        }
    }

    pub(super) fn to_text(&self) -> String {
        match self {
            CompactId::Uuid(bytes) => {
                let mut buf = [0u8; 36];
                String::from(
                    &*uuid::Uuid::from_bytes(*bytes)
                        .hyphenated()
                        .encode_lower(&mut buf),
                )
            }
            CompactId::Text(text) => String::from(&**text),
        }
    }
}

/// A live machine, without what validation never reads.
#[derive(Debug)]
pub(super) struct MachineState {
    pub(super) id: CompactId,
    pub(super) fingerprint: Box<str>,
    name: Option<Box<str>>,
    platform: Option<Box<str>>,
    activated_at: i64,
    last_heartbeat_at: i64,
}

impl MachineState {
    pub(super) fn new(m: &MachineRow) -> Self {
        Self {
            id: CompactId::new(&m.id),
            fingerprint: m.fingerprint.as_str().into(),
            name: m.name.as_deref().map(Into::into),
            platform: m.platform.as_deref().map(Into::into),
            activated_at: m.activated_at,
            last_heartbeat_at: m.last_heartbeat_at,
        }
    }

    /// The machine's row (what validation reads of it), on `license`.
    pub(super) fn row(&self, license: &CompactId) -> MachineRow {
        MachineRow {
            id: MachineId::from_stored(self.id.to_text()),
            license_id: LicenseId::from_stored(license.to_text()),
            fingerprint: String::from(&*self.fingerprint),
            name: self.name.as_deref().map(str::to_owned),
            platform: self.platform.as_deref().map(str::to_owned),
            ip: None,
            activated_at: self.activated_at,
            last_heartbeat_at: self.last_heartbeat_at,
            deactivated_at: None,
            deactivated_by: None,
        }
    }
}

/// What validation needs of one license, compact: a cache of 100,000
/// licenses should stay well inside the server's memory budget.
#[derive(Debug)]
pub struct CachedLicense {
    pub(super) id: CompactId,
    key_last4: Box<str>,
    organization_id: Option<CompactId>,
    assigned_email: Option<Box<str>>,
    status: LicenseStatus,
    is_trial: i64,
    max_machines: i64,
    machines_used: i64,
    issued_at: i64,
    expires_at: Option<i64>,
    /// 0 until known: the usage batch writer records it in place after
    /// it marks the license (no invalidation, no second read).
    pub(super) first_validated_at: AtomicI64,
    version: i64,
    updated_at: i64,
    pub(super) kind: Arc<TypeState>,
    /// Its live machines when it has at most [`HELD_MACHINES`](super::HELD_MACHINES);
    /// `None` for a larger license, whose machines are looked up one
    /// fingerprint at a time (`LicenseCache::machine`).
    pub(super) machines: Option<Box<[MachineState]>>,
    /// Entitlements of its own, when it has them instead of its type's.
    own_entitlements: Option<Box<[String]>>,
    pub(super) filled: Instant,
}

impl CachedLicense {
    pub(super) fn new(
        row: LicenseRow,
        kind: Arc<TypeState>,
        own_entitlements: Option<Vec<String>>,
        machines: LiveMachines,
    ) -> Self {
        let machines = match machines {
            LiveMachines::All(rows) => Some(rows.iter().map(MachineState::new).collect()),
            LiveMachines::TooMany => None,
        };
        Self {
            id: CompactId::new(&row.id),
            key_last4: row.key_last4.into(),
            organization_id: row.organization_id.as_deref().map(CompactId::new),
            assigned_email: row.assigned_email.map(Into::into),
            status: row.status,
            is_trial: row.is_trial,
            max_machines: row.max_machines,
            machines_used: row.machines_used,
            issued_at: row.issued_at,
            expires_at: row.expires_at,
            first_validated_at: AtomicI64::new(row.first_validated_at.unwrap_or(0)),
            version: row.version,
            updated_at: row.updated_at,
            kind,
            machines,
            own_entitlements: own_entitlements.map(Vec::into_boxed_slice),
            filled: Instant::now(),
        }
    }

    /// The license's id.
    pub fn id(&self) -> String {
        self.id.to_text()
    }

    /// What the entry holds, borrowed: the answer to a validation is built
    /// from it directly.
    pub fn parts(&self) -> CachedParts<'_> {
        let k = &self.kind;
        CachedParts {
            id: self.id.to_text(),
            key_last4: &self.key_last4,
            product_id: &k.product_id,
            product_code: &k.product_code,
            product_name: &k.product_name,
            license_type_id: &k.license_type_id,
            license_type_name: &k.license_type_name,
            organization_id: self.organization_id.as_ref().map(CompactId::to_text),
            assigned_email: self.assigned_email.as_deref(),
            status: self.status,
            is_trial: self.is_trial == 1,
            max_machines: self.max_machines,
            machines_used: self.machines_used,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            first_validated_at: match self.first_validated_at.load(Ordering::Relaxed) {
                0 => None,
                at => Some(at),
            },
            version: self.version,
            updated_at: self.updated_at,
            duration_days: k.duration_days,
            floating: k.floating == 1,
            heartbeat_window_secs: k.heartbeat_window_secs,
            grace_days: k.grace_days,
            customer_may_deactivate: k.customer_may_deactivate == 1,
            deactivation_limit: k.deactivation_limit,
            deactivation_period_days: k.deactivation_period_days,
            expiry_from: k.expiry_from,
            offline_checkin_days: k.offline_checkin_days,
            entitlements: self.entitlements(),
        }
    }

    /// The license type's entitlement codes, sorted.
    pub fn entitlements(&self) -> &[String] {
        self.own_entitlements
            .as_deref()
            .unwrap_or(&self.kind.entitlements)
    }

    /// The live machine with this fingerprint, when the entry holds its
    /// license's machines: `Some(None)` when it has none by that
    /// fingerprint, `None` when the entry does not hold them.
    pub(super) fn held_machine(&self, fingerprint: &str) -> Option<Option<MachineRow>> {
        let held = self.machines.as_deref()?;
        Some(
            held.iter()
                .find(|m| &*m.fingerprint == fingerprint)
                .map(|m| m.row(&self.id)),
        )
    }
}

/// What a fill read of a license: the row, its type's entitlements, its
/// own when it has them, its live machines.
#[derive(Debug)]
pub struct Fill {
    pub row: LicenseRow,
    pub type_entitlements: Vec<String>,
    pub own_entitlements: Option<Vec<String>>,
    pub machines: LiveMachines,
}

/// What a fill read of a license's live machines.
#[derive(Debug)]
pub enum LiveMachines {
    /// All of them (at most [`HELD_MACHINES`](super::HELD_MACHINES)).
    All(Vec<MachineRow>),
    /// More than the entry holds: looked up one fingerprint at a time.
    TooMany,
}

/// A cached license's fields, borrowed where the entry holds text (ids
/// stored compactly are written out).
#[derive(Debug)]
pub struct CachedParts<'a> {
    pub id: String,
    pub key_last4: &'a str,
    pub product_id: &'a str,
    pub product_code: &'a str,
    pub product_name: &'a str,
    pub license_type_id: &'a str,
    pub license_type_name: &'a str,
    pub organization_id: Option<String>,
    pub assigned_email: Option<&'a str>,
    pub status: LicenseStatus,
    pub is_trial: bool,
    pub max_machines: i64,
    pub machines_used: i64,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub first_validated_at: Option<i64>,
    pub version: i64,
    pub updated_at: i64,
    pub duration_days: Option<i64>,
    pub floating: bool,
    pub heartbeat_window_secs: Option<i64>,
    pub grace_days: i64,
    pub customer_may_deactivate: bool,
    pub deactivation_limit: Option<i64>,
    pub deactivation_period_days: Option<i64>,
    pub expiry_from: ExpiryFrom,
    pub offline_checkin_days: i64,
    pub entitlements: &'a [String],
}

pub(super) fn type_state(row: &LicenseRow, entitlements: Vec<String>) -> TypeState {
    TypeState {
        product_id: row.product_id.to_string(),
        product_code: row.product_code.clone(),
        product_name: row.product_name.clone(),
        license_type_id: row.license_type_id.to_string(),
        license_type_name: row.license_type_name.clone(),
        duration_days: row.duration_days,
        floating: row.floating,
        heartbeat_window_secs: row.heartbeat_window_secs,
        grace_days: row.grace_days,
        customer_may_deactivate: row.customer_may_deactivate,
        deactivation_limit: row.deactivation_limit,
        deactivation_period_days: row.deactivation_period_days,
        expiry_from: row.expiry_from,
        offline_checkin_days: row.offline_checkin_days,
        entitlements,
    }
}
