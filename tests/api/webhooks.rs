//! The CRM link: signed webhook deliveries of every change, through the
//! outbox, with a delivery log, retries and redelivery.

use std::collections::HashSet;

use licensor::domain::role::Role;
use licensor::domain::time::Timestamp;
use serde_json::json;

use crate::interop::{python_block, python_with_cryptography, run_python};
use crate::support::form_browser::Browser;
use crate::support::spawn_demo_app;
use crate::webhook_sink::{Delivery, WebhookSink};

/// Adds an endpoint in the console; returns its id and secret (shown once,
/// on the endpoint's page the form leads to).
async fn add_endpoint(admin: &Browser, url: &str, events: &[&str]) -> (String, String) {
    let mut fields = vec![("url", url)];
    fields.extend(events.iter().map(|e| ("events", *e)));
    let res = admin.post("/admin/webhooks", &fields).await;
    assert_eq!(res.status(), 303, "post/redirect/get");
    let page = crate::support::form_browser::location(&res);
    let id = page.trim_start_matches("/admin/webhooks/").to_owned();
    let html = admin.html(&page).await;
    let marker = "<code id=\"signing-secret\">";
    let start = html.find(marker).expect("the secret is shown") + marker.len();
    let secret = html[start..start + html[start..].find('<').unwrap()].to_owned();
    assert!(
        !admin.html(&page).await.contains(&secret),
        "the secret is shown once"
    );
    (id, secret)
}

fn assert_signed(d: &Delivery, secret: &str) {
    let id = &d.headers["webhook-id"];
    let ts: i64 = d.headers["webhook-timestamp"].parse().unwrap();
    assert_eq!(d.json()["id"], id.as_str(), "the body names the same id");
    assert_eq!(
        d.headers["webhook-signature"],
        licensor::services::webhooks::signature(secret, id, ts, &d.body).unwrap()
    );
    assert_eq!(d.headers["content-type"], "application/json");
}

