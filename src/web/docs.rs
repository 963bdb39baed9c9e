//! The integration guides, served as they are in the repository, so that
//! the console can link to them: `GET /docs/{name}.md`.

use actix_web::{HttpResponse, web};

use crate::web::error::WebError;

/// The guides a vendor's developers and support staff read.
const GUIDES: [(&str, &str); 3] = [
    ("api", include_str!("../../docs/api.md")),
    ("webhooks", include_str!("../../docs/webhooks.md")),
    ("license-file", include_str!("../../docs/license-file.md")),
];

/// `GET /docs/{name}.md`: the guide as Markdown text.
pub async fn guide(path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let name = path.strip_suffix(".md").unwrap_or(&path);
    let (_, text) = GUIDES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or(WebError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type("text/markdown; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(*text))
}
