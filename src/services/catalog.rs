//! What the vendor sells, as customers see it.

use anyhow::Context;

use crate::domain::audit::EventKind;
use crate::store::{Db, products};

/// A product on the home page.
#[derive(Debug, Clone)]
pub struct ProductSummary {
    pub id: String,
    pub code: String,
    pub name: String,
    pub description: String,
    pub offers_trial: bool,
    /// It can be bought: an offer sells it.
    pub on_sale: bool,
}

pub async fn list_products(db: &Db) -> anyhow::Result<Vec<ProductSummary>> {
    let rows = products::list_active(db.pool())
        .await
        .context("listing products")?;
    Ok(rows
        .into_iter()
        .map(|p| ProductSummary {
            id: p.id,
            on_sale: p.offers > 0,
            code: p.code,
            name: p.name,
            description: p.description,
            offers_trial: p.trial_types > 0,
        })
        .collect())
}

// ------------------------------------------------------------ provisioning

use serde_json::json;

use crate::domain::id::{LicenseTypeId, ProductId, new_id};
use crate::services::context::Ctx;
use crate::store::events::{self, NewEvent};
use crate::store::license_types;
use crate::store::license_types::NewLicenseType;
use crate::store::products::NewProduct;

pub use crate::store::license_types::LicenseTypeRow;
pub use crate::store::products::{ProductRow, ProductText};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A value a person must change: `field` names the input (the API's
    /// JSON name), the message says what is wrong in plain words.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl CatalogError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CatalogError::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for CatalogError {
    fn from(e: sqlx::Error) -> Self {
        CatalogError::Unexpected(e.into())
    }
}

/// A product or feature code: what applications send, so plain ASCII: 2 to
/// 64 lower-case letters, digits, `-` or `_`, not starting with `-`.
pub fn is_code(code: &str) -> bool {
    (2..=64).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !code.starts_with('-')
}

pub fn check_code(code: &str) -> Result<(), CatalogError> {
    if is_code(code) {
        Ok(())
    } else {
        Err(CatalogError::invalid(
            "code",
            "Use a short code of lower-case letters, digits and dashes, like acme-studio.",
        ))
    }
}

/// A text field: `label` is how a person calls it.
pub(crate) fn check_text(
    field: &'static str,
    label: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), CatalogError> {
    let n = value.chars().count();
    let message = if n < min {
        format!("Enter the {label}.")
    } else if n > max {
        format!("The {label} is too long: at most {max} characters.")
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        format!("The {label} contains characters that cannot be shown; type it again.")
    } else {
        return Ok(());
    };
    Err(CatalogError::invalid(field, message))
}

#[derive(Debug, Clone)]
pub struct NewProductInput {
    pub code: String,
    pub name: String,
    pub description: String,
    pub activation_instructions: String,
    /// Where customers download the application (http or https).
    pub download_url: Option<String>,
}

/// A download link customers follow: an absolute http(s) URL.
pub fn check_download_url(url: Option<&str>) -> Result<(), CatalogError> {
    let Some(url) = url else {
        return Ok(());
    };
    match url::Url::parse(url) {
        Ok(u)
            if matches!(u.scheme(), "https" | "http")
                && u.host_str().is_some()
                && url.len() <= 2_000 =>
        {
            Ok(())
        }
        _ => Err(CatalogError::invalid(
            "download_url",
            "The download link must be a full web address starting with https:// (or http://).",
        )),
    }
}

