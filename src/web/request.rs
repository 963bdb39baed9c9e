//! Request plumbing every area of `web/` shares: who is asking (the client
//! address behind trusted proxies), the request id, and the request's span
//! and log line.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage, HttpRequest, web};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// The client's address: the TCP peer, or behind a configured reverse
/// proxy the address it forwarded (`trusted_proxies`, see `domain::proxies`).
pub fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr()?.ip();
    let Some(proxies) = req.app_data::<web::Data<crate::domain::proxies::TrustedProxies>>() else {
        return Some(peer);
    };
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(proxies.client(peer, &forwarded))
}

/// The request id actix-tracing gave this request.
pub fn request_id(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    req.extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// When the request arrived, kept in its extensions for the request line.
#[derive(Clone, Copy)]
struct RequestStart(Instant);

/// The root span of every request, plus the request line when it ends:
/// tracing-actix-web only opens and closes spans, it logs nothing itself.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    /// The request's span. Its target is the path alone: query strings
    /// carry single-use email tokens and signed links, which must not
    /// reach the log.
    fn on_request_start(request: &ServiceRequest) -> Span {
        request
            .extensions_mut()
            .insert(RequestStart(Instant::now()));
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "default".to_owned());
        let client_ip = client_ip(request.request())
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.client_ip = %client_ip,
            request_id = %request_id,
            user_id = tracing::field::Empty,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let Ok(response) = outcome else {
            DefaultRootSpanBuilder::on_request_end(span, outcome);
            return;
        };
        // The default builder records the status and the error on the span;
        // the request line below carries the status, so only server errors
        // pay for that (with the JSON format each field recorded on a span
        // re-serializes all of them).
        if response.status().is_server_error() {
            DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        }
        let latency_ms = response
            .request()
            .extensions()
            .get::<RequestStart>()
            .map(|start| start.0.elapsed().as_secs_f64() * 1000.0)
            .unwrap_or_default();
        let status = response.status().as_u16();
        // Routing happens inside the span, so the route template is known
        // only now ("unmatched" when none matched).
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        // The span already carries the request id, method, client and, once
        // a handler named them, the user and the license.
        let extensions = response.request().extensions();
        let license_id = extensions.get::<LicenseOfRequest>().map(|l| l.0.as_str());
        span.in_scope(|| match (status >= 500, license_id) {
            (true, Some(license_id)) => {
                tracing::warn!(status, route, latency_ms, license_id, "request finished")
            }
            (true, None) => tracing::warn!(status, route, latency_ms, "request finished"),
            (false, Some(license_id)) => {
                tracing::info!(status, route, latency_ms, license_id, "request finished")
            }
            (false, None) => tracing::info!(status, route, latency_ms, "request finished"),
        });
    }
}

/// Names the signed-in user on the current request's log lines.
pub fn record_user(user_id: &str) {
    Span::current().record("user_id", user_id);
}

/// The license a request was about, for its request line.
struct LicenseOfRequest(String);

/// Names the license a request is about on its request line (its id,
/// never its key). Kept in the request, not recorded on the span: with the
/// JSON format every field recorded on a span re-serializes all of them,
/// a measurable cost on the validation path.
pub fn record_license(request: &actix_web::HttpRequest, license_id: &str) {
    request
        .extensions_mut()
        .insert(LicenseOfRequest(license_id.to_owned()));
}
