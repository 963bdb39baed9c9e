//! The support console: every route checked by role on the server, one
//! search box over every identifier, the customer and license pages, and
//! "explain a validation".

use licensor::domain::role::Role;
use serde_json::json;

use crate::emails::staff_browser;
use crate::helpers::{TestApp, spawn_demo_app};
use crate::portal::{Browser, verified_customer};

/// A customer with a claimed trial and one activated machine; returns the
/// license id, its key and the organization id.
async fn customer_with_machine(app: &TestApp, email: &str) -> (String, String, String) {
    let b = verified_customer(app, email).await;
    assert_eq!(b.claim_trial().await.status(), 303);
    let (license_id, org): (String, String) = sqlx::query_as(
        "SELECT l.id, l.organization_id FROM licenses l JOIN users u \
         ON u.organization_id = l.organization_id WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let key = licensor::services::licensing::reveal_key(
        &app.db,
        &crate::helpers::cipher_of(app),
        &license_id,
    )
    .await
    .unwrap()
    .expose();
    let res = app
        .post_json(
            "/api/v1/machines/activate",
            None,
            &json!({"key": key, "fingerprint": "fp-render-01", "name": "Render Node", "platform": "Linux"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    (license_id, key, org)
}

#[tokio::test]
async fn every_console_route_is_checked_by_role() {
    let app = spawn_demo_app().await;
    let (license_id, _, org) = customer_with_machine(&app, "role@example.com").await;
    let customer = verified_customer(&app, "other-role@example.com").await;
    let support = staff_browser(&app, Role::Support).await;
    let admin = staff_browser(&app, Role::Admin).await;
    let anonymous = Browser::new(&app);
    let (message_id,): (String,) = sqlx::query_as("SELECT id FROM outbox LIMIT 1")
        .fetch_one(app.db.pool())
        .await
        .unwrap();

    // (method, path, support, admin): the status each role gets.
    let routes: Vec<(&str, String, u16, u16)> = vec![
        ("GET", "/admin".to_owned(), 200, 200),
        ("POST", "/admin".to_owned(), 200, 200),
        ("GET", "/admin/outbox".to_owned(), 200, 200),
        ("GET", format!("/admin/customers/{org}"), 200, 200),
        ("GET", format!("/admin/licenses/{license_id}"), 200, 200),
        (
            "GET",
            format!("/admin/licenses/{license_id}?fingerprint=fp-render-01"),
            200,
            200,
        ),
        (
            "POST",
            format!("/admin/outbox/{message_id}/resend"),
            303,
            303,
        ),
    ];
    for (method, path, support_status, admin_status) in &routes {
        for (who, browser, expected) in [
            ("anonymous", &anonymous, 303),
            ("customer", &customer, 403),
            ("support", &support, *support_status),
            ("admin", &admin, *admin_status),
        ] {
            let res = if *method == "GET" {
                browser.get(path).await
            } else {
                browser
                    .post(path, &[("reason", "role matrix"), ("q", "role")])
                    .await
            };
            assert_eq!(res.status().as_u16(), expected, "{who} {method} {path}");
            if who == "anonymous" {
                assert_eq!(res.headers()["location"], "/login", "{path}");
            }
        }
    }
    // Staff never reach the customer portal's pages either.
    assert_eq!(support.get("/licenses").await.status(), 403);
}

#[tokio::test]
async fn one_search_box_finds_customers_and_licenses_by_anything_they_quote() {
    let app = spawn_demo_app().await;
    let (license_id, key, org) = customer_with_machine(&app, "quote@example.com").await;
    let support = staff_browser(&app, Role::Support).await;
    let search = |q: String| {
        let support = &support;
        async move {
            let res = support.post("/admin", &[("q", q.as_str())]).await;
            assert_eq!(res.status(), 200);
            res.text().await.unwrap()
        }
    };
    let license_link = format!("href=\"/admin/licenses/{license_id}\"");
    let customer_link = format!("href=\"/admin/customers/{org}\"");
    for (q, link) in [
        ("quote@example.com".to_owned(), &customer_link),
        ("QUOTE@example".to_owned(), &customer_link),
        ("acme".to_owned(), &customer_link),
        (org.clone(), &customer_link),
        (license_id.clone(), &license_link),
        (key.clone(), &license_link),
        (key.to_lowercase().replace('-', " "), &license_link),
        (key[key.len() - 4..].to_lowercase(), &license_link),
        ("fp-render-01".to_owned(), &license_link),
        ("render node".to_owned(), &license_link),
    ] {
        let page = search(q.clone()).await;
        assert!(page.contains(link.as_str()), "{q}: {page}");
        assert!(!page.contains(&key), "{q}: the key is never shown");
    }
    let page = search("no-such-thing-anywhere".to_owned()).await;
    assert!(page.contains("Nothing matches"));
    // LIKE wildcards are taken literally.
    assert!(search("%".to_owned()).await.contains("Nothing matches"));
}

#[tokio::test]
async fn the_customer_and_license_pages_answer_why_a_license_does_not_work() {
    let app = spawn_demo_app().await;
    let (license_id, key, org) = customer_with_machine(&app, "why@example.com").await;
    let support = staff_browser(&app, Role::Support).await;

    let page = support.html(&format!("/admin/customers/{org}")).await;
    for expected in [
        "why@example.com",
        "Acme Ltd",
        "Done",
        "Render Node",
        "fp-render-01",
        "verify_email",
        "welcome",
        "machine_activated",
        "license.activated",
        "license.created",
    ] {
        assert!(page.contains(expected), "customer page lacks {expected}");
    }
    assert!(!page.contains(&key));

    let page = support.html(&format!("/admin/licenses/{license_id}")).await;
    assert!(page.contains("Explain a validation") && page.contains("node-locked"));
    assert!(!page.contains(&key));

    let explain = |q: &str| {
        let support = &support;
        let url = format!("/admin/licenses/{license_id}?{q}");
        async move { support.html(&url).await }
    };
    let verdict = |page: &str| {
        let marker = "The API answers <strong class=\"code\">";
        let start = page.find(marker).unwrap() + marker.len();
        page[start..start + page[start..].find('<').unwrap()].to_owned()
    };
    let page = explain("fingerprint=fp-render-01").await;
    assert_eq!(verdict(&page), "VALID");
    assert_eq!(page.matches("passed").count(), 10, "every check ran");
    let page = explain("fingerprint=fp-unknown").await;
    assert_eq!(verdict(&page), "NOT_ACTIVATED");
    assert!(page.contains("<tr class=\"decided\"><td class=\"code\">NOT_ACTIVATED</td>"));
    let page = explain("fingerprint=fp-render-01&product=other-app").await;
    assert_eq!(verdict(&page), "PRODUCT_MISMATCH");
    let page = explain("fingerprint=fp-render-01&entitlements=pro,%20enterprise").await;
    assert_eq!(verdict(&page), "ENTITLEMENT_MISSING");
    let page = explain("fingerprint=bad%20fingerprint!").await;
    assert!(page.contains("cannot be used"));
    // The same answer as the API itself gives.
    let res = app
        .post_json(
            "/api/v1/licenses/validate",
            None,
            &json!({"key": key, "fingerprint": "fp-unknown"}),
        )
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "NOT_ACTIVATED");

    assert_eq!(
        support
            .get("/admin/licenses/01a224ca-7b2c-76bc-b555-28ab9da014f9")
            .await
            .status(),
        404
    );
    assert_eq!(
        support.get("/admin/customers/not-an-id").await.status(),
        404
    );
}
