//! Settings: built-in defaults, then `licensor.toml` (or `--config PATH`),
//! then `LICENSOR_*` environment variables. Every value is parsed here, at
//! the edge, so a bad one stops start-up with one line that names it.
//! `table` lists every setting once; `raw` holds what was given; `build`
//! below turns it into `Settings`.

mod parse;
mod raw;
pub mod table;

pub use raw::RawSettings;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use url::Url;

/// Where a raw setting value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("configuration file {path} is not valid TOML: {reason}")]
    Syntax { path: PathBuf, reason: String },
    #[error("unknown setting `{key}` in {origin}; known settings: {known}")]
    UnknownKey {
        key: String,
        origin: Source,
        known: String,
    },
    #[error("invalid value for setting `{key}` (from {origin}): {reason}")]
    Invalid {
        key: &'static str,
        origin: Source,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How hard SQLite flushes. `Full` is the durable default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

impl SqliteSynchronous {
    pub fn as_pragma(self) -> &'static str {
        match self {
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Normal => "NORMAL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: String,
    pub backend: Backend,
    pub max_connections: u32,
    pub sqlite_synchronous: SqliteSynchronous,
    pub license_cache: LicenseCacheSettings,
}

/// The in-process cache of license state that validation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseCacheSettings {
    /// How many licenses it holds; 0 turns the cache off.
    pub entries: usize,
    /// How long an entry is kept at most; `None` (the default): until a
    /// change or eviction drops it (the change feed sees every write).
    pub ttl: Option<std::time::Duration>,
}

impl Default for LicenseCacheSettings {
    fn default() -> Self {
        Self {
            entries: 1_000_000,
            ttl: None,
        }
    }
}

impl Settings {
    /// The server secret these settings name: `LICENSOR_SECRET` when set
    /// (provided by the operator), otherwise `secret_file`, generated for
    /// development when it does not exist.
    pub fn server_secret(
        &self,
    ) -> anyhow::Result<(crate::secret::ServerSecret, crate::secret::SecretOrigin)> {
        match &self.secret {
            Some(secret) => Ok((secret.clone(), crate::secret::SecretOrigin::Loaded)),
            None => crate::secret::ServerSecret::load_or_generate(&self.secret_file),
        }
    }
}

/// Where email goes.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// SMTP server URL; `None` writes `.eml` files into `<data_dir>/mail`.
    pub smtp_url: Option<String>,
    pub from: String,
    pub reply_to: Option<String>,
    /// Where customers write for help: shown in every email and on the
    /// pages that send them to support; the default Reply-To.
    pub support_email: Option<String>,
    /// How often the outbox worker looks for due messages.
    pub poll: std::time::Duration,
}

/// The running configuration; every field already parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// The URL customers reach the portal at; links in emails use it.
    pub public_url: Url,
    /// True when `public_url` was not given and follows `listen` (so a
    /// server bound to port 0 can put its real port in).
    pub public_url_from_listen: bool,
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    /// A file holding the server secret (generated on first start when absent).
    pub secret_file: PathBuf,
    /// The server secret itself, from `LICENSOR_SECRET`; wins over the file.
    pub secret: Option<crate::secret::ServerSecret>,
    /// Certificate chain and private key to serve HTTPS with.
    pub tls: Option<TlsFiles>,
    /// A plain-HTTP listener that only redirects to `public_url`.
    pub http_redirect_listen: Option<SocketAddr>,
    pub vendor_name: String,
    pub mail: MailSettings,
    /// Requests per minute per client IP to the key-authenticated API; 0 = off.
    pub api_rate_limit_ip: u32,
    /// Requests per minute per license key; 0 = off.
    pub api_rate_limit_key: u32,
    /// Days before expiry a reminder goes out, largest first; empty = none.
    pub expiry_notice_days: Vec<i64>,
    /// Days validation sightings keep their IPs and fingerprints.
    pub validation_retention_days: i64,
    /// Limits on the people-facing forms.
    pub portal_limits: PortalQuotas,
    /// Admins must turn on two-factor sign-in before using the console.
    pub staff_require_2fa: bool,
    /// The bearer token of `GET /metrics`; `None`: no metrics endpoint.
    pub metrics_token: Option<secrecy::SecretString>,
    /// The payment providers' webhook secrets and Paddle's client token.
    pub payments: PaymentSettings,
    /// How long a request body may take, and how many slow ones a client
    /// may have open.
    pub body_timeout: std::time::Duration,
    /// How long `/readyz` answers 503 before the listener closes, on a
    /// shutdown signal.
    pub shutdown_grace: std::time::Duration,
    pub slow_bodies_per_client: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::domain::proxies::TrustedProxies,
    pub log_format: LogFormat,
    pub log_filter: String,
}

