//! The license engine's use cases: issue, validate, activate, deactivate,
//! heartbeat, suspend, reinstate, renew, revoke. Each writing use case runs
//! in one write transaction and records its audit event in it; none waits
//! on anything but the database inside it.
//!
//! One room per use case; callers name everything through this module.

mod activate;
mod activation_write;
mod audit;
mod edit;
mod error;
pub mod import;
mod issue;
mod machines;
mod notices;
mod purchase;
mod status;
mod support;
mod validate;
mod view;

pub use activate::{ActivateInput, Activation, activate};
pub(crate) use audit::record;
pub use edit::{
    Edited, LicenseEdit, MAX_METADATA_KEYS, MAX_SEATS, edit_license, is_entitlement_code,
    metadata_of,
};
pub use error::LicensingError;
pub(crate) use issue::issue_in_tx;
pub(crate) use issue::new_sealed_key;
pub use issue::{Holder, IssueRequest, Issued, issue_license, reveal_key, reveal_key_audited};
pub use machines::{
    Deactivation, Heartbeat, deactivate, deactivate_machine, heartbeat, reap_dead_machines,
};
pub use notices::welcome;
pub use purchase::{PaidTerms, PaymentNote};
pub(crate) use purchase::{
    email_purchase_in_tx, extend_to_in_tx, note_cancellation_in_tx, upgrade_in_tx,
};
pub(crate) use status::change_status_in_tx;
pub use status::{LicenseAction, Renewal, change_status, renew};
pub use support::{change_type, resend_license_email, reset_machines, transfer};
pub use validate::{ValidateInput, ValidationOutcome, validate};
pub(crate) use view::view_in_tx;
pub use view::{
    LicenseView, MachineView, active_machine, active_machines, get_license, list_licenses,
    status_reason,
};

pub use crate::store::licenses::{LicenseFilter, TrialOffer};
pub use crate::store::machines::MachineRow;
