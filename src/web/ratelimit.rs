//! Rate limits for the key-authenticated API (validate, activate,
//! deactivate, heartbeat): GCRA per client IP and per license key, with the
//! MIT-licensed `governor`. State is per instance, in memory.

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::web::error::{Problem, WebError};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// The limiters; a limit of 0 per minute turns one off.
pub struct ApiLimits {
    per_ip: Option<Keyed<IpAddr>>,
    per_key: Option<Keyed<String>>,
    clock: DefaultClock,
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
    pub fn new(per_ip_per_minute: u32, per_key_per_minute: u32) -> Self {
        Self {
            per_ip: limiter(per_ip_per_minute),
            per_key: limiter(per_key_per_minute),
            clock: DefaultClock::default(),
        }
    }

    /// Checks both limits; the tighter allowance is reported.
    pub fn check(
        &self,
        ip: Option<IpAddr>,
        key_digest: Option<&str>,
    ) -> Result<Option<Allowance>, WebError> {
        let mut allowance: Option<Allowance> = None;
        let mut merge = |a: Allowance| {
            allowance = Some(match allowance {
                Some(b) if b.remaining <= a.remaining => b,
                _ => a,
            });
        };
        if let (Some(limiter), Some(ip)) = (&self.per_ip, ip) {
            merge(self.outcome("ip", limiter.check_key(&ip))?);
        }
        if let (Some(limiter), Some(key)) = (&self.per_key, key_digest) {
            merge(self.outcome("key", limiter.check_key(&key.to_owned()))?);
        }
        Ok(allowance)
    }

    fn outcome(
        &self,
        which: &'static str,
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
                tracing::info!(limiter = which, "rate limit reached");
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
        let limits = ApiLimits::new(3, 2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = limits.check(Some(ip), Some("k1")).unwrap().unwrap();
        assert_eq!(
            a,
            Allowance {
                limit: 2,
                remaining: 1
            }
        );
        limits.check(Some(ip), Some("k1")).unwrap();
        assert!(
            limits.check(Some(ip), Some("k1")).is_err(),
            "the key's limit"
        );
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(
            limits.check(Some(other), Some("k1")).is_err(),
            "the key is limited from anywhere"
        );
        limits.check(Some(other), Some("k2")).unwrap();
        assert!(
            limits.check(Some(ip), Some("k3")).is_err(),
            "the IP's limit"
        );
        limits.prune();
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limits = ApiLimits::new(0, 0);
        for _ in 0..1000 {
            assert_eq!(limits.check(None, Some("k")).unwrap(), None);
        }
    }
}
