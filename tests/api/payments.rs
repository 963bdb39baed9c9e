//! Stripe and Paddle drive licenses (issue 24), on both backends: events
//! shaped like the providers' documented payloads, signed here as the
//! providers sign them, delivered to `/webhooks/stripe` and
//! `/webhooks/paddle`; each applied exactly once, whatever the replays,
//! the order or the concurrency.

use licensor::clock::Clock;
use serde_json::{Value, json};

use crate::support::providers::*;
use crate::support::{Provisioned, TestApp, spawn_app};

const DAY: i64 = 86_400;

struct Shop {
    app: TestApp,
    p: Provisioned,
    /// The customer's organization.
    org: String,
}

/// A product with a 30-day, 3-seat type, and a customer who signed up.
async fn shop() -> Shop {
    let app = spawn_shop().await;
    let p = app.with_license(json!({})).await;
    app.with_customer("jane@example.com").await;
    let (org,): (String,) =
        sqlx::query_as("SELECT organization_id FROM users WHERE email = 'jane@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    Shop { app, p, org }
}

async fn license_of_org(app: &TestApp, org: &str) -> (String, Option<i64>, String, i64) {
    sqlx::query_as(
        "SELECT id, expires_at, status, is_trial FROM licenses WHERE organization_id = $1",
    )
    .bind(org)
    .fetch_one(app.db.pool())
    .await
    .unwrap()
}

async fn events_of(app: &TestApp, license: &str, kind: &str) -> Vec<Value> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT data FROM events WHERE license_id = $1 AND kind = $2 ORDER BY occurred_at, id",
    )
    .bind(license)
    .bind(kind)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(|(data,)| serde_json::from_str(&data).unwrap())
        .collect()
}

async fn monthly_offer(s: &Shop) -> Value {
    s.app
        .offer(
            &s.p.token,
            json!({
                "license_type_id": s.p.license_type_id, "name": "Monthly",
                "provider": "stripe", "price_id": "price_monthly",
                "checkout_url": "https://buy.stripe.com/test_monthly",
                "billing": "subscription", "max_machines": 5,
            }),
        )
        .await
}

/// A Stripe subscription checkout of the monthly offer, with a fresh
/// reference for the customer's organization.
async fn monthly_checkout(s: &Shop, id: &str, subscription: &str) -> Value {
    let offer = monthly_offer(s).await;
    let reference = s
        .app
        .checkout(
            &s.p.token,
            offer["id"].as_str().unwrap(),
            json!({ "organization_id": s.org }),
        )
        .await;
    stripe_checkout(
        id,
        Some(&reference),
        json!({ "mode": "subscription", "subscription": subscription, "payment_intent": null }),
    )
}

