//! The parsers of the settings table: text in, a typed value or a reason
//! out. The reason names the value, never the setting: the caller adds the
//! setting and where its value came from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::{Backend, LogFormat, SqliteSynchronous};
use crate::secret::ServerSecret;

pub fn flag(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("`{v}` is not true or false")),
    }
}

pub fn listen_address(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("`{v}` is not an address like 127.0.0.1:8080"))
}

pub fn redirect_address(v: &str) -> Result<Option<SocketAddr>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| format!("`{v}` is not an address like 0.0.0.0:80"))
}

pub fn public_url(v: &str) -> Result<Url, String> {
    let url = Url::parse(v).map_err(|e| format!("`{v}` is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err(format!(
            "`{v}` must be an http:// or https:// URL with a host"
        )),
    }
}

/// The public URL a server bound to `listen` has when none is given.
pub fn default_public_url(listen: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    if listen.ip().is_unspecified() {
        format!("{scheme}://localhost:{}/", listen.port())
    } else {
        format!("{scheme}://{listen}/")
    }
}

pub fn non_empty_path(v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(PathBuf::from(v))
    }
}

pub fn optional_path(v: &str) -> Result<Option<PathBuf>, String> {
    Ok((!v.is_empty()).then(|| PathBuf::from(v)))
}

pub fn database_url(v: &str) -> Result<(String, Backend), String> {
    let scheme = v.split_once("://").map(|(s, _)| s).unwrap_or_default();
    let backend = match scheme {
        "sqlite" if v.len() <= "sqlite://".len() => {
            return Err(
                "a sqlite:// URL needs a file path, e.g. sqlite://data/licensor.db".to_owned(),
            );
        }
        "sqlite" => Backend::Sqlite,
        "postgres" | "postgresql" => {
            Url::parse(v).map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
            Backend::Postgres
        }
        _ => return Err("must start with sqlite:// or postgres://".to_owned()),
    };
    Ok((v.to_owned(), backend))
}

pub fn pool_size(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(format!("`{v}` is not a whole number from 1 to 1000")),
    }
}

pub fn sqlite_synchronous(v: &str) -> Result<SqliteSynchronous, String> {
    match v.to_ascii_lowercase().as_str() {
        "full" => Ok(SqliteSynchronous::Full),
        "normal" => Ok(SqliteSynchronous::Normal),
        _ => Err(format!("`{v}` is neither full nor normal")),
    }
}

pub fn cache_entries(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if n <= 10_000_000 => Ok(n),
        _ => Err(format!("`{v}` is not a whole number from 0 to 10000000")),
    }
}

pub fn cache_ttl(v: &str) -> Result<Option<Duration>, String> {
    match v.parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(s) if s <= 86_400 => Ok(Some(Duration::from_secs(s))),
        _ => Err(format!("`{v}` is not a number of seconds from 0 to 86400")),
    }
}

pub fn server_secret(v: &str) -> Result<Option<ServerSecret>, String> {
    if v.is_empty() {
        Ok(None)
    } else {
        ServerSecret::from_base64(v).map(Some)
    }
}

pub fn vendor_name(v: &str) -> Result<String, String> {
    if v.is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control) {
        Err("must be 1 to 100 printable characters".to_owned())
    } else {
        Ok(v.to_owned())
    }
}

pub fn smtp_url(v: &str) -> Result<Option<String>, String> {
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
}

pub fn mailbox(v: &str) -> Result<String, String> {
    v.parse::<lettre::message::Mailbox>()
        .map(|_| v.to_owned())
        .map_err(|e| format!("`{v}` is not a mailbox like `Name <addr@example.com>`: {e}"))
}

pub fn optional_mailbox(v: &str) -> Result<Option<String>, String> {
    if v.is_empty() {
        Ok(None)
    } else {
        mailbox(v).map(Some)
    }
}

pub fn optional_email(v: &str) -> Result<Option<String>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    crate::domain::email::EmailAddress::parse(v)
        .map(|e| Some(e.as_str().to_owned()))
        .map_err(|e| format!("`{v}` is not an email address: {e}"))
}

pub fn poll_interval(v: &str) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(ms) if (10..=3_600_000).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "`{v}` is not a number of milliseconds from 10 to 3600000"
        )),
    }
}

pub fn per_minute(v: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .ok()
        .filter(|n| *n <= 10_000_000)
        .ok_or_else(|| format!("`{v}` is not a whole number of requests per minute (0 = off)"))
}

pub fn count(v: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .ok()
        .filter(|n| *n <= 1_000_000)
        .ok_or_else(|| format!("`{v}` is not a whole number from 0 (off) to 1000000"))
}

/// A payment provider's webhook signing secret: what its dashboard shows,
/// one word of at least 16 characters.
pub fn provider_webhook_secret(v: &str) -> Result<Option<secrecy::SecretString>, String> {
    match v.chars().count() {
        0 => Ok(None),
        n if n < 16 => Err(format!(
            "a {n}-character secret is not one a provider gives: copy the whole signing secret"
        )),
        _ if v.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Err("the secret must not contain spaces or control characters".to_owned())
        }
        _ => Ok(Some(secrecy::SecretString::from(v.to_owned()))),
    }
}

/// Paddle's client-side token: `test_` (sandbox) or `live_` and letters
/// and digits.
pub fn paddle_client_token(v: &str) -> Result<Option<String>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    let well_formed = (v.starts_with("test_") || v.starts_with("live_"))
        && v.len() <= 200
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if well_formed {
        Ok(Some(v.to_owned()))
    } else {
        Err("a Paddle client-side token starts with test_ or live_ (Paddle > Developer tools > Authentication)".to_owned())
    }
}

pub fn metrics_token(v: &str) -> Result<Option<secrecy::SecretString>, String> {
    match v.chars().count() {
        0 => Ok(None),
        n if n < 24 => Err(format!(
            "a {n}-character token is too easy to guess: use at least 24 random characters"
        )),
        _ if v.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Err("the token must not contain spaces or control characters".to_owned())
        }
        _ => Ok(Some(secrecy::SecretString::from(v.to_owned()))),
    }
}

/// `30,7,1` (or a TOML array) to distinct day counts, largest first.
pub fn notice_days(v: &str) -> Result<Vec<i64>, String> {
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

pub fn log_format(v: &str) -> Result<LogFormat, String> {
    match v.to_ascii_lowercase().as_str() {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("`{v}` is neither pretty nor json")),
    }
}

pub fn log_filter(v: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(v)
        .map(|_| v.to_owned())
        .map_err(|e| format!("`{v}` is not a log filter: {e}"))
}

pub fn body_timeout(v: &str) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(s) if (1..=600).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(format!("`{v}` is not a number of seconds from 1 to 600")),
    }
}

pub fn slow_bodies(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if n <= 10_000 => Ok(n),
        _ => Err(format!("`{v}` is not a whole number from 0 (off) to 10000")),
    }
}

pub fn shutdown_grace(v: &str) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(s) if s <= 300 => Ok(Duration::from_secs(s)),
        _ => Err(format!("`{v}` is not a number of seconds from 0 to 300")),
    }
}

pub fn retention_days(v: &str) -> Result<i64, String> {
    match v.parse::<i64>() {
        Ok(d) if (1..=3650).contains(&d) => Ok(d),
        _ => Err(format!("`{v}` is not a number of days from 1 to 3650")),
    }
}
