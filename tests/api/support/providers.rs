//! Payment providers as the tests play them: events shaped like Stripe's
//! and Paddle's documented payloads, signed here (HMAC-SHA256 over
//! `t.body` for Stripe, `ts:body` for Paddle) with test secrets the app
//! under test is configured with, as the providers sign them.

use hmac::{Hmac, KeyInit, Mac};
use licensor::clock::Clock;
use licensor::config::Source;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{TestApp, spawn_app_with};

pub const STRIPE_SECRET: &str = "whsec_test_0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d";
pub const PADDLE_SECRET: &str = "pdl_ntfset_01hv8x0example_4f3e2d1c0b9a8f7e6d5c4b3a";

/// An app that takes both providers' webhooks.
pub async fn spawn_shop() -> TestApp {
    spawn_app_with(
        |raw| {
            raw.set("stripe_webhook_secret", STRIPE_SECRET, Source::Default);
            raw.set("paddle_webhook_secret", PADDLE_SECRET, Source::Default);
        },
        false,
    )
    .await
}

pub fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `Stripe-Signature` for `body` at `t`.
pub fn stripe_header(secret: &str, t: i64, body: &[u8]) -> String {
    let t_text = t.to_string();
    format!(
        "t={t},v1={}",
        hmac_hex(secret, &[t_text.as_bytes(), b".", body])
    )
}

/// `Paddle-Signature` for `body` at `ts`.
pub fn paddle_header(secret: &str, ts: i64, body: &[u8]) -> String {
    let ts_text = ts.to_string();
    format!(
        "ts={ts};h1={}",
        hmac_hex(secret, &[ts_text.as_bytes(), b":", body])
    )
}

impl TestApp {
    /// Posts raw bytes to a provider's webhook with these headers.
    pub async fn deliver(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("Content-Type", "application/json")
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        req.send().await.expect("request sent")
    }

    /// Delivers a Stripe event signed now.
    pub async fn stripe(&self, event: &Value) -> reqwest::Response {
        let body = serde_json::to_vec(event).unwrap();
        let header = stripe_header(STRIPE_SECRET, self.clock.now().unix(), &body);
        self.deliver("/webhooks/stripe", &[("Stripe-Signature", header)], body)
            .await
    }

    /// Delivers a Paddle event signed now.
    pub async fn paddle(&self, event: &Value) -> reqwest::Response {
        let body = serde_json::to_vec(event).unwrap();
        let header = paddle_header(PADDLE_SECRET, self.clock.now().unix(), &body);
        self.deliver("/webhooks/paddle", &[("Paddle-Signature", header)], body)
            .await
    }

    /// Delivers and expects a 200 with this state; returns the answer.
    pub async fn settled(&self, res: reqwest::Response, state: &str) -> Value {
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], state, "{body}");
        body
    }

    /// Creates an offer through the API.
    pub async fn offer(&self, token: &str, body: Value) -> Value {
        let res = self.post_json("/api/v1/offers", Some(token), &body).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        res.json().await.unwrap()
    }

    /// Starts a checkout through the API; returns the reference.
    pub async fn checkout(&self, token: &str, offer_id: &str, body: Value) -> String {
        let res = self
            .post_json(
                &format!("/api/v1/offers/{offer_id}/checkout"),
                Some(token),
                &body,
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let answer: Value = res.json().await.unwrap();
        answer["reference"].as_str().unwrap().to_owned()
    }
}

/// Stripe `checkout.session.completed` (an Event whose `data.object` is a
/// Checkout Session).
pub fn stripe_checkout(id: &str, reference: Option<&str>, session: Value) -> Value {
    let mut object = json!({
        "id": format!("cs_test_{id}"),
        "object": "checkout.session",
        "client_reference_id": reference,
        "customer": "cus_test_1",
        "customer_details": { "email": "buyer@example.com" },
        "customer_email": null,
        "livemode": false,
        "metadata": {},
        "mode": "payment",
        "payment_intent": format!("pi_{id}"),
        "payment_link": "plink_test_1",
        "payment_status": "paid",
        "status": "complete",
        "subscription": null,
        "invoice": null,
        "amount_total": 4900,
        "currency": "usd",
    });
    merge(&mut object, session);
    stripe_event(id, "checkout.session.completed", object)
}

