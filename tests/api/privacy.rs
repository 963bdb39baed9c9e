//! Personal data: what validations saw (IP addresses, fingerprints) is
//! erased after `validation_retention_days`, in batches, by the
//! maintenance pass; the day's counts stay.

use std::time::{Duration, Instant};

use licensor::clock::SharedClock;
use serde_json::json;

use crate::support::TestApp;

async fn number(app: &TestApp, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(app.db.pool()).await.unwrap();
    n
}

#[tokio::test]
async fn addresses_and_fingerprints_older_than_the_retention_are_erased_in_batches() {
    let app = crate::support::spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 5 })).await;
    assert_eq!(app.activate(&p.key, "fp-retained").await.status(), 201);
    for _ in 0..3 {
        let answer = app
            .validate(json!({ "key": p.key, "fingerprint": "fp-retained" }))
            .await;
        assert_eq!(answer["code"], "VALID");
    }
    // The usage batch is written every 2 s.
    let start = Instant::now();
    while number(&app, "SELECT COUNT(*) FROM validation_sightings").await < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no sightings written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A machine deactivated today keeps its address for the retention too.
    let res = app
        .post_json(
            "/api/v1/machines/deactivate",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-retained" }),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    // A backlog older than any retention: 2,500 sightings of a year ago.
    let day = 1_795_910_400 / 86_400 - 365;
    for chunk in 0..25 {
        let values: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    "('{}', {day}, 'ip', '198.51.100.{}-{chunk}', 1, 0)",
                    p.license_id, i
                )
            })
            .collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO validation_sightings (license_id, day, kind, value, count, last_at) VALUES {}",
            values.join(", ")
        )))
        .execute(app.db.pool())
        .await
        .unwrap();
    }
    let clock: SharedClock = app.clock.clone();

    // Within the retention: only the year-old backlog goes, in batches.
    let done = licensor::jobs::maintenance_pass(&app.db, &clock, 90)
        .await
        .unwrap();
    assert_eq!(done.personal_data_erased, 2_500);
    assert_eq!(
        number(&app, "SELECT COUNT(*) FROM validation_sightings").await,
        2
    );
    let stats_with_addresses = "SELECT COUNT(*) FROM validation_stats \
        WHERE last_ip IS NOT NULL OR last_fingerprint IS NOT NULL";
    assert_eq!(number(&app, stats_with_addresses).await, 1);
    let machine_ips = "SELECT COUNT(*) FROM machines WHERE ip IS NOT NULL";
    assert_eq!(number(&app, machine_ips).await, 1);

    // 91 days on: today's sightings, the statistics' last address and
    // fingerprint and the deactivated machine's IP are erased; the counts
    // stay.
    app.clock.advance_secs(91 * 86_400);
    let done = licensor::jobs::maintenance_pass(&app.db, &clock, 90)
        .await
        .unwrap();
    assert_eq!(done.personal_data_erased, 4, "{done:?}");
    assert_eq!(
        number(&app, "SELECT COUNT(*) FROM validation_sightings").await,
        0
    );
    assert_eq!(number(&app, stats_with_addresses).await, 0);
    assert_eq!(number(&app, machine_ips).await, 0);
    assert_eq!(
        number(
            &app,
            "SELECT CAST(SUM(count) AS BIGINT) FROM validation_stats"
        )
        .await,
        3,
        "the counts stay"
    );
    let done = licensor::jobs::maintenance_pass(&app.db, &clock, 90)
        .await
        .unwrap();
    assert_eq!(done.personal_data_erased, 0, "nothing twice");
}

/// A customer with a claimed trial activated on one machine: their browser,
/// the license id, its key and the organization id.
async fn customer_with_license(
    app: &TestApp,
    email: &str,
) -> (
    crate::support::form_browser::Browser,
    String,
    String,
    String,
) {
    let (b, license_id, key, org) = crate::console::customer_with_trial(app, email).await;
    assert_eq!(app.activate(&key, "fp-personal").await.status(), 201);
    (b, license_id, key, org)
}

