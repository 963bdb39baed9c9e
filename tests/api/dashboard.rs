//! The admin dashboard and the metrics after a scripted journey of known
//! size: 20 sign-ups, 15 verified, 10 licensed, 7 activated, 5 validated
//! successfully, and known refusals. Every number is checked against what
//! the script did, in the page, the CSV downloads and `/metrics`.

use licensor::config::Source;
use licensor::domain::role::Role;
use serde_json::json;

use crate::support::form_browser::{Browser, PASSWORD};
use crate::support::spawn_app_with;

const TOKEN: &str = "dashboard-metrics-token-0123456789";

fn email(i: usize) -> String {
    format!("customer-{i:02}@example.com")
}

/// Every `<svg>…</svg>` of a page, each parsed as XML.
fn assert_svgs_are_well_formed(html: &str) -> usize {
    let mut count = 0;
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("a closed svg") + start + "</svg>".len();
        let svg = &rest[start..end];
        let doc =
            roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("malformed SVG: {e}\n{svg}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert!(doc.descendants().any(|n| n.has_tag_name("title")));
        count += 1;
        rest = &rest[end..];
    }
    count
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
}

#[tokio::test]
async fn the_dashboard_and_metrics_count_a_scripted_journey_exactly() {
    let app = spawn_app_with(
        |raw| {
            raw.set("rate_limit_sign_up_ip", "0", Source::Default);
            raw.set("rate_limit_sign_in_ip", "0", Source::Default);
            raw.set("metrics_token", TOKEN, Source::Default);
        },
        true,
    )
    .await;

    // 20 sign-ups.
    let mut browsers = Vec::new();
    for i in 0..20 {
        let b = Browser::new(&app);
        assert_eq!(
            b.sign_up(&email(i), &format!("Customer {i}"))
                .await
                .status(),
            200
        );
        browsers.push(b);
    }
    // Ten minutes later, 15 confirm their email.
    app.clock.advance_secs(600);
    for (i, b) in browsers.iter().enumerate().take(15) {
        let mail = app.mail.wait_for(&email(i), "Confirm your email").await;
        assert_eq!(
            b.get(&mail.link("/verify-email?token=")).await.status(),
            303
        );
    }
    // Five minutes later, 10 of them sign in and start a trial.
    app.clock.advance_secs(300);
    for (i, b) in browsers.iter().enumerate().take(10) {
        assert_eq!(b.sign_in(&email(i), PASSWORD).await.status(), 303);
        assert_eq!(b.claim_trial().await.status(), 303);
    }
    // Twenty minutes later, 7 activate a machine.
    app.clock.advance_secs(1200);
    let mut keys = Vec::new();
    for i in 0..7 {
        let (_, key) = app.license_and_key_of(&email(i)).await;
        assert_eq!(
            app.activate(&key, &format!("machine-{i}")).await.status(),
            201
        );
        keys.push(key);
    }
    // A minute later, 5 of those applications validate successfully.
    app.clock.advance_secs(60);
    for (i, key) in keys.iter().enumerate().take(5) {
        let v = app
            .validate(json!({ "key": key, "fingerprint": format!("machine-{i}") }))
            .await;
        assert_eq!(v["code"], "VALID");
    }
    // Known refusals: 3 typos, 2 unknown keys, 1 machine that was never
    // activated, and a third machine on a two-seat trial.
    for _ in 0..3 {
        assert_eq!(
            app.validate(json!({ "key": "NOT-A-KEY" })).await["code"],
            "MALFORMED_KEY"
        );
    }
    let unknown = licensor::domain::license_key::LicenseKey::from_random_bytes(&[7; 15]).expose();
    for _ in 0..2 {
        assert_eq!(
            app.validate(json!({ "key": unknown })).await["code"],
            "NOT_FOUND"
        );
    }
    let v = app
        .validate(json!({ "key": keys[5], "fingerprint": "somewhere-else" }))
        .await;
    assert_eq!(v["code"], "NOT_ACTIVATED");
    assert_eq!(app.activate(&keys[0], "second-seat").await.status(), 201);
    assert_eq!(app.activate(&keys[0], "third-seat").await.status(), 409);

    // The usage batch reaches the database within a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (n,): (i64,) =
            sqlx::query_as("SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM api_outcomes")
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        if n == 5 + 3 + 2 + 1 + 8 + 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "outcomes written: {n}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let admin = app.with_staff(Role::Admin).await;
    let page = admin.get("/admin/dashboard").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    // The one-sentence answer.
    assert!(
        html.contains(
            "This week (since 2026-11-23), 20 customers signed up and 5 of them reached a working install (25%), in a median of 36 min from sign-up (90% within 36 min)."
        ),
        "{html}"
    );
    assert!(html.contains(
        "The others stopped: 5 after “signed up”, 5 after “email verified”, 3 after “license assigned”, 2 after “first activation”."
    ));
    assert!(
        assert_svgs_are_well_formed(&html) >= 3,
        "funnel, refusals, seats"
    );
    assert!(
        html.contains("10 licenses in force: <strong>6 active</strong>"),
        "{html}"
    );
    assert!(html.contains("<strong>4 dormant</strong>"));
    assert!(html.contains("<strong>10</strong> expire in the next 30 days"));

    // The funnel, step by step, as CSV.
    let csv = admin.html("/admin/dashboard/funnel.csv").await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        vec![
            "step,reached,conversion_from_previous,stopped_here,median_secs_from_previous,p90_secs_from_previous",
            "Signed up,20,,5,,",
            "Email verified,15,0.7500,5,600,600",
            "License assigned,10,0.6667,3,300,300",
            "First activation,7,0.7000,2,1200,1200",
            "Working install,5,0.7143,,60,60",
        ]
    );
    let weeks = admin.html("/admin/dashboard/weeks.csv").await;
    assert!(
        weeks.contains("\r\n2026-11-23,20,15,10,7,5,2160,1200\r\n"),
        "{weeks}"
    );
    let products = admin.html("/admin/dashboard/products.csv").await;
    assert!(
        products.contains("\r\nDemo App,10,10,10,7,5,2160,1200\r\n"),
        "{products}"
    );
    assert!(
        products.contains("\r\n(no license yet),10,5,0,0,0,,\r\n"),
        "{products}"
    );
    let refusals = admin.html("/admin/dashboard/refusals.csv").await;
    for line in [
        "2026-11-29,MALFORMED_KEY,3",
        "2026-11-29,NOT_FOUND,2",
        "2026-11-29,NOT_ACTIVATED,1",
        "2026-11-29,TOO_MANY_MACHINES,1",
    ] {
        assert!(refusals.contains(line), "{line} in {refusals}");
    }
    let seats = admin.html("/admin/dashboard/seats.csv").await;
    assert!(seats.contains("\r\nDemo App,Trial,10,8,20\r\n"), "{seats}");
    let failing = admin.html("/admin/dashboard/failing-licenses.csv").await;
    assert_eq!(
        failing.lines().count(),
        2,
        "one license had a refused validation"
    );
    let ips = admin.html("/admin/dashboard/failing-ips.csv").await;
    assert!(ips.contains("\r\n127.0.0.1,7,"), "{ips}");
    assert_eq!(
        admin.get("/admin/dashboard/secrets.csv").await.status(),
        404
    );
    assert_eq!(admin.get("/admin/dashboard?weeks=0").await.status(), 400);

    // The same journey in the metrics.
    let text = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (step, n) in [
        ("signed_up", 20),
        ("email_verified", 15),
        ("license_assigned", 10),
        ("first_activation", 7),
        ("first_validation", 5),
    ] {
        assert_eq!(
            metric(
                &text,
                &format!("licensor_onboarding_steps_total{{step=\"{step}\"}}")
            ),
            n,
            "{step}"
        );
    }
    for (endpoint, code, n) in [
        ("validate", "VALID", 5),
        ("validate", "MALFORMED_KEY", 3),
        ("validate", "NOT_FOUND", 2),
        ("validate", "NOT_ACTIVATED", 1),
        ("activate", "OK", 8),
        ("activate", "TOO_MANY_MACHINES", 1),
    ] {
        assert_eq!(
            metric(
                &text,
                &format!("licensor_api_outcomes_total{{endpoint=\"{endpoint}\",code=\"{code}\"}}")
            ),
            n,
            "{endpoint} {code}"
        );
    }
    assert!(
        metric(
            &text,
            "licensor_outbox_deliveries_total{channel=\"email\",result=\"sent\"}"
        ) >= 20
    );
    assert!(text.contains("licensor_outbox_queued{channel=\"email\"}"));
    assert!(text.contains("licensor_db_pool_connections{state=\"max\"} 10"));

    // A customer is refused the dashboard.
    assert_eq!(browsers[0].get("/admin/dashboard").await.status(), 403);
}
