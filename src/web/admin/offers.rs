//! A product's offers in the console: what each license type sells
//! through which provider price, with the terms a purchase grants; new
//! offers and retirement. Admins only, like the rest of the catalog.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::id::{OfferId, ProductId};
use crate::domain::payments::{Billing, Provider, RefundPolicy};
use crate::domain::role::Capability;
use crate::services::catalog::CatalogError;
use crate::services::payments::offers::{self, OfferInput, OfferRow};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::admin::catalog::{Retry, refused};
use crate::web::error::WebError;
use crate::web::layout::{FormPage, check_csrf, flash, see_other};

/// An offer as the product page lists it.
pub struct OfferLine {
    pub id: String,
    pub name: String,
    pub type_name: String,
    pub provider: &'static str,
    pub price_id: String,
    pub terms: String,
    pub retired: bool,
}

impl OfferLine {
    fn new(o: OfferRow, type_name: &str) -> Self {
        let mut terms = vec![match (o.billing, o.duration_days) {
            (Billing::Subscription, _) => "subscription: follows its periods".to_owned(),
            (Billing::OneTime, Some(d)) => format!("one-time, {d} days"),
            (Billing::OneTime, None) => "one-time, the type's duration".to_owned(),
        }];
        if let Some(seats) = o.max_machines {
            terms.push(format!("{seats} seats"));
        }
        if let Some(codes) = o.entitlement_codes() {
            terms.push(format!("features: {}", codes.join(", ")));
        }
        terms.push(match o.on_refund {
            RefundPolicy::Suspend => "a refund suspends".to_owned(),
            RefundPolicy::Leave => "a refund leaves it".to_owned(),
        });
        Self {
            retired: o.retired_at.is_some(),
            id: o.id,
            name: o.name,
            type_name: type_name.to_owned(),
            provider: o.provider.as_str(),
            price_id: o.price_id,
            terms: terms.join(" · "),
        }
    }
}

/// The offers of these license types (id, name), newest first.
pub async fn lines(db: &Db, types: &[(String, String)]) -> Result<Vec<OfferLine>, WebError> {
    let mut lines = Vec::new();
    for (type_id, type_name) in types {
        for offer in offers::list_offers(db, Some(type_id)).await? {
            lines.push(OfferLine::new(offer, type_name));
        }
    }
    Ok(lines)
}

/// The new-offer form, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct OfferForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub license_type_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub price_id: String,
    #[serde(default)]
    pub checkout_url: String,
    #[serde(default)]
    pub billing: String,
    #[serde(default)]
    pub duration_days: String,
    #[serde(default)]
    pub max_machines: String,
    #[serde(default)]
    pub entitlements: String,
    #[serde(default)]
    pub on_refund: String,
}

fn optional_number(field: &'static str, text: &str) -> Result<Option<i64>, CatalogError> {
    match text.trim() {
        "" => Ok(None),
        t => t
            .parse()
            .map(Some)
            .map_err(|_| CatalogError::invalid(field, "Enter a whole number, or leave it empty.")),
    }
}

impl OfferForm {
    fn input(&self) -> Result<OfferInput, CatalogError> {
        let word = |field: &'static str, text: &str, known: &str| {
            CatalogError::invalid(field, format!("Choose {known} ({text:?} is not one)."))
        };
        let entitlements: Vec<String> = self
            .entitlements
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(OfferInput {
            license_type_id: self.license_type_id.clone(),
            name: self.name.clone(),
            provider: self
                .provider
                .parse::<Provider>()
                .map_err(|_| word("provider", &self.provider, "Stripe or Paddle"))?,
            price_id: self.price_id.trim().to_owned(),
            checkout_url: Some(self.checkout_url.trim().to_owned()).filter(|u| !u.is_empty()),
            billing: self
                .billing
                .parse::<Billing>()
                .map_err(|_| word("billing", &self.billing, "one-time or subscription"))?,
            duration_days: optional_number("duration_days", &self.duration_days)?,
            max_machines: optional_number("max_machines", &self.max_machines)?,
            entitlements: (!entitlements.is_empty()).then_some(entitlements),
            on_refund: if self.on_refund == "leave" {
                RefundPolicy::Leave
            } else {
                RefundPolicy::Suspend
            },
        })
    }
}

/// `POST /admin/products/{id}/offers`
#[allow(clippy::too_many_arguments)]
pub async fn create(
    req: HttpRequest,
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<OfferForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let product = ProductId::parse(&path).map_err(|_| WebError::NotFound)?;
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    let created = match form.input() {
        Ok(input) => offers::create_offer(&ctx, &input).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(offer) => {
            flash(&session, &format!("Offer {} created.", offer.name));
            Ok(see_other(&format!(
                "/admin/products/{}#offers",
                product.as_str()
            )))
        }
        Err(e) => {
            let typed = OfferForm {
                csrf: String::new(),
                ..form.into_inner()
            };
            refused(&db, page, &product, e, "offer", |error| {
                Retry::Offer(Box::new(typed), error)
            })
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RetireForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    product_id: String,
}

/// `POST /admin/offers/{id}/retire`
pub async fn retire(
    req: HttpRequest,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<RetireForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let id = OfferId::parse(&path).map_err(|_| WebError::NotFound)?;
    let product = ProductId::parse(&form.product_id).map_err(|_| WebError::NotFound)?;
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    match offers::retire_offer(&ctx, id.as_str()).await {
        Ok(offer) => flash(
            &session,
            &format!(
                "{} is no longer sold; its subscriptions keep renewing.",
                offer.name
            ),
        ),
        Err(CatalogError::NotFound(_)) => return Err(WebError::NotFound),
        Err(CatalogError::Unexpected(e)) => return Err(e.into()),
        Err(e) => flash(&session, &format!("Not done: {e}")),
    }
    Ok(see_other(&format!(
        "/admin/products/{}#offers",
        product.as_str()
    )))
}
