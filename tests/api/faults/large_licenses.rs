//! A license with more live machines than a cache entry holds
//! (`store::cache::HELD_MACHINES`): its machines are looked up one
//! fingerprint at a time and kept apart from the license's entry, and every
//! change to one of them (an activation, a heartbeat, a deactivation, a
//! reaped seat, hand-written SQL, another instance's write) is seen by the
//! next validation, as for any license.

use licensor::store::cache::HELD_MACHINES;
use serde_json::{Value, json};

use crate::license_cache::{by_hand, second_instance, validate, validate_cached, wait_for};
use crate::support::{Provisioned, TestApp, spawn_app};

const FEED_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn code(app: &TestApp, p: &Provisioned, fingerprint: &str) -> Value {
    validate(app, &p.key, fingerprint).await["code"].clone()
}

async fn post(app: &TestApp, path: &str, p: &Provisioned, fingerprint: &str) -> u16 {
    app.post_json(
        path,
        None,
        &json!({ "key": p.key, "fingerprint": fingerprint }),
    )
    .await
    .status()
    .as_u16()
}

/// A floating license (600 s heartbeat window) with more machines than an
/// entry holds: fp-0, fp-1, ...
async fn large_license(app: &TestApp) -> (Provisioned, usize) {
    let p = app
        .with_license(json!({ "max_machines": 100, "floating": true,
                              "heartbeat_window_secs": 600 }))
        .await;
    let machines = usize::try_from(HELD_MACHINES).unwrap() + 4;
    for i in 0..machines {
        assert_eq!(app.activate(&p.key, &format!("fp-{i}")).await.status(), 201);
    }
    (p, machines)
}

#[tokio::test]
async fn a_large_licenses_machines_are_looked_up_and_every_change_is_seen() {
    let app = spawn_app().await;
    let (p, machines) = large_license(&app).await;
    assert_eq!(validate_cached(&app, &p.key, "fp-0").await["code"], "VALID");
    for i in 0..machines {
        assert_eq!(code(&app, &p, &format!("fp-{i}")).await, "VALID", "fp-{i}");
    }
    let cache = app.db.license_cache();
    wait_for("the lookups are kept", FEED_LIMIT, || async {
        validate(&app, &p.key, "fp-5").await;
        cache.looked_up_machines() > 0
    })
    .await;
    let v = validate(&app, &p.key, "fp-0").await;
    assert_eq!(v["license"]["machines_used"], machines);

    // A fingerprint known to be absent, then activated: seen at once.
    for _ in 0..2 {
        assert_eq!(code(&app, &p, "fp-new").await, "NOT_ACTIVATED");
    }
    assert_eq!(app.activate(&p.key, "fp-new").await.status(), 201);
    assert_eq!(code(&app, &p, "fp-new").await, "VALID");

    // A heartbeat at 400 s keeps fp-1 alive at 700 s, when the others,
    // silent since 0 s, are dead.
    app.clock.advance_secs(400);
    assert_eq!(
        post(&app, "/api/v1/machines/heartbeat", &p, "fp-1").await,
        200
    );
    app.clock.advance_secs(300);
    assert_eq!(code(&app, &p, "fp-1").await, "VALID");
    assert_eq!(code(&app, &p, "fp-2").await, "HEARTBEAT_DEAD");

    // An activation frees the dead seats: the reaped machines are seen as
    // gone, the live one stays.
    assert_eq!(app.activate(&p.key, "fp-late").await.status(), 201);
    assert_eq!(code(&app, &p, "fp-2").await, "NOT_ACTIVATED");
    let v = validate(&app, &p.key, "fp-1").await;
    assert_eq!(v["code"], "VALID");
    assert_eq!(v["license"]["machines_used"], 2);

    // A deactivation, then a machine deleted by hand (through the feed).
    assert_eq!(
        post(&app, "/api/v1/machines/deactivate", &p, "fp-1").await,
        200
    );
    assert_eq!(code(&app, &p, "fp-1").await, "NOT_ACTIVATED");
    assert_eq!(code(&app, &p, "fp-late").await, "VALID");
    by_hand(
        &app,
        "DELETE FROM machines WHERE license_id = $1 AND fingerprint = 'fp-late'",
        &p.license_id,
    )
    .await;
    wait_for("the deletion by hand is seen", FEED_LIMIT, || async {
        code(&app, &p, "fp-late").await == "NOT_ACTIVATED"
    })
    .await;
}

/// On PostgreSQL a machine's change made through one instance reaches the
/// other's looked-up machines.
#[tokio::test]
async fn a_machine_change_on_one_instance_reaches_the_others_lookups() {
    let a = spawn_app().await;
    if !a.database.is_postgres() {
        eprintln!("PostgreSQL only: SQLite runs one server");
        return;
    }
    let b = second_instance(&a).await;
    let (p, _) = large_license(&a).await;
    wait_for("both caches serve", FEED_LIMIT, || async {
        a.db.license_cache().is_serving() && b.db.license_cache().is_serving()
    })
    .await;
    assert_eq!(validate_cached(&b, &p.key, "fp-3").await["code"], "VALID");
    wait_for("B keeps its lookup", FEED_LIMIT, || async {
        validate(&b, &p.key, "fp-3").await;
        b.db.license_cache().looked_up_machines() > 0
    })
    .await;
    assert_eq!(
        post(&a, "/api/v1/machines/deactivate", &p, "fp-3").await,
        200
    );
    wait_for("B sees the deactivation", FEED_LIMIT, || async {
        code(&b, &p, "fp-3").await == "NOT_ACTIVATED"
    })
    .await;
    assert_eq!(code(&b, &p, "fp-4").await, "VALID");
}
