//! The license cache never answers with state older than the last write:
//! every change a vendor, a customer or support can make is seen by the
//! very next validation (the entry was cached before each change), on
//! PostgreSQL a change made through one instance reaches another's cache,
//! and a change made with hand-written SQL reaches it through the
//! database's change feed.

use std::time::Duration;

use licensor::clock::Clock;
use licensor::domain::audit::Actor;
use licensor::services::catalog;
use licensor::services::context::Ctx;
use licensor::services::licensing::{self, LicenseAction, Renewal};
use serde_json::{Value, json};

use crate::emails::brand_of;
use crate::support::{TestApp, spawn_app, spawn_app_on};

pub(crate) async fn validate(app: &TestApp, key: &str, fingerprint: &str) -> Value {
    app.validate(json!({ "key": key, "fingerprint": fingerprint }))
        .await
}

/// Validates until the answer comes with the license cached: the cache
/// serves once it follows the change feed, and the feed may drop an entry
/// filled a moment before for a change the cache had already seen.
pub(crate) async fn validate_cached(app: &TestApp, key: &str, fingerprint: &str) -> Value {
    for _ in 0..100 {
        let first = validate(app, key, fingerprint).await;
        let second = validate(app, key, fingerprint).await;
        assert_eq!(first["code"], second["code"]);
        if !app.db.license_cache().is_empty() {
            return second;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("validation never filled the cache");
}

#[tokio::test]
async fn every_change_is_seen_by_the_next_validation() {
    let app = spawn_app().await;
    let p = app
        .with_license(json!({ "max_machines": 2, "duration_days": 30 }))
        .await;
    let ctx = Ctx::new(&app.db, app.clock.as_ref(), Actor::System);
    let brand = brand_of(&app);

    // Activation.
    assert_eq!(
        validate_cached(&app, &p.key, "fp-1").await["code"],
        "NOT_ACTIVATED"
    );
    assert_eq!(app.activate(&p.key, "fp-1").await.status(), 201);
    let v = validate(&app, &p.key, "fp-1").await;
    assert_eq!(v["code"], "VALID");
    assert_eq!(v["license"]["machines_used"], 1);

    // Suspension and reinstatement through the vendor API.
    validate_cached(&app, &p.key, "fp-1").await;
    let res = app
        .post_json(
            &format!("/api/v1/licenses/{}/actions/suspend", p.license_id),
            Some(&p.token),
            &json!({ "reason": "unpaid" }),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(validate(&app, &p.key, "fp-1").await["code"], "SUSPENDED");
    validate_cached(&app, &p.key, "fp-1").await;
    licensing::change_status(
        &ctx,
        &crate::emails::brand_of(&app),
        &crate::support::lid(&p.license_id),
        LicenseAction::Reinstate,
        None,
    )
    .await
    .unwrap();
    assert_eq!(validate(&app, &p.key, "fp-1").await["code"], "VALID");

    // Expiry and renewal.
    app.clock.advance_secs(31 * 86_400);
    assert_eq!(
        validate_cached(&app, &p.key, "fp-1").await["code"],
        "EXPIRED"
    );
    licensing::renew(
        &ctx,
        &brand,
        &crate::support::lid(&p.license_id),
        Renewal::ExtendDays(30),
        None,
    )
    .await
    .unwrap();
    assert_eq!(validate(&app, &p.key, "fp-1").await["code"], "VALID");

    // A product renamed: every license shows the new name.
    validate_cached(&app, &p.key, "fp-1").await;
    let product_id = v["license"]["product"]["id"].as_str().unwrap();
    let text = licensor::store::products::ProductText {
        name: "Renamed",
        description: "",
        activation_instructions: "Open Help.",
        download_url: None,
    };
    catalog::update_product(&ctx, product_id, &text)
        .await
        .unwrap();
    let v = validate(&app, &p.key, "fp-1").await;
    assert_eq!(v["license"]["product"]["name"], "Renamed");

    // A type change: new seats and entitlements.
    let res = app
        .post_json(
            "/api/v1/license-types",
            Some(&p.token),
            &json!({ "product_id": product_id, "name": "Team", "duration_days": 365,
                     "max_machines": 5, "entitlements": ["pro", "export", "team"] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let team: Value = res.json().await.unwrap();
    validate_cached(&app, &p.key, "fp-1").await;
    licensing::change_type(
        &ctx,
        &crate::support::lid(&p.license_id),
        team["id"].as_str().unwrap(),
    )
    .await
    .unwrap();
    let v = validate(&app, &p.key, "fp-1").await;
    assert_eq!(v["license"]["max_machines"], 5);
    assert_eq!(
        v["license"]["entitlements"],
        json!(["export", "pro", "team"])
    );

    // Deactivation by the application.
    validate_cached(&app, &p.key, "fp-1").await;
    let res = app
        .post_json(
            "/api/v1/machines/deactivate",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-1" }),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let v = validate(&app, &p.key, "fp-1").await;
    assert_eq!(v["code"], "NOT_ACTIVATED");
    assert_eq!(v["license"]["machines_used"], 0);

    // Support frees every seat.
    assert_eq!(app.activate(&p.key, "fp-2").await.status(), 201);
    assert_eq!(validate_cached(&app, &p.key, "fp-2").await["code"], "VALID");
    assert_eq!(
        licensing::reset_machines(&ctx, &crate::support::lid(&p.license_id))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        validate(&app, &p.key, "fp-2").await["code"],
        "NOT_ACTIVATED"
    );

    // Revocation.
    validate_cached(&app, &p.key, "fp-2").await;
    licensing::change_status(
        &ctx,
        &crate::emails::brand_of(&app),
        &crate::support::lid(&p.license_id),
        LicenseAction::Revoke,
        None,
    )
    .await
    .unwrap();
    assert_eq!(validate(&app, &p.key, "fp-2").await["code"], "REVOKED");
}

#[tokio::test]
async fn heartbeats_and_reaped_seats_are_seen_at_once() {
    let app = spawn_app().await;
    let p = app
        .with_license(json!({ "floating": true, "heartbeat_window_secs": 600, "max_machines": 1 }))
        .await;
    assert_eq!(app.activate(&p.key, "fp-a").await.status(), 201);
    assert_eq!(validate_cached(&app, &p.key, "fp-a").await["code"], "VALID");
    // A heartbeat at 400 s keeps the machine alive at 700 s: a cached
    // last heartbeat from activation would say it died at 600 s.
    app.clock.advance_secs(400);
    let beat = app
        .post_json(
            "/api/v1/machines/heartbeat",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-a" }),
        )
        .await;
    assert_eq!(beat.status(), 200);
    app.clock.advance_secs(300);
    assert_eq!(validate(&app, &p.key, "fp-a").await["code"], "VALID");

    // The machine dies; another takes the seat (the dead one is reaped).
    app.clock.advance_secs(601);
    assert_eq!(
        validate_cached(&app, &p.key, "fp-a").await["code"],
        "HEARTBEAT_DEAD"
    );
    assert_eq!(app.activate(&p.key, "fp-b").await.status(), 201);
    assert_eq!(
        validate(&app, &p.key, "fp-a").await["code"],
        "NOT_ACTIVATED"
    );
    assert_eq!(validate(&app, &p.key, "fp-b").await["code"], "VALID");
}

#[tokio::test]
async fn the_cache_holds_known_keys_only_and_can_be_turned_off() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    for _ in 0..3 {
        let v = validate(&app, "LCS1-AAAA-BBBB-CCCC-DDDD-EEEE", "fp").await;
        assert_ne!(v["code"], "VALID");
    }
    assert!(
        app.db.license_cache().is_empty(),
        "unknown keys are not cached"
    );
    validate_cached(&app, &p.key, "fp").await;
    assert_eq!(app.db.license_cache().len(), 1);

    let off = crate::support::spawn_app_with(
        |raw| {
            raw.set(
                "license_cache_entries",
                "0",
                licensor::config::Source::Default,
            )
        },
        false,
    )
    .await;
    let p = off.with_license(json!({})).await;
    assert_eq!(validate(&off, &p.key, "fp").await["code"], "NOT_ACTIVATED");
    assert_eq!(off.activate(&p.key, "fp").await.status(), 201);
    assert_eq!(validate(&off, &p.key, "fp").await["code"], "VALID");
    assert!(off.db.license_cache().is_empty());
    assert!(!off.db.license_cache().is_serving());
}

/// Two instances on one PostgreSQL database: B caches a license, A
/// changes it, and B's next validations see the change once the NOTIFY
/// arrives (milliseconds), never the cached state for long.
#[tokio::test]
async fn a_change_on_one_instance_reaches_the_others_cache() {
    let a = spawn_app().await;
    if !a.database.is_postgres() {
        eprintln!("PostgreSQL only: SQLite runs one server");
        return;
    }
    let b = second_instance(&a).await;
    assert!(b.database.url == a.database.url);
    let p = a.with_license(json!({ "max_machines": 1 })).await;
    assert_eq!(a.activate(&p.key, "fp-1").await.status(), 201);

    // Both instances serve from memory once subscribed.
    wait_until("both caches serve", || async {
        a.db.license_cache().is_serving() && b.db.license_cache().is_serving()
    })
    .await;
    assert_eq!(validate_cached(&b, &p.key, "fp-1").await["code"], "VALID");

    let ctx = Ctx::new(&a.db, a.clock.as_ref(), Actor::System);
    licensing::change_status(
        &ctx,
        &crate::emails::brand_of(&a),
        &crate::support::lid(&p.license_id),
        LicenseAction::Suspend,
        None,
    )
    .await
    .unwrap();
    wait_until("B sees the suspension", || async {
        validate(&b, &p.key, "fp-1").await["code"] == "SUSPENDED"
    })
    .await;

    // And the other way round: a deactivation through B reaches A.
    licensing::change_status(
        &ctx,
        &crate::emails::brand_of(&a),
        &crate::support::lid(&p.license_id),
        LicenseAction::Reinstate,
        None,
    )
    .await
    .unwrap();
    wait_until("B sees the reinstatement", || async {
        validate(&b, &p.key, "fp-1").await["code"] == "VALID"
    })
    .await;
    assert_eq!(validate_cached(&a, &p.key, "fp-1").await["code"], "VALID");
    let res = b
        .post_json(
            "/api/v1/machines/deactivate",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-1" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    wait_until("A sees the deactivation", || async {
        validate(&a, &p.key, "fp-1").await["code"] == "NOT_ACTIVATED"
    })
    .await;
}

/// A second app on the first one's database, with its server secret.
pub(crate) async fn second_instance(first: &TestApp) -> TestApp {
    let database = crate::support::TestDatabase::existing(&first.database.url);
    let secret = first._data_dir.path().join("secret.key");
    let url = first.database.url.clone();
    let second = spawn_app_on(
        database,
        &url,
        move |raw| {
            raw.set(
                "secret_file",
                secret.display().to_string(),
                licensor::config::Source::Default,
            )
        },
        false,
    )
    .await;
    second.clock.set(first.clock.now());
    second
}

async fn wait_until<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_for(what, Duration::from_secs(2), check).await;
}

pub(crate) async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Changes a license with hand-written SQL that the change feed misses (as
/// a tool writing with triggers off would), so the cache does not hear of
/// it: on SQLite the feed's rows go in the same transaction, on PostgreSQL
/// the session writes as a replica (triggers off).
async fn behind_the_cache(app: &TestApp, sql: &'static str, license_id: &str) {
    let mut tx = app.db.begin_write().await.unwrap();
    if app.database.is_postgres() {
        sqlx::query("SET LOCAL session_replication_role = replica")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    sqlx::query(sql)
        .bind(license_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    if !app.database.is_postgres() {
        sqlx::query("DELETE FROM license_changes WHERE notice = $1")
            .bind(license_id)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Changes the database with hand-written SQL, as an operator would: no
/// version raised, no Licensor code involved.
pub(crate) async fn by_hand(app: &TestApp, sql: &'static str, license_id: &str) {
    sqlx::query(sql)
        .bind(license_id)
        .execute(app.db.pool())
        .await
        .unwrap();
}

/// The longest a change made outside Licensor may take to reach the cache
/// (the SQLite feed is read every second), with room for a loaded machine.
const FEED_LIMIT: Duration = Duration::from_secs(5);

/// A change made outside Licensor, to the license, its machines or what
/// its type shares, reaches the cached entry through the change feed within
/// a poll (SQLite) or a notice (PostgreSQL), with no TTL involved.
#[tokio::test]
async fn a_change_made_by_hand_reaches_the_cache() {
    // It validates until each change shows: more than a key's minute.
    let app = crate::support::spawn_app_with(
        |raw| raw.set("api_rate_limit_key", "0", licensor::config::Source::Default),
        false,
    )
    .await;
    let p = app.with_license(json!({ "max_machines": 2 })).await;
    assert_eq!(app.activate(&p.key, "fp-1").await.status(), 201);

    // Each change, what the validation shows once it is seen.
    type Seen = fn(&Value) -> bool;
    let changes: [(&str, &'static str, Seen); 5] = [
        (
            "a suspension",
            "UPDATE licenses SET status = 'suspended' WHERE id = $1",
            |v| v["code"] == "SUSPENDED",
        ),
        (
            "a reinstatement",
            "UPDATE licenses SET status = 'active' WHERE id = $1",
            |v| v["code"] == "VALID",
        ),
        (
            "a machine removed",
            "DELETE FROM machines WHERE license_id = $1",
            |v| v["code"] == "NOT_ACTIVATED",
        ),
        (
            "the product renamed (every cached license shows it)",
            "UPDATE products SET name = 'Renamed by hand' \
             WHERE id = (SELECT product_id FROM licenses WHERE id = $1)",
            |v| v["license"]["product"]["name"] == "Renamed by hand",
        ),
        (
            "an entitlement taken from the type",
            "DELETE FROM license_type_entitlements \
             WHERE license_type_id = (SELECT license_type_id FROM licenses WHERE id = $1)",
            |v| v["license"]["entitlements"] == json!([]),
        ),
    ];
    for (what, sql, seen) in changes {
        let before = validate_cached(&app, &p.key, "fp-1").await;
        assert!(!seen(&before), "{what}: not made yet, {before}");
        by_hand(&app, sql, &p.license_id).await;
        wait_for(what, FEED_LIMIT, || async {
            seen(&validate(&app, &p.key, "fp-1").await)
        })
        .await;
    }

    if !app.database.is_postgres() {
        // The server deletes the feed's rows it applied.
        wait_for("the applied changes are deleted", FEED_LIMIT, || async {
            app.count("license_changes").await == 0
        })
        .await;
    }
}

/// The feed leaves out what validation never reads: the first-validation
/// mark the usage batch writes (for a million licenses after a restart)
/// leaves every entry in place.
#[tokio::test]
async fn the_first_validation_mark_leaves_the_cache_alone() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    assert_eq!(app.activate(&p.key, "fp-1").await.status(), 201);
    // The activation's own feed row is applied before the mark is written.
    tokio::time::sleep(licensor::store::cache::FEED_POLL_EVERY * 2).await;
    validate_cached(&app, &p.key, "fp-1").await;
    assert_eq!(app.db.license_cache().len(), 1);
    wait_for(
        "the usage batch marks the first validation",
        Duration::from_secs(10),
        || async {
            app.number_for(
                "SELECT COUNT(*) FROM licenses WHERE id = $1 AND first_validated_at IS NOT NULL",
                &p.license_id,
            )
            .await
                == 1
        },
    )
    .await;
    // Two feed passes later, nothing validated in between: still cached.
    tokio::time::sleep(licensor::store::cache::FEED_POLL_EVERY * 2).await;
    assert_eq!(
        app.db.license_cache().len(),
        1,
        "the mark did not drop the entry"
    );
}

/// An activation decides on the license as validation last saw it, and
/// takes the seat only if the license is still that version. A change the
/// cache has not heard of (yet: one the change feed has not brought) sends
/// it back to decide again on the database's state, under the write lock.
#[tokio::test]
async fn an_activation_on_a_stale_entry_is_decided_again_on_the_database() {
    let app = spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 2 })).await;
    validate_cached(&app, &p.key, "fp-1").await;
    // Expired long ago: the seat UPDATE alone would not notice.
    behind_the_cache(
        &app,
        "UPDATE licenses SET expires_at = 86400, version = version + 1 WHERE id = $1",
        &p.license_id,
    )
    .await;
    let res = app.activate(&p.key, "fp-1").await;
    assert_eq!(res.status(), 422);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "EXPIRED", "{problem}");
    let (machines,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM machines WHERE license_id = $1")
        .bind(&p.license_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(machines, 0, "no machine row for a refused activation");

    // Changed but still allowed: the activation goes through on the fresh
    // state, with the seat counted from the database.
    let p = app.with_license(json!({ "max_machines": 2 })).await;
    validate_cached(&app, &p.key, "fp-1").await;
    behind_the_cache(
        &app,
        "UPDATE licenses SET machines_used = 1, version = version + 1 WHERE id = $1",
        &p.license_id,
    )
    .await;
    let res = app.activate(&p.key, "fp-1").await;
    assert_eq!(res.status(), 201);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["license"]["machines_used"], 2);
    let res = app.activate(&p.key, "fp-2").await;
    assert_eq!(res.status(), 409, "both seats are taken");
}
