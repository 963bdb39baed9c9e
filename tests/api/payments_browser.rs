//! Upgrading a trial in a real headless Chromium: the customer clicks
//! "Upgrade" on the license page and the offer's button; the portal sends
//! the browser to the Stripe Payment Link with a fresh reference (the
//! machine has no network, so the provider's page itself does not load);
//! the test then posts Stripe's signed event as Stripe would, and the
//! portal shows the paid license with the same key.

use fantoccini::Locator;
use licensor::clock::Clock;
use serde_json::{Value, json};

use crate::browser::{Headless, WAIT, browser_available, page_containing, shots_dir};
use crate::support::form_browser::PASSWORD;
use crate::support::providers::{spawn_demo_shop, stripe_checkout};

#[tokio::test]
async fn a_trial_customer_upgrades_through_stripe_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let app = spawn_demo_shop().await;
    // A customer with the demo trial, through the portal's forms.
    let customer = app.with_customer("upgrade@example.com").await;
    assert_eq!(customer.claim_trial().await.status(), 303);
    let (license_id, last4): (String, String) =
        sqlx::query_as("SELECT id, key_last4 FROM licenses WHERE is_trial = 1")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    // The vendor sells a yearly type of the demo product through Stripe.
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    let (product_id,): (String,) = sqlx::query_as("SELECT id FROM products")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let res = app
        .post_json(
            "/api/v1/license-types",
            Some(&token),
            &json!({ "product_id": product_id, "name": "Pro", "duration_days": 365, "max_machines": 5 }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let pro: Value = res.json().await.unwrap();
    let offer = app
        .offer(
            &token,
            json!({ "license_type_id": pro["id"], "name": "Pro yearly", "provider": "stripe",
                    "price_id": "price_pro_yearly", "checkout_url": "https://buy.stripe.com/test_pro",
                    "billing": "one_time", "duration_days": 365 }),
        )
        .await;

    let session = Headless::start(1280, 1000).await;
    let browser = session.client.clone();
    let shots = shots_dir();
    browser.goto(&app.url("/login")).await.unwrap();
    for (id, text) in [("email", "upgrade@example.com"), ("password", PASSWORD)] {
        browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    browser
        .find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page_containing(&browser, "Sign out").await;

    // The license page offers the upgrade; the offer's button checks out.
    browser
        .goto(&app.url(&format!("/licenses/{license_id}")))
        .await
        .unwrap();
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("pay-license"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page_containing(&browser, "Upgrade your Demo App trial").await;
    std::fs::write(
        shots.join("payments-01-upgrade.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();
    let offer_id = offer["id"].as_str().unwrap();
    browser
        .find(Locator::Id(&format!("checkout-{offer_id}")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The reference the browser was sent to Stripe with.
    let deadline = std::time::Instant::now() + WAIT;
    let reference = loop {
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT token FROM checkout_references WHERE license_id = $1 AND purpose = 'upgrade'",
        )
        .bind(&license_id)
        .fetch_optional(app.db.pool())
        .await
        .unwrap();
        if let Some((token,)) = found {
            break token;
        }
        assert!(std::time::Instant::now() < deadline, "no checkout started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let url = browser.current_url().await.unwrap();
        if url.host_str() == Some("buy.stripe.com") {
            assert!(
                url.as_str()
                    .contains(&format!("client_reference_id={reference}")),
                "{url}"
            );
            assert!(
                url.as_str()
                    .contains("prefilled_email=upgrade%40example.com"),
                "{url}"
            );
            break;
        }
        if std::time::Instant::now() > deadline {
            // Some Chromium builds report their error page for an
            // unreachable host; the reference row proves the redirect.
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Stripe confirms the payment.
    let paid = stripe_checkout("browser_upgrade", Some(&reference), json!({}));
    let body = serde_json::to_vec(&paid).unwrap();
    let header = crate::support::providers::stripe_header(
        crate::support::providers::STRIPE_SECRET,
        app.clock.now().unix(),
        &body,
    );
    let res = app
        .deliver("/webhooks/stripe", &[("Stripe-Signature", header)], body)
        .await;
    assert_eq!(res.status(), 200);

    // The portal shows the paid license: same key, no longer a trial.
    browser
        .goto(&app.url(&format!("/licenses/{license_id}")))
        .await
        .unwrap();
    let page = page_containing(&browser, "Demo App · Pro").await;
    assert!(page.contains(&last4), "the same key");
    assert!(
        !page.contains("id=\"pay-license\""),
        "nothing to upgrade now: {page}"
    );
    std::fs::write(
        shots.join("payments-02-paid.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();
    let (is_trial,): (i64,) = sqlx::query_as("SELECT is_trial FROM licenses WHERE id = $1")
        .bind(&license_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(is_trial, 0);
    app.mail
        .wait_for("upgrade@example.com", "trial is now a paid license")
        .await;
}