pub async fn create_product(
    ctx: &Ctx<'_>,
    input: &NewProductInput,
) -> Result<ProductRow, CatalogError> {
    check_code(&input.code)?;
    check_text("name", "product name", &input.name, 1, 200)?;
    check_text("description", "description", &input.description, 0, 5_000)?;
    check_text(
        "activation_instructions",
        "activation instructions",
        &input.activation_instructions,
        0,
        20_000,
    )?;
    check_download_url(input.download_url.as_deref())?;
    let now = ctx.clock.now();
    let id = new_id();
    let mut tx = ctx.db.begin_write().await?;
    let (stored_id, created) = products::insert_if_absent(
        &mut tx,
        &NewProduct {
            id: &id,
            code: &input.code,
            name: &input.name,
            description: &input.description,
            activation_instructions: &input.activation_instructions,
            download_url: input.download_url.as_deref(),
        },
        now,
    )
    .await?;
    if !created {
        return Err(CatalogError::Conflict(format!(
            "a product with code `{}` exists",
            input.code
        )));
    }
    let mut event = NewEvent::new(EventKind::ProductCreated, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = json!({ "product_id": stored_id, "code": input.code });
    events::insert(&mut tx, now, &event).await?;
    tx.commit().await.context("committing the product")?;
    products::find_by_id(ctx.db.pool(), &stored_id)
        .await?
        .ok_or(CatalogError::NotFound("product"))
}

/// Changes what customers read about a product and where they download it
/// (the code is permanent: applications send it).
pub async fn update_product(
    ctx: &Ctx<'_>,
    id: &str,
    text: &ProductText<'_>,
) -> Result<(), CatalogError> {
    check_text("name", "product name", text.name, 1, 200)?;
    check_text("description", "description", text.description, 0, 5_000)?;
    check_text(
        "activation_instructions",
        "activation instructions",
        text.activation_instructions,
        0,
        20_000,
    )?;
    check_download_url(text.download_url)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    if !products::update_text(&mut tx, id, text).await? {
        return Err(CatalogError::NotFound("product"));
    }
    let mut event = NewEvent::new(EventKind::ProductUpdated, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = json!({ "product_id": id, "name": text.name, "download_url": text.download_url });
    events::insert(&mut tx, now, &event).await?;
    tx.commit().await.context("committing the product")?;
    Ok(())
}

/// The rules of a new license type, as given.
#[derive(Debug, Clone)]
pub struct NewLicenseTypeInput {
    pub product_id: String,
    pub name: String,
    pub duration_days: Option<i64>,
    pub max_machines: i64,
    pub floating: bool,
    pub heartbeat_window_secs: Option<i64>,
    pub grace_days: i64,
    pub self_service_trial: bool,
    pub customer_may_deactivate: bool,
    pub deactivation_limit: Option<i64>,
    pub deactivation_period_days: Option<i64>,
    pub expiry_from_first_activation: bool,
    pub offline_checkin_days: i64,
    pub entitlements: Vec<String>,
}

/// A number a person typed: `what` says it in words, `unit` what it counts.
fn in_range(
    field: &'static str,
    what: &str,
    v: i64,
    (min, max): (i64, i64),
    unit: &str,
) -> Result<(), CatalogError> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(CatalogError::invalid(
            field,
            format!("{what} must be from {min} to {max} {unit}."),
        ))
    }
}

/// The rules of a license type, each refused in words a person reads.
fn check_license_type(input: &NewLicenseTypeInput) -> Result<(), CatalogError> {
    check_text("name", "license type name", &input.name, 1, 100)?;
    if let Some(d) = input.duration_days {
        in_range("duration_days", "The duration", d, (1, 36_500), "days")?;
    }
    in_range(
        "max_machines",
        "Seats",
        input.max_machines,
        (1, 100_000),
        "machines",
    )?;
    in_range("grace_days", "Grace", input.grace_days, (0, 365), "days")?;
    in_range(
        "offline_checkin_days",
        "The offline check-in",
        input.offline_checkin_days,
        (1, 3_650),
        "days",
    )?;
    if let Some(w) = input.heartbeat_window_secs {
        in_range(
            "heartbeat_window_secs",
            "The heartbeat window",
            w,
            (60, 30 * 86_400),
            "seconds",
        )?;
    }
    if input.floating && input.heartbeat_window_secs.is_none() {
        return Err(CatalogError::invalid(
            "heartbeat_window_secs",
            "A floating license needs a heartbeat window, so that seats of machines that stop \
             checking in free themselves.",
        ));
    }
    match (input.deactivation_limit, input.deactivation_period_days) {
        (Some(limit), Some(days)) => {
            in_range(
                "deactivation_limit",
                "The deactivation limit",
                limit,
                (0, 10_000),
                "deactivations",
            )?;
            in_range(
                "deactivation_period_days",
                "The deactivation period",
                days,
                (1, 3_650),
                "days",
            )?;
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(CatalogError::invalid(
                "deactivation_period_days",
                "Give the period the deactivation limit counts over, in days.",
            ));
        }
        (None, Some(_)) => {
            return Err(CatalogError::invalid(
                "deactivation_limit",
                "Give how many deactivations the period allows.",
            ));
        }
    }
    if input.expiry_from_first_activation && input.duration_days.is_none() {
        return Err(CatalogError::invalid(
            "duration_days",
            "A term that starts at the first activation needs a duration in days.",
        ));
    }
    if let Some(bad) = input.entitlements.iter().find(|code| !is_code(code)) {
        return Err(CatalogError::invalid(
            "entitlements",
            format!(
                "The feature \"{bad}\" cannot be used as a code: use lower-case letters, digits \
                 and dashes, like export-pdf."
            ),
        ));
    }
    Ok(())
}

