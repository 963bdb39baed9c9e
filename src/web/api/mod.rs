//! The JSON API, `/api/v1`. Machine endpoints authenticate with the license
//! key itself; provisioning endpoints with a bearer API token.

pub mod auth;
pub mod catalog;
pub mod customers;
pub mod idempotency;
pub mod import;
pub mod license_edits;
pub mod licenses;
pub mod machines;
pub mod offers;
pub mod openapi;
pub mod views;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::clock::Clock;
use crate::services::licensing::LicensingError;
use crate::signing::{KeyRing, response_signing_message};
use crate::web::error::{Problem, WebError};
use crate::web::request::client_ip;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/openapi.json").route(web::get().to(openapi::document)));
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::JsonConfig::default()
                    .limit(crate::web::MAX_BODY_BYTES)
                    .error_handler(json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .service(web::resource("/licenses/validate").route(web::post().to(licenses::validate)))
            .service(web::resource("/machines/activate").route(web::post().to(machines::activate)))
            .service(
                web::resource("/machines/deactivate").route(web::post().to(machines::deactivate)),
            )
            .service(
                web::resource("/machines/heartbeat").route(web::post().to(machines::heartbeat)),
            )
            .service(
                web::resource("/products")
                    .route(web::get().to(catalog::list_products))
                    .route(web::post().to(catalog::create_product)),
            )
            .service(
                web::resource("/products/{id}")
                    .route(web::get().to(catalog::get_product))
                    .route(web::patch().to(catalog::update_product)),
            )
            .service(
                web::resource("/license-types")
                    .route(web::get().to(catalog::list_license_types))
                    .route(web::post().to(catalog::create_license_type)),
            )
            .service(
                web::resource("/license-types/{id}")
                    .route(web::get().to(catalog::get_license_type))
                    .route(web::delete().to(catalog::delete_license_type)),
            )
            .service(
                web::resource("/license-types/{id}/retire")
                    .route(web::post().to(catalog::retire_license_type)),
            )
            .service(
                web::resource("/licenses")
                    .route(web::get().to(licenses::list))
                    .route(web::post().to(licenses::create)),
            )
            .service(
                web::resource("/licenses/import")
                    .app_data(web::PayloadConfig::new(import::MAX_IMPORT_BYTES))
                    .route(web::post().to(import::import_licenses)),
            )
            .service(
                web::resource("/licenses/{id}")
                    .route(web::get().to(licenses::get))
                    .route(web::patch().to(license_edits::update)),
            )
            .service(
                web::resource("/licenses/{id}/machines/{machine_id}")
                    .route(web::delete().to(license_edits::deactivate_machine)),
            )
            .service(
                web::resource("/licenses/{id}/actions/{action}")
                    .route(web::post().to(licenses::action)),
            )
            .service(web::resource("/customers").route(web::get().to(customers::find)))
            .service(
                web::resource("/offers")
                    .route(web::get().to(offers::list_offers))
                    .route(web::post().to(offers::create_offer)),
            )
            .service(web::resource("/offers/{id}").route(web::get().to(offers::get_offer)))
            .service(
                web::resource("/offers/{id}/retire").route(web::post().to(offers::retire_offer)),
            )
            .service(
                web::resource("/offers/{id}/checkout")
                    .route(web::post().to(offers::start_checkout)),
            ),
    );
}

fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let problem = match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "The body is over the limit of {} bytes.",
                crate::web::MAX_BODY_BYTES
            ),
        ),
        E::ContentType => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        ),
        E::Deserialize(e) => serde_problem(e),
        other => Problem::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("The body could not be read: {other}."),
        ),
    };
    WebError::from(problem).into()
}

pub(crate) fn serde_problem(e: &serde_json::Error) -> Problem {
    if e.is_data() {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("The JSON does not fit: {e}."),
        )
    } else {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("The body is not valid JSON: {e}."),
        )
    }
}

/// Parses a JSON body read as bytes (handlers that also need the raw bytes,
/// for idempotency); the same answers as actix's JSON extractor.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, WebError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_json_in_utf8(content_type) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON in UTF-8 with Content-Type: application/json.",
        )
        .into());
    }
    serde_json::from_slice(body).map_err(|e| serde_problem(&e).into())
}

/// `application/json` or `application/*+json`, in UTF-8: JSON is UTF-8
/// (RFC 8259), so a body declared in another charset would be read as
/// something it is not.
fn is_json_in_utf8(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let json = media == "application/json"
        || (media.starts_with("application/") && media.ends_with("+json"));
    json && parts
        .filter_map(|param| param.split_once('='))
        .all(|(name, value)| {
            !name.trim().eq_ignore_ascii_case("charset")
                || value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        })
}

fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    WebError::from(Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!("The query string does not fit: {err}."),
    ))
    .into()
}

fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    WebError::from(Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("No such resource: {err}."),
    ))
    .into()
}

/// The RFC 9457 problem document every non-2xx answer carries (for the
/// OpenAPI document; `web::error` writes it).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ProblemDoc {
    /// Always `about:blank`: `code` is the stable identifier.
    #[schema(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    /// Stable and documented in docs/api.md (e.g. `TOO_MANY_MACHINES`, `invalid_field`).
    code: String,
    detail: String,
    request_id: Option<String>,
}

