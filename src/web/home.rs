//! The home page: the vendor's products and the way in.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::services::catalog::{self, ProductSummary};
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{Page, render};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    page: Page,
    products: Vec<ProductSummary>,
}

/// `GET /`
pub async fn home(page: Page, db: web::Data<Db>) -> Result<HttpResponse, WebError> {
    let products = catalog::list_products(&db).await?;
    render(&HomePage { page, products })
}
