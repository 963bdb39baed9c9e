//! What every page shares: the vendor's name, the stylesheet's address and
//! (once sign-in exists) the signed-in user. Templates get it as `page`.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;

use crate::web::assets::Assets;
use crate::web::error::WebError;

/// Site-wide facts, built once at start-up.
#[derive(Debug, Clone)]
pub struct Site {
    pub vendor_name: String,
    pub public_url: url::Url,
    pub css_href: String,
}

impl Site {
    pub fn new(vendor_name: String, public_url: url::Url, assets: &Assets) -> Self {
        Self {
            vendor_name,
            public_url,
            css_href: assets.css_href(),
        }
    }
}

/// The typed context of the base layout.
#[derive(Debug, Clone)]
pub struct Page {
    pub vendor_name: String,
    pub css_href: String,
    pub title: Option<String>,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            vendor_name: "Licensor".to_owned(),
            css_href: "/static/app.css".to_owned(),
            title: None,
        }
    }
}

impl Page {
    pub fn new(site: &Site, title: Option<&str>) -> Self {
        Self {
            vendor_name: site.vendor_name.clone(),
            css_href: site.css_href.clone(),
            title: title.map(str::to_owned),
        }
    }

    pub fn titled(mut self, title: &str) -> Self {
        self.title = Some(title.to_owned());
        self
    }
}

impl FromRequest for Page {
    type Error = WebError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let page = req
            .app_data::<web::Data<Site>>()
            .map(|site| Page::new(site, None))
            .unwrap_or_default();
        ready(Ok(page))
    }
}

/// Renders a template as an HTML response.
pub fn render(template: &impl Template) -> Result<HttpResponse, WebError> {
    let html = template
        .render()
        .map_err(|e| WebError::Unexpected(anyhow::Error::new(e).context("rendering a page")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}
