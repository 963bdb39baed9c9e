//! Products and license types (API tokens).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::id::is_well_formed;
use crate::domain::id::{LicenseTypeId, ProductId};
use crate::services::api_tokens::Scope;
use crate::services::catalog::ProductText;
use crate::services::catalog::{self, CatalogError, NewLicenseTypeInput, NewProductInput};
use crate::store::Db;
use crate::web::api::ProblemDoc;
use crate::web::api::auth::ApiClient;
use crate::web::api::idempotency::{self, Reply};
use crate::web::api::views::{LicenseTypeJson, ProductJson};
use crate::web::api::{Cursor, Paged, invalid, parse_json, token_ctx};
use crate::web::error::{Problem, WebError};

impl From<CatalogError> for WebError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Invalid { field, message } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
                    .with("field", serde_json::Value::from(field))
                    .into()
            }
            CatalogError::Conflict(msg) => {
                Problem::new(StatusCode::CONFLICT, "conflict", msg).into()
            }
            CatalogError::NotFound(what) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_found",
                format!("No such {what}."),
            )
            .into(),
            CatalogError::Unexpected(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductBody {
    code: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    activation_instructions: String,
    /// Where customers download the application; without it the portal
    /// shows copy-paste activation commands.
    #[serde(default)]
    download_url: Option<String>,
}

/// Create a product
#[utoipa::path(post, path = "/api/v1/products", tag = "provisioning",
    request_body = ProductBody, security(("token" = ["write"])),
    responses((status = 201, body = ProductJson), (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn create_product(
    req: HttpRequest,
    client: ApiClient,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let parsed: ProductBody = parse_json(&req, &body)?;
    let input = NewProductInput {
        code: parsed.code,
        name: parsed.name,
        description: parsed.description,
        activation_instructions: parsed.activation_instructions,
        download_url: parsed.download_url,
    };
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &body, || async {
        let product = catalog::create_product(&ctx, &input).await?;
        let location = format!("/api/v1/products/{}", product.id);
        Ok(Reply::json(StatusCode::CREATED, &ProductJson::from(product))?.at(location))
    })
    .await
}

/// List products
#[utoipa::path(get, path = "/api/v1/products", tag = "provisioning",
    params(Cursor), security(("token" = ["read"])),
    responses((status = 200, body = Paged<ProductJson>)))]
pub async fn list_products(
    _client: ApiClient,
    page: web::Query<Cursor>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    let limit = page.limit()?;
    let rows = catalog::products(&db, page.after()?.as_deref(), limit).await?;
    let data: Vec<ProductJson> = rows.into_iter().map(ProductJson::from).collect();
    Ok(HttpResponse::Ok().json(Paged::new(data, limit, |p| p.id.clone())))
}

fn default_true() -> bool {
    true
}

