//! Two `licensor serve` processes on one PostgreSQL database, as behind a
//! load balancer: a session made on one works on the other, the seat limit
//! holds for activations spread over both, and every email, webhook and
//! expiry notice goes out exactly once. PostgreSQL only (SQLite is the
//! one-process default); it says so and passes on SQLite.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use licensor::config::Source;
use licensor::domain::audit::Actor;
use licensor::services::context::Ctx;
use serde_json::json;

use crate::cli::{Served, serve};
use crate::smtp::SmtpSink;
use crate::support::form_browser::{Browser, PASSWORD};
use crate::support::{TestDatabase, test_settings};
use crate::webhook_sink::WebhookSink;

/// An instance with its own data directory.
struct Instance {
    server: Served,
    base: String,
    _dir: tempfile::TempDir,
}

impl Instance {
    /// Stops the process the way an operator does (SIGTERM), and waits.
    fn stop(self) {
        self.server.stop();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(database: &TestDatabase, secret: &str, smtp: &str) -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(
        dir.path(),
        database,
        &[
            ("LICENSOR_DATABASE_MAX_CONNECTIONS", "20"),
            ("LICENSOR_SECRET", secret),
            ("LICENSOR_SMTP_URL", smtp),
            ("LICENSOR_OUTBOX_POLL_MS", "50"),
            ("LICENSOR_API_RATE_LIMIT_IP", "0"),
            ("LICENSOR_API_RATE_LIMIT_KEY", "0"),
            ("LICENSOR_RATE_LIMIT_SIGN_UP_IP", "0"),
        ],
    )
    .await;
    Instance {
        base: server.base.clone(),
        server,
        _dir: dir,
    }
}

/// Polls until `check` holds, for up to 20 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_instances_share_sessions_and_seats_and_send_everything_once() {
    let database = TestDatabase::create().await;
    if !database.is_postgres() {
        eprintln!("scale-out runs on PostgreSQL (TEST_DATABASE_URL); skipped on SQLite");
        return;
    }
    licensor::tls::install_crypto_provider();
    let mail = SmtpSink::start().await;
    let sink = WebhookSink::start().await;
    let secret = licensor::secret::ServerSecret::random_base64().unwrap();

