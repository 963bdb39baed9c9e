//! Buying, upgrading and renewing from the portal: the offers a customer
//! can pay for, and the step to the provider's checkout with a fresh
//! reference (a Stripe Payment Link, or Paddle's overlay opened by
//! Paddle.js on Licensor's own page).

use actix_session::Session;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::id::OrganizationId;
use crate::domain::payments::{Billing, CheckoutPurpose, Provider};
use crate::services::catalog::CatalogError;
use crate::services::payments::checkout::{self, CheckoutFor};
use crate::services::payments::offers::{self, OfferForSale};
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, flash, render_private, see_other};
use crate::web::payments::ProviderSecrets;
use crate::web::portal::licenses::owned;
use crate::web::portal::{SignedIn, customer_ctx};

/// An offer as a button.
pub struct OfferButton {
    pub id: String,
    pub name: String,
    pub product_name: String,
    pub type_name: String,
    /// "per period, renews by itself" or "for 365 days".
    pub terms: String,
}

impl OfferButton {
    fn new(o: &OfferForSale) -> Self {
        let terms = match (o.offer.billing, o.offer.duration_days) {
            (Billing::Subscription, _) => {
                "a subscription: renews by itself until canceled".to_owned()
            }
            (Billing::OneTime, Some(days)) => format!("one payment, for {days} days"),
            (Billing::OneTime, None) => "one payment".to_owned(),
        };
        Self {
            id: o.offer.id.clone(),
            name: o.offer.name.clone(),
            product_name: o.product_name.clone(),
            type_name: o.type_name.clone(),
            terms,
        }
    }
}

#[derive(Template)]
#[template(path = "portal/offers.html")]
struct OffersPage {
    page: Page,
    heading: String,
    purpose: &'static str,
    license_id: String,
    offers: Vec<OfferButton>,
}

#[derive(Debug, Default, Deserialize)]
pub struct BuyQuery {
    #[serde(default)]
    product: String,
}

/// `GET /buy[?product=…]`: what can be bought.
pub async fn buy_page(
    FormPage(page): FormPage,
    who: SignedIn,
    query: web::Query<BuyQuery>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    who.require_verified()?;
    let offers = offers::offers_for_sale(&db)
        .await?
        .iter()
        .filter(|o| query.product.is_empty() || o.product_id == query.product)
        .map(OfferButton::new)
        .collect();
    render_private(&OffersPage {
        page: page.titled("Buy a license"),
        heading: "Buy a license".to_owned(),
        purpose: CheckoutPurpose::Buy.as_str(),
        license_id: String::new(),
        offers,
    })
}

/// `GET /licenses/{id}/renew`: the offers of the license's product.
pub async fn renew_page(
    page: FormPage,
    who: SignedIn,
    path: web::Path<String>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    license_offers(page, who, &path, CheckoutPurpose::Renew, &db).await
}

/// `GET /licenses/{id}/upgrade`: a trial's way to the paid license.
pub async fn upgrade_page(
    page: FormPage,
    who: SignedIn,
    path: web::Path<String>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    license_offers(page, who, &path, CheckoutPurpose::Upgrade, &db).await
}

/// A trial is upgraded, a paid license renewed, whichever link was used.
async fn license_offers(
    FormPage(page): FormPage,
    who: SignedIn,
    id: &str,
    asked: CheckoutPurpose,
    db: &Db,
) -> Result<HttpResponse, WebError> {
    who.require_verified()?;
    let license = owned(db, &who, id).await?;
    let purpose = match (asked, license.is_trial) {
        (CheckoutPurpose::Upgrade, false) => {
            return Ok(see_other(&format!("/licenses/{id}/renew")));
        }
        (CheckoutPurpose::Renew, true) => {
            return Ok(see_other(&format!("/licenses/{id}/upgrade")));
        }
        (purpose, _) => purpose,
    };
    let offers = offers::offers_for_sale(db)
        .await?
        .iter()
        .filter(|o| o.product_id == license.product_id.as_str())
        .map(OfferButton::new)
        .collect();
    let heading = match purpose {
        CheckoutPurpose::Upgrade => format!("Upgrade your {} trial", license.product_name),
        _ => format!("Renew your {} license", license.product_name),
    };
    render_private(&OffersPage {
        page: page.titled(&heading),
        heading,
        purpose: purpose.as_str(),
        license_id: license.id.to_string(),
        offers,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    offer_id: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    license_id: String,
}

#[derive(Template)]
#[template(path = "portal/paddle_checkout.html")]
struct PaddlePage {
    page: Page,
    offer_name: String,
    token: String,
    sandbox: bool,
    price_id: String,
    email: String,
    reference: String,
    back: String,
}

/// `POST /checkout`: a reference for this customer's organization (and
/// license), then the provider's checkout.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    FormPage(page): FormPage,
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    form: web::Form<CheckoutForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    providers: web::Data<ProviderSecrets>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let purpose: CheckoutPurpose = form.purpose.parse().map_err(|_| WebError::NotFound)?;
    let license = match form.license_id.as_str() {
        "" => None,
        id => Some(owned(&db, &who, id).await?.id),
    };
    let back = license
        .as_ref()
        .map_or_else(|| "/buy".to_owned(), |id| format!("/licenses/{id}"));
    let organization =
        OrganizationId::parse(who.organization_id()?).map_err(|_| WebError::NotFound)?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    let who_pays = CheckoutFor {
        purpose,
        organization_id: Some(&organization),
        license_id: license.as_ref(),
        email: Some(who.user.email.as_str()),
    };
    let started = match checkout::start_checkout(&ctx, &form.offer_id, &who_pays).await {
        Ok(started) => started,
        Err(CatalogError::Unexpected(e)) => return Err(e.into()),
        Err(CatalogError::NotFound(_)) => return Err(WebError::NotFound),
        Err(refused) => {
            flash(&session, &refused.to_string());
            return Ok(see_other(&back));
        }
    };
    match (started.offer.provider, started.redirect) {
        (_, Some(url)) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()),
        (Provider::Paddle, None) => {
            let Some(token) = providers.0.paddle_client_token.clone() else {
                flash(
                    &session,
                    "Paying through Paddle is not set up yet; please contact us to buy.",
                );
                return Ok(see_other(&back));
            };
            let mut res = render_private(&PaddlePage {
                page: page.titled("Checkout"),
                offer_name: started.offer.name.clone(),
                sandbox: token.starts_with("test_"),
                token,
                price_id: started.offer.price_id.clone(),
                email: who.user.email.clone(),
                reference: started.reference,
                back,
            })?;
            // Paddle.js and its checkout frame, on this page only.
            res.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                header::HeaderValue::from_static(PADDLE_PAGE_POLICY),
            );
            Ok(res)
        }
        (Provider::Stripe, None) => Err(WebError::Unexpected(anyhow::anyhow!(
            "a Stripe checkout without its Payment Link"
        ))),
    }
}

const PADDLE_PAGE_POLICY: &str = "default-src 'self'; script-src 'self' https://cdn.paddle.com; \
     style-src 'self' 'unsafe-inline' https://cdn.paddle.com; \
     frame-src https://*.paddle.com; connect-src 'self' https://*.paddle.com; \
     img-src 'self' data: https://*.paddle.com; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";
