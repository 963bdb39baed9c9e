//! `/admin/products`: products, and their license types with every rule
//! and entitlement. Admins only.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::id::{LicenseTypeId, ProductId};
use crate::domain::role::Capability;
use crate::services::catalog::{self, CatalogError, NewLicenseTypeInput, NewProductInput};
use crate::services::catalog::{ProductRow, ProductText};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::admin::offers::{OfferForm, OfferLine, lines as offer_lines};
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, flash, render_private_status, see_other};

#[derive(Template)]
#[template(path = "admin/products.html")]
struct ProductsPage {
    page: Page,
    products: Vec<ProductRow>,
    /// The new-product form as typed, after an error.
    typed: ProductForm,
    error: Option<FieldError>,
}

impl ProductsPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    fn bad(&self, field: &str) -> bool {
        self.error_of(field).is_some()
    }
}

async fn products_page(
    db: &Db,
    page: Page,
    status: StatusCode,
    error: Option<FieldError>,
    typed: ProductForm,
) -> Result<HttpResponse, WebError> {
    render_private_status(
        status,
        &ProductsPage {
            page: page.titled("Products"),
            products: catalog::products(db, None, 500).await?,
            typed,
            error,
        },
    )
}

/// `GET /admin/products`
pub async fn list(
    FormPage(page): FormPage,
    staff: Staff,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Administer)?;
    products_page(&db, page, StatusCode::OK, None, ProductForm::default()).await
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProductForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    activation_instructions: String,
    #[serde(default)]
    download_url: String,
}

impl ProductForm {
    fn download_url(&self) -> Option<&str> {
        Some(self.download_url.trim()).filter(|u| !u.is_empty())
    }

    /// The product's text as stored, for the edit form.
    fn of(product: &ProductRow) -> Self {
        Self {
            name: product.name.clone(),
            description: product.description.clone(),
            activation_instructions: product.activation_instructions.clone(),
            download_url: product.download_url.clone().unwrap_or_default(),
            ..Self::default()
        }
    }
}

/// `POST /admin/products`
pub async fn create(
    req: HttpRequest,
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    form: web::Form<ProductForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    let input = NewProductInput {
        code: form.code.trim().to_owned(),
        name: form.name.trim().to_owned(),
        description: form.description.trim().to_owned(),
        activation_instructions: form.activation_instructions.trim().to_owned(),
        download_url: form.download_url().map(str::to_owned),
    };
    match catalog::create_product(&ctx, &input).await {
        Ok(p) => {
            flash(&session, &format!("Product {} created.", p.code));
            Ok(see_other(&format!("/admin/products/{}", p.id)))
        }
        Err(e) => match FieldError::of("product", &e) {
            Some(error) => {
                products_page(
                    &db,
                    page,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(error),
                    ProductForm {
                        csrf: String::new(),
                        ..form.into_inner()
                    },
                )
                .await
            }
            None => Err(unexpected(e)),
        },
    }
}

struct TypeLine {
    id: String,
    name: String,
    rules: String,
    entitlements: String,
    retired: bool,
}

/// Which form of the product page came back with an error, as typed.
pub(super) enum Retry {
    None,
    Product(ProductForm, FieldError),
    Type(TypeForm, FieldError),
    Offer(Box<OfferForm>, FieldError),
}

/// A refused value: the form and input it belongs to, and why.
pub struct FieldError {
    form: &'static str,
    field: &'static str,
    message: String,
}

