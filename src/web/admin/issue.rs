//! `/admin/licenses/new`: issuing a license from the console, to an
//! organization or to an email that will claim it, with its seats,
//! entitlements, expiry and a note; the key is shown once, after a
//! redirect (a reload issues nothing). Admins only.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::email::EmailAddress;
use crate::domain::id::OrganizationId;
use crate::domain::role::Capability;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::catalog;
use crate::services::context::Brand;
use crate::services::licensing::{self, Holder, IssueRequest, LicensingError};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::admin::form::{self, FieldError};
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, render_private_status, see_other};

/// The form as typed: every field kept when it is shown again.
#[derive(Debug, Default, Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    license_type_id: String,
    #[serde(default)]
    organization_id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    max_machines: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    entitlements: String,
    #[serde(default)]
    note: String,
}

#[derive(Template)]
#[template(path = "admin/issue.html")]
struct IssuePage<'a> {
    page: Page,
    /// (type id, "Product: type").
    types: Vec<(String, String)>,
    form: &'a IssueForm,
    /// (field, what is wrong).
    error: Option<FieldError>,
}

impl IssuePage<'_> {
    fn error_of(&self, field: &str) -> Option<&str> {
        form::error_of(&self.error, field)
    }
}

#[derive(Template)]
#[template(path = "admin/issued.html")]
struct IssuedPage {
    page: Page,
    license_id: String,
    key: String,
}

/// The session entry carrying a new key from the form to the page that
/// shows it once, sealed with the server secret.
const NEW_KEY: &str = "new_license_key";
const NEW_KEY_AAD: &[u8] = b"console-new-license-key";

async fn render_form(
    db: &Db,
    page: Page,
    status: StatusCode,
    form: &IssueForm,
    error: Option<FieldError>,
) -> Result<HttpResponse, WebError> {
    let mut types = Vec::new();
    for product in catalog::products(db, None, 200).await? {
        if product.retired_at.is_some() {
            continue;
        }
        for t in catalog::license_types(db, Some(&product.id), None, 200).await? {
            if t.retired_at.is_none() {
                types.push((t.id.to_string(), format!("{}: {}", product.name, t.name)));
            }
        }
    }
    render_private_status(
        status,
        &IssuePage {
            page: page.titled("Issue a license"),
            types,
            form,
            error,
        },
    )
}

/// `GET /admin/licenses/new`; `?organization_id=` fills the customer.
pub async fn form(
    FormPage(page): FormPage,
    staff: Staff,
    query: web::Query<IssueForm>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Sell)?;
    render_form(&db, page, StatusCode::OK, &query, None).await
}

/// Reads the form into a request, or names the field that is wrong.
fn request_of(form: &IssueForm) -> Result<IssueRequest, FieldError> {
    let field = |name: &'static str, what: &str| (name, what.to_owned());
    if form.license_type_id.trim().is_empty() {
        return Err(field("license_type_id", "Choose a license type."));
    }
    let holder = match (form.organization_id.trim(), form.email.trim()) {
        ("", "") => None,
        (org, "") => Some(Holder::Organization(OrganizationId::parse(org).map_err(
            |_| {
                field(
                    "organization_id",
                    "That is not an organization id (copy it from the customer's page).",
                )
            },
        )?)),
        ("", email) => Some(Holder::Email(
            EmailAddress::parse(email).map_err(|e| ("email", e.to_string()))?,
        )),
        _ => {
            return Err(field(
                "email",
                "Give an organization or an email, not both.",
            ));
        }
    };
    let max_machines = match form.max_machines.trim() {
        "" => None,
        n => Some(n.parse::<i64>().map_err(|_| {
            field(
                "max_machines",
                "Seats are a whole number, or empty for the type's.",
            )
        })?),
    };
    let expires_at = match form.expires.trim() {
        "" => None,
        date => Some(Timestamp::end_of_date(date).ok_or_else(|| {
            field(
                "expires",
                "Give the date as YYYY-MM-DD, or leave it empty for the type's duration.",
            )
        })?),
    };
    let entitlements = form::codes(&form.entitlements);
    Ok(IssueRequest {
        license_type_id: form.license_type_id.trim().to_owned(),
        holder,
        max_machines,
        expires_at,
        is_trial: false,
        entitlements: (!entitlements.is_empty()).then_some(entitlements),
        note: Some(form.note.trim().to_owned()).filter(|n| !n.is_empty()),
    })
}

/// Where a refusal of the use case belongs on the form.
fn refusal(e: LicensingError) -> Result<FieldError, WebError> {
    Ok(match e {
        LicensingError::Unexpected(e) => return Err(e.into()),
        LicensingError::InvalidField { field, detail } => {
            (form::on_form(field), format!("{detail}."))
        }
        LicensingError::NotFound("organization") => {
            ("organization_id", "No organization has that id.".to_owned())
        }
        LicensingError::NotFound(_) => ("license_type_id", "Choose a license type.".to_owned()),
        other => ("license_type_id", other.to_string()),
    })
}

/// `POST /admin/licenses/new`
#[allow(clippy::too_many_arguments)]
pub async fn issue(
    req: HttpRequest,
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    form: web::Form<IssueForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Sell)?;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let request = match request_of(&form) {
        Ok(request) => request,
        Err(error) => return render_form(&db, page, unprocessable, &form, Some(error)).await,
    };
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    match licensing::issue_license(&ctx, &cipher, &brand, &request).await {
        Ok(issued) => {
            let shown = format!("{}\n{}", issued.license.id, issued.key.expose());
            let sealed = cipher.seal(shown.as_bytes(), NEW_KEY_AAD)?;
            let _ = session.insert(NEW_KEY, URL_SAFE_NO_PAD.encode(sealed));
            Ok(see_other("/admin/licenses/issued"))
        }
        Err(e) => {
            let error = refusal(e)?;
            render_form(&db, page, unprocessable, &form, Some(error)).await
        }
    }
}

/// `GET /admin/licenses/issued`: the new key, this once; after that, the
/// license's page.
pub async fn issued(
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    cipher: web::Data<DataCipher>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Sell)?;
    let Some(Ok(sealed)) = session.remove_as::<String>(NEW_KEY) else {
        return Ok(see_other("/admin"));
    };
    let unexpected = |e: String| WebError::Unexpected(anyhow::anyhow!("sealed key: {e}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|e| unexpected(e.to_string()))?;
    let shown = String::from_utf8(cipher.open(&bytes, NEW_KEY_AAD)?.to_vec())
        .map_err(|e| unexpected(e.to_string()))?;
    let (license_id, key) = shown
        .split_once('\n')
        .ok_or_else(|| unexpected("no license id".to_owned()))?;
    render_private_status(
        StatusCode::OK,
        &IssuedPage {
            page: page.titled("License issued"),
            license_id: license_id.to_owned(),
            key: key.to_owned(),
        },
    )
}
