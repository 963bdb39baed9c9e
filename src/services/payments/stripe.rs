//! Stripe: the `Stripe-Signature` scheme (`t=` and one or more `v1=`, an
//! HMAC-SHA256 of `t.body`) and the events Licensor acts on, read into a
//! [`ProviderEvent`]. Field paths follow Stripe's API reference, the older
//! (`invoice.subscription`, `subscription.current_period_end`) and the
//! newer (`invoice.parent.subscription_details`, the items' period ends)
//! shapes alike.

use serde_json::Value;

use super::read::{ReadError, envelope, payments, str_at, strings, time_at};
use super::signature::Scheme;
use crate::domain::payments::{
    Checkout, PaymentChange, Period, Provider, ProviderEvent, Reversal, ReversalKind,
};

pub const SCHEME: Scheme = Scheme {
    header: "Stripe-Signature",
    separator: ',',
    timestamp: "t",
    signature: "v1",
    joiner: b".",
};

/// Reads a verified body.
pub fn read(body: &[u8]) -> Result<ProviderEvent, ReadError> {
    let (event, id, kind) = envelope(body, "id", "type")?;
    let object = &event["data"]["object"];
    if !object.is_object() {
        return Err(ReadError::Malformed("data.object is missing"));
    }
    let change = match kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            checkout(object)
        }
        "invoice.paid" => invoice_paid(object)?,
        "customer.subscription.deleted" => PaymentChange::SubscriptionCanceled {
            subscription: required(object, &["id"])?,
            period_end: subscription_period_end(object),
        },
        "charge.refunded" => refund(object),
        "charge.dispute.created" => PaymentChange::Reversed(Reversal {
            kind: ReversalKind::Chargeback,
            payments: payments(object, &[&["charge"], &["payment_intent"]]),
            subscription: None,
        }),
        other => PaymentChange::Ignored(format!("Licensor does not act on {other} events")),
    };
    Ok(ProviderEvent {
        provider: Provider::Stripe,
        id,
        kind,
        change,
    })
}

fn required(object: &Value, path: &[&str]) -> Result<String, ReadError> {
    str_at(object, path)
        .map(str::to_owned)
        .ok_or(ReadError::Malformed("a required field is missing"))
}

fn checkout(session: &Value) -> PaymentChange {
    // An asynchronous payment (a bank debit) completes later, in
    // checkout.session.async_payment_succeeded.
    if str_at(session, &["payment_status"]) == Some("unpaid") {
        return PaymentChange::Ignored(
            "the payment is not complete yet; checkout.session.async_payment_succeeded follows"
                .to_owned(),
        );
    }
    let price_ids = session["line_items"]["data"]
        .as_array()
        .map(|items| strings(items, &["price", "id"]))
        .unwrap_or_default();
    PaymentChange::CheckoutPaid(Checkout {
        reference: str_at(session, &["client_reference_id"]).map(str::to_owned),
        price_ids,
        email: str_at(session, &["customer_details", "email"])
            .or_else(|| str_at(session, &["customer_email"]))
            .map(str::to_owned),
        subscription: str_at(session, &["subscription"]).map(str::to_owned),
        payments: payments(session, &[&["payment_intent"], &["invoice"], &["id"]]),
        period_end: None,
    })
}

