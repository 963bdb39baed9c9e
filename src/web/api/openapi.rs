//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers'
//! annotations and served at `/api/openapi.json`.

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::web::api::{
    ProblemDoc, catalog, customers, import, license_edits, licenses, machines, offers, views,
};

struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every response has a description (OpenAPI requires one): those the
/// annotations leave out get their status's reason phrase, and a problem
/// answer says it is one.
struct DescribedResponses;

impl Modify for DescribedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        response.description = describe(status);
                    }
                }
            }
        }
    }
}

fn describe(status: &str) -> String {
    let phrase = status
        .parse::<u16>()
        .ok()
        .and_then(|code| actix_web::http::StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Answer");
    if status.starts_with('4') || status.starts_with('5') {
        format!("{phrase}: an application/problem+json document with a stable `code`")
    } else {
        phrase.to_owned()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Licensor API", description = "License validation, machine activation and provisioning. Every non-2xx answer is application/problem+json with a stable `code`; see docs/api.md."),
    paths(
        licenses::validate,
        machines::activate,
        machines::deactivate,
        machines::heartbeat,
        catalog::create_product,
        catalog::list_products,
        catalog::get_product,
        catalog::update_product,
        catalog::create_license_type,
        catalog::list_license_types,
        catalog::get_license_type,
        catalog::delete_license_type,
        catalog::retire_license_type,
        licenses::create,
        licenses::list,
        licenses::get,
        import::import_licenses,
        license_edits::update,
        license_edits::deactivate_machine,
        licenses::action,
        customers::find,
        offers::create_offer,
        offers::list_offers,
        offers::get_offer,
        offers::retire_offer,
        offers::start_checkout,
    ),
    components(schemas(ProblemDoc, views::NextAction)),
    modifiers(&BearerTokens, &DescribedResponses),
    tags(
        (name = "validation", description = "Authenticated by the license key; answers are signed"),
        (name = "machines", description = "Authenticated by the license key; answers are signed"),
        (name = "provisioning", description = "Bearer API tokens, scoped read or write"),
        (name = "payments", description = "Offers sold through Stripe or Paddle, and checkouts; bearer API tokens (docs/payments.md)"),
    )
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`
pub async fn document() -> HttpResponse {
    match ApiDoc::openapi().to_json() {
        Ok(json) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header(("Cache-Control", "public, max-age=300"))
            .body(json),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialize");
            HttpResponse::InternalServerError().finish()
        }
    }
}