    // Before either instance runs: the schema, an API token, a webhook
    // endpoint for every event, and a customer whose trial expires in 14
    // days (its 30-day reminder is due). Written by a server that is built
    // but never started, with the same secret.
    let seed_dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&seed_dir, &database.url, |raw| {
        raw.set("secret", secret.as_str(), Source::Default);
    });
    let seed = licensor::startup::Application::builder(settings)
        .demo(true)
        .build()
        .await
        .unwrap();
    let db = seed.db().clone();
    let clock = licensor::clock::SystemClock;
    let ctx = Ctx::new(&db, &clock, Actor::Cli);
    let (_, token) = licensor::services::api_tokens::create(
        &ctx,
        "scale-out",
        licensor::services::api_tokens::Scope::Write,
    )
    .await
    .unwrap();
    let token = token.expose().to_owned();
    let cipher = licensor::secret::ServerSecret::from_base64(&secret)
        .unwrap()
        .data_cipher()
        .unwrap();
    licensor::services::webhooks::create_endpoint(&ctx, &cipher, &sink.url(), "*")
        .await
        .unwrap();
    drop(seed);

    // A first instance: a customer signs up, confirms, claims a trial and is
    // sold a 30-day license (so its 30-day reminder is due at once). Then
    // the instance stops, its outbox empty.
    let first = start(&database, &secret, &mail.url()).await;
    let customer = Browser::with_base(&first.base);
    let res = customer.sign_up("both@example.com", "Both Ltd").await;
    assert_eq!(res.status(), 200);
    let link = mail
        .wait_for("both@example.com", "Confirm your email")
        .await
        .link("/verify-email?token=");
    assert_eq!(customer.get(&link).await.status(), 303);
    assert_eq!(
        customer
            .sign_in("both@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(customer.claim_trial().await.status(), 303);
    let (organization_id,): (String,) =
        sqlx::query_as("SELECT organization_id FROM users WHERE email = 'both@example.com'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    let api = reqwest::Client::new();
    let post = |base: &str, path: &str, body: serde_json::Value| {
        api.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let product: serde_json::Value = post(
        &first.base,
        "/api/v1/products",
        json!({ "code": "monthly", "name": "Monthly" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let monthly: serde_json::Value = post(
        &first.base,
        "/api/v1/license-types",
        json!({ "product_id": product["id"], "name": "Month", "max_machines": 1, "duration_days": 30 }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let res = post(
        &first.base,
        "/api/v1/licenses",
        json!({ "license_type_id": monthly["id"], "organization_id": organization_id }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    outbox_drained(&db).await;
    first.stop();

    // Two instances start together; each sweeps for due reminders at once.
    let smtp = mail.url();
    let (a, b) = tokio::join!(
        start(&database, &secret, &smtp),
        start(&database, &secret, &smtp)
    );
    let at = |i: usize| {
        if i.is_multiple_of(2) {
            &a.base
        } else {
            &b.base
        }
    };

    // The session made on the first instance works on both (one cookie
    // jar: cookies do not care for ports).
    let on_a = customer.at(&a.base);
    let on_b = customer.at(&b.base);
    assert_eq!(on_a.get("/licenses").await.status(), 200);
    assert!(on_b.html("/licenses").await.contains("Demo App"));
    // Signing out on B ends the session on A too.
    assert_eq!(on_b.post("/logout", &[]).await.status(), 303);
    assert_eq!(on_a.get("/licenses").await.status(), 303);
    // A new session made on A works on B.
    assert_eq!(
        on_a.sign_in("both@example.com", PASSWORD).await.status(),
        303
    );
    assert_eq!(on_b.get("/account").await.status(), 200);

    // A 10-seat license; 60 activations from distinct machines, spread
    // over both instances at once: exactly 10 seats are taken.
    let product: serde_json::Value = post(
        &a.base,
        "/api/v1/products",
        json!({ "code": "scale", "name": "Scale" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let license_type: serde_json::Value = post(
        &b.base,
        "/api/v1/license-types",
        json!({ "product_id": product["id"], "name": "Team", "max_machines": 10, "duration_days": 365 }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let created: serde_json::Value = post(
        &a.base,
        "/api/v1/licenses",
        json!({ "license_type_id": license_type["id"], "email": "team@example.com" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let license_id = created["license"]["id"].as_str().unwrap().to_owned();
    let attempts = (0..60).map(|i| {
        let url = format!("{}/api/v1/machines/activate", at(i));
        let body = json!({ "key": key, "fingerprint": format!("machine-{i:02}") });
        let api = api.clone();
        async move {
            api.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for s in statuses {
        *by_status.entry(s).or_default() += 1;
    }
    assert_eq!(by_status.get(&201), Some(&10), "{by_status:?}");
    assert_eq!(by_status.get(&409), Some(&50), "{by_status:?}");
    let (used,): (i64,) = sqlx::query_as("SELECT machines_used FROM licenses WHERE id = $1")
        .bind(&license_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(used, 10);

    // Ten more sign-ups over both instances: ten verification emails, each
    // sent once by whichever outbox worker claimed it.
    for i in 0..10 {
        let browser = Browser::with_base(at(i));
        assert_eq!(
            browser
                .sign_up(&format!("burst-{i}@example.com"), "Burst")
                .await
                .status(),
            200
        );
    }
    eventually("the burst's emails arrive", || {
        mail.all()
            .iter()
            .filter(|m| m.to.iter().any(|t| t.starts_with("burst-")))
            .count()
            >= 10
    })
    .await;

    // The expiry reminder for the trial: both instances swept at start,
    // one won the notice.
    eventually("the expiry reminder arrives", || {
        mail.all().iter().any(|m| {
            m.header("Subject")
                .is_some_and(|s| s.contains("license expires"))
        })
    })
    .await;
    // Webhooks: one license.created, ten license.activated.
    sink.wait_for("license.activated", 10).await;
    sink.wait_for("license.expiring", 1).await;

    // Let both workers settle, then count: nothing went twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let emails = mail.all();
    let ids: Vec<String> = emails
        .iter()
        .map(|m| m.header("Message-ID").unwrap_or_default())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an email went out twice");
    let burst = emails
        .iter()
        .filter(|m| m.to.iter().any(|t| t.starts_with("burst-")))
        .count();
    assert_eq!(burst, 10);
    let reminders = emails
        .iter()
        .filter(|m| {
            m.header("Subject")
                .is_some_and(|s| s.contains("license expires"))
        })
        .count();
    assert_eq!(reminders, 1, "one reminder, from one instance");
    let deliveries = sink.all();
    let webhook_ids: Vec<String> = deliveries
        .iter()
        .map(|d| d.headers["webhook-id"].clone())
        .collect();
    let unique: HashSet<&String> = webhook_ids.iter().collect();
    assert_eq!(unique.len(), webhook_ids.len(), "a webhook went out twice");
    let count = |event: &str| {
        deliveries
            .iter()
            .filter(|d| d.json()["type"] == event)
            .count()
    };
    assert_eq!(count("license.activated"), 10);
    assert_eq!(count("license.expiring"), 1);
    // Once the outbox is empty, every sent row was delivered exactly once.
    let sent = outbox_drained(&db).await;
    assert_eq!(
        usize::try_from(sent).unwrap(),
        mail.all().len() + sink.all().len(),
        "every sent row was delivered once, and every delivery has its row"
    );
}

/// Waits until no message is queued; returns how many were sent.
async fn outbox_drained(db: &licensor::store::Db) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (queued, sent): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT), \
                    CAST(COALESCE(SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM outbox",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        if queued == 0 {
            return sent;
        }
        assert!(Instant::now() < deadline, "{queued} messages still queued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