#[tokio::test]
async fn a_stripe_subscription_issues_renews_cancels_and_refunds_once_each() {
    let s = shop().await;
    let app = &s.app;
    let now = app.clock.now().unix();
    let offer = monthly_offer(&s).await;
    let offer_id = offer["id"].as_str().unwrap();
    let reference = app
        .checkout(
            &s.p.token,
            offer_id,
            json!({ "organization_id": s.org, "email": "jane@example.com" }),
        )
        .await;

    // The checkout: the license is issued to the organization that paid,
    // with the offer's seats, for a provisional day until the invoice.
    let checkout = stripe_checkout(
        "sub_checkout",
        Some(&reference),
        json!({ "mode": "subscription", "subscription": "sub_1", "payment_intent": null,
                "invoice": "in_first" }),
    );
    let answer = app.settled(app.stripe(&checkout).await, "applied").await;
    assert_eq!(answer["duplicate"], false);
    let (license, expires, status, trial) = license_of_org(app, &s.org).await;
    assert_eq!((status.as_str(), trial), ("active", 0));
    assert_eq!(expires, Some(now + DAY));
    assert_eq!(
        app.number_for("SELECT max_machines FROM licenses WHERE id = $1", &license)
            .await,
        5
    );

    // The first invoice: the period end is the truth.
    let first = stripe_invoice_paid(
        "inv1",
        "sub_1",
        "price_monthly",
        now + 30 * DAY,
        "subscription_create",
    );
    app.settled(app.stripe(&first).await, "applied").await;
    assert_eq!(license_of_org(app, &s.org).await.1, Some(now + 30 * DAY));

    // A replay changes nothing and says so.
    let replay = app.settled(app.stripe(&first).await, "applied").await;
    assert_eq!(replay["duplicate"], true);
    assert_eq!(app.count("provider_events").await, 2);

    // The next period, then an older invoice arriving late: never back.
    let second = stripe_invoice_paid(
        "inv2",
        "sub_1",
        "price_monthly",
        now + 60 * DAY,
        "subscription_cycle",
    );
    app.settled(app.stripe(&second).await, "applied").await;
    let late = stripe_invoice_paid(
        "inv0",
        "sub_1",
        "price_monthly",
        now + 30 * DAY,
        "subscription_cycle",
    );
    let answer = app.settled(app.stripe(&late).await, "applied").await;
    assert!(
        answer["detail"].as_str().unwrap().contains("already runs"),
        "{answer}"
    );
    assert_eq!(license_of_org(app, &s.org).await.1, Some(now + 60 * DAY));

    // Every renewal is on the timeline with the provider and its event.
    let renewals = events_of(app, &license, "license.renewed").await;
    assert_eq!(renewals.len(), 2, "{renewals:?}");
    assert_eq!(renewals[1]["provider"], "stripe");
    assert_eq!(renewals[1]["provider_event_id"], "evt_inv2");

    // Canceled: it runs to its period end; nothing is revoked early.
    let deleted = stripe_subscription_deleted("del", "sub_1", now + 60 * DAY);
    app.settled(app.stripe(&deleted).await, "applied").await;
    let (_, expires, status, _) = license_of_org(app, &s.org).await;
    assert_eq!((expires, status.as_str()), (Some(now + 60 * DAY), "active"));
    assert_eq!(
        events_of(app, &license, "license.subscription_canceled")
            .await
            .len(),
        1
    );

    // A partial refund leaves it; a full refund of a period suspends it.
    let partial = stripe_charge_refunded("ref_partial", "pi_inv2", false);
    app.settled(app.stripe(&partial).await, "ignored").await;
    let full = stripe_charge_refunded("ref_full", "pi_inv2", true);
    let answer = app.settled(app.stripe(&full).await, "applied").await;
    assert_eq!(answer["detail"], "suspended after a refund");
    assert_eq!(license_of_org(app, &s.org).await.2, "suspended");
    let suspended = events_of(app, &license, "license.suspended").await;
    assert!(
        suspended[0]["reason"]
            .as_str()
            .unwrap()
            .contains("evt_ref_full"),
        "{suspended:?}"
    );
    // The customer was told: the purchase, the suspension.
    app.mail.wait_for("jane@example.com", "Thank you").await;
    app.mail.wait_for("jane@example.com", "suspended").await;

    // Support sees the payments and the timeline names each event.
    let admin = app.with_staff(licensor::domain::role::Role::Support).await;
    let page = admin.html(&format!("/admin/licenses/{license}")).await;
    assert!(page.contains("id=\"payments\""), "{page}");
    assert!(page.contains("invoice.paid"), "{page}");
    assert!(page.contains("The subscription was canceled"), "{page}");
    assert!(page.contains("evt_ref_full"), "{page}");
}

