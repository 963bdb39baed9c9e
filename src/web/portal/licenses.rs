//! The organization's licenses: list, detail, key reveal (after the
//! password again) and machine deactivation.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::id::is_well_formed;
use crate::domain::license::LicenseStatus;
use crate::domain::license_key::{LicenseKey, masked};
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::accounts;
use crate::services::context::Brand;
use crate::services::license_files::{self, FileForm};
use crate::services::licensing::{self, ActivateInput, LicenseView, LicensingError, MachineView};
use crate::signing::KeyRing;
use crate::store::licenses::LicenseFilter;
use crate::store::machines::DeactivatedBy;
use crate::store::{Db, products};
use crate::web::error::WebError;
use crate::web::layout::{
    CsrfForm, FormPage, Page, check_csrf, flash, render_private, render_status, see_other,
};
use crate::web::portal::{SignedIn, customer_ctx};

/// A license as the portal shows it.
pub struct LicenseItem {
    pub id: String,
    pub product_name: String,
    pub license_type_name: String,
    pub masked_key: String,
    /// CSS class: active, suspended, revoked or expired.
    pub status: &'static str,
    pub status_label: &'static str,
    pub expires: String,
    pub machines_used: i64,
    pub max_machines: i64,
    pub entitlements: String,
}

impl LicenseItem {
    pub fn new(l: &LicenseView, now: Timestamp) -> Self {
        let (expired, in_grace) = l.expiry_state(now);
        let (status, status_label) = match l.status {
            LicenseStatus::Revoked => ("revoked", "Revoked"),
            LicenseStatus::Suspended => ("suspended", "Suspended"),
            LicenseStatus::Active if expired => ("expired", "Expired"),
            LicenseStatus::Active if in_grace => ("grace", "Expired, in grace period"),
            LicenseStatus::Active => ("active", "Active"),
        };
        Self {
            id: l.id.clone(),
            product_name: l.product_name.clone(),
            license_type_name: l.license_type_name.clone(),
            masked_key: masked(&l.key_last4),
            status,
            status_label,
            expires: l
                .expires_at
                .map(Timestamp::to_date_string)
                .unwrap_or_else(|| "Never".to_owned()),
            machines_used: l.machines_used,
            max_machines: l.max_machines,
            entitlements: l.entitlements.join(", "),
        }
    }

    /// For the onboarding template, which shows the expiry when there is one.
    pub fn expires(&self) -> Option<&str> {
        (self.expires != "Never").then_some(self.expires.as_str())
    }
}

struct MachineItem {
    id: String,
    name: String,
    platform: String,
    activated: String,
    last_seen: String,
}

