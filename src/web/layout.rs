//! What every page's handler shares: the page (`web::page`) as an
//! extractor, the CSRF check, rendering, and the 303s of post/redirect/get.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;

use crate::web::error::{Problem, WebError};

pub use crate::web::page::{
    CSRF, FLASH, ONBOARDED, Page, STAFF, Site, USER_EMAIL, csrf_token, flash,
};

/// Refuses a state-changing form whose token is missing or wrong; nothing
/// is changed and the person sees a page that says what to do.
pub fn check_csrf(session: &Session, submitted: &str) -> Result<(), WebError> {
    let expected = session
        .get::<String>(CSRF)
        .ok()
        .flatten()
        .unwrap_or_default();
    let equal = !expected.is_empty()
        && expected.len() == submitted.len()
        && expected
            .bytes()
            .zip(submitted.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if equal {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        )
        .into())
    }
}

/// A form whose only field is the CSRF token (a button that changes state).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

impl FromRequest for Page {
    type Error = WebError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Page::for_request(req)))
    }
}

/// A page that shows a form: its session gets a CSRF token if it had none.
pub struct FormPage(pub Page);

impl FromRequest for FormPage {
    type Error = WebError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut page = Page::for_request(req);
        page.csrf = csrf_token(&req.get_session());
        ready(Ok(FormPage(page)))
    }
}

/// Renders a template as an HTML response.
pub fn render(template: &impl Template) -> Result<HttpResponse, WebError> {
    render_status(StatusCode::OK, template)
}

/// Renders a template with a status (e.g. 422 for a form with errors).
pub fn render_status(
    status: StatusCode,
    template: &impl Template,
) -> Result<HttpResponse, WebError> {
    let html = template
        .render()
        .map_err(|e| WebError::Unexpected(anyhow::Error::new(e).context("rendering a page")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// A page that holds personal data: never stored by caches.
pub fn render_private(template: &impl Template) -> Result<HttpResponse, WebError> {
    render_private_status(StatusCode::OK, template)
}

/// [`render_private`] with a status (a form with errors, say).
pub fn render_private_status(
    status: StatusCode,
    template: &impl Template,
) -> Result<HttpResponse, WebError> {
    let mut res = render_status(status, template)?;
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

/// 303 See Other to `location` (after a form post).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `GET` on a form's target (back or reload after a post): the page the
/// form is on, rather than a 405.
pub fn back_to(page: &'static str) -> actix_web::Route {
    web::get().to(move || async move { see_other(page) })
}

/// [`back_to`] the page `levels` path segments up (`/licenses/{id}/reveal`
/// with 1: `/licenses/{id}`).
pub fn up(levels: usize) -> actix_web::Route {
    web::get().to(move |req: HttpRequest| async move {
        let mut path = req.path().trim_end_matches('/');
        for _ in 0..levels {
            path = path.rsplit_once('/').map_or("", |(head, _)| head);
        }
        see_other(if path.is_empty() { "/" } else { path })
    })
}

/// A JSON document as a download that no cache keeps (a person's data).
pub fn json_download(file_name: &str, document: &serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{file_name}\""),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(serde_json::to_string_pretty(document).unwrap_or_default())
}
