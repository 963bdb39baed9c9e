//! Upgrades: `tests/fixtures/schema-1.json` holds a database at the oldest
//! supported schema (migration 0001), with rows in every table: customers
//! and staff with passwords, a catalog, licenses with sealed keys, machines,
//! sessions, tokens, events, a webhook endpoint with its sealed secret, the
//! outbox, an API token, a signing key sealed under the fixture's server
//! secret, notices and a stored idempotent reply. The test builds that
//! database on the backend under test (migration 0001 only, then the rows),
//! starts the current server on it, which applies every later migration,
//! and reads every row back through the app: validation, the API, the
//! portal and the console.
//!
//! The fixture was written once by the generator below, with the code of
//! the day; `UPDATE_UPGRADE_FIXTURE=1 cargo test --test api upgrade` writes
//! it again, which only a deliberate change of the oldest supported schema
//! calls for.

use std::borrow::Cow;
use std::path::Path;

use base64::Engine;
use licensor::domain::license_key::LicenseKey;
use licensor::secret::ServerSecret;
use serde_json::{Map, Value, json};
use sqlx::AnyPool;

use crate::support::form_browser::Browser;
use crate::support::{TestDatabase, spawn_app_on};

const FIXTURE: &str = "tests/fixtures/schema-1.json";
/// The fixture's server secret (its signing key, license keys and webhook
/// secret are sealed under it).
const SECRET: [u8; 32] = [0x5a; 32];
const PASSWORD: &str = "fixture passphrase for upgrades 2026";
const API_TOKEN: &str = "lic_fixturetokenfixturetokenfixture2";
/// An email verification link's token (64 hex digits, as the app makes).
const VERIFY_TOKEN: &str = "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f0";
const CUSTOMER: &str = "owner@fixture.example";
const ADMIN: &str = "admin@vendor.example";

const ORG: &str = "01900000-0000-7000-8000-000000000001";
const OWNER: &str = "01900000-0000-7000-8000-000000000011";
const PENDING_USER: &str = "01900000-0000-7000-8000-000000000012";
const ADMIN_ID: &str = "01900000-0000-7000-8000-000000000013";
const SUPPORT_ID: &str = "01900000-0000-7000-8000-000000000014";
const PRODUCT: &str = "01900000-0000-7000-8000-000000000021";
const PRO: &str = "01900000-0000-7000-8000-000000000031";
const FLOATING: &str = "01900000-0000-7000-8000-000000000032";
const EXPORT: &str = "01900000-0000-7000-8000-000000000041";
/// (id, key seed byte): active, suspended, assigned to an invited email.
const LICENSES: [(&str, u8); 3] = [
    ("01900000-0000-7000-8000-000000000051", 0x51),
    ("01900000-0000-7000-8000-000000000052", 0x52),
    ("01900000-0000-7000-8000-000000000053", 0x53),
];
const MACHINE: &str = "01900000-0000-7000-8000-000000000061";
const GONE_MACHINE: &str = "01900000-0000-7000-8000-000000000062";
const WEBHOOK: &str = "01900000-0000-7000-8000-000000000071";
const API_TOKEN_ID: &str = "01900000-0000-7000-8000-000000000081";
/// 2026-01-01 and 2028-01-01, 00:00 UTC.
const CREATED: i64 = 1_767_225_600;
const FAR: i64 = 1_830_297_600;
/// Shortly before the test clock's start (a stored reply is kept a day).
const RECENT: i64 = 1_795_909_000;

fn key(seed: u8) -> LicenseKey {
    LicenseKey::from_random_bytes(&[seed; 15])
}