/// The payment providers: the secrets that sign their webhooks (a
/// provider without one has no endpoint: 404), and the client-side token
/// Paddle's checkout opens with.
#[derive(Debug, Clone, Default)]
pub struct PaymentSettings {
    pub stripe_webhook_secret: Option<secrecy::SecretString>,
    pub paddle_webhook_secret: Option<secrecy::SecretString>,
    pub paddle_client_token: Option<String>,
}

/// PEM files for serving HTTPS directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Limits on the people-facing forms; 0 turns one off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortalQuotas {
    pub sign_in_ip_per_minute: u32,
    pub sign_in_account_per_hour: u32,
    pub sign_up_ip_per_hour: u32,
    pub password_reset_per_hour: u32,
    pub verification_resend_per_hour: u32,
    pub key_reveal_per_hour: u32,
}

impl RawSettings {
    pub fn build(&self) -> Result<Settings, ConfigError> {
        let listen = self.value(&table::LISTEN)?;
        let tls = self.tls()?;
        let public_url = self.public_url(listen, tls.is_some())?;
        let http_redirect_listen = self.value(&table::HTTP_REDIRECT_LISTEN)?;
        if http_redirect_listen.is_some() && public_url.scheme() != "https" {
            return Err(self.invalid(
                table::HTTP_REDIRECT_LISTEN.key,
                "a redirect listener sends people to the https public_url, but public_url is http",
            ));
        }
        let secret = self.value(&table::SECRET)?;
        let data_dir = self.value(&table::DATA_DIR)?;
        let database = self.database(&data_dir)?;
        let secret_file = self.derived(&table::SECRET_FILE, || {
            data_dir.join("secret.key").display().to_string()
        })?;
        Ok(Settings {
            listen,
            public_url_from_listen: !self.is_given(table::PUBLIC_URL.key),
            public_url,
            database,
            secret_file,
            secret,
            tls,
            http_redirect_listen,
            vendor_name: self.value(&table::VENDOR_NAME)?,
            mail: self.mail()?,
            api_rate_limit_ip: self.value(&table::API_RATE_LIMIT_IP)?,
            api_rate_limit_key: self.value(&table::API_RATE_LIMIT_KEY)?,
            expiry_notice_days: self.value(&table::EXPIRY_NOTICE_DAYS)?,
            validation_retention_days: self.value(&table::VALIDATION_RETENTION_DAYS)?,
            metrics_token: self.value(&table::METRICS_TOKEN)?,
            payments: PaymentSettings {
                stripe_webhook_secret: self.value(&table::STRIPE_WEBHOOK_SECRET)?,
                paddle_webhook_secret: self.value(&table::PADDLE_WEBHOOK_SECRET)?,
                paddle_client_token: self.value(&table::PADDLE_CLIENT_TOKEN)?,
            },
            trusted_proxies: self.value(&table::TRUSTED_PROXIES)?,
            body_timeout: self.value(&table::REQUEST_BODY_TIMEOUT_SECS)?,
            shutdown_grace: self.value(&table::SHUTDOWN_GRACE_SECS)?,
            slow_bodies_per_client: self.value(&table::SLOW_BODIES_PER_CLIENT)?,
            portal_limits: self.portal_limits()?,
            staff_require_2fa: self.value(&table::STAFF_REQUIRE_2FA)?,
            log_format: self.value(&table::LOG_FORMAT)?,
            log_filter: self.value(&table::LOG)?,
            data_dir,
        })
    }

