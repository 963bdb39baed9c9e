//! Paddle Billing: the `Paddle-Signature` scheme (`ts=` and one or more
//! `h1=`, an HMAC-SHA256 of `ts:body`) and the events Licensor acts on,
//! read into a [`ProviderEvent`]. Licensor's reference travels in the
//! checkout's `custom_data.licensor_reference`, which Paddle copies to the
//! subscription and its later transactions.

use serde_json::Value;

use super::read::{ReadError, envelope, payments, str_at, strings, time_at};
use super::signature::Scheme;
use crate::domain::payments::{
    Checkout, PaymentChange, Period, Provider, ProviderEvent, Reversal, ReversalKind,
};

pub const SCHEME: Scheme = Scheme {
    header: "Paddle-Signature",
    separator: ';',
    timestamp: "ts",
    signature: "h1",
    joiner: b":",
};

/// The `custom_data` key of Licensor's reference.
pub const REFERENCE_KEY: &str = "licensor_reference";

/// Reads a verified body.
pub fn read(body: &[u8]) -> Result<ProviderEvent, ReadError> {
    let (event, id, kind) = envelope(body, "event_id", "event_type")?;
    let data = &event["data"];
    if !data.is_object() {
        return Err(ReadError::Malformed("data is missing"));
    }
    let change = match kind.as_str() {
        "transaction.completed" => transaction_completed(data)?,
        "subscription.updated" => subscription_updated(data),
        "subscription.canceled" => PaymentChange::SubscriptionCanceled {
            subscription: str_at(data, &["id"])
                .ok_or(ReadError::Malformed("the subscription has no id"))?
                .to_owned(),
            period_end: time_at(data, &["current_billing_period", "ends_at"])
                .or_else(|| time_at(data, &["canceled_at"])),
        },
        "adjustment.created" | "adjustment.updated" => adjustment(data),
        other => PaymentChange::Ignored(format!("Licensor does not act on {other} events")),
    };
    Ok(ProviderEvent {
        provider: Provider::Paddle,
        id,
        kind,
        change,
    })
}

fn reference(data: &Value) -> Option<String> {
    str_at(data, &["custom_data", REFERENCE_KEY]).map(str::to_owned)
}

fn price_ids(data: &Value) -> Vec<String> {
    data["items"]
        .as_array()
        .map(|items| strings(items, &["price", "id"]))
        .unwrap_or_default()
}

/// A new purchase (origin `web` or `api`) is a checkout; a subscription's
/// later transactions (origin `subscription_recurring` and the like) pay a
/// period.
fn transaction_completed(data: &Value) -> Result<PaymentChange, ReadError> {
    let subscription = str_at(data, &["subscription_id"]).map(str::to_owned);
    let period_end = time_at(data, &["billing_period", "ends_at"]);
    let renewal = str_at(data, &["origin"]).is_some_and(|o| o.starts_with("subscription_"));
    let payments = payments(data, &[&["id"]]);
    match (subscription, renewal) {
        (Some(subscription), true) => Ok(PaymentChange::PeriodPaid(Period {
            subscription,
            period_end: period_end.ok_or(ReadError::Malformed(
                "a subscription's transaction has no billing_period",
            ))?,
            price_ids: price_ids(data),
            email: None,
            payments,
            reference: reference(data),
            first: false,
        })),
        (subscription, _) => Ok(PaymentChange::CheckoutPaid(Checkout {
            reference: reference(data),
            price_ids: price_ids(data),
            email: None,
            subscription,
            payments,
            period_end,
        })),
    }
}

/// An active subscription's current period is paid up to its end; other
/// states (past due, paused, a cancellation scheduled) move nothing.
fn subscription_updated(data: &Value) -> PaymentChange {
    let (Some(subscription), Some("active"), Some(period_end)) = (
        str_at(data, &["id"]),
        str_at(data, &["status"]),
        time_at(data, &["current_billing_period", "ends_at"]),
    ) else {
        return PaymentChange::Ignored(
            "only an active subscription's period moves a license".to_owned(),
        );
    };
    PaymentChange::PeriodPaid(Period {
        subscription: subscription.to_owned(),
        period_end,
        price_ids: price_ids(data),
        email: None,
        payments: Vec::new(),
        reference: reference(data),
        first: false,
    })
}

