//! Every setting, once: its name, its default, how its value is parsed and
//! what it means. The README's configuration table is checked against this
//! table by a test, and `RawSettings` knows a key only if it is here.

use std::net::SocketAddr;
use std::path::PathBuf;

use url::Url;

use super::parse;
use super::{Backend, LogFormat, SqliteSynchronous};
use crate::domain::proxies::TrustedProxies;
use crate::secret::ServerSecret;

/// What a setting is when nobody gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// This text, parsed like a given value.
    Value(&'static str),
    /// Off or empty: the empty text is parsed. Shown as written here.
    Unset(&'static str),
    /// Computed from other settings while building. Shown as written here.
    Derived(&'static str),
}

/// Who may see and give a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    Plain,
    /// Never in a log or an error.
    Secret,
    /// A secret taken only from the environment, never from a file.
    EnvironmentOnlySecret,
}

/// One setting with the type its parser gives.
pub struct Setting<T: 'static> {
    pub key: &'static str,
    pub fallback: Fallback,
    pub exposure: Exposure,
    pub parse: fn(&str) -> Result<T, String>,
    /// The README's "meaning" column (Markdown).
    pub doc: &'static str,
}

/// A setting without its type: what the table, the README and error
/// messages need.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub key: &'static str,
    pub fallback: Fallback,
    pub exposure: Exposure,
    pub doc: &'static str,
}

impl<T> Setting<T> {
    pub const fn known(&self) -> Known {
        Known {
            key: self.key,
            fallback: self.fallback,
            exposure: self.exposure,
            doc: self.doc,
        }
    }
}

impl Known {
    pub fn environment_variable(&self) -> String {
        format!("LICENSOR_{}", self.key.to_ascii_uppercase())
    }

    /// The default as the README shows it.
    pub fn shown_default(&self) -> String {
        match self.fallback {
            Fallback::Value(v) => format!("`{v}`"),
            Fallback::Unset(shown) | Fallback::Derived(shown) => shown.to_owned(),
        }
    }

    /// This setting's row of the README's configuration table.
    pub fn readme_row(&self) -> String {
        format!(
            "| `{}` | `{}` | {} | {} |",
            self.key,
            self.environment_variable(),
            self.shown_default(),
            self.doc
        )
    }
}

/// Declares each setting as a typed constant and lists them all in `KNOWN`,
/// in the order the README shows them.
macro_rules! settings {
    ($(
        $name:ident: $ty:ty {
            key: $key:literal,
            fallback: $fallback:expr,
            $(exposure: $exposure:expr,)?
            parse: $parse:expr,
            doc: $doc:literal $(,)?
        }
    )*) => {
        $(
            pub const $name: Setting<$ty> = Setting {
                key: $key,
                fallback: $fallback,
                exposure: settings!(@exposure $($exposure)?),
                parse: $parse,
                doc: $doc,
            };
        )*
        /// Every setting, in the README's order.
        pub const KNOWN: &[Known] = &[$($name.known()),*];
    };
    (@exposure) => { Exposure::Plain };
    (@exposure $exposure:expr) => { $exposure };
}

use Fallback::{Derived, Unset, Value};

