//! `/admin/licenses/{id}/edit`: a license's seats, expiry, features,
//! metadata and owner, changed from the console with a reason. The form
//! shows the license as it is; what differs is applied, whole or not at
//! all, and a mistake is shown beside its field with the input kept.
//! Admins only.

use std::collections::BTreeMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::id::{LicenseId, OrganizationId};
use crate::domain::role::Capability;
use crate::domain::time::Timestamp;
use crate::services::context::Brand;
use crate::services::licensing::{self, LicenseEdit, LicenseView, LicensingError};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::admin::form::{self, FieldError};
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, flash, render_private_status, see_other};

/// The form, as shown or as typed.
#[derive(Debug, Default, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    max_machines: String,
    /// `YYYY-MM-DD`; empty: it never expires.
    #[serde(default)]
    expires: String,
    /// Comma-separated codes.
    #[serde(default)]
    entitlements: String,
    /// One `key=value` per line.
    #[serde(default)]
    metadata: String,
    #[serde(default)]
    organization_id: String,
    #[serde(default)]
    reason: String,
}

impl EditForm {
    fn of(license: &LicenseView, metadata: &BTreeMap<String, String>) -> Self {
        Self {
            max_machines: license.max_machines.to_string(),
            expires: license
                .expires_at
                .map(Timestamp::to_date_string)
                .unwrap_or_default(),
            entitlements: license.entitlements.join(", "),
            metadata: metadata
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            organization_id: license
                .organization_id
                .as_deref()
                .unwrap_or_default()
                .to_owned(),
            ..Self::default()
        }
    }
}

#[derive(Template)]
#[template(path = "admin/edit.html")]
struct EditPage<'a> {
    page: Page,
    id: String,
    title: String,
    machines_used: i64,
    form: &'a EditForm,
    /// (field, what is wrong).
    error: Option<FieldError>,
}

impl EditPage<'_> {
    fn error_of(&self, field: &str) -> Option<&str> {
        form::error_of(&self.error, field)
    }
}

fn render(
    page: Page,
    status: StatusCode,
    license: &LicenseView,
    form: &EditForm,
    error: Option<FieldError>,
) -> Result<HttpResponse, WebError> {
    render_private_status(
        status,
        &EditPage {
            page: page.titled(&format!("Edit license ····{}", license.key_last4)),
            id: license.id.to_string(),
            title: format!("{} · {}", license.product_name, license.license_type_name),
            machines_used: license.machines_used,
            form,
            error,
        },
    )
}

/// `GET /admin/licenses/{id}/edit`
pub async fn form(
    FormPage(page): FormPage,
    staff: Staff,
    path: web::Path<String>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Sell)?;
    let id = LicenseId::parse(&path).map_err(|_| WebError::NotFound)?;
    let license = licensing::get_license(&db, &id).await?;
    let metadata = licensing::metadata_of(&db, &id).await?;
    render(
        page,
        StatusCode::OK,
        &license,
        &EditForm::of(&license, &metadata),
        None,
    )
}

/// What the form changes of the license as it is, or the field that is
/// wrong.
fn edit_of(
    form: &EditForm,
    license: &LicenseView,
    metadata: &BTreeMap<String, String>,
) -> Result<LicenseEdit, FieldError> {
    let field = |name: &'static str, what: &str| (name, what.to_owned());
    let mut edit = LicenseEdit::default();
    let seats: i64 = form
        .max_machines
        .trim()
        .parse()
        .map_err(|_| field("max_machines", "Seats are a whole number."))?;
    edit.max_machines = (seats != license.max_machines).then_some(seats);
    let expires = match form.expires.trim() {
        "" => None,
        date => Some(Timestamp::end_of_date(date).ok_or_else(|| {
            field(
                "expires",
                "Give the date as YYYY-MM-DD, or leave it empty: it never expires.",
            )
        })?),
    };
    let same_day = |a: Option<Timestamp>, b: Option<Timestamp>| {
        a.map(Timestamp::to_date_string) == b.map(Timestamp::to_date_string)
    };
    if !same_day(expires, license.expires_at) {
        edit.expires_at = Some(expires);
    }
    let entitlements = form::codes(&form.entitlements);
    if entitlements != license.entitlements {
        edit.entitlements = Some(entitlements);
    }
    let mut wanted = BTreeMap::new();
    for line in form
        .metadata
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| field("metadata", "Write one key=value per line."))?;
        wanted.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    for key in metadata.keys().filter(|k| !wanted.contains_key(*k)) {
        edit.metadata.insert(key.clone(), None);
    }
    for (key, value) in wanted {
        if metadata.get(&key) != Some(&value) {
            edit.metadata.insert(key, Some(value));
        }
    }
    let owner = form.organization_id.trim();
    if !owner.is_empty() && Some(owner) != license.organization_id.as_deref() {
        edit.organization_id = Some(OrganizationId::parse(owner).map_err(|_| {
            field(
                "organization_id",
                "That is not an organization id (copy it from the customer's page).",
            )
        })?);
    }
    if form.reason.trim().is_empty() {
        return Err(field(
            "reason",
            "Say why: the audit log keeps it with your name.",
        ));
    }
    Ok(edit)
}

/// `POST /admin/licenses/{id}/edit`
#[allow(clippy::too_many_arguments)]
pub async fn save(
    req: HttpRequest,
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<EditForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Sell)?;
    let id = LicenseId::parse(&path).map_err(|_| WebError::NotFound)?;
    let license = licensing::get_license(&db, &id).await?;
    let metadata = licensing::metadata_of(&db, &id).await?;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let edit = match edit_of(&form, &license, &metadata) {
        Ok(edit) => edit,
        Err(error) => return render(page, unprocessable, &license, &form, Some(error)),
    };
    if edit.is_empty() {
        flash(&session, "Nothing changed.");
        return Ok(see_other(&format!("/admin/licenses/{id}")));
    }
    let mut ctx = staff.ctx(&db, clock.as_ref(), &req);
    ctx.reason = Some(form.reason.trim().to_owned());
    match licensing::edit_license(&ctx, &brand, &id, &edit).await {
        Ok(_) => {
            flash(&session, "Saved.");
            Ok(see_other(&format!("/admin/licenses/{id}")))
        }
        Err(LicensingError::Unexpected(e)) => Err(e.into()),
        Err(LicensingError::NotFound("license")) => Err(WebError::NotFound),
        Err(LicensingError::InvalidField { field, detail }) => {
            let field = form::on_form(field);
            render(
                page,
                unprocessable,
                &license,
                &form,
                Some((field, format!("{detail}."))),
            )
        }
        Err(other) => render(
            page,
            unprocessable,
            &license,
            &form,
            Some(("organization_id", format!("{other}."))),
        ),
    }
}
