//! Offers (API tokens): a license type sold through one Stripe or Paddle
//! price, and checkouts a vendor's own site starts for a customer.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::id::{LicenseId, OfferId, OrganizationId, is_well_formed};
use crate::domain::payments::{Billing, CheckoutPurpose, Provider, RefundPolicy};
use crate::services::api_tokens::Scope;
use crate::services::payments::checkout::{self, CheckoutFor};
use crate::services::payments::offers::{self, OfferInput, OfferRow};
use crate::store::Db;
use crate::web::api::ProblemDoc;
use crate::web::api::auth::ApiClient;
use crate::web::api::idempotency::{self, Reply};
use crate::web::api::{invalid, parse_json, token_ctx};
use crate::web::error::WebError;

/// An offer as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OfferJson {
    pub id: String,
    pub license_type_id: String,
    pub name: String,
    /// `stripe` or `paddle`.
    pub provider: String,
    pub price_id: String,
    pub checkout_url: Option<String>,
    /// `one_time` or `subscription`.
    pub billing: String,
    pub duration_days: Option<i64>,
    pub max_machines: Option<i64>,
    /// `null`: the license type's entitlements.
    pub entitlements: Option<Vec<String>>,
    /// `suspend` or `leave`: what a refund or a chargeback does.
    pub on_refund: String,
    pub retired_at: Option<i64>,
    pub created_at: i64,
}