/// Refunds are approved before they happen (adjustment.updated brings the
/// approval); chargebacks arrive decided.
fn adjustment(data: &Value) -> PaymentChange {
    let kind = match (str_at(data, &["action"]), str_at(data, &["status"])) {
        (Some("chargeback"), _) => ReversalKind::Chargeback,
        (Some("refund"), Some("approved")) => ReversalKind::Refund,
        (Some("refund"), _) => {
            return PaymentChange::Ignored(
                "a refund not yet approved; its approval (adjustment.updated) decides".to_owned(),
            );
        }
        (action, _) => {
            return PaymentChange::Ignored(format!(
                "Licensor does not act on {} adjustments",
                action.unwrap_or("unnamed")
            ));
        }
    };
    if kind == ReversalKind::Refund && str_at(data, &["type"]) == Some("partial") {
        return PaymentChange::Ignored("a partial refund leaves the license as it is".to_owned());
    }
    PaymentChange::Reversed(Reversal {
        kind,
        payments: payments(data, &[&["transaction_id"]]),
        subscription: str_at(data, &["subscription_id"]).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(kind: &str, data: Value) -> PaymentChange {
        let event = json!({ "event_id": "evt_1", "event_type": kind, "data": data });
        read(event.to_string().as_bytes()).unwrap().change
    }

    #[test]
    fn only_an_active_subscription_moves_a_period() {
        let period = json!({ "ends_at": "2027-01-01T00:00:00.000Z" });
        let active = change(
            "subscription.updated",
            json!({ "id": "sub_1", "status": "active", "current_billing_period": period }),
        );
        assert!(matches!(active, PaymentChange::PeriodPaid(_)), "{active:?}");
        let past_due = change(
            "subscription.updated",
            json!({ "id": "sub_1", "status": "past_due", "current_billing_period": period }),
        );
        assert!(
            matches!(past_due, PaymentChange::Ignored(_)),
            "{past_due:?}"
        );
    }

    #[test]
    fn refunds_count_once_approved_and_in_full() {
        let base = |status: &str, kind: &str| {
            change(
                "adjustment.updated",
                json!({ "action": "refund", "status": status, "type": kind, "transaction_id": "txn_1" }),
            )
        };
        assert!(matches!(
            base("pending_approval", "full"),
            PaymentChange::Ignored(_)
        ));
        assert!(matches!(
            base("approved", "partial"),
            PaymentChange::Ignored(_)
        ));
        assert!(matches!(
            base("approved", "full"),
            PaymentChange::Reversed(_)
        ));
        let credit = change(
            "adjustment.created",
            json!({ "action": "credit", "status": "approved" }),
        );
        assert!(matches!(credit, PaymentChange::Ignored(_)));
    }

    #[test]
    fn a_new_transaction_is_a_checkout_and_a_recurring_one_needs_its_period() {
        let new = change(
            "transaction.completed",
            json!({ "id": "txn_1", "origin": "web", "subscription_id": "sub_1",
                    "custom_data": { "licensor_reference": "ref_x" },
                    "billing_period": { "ends_at": "2027-01-01T00:00:00Z" } }),
        );
        let PaymentChange::CheckoutPaid(checkout) = new else {
            panic!("{new:?}")
        };
        assert_eq!(checkout.reference.as_deref(), Some("ref_x"));
        assert_eq!(checkout.payments, ["txn_1"]);
        let no_period = read(
            json!({ "event_id": "evt_2", "event_type": "transaction.completed",
                    "data": { "id": "txn_2", "origin": "subscription_recurring", "subscription_id": "sub_1" } })
            .to_string()
            .as_bytes(),
        );
        assert_eq!(no_period.unwrap_err().code(), "malformed_event");
    }
}
