//! Limits on the people-facing forms: 429 pages with Retry-After, growing
//! delays after failed sign-ins, the same for unknown accounts, and every
//! limit configurable.

use std::time::Duration;

use licensor::config::Source;

use crate::helpers::spawn_app_with;
use crate::portal::{Browser, PASSWORD, verified_customer};

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
    let _customer = verified_customer(&app, "victim@example.com").await;
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
    let owner = verified_customer(&app, "limits@example.com").await; // sign-up 1
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
        assert_eq!(res.status(), 200);
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
    assert_eq!(res.status(), 200);
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
    app: &crate::helpers::TestApp,
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
        200
    );
    assert_eq!(
        sign_up_via(&b, &behind, "p2@example.com", "203.0.113.2").await,
        200
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
        200
    );
    assert_eq!(
        sign_up_via(&b, &direct, "d2@example.com", "203.0.113.2").await,
        429
    );
}
