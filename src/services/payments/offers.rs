//! Offers: a license type sold through one provider price, with the terms
//! a purchase grants. Part of the catalog: the console and the API call
//! these.

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::id::OfferId;
use crate::domain::payments::{Billing, Provider, RefundPolicy};
use crate::services::catalog::{CatalogError, check_text};
use crate::services::context::Ctx;
use crate::services::licensing::{MAX_SEATS, is_entitlement_code};
use crate::store::events::{self, NewEvent};
use crate::store::offers::{self, NewOffer};
pub use crate::store::offers::{OfferForSale, OfferRow};
use crate::store::{Db, license_edits, license_types};

/// A new offer as asked for.
#[derive(Debug, Clone)]
pub struct OfferInput {
    pub license_type_id: String,
    pub name: String,
    pub provider: Provider,
    /// Stripe `price_…` or Paddle `pri_…`: how provider events name it.
    pub price_id: String,
    /// Where "Buy" sends the customer: a Stripe Payment Link.
    pub checkout_url: Option<String>,
    pub billing: Billing,
    /// One-time: how long a purchase runs (`None`: the type's duration);
    /// subscriptions follow their periods.
    pub duration_days: Option<i64>,
    /// `None`: the type's seats.
    pub max_machines: Option<i64>,
    /// `None`: the type's entitlements.
    pub entitlements: Option<Vec<String>>,
    pub on_refund: RefundPolicy,
}

/// A provider's price id: what its events carry, so plain ASCII.
fn check_price_id(price_id: &str) -> Result<(), CatalogError> {
    let ok = (3..=255).contains(&price_id.len())
        && price_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(CatalogError::invalid(
            "price_id",
            "Give the provider's price id, like price_1Pabc… (Stripe) or pri_01h… (Paddle).",
        ))
    }
}

fn check_checkout_url(url: Option<&str>) -> Result<(), CatalogError> {
    let Some(url) = url else {
        return Ok(());
    };
    match url::Url::parse(url) {
        Ok(parsed) if parsed.scheme() == "https" && parsed.host_str().is_some() => Ok(()),
        _ => Err(CatalogError::invalid(
            "checkout_url",
            "Give the full https:// address of the Payment Link, like https://buy.stripe.com/…",
        )),
    }
}

fn check_numbers(input: &OfferInput) -> Result<(), CatalogError> {
    if input
        .duration_days
        .is_some_and(|d| !(1..=36_500).contains(&d))
    {
        return Err(CatalogError::invalid(
            "duration_days",
            "A duration is from 1 to 36,500 days.",
        ));
    }
    if input
        .max_machines
        .is_some_and(|n| !(1..=MAX_SEATS).contains(&n))
    {
        return Err(CatalogError::invalid(
            "max_machines",
            format!("Seats are from 1 to {MAX_SEATS}."),
        ));
    }
    if let Some(bad) = input
        .entitlements
        .iter()
        .flatten()
        .find(|c| !is_entitlement_code(c))
    {
        return Err(CatalogError::invalid(
            "entitlements",
            format!("{bad:?} is not an entitlement code."),
        ));
    }
    Ok(())
}

pub async fn create_offer(ctx: &Ctx<'_>, input: &OfferInput) -> Result<OfferRow, CatalogError> {
    check_text("name", "offer name", &input.name, 1, 100)?;
    check_price_id(&input.price_id)?;
    check_checkout_url(input.checkout_url.as_deref())?;
    check_numbers(input)?;
    let now = ctx.clock.now();
    let id = OfferId::new();
    let mut tx = ctx.db.begin_write().await?;
    let result = insert(ctx, &mut tx, &id, input, now).await;
    tx.finish(result, "the offer").await?;
    tracing::info!(offer_id = %id, price_id = %input.price_id, "offer created");
    offers::find(ctx.db.pool(), id.as_str())
        .await?
        .ok_or(CatalogError::NotFound("offer"))
}

async fn insert(
    ctx: &Ctx<'_>,
    tx: &mut crate::store::Tx,
    id: &OfferId,
    input: &OfferInput,
    now: crate::domain::time::Timestamp,
) -> Result<(), CatalogError> {
    let lt = license_types::find_by_id(&mut **tx, &input.license_type_id)
        .await?
        .ok_or_else(|| CatalogError::invalid("license_type_id", "No such license type."))?;
    if lt.retired_at.is_some() {
        return Err(CatalogError::invalid(
            "license_type_id",
            "This license type is retired; sell a current one.",
        ));
    }
    let entitlements = match &input.entitlements {
        Some(codes) => {
            let unknown = license_edits::unknown_entitlements(tx, codes).await?;
            if !unknown.is_empty() {
                return Err(CatalogError::invalid(
                    "entitlements",
                    format!("No entitlement is called {}.", unknown.join(", ")),
                ));
            }
            Some(serde_json::to_string(codes).context("entitlements as JSON")?)
        }
        None => None,
    };
    let inserted = offers::insert(
        tx,
        &NewOffer {
            id: id.as_str(),
            license_type_id: &lt.id,
            name: input.name.trim(),
            provider: input.provider,
            price_id: &input.price_id,
            checkout_url: input.checkout_url.as_deref(),
            billing: input.billing,
            duration_days: input.duration_days,
            max_machines: input.max_machines,
            entitlements: entitlements.as_deref(),
            on_refund: input.on_refund,
        },
        now,
    )
    .await;
    if let Err(e) = inserted {
        if e.as_database_error()
            .is_some_and(|d| d.is_unique_violation())
        {
            return Err(CatalogError::Conflict(format!(
                "an offer already sells the {} price {}",
                input.provider, input.price_id
            )));
        }
        return Err(e.into());
    }
    let mut event = NewEvent::new(EventKind::OfferCreated, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = json!({ "offer_id": id, "license_type_id": lt.id,
                         "provider": input.provider.as_str(), "price_id": input.price_id });
    events::insert(tx, now, &event).await?;
    Ok(())
}

pub async fn get_offer(db: &Db, id: &str) -> Result<OfferRow, CatalogError> {
    offers::find(db.pool(), id)
        .await?
        .ok_or(CatalogError::NotFound("offer"))
}

pub async fn list_offers(
    db: &Db,
    license_type_id: Option<&str>,
) -> Result<Vec<OfferRow>, CatalogError> {
    Ok(offers::list(db.pool(), license_type_id).await?)
}

/// What customers can buy now.
pub async fn offers_for_sale(db: &Db) -> Result<Vec<OfferForSale>, CatalogError> {
    Ok(offers::for_sale(db.pool()).await?)
}

/// Stops selling an offer; licenses it sold keep renewing through it.
pub async fn retire_offer(ctx: &Ctx<'_>, id: &str) -> Result<OfferRow, CatalogError> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let retired = offers::retire(&mut tx, id, now).await?;
    if !retired {
        tx.rollback().await?;
        return match offers::find(ctx.db.pool(), id).await? {
            Some(_) => Err(CatalogError::Conflict(
                "the offer is retired already".to_owned(),
            )),
            None => Err(CatalogError::NotFound("offer")),
        };
    }
    let mut event = NewEvent::new(EventKind::OfferRetired, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = json!({ "offer_id": id });
    events::insert(&mut tx, now, &event).await?;
    tx.commit().await.context("committing the retirement")?;
    get_offer(ctx.db, id).await
}
