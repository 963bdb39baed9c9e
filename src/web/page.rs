//! The page every template gets as `page`: the vendor's name, the
//! stylesheet, the signed-in user, the CSRF token for its forms and a
//! one-time flash message, read from the session.

use actix_session::{Session, SessionExt};
use actix_web::{HttpRequest, web};

use crate::web::assets::Assets;

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