pub async fn create_license_type(
    ctx: &Ctx<'_>,
    input: &NewLicenseTypeInput,
) -> Result<(LicenseTypeRow, Vec<String>), CatalogError> {
    check_license_type(input)?;
    products::find_by_id(ctx.db.pool(), &input.product_id)
        .await?
        .ok_or(CatalogError::NotFound("product"))?;

    let now = ctx.clock.now();
    let id = new_id();
    let mut tx = ctx.db.begin_write().await?;
    let created = license_types::insert_if_absent(
        &mut tx,
        &NewLicenseType {
            id: &id,
            product_id: &input.product_id,
            name: &input.name,
            duration_days: input.duration_days,
            max_machines: input.max_machines,
            floating: input.floating,
            heartbeat_window_secs: input.heartbeat_window_secs,
            grace_days: input.grace_days,
            self_service_trial: input.self_service_trial,
            customer_may_deactivate: input.customer_may_deactivate,
            deactivation_limit: input.deactivation_limit,
            deactivation_period_days: input.deactivation_period_days,
            expiry_from_first_activation: input.expiry_from_first_activation,
            offline_checkin_days: input.offline_checkin_days,
        },
        now,
    )
    .await?;
    if !created {
        return Err(CatalogError::Conflict(format!(
            "the product already has a license type named `{}`",
            input.name
        )));
    }
    let mut entitlements = input.entitlements.clone();
    entitlements.sort();
    entitlements.dedup();
    license_types::add_entitlements(&mut tx, &id, &entitlements, now).await?;
    let mut event = NewEvent::new(EventKind::LicenseTypeCreated, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = json!({ "license_type_id": id, "product_id": input.product_id });
    events::insert(&mut tx, now, &event).await?;
    tx.commit().await.context("committing the license type")?;
    let row = license_types::find_by_id(ctx.db.pool(), &id)
        .await?
        .ok_or(CatalogError::NotFound("license type"))?;
    Ok((row, entitlements))
}

/// The entitlement codes of a type.
pub async fn type_entitlements(
    db: &Db,
    license_type_id: &str,
) -> Result<Vec<String>, CatalogError> {
    Ok(crate::store::licenses::entitlements_of_type(db.pool(), license_type_id).await?)
}

async fn record_type_event(
    ctx: &Ctx<'_>,
    tx: &mut crate::store::Tx,
    kind: EventKind,
    id: &str,
) -> Result<(), CatalogError> {
    let mut event = NewEvent::new(kind, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = json!({ "license_type_id": id });
    events::insert(tx, ctx.clock.now(), &event).await?;
    Ok(())
}

/// Deletes a license type that no license uses; one in use can only be
/// retired.
pub async fn delete_license_type(ctx: &Ctx<'_>, id: &LicenseTypeId) -> Result<(), CatalogError> {
    let mut tx = ctx.db.begin_write().await?;
    if !license_types::delete_unused(&mut tx, id).await? {
        let exists = license_types::find_by_id(ctx.db.pool(), id)
            .await?
            .is_some();
        return Err(if exists {
            CatalogError::Conflict(
                "licenses of this type exist; retire the type instead of deleting it".to_owned(),
            )
        } else {
            CatalogError::NotFound("license type")
        });
    }
    record_type_event(ctx, &mut tx, EventKind::LicenseTypeDeleted, id).await?;
    tx.commit().await.context("committing the deletion")?;
    Ok(())
}

/// Retires a license type: no new licenses; existing ones keep working.
pub async fn retire_license_type(
    ctx: &Ctx<'_>,
    id: &LicenseTypeId,
) -> Result<LicenseTypeRow, CatalogError> {
    let mut tx = ctx.db.begin_write().await?;
    if license_types::retire(&mut tx, id, ctx.clock.now()).await? {
        record_type_event(ctx, &mut tx, EventKind::LicenseTypeRetired, id).await?;
    }
    tx.commit().await.context("committing the retirement")?;
    license_types::find_by_id(ctx.db.pool(), id)
        .await?
        .ok_or(CatalogError::NotFound("license type"))
}

/// A page of products, by id after the cursor.
pub async fn products(db: &Db, after: Option<&str>, limit: i64) -> anyhow::Result<Vec<ProductRow>> {
    Ok(products::list_page(db.pool(), after, limit).await?)
}

pub async fn product(db: &Db, id: &ProductId) -> anyhow::Result<Option<ProductRow>> {
    Ok(products::find_by_id(db.pool(), id).await?)
}

/// A page of license types, of one product or of all.
pub async fn license_types(
    db: &Db,
    product_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> anyhow::Result<Vec<LicenseTypeRow>> {
    Ok(license_types::list_page(db.pool(), product_id, after, limit).await?)
}

pub async fn license_type(db: &Db, id: &LicenseTypeId) -> anyhow::Result<Option<LicenseTypeRow>> {
    Ok(license_types::find_by_id(db.pool(), id).await?)
}