fn hex(bytes: &[u8]) -> Value {
    json!({ "hex": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>() })
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fixture's rows, table by table in the order they insert.
async fn generate() -> Value {
    let cipher = ServerSecret::from_bytes(SECRET).data_cipher().unwrap();
    let password = licensor::domain::password::Password::parse(PASSWORD.to_owned().into()).unwrap();
    let hash = licensor::services::credentials::hash_password(password)
        .await
        .unwrap();
    let pair = licensor::signing::KeyPair::from_seed(&[0x77; 32]).unwrap();
    let user = |id: &str, org: Option<&str>, role: &str, email: &str, verified: Option<i64>| {
        json!({"id": id, "organization_id": org, "org_role": org.map(|_| "owner"), "email": email,
               "password_hash": hash, "role": role, "email_verified_at": verified,
               "reminders_enabled": 1, "disabled_at": null, "created_at": CREATED, "updated_at": CREATED})
    };
    let license = |i: usize, org: Option<&str>, email: Option<&str>, ty: &str, status: &str| {
        let (id, seed) = LICENSES[i];
        let key = key(seed);
        json!({"id": id, "key_digest": key.digest(),
               "key_ciphertext": hex(&cipher.seal(key.canonical().as_bytes(), id.as_bytes()).unwrap()),
               "key_last4": key.last4(), "product_id": PRODUCT, "license_type_id": ty,
               "organization_id": org, "assigned_email": email, "status": status, "is_trial": 0,
               "max_machines": 3, "machines_used": if i == 0 { 1 } else { 0 }, "issued_at": CREATED,
               "expires_at": FAR, "first_activated_at": if i == 0 { json!(CREATED + 60) } else { Value::Null },
               "version": 2, "created_at": CREATED, "updated_at": CREATED + 60})
    };
    let event = |id: &str, kind: &str, actor: &str, license: Option<&str>, data: Value| {
        json!({"id": id, "occurred_at": CREATED + 30, "kind": kind, "actor_kind": actor, "actor_id": null,
               "request_id": "fixture-request", "organization_id": ORG, "user_id": OWNER,
               "license_id": license, "data": data.to_string()})
    };
    json!([
        ["organizations", [{"id": ORG, "name": "Fixture Ltd", "created_at": CREATED}]],
        ["users", [
            user(OWNER, Some(ORG), "customer", CUSTOMER, Some(CREATED)),
            user(PENDING_USER, None, "customer", "pending@fixture.example", None),
            user(ADMIN_ID, None, "admin", ADMIN, Some(CREATED)),
            user(SUPPORT_ID, None, "support", "support@vendor.example", Some(CREATED)),
        ]],
        ["products", [{"id": PRODUCT, "code": "fixture-app", "name": "Fixture App",
            "description": "The app of the upgrade fixture", "activation_instructions": "Paste the key.",
            "retired_at": null, "created_at": CREATED}]],
        ["license_types", [
            {"id": PRO, "product_id": PRODUCT, "name": "Pro", "duration_days": 365, "max_machines": 3,
             "floating": 0, "heartbeat_window_secs": null, "grace_days": 7, "self_service_trial": 0,
             "customer_may_deactivate": 1, "deactivation_limit": 5, "deactivation_period_days": 30,
             "expiry_from": "issue", "offline_checkin_days": 30, "retired_at": null, "created_at": CREATED},
            {"id": FLOATING, "product_id": PRODUCT, "name": "Floating", "duration_days": null, "max_machines": 3,
             "floating": 1, "heartbeat_window_secs": 600, "grace_days": 0, "self_service_trial": 0,
             "customer_may_deactivate": 1, "deactivation_limit": null, "deactivation_period_days": null,
             "expiry_from": "issue", "offline_checkin_days": 7, "retired_at": null, "created_at": CREATED},
        ]],
        ["entitlements", [{"id": EXPORT, "code": "export", "name": "Export", "created_at": CREATED}]],
        ["license_type_entitlements", [{"license_type_id": PRO, "entitlement_id": EXPORT}]],
        ["licenses", [
            license(0, Some(ORG), None, PRO, "active"),
            license(1, Some(ORG), None, PRO, "suspended"),
            license(2, None, Some("invitee@fixture.example"), FLOATING, "active"),
        ]],
        ["machines", [
            {"id": MACHINE, "license_id": LICENSES[0].0, "fingerprint": "fixture-fp-1", "name": "Fixture Workstation",
             "platform": "Linux", "ip": "192.0.2.10", "activated_at": CREATED + 60, "last_heartbeat_at": CREATED + 60,
             "deactivated_at": null, "deactivated_by": null},
            {"id": GONE_MACHINE, "license_id": LICENSES[0].0, "fingerprint": "fixture-fp-0", "name": "Old Laptop",
             "platform": "Windows", "ip": "192.0.2.11", "activated_at": CREATED + 10, "last_heartbeat_at": CREATED + 10,
             "deactivated_at": CREATED + 50, "deactivated_by": "customer"},
        ]],
        ["sessions", [{"id": sha256("fixture-session"), "user_id": OWNER, "state": "{}",
            "created_at": CREATED, "last_seen_at": CREATED, "expires_at": FAR}]],
        ["tokens", [
            {"id": "01900000-0000-7000-8000-000000000091", "digest": sha256(VERIFY_TOKEN),
             "kind": "email_verification", "user_id": PENDING_USER, "email": "pending@fixture.example",
             "organization_id": null, "license_id": null, "created_at": CREATED, "expires_at": FAR, "used_at": null},
            {"id": "01900000-0000-7000-8000-000000000092", "digest": sha256(&VERIFY_TOKEN.replace('0', "1")),
             "kind": "license_claim", "user_id": null, "email": "invitee@fixture.example",
             "organization_id": null, "license_id": LICENSES[2].0, "created_at": CREATED, "expires_at": FAR, "used_at": null},
        ]],
        ["events", [
            event("01900000-0000-7000-8000-0000000000a1", "customer.created", "customer", None, json!({"email": CUSTOMER})),
            event("01900000-0000-7000-8000-0000000000a2", "license.created", "cli", Some(LICENSES[0].0), json!({"product": "fixture-app"})),
            event("01900000-0000-7000-8000-0000000000a3", "license.activated", "license_key", Some(LICENSES[0].0),
                  json!({"machine_id": MACHINE, "fingerprint": "fixture-fp-1"})),
            event("01900000-0000-7000-8000-0000000000a4", "license.suspended", "cli", Some(LICENSES[1].0),
                  json!({"before": {"status": "active"}, "after": {"status": "suspended"}})),
        ]],
        ["webhook_endpoints", [{"id": WEBHOOK, "url": "https://crm.fixture.example/hooks/licensor",
            "secret_ciphertext": hex(&cipher.seal(b"whsec_fixture_secret_0123456789", WEBHOOK.as_bytes()).unwrap()),
            "event_filter": "*", "enabled": 1, "created_at": CREATED}]],
        ["outbox", [
            {"id": "01900000-0000-7000-8000-0000000000b1", "channel": "email", "topic": "license_issued",
             "recipient": CUSTOMER, "webhook_endpoint_id": null, "organization_id": ORG, "license_id": LICENSES[0].0,
             "payload": json!({"subject": "Your Fixture App license"}).to_string(), "status": "sent", "attempts": 1,
             "next_attempt_at": CREATED, "locked_until": null, "last_error": null, "last_status_code": null,
             "created_at": CREATED, "sent_at": CREATED + 5},
            {"id": "01900000-0000-7000-8000-0000000000b2", "channel": "webhook", "topic": "license.created",
             "recipient": "https://crm.fixture.example/hooks/licensor", "webhook_endpoint_id": WEBHOOK,
             "organization_id": ORG, "license_id": LICENSES[0].0, "payload": json!({"type": "license.created"}).to_string(),
             "status": "dead", "attempts": 8, "next_attempt_at": CREATED, "locked_until": null,
             "last_error": "connection refused", "last_status_code": null, "created_at": CREATED, "sent_at": null},
        ]],
        ["api_tokens", [{"id": API_TOKEN_ID, "name": "Fixture CRM", "digest": sha256(API_TOKEN),
            "prefix": &API_TOKEN[..10], "scope": "write", "created_by": ADMIN_ID, "created_at": CREATED,
            "last_used_at": null, "revoked_at": null}]],
        ["signing_keys", [{"id": pair.kid, "algorithm": "ed25519", "public_key": hex(&pair.public_key_bytes()),
            "private_key_ciphertext": hex(&cipher.seal(pair.secret_seed().as_ref(), pair.kid.as_bytes()).unwrap()),
            "is_active": 1, "created_at": CREATED, "retired_at": null}]],
        ["notices", [{"license_id": LICENSES[0].0, "kind": "expiring_30", "expires_at": FAR, "created_at": CREATED}]],
        ["idempotency_keys", [{"scope": format!("key:{}", key(0x51).digest()), "idempotency_key": "fixture-retry-1",
            "request_digest": sha256("{}"), "status_code": 200, "response_headers": "[]",
            "response_body": hex(b"{\"fixture\":true}"), "created_at": RECENT}]],
    ])
}

/// Builds the fixture's database on `pool`: migration 0001 alone, then the
/// rows. Returns how many rows each table got.
async fn build(pool: &AnyPool, postgres: bool, fixture: &Value) -> Vec<(String, i64)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(if postgres { "postgres" } else { "sqlite" });
    let mut migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    let first: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version == 1)
        .cloned()
        .collect();
    migrator.migrations = Cow::Owned(first);
    migrator.run(pool).await.unwrap();
    let mut counts = Vec::new();
    for table in fixture.as_array().unwrap() {
        let name = table[0].as_str().unwrap();
        let rows = table[1].as_array().unwrap();
        for row in rows {
            insert(pool, name, row.as_object().unwrap()).await;
        }
        counts.push((name.to_owned(), rows.len() as i64));
    }
    counts
}