    fn tls(&self) -> Result<Option<TlsFiles>, ConfigError> {
        match (self.value(&table::TLS_CERT)?, self.value(&table::TLS_KEY)?) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
            (None, None) => Ok(None),
            (cert, _) => {
                let named = if cert.is_some() {
                    table::TLS_CERT.key
                } else {
                    table::TLS_KEY.key
                };
                Err(self.invalid(
                    named,
                    "tls_cert and tls_key go together: give both, or neither",
                ))
            }
        }
    }

    fn public_url(&self, listen: SocketAddr, tls: bool) -> Result<Url, ConfigError> {
        let url = self.derived(&table::PUBLIC_URL, || {
            parse::default_public_url(listen, tls)
        })?;
        if tls && url.scheme() == "http" {
            return Err(self.invalid(
                table::PUBLIC_URL.key,
                format!(
                    "`{url}` is http://, but tls_cert is set and the server speaks HTTPS: use https://"
                ),
            ));
        }
        Ok(url)
    }

    fn database(&self, data_dir: &Path) -> Result<DatabaseSettings, ConfigError> {
        let (url, backend) = self.derived(&table::DATABASE_URL, || {
            format!("sqlite://{}", data_dir.join("licensor.db").display())
        })?;
        Ok(DatabaseSettings {
            url,
            backend,
            max_connections: self.value(&table::DATABASE_MAX_CONNECTIONS)?,
            sqlite_synchronous: self.value(&table::SQLITE_SYNCHRONOUS)?,
            license_cache: LicenseCacheSettings {
                entries: self.value(&table::LICENSE_CACHE_ENTRIES)?,
                ttl: self.value(&table::LICENSE_CACHE_TTL_SECS)?,
            },
        })
    }

    fn mail(&self) -> Result<MailSettings, ConfigError> {
        Ok(MailSettings {
            smtp_url: self.value(&table::SMTP_URL)?,
            from: self.value(&table::MAIL_FROM)?,
            reply_to: self.value(&table::MAIL_REPLY_TO)?,
            support_email: self.value(&table::SUPPORT_EMAIL)?,
            poll: self.value(&table::OUTBOX_POLL_MS)?,
        })
    }

    fn portal_limits(&self) -> Result<PortalQuotas, ConfigError> {
        Ok(PortalQuotas {
            sign_in_ip_per_minute: self.value(&table::RATE_LIMIT_SIGN_IN_IP)?,
            sign_in_account_per_hour: self.value(&table::RATE_LIMIT_SIGN_IN_ACCOUNT)?,
            sign_up_ip_per_hour: self.value(&table::RATE_LIMIT_SIGN_UP_IP)?,
            password_reset_per_hour: self.value(&table::RATE_LIMIT_PASSWORD_RESET)?,
            verification_resend_per_hour: self.value(&table::RATE_LIMIT_VERIFICATION_RESEND)?,
            key_reveal_per_hour: self.value(&table::RATE_LIMIT_KEY_REVEAL)?,
        })
    }
}

/// Loads the settings the way `licensor` does: defaults, then the file
/// (an explicit `--config` must exist; `licensor.toml` in the working
/// directory is read when present), then the environment.
pub fn load(explicit_file: Option<&Path>) -> Result<Settings, ConfigError> {
    let mut raw = RawSettings::default();
    let (path, required) = match explicit_file {
        Some(path) => (path.to_owned(), true),
        None => (PathBuf::from("licensor.toml"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => raw.merge_toml(&text, &path)?,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ConfigError::Unreadable {
                path,
                reason: e.to_string(),
            });
        }
    }
    raw.merge_env(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    )?;
    raw.build()
}

#[cfg(test)]
mod tests;
