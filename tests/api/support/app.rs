//! The application under test: spawned on port 0 against its own
//! database, with a controllable clock and an SMTP sink; builders for
//! what a test starts from (`with_customer`, `with_license`, `with_staff`)
//! and typed calls of the API.

use super::database::TestDatabase;
use super::log::init_test_logging;
use std::sync::Arc;

use licensor::clock::ManualClock;
use licensor::config::{RawSettings, Settings, Source};
use licensor::domain::time::Timestamp;
use licensor::startup::Application;
use licensor::store::Db;
use tempfile::TempDir;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub clock: Arc<ManualClock>,
    pub database: TestDatabase,
    /// The SMTP server the app sends its email to.
    pub mail: crate::smtp::SmtpSink,
    pub _data_dir: TempDir,
}

/// Settings for a test: port 0, a temporary data directory, the given
/// database; `configure` may change anything else.
pub fn test_settings(
    data_dir: &TempDir,
    database_url: &str,
    configure: impl FnOnce(&mut RawSettings),
) -> Settings {
    let mut raw = RawSettings::default();
    raw.set("listen", "127.0.0.1:0", Source::Default);
    raw.set(
        "data_dir",
        data_dir.path().display().to_string(),
        Source::Default,
    );
    raw.set("database_url", database_url, Source::Default);
    raw.set("database_max_connections", "10", Source::Default);
    configure(&mut raw);
    raw.build().expect("valid test settings")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, false).await
}

pub async fn spawn_demo_app() -> TestApp {
    spawn_app_with(|_| {}, true).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut RawSettings), demo: bool) -> TestApp {
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    spawn_app_on(database, &url, configure, demo).await
}

/// Spawns the app on `database`, reaching it through `url` (which may go
/// through a proxy).
pub async fn spawn_app_on(
    database: TestDatabase,
    url: &str,
    configure: impl FnOnce(&mut RawSettings),
    demo: bool,
) -> TestApp {
    init_test_logging();
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let mail = crate::smtp::SmtpSink::start().await;
    let smtp_url = mail.url();
    let settings = test_settings(&data_dir, url, |raw| {
        raw.set("smtp_url", smtp_url, Source::Default);
        raw.set("outbox_poll_ms", "50", Source::Default);
        configure(raw);
    });
    // An https server refuses a secret it would generate for development:
    // provide one the way an operator does.
    if settings.public_url.scheme() == "https" && !settings.secret_file.exists() {
        licensor::secret::ServerSecret::create_file(&settings.secret_file)
            .expect("a production secret");
    }
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix(1_795_910_400)));
    let app = Application::builder(settings)
        .clock(clock.clone())
        .demo(demo)
        .build()
        .await
        .expect("the application builds");
    let port = app.port();
    let db = app.db().clone();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("HTTP client");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client,
        db,
        clock,
        database,
        mail,
        _data_dir: data_dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// The license of the organization of the customer with this email,
    /// and its key.
    pub async fn license_and_key_of(&self, email: &str) -> (String, String) {
        let (id,): (String,) = sqlx::query_as(
            "SELECT l.id FROM licenses l JOIN users u ON u.organization_id = l.organization_id \
             WHERE u.email = $1",
        )
        .bind(email)
        .fetch_one(self.db.pool())
        .await
        .expect("the customer's license");
        let key = self.key_of(&id).await;
        (id, key)
    }

    /// The full key of a license, as the server reveals it.
    pub async fn key_of(&self, license_id: &str) -> String {
        licensor::services::licensing::reveal_key(
            &self.db,
            &cipher_of(self),
            &crate::support::lid(license_id),
        )
        .await
        .expect("the license key")
        .expose()
    }

    /// The server's published verification keys, as an application loads
    /// them.
    pub async fn public_keys(&self) -> licensor::verify::PublicKeys {
        let keys = self
            .get("/.well-known/licensor-keys.json")
            .await
            .text()
            .await
            .unwrap();
        licensor::verify::PublicKeys::from_key_set_json(&keys).unwrap()
    }

    /// Checks the machine file an activation answered with: it verifies
    /// offline for `fingerprint`, and says what a file built from the
    /// stored license and machine says. Returns its payload.
    pub async fn assert_activation_file(
        &self,
        activated: &serde_json::Value,
        fingerprint: &str,
    ) -> licensor::verify::Payload {
        use licensor::clock::Clock;
        let keys = self.public_keys().await;
        let file = activated["machine_file"].as_str().unwrap();
        let now = self.clock.now();
        let payload = licensor::verify::verify(file, &keys, now, Some(fingerprint)).unwrap();
        let fingerprint = licensor::domain::fingerprint::Fingerprint::parse(fingerprint).unwrap();
        let (stored, _) = licensor::services::license_files::payload(
            &self.db,
            &crate::support::lid(&payload.license_id),
            Some(&fingerprint),
            now,
            licensor::services::license_files::Standing::Required,
        )
        .await
        .unwrap();
        assert_eq!(
            payload, stored,
            "the activation's file is the stored state's"
        );
        payload
    }

    /// A whole number the query reads about one row, given its id (`$1`):
    /// a count, a column.
    pub async fn number_for(&self, sql: &'static str, id: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .bind(id)
            .fetch_one(self.db.pool())
            .await
            .expect("a number");
        n
    }

    /// Counts the rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let (n,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(self.db.pool())
                .await
                .expect("count rows");
        n
    }
}