async fn insert(pool: &AnyPool, table: &str, row: &Map<String, Value>) {
    // A null is left out (each such column is nullable with no default):
    // an untyped NULL parameter is text to PostgreSQL.
    let given: Vec<(&String, &Value)> = row.iter().filter(|(_, v)| !v.is_null()).collect();
    let columns: Vec<&str> = given.iter().map(|(c, _)| c.as_str()).collect();
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        marks.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (_, value) in given {
        query = match value {
            Value::Number(n) => query.bind(n.as_i64().unwrap()),
            Value::String(s) => query.bind(s.clone()),
            Value::Object(o) => {
                let text = o["hex"].as_str().unwrap();
                let bytes: Vec<u8> = (0..text.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
                    .collect();
                query.bind(bytes)
            }
            other => panic!("{table}: unexpected value {other}"),
        };
    }
    query
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{table}: {e}"));
}

#[tokio::test]
async fn the_oldest_schema_with_data_in_every_table_upgrades_and_reads_back_through_the_app() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    if std::env::var_os("UPDATE_UPGRADE_FIXTURE").is_some() {
        let text = serde_json::to_string_pretty(&generate().await).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let database = TestDatabase::create().await;
    let build_url = if database.is_postgres() {
        database.url.clone()
    } else {
        format!("{}?mode=rwc", database.url)
    };
    let pool = AnyPool::connect(&build_url).await.unwrap();
    let counts = build(&pool, database.is_postgres(), &fixture).await;
    let tables_at_one: Vec<(String,)> = if database.is_postgres() {
        sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    } else {
        sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    for (table,) in &tables_at_one {
        assert!(
            counts.iter().any(|(t, n)| t == table && *n > 0),
            "the fixture has no rows in {table}"
        );
    }
    pool.close().await;

    // The current server on it: every later migration applies at start.
    let url = database.url.clone();
    let secret = base64::engine::general_purpose::STANDARD.encode(SECRET);
    let app = spawn_app_on(
        database,
        &url,
        |raw| raw.set("secret", secret, licensor::config::Source::Default),
        false,
    )
    .await;
    let (version,): (i64,) =
        sqlx::query_as("SELECT CAST(MAX(version) AS BIGINT) FROM _sqlx_migrations")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(version, licensor::store::schema_version());
    for (table, n) in &counts {
        assert_eq!(app.count(table).await, *n, "{table} kept every row");
    }

    // Validation reads the licenses, signed with the fixture's key.
    let kid = fixture
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0] == "signing_keys")
        .unwrap()[1][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let verdicts = [
        ("VALID", Some("fixture-fp-1")),
        ("SUSPENDED", None),
        ("FINGERPRINT_REQUIRED", None),
    ];
    for ((id, seed), (code, fingerprint)) in LICENSES.iter().zip(verdicts) {
        let mut body = json!({ "key": key(*seed).expose() });
        if let Some(fp) = fingerprint {
            body["fingerprint"] = json!(fp);
        }
        let res = app
            .post_json("/api/v1/licenses/validate", None, &body)
            .await;
        let signature = res.headers()["licensor-signature"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(signature.contains(&kid), "{signature}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["code"], code, "{id}: {answer}");
    }
    // The machine is active (no second seat); the key reveals.
    let res = app.activate(&key(0x51).expose(), "fixture-fp-1").await;
    assert_eq!(res.status(), 200, "already active");
    let revealed = licensor::services::licensing::reveal_key(
        &app.db,
        &ServerSecret::from_bytes(SECRET).data_cipher().unwrap(),
        &crate::support::lid(LICENSES[0].0),
    )
    .await
    .unwrap();
    assert_eq!(revealed.expose(), key(0x51).expose());

    // The API token reads a license with its machines and entitlements.
    let license: Value = app
        .get_json(&format!("/api/v1/licenses/{}", LICENSES[0].0), API_TOKEN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        license["machines"][0]["name"], "Fixture Workstation",
        "{license}"
    );
    assert_eq!(
        license["license"]["entitlements"],
        json!(["export"]),
        "{license}"
    );

    // The customer signs in with the old password and sees the licenses.
    let customer = Browser::new(&app);
    assert_eq!(customer.sign_in(CUSTOMER, PASSWORD).await.status(), 303);
    let page = customer.html("/licenses").await;
    for (_, seed) in &LICENSES[..2] {
        assert!(page.contains(&key(*seed).last4()), "{page}");
    }
    // The pending customer's verification link still works.
    let res = Browser::new(&app)
        .get(&format!("/verify-email?token={VERIFY_TOKEN}"))
        .await;
    assert!(res.status().is_success() || res.status().is_redirection());
    let (verified,): (Option<i64>,) =
        sqlx::query_as("SELECT email_verified_at FROM users WHERE id = $1")
            .bind(PENDING_USER)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(verified.is_some(), "the old token verified the address");

    // Staff sign in; every console page reads the old rows.
    let admin = Browser::new(&app);
    assert_eq!(admin.sign_in(ADMIN, PASSWORD).await.status(), 303);
    let pages = [
        (
            format!("/admin/licenses/{}", LICENSES[0].0),
            "Fixture Workstation",
        ),
        (format!("/admin/customers/{ORG}"), "Fixture Ltd"),
        (
            "/admin/audit?action=license.suspended".to_owned(),
            "suspended",
        ),
        ("/admin/outbox".to_owned(), "connection refused"),
        ("/admin/webhooks".to_owned(), "crm.fixture.example"),
        ("/admin/tokens".to_owned(), "Fixture CRM"),
        ("/admin/products".to_owned(), "Fixture App"),
        ("/admin/keys".to_owned(), kid.as_str()),
        ("/admin/staff".to_owned(), "support@vendor.example"),
    ];
    for (path, expected) in &pages {
        let page = admin.html(path).await;
        assert!(page.contains(expected), "{path} lacks {expected}");
    }
}
