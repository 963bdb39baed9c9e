//! Prometheus metrics (the `prometheus-client` crate): one registry per
//! process, handles cheap to clone into whatever counts. Served at
//! `GET /metrics` only with the `metrics_token` bearer token. Gauges that
//! describe the database (outbox depth, pool use) are set when scraped.

use crate::domain::outbox::Channel;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Labels of the rate-limit counter: which limiter refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimiterLabels {
    pub limiter: &'static str,
}

/// Labels of the request histogram. `route` is the matched route template
/// (`/api/v1/licenses/{id}`), never the raw path, so ids and keys never
/// become label values and the series stay few.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// An answer of the key-authenticated API: which endpoint, which code
/// (`VALID` and `OK` are successes; the rest are refusals).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub endpoint: &'static str,
    pub code: &'static str,
}

/// One onboarding step completed (`signed_up`, `email_verified`,
/// `license_assigned`, `first_activation`, `first_validation`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub step: &'static str,
}

/// A delivery attempt from the outbox.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `email` or `webhook`.
    pub channel: &'static str,
    /// `sent`, `retry` (failed, will be tried again) or `dead` (given up).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request latencies from 0.5 ms to about 16 s.
fn request_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 16,
    ))
}

/// Every metric the server keeps, and the registry that encodes them.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    rate_limited: Family<LimiterLabels, Counter>,
    requests: HistogramFamily<RequestLabels>,
    outcomes: Family<OutcomeLabels, Counter>,
    steps: Family<StepLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    outbox_depth: Family<ChannelLabels, Gauge>,
    pool: Family<PoolLabels, Gauge>,
    write_batches: Family<PoolLabels, Gauge>,
    /// Answers of 400 and above by route and status since start, for the
    /// dashboard (the histogram above holds the same, but cannot be read).
    errors_by_route: Arc<Mutex<BTreeMap<(String, u16), u64>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("licensor");
        let rate_limited = Family::<LimiterLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by a rate limiter, by limiter",
            rate_limited.clone(),
        );
        let requests: HistogramFamily<RequestLabels> =
            Family::new_with_constructor(request_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by method, route template and status",
            requests.clone(),
        );
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "api_outcomes",
            "Answers of validate, activate, deactivate and heartbeat, by endpoint and code (VALID and OK are successes; TOO_MANY_MACHINES is a seat refusal)",
            outcomes.clone(),
        );
        let steps = Family::<StepLabels, Counter>::default();
        registry.register(
            "onboarding_steps",
            "Onboarding steps completed: signed_up, email_verified, license_assigned, first_activation, first_validation",
            steps.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "outbox_deliveries",
            "Email and webhook delivery attempts, by channel and result (sent, retry, dead)",
            deliveries.clone(),
        );
        let outbox_depth = Family::<ChannelLabels, Gauge>::default();
        registry.register(
            "outbox_queued",
            "Emails and webhooks waiting in the outbox, by channel",
            outbox_depth.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections, by state (open, idle, max)",
            pool.clone(),
        );
        let write_batches = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_write_batches",
            "SQLite group commit since start: commits, and the write jobs they carried",
            write_batches.clone(),
        );
        registry.register(
            "build",
            "The running build",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Self {
            registry: Arc::new(registry),
            rate_limited,
            requests,
            outcomes,
            steps,
            deliveries,
            outbox_depth,
            pool,
            write_batches,
            errors_by_route: Arc::default(),
        }
    }

    /// One answer of the key-authenticated API.
    pub fn outcome(&self, endpoint: &'static str, code: &'static str) {
        self.outcomes
            .get_or_create(&OutcomeLabels { endpoint, code })
            .inc();
    }

    /// One onboarding step completed.
    pub fn step(&self, step: &'static str) {
        self.steps.get_or_create(&StepLabels { step }).inc();
    }

    /// `n` customers reached an onboarding step at once.
    pub fn steps(&self, step: &'static str, n: u64) {
        self.steps.get_or_create(&StepLabels { step }).inc_by(n);
    }

    /// One delivery attempt's result.
    pub fn delivery(&self, channel: Channel, result: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                channel: channel.as_str(),
                result,
            })
            .inc();
    }

    /// The outbox's queue depth, set at scrape time.
    pub fn set_outbox_queued(&self, email: i64, webhook: i64) {
        for (channel, n) in [("email", email), ("webhook", webhook)] {
            self.outbox_depth
                .get_or_create(&ChannelLabels { channel })
                .set(n);
        }
    }

    /// The SQLite write batch's commits and jobs, set at scrape time.
    pub fn set_write_batches(&self, commits: u64, jobs: u64) {
        for (state, n) in [("commits", commits), ("jobs", jobs)] {
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            self.write_batches
                .get_or_create(&PoolLabels { state })
                .set(n);
        }
    }

    /// The pool's use, set at scrape time.
    pub fn set_pool(&self, open: u32, idle: usize, max: u32) {
        for (state, n) in [
            ("open", i64::from(open)),
            ("idle", i64::try_from(idle).unwrap_or(i64::MAX)),
            ("max", i64::from(max)),
        ] {
            self.pool.get_or_create(&PoolLabels { state }).set(n);
        }
    }

    /// Answers of 400 and above since start, by route and status.
    pub fn errors_by_route(&self) -> Vec<(String, u16, u64)> {
        self.errors_by_route
            .lock()
            .map(|m| m.iter().map(|((r, s), n)| (r.clone(), *s, *n)).collect())
            .unwrap_or_default()
    }

    /// A request a limiter refused.
    pub fn rate_limited(&self, limiter: &'static str) {
        self.rate_limited
            .get_or_create(&LimiterLabels { limiter })
            .inc();
    }

    /// How many requests `limiter` refused so far.
    pub fn rate_limited_count(&self, limiter: &'static str) -> u64 {
        self.rate_limited
            .get_or_create(&LimiterLabels { limiter })
            .get()
    }

    /// One answered request.
    pub fn request(&self, labels: &RequestLabels, seconds: f64) {
        self.requests.get_or_create(labels).observe(seconds);
        if labels.status >= 400
            && let Ok(mut m) = self.errors_by_route.lock()
        {
            *m.entry((labels.route.clone(), labels.status)).or_default() += 1;
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_encodes() {
        let metrics = Metrics::new();
        metrics.rate_limited("sign_in_ip");
        metrics.rate_limited("sign_in_ip");
        metrics.request(
            &RequestLabels {
                method: "GET".into(),
                route: "/licenses/{id}".into(),
                status: 200,
            },
            0.003,
        );
        assert_eq!(metrics.rate_limited_count("sign_in_ip"), 2);
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("licensor_rate_limited_total{limiter=\"sign_in_ip\"} 2"),
            "{text}"
        );
        assert!(text.contains(
            "licensor_http_request_duration_seconds_count{method=\"GET\",route=\"/licenses/{id}\",status=\"200\"} 1"
        ));
        assert!(text.contains("licensor_build_info{version="));
        assert!(text.ends_with("# EOF\n"));
    }
}
