//! Offers: what a customer can buy of a license type, through one
//! provider price.

use sqlx::AnyPool;

use crate::domain::payments::{Billing, Provider, RefundPolicy};
use crate::domain::time::Timestamp;
use crate::store::Tx;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfferRow {
    pub id: String,
    pub license_type_id: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub provider: Provider,
    pub price_id: String,
    pub checkout_url: Option<String>,
    #[sqlx(try_from = "String")]
    pub billing: Billing,
    pub duration_days: Option<i64>,
    pub max_machines: Option<i64>,
    /// A JSON array of entitlement codes; `None`: the type's.
    pub entitlements: Option<String>,
    #[sqlx(try_from = "String")]
    pub on_refund: RefundPolicy,
    pub retired_at: Option<i64>,
    pub created_at: i64,
}

impl OfferRow {
    /// The entitlement codes the offer grants instead of its type's.
    pub fn entitlement_codes(&self) -> Option<Vec<String>> {
        self.entitlements
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
    }
}

/// An offer with the names a customer sees.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfferForSale {
    #[sqlx(flatten)]
    pub offer: OfferRow,
    pub type_name: String,
    pub product_id: String,
    pub product_name: String,
}

macro_rules! select_offer {
    () => {
        "SELECT o.id, o.license_type_id, o.name, o.provider, o.price_id, o.checkout_url, \
         o.billing, o.duration_days, o.max_machines, o.entitlements, o.on_refund, o.retired_at, \
         o.created_at"
    };
}

#[derive(Debug)]
pub struct NewOffer<'a> {
    pub id: &'a str,
    pub license_type_id: &'a str,
    pub name: &'a str,
    pub provider: Provider,
    pub price_id: &'a str,
    pub checkout_url: Option<&'a str>,
    pub billing: Billing,
    pub duration_days: Option<i64>,
    pub max_machines: Option<i64>,
    pub entitlements: Option<&'a str>,
    pub on_refund: RefundPolicy,
}

pub async fn insert(tx: &mut Tx, offer: &NewOffer<'_>, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO offers (id, license_type_id, name, provider, price_id, checkout_url, billing, \
         duration_days, max_machines, entitlements, on_refund, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(offer.id)
    .bind(offer.license_type_id)
    .bind(offer.name)
    .bind(offer.provider.as_str())
    .bind(offer.price_id)
    .bind(offer.checkout_url)
    .bind(offer.billing.as_str())
    .bind(offer.duration_days)
    .bind(offer.max_machines)
    .bind(offer.entitlements)
    .bind(offer.on_refund.as_str())
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn find(pool: &AnyPool, id: &str) -> Result<Option<OfferRow>, sqlx::Error> {
    sqlx::query_as(concat!(select_offer!(), " FROM offers o WHERE o.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn find_in_tx(tx: &mut Tx, id: &str) -> Result<Option<OfferRow>, sqlx::Error> {
    sqlx::query_as(concat!(select_offer!(), " FROM offers o WHERE o.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// The offer of a provider's price, retired or not (a renewal of a retired
/// offer still renews).
pub async fn find_by_price(
    tx: &mut Tx,
    provider: Provider,
    price_id: &str,
) -> Result<Option<OfferRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_offer!(),
        " FROM offers o WHERE o.provider = $1 AND o.price_id = $2"
    ))
    .bind(provider.as_str())
    .bind(price_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Every offer, newest first; only one type's with `license_type_id`.
pub async fn list(
    pool: &AnyPool,
    license_type_id: Option<&str>,
) -> Result<Vec<OfferRow>, sqlx::Error> {
    match license_type_id {
        Some(type_id) => {
            sqlx::query_as(concat!(
                select_offer!(),
                " FROM offers o WHERE o.license_type_id = $1 \
                 ORDER BY o.created_at DESC, o.id DESC LIMIT 1000"
            ))
            .bind(type_id)
            .fetch_all(pool)
            .await
        }
        None => {
            sqlx::query_as(concat!(
                select_offer!(),
                " FROM offers o ORDER BY o.created_at DESC, o.id DESC LIMIT 1000"
            ))
            .fetch_all(pool)
            .await
        }
    }
}

/// The offers a customer can buy: neither they, their type nor their
/// product retired.
pub async fn for_sale(pool: &AnyPool) -> Result<Vec<OfferForSale>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_offer!(),
        ", t.name AS type_name, p.id AS product_id, p.name AS product_name \
         FROM offers o JOIN license_types t ON t.id = o.license_type_id \
         JOIN products p ON p.id = t.product_id \
         WHERE o.retired_at IS NULL AND t.retired_at IS NULL AND p.retired_at IS NULL \
         ORDER BY p.name, o.created_at, o.id"
    ))
    .fetch_all(pool)
    .await
}

/// Whether an offer sells this product now (as [`for_sale`] lists them).
pub async fn product_on_sale(pool: &AnyPool, product_id: &str) -> Result<bool, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM offers o JOIN license_types t ON t.id = o.license_type_id \
         JOIN products p ON p.id = t.product_id WHERE p.id = $1 AND o.retired_at IS NULL \
         AND t.retired_at IS NULL AND p.retired_at IS NULL",
    )
    .bind(product_id)
    .fetch_one(pool)
    .await?;
    Ok(n > 0)
}

/// Retires an offer: no longer sold; its subscriptions keep renewing.
pub async fn retire(tx: &mut Tx, id: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE offers SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL")
            .bind(now.unix())
            .bind(id)
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected() == 1)
}