fn invoice_paid(invoice: &Value) -> Result<PaymentChange, ReadError> {
    let subscription = str_at(invoice, &["subscription"])
        .or_else(|| str_at(invoice, &["parent", "subscription_details", "subscription"]));
    let Some(subscription) = subscription else {
        return Ok(PaymentChange::Ignored(
            "an invoice of no subscription: its checkout carries the purchase".to_owned(),
        ));
    };
    let lines = invoice["lines"]["data"].as_array();
    let period_end = lines
        .into_iter()
        .flatten()
        .filter_map(|line| time_at(line, &["period", "end"]))
        .max()
        .ok_or(ReadError::Malformed(
            "the invoice's lines carry no period end",
        ))?;
    let mut price_ids = lines
        .map(|l| strings(l, &["price", "id"]))
        .unwrap_or_default();
    price_ids.extend(
        lines
            .map(|l| strings(l, &["pricing", "price_details", "price"]))
            .unwrap_or_default(),
    );
    Ok(PaymentChange::PeriodPaid(Period {
        subscription: subscription.to_owned(),
        period_end,
        price_ids,
        email: str_at(invoice, &["customer_email"]).map(str::to_owned),
        payments: payments(invoice, &[&["id"], &["payment_intent"], &["charge"]]),
        reference: None,
        first: str_at(invoice, &["billing_reason"]) == Some("subscription_create"),
    }))
}

fn subscription_period_end(subscription: &Value) -> Option<crate::domain::time::Timestamp> {
    time_at(subscription, &["current_period_end"]).or_else(|| {
        subscription["items"]["data"]
            .as_array()?
            .iter()
            .filter_map(|item| time_at(item, &["current_period_end"]))
            .max()
    })
}

fn refund(charge: &Value) -> PaymentChange {
    if charge["refunded"] != Value::Bool(true) {
        return PaymentChange::Ignored("a partial refund leaves the license as it is".to_owned());
    }
    PaymentChange::Reversed(Reversal {
        kind: ReversalKind::Refund,
        payments: payments(charge, &[&["payment_intent"], &["invoice"], &["id"]]),
        subscription: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_json(event: Value) -> PaymentChange {
        read(event.to_string().as_bytes()).unwrap().change
    }

    #[test]
    fn the_newer_invoice_shape_names_its_subscription_and_price() {
        let change = read_json(json!({
            "id": "evt_1", "type": "invoice.paid",
            "data": { "object": {
                "id": "in_1", "billing_reason": "subscription_cycle",
                "parent": { "subscription_details": { "subscription": "sub_9" } },
                "lines": { "data": [
                    { "period": { "end": 2_000 }, "pricing": { "price_details": { "price": "price_new" } } },
                    { "period": { "end": 3_000 }, "pricing": { "price_details": { "price": "price_new" } } }
                ] }
            } }
        }));
        let PaymentChange::PeriodPaid(period) = change else {
            panic!("{change:?}")
        };
        assert_eq!(period.subscription, "sub_9");
        assert_eq!(period.period_end.unix(), 3_000);
        assert!(period.price_ids.contains(&"price_new".to_owned()));
        assert!(!period.first);
    }

    #[test]
    fn a_subscription_deleted_in_the_newer_shape_carries_its_items_period_end() {
        let change = read_json(json!({
            "id": "evt_2", "type": "customer.subscription.deleted",
            "data": { "object": { "id": "sub_9", "items": { "data": [{ "current_period_end": 5_000 }] } } }
        }));
        assert_eq!(
            change,
            PaymentChange::SubscriptionCanceled {
                subscription: "sub_9".to_owned(),
                period_end: Some(crate::domain::time::Timestamp::from_unix(5_000)),
            }
        );
    }

    #[test]
    fn unpaid_checkouts_and_invoices_without_a_subscription_wait_or_pass() {
        let unpaid = read_json(json!({
            "id": "evt_3", "type": "checkout.session.completed",
            "data": { "object": { "id": "cs_1", "payment_status": "unpaid" } }
        }));
        assert!(matches!(unpaid, PaymentChange::Ignored(_)), "{unpaid:?}");
        let one_off = read_json(json!({
            "id": "evt_4", "type": "invoice.paid", "data": { "object": { "id": "in_2" } }
        }));
        assert!(matches!(one_off, PaymentChange::Ignored(_)), "{one_off:?}");
        let no_object = read(br#"{"id":"evt_5","type":"invoice.paid","data":{}}"#);
        assert_eq!(no_object.unwrap_err().code(), "malformed_event");
    }
}
