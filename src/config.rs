//! Settings: built-in defaults, then `licensor.toml` (or `--config PATH`),
//! then `LICENSOR_*` environment variables. Every value is parsed here, at
//! the edge, so a bad one stops start-up with one line that names it.

use std::collections::BTreeMap;
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
    /// Limits on the people-facing forms.
    pub portal_limits: PortalQuotas,
    /// The bearer token of `GET /metrics`; `None`: no metrics endpoint.
    pub metrics_token: Option<secrecy::SecretString>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::domain::proxies::TrustedProxies,
    pub log_format: LogFormat,
    pub log_filter: String,
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

/// One setting: its name, its default and what it means. The README's
/// configuration table is written from this list.
pub struct Known {
    pub key: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

pub const KNOWN: &[Known] = &[
    Known {
        key: "listen",
        default: "127.0.0.1:8080",
        help: "address and port the HTTP server binds",
    },
    Known {
        key: "public_url",
        default: "http://<listen>",
        help: "URL customers reach the portal at; used in links and emails",
    },
    Known {
        key: "data_dir",
        default: "data",
        help: "directory for the SQLite database, the server secret and mail files",
    },
    Known {
        key: "database_url",
        default: "sqlite://<data_dir>/licensor.db",
        help: "sqlite://PATH or postgres://USER@HOST:PORT/DB; selects the backend",
    },
    Known {
        key: "database_max_connections",
        default: "10",
        help: "size of the database connection pool",
    },
    Known {
        key: "sqlite_synchronous",
        default: "full",
        help: "SQLite `synchronous` pragma: full (durable) or normal",
    },
    Known {
        key: "license_cache_entries",
        default: "1000000",
        help: "licenses whose state validation keeps in memory (about 650 bytes each, held only once validated); 0 turns the cache off",
    },
    Known {
        key: "license_cache_ttl_secs",
        default: "0",
        help: "seconds after which a cached license is read again; 0: only when it changes (every write, Licensor's or hand-written SQL, reaches the cache through the database's change feed)",
    },
    Known {
        key: "secret_file",
        default: "<data_dir>/secret.key",
        help: "file holding the 32-byte server secret that encrypts keys at rest",
    },
    Known {
        key: "secret",
        default: "(none: read secret_file)",
        help: "the server secret itself (base64 of 32 bytes, from `licensor secret create --print`); taken only from the environment, as LICENSOR_SECRET, and then secret_file is not read",
    },
    Known {
        key: "tls_cert",
        default: "(none)",
        help: "PEM certificate chain; with tls_key, `listen` serves HTTPS itself (and public_url defaults to https://)",
    },
    Known {
        key: "tls_key",
        default: "(none)",
        help: "PEM private key (PKCS#8, PKCS#1 or SEC1) for tls_cert",
    },
    Known {
        key: "http_redirect_listen",
        default: "(none)",
        help: "address of a plain-HTTP listener that only redirects (308) to the https public_url, e.g. 0.0.0.0:80",
    },
    Known {
        key: "vendor_name",
        default: "Licensor",
        help: "the vendor's name shown on pages and in emails",
    },
    Known {
        key: "smtp_url",
        default: "(none: .eml files in <data_dir>/mail)",
        help: "smtp://user:pass@host:587?tls=required, smtps://user:pass@host:465 or smtp://host:25",
    },
    Known {
        key: "mail_from",
        default: "Licensor <licensing@localhost>",
        help: "the From of every email",
    },
    Known {
        key: "mail_reply_to",
        default: "(none)",
        help: "a Reply-To for every email, e.g. the support address",
    },
    Known {
        key: "support_email",
        default: "(none)",
        help: "the address customers write to for help, shown in every email and page that sends them to support; the default Reply-To",
    },
    Known {
        key: "outbox_poll_ms",
        default: "1000",
        help: "how often the outbox worker looks for due emails and webhooks",
    },
    Known {
        key: "api_rate_limit_ip",
        default: "600",
        help: "requests per minute per client IP to validate/activate/deactivate/heartbeat; 0 turns it off",
    },
    Known {
        key: "api_rate_limit_key",
        default: "120",
        help: "requests per minute per license key to the same endpoints; 0 turns it off",
    },
    Known {
        key: "trusted_proxies",
        default: "(none)",
        help: "reverse proxies (IPs or networks, comma-separated) whose X-Forwarded-For gives the client's address; from anyone else the header is ignored",
    },
    Known {
        key: "rate_limit_sign_in_ip",
        default: "30",
        help: "sign-in attempts per minute per client IP; 0 turns it off",
    },
    Known {
        key: "rate_limit_sign_in_account",
        default: "30",
        help: "sign-in attempts per hour per account (known or not); after 3 failures in a row each attempt also waits twice as long as the last (1 s up to 15 min); 0 turns the hourly limit off",
    },
    Known {
        key: "rate_limit_sign_up_ip",
        default: "20",
        help: "sign-ups per hour per client IP; 0 turns it off",
    },
    Known {
        key: "rate_limit_password_reset",
        default: "10",
        help: "password reset requests per hour, per client IP and per email; 0 turns it off",
    },
    Known {
        key: "rate_limit_verification_resend",
        default: "5",
        help: "new verification links per hour per account (on top of a 60 s wait between two); 0 turns the hourly limit off",
    },
    Known {
        key: "metrics_token",
        default: "(none: no /metrics)",
        help: "bearer token (at least 24 characters) that GET /metrics asks for; without it /metrics does not exist",
    },
    Known {
        key: "rate_limit_key_reveal",
        default: "20",
        help: "license key reveals per hour per customer; 0 turns it off",
    },
    Known {
        key: "expiry_notice_days",
        default: "30,7,1",
        help: "days before a license expires that its customers get a reminder (comma-separated, 1 to 365; empty for none)",
    },
    Known {
        key: "log_format",
        default: "pretty",
        help: "pretty or json",
    },
    Known {
        key: "log",
        default: "info",
        help: "log filter, in tracing's EnvFilter syntax (e.g. info,sqlx=warn)",
    },
];

/// Environment variables with the prefix that are not settings.
const ENV_NOT_SETTINGS: &[&str] = &["LICENSOR_CONFIG"];

/// Raw values by key, each with where it came from.
#[derive(Default, Clone)]
pub struct RawSettings {
    values: BTreeMap<&'static str, (String, Source)>,
}

/// Settings that are secrets: their values never reach a log or an error.
const SECRET_KEYS: &[&str] = &["secret", "metrics_token"];
/// Settings never taken from a configuration file.
const ENVIRONMENT_ONLY: &[&str] = &["secret"];

impl fmt::Debug for RawSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values.iter().map(|(key, (value, source))| {
                let shown = if SECRET_KEYS.contains(key) {
                    "[redacted]"
                } else {
                    value.as_str()
                };
                (key, (shown, source))
            }))
            .finish()
    }
}