settings! {
    LISTEN: SocketAddr {
        key: "listen",
        fallback: Value("127.0.0.1:8080"),
        parse: parse::listen_address,
        doc: "address and port the HTTP server binds",
    }
    PUBLIC_URL: Url {
        key: "public_url",
        fallback: Derived("`http://<listen>/`"),
        parse: parse::public_url,
        doc: "URL customers reach the portal at; used in links and emails",
    }
    DATA_DIR: PathBuf {
        key: "data_dir",
        fallback: Value("data"),
        parse: parse::non_empty_path,
        doc: "directory for the SQLite database, the server secret and mail files",
    }
    DATABASE_URL: (String, Backend) {
        key: "database_url",
        fallback: Derived("`sqlite://<data_dir>/licensor.db`"),
        parse: parse::database_url,
        doc: "`sqlite://PATH` or `postgres://USER@HOST:PORT/DB`; selects the backend",
    }
    DATABASE_MAX_CONNECTIONS: u32 {
        key: "database_max_connections",
        fallback: Value("10"),
        parse: parse::pool_size,
        doc: "size of the database connection pool",
    }
    SQLITE_SYNCHRONOUS: SqliteSynchronous {
        key: "sqlite_synchronous",
        fallback: Value("full"),
        parse: parse::sqlite_synchronous,
        doc: "SQLite `synchronous` pragma: `full` (durable) or `normal`",
    }
    LICENSE_CACHE_ENTRIES: usize {
        key: "license_cache_entries",
        fallback: Value("1000000"),
        parse: parse::cache_entries,
        doc: "licenses whose state validation keeps in memory, once validated (about 650 bytes each: 100,000 take ~65 MB, a million ~700 MB); beyond it the oldest entries make room and their licenses are read from the database; `0` turns the cache off",
    }
    LICENSE_CACHE_TTL_SECS: Option<std::time::Duration> {
        key: "license_cache_ttl_secs",
        fallback: Value("0"),
        parse: parse::cache_ttl,
        doc: "seconds after which a cached license is read again regardless; `0`: only when it changes. Every write, Licensor's or hand-written SQL, reaches the cache through triggers in the database (within a second on SQLite, at commit on PostgreSQL)",
    }
    SECRET_FILE: PathBuf {
        key: "secret_file",
        fallback: Derived("`<data_dir>/secret.key`"),
        parse: parse::non_empty_path,
        doc: "the 32-byte server secret (base64) that encrypts keys at rest; when missing, a plain-http server generates a development one (mode 0600) and an https one refuses to start (use `licensor secret create`)",
    }
    SECRET: Option<ServerSecret> {
        key: "secret",
        fallback: Unset("(none: `secret_file` is read)"),
        exposure: Exposure::EnvironmentOnlySecret,
        parse: parse::server_secret,
        doc: "the server secret itself, base64 of 32 bytes (`licensor secret create --print` makes one); taken only from the environment, never from a configuration file; when set, `secret_file` is not read",
    }
    TLS_CERT: Option<PathBuf> {
        key: "tls_cert",
        fallback: Unset("(none)"),
        parse: parse::optional_path,
        doc: "PEM certificate chain; with `tls_key`, `listen` serves HTTPS itself and `public_url` defaults to `https://`",
    }
    TLS_KEY: Option<PathBuf> {
        key: "tls_key",
        fallback: Unset("(none)"),
        parse: parse::optional_path,
        doc: "PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert`",
    }
    HTTP_REDIRECT_LISTEN: Option<SocketAddr> {
        key: "http_redirect_listen",
        fallback: Unset("(none)"),
        parse: parse::redirect_address,
        doc: "a plain-HTTP listener (e.g. `0.0.0.0:80`) that answers everything with a 308 to the same path under the https `public_url`",
    }
    VENDOR_NAME: String {
        key: "vendor_name",
        fallback: Value("Licensor"),
        parse: parse::vendor_name,
        doc: "the vendor's name shown on pages and in emails",
    }
    SMTP_URL: Option<String> {
        key: "smtp_url",
        fallback: Unset("(none)"),
        parse: parse::smtp_url,
        doc: "`smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://user:pass@host:465` (TLS) or `smtp://host:25` (plain); without it emails are written as `.eml` files into `<data_dir>/mail/`",
    }
    MAIL_FROM: String {
        key: "mail_from",
        fallback: Value("Licensor <licensing@localhost>"),
        parse: parse::mailbox,
        doc: "the From of every email",
    }
    MAIL_REPLY_TO: Option<String> {
        key: "mail_reply_to",
        fallback: Unset("(none)"),
        parse: parse::optional_mailbox,
        doc: "a Reply-To for every email, e.g. your support address",
    }
    SUPPORT_EMAIL: Option<String> {
        key: "support_email",
        fallback: Unset("(none)"),
        parse: parse::optional_email,
        doc: "the address customers write to for help: shown in every email's footer, on a suspended or revoked license's page and in the messages about it, and the Reply-To when `mail_reply_to` is not set",
    }
    OUTBOX_POLL_MS: std::time::Duration {
        key: "outbox_poll_ms",
        fallback: Value("1000"),
        parse: parse::poll_interval,
        doc: "how often the outbox worker sends due emails",
    }
    API_RATE_LIMIT_IP: u32 {
        key: "api_rate_limit_ip",
        fallback: Value("600"),
        parse: parse::per_minute,
        doc: "requests per minute per client IP to the key-authenticated API (validate, activate, deactivate, heartbeat); `0` turns the limit off (e.g. for benchmarks)",
    }
    API_RATE_LIMIT_KEY: u32 {
        key: "api_rate_limit_key",
        fallback: Value("120"),
        parse: parse::per_minute,
        doc: "requests per minute per license key to the same endpoints; `0` turns it off",
    }
    REQUEST_BODY_TIMEOUT_SECS: std::time::Duration {
        key: "request_body_timeout_secs",
        fallback: Value("10"),
        parse: parse::body_timeout,
        doc: "seconds a request's body may take to arrive; a slower one gets 408 and its connection is closed (slow request heads get 408 after 5 s)",
    }
    SLOW_BODIES_PER_CLIENT: usize {
        key: "slow_bodies_per_client",
        fallback: Value("8"),
        parse: parse::slow_bodies,
        doc: "request bodies still arriving after a second that one client IP may have open at once; the next slow one gets 429. Clients whose bodies arrive at once never count; `0` turns the cap off",
    }
    SHUTDOWN_GRACE_SECS: std::time::Duration {
        key: "shutdown_grace_secs",
        fallback: Value("5"),
        parse: parse::shutdown_grace,
        doc: "on SIGTERM or SIGINT, seconds during which `/readyz` answers 503 and every request is still served, so a proxy stops sending before the listener closes; then requests in flight get up to 10 s to finish",
    }
    TRUSTED_PROXIES: TrustedProxies {
        key: "trusted_proxies",
        fallback: Unset("(none)"),
        parse: TrustedProxies::parse,
        doc: "reverse proxies (IPs or networks, comma-separated) whose X-Forwarded-For gives the client's address; from anyone else the header is ignored",
    }
    RATE_LIMIT_SIGN_IN_IP: u32 {
        key: "rate_limit_sign_in_ip",
        fallback: Value("30"),
        parse: parse::count,
        doc: "sign-in attempts per minute per client IP; `0` turns it off",
    }
    STAFF_REQUIRE_2FA: bool {
        key: "staff_require_2fa",
        fallback: Value("false"),
        parse: parse::flag,
        doc: "`true`: an admin must turn on two-factor sign-in (an authenticator app) before using the console; anyone who has turned it on always needs it",
    }
    RATE_LIMIT_SIGN_IN_ACCOUNT: u32 {
        key: "rate_limit_sign_in_account",
        fallback: Value("30"),
        parse: parse::count,
        doc: "sign-in attempts per hour per account (known or not); after 3 failures in a row each attempt also waits twice as long as the last (1 s up to 15 min); `0` turns the hourly limit off",
    }
    RATE_LIMIT_SIGN_UP_IP: u32 {
        key: "rate_limit_sign_up_ip",
        fallback: Value("20"),
        parse: parse::count,
        doc: "sign-ups per hour per client IP; `0` turns it off",
    }
    RATE_LIMIT_PASSWORD_RESET: u32 {
        key: "rate_limit_password_reset",
        fallback: Value("10"),
        parse: parse::count,
        doc: "password reset requests per hour, per client IP and per email; `0` turns it off",
    }
    RATE_LIMIT_VERIFICATION_RESEND: u32 {
        key: "rate_limit_verification_resend",
        fallback: Value("5"),
        parse: parse::count,
        doc: "new verification links per hour per account, on top of a 60 s wait between two; `0` turns the hourly limit off",
    }
    METRICS_TOKEN: Option<secrecy::SecretString> {
        key: "metrics_token",
        fallback: Unset("(none: no `/metrics`)"),
        exposure: Exposure::Secret,
        parse: parse::metrics_token,
        doc: "bearer token, at least 24 characters, that `GET /metrics` (Prometheus/OpenMetrics text) asks for; without it `/metrics` answers 404",
    }
    STRIPE_WEBHOOK_SECRET: Option<secrecy::SecretString> {
        key: "stripe_webhook_secret",
        fallback: Unset("(none: `/webhooks/stripe` answers 404)"),
        exposure: Exposure::EnvironmentOnlySecret,
        parse: parse::provider_webhook_secret,
        doc: "the signing secret (`whsec_…`) of the Stripe webhook endpoint `<public_url>/webhooks/stripe`; taken only from the environment; docs/payments.md",
    }
    PADDLE_WEBHOOK_SECRET: Option<secrecy::SecretString> {
        key: "paddle_webhook_secret",
        fallback: Unset("(none: `/webhooks/paddle` answers 404)"),
        exposure: Exposure::EnvironmentOnlySecret,
        parse: parse::provider_webhook_secret,
        doc: "the secret key (`pdl_ntfset_…`) of the Paddle notification destination `<public_url>/webhooks/paddle`; taken only from the environment; docs/payments.md",
    }
    PADDLE_CLIENT_TOKEN: Option<String> {
        key: "paddle_client_token",
        fallback: Unset("(none: Paddle offers cannot be bought from the portal)"),
        parse: parse::paddle_client_token,
        doc: "the client-side token (`test_…` for the sandbox, `live_…`) Paddle.js opens the portal's checkout with; public by design",
    }
    RATE_LIMIT_KEY_REVEAL: u32 {
        key: "rate_limit_key_reveal",
        fallback: Value("20"),
        parse: parse::count,
        doc: "license key reveals per hour per customer; `0` turns it off",
    }
    EXPIRY_NOTICE_DAYS: Vec<i64> {
        key: "expiry_notice_days",
        fallback: Value("30,7,1"),
        parse: parse::notice_days,
        doc: "days before a license expires that its customers get a reminder (comma-separated, 1 to 365; empty for none)",
    }
    VALIDATION_RETENTION_DAYS: i64 {
        key: "validation_retention_days",
        fallback: Value("90"),
        parse: parse::retention_days,
        doc: "days the IP addresses and fingerprints that validations came from are kept (1 to 3650); older ones are erased in batches by a background pass every minute, and the day's counts stay. Also the IP of a machine deactivated that long ago",
    }
    LOG_FORMAT: LogFormat {
        key: "log_format",
        fallback: Value("pretty"),
        parse: parse::log_format,
        doc: "`pretty` or `json`",
    }
    LOG: String {
        key: "log",
        fallback: Value("info"),
        parse: parse::log_filter,
        doc: "log filter in tracing's EnvFilter syntax, e.g. `info,sqlx=warn`",
    }
}

/// The known setting of this name.
pub fn find(key: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.key == key)
}
