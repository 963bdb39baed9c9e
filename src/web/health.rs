//! Liveness and readiness probes for load balancers and orchestrators.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::store::Db;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "status": "ok" }))
}

/// Set when the server was told to stop: it still serves, but is no longer
/// ready, so a proxy sends its traffic elsewhere before the listener closes.
#[derive(Debug, Default)]
pub struct Draining(std::sync::atomic::AtomicBool);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// `GET /readyz`: 200 only while the database answers, writes succeed and
/// the server is not shutting down.
pub async fn readyz(db: web::Data<Db>, draining: Option<web::Data<Draining>>) -> HttpResponse {
    let (mut res, status) = if draining.is_some_and(|d| d.is_draining()) {
        (HttpResponse::ServiceUnavailable(), "shutting_down")
    } else if !db.ping(Duration::from_secs(2)).await {
        tracing::warn!("readiness probe: the database does not answer");
        (HttpResponse::ServiceUnavailable(), "database_unavailable")
    } else if db.write_health().failing() {
        tracing::warn!("readiness probe: writes are failing, the disk is full");
        (HttpResponse::ServiceUnavailable(), "disk_full")
    } else {
        (HttpResponse::Ok(), "ready")
    };
    res.insert_header(("Cache-Control", "no-store"))
        .json(json!({ "status": status }))
}