#[tokio::test]
async fn a_customer_downloads_everything_held_about_them_and_erases_their_account() {
    let app = crate::support::spawn_demo_app().await;
    let (b, license_id, key, org) = customer_with_license(&app, "leaving@example.com").await;

    // The export: a JSON download nobody caches, with the account, the
    // organization's license and machine, the events and emails; no key.
    let res = b.get("/account/data.json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let text = res.text().await.unwrap();
    assert!(!text.contains(&key), "never the key");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["account"]["email"], "leaving@example.com");
    assert_eq!(doc["organization"]["id"], org.as_str());
    assert_eq!(
        doc["organization"]["licenses"][0]["id"],
        license_id.as_str()
    );
    assert_eq!(
        doc["organization"]["machines"][0]["fingerprint"],
        "fp-personal"
    );
    let kinds: Vec<&str> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"customer.created"), "{kinds:?}");
    assert!(!doc["emails"].as_array().unwrap().is_empty());
    assert!(!doc["sessions"].as_array().unwrap().is_empty());

    // Deleting says what becomes of the organization first.
    let page = b.html("/account/delete").await;
    assert!(
        page.contains("No one else is in your organization"),
        "{page}"
    );
    let res = b
        .post("/account/delete", &[("password", "not my password at all")])
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The password is not right")
    );
    assert_eq!(
        app.number_for(
            "SELECT COUNT(*) FROM users WHERE email = $1",
            "leaving@example.com"
        )
        .await,
        1
    );

    let res = b
        .post(
            "/account/delete",
            &[("password", crate::support::form_browser::PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Your account is erased"));
    // Gone: the user, their sessions and emails; the organization's name
    // is erased, its license stays and its key still validates.
    assert_eq!(
        app.number_for(
            "SELECT COUNT(*) FROM users WHERE email = $1",
            "leaving@example.com"
        )
        .await,
        0
    );
    assert_eq!(
        app.number_for(
            "SELECT COUNT(*) FROM outbox WHERE recipient = $1",
            "leaving@example.com"
        )
        .await,
        0
    );
    let (name,): (String,) = sqlx::query_as("SELECT name FROM organizations WHERE id = $1")
        .bind(&org)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(name, licensor::services::personal_data::ERASED_ORGANIZATION);
    let answer = app
        .validate(json!({ "key": key, "fingerprint": "fp-personal" }))
        .await;
    assert_eq!(answer["code"], "VALID");
    let (data,): (String,) =
        sqlx::query_as("SELECT data FROM events WHERE kind = 'customer.erased'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(!data.contains("leaving@example.com"), "{data}");
    let (left,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM events WHERE data LIKE '%leaving@example.com%'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(left, 0, "no event keeps the address");
    // The old session is over, and the password signs in no more.
    assert_eq!(b.get("/licenses").await.status(), 303);
    let again = crate::support::form_browser::Browser::new(&app);
    assert_eq!(
        again
            .sign_in(
                "leaving@example.com",
                crate::support::form_browser::PASSWORD
            )
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn a_sole_owner_hands_the_organization_over_and_staff_export_and_erase_with_a_reason() {
    use licensor::domain::role::Role;
    let app = crate::support::spawn_demo_app().await;
    let (owner, license_id, _, org) = customer_with_license(&app, "owner@example.com").await;
    // A second member of the organization (as an accepted invitation
    // leaves it).
    let member = app.with_customer("member@example.com").await;
    let (member_org,): (String,) =
        sqlx::query_as("SELECT organization_id FROM users WHERE email = 'member@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    sqlx::query("UPDATE users SET organization_id = $1, org_role = 'member' WHERE email = 'member@example.com'")
        .bind(&org)
        .execute(app.db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(&member_org)
        .execute(app.db.pool())
        .await
        .unwrap();
    drop(member);
    let page = owner.html("/account/delete").await;
    assert!(
        page.contains("member@example.com becomes its owner"),
        "{page}"
    );

    // Support downloads a person's data; read-only staff may not.
    let support = app.with_staff(Role::Support).await;
    let (owner_id,): (String,) =
        sqlx::query_as("SELECT id FROM users WHERE email = 'owner@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let export = format!("/admin/customers/{org}/users/{owner_id}/data.json");
    let res = support.get(&export).await;
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        doc["organization"]["licenses"][0]["id"],
        license_id.as_str()
    );
    let read_only = app.with_staff(Role::ReadOnly).await;
    assert_eq!(read_only.get(&export).await.status(), 403);
    // Support may not erase; an admin must give a reason.
    let erase = format!("/admin/customers/{org}/users/{owner_id}/erase");
    assert_eq!(
        support
            .post(&erase, &[("reason", "asked by email")])
            .await
            .status(),
        403
    );
    let admin = app.with_staff(Role::Admin).await;
    let res = admin.post(&erase, &[("reason", "")]).await;
    assert_eq!(res.status(), 303);
    assert!(
        admin
            .html(&format!("/admin/customers/{org}"))
            .await
            .contains("Not erased")
    );
    assert_eq!(
        app.number_for("SELECT COUNT(*) FROM users WHERE id = $1", &owner_id)
            .await,
        1
    );

    let res = admin.post(&erase, &[("reason", "GDPR request #42")]).await;
    assert_eq!(res.status(), 303);
    let page = admin.html(&format!("/admin/customers/{org}")).await;
    assert!(
        page.contains("member@example.com is now the organization"),
        "{page}"
    );
    assert_eq!(
        app.number_for("SELECT COUNT(*) FROM users WHERE id = $1", &owner_id)
            .await,
        0
    );
    let (role,): (String,) =
        sqlx::query_as("SELECT org_role FROM users WHERE email = 'member@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(role, "owner");
    let (licensed_to,): (String,) =
        sqlx::query_as("SELECT organization_id FROM licenses WHERE id = $1")
            .bind(&license_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(licensed_to, org, "the license stays with the organization");
    let audit = admin.html("/admin/audit?action=customer.erased").await;
    assert!(audit.contains("GDPR request #42"), "{audit}");
    // The owner's browser is signed out.
    assert_eq!(owner.get("/licenses").await.status(), 303);
}
