//! The one place that turns errors into responses: an HTML page with a
//! generic message and the request id for browsers, RFC 9457
//! problem+json with a stable `code` under `/api/`. The cause chain goes
//! to the log, never to the client.

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use askama::Template;
use serde::Serialize;
use tracing_actix_web::RequestId;

use crate::services::personal_data::PersonalDataError;
use crate::store::{Db, is_disk_full, is_unavailable};
use crate::web::page::Page;

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("There is nothing at this address.")]
    NotFound,
    /// Not an error for the person: go there instead (e.g. to sign in).
    #[error("see {0}")]
    Redirect(String),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// A refusal with its own status, stable code and extra members.
    #[error("{}", .0.detail)]
    Problem(Box<Problem>),
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("unexpected error")]
    Unexpected(#[source] anyhow::Error),
}

/// An RFC 9457 problem a handler chose: status, stable code, a sentence,
/// and extension members (e.g. the validation code and next action).
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub extensions: serde_json::Map<String, serde_json::Value>,
    pub headers: Vec<(header::HeaderName, String)>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            extensions: serde_json::Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(name.to_owned(), value);
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<Problem> for WebError {
    fn from(p: Problem) -> Self {
        WebError::Problem(Box::new(p))
    }
}

impl WebError {
    fn code(&self) -> &'static str {
        match self {
            WebError::NotFound => "not_found",
            WebError::Redirect(_) => "redirect",
            WebError::BadRequest { code, .. } => code,
            WebError::Problem(p) => p.code,
            WebError::Unavailable(_) => "unavailable",
            WebError::Unexpected(_) => "internal_error",
        }
    }
}

impl From<anyhow::Error> for WebError {
    fn from(err: anyhow::Error) -> Self {
        let unavailable = err.chain().any(|cause| {
            cause
                .downcast_ref::<sqlx::Error>()
                .is_some_and(is_unavailable)
        });
        if unavailable {
            WebError::Unavailable(err)
        } else {
            WebError::Unexpected(err)
        }
    }
}

impl From<sqlx::Error> for WebError {
    fn from(err: sqlx::Error) -> Self {
        anyhow::Error::new(err).into()
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Redirect(_) => StatusCode::SEE_OTHER,
            WebError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            WebError::Problem(p) => p.status,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // The body is written by `render_error`, which knows the request.
        let mut res = HttpResponse::new(self.status_code());
        match self {
            WebError::Unavailable(_) => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            WebError::Redirect(location) => {
                if let Ok(value) = HeaderValue::from_str(location) {
                    res.headers_mut().insert(header::LOCATION, value);
                }
            }
            WebError::Problem(p) => {
                for (name, value) in &p.headers {
                    if let Ok(value) = HeaderValue::from_str(value) {
                        res.headers_mut().insert(name.clone(), value);
                    }
                }
            }
            _ => {}
        }
        res
    }
}

/// Stable problem codes for statuses that actix or a guard produced.
fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        408 => "request_timeout",
        409 => "conflict",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "unprocessable_content",
        429 => "rate_limited",
        431 => "headers_too_large",
        500 => "internal_error",
        503 => "unavailable",
        s if s < 500 => "client_error",
        _ => "server_error",
    }
}

/// The sentence a person sees for a status.
fn human_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The request could not be understood. Check the address or the form and try again.",
        403 => "You are not allowed to do that.",
        404 => "There is nothing at this address. It may have moved, or the link may be mistyped.",
        405 => "This address does not accept that kind of request.",
        413 => "What you sent is too large.",
        415 => "What you sent is in a format this address does not accept.",
        429 => "Too many attempts. Wait a moment and try again.",
        503 => "The service is briefly unavailable. Try again in a few seconds.",
        s if s < 500 => "The request could not be completed.",
        _ => "Something went wrong on our side. It has been logged; try again in a moment.",
    }
}

#[derive(Serialize)]
struct ProblemDocument<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(flatten)]
    extensions: serde_json::Map<String, serde_json::Value>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: Page,
    status: u16,
    title: &'a str,
    message: &'a str,
    request_id: Option<String>,
}

/// Paths that machines call: their errors are problem documents, never
/// pages.
fn is_api_path(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || path.starts_with("/webhooks/")
        || path == "/metrics"
}

