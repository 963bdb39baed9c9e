//! Why a licensing use case refused, or failed.

use crate::domain::license::ValidationCode;

use super::view::LicenseView;

#[derive(Debug, thiserror::Error)]
pub enum LicensingError {
    /// The license, machine or state does not allow it; the code says why,
    /// and the license is named when the key was found.
    #[error("{}", .code.detail())]
    Refused {
        code: ValidationCode,
        license_id: Option<String>,
    },
    #[error("this license type does not let customers deactivate machines")]
    DeactivationNotAllowed,
    #[error("the deactivation limit of this license ({limit} per {period_days} days) is reached")]
    DeactivationLimit { limit: i64, period_days: i64 },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(String),
    /// One field of a change breaks its rules.
    #[error("{field}: {detail}")]
    InvalidField { field: &'static str, detail: String },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl LicensingError {
    /// The stable code of a refusal, as the API answers it and the metrics
    /// and statistics count it.
    pub fn outcome_code(&self) -> &'static str {
        match self {
            LicensingError::Refused { code, .. } => code.as_str(),
            LicensingError::DeactivationNotAllowed => "DEACTIVATION_NOT_ALLOWED",
            LicensingError::DeactivationLimit { .. } => "DEACTIVATION_LIMIT_REACHED",
            LicensingError::NotFound(_) => "NOT_FOUND",
            LicensingError::Invalid(_) | LicensingError::InvalidField { .. } => "INVALID",
            LicensingError::Conflict(_) => "CONFLICT",
            LicensingError::Unexpected(_) => "ERROR",
        }
    }

    /// The license a refusal is about, when the key was found.
    pub fn license_id(&self) -> Option<&str> {
        match self {
            LicensingError::Refused { license_id, .. } => license_id.as_deref(),
            _ => None,
        }
    }

    pub(super) fn field(field: &'static str, detail: impl Into<String>) -> Self {
        LicensingError::InvalidField {
            field,
            detail: detail.into(),
        }
    }

    pub(super) fn refused(code: ValidationCode) -> Self {
        LicensingError::Refused {
            code,
            license_id: None,
        }
    }

    pub(super) fn refused_for(code: ValidationCode, license: &LicenseView) -> Self {
        LicensingError::Refused {
            code,
            license_id: Some(license.id.to_string()),
        }
    }
}

impl From<sqlx::Error> for LicensingError {
    fn from(e: sqlx::Error) -> Self {
        LicensingError::Unexpected(e.into())
    }
}
