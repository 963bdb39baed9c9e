//! Rate limits for the key-authenticated API (validate, activate,
//! deactivate, heartbeat): GCRA per client IP and per license key, with the
//! MIT-licensed `governor`, and on the people-facing forms. Budgets are per
//! instance, in memory; failed sign-in delays are in the database.

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::PortalQuotas;
use crate::metrics::Metrics;
use crate::services::sign_in_throttle;
use crate::store::Db;
use crate::web::error::{Problem, WebError};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// The limiters; a limit of 0 per minute turns one off.
pub struct ApiLimits {
    per_ip: Option<Keyed<IpAddr>>,
    per_key: Option<Keyed<[u8; 32]>>,
    clock: DefaultClock,
    metrics: Metrics,
}

/// What a passing request learns about its limit, for `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub limit: u32,
    pub remaining: u32,
}

fn limiter<K: Clone + std::hash::Hash + Eq>(per_minute: u32) -> Option<Keyed<K>> {
    NonZeroU32::new(per_minute).map(|n| {
        RateLimiter::dashmap(Quota::per_minute(n)).with_middleware::<StateInformationMiddleware>()
    })
}

impl ApiLimits {
    pub fn new(per_ip_per_minute: u32, per_key_per_minute: u32, metrics: Metrics) -> Self {
        Self {
            per_ip: limiter(per_ip_per_minute),
            per_key: limiter(per_key_per_minute),
            clock: DefaultClock::default(),
            metrics,
        }
    }

    /// Checks both limits; the tighter allowance is reported.
    pub fn check(
        &self,
        ip: Option<IpAddr>,
        key_digest: Option<&[u8; 32]>,
    ) -> Result<Option<Allowance>, WebError> {
        let mut allowance: Option<Allowance> = None;
        let mut merge = |a: Allowance| {
            allowance = Some(match allowance {
                Some(b) if b.remaining <= a.remaining => b,
                _ => a,
            });
        };
        if let (Some(limiter), Some(ip)) = (&self.per_ip, ip) {
            merge(self.outcome("ip", "api_ip", limiter.check_key(&ip))?);
        }
        if let (Some(limiter), Some(key)) = (&self.per_key, key_digest) {
            merge(self.outcome("key", "api_key", limiter.check_key(key))?);
        }
        Ok(allowance)
    }

    /// Whether requests are limited per license key (else the key need not
    /// be parsed for the limiter).
    pub fn limits_keys(&self) -> bool {
        self.per_key.is_some()
    }

    fn outcome(
        &self,
        which: &'static str,
        name: &'static str,
        result: Result<
            governor::middleware::StateSnapshot,
            governor::NotUntil<<DefaultClock as Clock>::Instant>,
        >,
    ) -> Result<Allowance, WebError> {
        match result {
            Ok(snapshot) => Ok(Allowance {
                limit: snapshot.quota().burst_size().get(),
                remaining: snapshot.remaining_burst_capacity(),
            }),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let limit = not_until.quota().burst_size().get();
                tracing::info!(limiter = name, "rate limit reached");
                self.metrics.rate_limited(name);
                Err(Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("Too many requests for this {which}; retry in {secs} s."),
                )
                .with("retry_after", serde_json::Value::from(secs))
                .header(actix_web::http::header::RETRY_AFTER, secs.to_string())
                .header(
                    HeaderName::from_static("ratelimit-limit"),
                    limit.to_string(),
                )
                .header(HeaderName::from_static("ratelimit-remaining"), "0")
                .header(HeaderName::from_static("ratelimit-reset"), secs.to_string())
                .into())
            }
        }
    }

    /// Forgets idle keys so memory stays bounded.
    pub fn prune(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_key {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// Limits on the people-facing forms: sign-in (per IP and per account,
/// with growing delays after consecutive failures), sign-up, password
/// reset, verification resend and key reveal. A limit of 0 turns it off.
/// The budgets are per instance, in memory; the failed sign-in delays are
/// in the database, shared by every instance (`services::sign_in_throttle`).
/// Every refusal is counted by limiter name.
pub struct PortalLimits {
    sign_in_ip: Option<Keyed<IpAddr>>,
    sign_in_account: Option<Keyed<String>>,
    sign_up_ip: Option<Keyed<IpAddr>>,
    password_reset: Option<Keyed<String>>,
    verification_resend: Option<Keyed<String>>,
    key_reveal: Option<Keyed<String>>,
    db: Db,
    clock: DefaultClock,
    metrics: Metrics,
}

fn hourly<K: Clone + std::hash::Hash + Eq>(per_hour: u32) -> Option<Keyed<K>> {
    NonZeroU32::new(per_hour).map(|n| {
        RateLimiter::dashmap(Quota::per_hour(n)).with_middleware::<StateInformationMiddleware>()
    })
}

fn too_many(what: &str, secs: u64) -> WebError {
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "Too many {what}. Try again in {secs} second{}.",
            if secs == 1 { "" } else { "s" }
        ),
    )
    .with("retry_after", serde_json::Value::from(secs))
    .header(actix_web::http::header::RETRY_AFTER, secs.to_string())
    .into()
}

impl PortalLimits {
    pub fn new(q: PortalQuotas, db: Db, metrics: Metrics) -> Self {
        Self {
            sign_in_ip: limiter(q.sign_in_ip_per_minute),
            sign_in_account: hourly(q.sign_in_account_per_hour),
            sign_up_ip: hourly(q.sign_up_ip_per_hour),
            password_reset: hourly(q.password_reset_per_hour),
            verification_resend: hourly(q.verification_resend_per_hour),
            key_reveal: hourly(q.key_reveal_per_hour),
            db,
            clock: DefaultClock::default(),
            metrics,
        }
    }

