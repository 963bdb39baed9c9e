//! Selling from the portal and managing offers in the console (issue 24),
//! through the real forms: Buy, Upgrade and Renew lead to the provider's
//! checkout with a reference for exactly this customer and license; the
//! expiry emails and `EXPIRED` lead to the renewal page; admins add and
//! retire offers, and a refused offer keeps what was typed.

use licensor::clock::Clock;
use licensor::config::Source;
use licensor::domain::role::Role;
use serde_json::{Value, json};

use crate::support::form_browser::{Browser, location};
use crate::support::providers::{PADDLE_SECRET, STRIPE_SECRET};
use crate::support::{Provisioned, TestApp, spawn_app_with};

const DAY: i64 = 86_400;

async fn shop_with_paddle_token() -> TestApp {
    spawn_app_with(
        |raw| {
            raw.set("stripe_webhook_secret", STRIPE_SECRET, Source::Default);
            raw.set("paddle_webhook_secret", PADDLE_SECRET, Source::Default);
            raw.set(
                "paddle_client_token",
                "test_0123456789abcdefabcd",
                Source::Default,
            );
        },
        false,
    )
    .await
}

/// A customer whose organization holds a paid license expiring in 10 days.
async fn customer_with_license(app: &TestApp, p: &Provisioned) -> (Browser, String) {
    let customer = app.with_customer("renew@example.com").await;
    let (org,): (String,) =
        sqlx::query_as("SELECT organization_id FROM users WHERE email = 'renew@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let res = app
        .post_json(
            "/api/v1/licenses",
            Some(&p.token),
            &json!({ "license_type_id": p.license_type_id, "organization_id": org,
                     "expires_at": app.clock.now().unix() + 10 * DAY }),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let created: Value = res.json().await.unwrap();
    (
        customer,
        created["license"]["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn renew_goes_to_the_payment_link_with_a_reference_for_this_license() {
    let app = shop_with_paddle_token().await;
    let p = app.with_license(json!({ "grace_days": 0 })).await;
    let (customer, license) = customer_with_license(&app, &p).await;

    // Nothing on sale: no Renew button, and the renewal page says whom to ask.
    let page = customer.html(&format!("/licenses/{license}")).await;
    assert!(!page.contains("id=\"pay-license\""), "{page}");
    let page = customer.html(&format!("/licenses/{license}/renew")).await;
    assert!(page.contains("id=\"no-offers\""), "{page}");

    let offer = app
        .offer(
            &p.token,
            json!({ "license_type_id": p.license_type_id, "name": "Another year",
                    "provider": "stripe", "price_id": "price_year",
                    "checkout_url": "https://buy.stripe.com/test_year", "billing": "one_time",
                    "duration_days": 365 }),
        )
        .await;
    let offer_id = offer["id"].as_str().unwrap();
    let page = customer.html(&format!("/licenses/{license}")).await;
    assert!(
        page.contains(&format!("href=\"/licenses/{license}/renew\"")),
        "{page}"
    );
    let page = customer.html(&format!("/licenses/{license}/renew")).await;
    assert!(
        page.contains(&format!("id=\"checkout-{offer_id}\"")),
        "{page}"
    );
    assert!(page.contains("Renew with Another year"));

    let res = customer
        .post(
            "/checkout",
            &[
                ("offer_id", offer_id),
                ("purpose", "renew"),
                ("license_id", &license),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let to = location(&res);
    assert!(
        to.starts_with("https://buy.stripe.com/test_year?client_reference_id=ref_"),
        "{to}"
    );
    assert!(to.ends_with("&prefilled_email=renew%40example.com"), "{to}");
    let (purpose, ref_license): (String, String) = sqlx::query_as(
        "SELECT purpose, license_id FROM checkout_references ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(
        (purpose.as_str(), ref_license.as_str()),
        ("renew", license.as_str())
    );

    // Another organization's license cannot be paid for from here.
    let res = customer
        .post(
            "/checkout",
            &[
                ("offer_id", offer_id),
                ("purpose", "renew"),
                ("license_id", &p.license_id),
            ],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        customer
            .get(&format!("/licenses/{}/renew", p.license_id))
            .await
            .status(),
        404
    );

    // The home page and /buy sell it too.
    let home = customer.html("/").await;
    assert!(home.contains("Buy</a>"), "{home}");
    let buy = customer.html("/buy").await;
    assert!(buy.contains("Buy with Another year"), "{buy}");

    // Once expired, the API's next action is the renewal page.
    app.clock.advance_secs(11 * DAY);
    let key = app.key_of(&license).await;
    let answer = app.validate(json!({ "key": key })).await;
    assert_eq!(answer["code"], "EXPIRED", "{answer}");
    assert_eq!(
        answer["next_action"]["url"],
        format!("{}/licenses/{license}/renew", app.address)
    );
}

#[tokio::test]
async fn a_paddle_offer_opens_paddles_checkout_with_the_reference() {
    let app = shop_with_paddle_token().await;
    let p = app.with_license(json!({})).await;
    let (customer, license) = customer_with_license(&app, &p).await;
    let offer = app
        .offer(
            &p.token,
            json!({ "license_type_id": p.license_type_id, "name": "Monthly",
                    "provider": "paddle", "price_id": "pri_01monthly", "billing": "subscription" }),
        )
        .await;
    let res = customer
        .post(
            "/checkout",
            &[
                ("offer_id", offer["id"].as_str().unwrap()),
                ("purpose", "renew"),
                ("license_id", &license),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let policy = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("script-src 'self' https://cdn.paddle.com"),
        "{policy}"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("data-price=\"pri_01monthly\""), "{page}");
    assert!(page.contains("data-reference=\"ref_"), "{page}");
    assert!(page.contains("data-sandbox=\"1\""), "{page}");
    // Every other page keeps the strict policy.
    let res = customer.get("/licenses").await;
    assert!(
        !res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("paddle")
    );
}

#[tokio::test]
async fn admins_add_and_retire_offers_and_a_refused_one_keeps_what_was_typed() {
    let app = shop_with_paddle_token().await;
    let p = app.with_license(json!({})).await;
    let admin = app.with_staff(Role::Admin).await;
    let (product_id,): (String,) =
        sqlx::query_as("SELECT product_id FROM license_types WHERE id = $1")
            .bind(&p.license_type_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let path = format!("/admin/products/{product_id}/offers");
    let form = |price: &'static str| {
        vec![
            ("license_type_id", p.license_type_id.clone()),
            ("name", "Team yearly".to_owned()),
            ("provider", "stripe".to_owned()),
            ("price_id", price.to_owned()),
            (
                "checkout_url",
                "https://buy.stripe.com/test_team".to_owned(),
            ),
            ("billing", "subscription".to_owned()),
            ("max_machines", "10".to_owned()),
            ("entitlements", "pro".to_owned()),
            ("on_refund", "suspend".to_owned()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let admin = &admin;
        let path = path.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            admin.post(&path, &fields).await
        }
    };
    let res = post(form("price id with spaces")).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"o-price-error\""), "{page}");
    assert!(page.contains("value=\"Team yearly\""), "typed input kept");

    let res = post(form("price_team_yearly")).await;
    assert_eq!(res.status(), 303);
    let page = admin.html(&format!("/admin/products/{product_id}")).await;
    assert!(page.contains("price_team_yearly"), "{page}");
    assert!(
        page.contains("10 seats · features: pro · a refund suspends"),
        "{page}"
    );

    // One price, one offer.
    let res = post(form("price_team_yearly")).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("already sells"));

    // Retired: no longer sold, still listed.
    let (offer_id,): (String,) = sqlx::query_as("SELECT id FROM offers")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let res = admin
        .post(
            &format!("/admin/offers/{offer_id}/retire"),
            &[("product_id", &product_id)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = admin.html(&format!("/admin/products/{product_id}")).await;
    assert!(page.contains("Team yearly (retired)"), "{page}");
    let res = app
        .get_json(&format!("/api/v1/offers/{offer_id}"), &p.token)
        .await;
    let offer: Value = res.json().await.unwrap();
    assert!(offer["retired_at"].is_i64(), "{offer}");

    // Support staff cannot change the catalog.
    let support = app.with_staff(Role::Support).await;
    let res = support
        .post(
            &format!("/admin/offers/{offer_id}/retire"),
            &[("product_id", &product_id)],
        )
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn the_expiry_reminder_leads_to_the_renewal_page() {
    let app = shop_with_paddle_token().await;
    let p = app.with_license(json!({})).await;
    let (_customer, license) = customer_with_license(&app, &p).await;
    // Seven days before the expiry the reminder goes out.
    app.clock.advance_secs(3 * DAY + 60);
    crate::emails::sweep(&app).await;
    let mail = app
        .mail
        .wait_for("renew@example.com", "license expires")
        .await;
    let link = mail.link("/renew");
    assert!(
        link.ends_with(&format!("/licenses/{license}/renew")),
        "{link}"
    );
}

#[tokio::test]
async fn offers_take_the_providers_own_words_and_refuse_what_is_not_one() {
    let app = shop_with_paddle_token().await;
    let p = app.with_license(json!({})).await;
    let offer = app
        .offer(
            &p.token,
            json!({ "license_type_id": p.license_type_id, "name": "Monthly", "provider": "stripe",
                    "price": "price_words", "payment_link": "https://buy.stripe.com/test_words",
                    "billing": "recurring" }),
        )
        .await;
    assert_eq!(offer["billing"], "subscription");
    assert_eq!(offer["checkout_url"], "https://buy.stripe.com/test_words");
    assert_eq!(offer["price_id"], "price_words");
    let listed: Value = app
        .get_json(
            &format!("/api/v1/offers?license_type_id={}", p.license_type_id),
            &p.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    for (body, field) in [
        (json!({ "provider": "paypal" }), "provider"),
        (json!({ "billing": "weekly" }), "billing"),
        (
            json!({ "checkout_url": "http://buy.stripe.com/x" }),
            "checkout_url",
        ),
        (json!({ "price_id": "price with spaces" }), "price_id"),
        (json!({ "duration_days": 0 }), "duration_days"),
        (
            json!({ "entitlements": ["no such feature"] }),
            "entitlements",
        ),
    ] {
        let mut full = json!({ "license_type_id": p.license_type_id, "name": "Bad",
                               "provider": "stripe", "price_id": "price_bad", "billing": "one_time" });
        for (k, v) in body.as_object().unwrap() {
            full[k] = v.clone();
        }
        let res = app.post_json("/api/v1/offers", Some(&p.token), &full).await;
        assert_eq!(res.status(), 422, "{field}");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["field"], field, "{problem}");
    }
    let res = app
        .post_json(
            "/api/v1/offers",
            Some(&p.token),
            &json!({ "license_type_id": p.license_type_id, "name": "Twice", "provider": "stripe",
                     "price_id": "price_words", "billing": "one_time" }),
        )
        .await;
    assert_eq!(res.status(), 409, "one offer per price");
}
