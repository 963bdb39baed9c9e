//! Secrets stay out of the log: a full journey's captured JSON log holds no
//! license key, password, token, session id, signed link or webhook secret.

use licensor::domain::role::Role;
use serde_json::json;

use crate::emails::brand_of;
use crate::support::form_browser::{Browser, PASSWORD};
use crate::support::{captured_log, spawn_demo_app};

#[tokio::test]
async fn a_full_journey_logs_no_secret() {
    let app = spawn_demo_app().await;
    let email = "secretive@example.com";
    let b = app.with_customer(email).await;
    let verify_link = app
        .mail
        .wait_for(email, "Confirm your email")
        .await
        .link("/verify-email?token=");
    let verify_token = verify_link.split("token=").nth(1).unwrap().to_owned();
    assert_eq!(b.claim_trial().await.status(), 303);
    let (license_id, user_id): (String, String) = sqlx::query_as(
        "SELECT l.id, u.id FROM licenses l JOIN users u ON u.organization_id = l.organization_id",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    // The customer reveals the key with their password, the app activates.
    let res = b
        .post(
            &format!("/licenses/{license_id}/reveal"),
            &[("password", PASSWORD)],
        )
        .await;
    assert!(res.status().is_success() || res.status().is_redirection());
    let key = licensor::services::licensing::reveal_key(
        &app.db,
        &crate::support::cipher_of(&app),
        &crate::support::lid(&license_id),
    )
    .await
    .unwrap();
    assert_eq!(app.activate(&key.expose(), "fp-secret").await.status(), 201);
    let res = app
        .post_json(
            "/api/v1/licenses/validate",
            None,
            &json!({"key": key.expose().to_lowercase(), "fingerprint": "fp-secret"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // A malformed key and a wrong one: errors name no key either.
    app.post_json(
        "/api/v1/licenses/validate",
        None,
        &json!({"key": "AAAAA-BBBBB"}),
    )
    .await;
    // A password reset.
    let anonymous = Browser::new(&app);
    anonymous
        .post("/forgot-password", &[("email", email)])
        .await;
    let reset_link = app
        .mail
        .wait_for(email, "Reset your")
        .await
        .link("/reset-password");
    let reset_token = reset_link.split("token=").nth(1).unwrap().to_owned();
    anonymous.get(&reset_link).await;
    // An API token in use, a webhook endpoint, an unsubscribe link.
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    let res = app
        .client
        .get(app.url(&format!("/api/v1/licenses/{license_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let admin = app.with_staff(Role::Admin).await;
    let res = admin
        .post_and_follow(
            "/admin/webhooks",
            &[("url", "http://127.0.0.1:9/hooks"), ("events", "*")],
        )
        .await;
    let html = res.text().await.unwrap();
    let start = html.find("whsec_").unwrap();
    let webhook_secret = html[start..start + html[start..].find('<').unwrap()].to_owned();
    admin.post("/admin", &[("q", &key.expose())]).await;
    let unsubscribe = brand_of(&app).unsubscribe_link(&user_id);
    Browser::new(&app)
        .client
        .post(&unsubscribe)
        .send()
        .await
        .unwrap();
    let link_token = unsubscribe.split("&t=").nth(1).unwrap().to_owned();
    // The session cookie's value.
    let session = app
        .client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .cookies()
        .find(|c| c.name() == "licensor_session")
        .map(|c| c.value().to_owned());

    let log = captured_log();
    assert!(log.contains("request finished"), "the log is captured");
    assert!(log.contains(&license_id), "ids are fine to log");
    let canonical = key.expose().replace('-', "");
    let mut secrets = vec![
        ("license key", key.expose()),
        ("license key, canonical", canonical.clone()),
        ("license key, lower case", key.expose().to_lowercase()),
        ("password", PASSWORD.to_owned()),
        ("verification token", verify_token),
        ("reset token", reset_token),
        ("API token", token),
        ("webhook secret", webhook_secret),
        ("unsubscribe link token", link_token),
    ];
    if let Some(s) = session {
        secrets.push(("session cookie", s));
    }
    for (what, secret) in secrets {
        assert!(!secret.is_empty(), "{what}");
        assert!(!log.contains(&secret), "the {what} reached the log");
    }
}

/// The request line of the request with this id, from the captured log.
fn request_line(request_id: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let found = captured_log().lines().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            (v["message"] == "request finished" && v["span"]["request_id"] == request_id)
                .then_some(v)
        });
        if let Some(v) = found {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request line for {request_id}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test]
async fn request_lines_carry_route_status_latency_user_and_license_but_never_the_key() {
    let app = spawn_demo_app().await;
    let b = app.with_customer("logged@example.com").await;
    assert_eq!(b.claim_trial().await.status(), 303);
    let (license_id, user_id): (String, String) = sqlx::query_as(
        "SELECT l.id, u.id FROM licenses l JOIN users u ON u.organization_id = l.organization_id",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();

    // A signed-in page: the user is on its line.
    let res = b.get(&format!("/licenses/{license_id}")).await;
    assert_eq!(res.status(), 200);
    let rid = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let line = request_line(&rid);
    assert_eq!(line["status"], 200);
    assert_eq!(line["route"], "/licenses/{id}");
    assert!(line["latency_ms"].as_f64().is_some());
    assert_eq!(line["span"]["user_id"], user_id.as_str());
    assert_eq!(line["span"]["http.method"], "GET");

    // A validation: the license is on its line, the key is not.
    let key = app.key_of(&license_id).await;
    let res = app
        .post_json(
            "/api/v1/licenses/validate",
            None,
            &json!({ "key": key, "fingerprint": "fp-log" }),
        )
        .await;
    let rid = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let line = request_line(&rid);
    assert_eq!(line["route"], "/api/v1/licenses/validate");
    assert_eq!(line["license_id"], license_id.as_str());
    let text = line.to_string();
    assert!(!text.contains(&key) && !text.contains(&key.replace('-', "")));

    // An unmatched path is "unmatched", whatever was asked for.
    let res = app.get("/no/such/thing").await;
    let rid = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(request_line(&rid)["route"], "unmatched");
}
