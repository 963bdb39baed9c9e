//! Licenses: their statuses, how their expiry is counted, the validation
//! codes, and (in `decision`) the deterministic validation decision.
//!
//! [`validate`] is a pure function of the license as stored, the machine
//! the request names, the request and the time. It runs the checks in one
//! fixed order and returns exactly one [`ValidationCode`], together with
//! every check it ran and what it saw, so support can be shown why.

use std::fmt;

use super::vocabulary::text_enum;

mod decision;

pub use decision::{
    Check, Decision, LicenseFacts, Lookup, MachineFacts, ValidationRequest, activation_refusal,
    expiry_state, validate,
};

pub const SECS_PER_DAY: i64 = 86_400;

text_enum! {
    /// Whether a license may be used at all (expiry is counted apart).
    pub enum LicenseStatus ("a license status") {
        Active = "active",
        Suspended = "suspended",
        Revoked = "revoked",
    }
}

text_enum! {
    /// When a license's duration starts counting.
    pub enum ExpiryFrom ("an expiry start") {
        Issue = "issue",
        FirstActivation = "first_activation",
    }
}

/// The result codes of validation: a public contract, in check order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidationCode {
    MalformedKey,
    NotFound,
    ProductMismatch,
    Revoked,
    Suspended,
    Expired,
    FingerprintRequired,
    NotActivated,
    HeartbeatDead,
    EntitlementMissing,
    Valid,
    /// Not a validation outcome: the refusal of an activation.
    TooManyMachines,
}

impl ValidationCode {
    /// Every validation outcome, in the order the checks run.
    pub const ORDER: [ValidationCode; 11] = [
        ValidationCode::MalformedKey,
        ValidationCode::NotFound,
        ValidationCode::ProductMismatch,
        ValidationCode::Revoked,
        ValidationCode::Suspended,
        ValidationCode::Expired,
        ValidationCode::FingerprintRequired,
        ValidationCode::NotActivated,
        ValidationCode::HeartbeatDead,
        ValidationCode::EntitlementMissing,
        ValidationCode::Valid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::MalformedKey => "MALFORMED_KEY",
            ValidationCode::NotFound => "NOT_FOUND",
            ValidationCode::ProductMismatch => "PRODUCT_MISMATCH",
            ValidationCode::Revoked => "REVOKED",
            ValidationCode::Suspended => "SUSPENDED",
            ValidationCode::Expired => "EXPIRED",
            ValidationCode::FingerprintRequired => "FINGERPRINT_REQUIRED",
            ValidationCode::NotActivated => "NOT_ACTIVATED",
            ValidationCode::HeartbeatDead => "HEARTBEAT_DEAD",
            ValidationCode::EntitlementMissing => "ENTITLEMENT_MISSING",
            ValidationCode::Valid => "VALID",
            ValidationCode::TooManyMachines => "TOO_MANY_MACHINES",
        }
    }

    /// A sentence for a person.
    pub fn detail(self) -> &'static str {
        match self {
            ValidationCode::MalformedKey => {
                "The license key is not well formed; it may have been mistyped."
            }
            ValidationCode::NotFound => "No license has this key.",
            ValidationCode::ProductMismatch => "This license is for another product.",
            ValidationCode::Revoked => "This license has been revoked.",
            ValidationCode::Suspended => "This license is suspended.",
            ValidationCode::Expired => "This license has expired.",
            ValidationCode::FingerprintRequired => {
                "This license is bound to machines; the request must name the machine's fingerprint."
            }
            ValidationCode::NotActivated => "This machine is not activated for this license.",
            ValidationCode::HeartbeatDead => {
                "This machine stopped sending heartbeats and its seat was released."
            }
            ValidationCode::EntitlementMissing => {
                "This license does not include a feature that was asked for."
            }
            ValidationCode::Valid => "The license is valid.",
            ValidationCode::TooManyMachines => {
                "Every seat of this license is in use; deactivate a machine first."
            }
        }
    }
}

impl fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
