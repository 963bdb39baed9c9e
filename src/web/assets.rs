//! Static files: ours, compiled into the binary, cache-busted by a digest of
//! their content so a new release never meets a stale stylesheet.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

const APP_CSS: &str = include_str!("../../static/app.css");
const APP_JS: &str = include_str!("../../static/app.js");

#[derive(Debug, Clone)]
pub struct Assets {
    css_digest: String,
    js_digest: String,
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Default for Assets {
    fn default() -> Self {
        Self::new()
    }
}

impl Assets {
    pub fn new() -> Self {
        Self {
            css_digest: digest(APP_CSS),
            js_digest: digest(APP_JS),
        }
    }

    pub fn css_href(&self) -> String {
        format!("/static/app.css?v={}", self.css_digest)
    }

    pub fn js_href(&self) -> String {
        format!("/static/app.js?v={}", self.js_digest)
    }
}

#[derive(serde::Deserialize)]
pub struct VersionQuery {
    v: Option<String>,
}

/// `GET /static/app.css`
pub async fn app_css(
    req: HttpRequest,
    assets: web::Data<Assets>,
    query: web::Query<VersionQuery>,
) -> HttpResponse {
    serve(
        &req,
        &assets.css_digest,
        query.v.as_deref(),
        "text/css; charset=utf-8",
        APP_CSS,
    )
}

/// `GET /static/app.js`
pub async fn app_js(
    req: HttpRequest,
    assets: web::Data<Assets>,
    query: web::Query<VersionQuery>,
) -> HttpResponse {
    serve(
        &req,
        &assets.js_digest,
        query.v.as_deref(),
        "text/javascript; charset=utf-8",
        APP_JS,
    )
}

/// A static file: immutable for a year when asked for by its current
/// digest, revalidated otherwise.
fn serve(
    req: &HttpRequest,
    digest: &str,
    asked: Option<&str>,
    content_type: &str,
    body: &'static str,
) -> HttpResponse {
    let etag = format!("\"{digest}\"");
    let cache = if asked == Some(digest) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=0, must-revalidate"
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut res = if matches {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .content_type(content_type.to_owned())
            .body(body)
    };
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    res
}
