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

/// `GET /readyz`: 200 only while the database answers.
pub async fn readyz(db: web::Data<Db>) -> HttpResponse {
    let (mut res, status) = if !db.ping(Duration::from_secs(2)).await {
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
