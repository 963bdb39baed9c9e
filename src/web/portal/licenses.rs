//! The organization's licenses: list, detail (with what a license not in
//! good standing means) and machine deactivation.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::id::LicenseId;
use crate::domain::id::MachineId;
use crate::domain::license::LicenseStatus;
use crate::domain::license_key::masked;
use crate::domain::machine::DeactivatedBy;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::catalog;
use crate::services::licensing::LicenseFilter;
use crate::services::licensing::{self, LicenseView, LicensingError, MachineView};
use crate::services::payments;
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, Site, check_csrf, flash, render_private, see_other};
use crate::web::portal::activation::ActivationHelp;
use crate::web::portal::reveal::KeyView;
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
            id: l.id.to_string(),
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
            id: m.id.to_string(),
            name: m.name.clone().unwrap_or_else(|| m.fingerprint.clone()),
            platform: m.platform.clone().unwrap_or_else(|| "—".to_owned()),
            activated: m.activated_at.to_utc_string(),
            last_seen: m.last_heartbeat_at.to_utc_string(),
        }
    }
}

/// The most machines a license's page lists (a site license may have
/// thousands); the page says how many more there are.
const MACHINES_LISTED: i64 = 500;

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
pub(super) async fn owned(db: &Db, who: &SignedIn, id: &str) -> Result<LicenseView, WebError> {
    let id = LicenseId::parse(id).map_err(|_| WebError::NotFound)?;
    let license = match licensing::get_license(db, &id).await {
        Ok(l) => l,
        Err(LicensingError::NotFound(_)) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    if license.organization_id.as_deref() != Some(who.organization_id()?) {
        return Err(WebError::NotFound);
    }
    Ok(license)
}

/// What the license page says of a license that is not in good standing.
pub struct StandingNotice {
    /// CSS class: suspended or revoked.
    pub kind: &'static str,
    pub headline: String,
    pub consequence: &'static str,
    pub reason: Option<String>,
}

impl StandingNotice {
    /// `None` for an active license.
    pub async fn of(
        db: &Db,
        license: &LicenseView,
        vendor: &str,
    ) -> Result<Option<Self>, WebError> {
        let (kind, headline, consequence) = match license.status {
            LicenseStatus::Active => return Ok(None),
            LicenseStatus::Suspended => (
                "suspended",
                format!("This license is suspended by {vendor}"),
                "It does not work while it is suspended: your machines refuse it at their next \
                 check, and no new license file or machine file can be downloaded. Files \
                 downloaded before keep their own expiry date. It works again when it is \
                 reinstated.",
            ),
            LicenseStatus::Revoked => (
                "revoked",
                format!("This license was revoked by {vendor}"),
                "It can no longer be used, and that will not change: your machines refuse it at \
                 their next check, and no new license file or machine file can be downloaded. \
                 Files downloaded before keep their own expiry date.",
            ),
        };
        Ok(Some(Self {
            kind,
            headline,
            consequence,
            reason: licensing::status_reason(db, &license.id).await?,
        }))
    }
}

#[derive(Template)]
#[template(path = "portal/license.html")]
struct DetailPage {
    page: Page,
    l: LicenseItem,
    standing: Option<StandingNotice>,
    machines: Vec<MachineItem>,
    /// Live machines beyond the ones listed.
    machines_not_shown: i64,
    may_deactivate: bool,
    key: KeyView,
    help: ActivationHelp,
    /// "Upgrade" for a trial, "Renew" near or past its expiry, when the
    /// product is on sale: (label, link).
    pay: Option<(&'static str, String)>,
    /// How it is paid: "Renews through stripe; paid until …".
    billing: Vec<String>,
}

/// Days before its expiry a license page offers "Renew".
const RENEW_WINDOW_DAYS: i64 = 30;

/// The payment step a license's page offers, if any.
async fn pay_link(
    ctx: &crate::services::context::Ctx<'_>,
    license: &LicenseView,
    now: Timestamp,
) -> Result<Option<(&'static str, String)>, WebError> {
    if license.status == LicenseStatus::Revoked
        || !payments::product_on_sale(ctx, license.product_id.as_str()).await?
    {
        return Ok(None);
    }
    let id = &license.id;
    if license.is_trial {
        return Ok(Some(("Upgrade", format!("/licenses/{id}/upgrade"))));
    }
    let near_end = license
        .expires_at
        .is_some_and(|at| at <= now.plus_days(RENEW_WINDOW_DAYS));
    Ok(near_end.then(|| ("Renew", format!("/licenses/{id}/renew"))))
}

fn billing_lines(billing: &[payments::Billing]) -> Vec<String> {
    billing
        .iter()
        .map(|b| {
            let until = b
                .period_end
                .map_or_else(|| "its first period is confirmed".to_owned(), |at| at.to_date_string());
            if b.canceled {
                format!("The {} subscription is canceled: the license runs until {until} and does not renew.", b.provider)
            } else {
                format!("Renews through {} by itself; paid until {until}.", b.provider)
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub async fn detail(
    FormPage(page): FormPage,
    who: SignedIn,
    session: Session,
    path: web::Path<String>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    site: web::Data<Site>,
) -> Result<HttpResponse, WebError> {
    who.require_verified()?;
    let license = owned(&db, &who, &path).await?;
    let now = clock.now();
    let key = KeyView::for_session(&session, &db, &cipher, &license, now, "license").await?;
    let machines = licensing::active_machines(&db, &license.id, MACHINES_LISTED).await?;
    let product = catalog::product(&db, &license.product_id)
        .await?
        .ok_or_else(|| WebError::Unexpected(anyhow::anyhow!("the license's product is gone")))?;
    let help = ActivationHelp::new(&site, &product, key.for_commands(), key.revealed.is_some());
    let ctx = crate::services::context::Ctx::new(&db, clock.as_ref(), who.actor());
    let pay = pay_link(&ctx, &license, now).await?;
    let billing = billing_lines(&payments::billing_of(&ctx, license.id.as_str()).await?);
    render_private(&DetailPage {
        pay,
        billing,
        standing: StandingNotice::of(&db, &license, &page.vendor_name).await?,
        page: page.titled(&license.product_name),
        l: LicenseItem::new(&license, now),
        machines_not_shown: license.machines_used - machines.len() as i64,
        machines: machines.iter().map(MachineItem::from).collect(),
        may_deactivate: license.customer_may_deactivate,
        key,
        help,
    })
}

/// The deactivation form: a confirmation names what will happen first.
#[derive(Debug, Deserialize)]
pub struct DeactivateForm {
    #[serde(default)]
    csrf: String,
    /// `yes` from the confirmation; anything else changes nothing.
    #[serde(default)]
    confirm: String,
}

pub async fn deactivate(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    path: web::Path<(String, String)>,
    form: web::Form<DeactivateForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let (license_id, machine_id) = path.into_inner();
    let license = owned(&db, &who, &license_id).await?;
    let machine_id = MachineId::parse(&machine_id).map_err(|_| WebError::NotFound)?;
    if licensing::active_machine(&db, &license.id, &machine_id)
        .await?
        .is_none()
    {
        return Err(WebError::NotFound);
    }
    if form.confirm != "yes" {
        flash(
            &session,
            "Nothing was deactivated: confirm with the button that names the machine.",
        );
        return Ok(see_other(&format!("/licenses/{}", license.id)));
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
