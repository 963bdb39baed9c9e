//! The words of the outbox: how a message travels and where it stands.

use super::vocabulary::text_enum;

text_enum! {
    /// How a queued message is delivered.
    pub enum Channel ("an outbox channel") {
        Email = "email",
        Webhook = "webhook",
    }
}

text_enum! {
    /// Where a message stands. A queued message whose last attempt failed
    /// is still `Queued` (it will be retried); listings call it failed.
    pub enum DeliveryStatus ("a delivery status") {
        Queued = "queued",
        Sent = "sent",
        Dead = "dead",
    }
}
