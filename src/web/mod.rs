//! HTTP: actix lives here and nowhere else. Handlers parse input into domain
//! types, call one service and render.

pub mod admin;
pub mod api;
pub mod assets;
pub mod body_deadline;
pub mod docs;
pub mod error;
pub mod health;
pub mod home;
pub mod keys;
pub mod layout;
pub mod metrics;
pub mod middleware;
pub mod page;
pub mod payments;
pub mod portal;
pub mod ratelimit;
pub mod request;
pub mod session;
pub mod two_factor;

use actix_web::web;

/// Largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Every route of the application.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(web::JsonConfig::default().limit(MAX_BODY_BYTES))
        .app_data(web::FormConfig::default().limit(MAX_BODY_BYTES))
        .configure(api::routes)
        .configure(portal::routes)
        .configure(admin::routes)
        .configure(payments::routes)
        .service(web::resource("/").route(web::get().to(home::home)))
        .service(web::resource("/docs/{name}").route(web::get().to(docs::guide)))
        .service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        .service(web::resource("/metrics").route(web::get().to(metrics::metrics)))
        .service(web::resource("/static/app.css").route(web::get().to(assets::app_css)))
        .service(web::resource("/static/app.js").route(web::get().to(assets::app_js)))
        .service(
            web::resource("/.well-known/licensor-keys.json")
                .route(web::get().to(keys::well_known_keys)),
        );
}
