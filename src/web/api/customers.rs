//! `GET /api/v1/customers?email=`: a customer and their licenses, for a CRM
//! or a support tool.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::email::EmailAddress;
use crate::domain::role::Role;
use crate::services::accounts;
use crate::services::licensing;
use crate::services::licensing::LicenseFilter;
use crate::store::Db;
use crate::web::api::ProblemDoc;
use crate::web::api::auth::ApiClient;
use crate::web::api::views::LicenseJson;
use crate::web::api::{MAX_PAGE, invalid};
use crate::web::error::WebError;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserJson {
    id: String,
    email: String,
    email_verified: bool,
    created_at: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrganizationJson {
    id: String,
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CustomerJson {
    user: Option<UserJson>,
    organization: Option<OrganizationJson>,
    licenses: Vec<LicenseJson>,
}

/// A customer and their licenses, by email
#[utoipa::path(get, path = "/api/v1/customers", tag = "provisioning",
    params(CustomerQuery), security(("token" = ["read"])),
    responses((status = 200, body = CustomerJson), (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn find(
    _client: ApiClient,
    query: web::Query<CustomerQuery>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    let email = EmailAddress::parse(&query.email).map_err(|e| invalid("email", e))?;
    let (user, organization) = match accounts::find_customer(&db, &email).await? {
        Some((user, organization)) if user.role == Role::Customer => (Some(user), organization),
        _ => (None, None),
    };
    let filter = LicenseFilter {
        email: Some(email.as_str().to_owned()),
        ..LicenseFilter::default()
    };
    let now = clock.now();
    let licenses = licensing::list_licenses(&db, &filter, MAX_PAGE).await?;
    if user.is_none() && licenses.is_empty() {
        return Err(WebError::NotFound);
    }
    Ok(HttpResponse::Ok().json(CustomerJson {
        user: user.map(|u| UserJson {
            id: u.id.into(),
            email: u.email,
            email_verified: u.email_verified_at.is_some(),
            created_at: u.created_at,
        }),
        organization: organization.map(|o| OrganizationJson {
            id: o.id,
            name: o.name,
        }),
        licenses: licenses.iter().map(|l| LicenseJson::new(l, now)).collect(),
    }))
}
