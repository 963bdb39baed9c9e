use std::sync::Arc;

use licensor::clock::ManualClock;
use licensor::domain::time::Timestamp;
use licensor::startup::Application;

use crate::support::{TestDatabase, spawn_app, test_settings};

/// Every table of the schema (both backends).
pub const TABLES: &[&str] = &[
    "organizations",
    "users",
    "products",
    "license_types",
    "entitlements",
    "license_type_entitlements",
    "licenses",
    "machines",
    "sessions",
    "tokens",
    "events",
    "outbox",
    "api_tokens",
    "webhook_endpoints",
    "signing_keys",
    "notices",
    "idempotency_keys",
    "validation_stats",
    "validation_sightings",
    "api_outcomes",
    "api_refusal_ips",
];

#[tokio::test]
async fn migrations_create_every_table_and_can_run_again() {
    let app = spawn_app().await;
    for table in TABLES {
        assert!(app.count(table).await >= 0, "{table}");
    }
    app.db.migrate().await.expect("a second run is a no-op");
    let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert_eq!(applied, i64::try_from(migrations).unwrap());
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_foreign_keys() {
    let app = spawn_app().await;
    if app.database.is_postgres() {
        return;
    }
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(sync, 2, "FULL, the durable default");
}

#[tokio::test]
async fn foreign_keys_are_enforced_on_both_backends() {
    let app = spawn_app().await;
    let err = sqlx::query(
        "INSERT INTO machines (id, license_id, fingerprint, activated_at, last_heartbeat_at) \
         VALUES ('m1', 'no-such-license', 'fp', 1, 1)",
    )
    .execute(app.db.pool())
    .await
    .unwrap_err();
    assert!(
        err.as_database_error().unwrap().is_foreign_key_violation(),
        "{err}"
    );
}

/// Inserts a product, a type, an organization and a license; returns the
/// license id.
async fn seed_license(pool: &sqlx::AnyPool, suffix: &str, trial: bool) -> String {
    let stmts = [
        format!(
            "INSERT INTO products (id, code, name, created_at) VALUES ('p{suffix}', 'code{suffix}', 'P', 1) ON CONFLICT (code) DO NOTHING"
        ),
        format!(
            "INSERT INTO license_types (id, product_id, name, max_machines, created_at) VALUES ('t{suffix}', 'p{suffix}', 'T', 2, 1) ON CONFLICT (product_id, name) DO NOTHING"
        ),
        format!(
            "INSERT INTO organizations (id, name, created_at) VALUES ('o{suffix}', 'Org', 1) ON CONFLICT (id) DO NOTHING"
        ),
    ];
    for sql in stmts {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO licenses (id, key_digest, key_ciphertext, key_last4, product_id, license_type_id, \
         organization_id, status, is_trial, max_machines, issued_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'ABCD', $4, $5, $6, 'active', $7, 2, 1, 1, 1)",
    )
    .bind(&id)
    .bind(format!("digest-{id}"))
    .bind(vec![1u8, 2, 3])
    .bind(format!("p{suffix}"))
    .bind(format!("t{suffix}"))
    .bind(format!("o{suffix}"))
    .bind(i64::from(trial))
    .execute(pool)
    .await
    .map(|_| id)
    .unwrap_or_else(|e| format!("error: {e}"))
}

#[tokio::test]
async fn one_trial_per_organization_and_product_is_a_constraint() {
    let app = spawn_app().await;
    let pool = app.db.pool();
    let first = seed_license(pool, "1", true).await;
    assert!(!first.starts_with("error"), "{first}");
    let second = seed_license(pool, "1", true).await;
    assert!(second.starts_with("error"), "a second trial is refused");
    let paid = seed_license(pool, "1", false).await;
    assert!(!paid.starts_with("error"), "paid licenses are not limited");
}

#[tokio::test]
async fn a_fingerprint_holds_one_live_seat_per_license() {
    let app = spawn_app().await;
    let pool = app.db.pool();
    let license = seed_license(pool, "2", false).await;
    let insert = |id: &'static str, deactivated: Option<i64>| {
        sqlx::query(
            "INSERT INTO machines (id, license_id, fingerprint, activated_at, last_heartbeat_at, deactivated_at) \
             VALUES ($1, $2, 'fp-1', 1, 1, $3)",
        )
        .bind(id)
        .bind(license.clone())
        .bind(deactivated)
        .execute(pool)
    };
    insert("m1", None).await.unwrap();
    let err = insert("m2", None).await.unwrap_err();
    assert!(err.as_database_error().unwrap().is_unique_violation());
    insert("m3", Some(5))
        .await
        .expect("deactivated rows do not count");
}

#[tokio::test]
async fn only_one_signing_key_is_active() {
    let app = spawn_app().await;
    let err = sqlx::query(
        "INSERT INTO signing_keys (id, algorithm, public_key, private_key_ciphertext, is_active, created_at) \
         VALUES ('k2', 'ed25519', $1, $1, 1, 1)",
    )
    .bind(vec![0u8; 32])
    .execute(app.db.pool())
    .await
    .unwrap_err();
    assert!(err.as_database_error().unwrap().is_unique_violation());
}

#[tokio::test]
async fn demo_seeding_is_idempotent() {
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix(1_795_910_400)));
    for _ in 0..2 {
        let settings = test_settings(&data_dir, &database.url, |_| {});
        let app = Application::builder(settings)
            .clock(clock.clone())
            .demo(true)
            .build()
            .await
            .unwrap();
        let pool = app.db().pool();
        let (products,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM products")
            .fetch_one(pool)
            .await
            .unwrap();
        let (types,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM license_types WHERE self_service_trial = 1")
                .fetch_one(pool)
                .await
                .unwrap();
        let (keys,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM signing_keys")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!((products, types, keys), (1, 1, 1));
        app.db().close().await;
    }
}

#[tokio::test]
async fn a_different_server_secret_is_refused_at_start_up() {
    let database = TestDatabase::create().await;
    let first_dir = tempfile::tempdir().unwrap();
    let app = Application::build(test_settings(&first_dir, &database.url, |_| {}))
        .await
        .unwrap();
    app.db().close().await;
    drop(app);
    // Same database, another data directory: another generated secret.
    let other_dir = tempfile::tempdir().unwrap();
    let err = Application::build(test_settings(&other_dir, &database.url, |_| {}))
        .await
        .err()
        .expect("start-up must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("cannot open signing key"), "{msg}");
    assert!(msg.contains("secret_file"), "{msg}");
}

#[tokio::test]
async fn events_are_stamped_by_the_injected_clock() {
    use licensor::clock::Clock;
    let app = crate::support::spawn_demo_app().await;
    let rows: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT kind, occurred_at, actor_kind FROM events ORDER BY kind")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    let kinds: Vec<&str> = rows.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "license_type.created",
            "product.created",
            "signing_key.created"
        ]
    );
    for (kind, at, actor) in &rows {
        assert_eq!(*at, app.clock.now().unix(), "{kind}");
        assert_eq!(actor, "system");
    }
}
