//! What the vendor sells, as customers see it.

use anyhow::Context;

use crate::store::{Db, products};

/// A product on the home page.
#[derive(Debug, Clone)]
pub struct ProductSummary {
    pub code: String,
    pub name: String,
    pub description: String,
    pub offers_trial: bool,
}

pub async fn list_products(db: &Db) -> anyhow::Result<Vec<ProductSummary>> {
    let rows = products::list_active(db.pool())
        .await
        .context("listing products")?;
    Ok(rows
        .into_iter()
        .map(|p| ProductSummary {
            code: p.code,
            name: p.name,
            description: p.description,
            offers_trial: p.trial_types > 0,
        })
        .collect())
}
