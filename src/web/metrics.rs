//! `GET /metrics`: the Prometheus metrics, for a scraper holding the
//! `metrics_token`. Without that setting the route answers 404 like any
//! unknown path, so metrics are never public by default.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;
use crate::web::api::auth::{bearer_token, unauthorized};
use crate::web::error::WebError;

/// Who may read the metrics: the holder of this token, or nobody.
pub struct MetricsAccess(pub Option<SecretString>);

impl MetricsAccess {
    /// Compares digests, so the time taken says nothing about the token.
    fn admits(&self, token: &str) -> bool {
        self.0.as_ref().is_some_and(|expected| {
            Sha256::digest(expected.expose_secret().as_bytes()) == Sha256::digest(token.as_bytes())
        })
    }
}

pub async fn metrics(
    req: HttpRequest,
    access: web::Data<MetricsAccess>,
    metrics: web::Data<Metrics>,
    db: web::Data<crate::store::Db>,
) -> Result<HttpResponse, WebError> {
    if access.0.is_none() {
        return Err(WebError::NotFound);
    }
    match bearer_token(&req) {
        Some(token) if access.admits(&token) => {}
        Some(_) => {
            return Err(unauthorized(
                "invalid_token",
                "That is not the metrics token.",
            ));
        }
        None => {
            return Err(unauthorized(
                "unauthorized",
                "Send the metrics token: Authorization: Bearer <metrics_token>.",
            ));
        }
    }
    let (email, webhook) = crate::services::outbox::queued_by_channel(&db)
        .await
        .map_err(|e| WebError::Unexpected(anyhow::anyhow!("counting the outbox: {e}")))?;
    metrics.set_outbox_queued(email, webhook);
    let pool = db.pool();
    metrics.set_pool(
        pool.size(),
        pool.num_idle(),
        pool.options().get_max_connections(),
    );
    if let Some(batch) = db.write_batch() {
        let (commits, jobs) = batch.stats();
        metrics.set_write_batches(commits, jobs);
    }
    let body = metrics
        .encode()
        .map_err(|e| WebError::Unexpected(anyhow::anyhow!("encoding the metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((
            "Content-Type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}