fn default_checkin() -> i64 {
    30
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseTypeBody {
    product_id: String,
    name: String,
    /// Absent or null: perpetual.
    duration_days: Option<i64>,
    max_machines: i64,
    #[serde(default)]
    floating: bool,
    heartbeat_window_secs: Option<i64>,
    #[serde(default)]
    grace_days: i64,
    #[serde(default)]
    self_service_trial: bool,
    #[serde(default = "default_true")]
    customer_may_deactivate: bool,
    deactivation_limit: Option<i64>,
    deactivation_period_days: Option<i64>,
    /// "issue" (default) or "first_activation".
    expiry_from: Option<String>,
    #[serde(default = "default_checkin")]
    offline_checkin_days: i64,
    #[serde(default)]
    entitlements: Vec<String>,
}

/// Create a license type (a policy)
#[utoipa::path(post, path = "/api/v1/license-types", tag = "provisioning",
    request_body = LicenseTypeBody, security(("token" = ["write"])),
    responses((status = 201, body = LicenseTypeJson), (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn create_license_type(
    req: HttpRequest,
    client: ApiClient,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let parsed: LicenseTypeBody = parse_json(&req, &body)?;
    if !is_well_formed(&parsed.product_id) {
        return Err(invalid("product_id", "is not an id"));
    }
    let from_first_activation = match parsed.expiry_from.as_deref() {
        None | Some("issue") => false,
        Some("first_activation") => true,
        Some(_) => return Err(invalid("expiry_from", "must be issue or first_activation")),
    };
    if parsed.entitlements.len() > 100 {
        return Err(invalid("entitlements", "at most 100 codes"));
    }
    let input = NewLicenseTypeInput {
        product_id: parsed.product_id,
        name: parsed.name,
        duration_days: parsed.duration_days,
        max_machines: parsed.max_machines,
        floating: parsed.floating,
        heartbeat_window_secs: parsed.heartbeat_window_secs,
        grace_days: parsed.grace_days,
        self_service_trial: parsed.self_service_trial,
        customer_may_deactivate: parsed.customer_may_deactivate,
        deactivation_limit: parsed.deactivation_limit,
        deactivation_period_days: parsed.deactivation_period_days,
        expiry_from_first_activation: from_first_activation,
        offline_checkin_days: parsed.offline_checkin_days,
        entitlements: parsed.entitlements,
    };
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &body, || async {
        let (row, entitlements) = catalog::create_license_type(&ctx, &input).await?;
        let location = format!("/api/v1/license-types/{}", row.id);
        Ok(Reply::json(
            StatusCode::CREATED,
            &LicenseTypeJson::new(row, entitlements),
        )?
        .at(location))
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TypeQuery {
    product_id: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// List license types
#[utoipa::path(get, path = "/api/v1/license-types", tag = "provisioning",
    params(TypeQuery), security(("token" = ["read"])),
    responses((status = 200, body = Paged<LicenseTypeJson>)))]
pub async fn list_license_types(
    _client: ApiClient,
    query: web::Query<TypeQuery>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    let q = query.into_inner();
    if q.product_id.as_deref().is_some_and(|p| !is_well_formed(p)) {
        return Err(invalid("product_id", "is not an id"));
    }
    let page = Cursor {
        cursor: q.cursor,
        limit: q.limit,
    };
    let limit = page.limit()?;
    let rows = catalog::license_types(
        &db,
        q.product_id.as_deref(),
        page.after()?.as_deref(),
        limit,
    )
    .await?;
    let mut data = Vec::with_capacity(rows.len());
    for row in rows {
        let entitlements = catalog::type_entitlements(&db, &row.id).await?;
        data.push(LicenseTypeJson::new(row, entitlements));
    }
    Ok(HttpResponse::Ok().json(Paged::new(data, limit, |t| t.id.clone())))
}

/// The id a path names; 404 unless it is one we issue.
fn id_from<T: std::str::FromStr>(path: &str) -> Result<T, WebError> {
    path.parse().map_err(|_| WebError::NotFound)
}

/// Changes to a product, as a JSON merge patch (RFC 7396): fields left out
/// keep their value; `download_url: null` removes the link.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    name: Option<String>,
    description: Option<String>,
    activation_instructions: Option<String>,
    #[serde(default, deserialize_with = "crate::web::api::present")]
    #[schema(value_type = Option<String>)]
    download_url: Option<Option<String>>,
}

/// Change a product
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "provisioning",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer on retry")), request_body(content = ProductPatch, content_type = "application/merge-patch+json"),
    security(("token" = ["write"])),
    responses((status = 200, body = ProductJson), (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn update_product(
    req: HttpRequest,
    client: ApiClient,
    path: web::Path<String>,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let id: ProductId = id_from(&path)?;
    let patch: ProductPatch = parse_json(&req, &body)?;
    let product = catalog::product(&db, &id)
        .await?
        .ok_or(WebError::NotFound)?;
    let download_url = match &patch.download_url {
        Some(given) => given.as_deref(),
        None => product.download_url.as_deref(),
    };
    let text = ProductText {
        name: patch.name.as_deref().unwrap_or(&product.name),
        description: patch.description.as_deref().unwrap_or(&product.description),
        activation_instructions: patch
            .activation_instructions
            .as_deref()
            .unwrap_or(&product.activation_instructions),
        download_url,
    };
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &body, || async {
        catalog::update_product(&ctx, &id, &text).await?;
        let product = catalog::product(&db, &id)
            .await?
            .ok_or(WebError::NotFound)?;
        Reply::json(StatusCode::OK, &ProductJson::from(product))
    })
    .await
}

/// One product
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "provisioning",
    params(("id" = String, Path)), security(("token" = ["read"])),
    responses((status = 200, body = ProductJson), (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn get_product(
    _client: ApiClient,
    path: web::Path<String>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    let product = catalog::product(&db, &id_from(&path)?)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(HttpResponse::Ok().json(ProductJson::from(product)))
}

/// One license type
#[utoipa::path(get, path = "/api/v1/license-types/{id}", tag = "provisioning",
    params(("id" = String, Path)), security(("token" = ["read"])),
    responses((status = 200, body = LicenseTypeJson), (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn get_license_type(
    _client: ApiClient,
    path: web::Path<String>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    let id: LicenseTypeId = id_from(&path)?;
    let row = catalog::license_type(&db, &id)
        .await?
        .ok_or(WebError::NotFound)?;
    let entitlements = catalog::type_entitlements(&db, &id).await?;
    Ok(HttpResponse::Ok().json(LicenseTypeJson::new(row, entitlements)))
}

/// Delete a license type no license uses
///
/// A type in use answers 409 `license_type_in_use`: retire it instead.
#[utoipa::path(delete, path = "/api/v1/license-types/{id}", tag = "provisioning",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer on retry")), security(("token" = ["write"])),
    responses((status = 204), (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn delete_license_type(
    req: HttpRequest,
    client: ApiClient,
    path: web::Path<String>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let id: LicenseTypeId = id_from(&path)?;
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &[], || async {
        match catalog::delete_license_type(&ctx, &id).await {
            Ok(()) => Ok(Reply::empty(StatusCode::NO_CONTENT)),
            Err(CatalogError::Conflict(msg)) => {
                Err(Problem::new(StatusCode::CONFLICT, "license_type_in_use", msg).into())
            }
            Err(CatalogError::NotFound(_)) => Err(WebError::NotFound),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// Retire a license type
///
/// No new licenses of it can be issued; existing licenses keep working.
#[utoipa::path(post, path = "/api/v1/license-types/{id}/retire", tag = "provisioning",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer on retry")), security(("token" = ["write"])),
    responses((status = 200, body = LicenseTypeJson), (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn retire_license_type(
    req: HttpRequest,
    client: ApiClient,
    path: web::Path<String>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let id: LicenseTypeId = id_from(&path)?;
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &[], || async {
        let row = match catalog::retire_license_type(&ctx, &id).await {
            Err(CatalogError::NotFound(_)) => return Err(WebError::NotFound),
            other => other?,
        };
        let entitlements = catalog::type_entitlements(&db, &id).await?;
        Reply::json(StatusCode::OK, &LicenseTypeJson::new(row, entitlements))
    })
    .await
}