fn known_list() -> String {
    KNOWN.iter().map(|k| k.key).collect::<Vec<_>>().join(", ")
}

fn known_key(key: &str, source: &Source) -> Result<&'static str, ConfigError> {
    KNOWN
        .iter()
        .find(|k| k.key == key)
        .map(|k| k.key)
        .ok_or_else(|| ConfigError::UnknownKey {
            key: key.to_owned(),
            origin: source.clone(),
            known: known_list(),
        })
}

impl RawSettings {
    /// Layers a TOML document over the values so far.
    pub fn merge_toml(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: path.to_owned(),
                    reason: e.message().to_owned(),
                })?;
        let source = Source::File(path.to_owned());
        for (key, value) in table {
            let key = known_key(&key, &source)?;
            if ENVIRONMENT_ONLY.contains(&key) {
                return Err(ConfigError::Invalid {
                    key,
                    origin: source,
                    reason: "a secret is not kept in a configuration file: set LICENSOR_SECRET in the environment, or use secret_file".to_owned(),
                });
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                // A list of numbers, e.g. `expiry_notice_days = [30, 7, 1]`.
                toml::Value::Array(items) if items.iter().all(toml::Value::is_integer) => items
                    .iter()
                    .filter_map(toml::Value::as_integer)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                other => {
                    return Err(ConfigError::Invalid {
                        key,
                        origin: source,
                        reason: format!(
                            "expected a string or a number, found {}",
                            other.type_str()
                        ),
                    });
                }
            };
            self.values.insert(key, (text, source.clone()));
        }
        Ok(())
    }

    /// Layers `LICENSOR_*` variables over the values so far.
    pub fn merge_env<I>(&mut self, vars: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        for (name, value) in vars {
            let Some(suffix) = name.strip_prefix("LICENSOR_") else {
                continue;
            };
            if ENV_NOT_SETTINGS.contains(&name.as_str()) {
                continue;
            }
            let source = Source::Env(name.clone());
            let key = known_key(&suffix.to_ascii_lowercase(), &source)?;
            self.values.insert(key, (value, source));
        }
        Ok(())
    }

    pub fn set(&mut self, key: &'static str, value: impl Into<String>, source: Source) {
        self.values.insert(key, (value.into(), source));
    }

    fn get(&self, key: &'static str) -> Option<(&str, &Source)> {
        self.values.get(key).map(|(v, s)| (v.as_str(), s))
    }

    /// Parses one value, or its default when unset; defaults go through the
    /// same parser, so a derived default is checked like a given value.
    fn parse<T>(
        &self,
        key: &'static str,
        default: impl FnOnce() -> String,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (value, source) = match self.get(key) {
            Some((value, source)) => (value.trim().to_owned(), source.clone()),
            None => (default(), Source::Default),
        };
        parse(&value).map_err(|reason| ConfigError::Invalid {
            key,
            origin: source,
            reason,
        })
    }

    pub fn build(&self) -> Result<Settings, ConfigError> {
        let listen: SocketAddr = self.parse(
            "listen",
            || "127.0.0.1:8080".to_owned(),
            |v| {
                v.parse()
                    .map_err(|_| format!("`{v}` is not an address like 127.0.0.1:8080"))
            },
        )?;
        let optional_path = |v: &str| Ok((!v.is_empty()).then(|| PathBuf::from(v)));
        let tls = match (
            self.parse("tls_cert", String::new, optional_path)?,
            self.parse("tls_key", String::new, optional_path)?,
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                let (key, origin) = match self.get("tls_cert") {
                    Some((_, origin)) => ("tls_cert", origin.clone()),
                    None => (
                        "tls_key",
                        self.get("tls_key")
                            .map(|(_, o)| o.clone())
                            .unwrap_or(Source::Default),
                    ),
                };
                return Err(ConfigError::Invalid {
                    key,
                    origin,
                    reason: "tls_cert and tls_key go together: give both, or neither".to_owned(),
                });
            }
        };
        let public_url = self.parse(
            "public_url",
            || default_public_url(listen, tls.is_some()),
            |v| {
                let url = Url::parse(v).map_err(|e| format!("`{v}` is not a URL: {e}"))?;
                match url.scheme() {
                    "http" if tls.is_some() => Err(format!(
                        "`{v}` is http://, but tls_cert is set and the server speaks HTTPS: use https://"
                    )),
                    "http" | "https" if url.host().is_some() => Ok(url),
                    _ => Err(format!(
                        "`{v}` must be an http:// or https:// URL with a host"
                    )),
                }
            },
        )?;
        let http_redirect_listen = self.parse("http_redirect_listen", String::new, |v| {
            if v.is_empty() {
                return Ok(None);
            }
            let addr: SocketAddr = v
                .parse()
                .map_err(|_| format!("`{v}` is not an address like 0.0.0.0:80"))?;
            if public_url.scheme() != "https" {
                return Err(
                    "a redirect listener sends people to the https public_url, but public_url is http"
                        .to_owned(),
                );
            }
            Ok(Some(addr))
        })?;
        let secret = self.parse("secret", String::new, |v| {
            if v.is_empty() {
                Ok(None)
            } else {
                crate::secret::ServerSecret::from_base64(v).map(Some)
            }
        })?;
        let public_url_from_listen = self.get("public_url").is_none();
        let data_dir = self.parse("data_dir", || "data".to_owned(), non_empty_path)?;
        let (url, backend) = self.parse(
            "database_url",
            || format!("sqlite://{}", data_dir.join("licensor.db").display()),
            |v| parse_backend(v).map(|backend| (v.to_owned(), backend)),
        )?;
        let max_connections = self.parse(
            "database_max_connections",
            || "10".to_owned(),
            |v| match v.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => Ok(n),
                _ => Err(format!("`{v}` is not a whole number from 1 to 1000")),
            },
        )?;
        let sqlite_synchronous = self.parse(
            "sqlite_synchronous",
            || "full".to_owned(),
            |v| match v.to_ascii_lowercase().as_str() {
                "full" => Ok(SqliteSynchronous::Full),
                "normal" => Ok(SqliteSynchronous::Normal),
                _ => Err(format!("`{v}` is neither full nor normal")),
            },
        )?;
        let license_cache = LicenseCacheSettings {
            entries: self.parse(
                "license_cache_entries",
                || "1000000".to_owned(),
                |v| match v.parse::<usize>() {
                    Ok(n) if n <= 10_000_000 => Ok(n),
                    _ => Err(format!("`{v}` is not a whole number from 0 to 10000000")),
                },
            )?,
            ttl: self.parse(
                "license_cache_ttl_secs",
                || "0".to_owned(),
                |v| match v.parse::<u64>() {
                    Ok(0) => Ok(None),
                    Ok(s) if s <= 86_400 => Ok(Some(std::time::Duration::from_secs(s))),
                    _ => Err(format!("`{v}` is not a number of seconds from 0 to 86400")),
                },
            )?,
        };
        let secret_file = self.parse(
            "secret_file",
            || data_dir.join("secret.key").display().to_string(),
            non_empty_path,
        )?;
        let vendor_name = self.parse(
            "vendor_name",
            || "Licensor".to_owned(),
            |v| {
                if v.is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control) {
                    Err("must be 1 to 100 printable characters".to_owned())
                } else {
                    Ok(v.to_owned())
                }
            },
        )?;
        let smtp_url = self.parse("smtp_url", String::new, |v| {
            if v.is_empty() {
                return Ok(None);
            }
            let url = Url::parse(v).map_err(|e| format!("not a URL: {e}"))?;
            match url.scheme() {
                "smtp" | "smtps" if url.host().is_some() => {}
                _ => return Err("must be smtp://HOST[:PORT] or smtps://HOST[:PORT]".to_owned()),
            }
            // Everything lettre reads from the URL (the `tls` mode, the
            // credentials), checked now: before anything is written.
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(v)
                .map(|_| Some(v.to_owned()))
                .map_err(|e| {
                    format!("{e} (tls= takes required, opportunistic or wrapper, or leave it out)")
                })
        })?;
        let mailbox = |v: &str| {
            v.parse::<lettre::message::Mailbox>()
                .map(|_| v.to_owned())
                .map_err(|e| format!("`{v}` is not a mailbox like `Name <addr@example.com>`: {e}"))
        };
        let mail_from = self.parse(
            "mail_from",
            || "Licensor <licensing@localhost>".to_owned(),
            mailbox,
        )?;
        let mail_reply_to = self.parse("mail_reply_to", String::new, |v| {
            if v.is_empty() {
                Ok(None)
            } else {
                mailbox(v).map(Some)
            }
        })?;
        let support_email = self.parse("support_email", String::new, |v| {
            if v.is_empty() {
                return Ok(None);
            }
            crate::domain::email::EmailAddress::parse(v)
                .map(|e| Some(e.as_str().to_owned()))
                .map_err(|e| format!("`{v}` is not an email address: {e}"))
        })?;
        let outbox_poll = self.parse(
            "outbox_poll_ms",
            || "1000".to_owned(),
            |v| match v.parse::<u64>() {
                Ok(ms) if (10..=3_600_000).contains(&ms) => {
                    Ok(std::time::Duration::from_millis(ms))
                }
                _ => Err(format!(
                    "`{v}` is not a number of milliseconds from 10 to 3600000"
                )),
            },
        )?;
        let per_minute = |v: &str| {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n <= 10_000_000)
                .ok_or_else(|| {
                    format!("`{v}` is not a whole number of requests per minute (0 = off)")
                })
        };
        let api_rate_limit_ip = self.parse("api_rate_limit_ip", || "600".to_owned(), per_minute)?;
        let api_rate_limit_key =
            self.parse("api_rate_limit_key", || "120".to_owned(), per_minute)?;
        let expiry_notice_days = self.parse(
            "expiry_notice_days",
            || "30,7,1".to_owned(),
            parse_notice_days,
        )?;
        let count = |v: &str| {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n <= 1_000_000)
                .ok_or_else(|| format!("`{v}` is not a whole number from 0 (off) to 1000000"))
        };
        let metrics_token =
            self.parse("metrics_token", String::new, |v| match v.chars().count() {
                0 => Ok(None),
                n if n < 24 => Err(format!(
                    "a {n}-character token is too easy to guess: use at least 24 random characters"
                )),
                _ if v.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                    Err("the token must not contain spaces or control characters".to_owned())
                }
                _ => Ok(Some(secrecy::SecretString::from(v.to_owned()))),
            })?;
        let trusted_proxies = self.parse(
            "trusted_proxies",
            String::new,
            crate::domain::proxies::TrustedProxies::parse,
        )?;
        let portal_limits = PortalQuotas {
            sign_in_ip_per_minute: self.parse(
                "rate_limit_sign_in_ip",
                || "30".to_owned(),
                count,
            )?,
            sign_in_account_per_hour: self.parse(
                "rate_limit_sign_in_account",
                || "30".to_owned(),
                count,
            )?,
            sign_up_ip_per_hour: self.parse("rate_limit_sign_up_ip", || "20".to_owned(), count)?,
            password_reset_per_hour: self.parse(
                "rate_limit_password_reset",
                || "10".to_owned(),
                count,
            )?,
            verification_resend_per_hour: self.parse(
                "rate_limit_verification_resend",
                || "5".to_owned(),
                count,
            )?,
            key_reveal_per_hour: self.parse("rate_limit_key_reveal", || "20".to_owned(), count)?,
        };
        let log_format = self.parse(
            "log_format",
            || "pretty".to_owned(),
            |v| match v.to_ascii_lowercase().as_str() {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("`{v}` is neither pretty nor json")),
            },
        )?;
        let log_filter = self.parse(
            "log",
            || "info".to_owned(),
            |v| {
                tracing_subscriber::EnvFilter::try_new(v)
                    .map(|_| v.to_owned())
                    .map_err(|e| format!("`{v}` is not a log filter: {e}"))
            },
        )?;
        Ok(Settings {
            listen,
            public_url,
            public_url_from_listen,
            data_dir,
            database: DatabaseSettings {
                url,
                backend,
                max_connections,
                sqlite_synchronous,
                license_cache,
            },
            secret_file,
            secret,
            tls,
            http_redirect_listen,
            vendor_name,
            mail: MailSettings {
                smtp_url,
                from: mail_from,
                reply_to: mail_reply_to,
                support_email,
                poll: outbox_poll,
            },
            api_rate_limit_ip,
            api_rate_limit_key,
            expiry_notice_days,
            portal_limits,
            trusted_proxies,
            metrics_token,
            log_format,
            log_filter,
        })
    }
}