impl FieldError {
    fn of(form: &'static str, e: &CatalogError) -> Option<Self> {
        match e {
            CatalogError::Invalid { field, message } => Some(Self {
                form,
                field,
                message: message.clone(),
            }),
            CatalogError::Conflict(message) => Some(Self {
                form,
                field: "",
                message: message.clone(),
            }),
            _ => None,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/product.html")]
struct ProductPage {
    page: Page,
    product: ProductRow,
    /// The product form as typed (after an error) or as stored.
    edit: ProductForm,
    /// The new-type form as typed (after an error) or blank.
    new_type: TypeForm,
    types: Vec<TypeLine>,
    offers: Vec<OfferLine>,
    /// The new-offer form as typed (after an error) or blank.
    new_offer: OfferForm,
    error: Option<FieldError>,
}

impl ProductPage {
    /// The error of `field` in `form`, when that input is the one refused.
    fn error_of(&self, form: &str, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.form == form && e.field == field)
            .map(|e| e.message.as_str())
    }

    fn bad(&self, form: &str, field: &str) -> bool {
        self.error_of(form, field).is_some()
    }
}

async fn product_page(
    db: &Db,
    page: Page,
    id: &ProductId,
    status: StatusCode,
    retry: Retry,
) -> Result<HttpResponse, WebError> {
    let product = catalog::product(db, id).await?.ok_or(WebError::NotFound)?;
    let (edit, new_type, new_offer, error) = match retry {
        Retry::None => (
            ProductForm::of(&product),
            TypeForm::blank(),
            OfferForm::default(),
            None,
        ),
        Retry::Product(form, e) => (form, TypeForm::blank(), OfferForm::default(), Some(e)),
        Retry::Type(form, e) => (
            ProductForm::of(&product),
            form,
            OfferForm::default(),
            Some(e),
        ),
        Retry::Offer(form, e) => (ProductForm::of(&product), TypeForm::blank(), *form, Some(e)),
    };
    let mut types = Vec::new();
    for t in catalog::license_types(db, Some(id), None, 500).await? {
        let entitlements = catalog::type_entitlements(db, &t.id)
            .await
            .map_err(|e| WebError::Unexpected(anyhow::anyhow!("{e}")))?;
        let mut rules = vec![
            match t.duration_days {
                Some(d) => format!("{d} days from {}", t.expiry_from.as_str().replace('_', " ")),
                None => "perpetual".to_owned(),
            },
            format!("{} seats", t.max_machines),
            format!("{} grace days", t.grace_days),
            format!("offline check-in every {} days", t.offline_checkin_days),
        ];
        if t.floating == 1 {
            rules.push(format!(
                "floating (heartbeat every {} s)",
                t.heartbeat_window_secs.unwrap_or_default()
            ));
        }
        if t.self_service_trial == 1 {
            rules.push("self-service trial".to_owned());
        }
        rules.push(if t.customer_may_deactivate == 1 {
            match (t.deactivation_limit, t.deactivation_period_days) {
                (Some(n), Some(d)) => format!("customers deactivate up to {n} per {d} days"),
                _ => "customers deactivate".to_owned(),
            }
        } else {
            "only support deactivates".to_owned()
        });
        types.push(TypeLine {
            retired: t.retired_at.is_some(),
            id: t.id,
            name: t.name,
            rules: rules.join(" · "),
            entitlements: entitlements.join(", "),
        });
    }
    let named: Vec<(String, String)> = types
        .iter()
        .map(|t| (t.id.clone(), t.name.clone()))
        .collect();
    let offers = offer_lines(db, &named).await?;
    render_private_status(
        status,
        &ProductPage {
            page: page.titled(&product.name),
            product,
            edit,
            new_type,
            types,
            offers,
            new_offer,
            error,
        },
    )
}

/// `GET /admin/products/{id}`
pub async fn show(
    FormPage(page): FormPage,
    staff: Staff,
    path: web::Path<String>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Administer)?;
    let id = ProductId::parse(&path).map_err(|_| WebError::NotFound)?;
    product_page(&db, page, &id, StatusCode::OK, Retry::None).await
}

/// `POST /admin/products/{id}`: name, description, activation instructions.
pub async fn update(
    req: HttpRequest,
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ProductForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let id = ProductId::parse(&path).map_err(|_| WebError::NotFound)?;
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    let text = ProductText {
        name: form.name.trim(),
        description: form.description.trim(),
        activation_instructions: form.activation_instructions.trim(),
        download_url: form.download_url(),
    };
    match catalog::update_product(&ctx, &id, &text).await {
        Ok(()) => {
            flash(&session, "Saved.");
            Ok(see_other(&format!("/admin/products/{}", id.as_str())))
        }
        Err(e) => {
            let typed = ProductForm {
                csrf: String::new(),
                ..form.into_inner()
            };
            refused(&db, page, &id, e, "product", |error| {
                Retry::Product(typed, error)
            })
            .await
        }
    }
}

/// A form of the product page refused: the page again, the form as typed
/// and the error beside its field (a 404 for a product that is gone).
pub(super) async fn refused(
    db: &Db,
    page: Page,
    product_id: &ProductId,
    e: CatalogError,
    form: &'static str,
    retry: impl FnOnce(FieldError) -> Retry,
) -> Result<HttpResponse, WebError> {
    if matches!(e, CatalogError::NotFound(_)) {
        return Err(WebError::NotFound);
    }
    match FieldError::of(form, &e) {
        Some(error) => {
            product_page(
                db,
                page,
                product_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                retry(error),
            )
            .await
        }
        None => Err(unexpected(e)),
    }
}

fn unexpected(e: CatalogError) -> WebError {
    match e {
        CatalogError::Unexpected(e) => e.into(),
        other => WebError::Unexpected(anyhow::anyhow!("{other}")),
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TypeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// Empty: perpetual.
    #[serde(default)]
    duration_days: String,
    #[serde(default)]
    max_machines: String,
    #[serde(default)]
    entitlements: String,
    #[serde(default)]
    floating: Option<String>,
    #[serde(default)]
    heartbeat_window_secs: String,
    #[serde(default)]
    grace_days: String,
    #[serde(default)]
    self_service_trial: Option<String>,
    #[serde(default)]
    customer_may_deactivate: Option<String>,
    #[serde(default)]
    deactivation_limit: String,
    #[serde(default)]
    deactivation_period_days: String,
    #[serde(default)]
    expiry_from: String,
    #[serde(default)]
    offline_checkin_days: String,
}

/// A number field of the form; `what` names it for a person.
fn number(
    field: &'static str,
    what: &str,
    value: &str,
    default: Option<i64>,
) -> Result<Option<i64>, CatalogError> {
    match value.trim() {
        "" => Ok(default),
        v => v.parse::<i64>().map(Some).map_err(|_| {
            CatalogError::invalid(field, format!("{what} must be a whole number, like 30."))
        }),
    }
}

impl TypeForm {
    /// The new-type form before anything is typed: one seat, no grace,
    /// a monthly offline check-in, customers may deactivate.
    fn blank() -> Self {
        Self {
            max_machines: "1".to_owned(),
            grace_days: "0".to_owned(),
            offline_checkin_days: "30".to_owned(),
            customer_may_deactivate: Some("1".to_owned()),
            expiry_from: "issue".to_owned(),
            ..Self::default()
        }
    }

    fn input(&self, product_id: &str) -> Result<NewLicenseTypeInput, CatalogError> {
        Ok(NewLicenseTypeInput {
            product_id: product_id.to_owned(),
            name: self.name.trim().to_owned(),
            duration_days: number("duration_days", "The duration", &self.duration_days, None)?,
            max_machines: number("max_machines", "Seats", &self.max_machines, Some(1))?
                .unwrap_or(1),
            floating: self.floating.is_some(),
            heartbeat_window_secs: number(
                "heartbeat_window_secs",
                "The heartbeat window",
                &self.heartbeat_window_secs,
                None,
            )?,
            grace_days: number("grace_days", "Grace", &self.grace_days, Some(0))?.unwrap_or(0),
            self_service_trial: self.self_service_trial.is_some(),
            customer_may_deactivate: self.customer_may_deactivate.is_some(),
            deactivation_limit: number(
                "deactivation_limit",
                "The deactivation limit",
                &self.deactivation_limit,
                None,
            )?,
            deactivation_period_days: number(
                "deactivation_period_days",
                "The deactivation period",
                &self.deactivation_period_days,
                None,
            )?,
            expiry_from_first_activation: self.expiry_from == "first_activation",
            offline_checkin_days: number(
                "offline_checkin_days",
                "The offline check-in",
                &self.offline_checkin_days,
                Some(30),
            )?
            .unwrap_or(30),
            entitlements: self
                .entitlements
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// `POST /admin/products/{id}/types`: a new license type with its rules.
pub async fn create_type(
    req: HttpRequest,
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<TypeForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let id = ProductId::parse(&path).map_err(|_| WebError::NotFound)?;
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    let created = match form.input(&id) {
        Ok(input) => catalog::create_license_type(&ctx, &input).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match created {
        Ok(()) => {
            flash(
                &session,
                &format!("License type {} created.", form.name.trim()),
            );
            Ok(see_other(&format!("/admin/products/{}", id.as_str())))
        }
        Err(e) => {
            let typed = TypeForm {
                csrf: String::new(),
                ..form.into_inner()
            };
            refused(&db, page, &id, e, "type", |error| Retry::Type(typed, error)).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct TypeAction {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

/// `POST /admin/types/{id}`: retire (no new licenses) or delete (unused).
pub async fn type_action(
    req: HttpRequest,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<TypeAction>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let id = LicenseTypeId::parse(&path).map_err(|_| WebError::NotFound)?;
    let t = catalog::license_type(&db, &id)
        .await?
        .ok_or(WebError::NotFound)?;
    let back = format!("/admin/products/{}", t.product_id);
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    let done = match form.action.as_str() {
        "retire" => catalog::retire_license_type(&ctx, &id)
            .await
            .map(|_| "Retired: no new licenses of this type; existing ones go on."),
        "delete" => catalog::delete_license_type(&ctx, &id)
            .await
            .map(|()| "Deleted."),
        _ => {
            return Err(WebError::BadRequest {
                code: "action",
                detail: "the action is retire or delete".to_owned(),
            });
        }
    };
    match done {
        Ok(message) => flash(&session, message),
        Err(CatalogError::Unexpected(e)) => return Err(e.into()),
        Err(e) => flash(&session, &format!("Not done: {e}")),
    }
    Ok(see_other(&back))
}