#[tokio::test]
async fn a_crm_receives_every_change_signed_and_verifies_it() {
    let app = spawn_demo_app().await;
    // Receivers check the timestamp against their own clock.
    app.clock.set(Timestamp::now());
    let sink = WebhookSink::start().await;
    let filtered = WebhookSink::start().await;
    let admin = app.with_staff(Role::Admin).await;
    let (endpoint_id, secret) = add_endpoint(&admin, &sink.url(), &["*"]).await;
    assert!(secret.starts_with("whsec_"));
    let (_, other_secret) = add_endpoint(&admin, &filtered.url(), &["license.revoked"]).await;
    assert!(
        !admin.html("/admin/webhooks").await.contains(&secret),
        "shown once"
    );

    // A customer's whole journey.
    let b = app.with_customer("crm-journey@example.com").await;
    assert_eq!(b.claim_trial().await.status(), 303);
    let (license_id, key) = app.license_and_key_of("crm-journey@example.com").await;
    assert_eq!(app.activate(&key, "fp-crm-1").await.status(), 201);
    assert_eq!(app.activate(&key, "fp-crm-2").await.status(), 201);
    let res = app
        .post_json(
            "/api/v1/machines/deactivate",
            None,
            &json!({"key": key, "fingerprint": "fp-crm-2"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    for (action, body) in [
        ("suspend", json!({"reason": "unpaid"})),
        ("reinstate", json!({})),
        ("renew", json!({"days": 30})),
        ("revoke", json!({"reason": "fraud"})),
    ] {
        let res = app
            .post_json(
                &format!("/api/v1/licenses/{license_id}/actions/{action}"),
                Some(&token),
                &body,
            )
            .await;
        assert_eq!(res.status(), 200, "{action}");
    }

    for (event, n) in [
        ("customer.created", 1),
        ("license.created", 1),
        ("license.activated", 2),
        ("onboarding.completed", 1),
        ("license.deactivated", 1),
        ("license.suspended", 1),
        ("license.renewed", 1),
        ("license.revoked", 1),
    ] {
        for d in sink.wait_for(event, n).await {
            assert_signed(&d, &secret);
            assert_eq!(d.json()["type"], event);
        }
    }
    let created = &sink.wait_for("customer.created", 1).await[0];
    assert_eq!(
        created.json()["data"]["user"]["email"],
        "crm-journey@example.com"
    );
    let suspended = &sink.wait_for("license.suspended", 1).await[0];
    let data = suspended.json()["data"].clone();
    assert_eq!(data["license"]["id"], license_id.as_str());
    assert_eq!(data["license"]["status"], "suspended");
    assert_eq!(data["details"]["reason"], "unpaid");
    assert!(
        !String::from_utf8_lossy(&suspended.body).contains(&key),
        "never the key"
    );
    let ids: HashSet<String> = sink
        .all()
        .iter()
        .map(|d| d.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids.len(), sink.all().len(), "one id per event");

    // The filtered endpoint got only what it asked for.
    let only = filtered.wait_for("license.revoked", 1).await;
    assert_signed(&only[0], &other_secret);
    assert_eq!(filtered.all().len(), 1);

    // docs/webhooks.md's verifier accepts a real delivery, refuses edits.
    if python_with_cryptography() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("body.bin"), &suspended.body).unwrap();
        std::fs::write(
            dir.path().join("headers.json"),
            serde_json::to_string(&suspended.headers).unwrap(),
        )
        .unwrap();
        let script = format!(
            "{}\n{}",
            python_block(include_str!("../../docs/webhooks.md")),
            r#"
import json, sys
d = sys.argv[1]
headers = json.load(open(d + "/headers.json"))
body = open(d + "/body.bin", "rb").read()
secret = sys.argv[2]
verify_webhook(secret, headers, body)
print("genuine: ok")
for name, h, b in [("body", headers, body.replace(b"suspended", b"active")),
                   ("id", dict(headers, **{"webhook-id": "forged"}), body),
                   ("secret", headers, body)]:
    try:
        verify_webhook("whsec_" + "QUFBQQ==" if name == "secret" else secret, h, b)
        print("edited " + name + ": ACCEPTED")
    except ValueError:
        print("edited " + name + ": rejected")
"#
        );
        let stdout = run_python(
            dir.path(),
            &script,
            &[dir.path().as_os_str(), std::ffi::OsStr::new(&secret)],
        );
        assert_eq!(
            stdout.lines().collect::<Vec<_>>(),
            [
                "genuine: ok",
                "edited body: rejected",
                "edited id: rejected",
                "edited secret: rejected"
            ]
        );
    }

    // The delivery log shows each delivery with the receiver's answer.
    let page = admin.html(&format!("/admin/webhooks/{endpoint_id}")).await;
    assert!(
        page.contains("license.suspended") && page.contains(">200<"),
        "{page}"
    );
}

#[tokio::test]
async fn failed_deliveries_are_retried_logged_and_redelivered_with_the_same_id() {
    let app = spawn_demo_app().await;
    let sink = WebhookSink::start().await;
    sink.answer(500);
    let admin = app.with_staff(Role::Admin).await;
    let support = app.with_staff(Role::Support).await;
    assert_eq!(support.get("/admin/webhooks").await.status(), 403);
    let (endpoint_id, secret) = add_endpoint(&admin, &sink.url(), &["customer.created"]).await;

    let _b = app.with_customer("retry@example.com").await;
    let first = sink.wait_for("customer.created", 1).await;
    let id = first[0].headers["webhook-id"].clone();
    // Failed: logged with the code, waiting for its retry.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page = admin.html(&format!("/admin/webhooks/{endpoint_id}")).await;
        if page.contains(">500<") && page.contains("failed") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The receiver recovers; the retry is due after the backoff.
    sink.answer(204);
    app.clock.advance_secs(31);
    let both = sink.wait_for("customer.created", 2).await;
    assert_eq!(both[1].headers["webhook-id"], id, "a retry keeps its id");
    assert_signed(&both[1], &secret);
    assert_ne!(
        both[0].headers["webhook-timestamp"], both[1].headers["webhook-timestamp"],
        "each attempt is signed at its time"
    );
    // Delivered: later passes do not send it again.
    app.clock.advance_secs(6 * 3600);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.all().len(), 2, "not sent twice after success");

    // Redeliver from the log: the same id again.
    let (delivery_id,): (String,) =
        sqlx::query_as("SELECT id FROM outbox WHERE webhook_endpoint_id = $1")
            .bind(&endpoint_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let res = admin
        .post(
            &format!("/admin/webhooks/{endpoint_id}/actions"),
            &[("action", "redeliver"), ("delivery_id", &delivery_id)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let three = sink.wait_for("customer.created", 3).await;
    assert_eq!(three[2].headers["webhook-id"], id);

    // Disabled: nothing new is queued for it. Bad input: a clear form error.
    admin
        .post(
            &format!("/admin/webhooks/{endpoint_id}/actions"),
            &[("action", "disable")],
        )
        .await;
    let _c = app.with_customer("retry-2@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.all().len(), 3);
    for (url, event) in [
        ("ftp://x.example/", "*"),
        ("not a url", "*"),
        ("https://x.example/", "license.exploded"),
    ] {
        let res = admin
            .post("/admin/webhooks", &[("url", url), ("events", event)])
            .await;
        assert_eq!(res.status(), 422, "{url} {event}");
    }
    let res = admin
        .post("/admin/webhooks", &[("url", "https://x.example/")])
        .await;
    assert_eq!(res.status(), 422, "no events");
    admin
        .post(
            &format!("/admin/webhooks/{endpoint_id}/actions"),
            &[("action", "delete"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        admin
            .get(&format!("/admin/webhooks/{endpoint_id}"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn an_admin_sends_a_test_event_and_a_refused_url_is_kept() {
    let app = spawn_demo_app().await;
    app.clock.set(Timestamp::now());
    let sink = WebhookSink::start().await;
    let admin = app.with_staff(Role::Admin).await;

    let res = admin
        .post(
            "/admin/webhooks",
            &[
                ("url", "crm.example.com/hooks"),
                ("events", "license.revoked"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("value=\"crm.example.com/hooks\""), "{page}");
    assert!(page.contains("value=\"license.revoked\" checked"), "{page}");
    assert!(page.contains("aria-invalid=\"true\""));
    assert!(page.contains("starting with https://"));
    assert!(
        page.contains("href=\"/docs/webhooks.md\""),
        "the docs are a link"
    );
    let docs = admin.get("/docs/webhooks.md").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("webhook-signature"));

    let (id, secret) = add_endpoint(&admin, &sink.url(), &["license.revoked"]).await;
    let res = admin
        .post(
            &format!("/admin/webhooks/{id}/actions"),
            &[("action", "test")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        admin
            .html(&format!("/admin/webhooks/{id}"))
            .await
            .contains("A test event (webhook.test) is queued")
    );
    let delivery = sink.wait_for("webhook.test", 1).await.remove(0);
    assert_signed(&delivery, &secret);
    assert_eq!(delivery.json()["data"]["endpoint_id"], id.as_str());
}