/// Stripe `invoice.paid` of a subscription, its line running to `period_end`.
pub fn stripe_invoice_paid(
    id: &str,
    subscription: &str,
    price: &str,
    period_end: i64,
    billing_reason: &str,
) -> Value {
    stripe_event(
        id,
        "invoice.paid",
        json!({
            "id": format!("in_{id}"),
            "object": "invoice",
            "billing_reason": billing_reason,
            "customer": "cus_test_1",
            "customer_email": "buyer@example.com",
            "paid": true,
            "status": "paid",
            "payment_intent": format!("pi_{id}"),
            "subscription": subscription,
            "lines": {
                "object": "list",
                "data": [{
                    "id": format!("il_{id}"),
                    "object": "line_item",
                    "period": { "start": period_end - 30 * 86_400, "end": period_end },
                    "price": { "id": price, "object": "price" },
                    "type": "subscription",
                }],
                "has_more": false,
            },
        }),
    )
}

/// Stripe `customer.subscription.deleted`.
pub fn stripe_subscription_deleted(id: &str, subscription: &str, period_end: i64) -> Value {
    stripe_event(
        id,
        "customer.subscription.deleted",
        json!({
            "id": subscription,
            "object": "subscription",
            "status": "canceled",
            "current_period_end": period_end,
            "cancel_at_period_end": false,
        }),
    )
}

/// Stripe `charge.refunded`, in full or not.
pub fn stripe_charge_refunded(id: &str, payment_intent: &str, full: bool) -> Value {
    stripe_event(
        id,
        "charge.refunded",
        json!({
            "id": format!("ch_{id}"),
            "object": "charge",
            "amount": 4900,
            "amount_refunded": if full { 4900 } else { 1000 },
            "payment_intent": payment_intent,
            "refunded": full,
        }),
    )
}

/// Stripe `charge.dispute.created`.
pub fn stripe_dispute_created(id: &str, payment_intent: &str) -> Value {
    stripe_event(
        id,
        "charge.dispute.created",
        json!({
            "id": format!("du_{id}"),
            "object": "dispute",
            "amount": 4900,
            "charge": format!("ch_{id}"),
            "payment_intent": payment_intent,
            "reason": "fraudulent",
            "status": "needs_response",
        }),
    )
}

pub fn stripe_event(id: &str, kind: &str, object: Value) -> Value {
    json!({
        "id": format!("evt_{id}"),
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1_795_910_400,
        "livemode": false,
        "pending_webhooks": 1,
        "type": kind,
        "data": { "object": object },
    })
}

/// Paddle `transaction.completed`.
pub fn paddle_transaction(id: &str, origin: &str, data: Value) -> Value {
    let mut object = json!({
        "id": format!("txn_{id}"),
        "status": "completed",
        "customer_id": "ctm_01test",
        "origin": origin,
        "subscription_id": null,
        "custom_data": null,
        "currency_code": "USD",
        "billing_period": null,
        "items": [{ "price": { "id": "pri_01yearly", "product_id": "pro_01" }, "quantity": 1 }],
    });
    merge(&mut object, data);
    paddle_event(id, "transaction.completed", object)
}

/// Paddle `subscription.updated` / `subscription.canceled`.
pub fn paddle_subscription(id: &str, kind: &str, subscription: &str, data: Value) -> Value {
    let mut object = json!({
        "id": subscription,
        "status": "active",
        "customer_id": "ctm_01test",
        "custom_data": null,
        "items": [{ "price": { "id": "pri_01yearly" }, "quantity": 1, "status": "active" }],
        "scheduled_change": null,
    });
    merge(&mut object, data);
    paddle_event(id, kind, object)
}

/// Paddle `adjustment.created` / `adjustment.updated`.
pub fn paddle_adjustment(id: &str, kind: &str, data: Value) -> Value {
    let mut object = json!({
        "id": format!("adj_{id}"),
        "action": "refund",
        "type": "full",
        "status": "pending_approval",
        "reason": "requested by customer",
        "currency_code": "USD",
    });
    merge(&mut object, data);
    paddle_event(id, kind, object)
}

pub fn paddle_event(id: &str, kind: &str, data: Value) -> Value {
    json!({
        "event_id": format!("evt_{id}"),
        "event_type": kind,
        "occurred_at": "2026-11-28T00:00:00.000000Z",
        "notification_id": format!("ntf_{id}"),
        "data": data,
    })
}

/// RFC 3339 of unix seconds, as Paddle writes times.
pub fn rfc3339(unix: i64) -> String {
    licensor::domain::time::Timestamp::from_unix(unix).to_rfc3339()
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        for (k, v) in from {
            into.insert(k, v);
        }
    }
}

/// The demo app (a product with a self-service trial) taking both
/// providers' webhooks.
pub async fn spawn_demo_shop() -> TestApp {
    spawn_app_with(
        |raw| {
            raw.set("stripe_webhook_secret", STRIPE_SECRET, Source::Default);
            raw.set("paddle_webhook_secret", PADDLE_SECRET, Source::Default);
        },
        true,
    )
    .await
}
