use sqlx::{AnyPool, FromRow};

use crate::domain::time::Timestamp;
use crate::store::Tx;

/// A product as the home page lists it.
#[derive(Debug, Clone, FromRow)]
pub struct ProductListing {
    pub id: String,
    pub code: String,
    pub name: String,
    pub description: String,
    /// How many open license types offer a self-service trial.
    pub trial_types: i64,
    /// How many offers sell it now.
    pub offers: i64,
}

#[derive(Debug)]
pub struct NewProduct<'a> {
    pub id: &'a str,
    pub code: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub activation_instructions: &'a str,
    pub download_url: Option<&'a str>,
}

/// Products on sale (not retired), by name.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_active(pool: &AnyPool) -> Result<Vec<ProductListing>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.code, p.name, p.description, \
         (SELECT COUNT(*) FROM license_types lt WHERE lt.product_id = p.id \
          AND lt.self_service_trial = 1 AND lt.retired_at IS NULL) AS trial_types, \
         (SELECT COUNT(*) FROM offers o JOIN license_types t ON t.id = o.license_type_id \
          WHERE t.product_id = p.id AND o.retired_at IS NULL AND t.retired_at IS NULL) AS offers \
         FROM products p WHERE p.retired_at IS NULL ORDER BY p.name, p.id",
    )
    .fetch_all(pool)
    .await
}

/// Inserts the product unless one with the same code exists; returns the
/// id of the product with that code either way, and whether it is new.
#[tracing::instrument(level = "debug", skip_all, fields(code = product.code))]
pub async fn insert_if_absent(
    tx: &mut Tx,
    product: &NewProduct<'_>,
    now: Timestamp,
) -> Result<(String, bool), sqlx::Error> {
    let inserted: Option<(String,)> = sqlx::query_as(
        "INSERT INTO products (id, code, name, description, activation_instructions, \
         download_url, created_at) \
         VALUES ($1, $2, $3, $4, $5, $7, $6) ON CONFLICT (code) DO NOTHING RETURNING id",
    )
    .bind(product.id)
    .bind(product.code)
    .bind(product.name)
    .bind(product.description)
    .bind(product.activation_instructions)
    .bind(now.unix())
    .bind(product.download_url)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((id,)) = inserted {
        return Ok((id, true));
    }
    let (id,): (String,) = sqlx::query_as("SELECT id FROM products WHERE code = $1")
        .bind(product.code)
        .fetch_one(&mut **tx)
        .await?;
    Ok((id, false))
}

#[derive(Debug, Clone, FromRow)]
pub struct ProductRow {
    pub id: String,
    pub code: String,
    pub name: String,
    pub description: String,
    pub activation_instructions: String,
    /// Where customers download the application; `None`: the portal shows
    /// copy-paste activation commands instead.
    pub download_url: Option<String>,
    pub retired_at: Option<i64>,
    pub created_at: i64,
}

macro_rules! select_product {
    () => {
        "SELECT id, code, name, description, activation_instructions, download_url, retired_at, \
         created_at FROM products "
    };
}

pub async fn find_by_id(pool: &AnyPool, id: &str) -> Result<Option<ProductRow>, sqlx::Error> {
    sqlx::query_as(concat!(select_product!(), "WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// A page of products in id order, after the cursor.
pub async fn list_page(
    pool: &AnyPool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ProductRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_product!(),
        "WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A product's activation instructions, read inside a write transaction
/// (for the welcome message it enqueues).
pub async fn activation_instructions(
    tx: &mut crate::store::Tx,
    id: &str,
) -> Result<String, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT activation_instructions FROM products WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(text,)| text).unwrap_or_default())
}

/// What customers read about a product, and where they get it.
#[derive(Debug, Clone, Copy)]
pub struct ProductText<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub activation_instructions: &'a str,
    pub download_url: Option<&'a str>,
}

/// Changes what customers read about a product.
pub async fn update_text(
    tx: &mut crate::store::Tx,
    id: &str,
    text: &ProductText<'_>,
) -> Result<bool, sqlx::Error> {
    // Every license shows its product's name.
    tx.touch_all_licenses();
    let res = sqlx::query(
        "UPDATE products SET name = $2, description = $3, activation_instructions = $4, \
         download_url = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(text.name)
    .bind(text.description)
    .bind(text.activation_instructions)
    .bind(text.download_url)
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}