impl From<&MachineView> for MachineItem {
    fn from(m: &MachineView) -> Self {
        Self {
            id: m.id.clone(),
            name: m.name.clone().unwrap_or_else(|| m.fingerprint.clone()),
            platform: m.platform.clone().unwrap_or_else(|| "—".to_owned()),
            activated: m.activated_at.to_utc_string(),
            last_seen: m.last_heartbeat_at.to_utc_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "portal/licenses.html")]
struct ListPage {
    page: Page,
    licenses: Vec<LicenseItem>,
}

pub async fn list(
    FormPage(page): FormPage,
    who: SignedIn,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    who.require_verified()?;
    let filter = LicenseFilter {
        organization_id: Some(who.organization_id()?.to_owned()),
        ..LicenseFilter::default()
    };
    let now = clock.now();
    let licenses = licensing::list_licenses(&db, &filter, 200).await?;
    render_private(&ListPage {
        page: page.titled("Licenses"),
        licenses: licenses.iter().map(|l| LicenseItem::new(l, now)).collect(),
    })
}

/// The license if it belongs to the customer's organization; 404 otherwise
/// (another organization's license does not exist, as far as they know).
async fn owned(db: &Db, who: &SignedIn, id: &str) -> Result<LicenseView, WebError> {
    if !is_well_formed(id) {
        return Err(WebError::NotFound);
    }
    let license = match licensing::get_license(db, id).await {
        Ok(l) => l,
        Err(LicensingError::NotFound(_)) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    if license.organization_id.as_deref() != Some(who.organization_id()?) {
        return Err(WebError::NotFound);
    }
    Ok(license)
}

#[derive(Template)]
#[template(path = "portal/license.html")]
struct DetailPage {
    page: Page,
    l: LicenseItem,
    machines: Vec<MachineItem>,
    may_deactivate: bool,
    instructions: String,
    revealed: Option<String>,
    reveal_error: Option<String>,
}

async fn detail_page(
    db: &Db,
    page: Page,
    license: &LicenseView,
    now: Timestamp,
    revealed: Option<String>,
    reveal_error: Option<String>,
) -> Result<DetailPage, WebError> {
    let machines = licensing::active_machines(db, &license.id).await?;
    let instructions = products::find_by_id(db.pool(), &license.product_id)
        .await?
        .map(|p| p.activation_instructions)
        .unwrap_or_default();
    Ok(DetailPage {
        page: page.titled(&license.product_name),
        l: LicenseItem::new(license, now),
        machines: machines.iter().map(MachineItem::from).collect(),
        may_deactivate: license.customer_may_deactivate,
        instructions,
        revealed,
        reveal_error,
    })
}

pub async fn detail(
    FormPage(page): FormPage,
    who: SignedIn,
    path: web::Path<String>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    who.require_verified()?;
    let license = owned(&db, &who, &path).await?;
    render_private(&detail_page(&db, page, &license, clock.now(), None, None).await?)
}

#[derive(Debug, Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// Shows the full key after the password is given again; audited.
pub async fn reveal(
    req: HttpRequest,
    FormPage(page): FormPage,
    who: SignedIn,
    session: Session,
    path: web::Path<String>,
    form: web::Form<RevealForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    limits: web::Data<crate::web::ratelimit::PortalLimits>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let license = owned(&db, &who, &path).await?;
    limits.key_reveal(&who.user.id)?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    let email = crate::domain::email::EmailAddress::parse(&who.user.email)
        .map_err(|e| WebError::Unexpected(anyhow::anyhow!("stored email is malformed: {e}")))?;
    if accounts::authenticate(&ctx, &email, SecretString::from(form.password.clone()))
        .await
        .is_err()
    {
        let page = detail_page(
            &db,
            page,
            &license,
            clock.now(),
            None,
            Some("The password is not right.".to_owned()),
        )
        .await?;
        let mut res = render_status(StatusCode::UNAUTHORIZED, &page)?;
        res.headers_mut().insert(
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("no-store"),
        );
        return Ok(res);
    }
    let key = licensing::reveal_key_audited(&ctx, &cipher, &license, &who.user.id).await?;
    render_private(&detail_page(&db, page, &license, clock.now(), Some(key.expose()), None).await?)
}

pub async fn deactivate(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let (license_id, machine_id) = path.into_inner();
    let license = owned(&db, &who, &license_id).await?;
    if !is_well_formed(&machine_id) {
        return Err(WebError::NotFound);
    }
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    match licensing::deactivate_machine(&ctx, &license.id, &machine_id, DeactivatedBy::Customer)
        .await
    {
        Ok(done) => flash(
            &session,
            &format!(
                "{} is deactivated; its seat is free.",
                done.machine.name.unwrap_or(done.machine.fingerprint)
            ),
        ),
        Err(LicensingError::NotFound(_)) => return Err(WebError::NotFound),
        Err(LicensingError::Unexpected(e)) => return Err(e.into()),
        Err(e) => flash(&session, &e.to_string()),
    }
    Ok(see_other(&format!("/licenses/{}", license.id)))
}

#[derive(Debug, Deserialize)]
pub struct FileQuery {
    /// `1`: the encrypted variant, readable only with the license key.
    #[serde(default)]
    encrypted: Option<String>,
}

impl FileQuery {
    fn encrypted(&self) -> bool {
        matches!(self.encrypted.as_deref(), Some("1" | "true" | "on"))
    }
}

/// `GET /licenses/{id}/license-file[?encrypted=1]`: the signed license
/// file, as a download.
pub async fn license_file(
    who: SignedIn,
    path: web::Path<String>,
    query: web::Query<FileQuery>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    ring: web::Data<KeyRing>,
    cipher: web::Data<DataCipher>,
) -> Result<HttpResponse, WebError> {
    who.require_verified()?;
    let license = owned(&db, &who, &path).await?;
    let key = sealing_key(&db, &cipher, &license.id, query.encrypted()).await?;
    let form = key.as_ref().map_or(FileForm::Plain, FileForm::Encrypted);
    let file = license_files::file(&db, &ring, &license.id, None, clock.now(), form).await?;
    Ok(download(&file_name(&license, "", key.is_some()), file))
}

/// The license key that seals an encrypted file, when one is wanted.
async fn sealing_key(
    db: &Db,
    cipher: &DataCipher,
    license_id: &str,
    encrypted: bool,
) -> Result<Option<LicenseKey>, WebError> {
    if !encrypted {
        return Ok(None);
    }
    Ok(Some(licensing::reveal_key(db, cipher, license_id).await?))
}

fn file_name(license: &LicenseView, kind: &str, encrypted: bool) -> String {
    format!(
        "{}-{}{kind}{}.lic",
        license.product_code,
        license.key_last4,
        if encrypted { "-encrypted" } else { "" }
    )
}

fn download(name: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-licensor-license; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

#[derive(Debug, Deserialize)]
pub struct OfflineForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    name: String,
    /// A checkbox: present when the file should be encrypted.
    #[serde(default)]
    encrypted: Option<String>,
}

/// `POST /licenses/{id}/offline`: activates a machine that cannot reach us
/// (the customer pastes its fingerprint) and downloads its machine file.
pub async fn offline_activation(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    path: web::Path<String>,
    form: web::Form<OfflineForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    ring: web::Data<KeyRing>,
    cipher: web::Data<DataCipher>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let license = owned(&db, &who, &path).await?;
    let back = format!("/licenses/{}", license.id);
    let fingerprint = match Fingerprint::parse(&form.fingerprint) {
        Ok(fp) => fp,
        Err(e) => {
            flash(&session, &format!("That fingerprint cannot be used: {e}."));
            return Ok(see_other(&back));
        }
    };
    let key = licensing::reveal_key(&db, &cipher, &license.id).await?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    let name = form.name.trim();
    let input = ActivateInput {
        key: key.expose(),
        fingerprint: fingerprint.clone(),
        name: (!name.is_empty()).then(|| name.chars().take(200).collect()),
        platform: Some("offline".to_owned()),
        ip: None,
        product: None,
    };
    match licensing::activate(&ctx, &brand, &input).await {
        Ok(_) => {
            let encrypted = form.encrypted.is_some();
            let form = if encrypted {
                FileForm::Encrypted(&key)
            } else {
                FileForm::Plain
            };
            let file = license_files::file(
                &db,
                &ring,
                &license.id,
                Some(&fingerprint),
                clock.now(),
                form,
            )
            .await?;
            Ok(download(&file_name(&license, "-machine", encrypted), file))
        }
        Err(LicensingError::Unexpected(e)) => Err(e.into()),
        Err(e) => {
            flash(&session, &e.to_string());
            Ok(see_other(&back))
        }
    }
}