/// `ErrorHandlers` default handler: gives every 4xx and 5xx response our
/// body, whoever produced it (a handler, an extractor, the router).
pub fn render_error<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // A handler that answered an error status with a body of its own (e.g.
    // `/readyz`) meant it; only errors and empty bodies are rewritten.
    let deliberate = res.response().error().is_none()
        && !matches!(
            res.response().body().size(),
            BodySize::None | BodySize::Sized(0)
        );
    if deliberate {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let request_id = res
        .request()
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string);
    let ours = res
        .response()
        .error()
        .and_then(|e| e.as_error::<WebError>());
    let code = ours.map_or_else(|| code_for_status(status), WebError::code);

    if status == StatusCode::SERVICE_UNAVAILABLE
        && disk_full(&res)
        && let Some(db) = res.request().app_data::<actix_web::web::Data<Db>>()
    {
        db.write_health().note_disk_full();
    }
    if status.is_server_error() {
        let cause = res
            .response()
            .error()
            .map(|e| match e.as_error::<WebError>() {
                Some(WebError::Unavailable(inner) | WebError::Unexpected(inner)) => {
                    format!("{inner:#}")
                }
                _ => format!("{e}"),
            })
            .unwrap_or_default();
        tracing::error!(status = status.as_u16(), code, cause, "request failed");
    }

    // The detail for a client error is safe to show: it describes their
    // input (e.g. "unknown field `x`"). A server error gets a generic one.
    let detail = if status.is_client_error() {
        res.response()
            .error()
            .map(ToString::to_string)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| human_message(status).to_owned())
    } else {
        human_message(status).to_owned()
    };
    let title = status.canonical_reason().unwrap_or("Error");

    let (content_type, body) = if is_api_path(res.request().path()) {
        let extensions = match ours {
            Some(WebError::Problem(p)) => p.extensions.clone(),
            _ => serde_json::Map::new(),
        };
        let problem = ProblemDocument {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            code,
            detail,
            request_id: request_id.clone(),
            extensions,
        };
        let json = serde_json::to_string(&problem).unwrap_or_else(|_| "{}".to_owned());
        ("application/problem+json", json)
    } else {
        let page = Page::for_request(res.request());
        // A refusal we chose explains itself; anything else gets the
        // generic sentence for its status.
        let message = match ours {
            Some(WebError::Problem(p)) if status.is_client_error() => p.detail.clone(),
            _ => human_message(status).to_owned(),
        };
        let html = ErrorPage {
            page,
            status: status.as_u16(),
            title,
            message: &message,
            request_id: request_id.clone(),
        }
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>{title}</title><h1>{title}</h1>"));
        ("text/html; charset=utf-8", html)
    };

    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.append_header((name.clone(), value.clone()));
        }
    }
    new.insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    let res = ServiceResponse::new(req, new.body(body)).map_into_right_body::<B>();
    Ok(ErrorHandlerResponse::Response(res))
}

/// The fallback for every unmatched route.
pub async fn not_found() -> Result<HttpResponse, WebError> {
    Err(WebError::NotFound)
}

/// Whether an answer's error is a write that failed for lack of space.
fn disk_full<B>(res: &ServiceResponse<B>) -> bool {
    let Some(WebError::Unavailable(inner)) = res
        .response()
        .error()
        .and_then(|e| e.as_error::<WebError>())
    else {
        return false;
    };
    inner.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .is_some_and(is_disk_full)
    })
}

impl From<PersonalDataError> for WebError {
    fn from(e: PersonalDataError) -> Self {
        match e {
            PersonalDataError::NotFound => WebError::NotFound,
            PersonalDataError::Unexpected(e) => e.into(),
            other => WebError::BadRequest {
                code: "personal_data",
                detail: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_code() {
        assert_eq!(code_for_status(StatusCode::NOT_FOUND), "not_found");
        assert_eq!(code_for_status(StatusCode::IM_A_TEAPOT), "client_error");
        assert_eq!(code_for_status(StatusCode::BAD_GATEWAY), "server_error");
    }

    #[test]
    fn database_outages_are_503() {
        let err: WebError = sqlx::Error::PoolTimedOut.into();
        assert_eq!(err.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let err: WebError = anyhow::Error::new(sqlx::Error::PoolTimedOut)
            .context("loading products")
            .into();
        assert_eq!(err.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let err: WebError = sqlx::Error::RowNotFound.into();
        assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
