//! Static files: ours, compiled into the binary, cache-busted by a digest of
//! their content so a new release never meets a stale stylesheet.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

const APP_CSS: &str = include_str!("../../static/app.css");

#[derive(Debug, Clone)]
pub struct Assets {
    css_digest: String,
}

impl Default for Assets {
    fn default() -> Self {
        Self::new()
    }
}

impl Assets {
    pub fn new() -> Self {
        let digest = Sha256::digest(APP_CSS.as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        Self { css_digest: hex }
    }

    pub fn css_href(&self) -> String {
        format!("/static/app.css?v={}", self.css_digest)
    }
}

#[derive(serde::Deserialize)]
pub struct VersionQuery {
    v: Option<String>,
}

/// `GET /static/app.css`: immutable for a year when asked for by the current
/// digest, revalidated otherwise.
pub async fn app_css(
    req: HttpRequest,
    assets: web::Data<Assets>,
    query: web::Query<VersionQuery>,
) -> HttpResponse {
    let etag = format!("\"{}\"", assets.css_digest);
    let cache = if query.v.as_deref() == Some(assets.css_digest.as_str()) {
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
            .content_type("text/css; charset=utf-8")
            .body(APP_CSS)
    };
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    res
}