/// Asserts a response carries a `X-Request-Id` and the security headers.
pub fn assert_standard_headers(res: &reqwest::Response) {
    let h = res.headers();
    let request_id = h.get("x-request-id").expect("x-request-id header");
    assert_eq!(request_id.len(), 36, "request id is a UUID");
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(h.get("referrer-policy").is_some());
}

/// A vendor's view of the API: a token and typed calls.
impl TestApp {
    /// A new API token of the given scope.
    pub async fn api_token(&self, scope: licensor::services::api_tokens::Scope) -> String {
        let ctx = licensor::services::context::Ctx::new(
            &self.db,
            self.clock.as_ref(),
            licensor::domain::audit::Actor::Cli,
        );
        let (_, token) = licensor::services::api_tokens::create(&ctx, "test", scope)
            .await
            .expect("token created");
        token.expose().to_owned()
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get_json(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// Creates a product, a license type with `rules` (merged over a
    /// 30-day, 3-seat default) and one license; returns it.
    pub async fn with_license(&self, rules: serde_json::Value) -> Provisioned {
        let token = self
            .api_token(licensor::services::api_tokens::Scope::Write)
            .await;
        let code = format!("p-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let res = self
            .post_json(
                "/api/v1/products",
                Some(&token),
                &serde_json::json!({ "code": code, "name": "Product", "activation_instructions": "Open Help > Activate." }),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let product: serde_json::Value = res.json().await.unwrap();
        let mut body = serde_json::json!({
            "product_id": product["id"],
            "name": "Standard",
            "duration_days": 30,
            "max_machines": 3,
            "entitlements": ["pro", "export"],
        });
        for (k, v) in rules.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = self
            .post_json("/api/v1/license-types", Some(&token), &body)
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let license_type: serde_json::Value = res.json().await.unwrap();
        let res = self
            .post_json(
                "/api/v1/licenses",
                Some(&token),
                &serde_json::json!({ "license_type_id": license_type["id"], "email": "buyer@example.com" }),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let created: serde_json::Value = res.json().await.unwrap();
        Provisioned {
            token,
            product_code: code,
            license_type_id: license_type["id"].as_str().unwrap().to_owned(),
            license_id: created["license"]["id"].as_str().unwrap().to_owned(),
            key: created["key"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn validate(&self, body: serde_json::Value) -> serde_json::Value {
        let res = self
            .post_json("/api/v1/licenses/validate", None, &body)
            .await;
        assert_eq!(res.status(), 200, "validation answers 200");
        res.json().await.unwrap()
    }

    pub async fn activate(&self, key: &str, fingerprint: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/machines/activate",
            None,
            &serde_json::json!({ "key": key, "fingerprint": fingerprint, "name": "Workstation", "platform": "linux" }),
        )
        .await
    }
}

#[derive(Debug, Clone)]
pub struct Provisioned {
    pub token: String,
    pub product_code: String,
    pub license_type_id: String,
    pub license_id: String,
    pub key: String,
}

/// The data cipher of a test app (its secret file is in the data dir).
pub fn cipher_of(app: &TestApp) -> licensor::secret::DataCipher {
    let path = app._data_dir.path().join("secret.key");
    let (secret, _) = licensor::secret::ServerSecret::load_or_generate(&path).unwrap();
    secret.data_cipher().unwrap()
}

/// A staff account with `PASSWORD`, created as `licensor admin create` does.
pub async fn create_staff(app: &TestApp, email: &str, role: licensor::domain::role::Role) {
    licensor::services::staff::create_staff(
        &app.db,
        app.clock.as_ref(),
        &licensor::domain::audit::Actor::Cli,
        &licensor::domain::email::EmailAddress::parse(email).unwrap(),
        role,
        licensor::domain::password::Password::parse(secrecy::SecretString::from(
            crate::support::form_browser::PASSWORD,
        ))
        .unwrap(),
    )
    .await
    .unwrap();
}