/// A field of a JSON merge patch that may be given as `null`: `Some(None)`,
/// told apart from one left out (`None`).
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// The context of a use case an API token asks for.
pub(crate) fn token_ctx<'a>(
    db: &'a crate::store::Db,
    clock: &'a dyn crate::clock::Clock,
    client: &auth::ApiClient,
    req: &HttpRequest,
) -> crate::services::context::Ctx<'a> {
    crate::services::context::Ctx::new(
        db,
        clock,
        crate::domain::audit::Actor::ApiToken {
            token_id: client.token_id.clone(),
        },
    )
    .with_request_id(Some(crate::web::request::request_id(req)))
}

/// A field that failed its rules.
pub fn invalid(field: &str, detail: impl std::fmt::Display) -> WebError {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        format!("{field}: {detail}"),
    )
    .with("field", serde_json::Value::String(field.to_owned()))
    .into()
}

impl From<LicensingError> for WebError {
    fn from(err: LicensingError) -> Self {
        licensing_problem(err, None)
    }
}

/// The problem for a licensing error; with the site, a refusal also tells
/// the application what its user should do next (`next_action`).
pub fn licensing_problem(err: LicensingError, site: Option<&crate::web::layout::Site>) -> WebError {
    match err {
        LicensingError::Refused { code, license_id } => {
            let status = if code == crate::domain::license::ValidationCode::TooManyMachines {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let mut problem = Problem::new(status, code.as_str(), code.detail());
            if let Some(site) = site {
                let next = views::next_action(code, license_id.as_deref(), site);
                problem = problem.with(
                    "next_action",
                    serde_json::to_value(next).unwrap_or(serde_json::Value::Null),
                );
            }
            problem.into()
        }
        LicensingError::DeactivationNotAllowed => Problem::new(
            StatusCode::FORBIDDEN,
            "DEACTIVATION_NOT_ALLOWED",
            err.to_string(),
        )
        .into(),
        LicensingError::DeactivationLimit { .. } => Problem::new(
            StatusCode::CONFLICT,
            "DEACTIVATION_LIMIT_REACHED",
            err.to_string(),
        )
        .into(),
        LicensingError::NotFound(what) => Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No such {what}."),
        )
        .into(),
        LicensingError::Invalid(msg) => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", msg).into()
        }
        LicensingError::InvalidField { field, detail } => invalid(field, detail),
        LicensingError::Conflict(msg) => Problem::new(StatusCode::CONFLICT, "conflict", msg).into(),
        LicensingError::Unexpected(e) => e.into(),
    }
}

/// A JSON answer signed with the active key: `Licensor-Signature` covers
/// the request id, the `Date` header and the body's digest, so an
/// application can tell a genuine answer from a spoofed local server.
pub fn signed_json<T: Serialize>(
    status: StatusCode,
    value: &T,
    request_id: &str,
    ring: &KeyRing,
    clock: &dyn Clock,
) -> Result<HttpResponse, WebError> {
    let body = serde_json::to_vec(value).map_err(|e| WebError::Unexpected(e.into()))?;
    Ok(signed_body(status, body, request_id, ring, clock))
}

/// [`signed_json`] for a body already serialized (e.g. a replayed answer).
pub fn signed_body(
    status: StatusCode,
    body: Vec<u8>,
    request_id: &str,
    ring: &KeyRing,
    clock: &dyn Clock,
) -> HttpResponse {
    let date = http_date(clock.now());
    let mut res = HttpResponse::build(status);
    res.content_type("application/json")
        .insert_header(("Date", date.clone()))
        .insert_header(("Cache-Control", "no-store"));
    if let Some((kid, sig)) =
        ring.sign(response_signing_message(request_id, &date, &body).as_bytes())
    {
        use base64::Engine;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
        res.insert_header((
            "Licensor-Signature",
            format!("kid=\"{kid}\", alg=\"ed25519\", sig=\"{sig}\""),
        ));
    }
    res.body(body)
}

/// `now` as an HTTP date, formatted once a second per worker thread (every
/// signed answer carries and signs one).
fn http_date(now: crate::domain::time::Timestamp) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != now.unix() {
            *last = (now.unix(), now.to_http_date());
        }
        last.1.clone()
    })
}

/// The page size and cursor of a list endpoint (`?cursor=&limit=`).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

impl Cursor {
    pub fn limit(&self) -> Result<i64, WebError> {
        match self.limit {
            None => Ok(DEFAULT_PAGE),
            Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            Some(_) => Err(invalid("limit", format!("must be from 1 to {MAX_PAGE}"))),
        }
    }

    pub fn after(&self) -> Result<Option<String>, WebError> {
        match &self.cursor {
            None => Ok(None),
            Some(c) if crate::domain::id::is_well_formed(c) => Ok(Some(c.clone())),
            Some(_) => Err(invalid("cursor", "is not a cursor this API returned")),
        }
    }
}

/// `{data, next_cursor}`: the cursor is the last id when the page was full.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    pub fn new(data: Vec<T>, limit: i64, last_id: impl Fn(&T) -> String) -> Self {
        let full = i64::try_from(data.len()).unwrap_or(i64::MAX) >= limit;
        let next_cursor = if full { data.last().map(last_id) } else { None };
        Self { data, next_cursor }
    }
}

/// Applies the key-API rate limits for a request naming this key (its
/// digest; `None` when malformed, which only the per-IP limit counts).
pub fn limit(
    limits: &crate::web::ratelimit::ApiLimits,
    req: &HttpRequest,
    key: Option<&crate::domain::license_key::KeyDigest>,
) -> Result<Option<crate::web::ratelimit::Allowance>, WebError> {
    limits.check(client_ip(req), key.map(|k| k.bytes()))
}