#[tokio::test]
async fn an_invoice_before_its_checkout_sets_the_period_when_the_checkout_comes() {
    let s = shop().await;
    let app = &s.app;
    let now = app.clock.now().unix();
    let offer = monthly_offer(&s).await;
    let reference = app
        .checkout(
            &s.p.token,
            offer["id"].as_str().unwrap(),
            json!({ "organization_id": s.org }),
        )
        .await;
    let first = stripe_invoice_paid(
        "early",
        "sub_2",
        "price_monthly",
        now + 31 * DAY,
        "subscription_create",
    );
    let answer = app.settled(app.stripe(&first).await, "ignored").await;
    assert!(
        answer["detail"].as_str().unwrap().contains("noted"),
        "{answer}"
    );
    assert_eq!(
        app.count("licenses").await,
        1,
        "no license from an invoice alone"
    );

    let checkout = stripe_checkout(
        "late_checkout",
        Some(&reference),
        json!({ "mode": "subscription", "subscription": "sub_2", "payment_intent": null }),
    );
    app.settled(app.stripe(&checkout).await, "applied").await;
    assert_eq!(license_of_org(app, &s.org).await.1, Some(now + 31 * DAY));
}

#[tokio::test]
async fn a_trial_upgraded_through_paddle_keeps_its_key_and_machines() {
    let s = shop().await;
    let app = &s.app;
    let now = app.clock.now().unix();
    // A trial of the product for the customer's organization.
    let res = app
        .post_json(
            "/api/v1/licenses",
            Some(&s.p.token),
            &json!({ "license_type_id": s.p.license_type_id, "organization_id": s.org, "trial": true }),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let trial: Value = res.json().await.unwrap();
    let trial_id = trial["license"]["id"].as_str().unwrap().to_owned();
    let key = trial["key"].as_str().unwrap().to_owned();
    assert_eq!(app.activate(&key, "fp-upgrade").await.status(), 201);

    let offer = app
        .offer(
            &s.p.token,
            json!({ "license_type_id": s.p.license_type_id, "name": "Yearly",
                    "provider": "paddle", "price_id": "pri_01yearly", "billing": "subscription",
                    "entitlements": ["pro"] }),
        )
        .await;
    let res = app
        .post_json(
            &format!("/api/v1/offers/{}/checkout", offer["id"].as_str().unwrap()),
            Some(&s.p.token),
            &json!({ "purpose": "upgrade", "license_id": trial_id, "organization_id": s.org }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let started: Value = res.json().await.unwrap();
    assert_eq!(
        started["url"],
        Value::Null,
        "Paddle opens from Licensor's page"
    );
    let reference = started["reference"].as_str().unwrap();

    let paid = paddle_transaction(
        "up1",
        "web",
        json!({ "subscription_id": "sub_01p", "custom_data": { "licensor_reference": reference },
                "billing_period": { "starts_at": rfc3339(now), "ends_at": rfc3339(now + 365 * DAY) } }),
    );
    app.settled(app.paddle(&paid).await, "applied").await;
    let (id, expires, status, is_trial) = license_of_org(app, &s.org).await;
    assert_eq!(id, trial_id, "the same license");
    assert_eq!((status.as_str(), is_trial), ("active", 0));
    assert_eq!(expires, Some(now + 365 * DAY));
    let answer = app
        .validate(json!({ "key": key, "fingerprint": "fp-upgrade", "entitlements": ["pro"] }))
        .await;
    assert_eq!(answer["code"], "VALID", "same key, same machine: {answer}");
    assert_eq!(events_of(app, &id, "license.upgraded").await.len(), 1);

    // The renewal a year on, then the subscription's own update of it.
    let renewal = paddle_transaction(
        "up2",
        "subscription_recurring",
        json!({ "subscription_id": "sub_01p",
                "billing_period": { "starts_at": rfc3339(now + 365 * DAY), "ends_at": rfc3339(now + 730 * DAY) } }),
    );
    app.settled(app.paddle(&renewal).await, "applied").await;
    let updated = paddle_subscription(
        "up3",
        "subscription.updated",
        "sub_01p",
        json!({ "current_billing_period": { "starts_at": rfc3339(now + 365 * DAY), "ends_at": rfc3339(now + 730 * DAY) } }),
    );
    let answer = app.settled(app.paddle(&updated).await, "applied").await;
    assert!(
        answer["detail"].as_str().unwrap().contains("already runs"),
        "{answer}"
    );
    assert_eq!(license_of_org(app, &s.org).await.1, Some(now + 730 * DAY));

    // A refund waits for its approval; the approval suspends.
    let pending = paddle_adjustment(
        "adj1",
        "adjustment.created",
        json!({ "transaction_id": "txn_up2", "subscription_id": "sub_01p" }),
    );
    app.settled(app.paddle(&pending).await, "ignored").await;
    assert_eq!(license_of_org(app, &s.org).await.2, "active");
    let approved = paddle_adjustment(
        "adj2",
        "adjustment.updated",
        json!({ "transaction_id": "txn_up2", "subscription_id": "sub_01p", "status": "approved" }),
    );
    app.settled(app.paddle(&approved).await, "applied").await;
    assert_eq!(license_of_org(app, &s.org).await.2, "suspended");

    // Canceled: runs to the end of what was paid.
    let canceled = paddle_subscription(
        "up4",
        "subscription.canceled",
        "sub_01p",
        json!({ "status": "canceled", "current_billing_period": null, "canceled_at": rfc3339(now + 400 * DAY) }),
    );
    app.settled(app.paddle(&canceled).await, "applied").await;
    assert_eq!(license_of_org(app, &s.org).await.1, Some(now + 730 * DAY));
}

#[tokio::test]
async fn a_one_time_purchase_to_an_email_and_a_chargeback_the_offer_leaves() {
    let s = shop().await;
    let app = &s.app;
    let now = app.clock.now().unix();
    app.offer(
        &s.p.token,
        json!({ "license_type_id": s.p.license_type_id, "name": "Lifetime-ish",
                "provider": "stripe", "price_id": "price_once",
                "checkout_url": "https://buy.stripe.com/test_once",
                "billing": "one_time", "duration_days": 365, "on_refund": "leave" }),
    )
    .await;
    // Bought straight from the Payment Link: no reference, the price named
    // (line items expanded), the buyer's email.
    let checkout = stripe_checkout(
        "once",
        None,
        json!({ "customer_details": { "email": "new.buyer@example.com" },
                "line_items": { "data": [{ "price": { "id": "price_once" }, "quantity": 1 }] } }),
    );
    let answer = app.settled(app.stripe(&checkout).await, "applied").await;
    let license = answer_license(app, &answer).await;
    let (email, expires): (Option<String>, Option<i64>) =
        sqlx::query_as("SELECT assigned_email, expires_at FROM licenses WHERE id = $1")
            .bind(&license)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(email.as_deref(), Some("new.buyer@example.com"));
    assert_eq!(expires, Some(now + 365 * DAY));
    app.mail.wait_for("new.buyer@example.com", "license").await;

    let dispute = stripe_dispute_created("dispute", "pi_once");
    let answer = app.settled(app.stripe(&dispute).await, "applied").await;
    assert!(
        answer["detail"].as_str().unwrap().contains("leaves"),
        "{answer}"
    );
    let (status,): (String,) = sqlx::query_as("SELECT status FROM licenses WHERE id = $1")
        .bind(&license)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(status, "active");
}

async fn answer_license(app: &TestApp, answer: &Value) -> String {
    let event_id = answer["event_id"].as_str().unwrap();
    let (license,): (Option<String>,) =
        sqlx::query_as("SELECT license_id FROM provider_events WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    license.expect("the event names its license")
}

#[tokio::test]
async fn unmatched_events_wait_for_the_vendor_and_apply_once_mapped() {
    let s = shop().await;
    let app = &s.app;
    let checkout = stripe_checkout(
        "unmapped",
        None,
        json!({ "line_items": { "data": [{ "price": { "id": "price_later" } }] } }),
    );
    let answer = app
        .settled(app.stripe(&checkout).await, "needs_attention")
        .await;
    assert!(
        answer["detail"].as_str().unwrap().contains("price_later"),
        "{answer}"
    );
    assert_eq!(app.count("licenses").await, 1, "nothing issued");

    // A reference Licensor never made, and one of its shape it never
    // gave out: set aside, never guessed at.
    let forged = stripe_checkout("forged", Some("org_0190-someone-else"), json!({}));
    app.settled(app.stripe(&forged).await, "needs_attention")
        .await;
    let unknown = stripe_checkout(
        "unknown",
        Some("ref_abcdefghijklmnopqrstuvwxyz23"),
        json!({}),
    );
    app.settled(app.stripe(&unknown).await, "needs_attention")
        .await;

    // The vendor maps the price, then retries from the console.
    app.offer(
        &s.p.token,
        json!({ "license_type_id": s.p.license_type_id, "name": "Later",
                "provider": "stripe", "price_id": "price_later", "billing": "one_time" }),
    )
    .await;
    let admin = app.with_staff(licensor::domain::role::Role::Admin).await;
    let page = admin.html("/admin/payments").await;
    assert!(page.contains("evt_unmapped"), "{page}");
    assert!(page.contains("price_later"), "{page}");
    let res = admin
        .post("/admin/payments/stripe/evt_unmapped/retry", &[])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.count("licenses").await, 2, "issued once mapped");
    let (state,): (String,) =
        sqlx::query_as("SELECT state FROM provider_events WHERE event_id = 'evt_unmapped'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(state, "applied");
    // A settled event is not retried again.
    let res = admin
        .post("/admin/payments/stripe/evt_unmapped/retry", &[])
        .await;
    assert_eq!(res.status(), 409);
    assert_eq!(app.count("licenses").await, 2);
}

#[tokio::test]
async fn twenty_concurrent_deliveries_of_one_event_issue_one_license() {
    let s = shop().await;
    let app = &s.app;
    let checkout = monthly_checkout(&s, "race", "sub_race").await;
    let deliveries = (0..20).map(|_| app.stripe(&checkout));
    let answers = futures_util::future::join_all(deliveries).await;
    let mut applied = 0;
    for res in answers {
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["state"], "applied", "{body}");
        if body["duplicate"] == false {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "applied by exactly one delivery");
    assert_eq!(app.count("licenses").await, 2);
    assert_eq!(app.count("provider_events").await, 1);
}

#[tokio::test]
async fn an_event_stored_before_a_crash_is_applied_once_by_the_retry() {
    let s = shop().await;
    let app = &s.app;
    let checkout = monthly_checkout(&s, "crash", "sub_crash").await;
    // What a crash right after storing leaves: the event received, not applied.
    sqlx::query(
        "INSERT INTO provider_events (provider, event_id, event_type, received_at, body, state) \
         VALUES ('stripe', 'evt_crash', 'checkout.session.completed', $1, $2, 'received')",
    )
    .bind(app.clock.now().unix())
    .bind(checkout.to_string())
    .execute(app.db.pool())
    .await
    .unwrap();
    // The provider's retry applies it, once.
    let answer = app.settled(app.stripe(&checkout).await, "applied").await;
    assert_eq!(answer["duplicate"], false);
    let again = app.settled(app.stripe(&checkout).await, "applied").await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(app.count("licenses").await, 2);
}

#[tokio::test]
async fn bad_deliveries_are_refused_and_change_nothing() {
    let s = shop().await;
    let app = &s.app;
    let now = app.clock.now().unix();
    let event = stripe_checkout("bad", None, json!({}));
    let body = serde_json::to_vec(&event).unwrap();
    let problem = |res: reqwest::Response| async move {
        assert_eq!(res.status(), 400);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let p: Value = res.json().await.unwrap();
        p["code"].as_str().unwrap().to_owned()
    };
    let deliver = |headers: Vec<(&'static str, String)>, body: Vec<u8>| async move {
        app.deliver("/webhooks/stripe", &headers, body).await
    };
    assert_eq!(
        problem(deliver(vec![], body.clone()).await).await,
        "signature_missing"
    );
    let garbled = vec![("Stripe-Signature", "v1=abc".to_owned())];
    assert_eq!(
        problem(deliver(garbled, body.clone()).await).await,
        "signature_malformed"
    );
    let wrong_secret = stripe_header("whsec_someone_else_entirely_0000", now, &body);
    assert_eq!(
        problem(deliver(vec![("Stripe-Signature", wrong_secret)], body.clone()).await).await,
        "signature_mismatch"
    );
    let stale = stripe_header(STRIPE_SECRET, now - 301, &body);
    assert_eq!(
        problem(deliver(vec![("Stripe-Signature", stale)], body.clone()).await).await,
        "signature_stale"
    );
    let signed = stripe_header(STRIPE_SECRET, now, &body);
    let mut changed = body.clone();
    changed.extend_from_slice(b" ");
    assert_eq!(
        problem(deliver(vec![("Stripe-Signature", signed)], changed).await).await,
        "signature_mismatch"
    );
    let not_json = b"{\"id\": \"evt_x\",".to_vec();
    let signed = stripe_header(STRIPE_SECRET, now, &not_json);
    assert_eq!(
        problem(deliver(vec![("Stripe-Signature", signed)], not_json).await).await,
        "malformed_json"
    );
    let no_id = br#"{"type": "invoice.paid", "data": {"object": {}}}"#.to_vec();
    let signed = stripe_header(STRIPE_SECRET, now, &no_id);
    assert_eq!(
        problem(deliver(vec![("Stripe-Signature", signed)], no_id).await).await,
        "malformed_event"
    );
    let paddle_body =
        serde_json::to_vec(&paddle_event("p", "transaction.completed", json!({}))).unwrap();
    let stripe_scheme = stripe_header(PADDLE_SECRET, now, &paddle_body);
    let res = app
        .deliver(
            "/webhooks/paddle",
            &[("Paddle-Signature", stripe_scheme)],
            paddle_body,
        )
        .await;
    assert_eq!(problem(res).await, "signature_malformed");
    assert_eq!(app.count("provider_events").await, 0, "nothing stored");

    // During a secret's rotation Stripe signs with both: either verifies.
    let header = format!(
        "t={now},v1={},v1={}",
        "0".repeat(64),
        hmac_hex(STRIPE_SECRET, &[now.to_string().as_bytes(), b".", &body])
    );
    let res = deliver(vec![("Stripe-Signature", header)], body.clone()).await;
    assert_eq!(res.status(), 200);
    // A type Licensor does not act on: 200 and ignored.
    let other = stripe_event("other", "customer.created", json!({ "id": "cus_1" }));
    app.settled(app.stripe(&other).await, "ignored").await;
}

#[tokio::test]
async fn without_a_secret_the_endpoints_do_not_exist() {
    let app = spawn_app().await;
    let event = serde_json::to_vec(&stripe_event("x", "invoice.paid", json!({}))).unwrap();
    let header = stripe_header(STRIPE_SECRET, app.clock.now().unix(), &event);
    let res = app
        .deliver("/webhooks/stripe", &[("Stripe-Signature", header)], event)
        .await;
    assert_eq!(res.status(), 404);
    let res = app.deliver("/webhooks/paddle", &[], b"{}".to_vec()).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn payments_for_a_revoked_or_transferred_license_change_nothing() {
    let s = shop().await;
    let app = &s.app;
    let now = app.clock.now().unix();
    let checkout = monthly_checkout(&s, "rv", "sub_rv").await;
    app.settled(app.stripe(&checkout).await, "applied").await;
    let (license, expires, _, _) = license_of_org(app, &s.org).await;
    let res = app
        .post_json(
            &format!("/api/v1/licenses/{license}/actions/revoke"),
            Some(&s.p.token),
            &json!({ "reason": "fraud" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let paid = stripe_invoice_paid(
        "rv2",
        "sub_rv",
        "price_monthly",
        now + 30 * DAY,
        "subscription_cycle",
    );
    let answer = app
        .settled(app.stripe(&paid).await, "needs_attention")
        .await;
    assert!(
        answer["detail"].as_str().unwrap().contains("revoked"),
        "{answer}"
    );
    assert_eq!(license_of_org(app, &s.org).await.1, expires, "unchanged");

    // A renewal reference cannot be made for another organization's license.
    let (offer_id,): (String,) = sqlx::query_as("SELECT id FROM offers")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let res = app
        .post_json(
            &format!("/api/v1/offers/{offer_id}/checkout"),
            Some(&s.p.token),
            &json!({ "purpose": "renew", "license_id": s.p.license_id, "organization_id": s.org }),
        )
        .await;
    assert_eq!(res.status(), 422, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn a_renewal_sent_twice_with_one_idempotency_key_extends_once() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    let renew = || {
        app.client
            .post(app.url(&format!("/api/v1/licenses/{}/actions/renew", p.license_id)))
            .bearer_auth(&p.token)
            .header("Idempotency-Key", "renew-order-1234")
            .json(&json!({ "days": 30 }))
            .send()
    };
    let first: Value = renew().await.unwrap().json().await.unwrap();
    let res = renew().await.unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let second: Value = res.json().await.unwrap();
    assert_eq!(first, second);
    let expires = app
        .number_for(
            "SELECT expires_at FROM licenses WHERE id = $1",
            &p.license_id,
        )
        .await;
    assert_eq!(
        expires,
        app.clock.now().unix() + 60 * DAY,
        "30 days + 30 once"
    );
    // Without the key a retry is a second renewal, as before.
    let res = app
        .post_json(
            &format!("/api/v1/licenses/{}/actions/suspend", p.license_id),
            Some(&p.token),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

/// A failure inside Licensor (here SQLite cannot grow, as on a full disk)
/// answers 5xx, never a 500 with the event half-applied; the provider's
/// retry once there is room applies each event exactly once.
#[tokio::test]
async fn a_failure_answers_5xx_and_the_providers_retry_applies_once() {
    let s = shop().await;
    let app = &s.app;
    if app.database.is_postgres() {
        return;
    }
    app.offer(
        &s.p.token,
        json!({ "license_type_id": s.p.license_type_id, "name": "Once",
                "provider": "stripe", "price_id": "price_full", "billing": "one_time" }),
    )
    .await;
    let event = |n: usize| {
        stripe_checkout(
            &format!("full_{n}"),
            None,
            json!({ "customer_details": { "email": format!("full{n}@example.com") },
                    "line_items": { "data": [{ "price": { "id": "price_full" } }] } }),
        )
    };
    let (pages,): (i64,) = sqlx::query_as("PRAGMA page_count")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    crate::faults::cap_database_size(app, Some(pages)).await;
    let mut refused = Vec::new();
    for n in 0..20 {
        let res = app.stripe(&event(n)).await;
        match res.status().as_u16() {
            200 => {}
            503 => refused.push(n),
            other => panic!("a delivery on a full disk answered {other}"),
        }
    }
    crate::faults::cap_database_size(app, None).await;
    assert!(!refused.is_empty(), "no delivery met the full disk");
    for n in &refused {
        let answer = app.settled(app.stripe(&event(*n)).await, "applied").await;
        assert_eq!(answer["duplicate"], false, "{answer}");
        let again = app.settled(app.stripe(&event(*n)).await, "applied").await;
        assert_eq!(again["duplicate"], true);
    }
    let (issued,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM licenses WHERE assigned_email LIKE 'full%'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(issued, 20, "every event applied exactly once");
}
