//! The onboarding stepper: Account → Verify email → Get a license →
//! Activate → Done, resumed from what is stored.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::id::LicenseId;
use crate::domain::id::is_well_formed;
use crate::secret::DataCipher;
use crate::services::context::Brand;
use crate::services::licensing::LicensingError;
use crate::services::licensing::TrialOffer;
use crate::services::onboarding::{self, Step};
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{
    CsrfForm, FormPage, ONBOARDED, Page, Site, check_csrf, flash, render_private, see_other,
};
use crate::web::portal::activation::ActivationHelp;
use crate::web::portal::licenses::LicenseItem;
use crate::web::portal::reveal::KeyView;
use crate::web::portal::{SignedIn, customer_ctx};

struct StepView {
    label: &'static str,
    done: bool,
    current: bool,
}

#[derive(Template)]
#[template(path = "portal/onboarding.html")]
struct OnboardingPage {
    page: Page,
    steps: Vec<StepView>,
    step: &'static str,
    email: String,
    assigned: Vec<LicenseItem>,
    trials: Vec<TrialOffer>,
    first: Option<LicenseItem>,
    /// The first license's key and how to activate it (the activate step).
    activate: Option<(KeyView, ActivationHelp)>,
}

#[allow(clippy::too_many_arguments)]
pub async fn page(
    req: HttpRequest,
    FormPage(page): FormPage,
    who: SignedIn,
    session: Session,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    site: web::Data<Site>,
) -> Result<HttpResponse, WebError> {
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    let state = onboarding::state(&ctx, &who.user).await?;
    if state.step == Step::Done {
        let _ = session.insert(ONBOARDED, true);
    }
    let now = clock.now();
    let steps = Step::ALL
        .iter()
        .map(|s| StepView {
            label: s.label(),
            done: *s < state.step || state.step == Step::Done,
            current: *s == state.step && state.step != Step::Done,
        })
        .collect();
    // The key is shown under the license page's rule: after the password.
    let (first, activate) = match (state.step, state.licenses.first()) {
        (Step::Activate, Some(l)) => {
            let key = KeyView::for_session(&session, &db, &cipher, l, now, "onboarding").await?;
            let product = crate::services::catalog::product(&db, &l.product_id)
                .await?
                .ok_or_else(|| {
                    WebError::Unexpected(anyhow::anyhow!("the license's product is gone"))
                })?;
            let help =
                ActivationHelp::new(&site, &product, key.for_commands(), key.revealed.is_some());
            (Some(LicenseItem::new(l, now)), Some((key, help)))
        }
        _ => (None, None),
    };
    render_private(&OnboardingPage {
        page: page.titled("Get started"),
        steps,
        step: state.step.as_str(),
        email: who.user.email.clone(),
        assigned: state
            .assigned
            .iter()
            .map(|l| LicenseItem::new(l, now))
            .collect(),
        trials: state.trials,
        first,
        activate,
    })
}

#[derive(Debug, Deserialize)]
pub struct TrialForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    license_type_id: String,
}

fn friendly(e: LicensingError) -> Result<String, WebError> {
    match e {
        LicensingError::Unexpected(e) => Err(e.into()),
        LicensingError::NotFound(_) => Ok("That offer is no longer available.".to_owned()),
        other => Ok(other.to_string()),
    }
}

pub async fn claim_trial(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    form: web::Form<TrialForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    brand: web::Data<crate::services::context::Brand>,
    metrics: web::Data<crate::metrics::Metrics>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    if !is_well_formed(&form.license_type_id) {
        return Err(WebError::NotFound);
    }
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    match onboarding::claim_trial(&ctx, &cipher, &brand, &who.user, &form.license_type_id).await {
        Ok(license) => {
            metrics.step("license_assigned");
            flash(
                &session,
                &format!("Your {} trial has started.", license.product_name),
            )
        }
        Err(e) => flash(&session, &friendly(e)?),
    }
    Ok(see_other("/onboarding"))
}

pub async fn accept(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
    metrics: web::Data<crate::metrics::Metrics>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let license_id = LicenseId::parse(&path).map_err(|_| WebError::NotFound)?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    match onboarding::accept_assigned(&ctx, &brand, &who.user, &license_id).await {
        Ok(license) => {
            metrics.step("license_assigned");
            flash(
                &session,
                &format!("{} is now in your organization.", license.product_name),
            )
        }
        Err(e) => flash(&session, &friendly(e)?),
    }
    Ok(see_other("/onboarding"))
}
