//! What every page shares: the vendor's name, the stylesheet, the signed-in
//! user, the CSRF token for its forms and a one-time flash message.
//! Templates get it as `page`.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;

use crate::web::assets::Assets;
use crate::web::error::{Problem, WebError};

/// Session entries the layout reads.
pub const CSRF: &str = "csrf";
pub const USER_EMAIL: &str = "user_email";
/// Set at sign-in for staff, so pages show the console's navigation. Access
/// is always checked against the database, never this.
pub const STAFF: &str = "staff";
pub const FLASH: &str = "flash";
/// Set once the customer's onboarding is over: the header drops "Get
/// started". Only the navigation reads it.
pub const ONBOARDED: &str = "onboarded";

/// Site-wide facts, built once at start-up.
#[derive(Debug, Clone)]
pub struct Site {
    pub vendor_name: String,
    pub public_url: url::Url,
    /// Where customers write for help (setting `support_email`).
    pub support_email: Option<String>,
    pub css_href: String,
    pub js_href: String,
}

impl Site {
    pub fn new(vendor_name: String, public_url: url::Url, assets: &Assets) -> Self {
        Self {
            vendor_name,
            public_url,
            support_email: None,
            css_href: assets.css_href(),
            js_href: assets.js_href(),
        }
    }

    pub fn with_support_email(mut self, support_email: Option<String>) -> Self {
        self.support_email = support_email;
        self
    }
}

/// The typed context of the base layout.
#[derive(Debug, Clone)]
pub struct Page {
    pub vendor_name: String,
    /// Where customers write for help, when the vendor gave an address.
    pub support_email: Option<String>,
    pub css_href: String,
    pub js_href: String,
    pub title: Option<String>,
    /// The signed-in user's email, for the header.
    pub user_email: Option<String>,
    /// The signed-in user is support staff (the header shows the console).
    pub staff: bool,
    /// The customer finished onboarding (the header drops "Get started").
    pub onboarded: bool,
    /// The session's CSRF token, for every form.
    pub csrf: String,
    pub flash: Option<String>,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            vendor_name: "Licensor".to_owned(),
            support_email: None,
            css_href: "/static/app.css".to_owned(),
            js_href: "/static/app.js".to_owned(),
            title: None,
            user_email: None,
            staff: false,
            onboarded: false,
            csrf: String::new(),
            flash: None,
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        return String::new();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session's CSRF token, created on first use.
pub fn csrf_token(session: &Session) -> String {
    match session.get::<String>(CSRF) {
        Ok(Some(token)) if !token.is_empty() => token,
        _ => {
            let token = random_token();
            let _ = session.insert(CSRF, &token);
            token
        }
    }
}

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

/// Sets the message the next page shows once.
pub fn flash(session: &Session, message: &str) {
    let _ = session.insert(FLASH, message);
}

impl Page {
    pub fn new(site: &Site, title: Option<&str>) -> Self {
        Self {
            vendor_name: site.vendor_name.clone(),
            support_email: site.support_email.clone(),
            css_href: site.css_href.clone(),
            js_href: site.js_href.clone(),
            title: title.map(str::to_owned),
            ..Self::default()
        }
    }

    pub fn titled(mut self, title: &str) -> Self {
        self.title = Some(title.to_owned());
        self
    }

    /// The page for a request. It only reads the session (an anonymous
    /// visit to a page without a form writes nothing); see [`FormPage`].
    pub fn for_request(req: &HttpRequest) -> Self {
        let mut page = req
            .app_data::<web::Data<Site>>()
            .map(|site| Page::new(site, None))
            .unwrap_or_default();
        let session = req.get_session();
        page.csrf = session
            .get::<String>(CSRF)
            .ok()
            .flatten()
            .unwrap_or_default();
        page.user_email = session.get::<String>(USER_EMAIL).ok().flatten();
        page.staff = session.get::<bool>(STAFF).ok().flatten().unwrap_or(false);
        page.onboarded = session
            .get::<bool>(ONBOARDED)
            .ok()
            .flatten()
            .unwrap_or(false);
        if session.contains_key(FLASH) {
            page.flash = session.remove_as::<String>(FLASH).and_then(Result::ok);
        }
        page
    }
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
