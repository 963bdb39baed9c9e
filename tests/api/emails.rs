//! Customer communications end to end: every message a journey causes
//! arrives through real SMTP with both parts and working links; expiry
//! reminders go out once per license and window, even under concurrent
//! sweeps; customers turn reminders off with one click; support resends
//! from the outbox page.

use licensor::clock::Clock;
use licensor::domain::audit::Actor;
use licensor::services::context::{Brand, Ctx};
use licensor::services::reminders::{self, Swept};
use serde_json::{Value, json};

use crate::support::form_browser::{Browser, csrf_from, location};
use crate::support::{TestApp, spawn_demo_app};

/// The app's own link signer (same server secret, same key).
pub fn brand_of(app: &TestApp) -> Brand {
    let path = app._data_dir.path().join("secret.key");
    let (secret, _) = licensor::secret::ServerSecret::load_or_generate(&path).unwrap();
    Brand::new(
        "Licensor".to_owned(),
        url::Url::parse(&format!("{}/", app.address)).unwrap(),
        secret.derive_bytes::<32>("signed-links-v1").unwrap(),
    )
}

/// One reminder sweep at the app's clock, with the default 30/7/1 days.
pub async fn sweep(app: &TestApp) -> Swept {
    let ctx = Ctx::new(&app.db, app.clock.as_ref(), Actor::System);
    reminders::sweep(&ctx, &brand_of(app), &[30, 7, 1], 500)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    n
}

async fn organization_of(app: &TestApp, email: &str) -> String {
    let (org,): (String,) = sqlx::query_as("SELECT organization_id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    org
}

fn assert_both_parts(mail: &crate::smtp::Received) {
    let text = mail.part("text/plain").expect("a text part");
    let html = mail.part("text/html").expect("an HTML part");
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative")
    );
    assert!(!html.contains("<img"), "no remote images");
    assert!(!html.contains("<script"), "no script");
    assert!(text.len() > 100 && html.len() > text.len());
    assert!(mail.header("Message-ID").is_some());
}

