//! `POST /webhooks/stripe` and `POST /webhooks/paddle`: the raw body's
//! signature is checked against the provider's secret before anything is
//! parsed; the event is read and handed to the payments service, which
//! stores it once and applies it once. Answers: 200 when it is settled
//! (applied, ignored, set aside, or an earlier delivery's), 400 for a
//! delivery that is not verifiably the provider's or not readable, 5xx
//! when Licensor failed (the provider retries), 404 without a secret.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::clock::Clock;
use crate::config::PaymentSettings;
use crate::domain::audit::Actor;
use crate::domain::payments::Provider;
use crate::secret::DataCipher;
use crate::services::context::{Brand, Ctx};
use crate::services::payments::{self, Receipt, Seller, paddle, signature, stripe};
use crate::store::Db;
use crate::web::error::{Problem, WebError};

/// Largest provider event accepted (Stripe's and Paddle's are a few KiB).
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

/// The providers' settings, as the handlers see them.
pub struct ProviderSecrets(pub PaymentSettings);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/{provider}")
            .app_data(web::PayloadConfig::new(MAX_EVENT_BYTES))
            .route(web::post().to(webhook)),
    );
}

struct Deps {
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    brand: web::Data<Brand>,
}

/// `POST /webhooks/stripe` and `POST /webhooks/paddle`.
pub async fn webhook(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    settings: web::Data<ProviderSecrets>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    let provider: Provider = path.parse().map_err(|_| WebError::NotFound)?;
    let secret = match provider {
        Provider::Stripe => settings.0.stripe_webhook_secret.as_ref(),
        Provider::Paddle => settings.0.paddle_webhook_secret.as_ref(),
    };
    let deps = Deps {
        db,
        clock,
        cipher,
        brand,
    };
    receive(&req, &body, provider, secret, &deps).await
}

fn scheme(provider: Provider) -> &'static signature::Scheme {
    match provider {
        Provider::Stripe => &stripe::SCHEME,
        Provider::Paddle => &paddle::SCHEME,
    }
}

async fn receive(
    req: &HttpRequest,
    body: &[u8],
    provider: Provider,
    secret: Option<&SecretString>,
    deps: &Deps,
) -> Result<HttpResponse, WebError> {
    let Some(secret) = secret else {
        return Err(WebError::NotFound);
    };
    let scheme = scheme(provider);
    let header = req
        .headers()
        .get(scheme.header)
        .and_then(|v| v.to_str().ok());
    let now = deps.clock.now();
    if let Err(e) = signature::verify(scheme, header, secret.expose_secret(), body, now) {
        tracing::warn!(provider = %provider, code = e.code(), "provider webhook refused: {e}");
        return Err(Problem::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()).into());
    }
    let event = payments::read(provider, body).map_err(|e| {
        tracing::warn!(provider = %provider, code = e.code(), "provider webhook unreadable: {e}");
        Problem::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
    })?;
    let text = std::str::from_utf8(body).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the body is not UTF-8",
        )
    })?;
    let seller = Seller {
        ctx: Ctx::new(&deps.db, deps.clock.as_ref(), Actor::System)
            .with_request_id(Some(crate::web::request::request_id(req))),
        cipher: &deps.cipher,
        brand: &deps.brand,
    };
    let receipt = payments::receive(&seller, &event, text)
        .await
        .map_err(WebError::from)?;
    let (state, detail, duplicate) = match &receipt {
        Receipt::Settled(outcome) => (outcome.state, outcome.detail.as_str(), false),
        Receipt::Duplicate(state) => (*state, "delivered before: nothing changed", true),
    };
    Ok(HttpResponse::Ok().json(json!({
        "received": true,
        "event_id": event.id,
        "state": state.as_str(),
        "detail": detail,
        "duplicate": duplicate,
    })))
}