impl From<OfferRow> for OfferJson {
    fn from(row: OfferRow) -> Self {
        let entitlements = row.entitlement_codes();
        Self {
            id: row.id,
            license_type_id: row.license_type_id,
            name: row.name,
            provider: row.provider.as_str().to_owned(),
            price_id: row.price_id,
            checkout_url: row.checkout_url,
            billing: row.billing.as_str().to_owned(),
            duration_days: row.duration_days,
            max_machines: row.max_machines,
            entitlements,
            on_refund: row.on_refund.as_str().to_owned(),
            retired_at: row.retired_at,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferBody {
    license_type_id: String,
    name: String,
    /// `stripe` or `paddle`.
    provider: String,
    /// Stripe `price_…` or Paddle `pri_…`: how the provider's events name it.
    #[serde(alias = "price")]
    price_id: String,
    /// A Stripe Payment Link (`https://buy.stripe.com/…`): where "Buy" goes.
    #[serde(alias = "payment_link", alias = "payment_link_url")]
    checkout_url: Option<String>,
    /// `one_time` (also `one-time`, `payment`) or `subscription` (also
    /// `recurring`).
    billing: String,
    /// One-time offers: the days a purchase runs (absent: the type's).
    duration_days: Option<i64>,
    /// Absent: the type's seats.
    max_machines: Option<i64>,
    /// Absent: the type's entitlements.
    entitlements: Option<Vec<String>>,
    /// `suspend` (default) or `leave`.
    on_refund: Option<String>,
}

fn word<T: std::str::FromStr>(field: &'static str, text: &str, known: &str) -> Result<T, WebError> {
    text.parse()
        .map_err(|_| invalid(field, format!("must be {known}")))
}

/// The billing word, with the spellings vendors bring from the providers.
fn billing(text: &str) -> Result<Billing, WebError> {
    match text {
        "one-time" | "payment" | "once" => Ok(Billing::OneTime),
        "recurring" => Ok(Billing::Subscription),
        other => word::<Billing>("billing", other, "one_time or subscription"),
    }
}

/// Create an offer
///
/// Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/offers", tag = "payments",
    request_body = OfferBody, security(("token" = ["write"])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer on retry")),
    responses((status = 201, body = OfferJson),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn create_offer(
    req: HttpRequest,
    client: ApiClient,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let parsed: OfferBody = parse_json(&req, &body)?;
    if !is_well_formed(&parsed.license_type_id) {
        return Err(invalid("license_type_id", "is not an id"));
    }
    if parsed.entitlements.as_ref().is_some_and(|e| e.len() > 100) {
        return Err(invalid("entitlements", "at most 100 codes"));
    }
    let input = OfferInput {
        license_type_id: parsed.license_type_id,
        name: parsed.name,
        provider: word::<Provider>("provider", &parsed.provider, "stripe or paddle")?,
        price_id: parsed.price_id,
        checkout_url: parsed.checkout_url,
        billing: billing(&parsed.billing)?,
        duration_days: parsed.duration_days,
        max_machines: parsed.max_machines,
        entitlements: parsed.entitlements,
        on_refund: match parsed.on_refund.as_deref() {
            None => RefundPolicy::Suspend,
            Some(text) => word::<RefundPolicy>("on_refund", text, "suspend or leave")?,
        },
    };
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &body, || async {
        let offer = offers::create_offer(&ctx, &input).await?;
        let location = format!("/api/v1/offers/{}", offer.id);
        Ok(Reply::json(StatusCode::CREATED, &OfferJson::from(offer))?.at(location))
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OfferFilter {
    /// Only this license type's offers.
    license_type_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OfferList {
    pub data: Vec<OfferJson>,
}

/// List offers
#[utoipa::path(get, path = "/api/v1/offers", tag = "payments",
    params(OfferFilter), security(("token" = ["read"])),
    responses((status = 200, body = OfferList)))]
pub async fn list_offers(
    _client: ApiClient,
    filter: web::Query<OfferFilter>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    if let Some(id) = &filter.license_type_id
        && !is_well_formed(id)
    {
        return Err(invalid("license_type_id", "is not an id"));
    }
    let rows = offers::list_offers(&db, filter.license_type_id.as_deref()).await?;
    Ok(HttpResponse::Ok().json(OfferList {
        data: rows.into_iter().map(OfferJson::from).collect(),
    }))
}

fn offer_id(text: &str) -> Result<OfferId, WebError> {
    OfferId::parse(text).map_err(|_| WebError::NotFound)
}

/// Get an offer
#[utoipa::path(get, path = "/api/v1/offers/{id}", tag = "payments",
    params(("id" = String, Path)), security(("token" = ["read"])),
    responses((status = 200, body = OfferJson),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn get_offer(
    _client: ApiClient,
    path: web::Path<String>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    let id = offer_id(&path)?;
    let offer = offers::get_offer(&db, id.as_str())
        .await
        .map_err(not_found)?;
    Ok(HttpResponse::Ok().json(OfferJson::from(offer)))
}

/// An offer named in the path that does not exist is a 404, not a 422.
fn not_found(e: crate::services::catalog::CatalogError) -> WebError {
    match e {
        crate::services::catalog::CatalogError::NotFound(_) => WebError::NotFound,
        other => other.into(),
    }
}

/// Retire an offer
///
/// No longer sold; licenses it sold keep renewing through it. Accepts
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/offers/{id}/retire", tag = "payments",
    params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer on retry")),
    security(("token" = ["write"])),
    responses((status = 200, body = OfferJson),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn retire_offer(
    req: HttpRequest,
    client: ApiClient,
    path: web::Path<String>,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let id = offer_id(&path)?;
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &body, || async {
        let offer = offers::retire_offer(&ctx, id.as_str())
            .await
            .map_err(not_found)?;
        Reply::json(StatusCode::OK, &OfferJson::from(offer))
    })
    .await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// `buy` (default), `upgrade` or `renew`.
    purpose: Option<String>,
    /// The customer's organization: a purchase is issued to it.
    organization_id: Option<String>,
    /// The license to upgrade or renew.
    license_id: Option<String>,
    /// Prefilled at the checkout; without an organization, the license is
    /// issued to this address to claim.
    email: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckoutJson {
    /// The opaque reference the provider carries back.
    pub reference: String,
    /// Where to send the customer (a Stripe Payment Link with the
    /// reference); `null` for Paddle: pass the reference to Paddle.js as
    /// `customData: {licensor_reference: …}`.
    pub url: Option<String>,
}

/// Start a checkout
///
/// A fresh reference tied to the offer and, for the customer, their
/// organization (and the license to upgrade or renew); the payment that
/// carries it back is applied to exactly that.
#[utoipa::path(post, path = "/api/v1/offers/{id}/checkout", tag = "payments",
    params(("id" = String, Path)), request_body = CheckoutBody, security(("token" = ["write"])),
    responses((status = 201, body = CheckoutJson),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn start_checkout(
    req: HttpRequest,
    client: ApiClient,
    path: web::Path<String>,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let id = offer_id(&path)?;
    let parsed: CheckoutBody = if body.is_empty() {
        CheckoutBody::default()
    } else {
        parse_json(&req, &body)?
    };
    let purpose = match parsed.purpose.as_deref() {
        None => CheckoutPurpose::Buy,
        Some(text) => word::<CheckoutPurpose>("purpose", text, "buy, upgrade or renew")?,
    };
    let organization = parsed
        .organization_id
        .as_deref()
        .map(OrganizationId::parse)
        .transpose()
        .map_err(|_| invalid("organization_id", "is not an id"))?;
    let license = parsed
        .license_id
        .as_deref()
        .map(LicenseId::parse)
        .transpose()
        .map_err(|_| invalid("license_id", "is not an id"))?;
    if let Some(email) = &parsed.email
        && crate::domain::email::EmailAddress::parse(email).is_err()
    {
        return Err(invalid("email", "is not an email address"));
    }
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    let who = CheckoutFor {
        purpose,
        organization_id: organization.as_ref(),
        license_id: license.as_ref(),
        email: parsed.email.as_deref(),
    };
    let started = checkout::start_checkout(&ctx, id.as_str(), &who)
        .await
        .map_err(not_found)?;
    Ok(HttpResponse::Created().json(CheckoutJson {
        reference: started.reference,
        url: started.redirect,
    }))
}
