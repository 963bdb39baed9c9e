//! The words of machines.

use super::vocabulary::text_enum;

text_enum! {
    /// Who ended an activation; customer and application deactivations
    /// count against the license type's deactivation limit.
    pub enum DeactivatedBy ("a deactivation cause") {
        Application = "application",
        Customer = "customer",
        Staff = "staff",
        Heartbeat = "heartbeat",
        /// The vendor's own systems, through a write API token.
        Vendor = "vendor",
    }
}