/// `30,7,1` (or a TOML array) to distinct day counts, largest first.
fn parse_notice_days(v: &str) -> Result<Vec<i64>, String> {
    let list = v.trim().trim_start_matches('[').trim_end_matches(']');
    let mut days = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<i64>() {
            Ok(d) if (1..=365).contains(&d) => days.push(d),
            _ => {
                return Err(format!(
                    "`{part}` is not a number of days from 1 to 365 (give a list such as 30,7,1)"
                ));
            }
        }
    }
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    if days.len() > 10 {
        return Err("give at most 10 reminder days".to_owned());
    }
    Ok(days)
}

fn default_public_url(listen: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    if listen.ip().is_unspecified() {
        format!("{scheme}://localhost:{}/", listen.port())
    } else {
        format!("{scheme}://{listen}/")
    }
}

fn non_empty_path(v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(PathBuf::from(v))
    }
}

fn parse_backend(v: &str) -> Result<Backend, String> {
    let scheme = v.split_once("://").map(|(s, _)| s).unwrap_or_default();
    match scheme {
        "sqlite" => {
            if v.len() <= "sqlite://".len() {
                Err("a sqlite:// URL needs a file path, e.g. sqlite://data/licensor.db".to_owned())
            } else {
                Ok(Backend::Sqlite)
            }
        }
        "postgres" | "postgresql" => Url::parse(v)
            .map(|_| Backend::Postgres)
            .map_err(|e| format!("not a PostgreSQL URL: {e}")),
        _ => Err("must start with sqlite:// or postgres://".to_owned()),
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
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let s = RawSettings::default().build().unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(s.database.url, "sqlite://data/licensor.db");
        assert_eq!(s.database.backend, Backend::Sqlite);
        assert_eq!(s.database.sqlite_synchronous, SqliteSynchronous::Full);
        assert_eq!(s.secret_file, PathBuf::from("data/secret.key"));
        assert_eq!(s.log_format, LogFormat::Pretty);
    }

    #[test]
    fn file_then_environment_override_defaults() {
        let mut raw = RawSettings::default();
        raw.merge_toml(
            "listen = \"0.0.0.0:9000\"\ndatabase_max_connections = 4\nvendor_name = \"Acme\"\n",
            Path::new("licensor.toml"),
        )
        .unwrap();
        raw.merge_env(env(&[
            ("LICENSOR_LISTEN", "127.0.0.1:7000"),
            (
                "LICENSOR_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/lic",
            ),
            ("LICENSOR_CONFIG", "ignored.toml"),
            ("PATH", "/usr/bin"),
        ]))
        .unwrap();
        let s = raw.build().unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(s.database.max_connections, 4);
        assert_eq!(s.database.backend, Backend::Postgres);
        assert_eq!(s.vendor_name, "Acme");
    }

    #[test]
    fn tls_files_go_together_and_make_the_public_url_https() {
        let mut raw = RawSettings::default();
        raw.merge_env(env(&[("LICENSOR_TLS_CERT", "/etc/licensor/cert.pem")]))
            .unwrap();
        let err = raw.build().unwrap_err().to_string();
        assert!(err.contains("give both"), "{err}");

        raw.merge_env(env(&[("LICENSOR_TLS_KEY", "/etc/licensor/key.pem")]))
            .unwrap();
        let s = raw.build().unwrap();
        assert_eq!(s.public_url.as_str(), "https://127.0.0.1:8080/");
        let tls = s.tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/etc/licensor/cert.pem"));
        assert_eq!(tls.key, PathBuf::from("/etc/licensor/key.pem"));

        raw.merge_env(env(&[(
            "LICENSOR_PUBLIC_URL",
            "http://licenses.example.com/",
        )]))
        .unwrap();
        let err = raw.build().unwrap_err().to_string();
        assert!(err.contains("use https://"), "{err}");
    }

    #[test]
    fn a_redirect_listener_needs_an_https_public_url() {
        let mut raw = RawSettings::default();
        raw.merge_env(env(&[("LICENSOR_HTTP_REDIRECT_LISTEN", "0.0.0.0:80")]))
            .unwrap();
        let err = raw.build().unwrap_err().to_string();
        assert!(err.contains("public_url is http"), "{err}");
        raw.merge_env(env(&[(
            "LICENSOR_PUBLIC_URL",
            "https://licenses.example.com/",
        )]))
        .unwrap();
        let s = raw.build().unwrap();
        assert_eq!(s.http_redirect_listen, Some("0.0.0.0:80".parse().unwrap()));
        assert!(s.tls.is_none(), "a proxy may terminate TLS");
    }

    #[test]
    fn the_secret_comes_only_from_the_environment_and_is_never_echoed() {
        let mut raw = RawSettings::default();
        let err = raw
            .merge_toml("secret = \"c2VjcmV0\"", Path::new("licensor.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("LICENSOR_SECRET"), "{err}");

        raw.merge_env(env(&[("LICENSOR_SECRET", "dG9vIHNob3J0IHNlY3JldA==")]))
            .unwrap();
        let err = raw.build().unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
        assert!(
            !err.contains("dG9vIHNob3J0"),
            "the value is not echoed: {err}"
        );
        raw.merge_env(env(&[("LICENSOR_SECRET", "not base64 at all!")]))
            .unwrap();
        let err = raw.build().unwrap_err().to_string();
        assert!(!err.contains("at all"), "{err}");

        let good = crate::secret::ServerSecret::random_base64().unwrap();
        raw.merge_env(env(&[("LICENSOR_SECRET", good.as_str())]))
            .unwrap();
        let s = raw.build().unwrap();
        assert!(s.secret.is_some());
        assert!(
            !format!("{s:?}").contains(good.as_str()),
            "Debug redacts it"
        );
    }

    #[test]
    fn data_dir_moves_the_derived_defaults() {
        let mut raw = RawSettings::default();
        raw.merge_env(env(&[("LICENSOR_DATA_DIR", "/var/lib/licensor")]))
            .unwrap();
        let s = raw.build().unwrap();
        assert_eq!(s.database.url, "sqlite:///var/lib/licensor/licensor.db");
        assert_eq!(s.secret_file, PathBuf::from("/var/lib/licensor/secret.key"));
    }

    #[test]
    fn expiry_notice_days_come_as_a_list_or_an_array() {
        assert_eq!(parse_notice_days("1, 30,7,7").unwrap(), vec![30, 7, 1]);
        assert_eq!(parse_notice_days("").unwrap(), Vec::<i64>::new());
        let mut raw = RawSettings::default();
        raw.merge_toml("expiry_notice_days = [14, 3]", Path::new("licensor.toml"))
            .unwrap();
        assert_eq!(raw.build().unwrap().expiry_notice_days, vec![14, 3]);
        assert_eq!(
            RawSettings::default().build().unwrap().expiry_notice_days,
            vec![30, 7, 1]
        );
        assert!(parse_notice_days("400").is_err());
    }

    #[test]
    fn unknown_keys_are_named() {
        let mut raw = RawSettings::default();
        let err = raw
            .merge_toml("lisen = \"x\"", Path::new("licensor.toml"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown setting `lisen` in licensor.toml")
        );
        let err = raw
            .merge_env(env(&[("LICENSOR_DATABSE_URL", "x")]))
            .unwrap_err();
        assert!(err.to_string().contains("LICENSOR_DATABSE_URL"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting_and_the_source() {
        let cases = [
            ("LICENSOR_LISTEN", "localhost", "`listen`"),
            ("LICENSOR_PUBLIC_URL", "not a url", "`public_url`"),
            ("LICENSOR_PUBLIC_URL", "ftp://x.example", "`public_url`"),
            ("LICENSOR_DATABASE_URL", "mysql://x", "`database_url`"),
            ("LICENSOR_DATABASE_URL", "sqlite://", "`database_url`"),
            ("LICENSOR_DATABASE_URL", "postgres://[::1", "`database_url`"),
            (
                "LICENSOR_DATABASE_MAX_CONNECTIONS",
                "0",
                "`database_max_connections`",
            ),
            ("LICENSOR_SQLITE_SYNCHRONOUS", "off", "`sqlite_synchronous`"),
            ("LICENSOR_LOG_FORMAT", "xml", "`log_format`"),
            ("LICENSOR_LOG", "info,=[", "`log`"),
            ("LICENSOR_VENDOR_NAME", "", "`vendor_name`"),
            ("LICENSOR_API_RATE_LIMIT_IP", "-1", "`api_rate_limit_ip`"),
            ("LICENSOR_SMTP_URL", "http://mail.example.com", "`smtp_url`"),
            (
                "LICENSOR_SMTP_URL",
                "smtp://u:p@h:1?tls=bogus",
                "`smtp_url`",
            ),
            ("LICENSOR_MAIL_FROM", "not a mailbox <", "`mail_from`"),
            ("LICENSOR_OUTBOX_POLL_MS", "0", "`outbox_poll_ms`"),
            (
                "LICENSOR_EXPIRY_NOTICE_DAYS",
                "30,0",
                "`expiry_notice_days`",
            ),
            (
                "LICENSOR_EXPIRY_NOTICE_DAYS",
                "soon",
                "`expiry_notice_days`",
            ),
            (
                "LICENSOR_TRUSTED_PROXIES",
                "10.0.0.0/40",
                "`trusted_proxies`",
            ),
            (
                "LICENSOR_RATE_LIMIT_SIGN_IN_IP",
                "-1",
                "`rate_limit_sign_in_ip`",
            ),
            (
                "LICENSOR_RATE_LIMIT_KEY_REVEAL",
                "lots",
                "`rate_limit_key_reveal`",
            ),
            (
                "LICENSOR_API_RATE_LIMIT_KEY",
                "lots",
                "`api_rate_limit_key`",
            ),
        ];
        for (var, value, named) in cases {
            let mut raw = RawSettings::default();
            raw.merge_env(env(&[(var, value)])).unwrap();
            let err = raw.build().unwrap_err().to_string();
            assert!(err.contains(named), "{var}={value}: {err}");
            assert!(err.contains(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn bad_toml_is_reported_with_the_file() {
        let mut raw = RawSettings::default();
        let err = raw
            .merge_toml("listen = ", Path::new("/etc/licensor.toml"))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("configuration file /etc/licensor.toml is not valid TOML")
        );
        let err = raw
            .merge_toml("listen = { port = 1 }", Path::new("licensor.toml"))
            .unwrap_err();
        assert!(err.to_string().contains("`listen`"));
        // A list is read as its comma-separated text, which `listen` refuses.
        raw.merge_toml("listen = [1]", Path::new("licensor.toml"))
            .unwrap();
        assert!(raw.build().unwrap_err().to_string().contains("`listen`"));
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let err = load(Some(Path::new("/nonexistent/licensor.toml"))).unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot read configuration file /nonexistent/licensor.toml")
        );
    }
}

#[cfg(test)]
mod readme_tests {
    use super::KNOWN;

    /// The README's configuration table names every setting and its
    /// environment variable, so the documentation cannot drift.
    #[test]
    fn the_readme_documents_every_setting() {
        let readme = include_str!("../README.md");
        for known in KNOWN {
            let row = format!(
                "| `{}` | `LICENSOR_{}` |",
                known.key,
                known.key.to_ascii_uppercase()
            );
            assert!(
                readme.contains(&row),
                "README.md lacks the row for `{}`",
                known.key
            );
        }
    }
}
