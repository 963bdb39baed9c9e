//! Limits on the people-facing forms: 429 pages with Retry-After, growing
//! delays after failed sign-ins, the same for unknown accounts, and every
//! limit configurable.

use std::time::Duration;

use licensor::config::Source;

use crate::support::form_browser::{Browser, PASSWORD};
use crate::support::{TestDatabase, spawn_app_on, spawn_app_with};

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn failed_sign_ins_earn_growing_delays_for_known_and_unknown_accounts() {
    let app = spawn_app_with(|_| {}, true).await;
    let _customer = app.with_customer("victim@example.com").await;
    for account in ["victim@example.com", "nobody@example.com"] {
        let b = Browser::new(&app);
        for _ in 0..3 {
            let res = b.sign_in(account, "not the password at all").await;
            assert_eq!(res.status(), 401, "{account}");
        }
        // The third failure earned a 1 s wait; even the right password waits.
        let res = b.sign_in(account, PASSWORD).await;
        assert_eq!(res.status(), 429, "{account}");
        assert!(retry_after(&res) <= 1);
        let html = res.text().await.unwrap();
        assert!(html.contains("Too many failed sign-ins"), "{html}");
        // The form stays, with the address typed and when to try again.
        assert!(
            html.contains("try again in 1 second") || html.contains("Try again in 1 second"),
            "{html}"
        );
        assert!(html.contains("action=\"/login\""), "{html}");
        assert!(html.contains(&format!("value=\"{account}\"")), "{html}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // One more failure doubles the wait.
        assert_eq!(
            b.sign_in(account, "wrong again, still wrong")
                .await
                .status(),
            401
        );
        let res = b.sign_in(account, PASSWORD).await;
        assert_eq!(res.status(), 429);
        // 2 s from the failure (1 when the request itself was slow).
        assert!((1..=2).contains(&retry_after(&res)), "{account}");
    }
    // After the wait the right password works, and clears the record.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let b = Browser::new(&app);
    assert_eq!(
        b.sign_in("victim@example.com", PASSWORD).await.status(),
        303
    );
    assert_eq!(
        b.sign_in("victim@example.com", "one wrong password here")
            .await
            .status(),
        401,
        "a fresh start after a success"
    );
}

/// Two instances on one database: failures sent to one delay the account
/// on the other, so guesses spread over N instances wait as long as guesses
/// sent to one; a success on either clears them.
#[tokio::test]
async fn failed_sign_in_delays_hold_across_instances() {
    let a = spawn_app_with(|_| {}, true).await;
    let _customer = a.with_customer("victim@example.com").await;
    let secret = a._data_dir.path().join("secret.key");
    assert!(secret.is_file(), "the first instance's secret");
    let b = spawn_app_on(
        TestDatabase::existing(&a.database.url),
        &a.database.url,
        |raw| raw.set("secret_file", secret.display().to_string(), Source::Default),
        false,
    )
    .await;
    let (on_a, on_b) = (Browser::new(&a), Browser::new(&b));
    for browser in [&on_a, &on_b, &on_a] {
        let res = browser
            .sign_in("victim@example.com", "a wrong guess, again")
            .await;
        assert_eq!(res.status(), 401);
    }
    // The third failure (on A) delays the account on B too.
    let res = on_b.sign_in("victim@example.com", PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(retry_after(&res) <= 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // A fourth failure on B doubles the wait on A.
    assert_eq!(
        on_b.sign_in("Victim@Example.com", "one more wrong guess")
            .await
            .status(),
        401
    );
    let res = on_a.sign_in("victim@example.com", PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!((1..=2).contains(&retry_after(&res)));
    // No address is stored, only its digest.
    let (stored,): (String,) = sqlx::query_as("SELECT account FROM sign_in_failures")
        .fetch_one(a.db.pool())
        .await
        .unwrap();
    assert!(!stored.contains("victim") && stored.len() == 64, "{stored}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        on_b.sign_in("victim@example.com", PASSWORD).await.status(),
        303
    );
    assert_eq!(
        a.count("sign_in_failures").await,
        0,
        "a success clears them"
    );
}

#[tokio::test]
async fn sign_ups_resets_and_reveals_are_limited_as_configured() {
    let app = spawn_app_with(
        |raw| {
            raw.set("rate_limit_sign_up_ip", "2", Source::Default);
            raw.set("rate_limit_password_reset", "2", Source::Default);
            raw.set("rate_limit_key_reveal", "1", Source::Default);
            raw.set("rate_limit_sign_in_ip", "0", Source::Default);
        },
        true,
    )
    .await;
    let owner = app.with_customer("limits@example.com").await; // sign-up 1
    let b = Browser::new(&app);
    assert_eq!(
        b.sign_up("second@example.com", "Second").await.status(),
        200
    );
    let res = b.sign_up("third@example.com", "Third").await;
    assert_eq!(res.status(), 429);
    assert!(retry_after(&res) > 0);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "a page for people"
    );

    for _ in 0..2 {
        let res = b
            .post("/forgot-password", &[("email", "limits@example.com")])
            .await;
        assert_eq!(res.status(), 303);
    }
    let res = b
        .post("/forgot-password", &[("email", "limits@example.com")])
        .await;
    assert_eq!(res.status(), 429);

    assert_eq!(owner.claim_trial().await.status(), 303);
    let (license_id,): (String,) = sqlx::query_as("SELECT id FROM licenses")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let reveal = format!("/licenses/{license_id}/reveal");
    let res = owner.post(&reveal, &[("password", PASSWORD)]).await;
    assert_eq!(res.status(), 303);
    let res = owner.post(&reveal, &[("password", PASSWORD)]).await;
    assert_eq!(res.status(), 429);
    // Limits are per instance and configurable to off.
    let open = spawn_app_with(
        |raw| raw.set("rate_limit_sign_up_ip", "0", Source::Default),
        false,
    )
    .await;
    let b = Browser::new(&open);
    for i in 0..25 {
        assert_eq!(
            b.sign_up(&format!("open-{i}@example.com"), "Open")
                .await
                .status(),
            200
        );
    }
}

/// Signs up through a proxy that says the client is `forwarded_for`.
async fn sign_up_via(
    b: &Browser,
    app: &crate::support::TestApp,
    email: &str,
    forwarded_for: &str,
) -> u16 {
    let csrf = b.csrf().await;
    b.client
        .post(app.url("/signup"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", PASSWORD),
            ("organization", "Proxied"),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // Behind a trusted proxy (the test client is 127.0.0.1), each client
    // has its own budget.
    let behind = spawn_app_with(
        |raw| {
            raw.set("rate_limit_sign_up_ip", "1", Source::Default);
            raw.set("trusted_proxies", "127.0.0.1", Source::Default);
        },
        false,
    )
    .await;
    let b = Browser::new(&behind);
    assert_eq!(
        sign_up_via(&b, &behind, "p1@example.com", "203.0.113.1").await,
        303
    );
    assert_eq!(
        sign_up_via(&b, &behind, "p2@example.com", "203.0.113.2").await,
        303
    );
    assert_eq!(
        sign_up_via(&b, &behind, "p3@example.com", "198.51.100.9, 203.0.113.2").await,
        429,
        "a forged leftmost entry does not buy a new budget"
    );

    // Without trusted proxies the header is ignored: one budget for the peer.
    let direct = spawn_app_with(
        |raw| raw.set("rate_limit_sign_up_ip", "1", Source::Default),
        false,
    )
    .await;
    let b = Browser::new(&direct);
    assert_eq!(
        sign_up_via(&b, &direct, "d1@example.com", "203.0.113.1").await,
        303
    );
    assert_eq!(
        sign_up_via(&b, &direct, "d2@example.com", "203.0.113.2").await,
        429
    );
}

const METRICS_TOKEN: &str = "metrics-token-for-the-scraper-0001";

async fn scrape(app: &crate::support::TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url("/metrics"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn verification_resends_are_limited_and_every_refusal_is_counted_in_metrics() {
    let app = spawn_app_with(
        |raw| {
            raw.set("rate_limit_verification_resend", "1", Source::Default);
            raw.set("rate_limit_sign_in_ip", "2", Source::Default);
            raw.set("metrics_token", METRICS_TOKEN, Source::Default);
        },
        true,
    )
    .await;
    let b = Browser::new(&app);
    assert_eq!(
        b.sign_up("unverified@example.com", "Slow Ltd")
            .await
            .status(),
        200
    );
    app.mail.wait_for("unverified@example.com", "Confirm").await;
    assert_eq!(
        b.sign_in("unverified@example.com", PASSWORD).await.status(),
        303
    );
    let res = b.post("/verify-email/resend", &[]).await;
    assert_eq!(res.status(), 303);
    let res = b.post("/verify-email/resend", &[]).await;
    assert_eq!(res.status(), 429, "the hourly limit, before the cooldown");
    assert!(retry_after(&res) > 60);
    // Two more sign-ins from this address pass the per-minute limit of 2
    // only once (the one above counted).
    let other = Browser::new(&app);
    assert_eq!(
        other
            .sign_in("someone@example.com", "not the password at all")
            .await
            .status(),
        401
    );
    assert_eq!(
        other
            .sign_in("someone@example.com", "not the password at all")
            .await
            .status(),
        429
    );

    // The metrics need the token; the answer counts each limiter's refusals.
    let res = scrape(&app, None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(
        scrape(&app, Some("metrics-token-for-the-scraper-0002"))
            .await
            .status(),
        401
    );
    let res = scrape(&app, Some(METRICS_TOKEN)).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = res.text().await.unwrap();
    assert!(
        text.contains("licensor_rate_limited_total{limiter=\"verification_resend\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("licensor_rate_limited_total{limiter=\"sign_in_ip\"} 1"),
        "{text}"
    );
    // Requests by route template and status; never a raw path.
    assert!(
        text.contains(
            "licensor_http_request_duration_seconds_count{method=\"POST\",route=\"/verify-email/resend\",status=\"429\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("route=\"/login\",status=\"401\""), "{text}");

    // A 404 path is one series, whatever was asked for.
    app.get("/no/such/page/12345").await;
    let text = scrape(&app, Some(METRICS_TOKEN))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("route=\"unmatched\",status=\"404\""),
        "{text}"
    );
    assert!(!text.contains("12345"), "{text}");

    // Without a token configured, there is no metrics endpoint at all.
    let plain = spawn_app_with(|_| {}, false).await;
    assert_eq!(scrape(&plain, Some(METRICS_TOKEN)).await.status(), 404);
}