#[tokio::test]
async fn a_customer_gets_each_message_once_from_sign_up_to_expiry() {
    let app = spawn_demo_app().await;
    let email = "mia@example.com";
    let b = app.with_customer(email).await;

    // Claiming the trial: a welcome with the details and the instructions,
    // the key masked.
    assert_eq!(b.claim_trial().await.status(), 303);
    let welcome = app.mail.wait_for(email, "Welcome to Demo App").await;
    assert_both_parts(&welcome);
    let text = welcome.part("text/plain").unwrap();
    assert!(
        text.contains("Demo App stands in for your own application"),
        "{text}"
    );
    assert!(text.contains("Machines: 2"), "{text}");
    assert!(text.contains("•••••-•••••-•••••-•••••-•"), "{text}");
    let (license_id, last4): (String, String) =
        sqlx::query_as("SELECT id, key_last4 FROM licenses")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(text.contains(&last4));
    let key = licensor::services::licensing::reveal_key(
        &app.db,
        &crate::support::cipher_of(&app),
        &crate::support::lid(&license_id),
    )
    .await
    .unwrap();
    assert!(!welcome.raw.contains(&key.expose()), "never the full key");
    let link = welcome.link("/licenses/");
    assert_eq!(b.get(&link).await.status(), 200, "the link works");

    // A machine: the security notice, with the way to deactivate it. The
    // machine file names the customer's organization.
    let res = app.activate(&key.expose(), "fp-mia").await;
    assert_eq!(res.status(), 201);
    let payload = app
        .assert_activation_file(&res.json().await.unwrap(), "fp-mia")
        .await;
    assert!(payload.licensee.name.is_some(), "{payload:?}");
    let notice = app
        .mail
        .wait_for(email, "A machine was activated on your Demo App license")
        .await;
    assert_both_parts(&notice);
    assert!(notice.header("List-Unsubscribe").is_none(), "security mail");
    assert!(
        b.html(&notice.link("/licenses/"))
            .await
            .contains("Deactivate")
    );
    // The same fingerprint again takes no seat and sends nothing.
    assert_eq!(app.activate(&key.expose(), "fp-mia").await.status(), 200);

    // 14-day trial: no 30-day notice (that window opened before the trial
    // began), the 7-day one once, however many sweeps run.
    assert_eq!(sweep(&app).await, Swept::default());
    app.clock.advance_secs(7 * 86_400 + 60);
    assert_eq!(sweep(&app).await.notices, 1);
    assert_eq!(sweep(&app).await.notices, 0);
    let reminder = app.mail.wait_for(email, "expires in 7 days").await;
    assert_both_parts(&reminder);
    let unsubscribe = reminder.header("List-Unsubscribe").unwrap();
    assert_eq!(
        reminder.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let url = unsubscribe.trim_matches(['<', '>']).to_owned();
    assert!(url.starts_with(&format!("{}/unsubscribe?u=", app.address)));
    assert_eq!(reminder.link("/unsubscribe?"), url, "in the text too");

    // Renewed: the renewal message, then fresh notices for the new date.
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    let res = app
        .post_json(
            &format!("/api/v1/licenses/{license_id}/actions/renew"),
            Some(&token),
            &json!({"days": 30}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let renewed = app.mail.wait_for(email, "was renewed").await;
    assert_both_parts(&renewed);
    assert!(renewed.part("text/plain").unwrap().contains("(it was "));
    app.clock.advance_secs(30 * 86_400);
    assert_eq!(sweep(&app).await.notices, 1, "the new date's 7-day notice");

    // One click (RFC 8058): the mail client posts; reminders stop; the
    // expired notice is claimed but mails nobody; security mail still goes.
    let res = reqwest::Client::new()
        .post(&url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    assert_eq!(app.activate(&key.expose(), "fp-mia-2").await.status(), 201);
    app.mail
        .wait_for_count(email, "A machine was activated", 2)
        .await;
    app.clock.advance_secs(8 * 86_400);
    let swept = sweep(&app).await;
    assert_eq!((swept.notices, swept.emails), (1, 0));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'license_expired'"
        )
        .await,
        0
    );

    // Each message went out exactly once.
    let topics = [
        ("verify_email", 1),
        ("welcome", 1),
        ("machine_activated", 2),
        ("expiry_notice", 2),
        ("license_renewed", 1),
    ];
    for (topic, n) in topics {
        assert_eq!(
            count(
                &app,
                &format!("SELECT COUNT(*) FROM outbox WHERE topic = '{topic}'")
            )
            .await,
            n,
            "{topic}"
        );
    }
}

#[tokio::test]
async fn two_concurrent_sweeps_send_each_notice_exactly_once() {
    let app = spawn_demo_app().await;
    let email = "ops@example.com";
    let _b = app.with_customer(email).await;
    let org = organization_of(&app, email).await;
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    let p = app.with_license(json!({"duration_days": 10})).await;
    let (type_id,): (String,) =
        sqlx::query_as("SELECT license_type_id FROM licenses WHERE id = $1")
            .bind(&p.license_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    const N: i64 = 25;
    for _ in 0..N {
        let res = app
            .post_json(
                "/api/v1/licenses",
                Some(&token),
                &json!({"license_type_id": type_id, "organization_id": org}),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    app.clock.advance_secs(4 * 86_400);
    let (a, b) = tokio::join!(sweep(&app), sweep(&app));
    // N licenses of the organization, plus the unclaimed one `provision`
    // issued to an email: noticed, with nobody to mail yet.
    assert_eq!(a.notices + b.notices, N as usize + 1, "{a:?} {b:?}");
    assert_eq!(a.emails + b.emails, N as usize);
    assert_eq!(sweep(&app).await, Swept::default(), "and nothing later");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM notices WHERE kind = 'expiring_7'"
        )
        .await,
        N + 1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'expiry_notice'"
        )
        .await,
        N
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM events WHERE kind = 'license.expiring'"
        )
        .await,
        N + 1
    );
}

#[tokio::test]
async fn reminders_are_turned_off_and_on_in_the_account_and_links_cannot_be_forged() {
    let app = spawn_demo_app().await;
    let email = "lee@example.com";
    let b = app.with_customer(email).await;
    let page = b.html("/account").await;
    assert!(page.contains("name=\"reminders\" value=\"1\" checked"));
    let res = b.post("/account/reminders", &[]).await;
    assert_eq!(location(&res), "/account");
    let page = b.html("/account").await;
    assert!(page.contains("Expiry reminders are off"));
    assert!(!page.contains("value=\"1\" checked"));
    let res = b.post("/account/reminders", &[("reminders", "1")]).await;
    assert_eq!(res.status(), 303);
    assert!(b.html("/account").await.contains("value=\"1\" checked"));
    // A CSRF-less post is refused.
    let res = b
        .client
        .post(format!("{}/account/reminders", app.address))
        .form(&[("reminders", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // The signed link: GET only asks (scanners follow links), POST acts.
    let (user_id,): (String,) = sqlx::query_as("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let link = brand_of(&app).unsubscribe_link(&user_id);
    let anonymous = Browser::new(&app);
    let res = anonymous.get(&link).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let html = res.text().await.unwrap();
    assert!(html.contains("Stop expiry reminders"));
    assert!(
        b.html("/account").await.contains("value=\"1\" checked"),
        "GET changed nothing"
    );
    let forged = link.replace(&user_id, "01a224ca-7b2c-76bc-b555-28ab9da014f9");
    let res = anonymous.client.post(&forged).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let tampered = format!("{}x", &link[..link.len() - 1]);
    assert_eq!(
        anonymous
            .client
            .post(&tampered)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let res = anonymous.client.post(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(!b.html("/account").await.contains("value=\"1\" checked"));
    let (kind,): (String,) = sqlx::query_as(
        "SELECT kind FROM events WHERE user_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT 1",
    )
    .bind(&user_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(kind, "user.reminders_changed");
}

#[tokio::test]
async fn support_sees_the_outbox_and_resends_a_dead_or_sent_message() {
    let app = spawn_demo_app().await;
    let email = "dana@example.com";
    let customer = app.with_customer(email).await;
    let (verify_id,): (String,) =
        sqlx::query_as("SELECT id FROM outbox WHERE topic = 'verify_email'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    // Wait for the worker to send it, then make a second message dead.
    app.mail.wait_for(email, "Confirm your email").await;
    customer.claim_trial().await;
    app.mail.wait_for(email, "Welcome").await;
    let (welcome_id,): (String,) = sqlx::query_as("SELECT id FROM outbox WHERE topic = 'welcome'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE outbox SET status = 'dead', attempts = 10, last_error = 'SMTP said 550 mailbox unavailable' WHERE id = $1")
        .bind(&welcome_id)
        .execute(app.db.pool())
        .await
        .unwrap();

    // Customers never reach the console.
    assert_eq!(customer.get("/admin/outbox").await.status(), 403);
    assert_eq!(Browser::new(&app).get("/admin/outbox").await.status(), 303);

    let support = app.with_staff(licensor::domain::role::Role::Support).await;
    let page = support.html("/admin/outbox?status=dead").await;
    assert!(page.contains("550 mailbox unavailable"), "{page}");
    assert!(page.contains(&welcome_id) && !page.contains(&verify_id));
    assert!(page.contains("dead (1)"));
    assert_eq!(
        support.get("/admin/outbox?status=bogus").await.status(),
        400
    );
    assert_eq!(
        support.get("/admin/outbox?cursor=nonsense").await.status(),
        400
    );

    // A reason is required.
    let res = support
        .post(
            &format!("/admin/outbox/{welcome_id}/resend"),
            &[("status", "dead")],
        )
        .await;
    assert_eq!(location(&res), "/admin/outbox?status=dead");
    assert!(
        support
            .html("/admin/outbox?status=dead")
            .await
            .contains("Give a reason")
    );

    // Dead: retried as it is; it arrives.
    let before = app.mail.count_to(email);
    let res = support
        .post(
            &format!("/admin/outbox/{welcome_id}/resend"),
            &[("reason", "customer asked"), ("status", "dead")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.mail.count_to(email) == before {
        assert!(std::time::Instant::now() < deadline, "the resend arrives");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Sent: copied with its own Message-ID.
    let res = support
        .post(
            &format!("/admin/outbox/{verify_id}/resend"),
            &[("reason", "lost in spam")],
        )
        .await;
    assert_eq!(location(&res), "/admin/outbox?status=queued");
    let copies: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, payload FROM outbox WHERE topic = 'verify_email' ORDER BY created_at, id",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(copies.len(), 2);
    let ids: Vec<String> = copies
        .iter()
        .map(|(_, p)| {
            serde_json::from_str::<Value>(p).unwrap()["message_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM events WHERE kind = 'outbox.resent'"
        )
        .await,
        2
    );
    let (actor,): (String,) =
        sqlx::query_as("SELECT actor_kind FROM events WHERE kind = 'outbox.resent' LIMIT 1")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(actor, "staff");

    // A forged form (no CSRF token) and an unknown message.
    let res = support
        .client
        .post(format!("{}/admin/outbox/{verify_id}/resend", app.address))
        .form(&[("reason", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let csrf = csrf_from(&support.html("/admin/outbox").await);
    let res = support
        .client
        .post(format!(
            "{}/admin/outbox/01a224ca-7b2c-76bc-b555-28ab9da014f9/resend",
            app.address
        ))
        .form(&[("reason", "x"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// A worker that claimed a message and crashed before sending it: the
/// message waits out the lease, then goes out, with its Message-ID; a
/// message that keeps failing is dead after the last attempt.
#[tokio::test]
async fn a_crashed_worker_loses_nothing_and_failures_end_dead() {
    use licensor::jobs::outbox::{Claimant, MAX_ATTEMPTS, deliver_pass};
    use licensor::mail::Mailer;
    let metrics = licensor::metrics::Metrics::new();
    let claimant = Claimant::new(([127, 0, 0, 1], 1).into(), std::time::SystemTime::now());
    // The app's own worker only ticks once an hour here; the test drives it.
    let app = crate::support::spawn_app_with(
        |raw| {
            raw.set(
                "outbox_poll_ms",
                "3600000",
                licensor::config::Source::Default,
            )
        },
        true,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let b = Browser::new(&app);
    assert_eq!(
        b.sign_up("crash@example.com", "Crash Ltd").await.status(),
        200
    );
    let clock: licensor::clock::SharedClock = app.clock.clone();
    let webhooks = licensor::services::webhooks::WebhookSender::new(std::sync::Arc::new(
        crate::support::cipher_of(&app),
    ))
    .unwrap();
    let mailer = Mailer::new(
        Some(&app.mail.url()),
        app._data_dir.path().join("mail"),
        "Licensor <licensing@localhost>",
        None,
    )
    .unwrap();

    // The crashed worker's claim: attempts counted, row leased, nothing sent.
    let claimed =
        licensor::store::outbox::claim_due(&app.db, app.clock.now(), 20, 120, "a crashed process")
            .await
            .unwrap();
    assert_eq!(claimed.len(), 1);
    let stored: licensor::mail::Email = serde_json::from_str(&claimed[0].payload).unwrap();
    assert_eq!(
        deliver_pass(&app.db, &claimant, &mailer, &webhooks, &clock, &metrics)
            .await
            .unwrap()
            .sent,
        0,
        "leased"
    );
    app.clock.advance_secs(121);
    assert_eq!(
        deliver_pass(&app.db, &claimant, &mailer, &webhooks, &clock, &metrics)
            .await
            .unwrap()
            .sent,
        1
    );
    let mail = app
        .mail
        .wait_for("crash@example.com", "Confirm your email")
        .await;
    assert_eq!(
        mail.header("Message-ID").unwrap(),
        stored.message_id,
        "a redelivery is recognisable by its Message-ID"
    );

    // SMTP gone for good (nothing listens there): retried with backoff,
    // then dead.
    let mailer = Mailer::new(
        Some("smtp://127.0.0.1:1"),
        app._data_dir.path().join("mail"),
        "Licensor <licensing@localhost>",
        None,
    )
    .unwrap();
    assert_eq!(
        Browser::new(&app)
            .sign_up("unlucky@example.com", "Unlucky Ltd")
            .await
            .status(),
        200
    );
    let mut dead = 0;
    for _ in 0..MAX_ATTEMPTS {
        app.clock.advance_secs(7 * 3600);
        dead += deliver_pass(&app.db, &claimant, &mailer, &webhooks, &clock, &metrics)
            .await
            .unwrap()
            .dead;
    }
    let rows: Vec<(String, i64, Option<String>)> =
        sqlx::query_as("SELECT status, attempts, last_error FROM outbox WHERE status <> 'sent'")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert_eq!(dead, 1, "{rows:?}");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("dead", MAX_ATTEMPTS));
    assert!(rows[0].2.as_deref().unwrap().contains("SMTP"), "{rows:?}");
}
