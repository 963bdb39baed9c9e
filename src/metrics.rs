//! Prometheus metrics (the `prometheus-client` crate): one registry per
//! process, handles cheap to clone into whatever counts. Served at
//! `GET /metrics` only with the `metrics_token` bearer token.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
        }
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