    /// A refusal by the limiter `name`: logged, counted, and the 429.
    fn refuse(&self, name: &'static str, what: &str, secs: u64) -> WebError {
        tracing::info!(limiter = name, retry_after = secs, "rate limit reached");
        self.metrics.rate_limited(name);
        too_many(what, secs)
    }

    fn take<K: Clone + std::hash::Hash + Eq>(
        &self,
        limiter: Option<&Keyed<K>>,
        key: &K,
        name: &'static str,
        what: &str,
    ) -> Result<(), WebError> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(key).map(|_| ()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            self.refuse(
                name,
                what,
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            )
        })
    }

    /// Before checking a password: the delay earned by the account's
    /// consecutive failures (on any instance), then the IP's and the
    /// account's budgets. Unknown accounts are limited exactly like known
    /// ones.
    pub async fn sign_in(&self, ip: Option<IpAddr>, account: &str) -> Result<(), WebError> {
        if let Some(secs) = sign_in_throttle::wait(&self.db, account).await? {
            return Err(self.refuse("sign_in_delay", "failed sign-ins for this account", secs));
        }
        if let Some(ip) = ip {
            self.take(
                self.sign_in_ip.as_ref(),
                &ip,
                "sign_in_ip",
                "sign-in attempts from your network",
            )?;
        }
        self.take(
            self.sign_in_account.as_ref(),
            &account.to_lowercase(),
            "sign_in_account",
            "sign-in attempts for this account",
        )
    }

    /// A failed sign-in: after three in a row, each attempt must wait
    /// twice as long as the one before (1 s, 2 s, 4 s … 15 min), on every
    /// instance.
    pub async fn sign_in_failed(&self, account: &str) -> Result<(), WebError> {
        sign_in_throttle::failed(&self.db, account).await?;
        Ok(())
    }

    /// A successful sign-in clears the account's failures.
    pub async fn sign_in_succeeded(&self, account: &str) -> Result<(), WebError> {
        sign_in_throttle::succeeded(&self.db, account).await?;
        Ok(())
    }

    pub fn sign_up(&self, ip: Option<IpAddr>) -> Result<(), WebError> {
        match ip {
            Some(ip) => self.take(
                self.sign_up_ip.as_ref(),
                &ip,
                "sign_up_ip",
                "sign-ups from your network",
            ),
            None => Ok(()),
        }
    }

    /// Reset requests, per IP and per email (known or not).
    pub fn password_reset(&self, ip: Option<IpAddr>, email: &str) -> Result<(), WebError> {
        if let Some(ip) = ip {
            self.take(
                self.password_reset.as_ref(),
                &format!("ip:{ip}"),
                "password_reset_ip",
                "password reset requests",
            )?;
        }
        self.take(
            self.password_reset.as_ref(),
            &format!("email:{}", email.to_lowercase()),
            "password_reset_email",
            "password reset requests",
        )
    }

    pub fn key_reveal(&self, user_id: &str) -> Result<(), WebError> {
        self.take(
            self.key_reveal.as_ref(),
            &user_id.to_owned(),
            "key_reveal",
            "key reveals",
        )
    }

    /// Verification emails asked for again, per account (on top of the
    /// short cooldown between two sends).
    pub fn verification_resend(&self, user_id: &str) -> Result<(), WebError> {
        self.take(
            self.verification_resend.as_ref(),
            &user_id.to_owned(),
            "verification_resend",
            "requests for a new verification link",
        )
    }

    pub fn prune(&self) {
        for l in [
            &self.sign_in_account,
            &self.password_reset,
            &self.verification_resend,
            &self.key_reveal,
        ]
        .into_iter()
        .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
        for l in [&self.sign_in_ip, &self.sign_up_ip].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// Adds `RateLimit-Limit` and `RateLimit-Remaining` to a passing answer.
pub fn annotate(res: &mut HttpResponse, allowance: Option<Allowance>) {
    let Some(a) = allowance else {
        return;
    };
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&a.limit.to_string()) {
        headers.insert(HeaderName::from_static("ratelimit-limit"), v);
    }
    if let Ok(v) = HeaderValue::from_str(&a.remaining.to_string()) {
        headers.insert(HeaderName::from_static("ratelimit-remaining"), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_ip_and_per_key() {
        let metrics = Metrics::new();
        let limits = ApiLimits::new(3, 2, metrics.clone());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = limits.check(Some(ip), Some(&[1; 32])).unwrap().unwrap();
        assert_eq!(
            a,
            Allowance {
                limit: 2,
                remaining: 1
            }
        );
        limits.check(Some(ip), Some(&[1; 32])).unwrap();
        assert!(
            limits.check(Some(ip), Some(&[1; 32])).is_err(),
            "the key's limit"
        );
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(
            limits.check(Some(other), Some(&[1; 32])).is_err(),
            "the key is limited from anywhere"
        );
        limits.check(Some(other), Some(&[2; 32])).unwrap();
        assert!(
            limits.check(Some(ip), Some(&[3; 32])).is_err(),
            "the IP's limit"
        );
        assert_eq!(metrics.rate_limited_count("api_key"), 2);
        assert_eq!(metrics.rate_limited_count("api_ip"), 1);
        limits.prune();
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limits = ApiLimits::new(0, 0, Metrics::new());
        for _ in 0..1000 {
            assert_eq!(limits.check(None, Some(&[9; 32])).unwrap(), None);
        }
    }
}
