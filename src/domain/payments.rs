//! Selling licenses through a payment provider: offers, the reference a
//! checkout carries back, and the provider-neutral event each provider's
//! webhook becomes (docs/payments.md).

use super::time::Timestamp;
use super::vocabulary::text_enum;

text_enum! {
    /// A payment provider Licensor takes events from.
    pub enum Provider ("a payment provider") {
        Stripe = "stripe",
        Paddle = "paddle",
    }
}

text_enum! {
    /// How an offer is paid: once, or by a subscription whose periods the
    /// license follows.
    pub enum Billing ("a billing kind") {
        OneTime = "one_time",
        Subscription = "subscription",
    }
}

text_enum! {
    /// What a refund or a chargeback does to the license it paid for.
    pub enum RefundPolicy ("a refund policy") {
        Suspend = "suspend",
        Leave = "leave",
    }
}

text_enum! {
    /// What a checkout was started for.
    pub enum CheckoutPurpose ("a checkout purpose") {
        Buy = "buy",
        Upgrade = "upgrade",
        Renew = "renew",
    }
}

text_enum! {
    /// What became of a provider event: `Received` until it is settled
    /// (a crash or a failure leaves it there, and the provider's retry
    /// applies it); `NeedsAttention` when it could not be matched.
    pub enum EventState ("a provider event state") {
        Received = "received",
        Applied = "applied",
        Ignored = "ignored",
        NeedsAttention = "needs_attention",
    }
}

/// The longest reference a checkout carries (Stripe's `client_reference_id`
/// takes 200 characters of `[A-Za-z0-9_-]`).
pub const REFERENCE_LEN: usize = 32;

/// Whether `text` has the shape of a reference Licensor made: `ref_` and
/// 28 lowercase base32 characters (140 random bits). Anything else is not
/// looked up.
pub fn is_reference(text: &str) -> bool {
    text.len() == REFERENCE_LEN
        && text.starts_with("ref_")
        && text[4..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

/// A provider's event once verified and read, in Licensor's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderEvent {
    pub provider: Provider,
    /// The provider's event id: applied once, whatever the deliveries.
    pub id: String,
    /// The provider's event type, as sent (`invoice.paid`).
    pub kind: String,
    pub change: PaymentChange,
}

/// What a provider event means for licenses.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentChange {
    /// A checkout was paid: issue, upgrade or renew, as its reference says.
    CheckoutPaid(Checkout),
    /// A subscription was paid up to `period_end`: the license it pays for
    /// runs to then (never earlier than a period end already seen).
    PeriodPaid(Period),
    /// A subscription was canceled: its license runs to its period end and
    /// is not renewed.
    SubscriptionCanceled {
        subscription: String,
        period_end: Option<Timestamp>,
    },
    /// Money went back: a full refund or a chargeback.
    Reversed(Reversal),
    /// Nothing to do, and why (an event type Licensor does not act on, a
    /// partial refund, a payment still pending).
    Ignored(String),
}

/// A paid checkout (Stripe `checkout.session.completed`, Paddle
/// `transaction.completed` of a new purchase).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checkout {
    /// The reference Licensor put on the checkout, if any.
    pub reference: Option<String>,
    /// The prices bought, when the event names them.
    pub price_ids: Vec<String>,
    /// The buyer's email, when the event carries it.
    pub email: Option<String>,
    pub subscription: Option<String>,
    /// The provider's ids of this payment (payment intent, invoice,
    /// transaction), which a later refund names.
    pub payments: Vec<String>,
    /// The end of the period paid for, when the event carries it.
    pub period_end: Option<Timestamp>,
}

/// A paid subscription period (Stripe `invoice.paid`, Paddle
/// `transaction.completed` of a renewal or `subscription.updated`).
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub subscription: String,
    pub period_end: Timestamp,
    pub price_ids: Vec<String>,
    pub email: Option<String>,
    pub payments: Vec<String>,
    /// The reference, when the provider carries it on every period
    /// (Paddle's `custom_data`).
    pub reference: Option<String>,
    /// The subscription's first period: its checkout issues the license;
    /// this only notes the period end.
    pub first: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reversal {
    pub kind: ReversalKind,
    /// The provider's ids of the payment reversed (any of them).
    pub payments: Vec<String>,
    pub subscription: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalKind {
    Refund,
    Chargeback,
}

impl ReversalKind {
    pub fn noun(self) -> &'static str {
        match self {
            ReversalKind::Refund => "refund",
            ReversalKind::Chargeback => "chargeback",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_references_of_licensors_shape_are_references() {
        assert!(is_reference("ref_abcdefghijklmnopqrstuvwxyz23"));
        assert!(!is_reference("ref_ABCDEFGHIJKLMNOPQRSTUVWXYZ23"));
        assert!(!is_reference("ref_abcdefghijklmnopqrstuvwxyz2"));
        assert!(!is_reference("org_abcdefghijklmnopqrstuvwxyz23"));
        assert!(!is_reference("ref_abcdefghijklmnopqrstuvwxy'1"));
    }

    #[test]
    fn the_vocabularies_round_trip() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse(), Ok(*p));
        }
        assert_eq!("one_time".parse(), Ok(Billing::OneTime));
        assert_eq!("leave".parse(), Ok(RefundPolicy::Leave));
        assert_eq!("renew".parse(), Ok(CheckoutPurpose::Renew));
        assert_eq!("needs_attention".parse(), Ok(EventState::NeedsAttention));
        assert!("paypal".parse::<Provider>().is_err());
    }
}
