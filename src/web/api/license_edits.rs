//! Editing a license through the API (JSON merge patch, RFC 7396), and a
//! vendor's system deactivating one of its machines.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::id::{MachineId, OrganizationId};
use crate::domain::machine::DeactivatedBy;
use crate::domain::time::Timestamp;
use crate::services::api_tokens::Scope;
use crate::services::context::Brand;
use crate::services::licensing::{self, LicenseEdit};
use crate::store::Db;
use crate::web::api::ProblemDoc;
use crate::web::api::auth::ApiClient;
use crate::web::api::idempotency::{self, Reply};
use crate::web::api::licenses::{LicenseDetail, MACHINES_LISTED, license_id};
use crate::web::api::views::{LicenseJson, MachineJson};
use crate::web::api::{invalid, parse_json, token_ctx};
use crate::web::error::WebError;

/// A merge patch of a license: a field left out stays as it is; `null`
/// clears what may be cleared (`expires_at`: never expires; a metadata
/// key: removed).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicensePatch {
    /// Seats, 1 to 100,000; never below the machines in use.
    max_machines: Option<i64>,
    /// Unix seconds in the future, or `null`: it never expires.
    #[serde(default, deserialize_with = "crate::web::api::present")]
    #[schema(value_type = Option<i64>)]
    expires_at: Option<Option<i64>>,
    /// The license's entitlement codes from now on (its own, no longer its
    /// type's); each must exist.
    entitlements: Option<Vec<String>>,
    /// String values by key; a key set to `null` is removed.
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    metadata: Option<BTreeMap<String, Option<String>>>,
    /// The organization that owns it from now on.
    organization_id: Option<String>,
}

impl LicensePatch {
    const FIELDS: [&'static str; 5] = [
        "max_machines",
        "expires_at",
        "entitlements",
        "metadata",
        "organization_id",
    ];

    /// Reads a patch, naming the field that does not fit: one that is not
    /// a field of a license patch, or a value of the wrong type.
    fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, WebError> {
        let value: serde_json::Value = parse_json(req, body)?;
        let serde_json::Value::Object(fields) = value else {
            return Err(invalid("body", "a merge patch is a JSON object"));
        };
        for (name, value) in &fields {
            if !Self::FIELDS.contains(&name.as_str()) {
                return Err(invalid(
                    name,
                    format!(
                        "is not a field of a license; the fields are {}",
                        Self::FIELDS.join(", ")
                    ),
                ));
            }
            let one =
                serde_json::Value::Object([(name.clone(), value.clone())].into_iter().collect());
            serde_json::from_value::<Self>(one).map_err(|e| invalid(name, e))?;
        }
        serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| invalid("body", e))
    }

    fn into_edit(self) -> Result<LicenseEdit, WebError> {
        let organization_id = self
            .organization_id
            .map(|id| OrganizationId::parse(&id))
            .transpose()
            .map_err(|_| invalid("organization_id", "is not an id"))?;
        Ok(LicenseEdit {
            max_machines: self.max_machines,
            expires_at: self.expires_at.map(|at| at.map(Timestamp::from_unix)),
            entitlements: self.entitlements,
            metadata: self.metadata.unwrap_or_default(),
            organization_id,
        })
    }
}

/// Change a license
///
/// JSON merge patch (RFC 7396; `application/merge-patch+json` or
/// `application/json`): seats, expiry, entitlements, metadata, owner. The
/// whole patch applies or none of it: a field that breaks its rules
/// answers 422 `invalid_field` naming it. Each change is recorded as
/// `license.updated` (and `license.transferred` for a new owner), which
/// webhooks receive. Honours `Idempotency-Key`.
#[utoipa::path(patch, path = "/api/v1/licenses/{id}", tag = "provisioning",
    params(("id" = String, Path)), request_body = LicensePatch, security(("token" = ["write"])),
    responses((status = 200, body = LicenseDetail),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn update(
    req: HttpRequest,
    client: ApiClient,
    path: web::Path<String>,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let id = license_id(&path)?;
    let edit = LicensePatch::parse(&req, &body)?.into_edit()?;
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &body, || async {
        let edited = licensing::edit_license(&ctx, &brand, &id, &edit).await?;
        let machines = licensing::active_machines(&db, &id, MACHINES_LISTED).await?;
        Reply::json(
            StatusCode::OK,
            &LicenseDetail::new(&edited.license, &machines, edited.metadata, clock.now()),
        )
    })
    .await
}

/// Deactivate one machine of a license
///
/// For the vendor's own systems (a write token): the machine's seat is
/// free at once, whatever the type lets customers do. Recorded as
/// `license.deactivated` by the token.
#[utoipa::path(delete, path = "/api/v1/licenses/{id}/machines/{machine_id}", tag = "provisioning",
    params(("id" = String, Path), ("machine_id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer on retry")), security(("token" = ["write"])),
    responses((status = 200, body = LicenseDetail),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn deactivate_machine(
    req: HttpRequest,
    client: ApiClient,
    path: web::Path<(String, String)>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let (license, machine) = path.into_inner();
    let id = license_id(&license)?;
    let machine = MachineId::parse(&machine).map_err(|_| WebError::NotFound)?;
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &[], || async {
        let done =
            licensing::deactivate_machine(&ctx, &id, &machine, DeactivatedBy::Vendor).await?;
        let machines = licensing::active_machines(&db, &id, MACHINES_LISTED).await?;
        let metadata = licensing::metadata_of(&db, &id).await?;
        let mut detail = LicenseDetail::new(&done.license, &machines, metadata, clock.now());
        detail.deactivated = Some(MachineJson::from(&done.machine));
        Reply::json(StatusCode::OK, &detail)
    })
    .await
}

impl LicenseDetail {
    pub(crate) fn new(
        license: &licensing::LicenseView,
        machines: &[licensing::MachineView],
        metadata: BTreeMap<String, String>,
        now: Timestamp,
    ) -> Self {
        Self {
            license: LicenseJson::new(license, now),
            machines: machines.iter().map(MachineJson::from).collect(),
            machines_total: license.machines_used,
            metadata,
            deactivated: None,
        }
    }
}
