//! The customer's onboarding: where they stand and the one next step.
//! The state is derived from what is stored (verified email, licenses,
//! activations), so a reload or a later visit resumes at the right step.

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::audit::WebhookEvent;
use crate::domain::id::{LicenseId, OrganizationId};
use crate::secret::DataCipher;
use crate::services::context::Ctx;
use crate::services::licensing::{self, Holder, IssueRequest, LicenseView, LicensingError};
use crate::store::events::{self, NewEvent};
use crate::store::license_types;
use crate::store::licenses::{self, LicenseFilter, TrialOffer};
use crate::store::users::UserRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Account,
    VerifyEmail,
    GetLicense,
    Activate,
    Done,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Account,
        Step::VerifyEmail,
        Step::GetLicense,
        Step::Activate,
        Step::Done,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Step::Account => "Account",
            Step::VerifyEmail => "Verify email",
            Step::GetLicense => "Get a license",
            Step::Activate => "Activate",
            Step::Done => "Done",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Account => "account",
            Step::VerifyEmail => "verify_email",
            Step::GetLicense => "get_license",
            Step::Activate => "activate",
            Step::Done => "done",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Onboarding {
    pub step: Step,
    /// The organization's licenses.
    pub licenses: Vec<LicenseView>,
    /// Licenses the vendor assigned to this email, not yet accepted.
    pub assigned: Vec<LicenseView>,
    /// Trials the organization can still claim.
    pub trials: Vec<TrialOffer>,
}

/// Whether the user's onboarding is over: the address confirmed and a
/// machine of the organization activated. Sign-in then lands on the
/// licenses, and the navigation drops "Get started".
pub async fn is_done(ctx: &Ctx<'_>, user: &UserRow) -> Result<bool, LicensingError> {
    Ok(
        match (user.organization_id.as_deref(), user.email_verified_at) {
            (Some(org), Some(_)) => {
                licenses::organization_has_activated(ctx.db.pool(), org).await?
            }
            _ => false,
        },
    )
}

pub async fn state(ctx: &Ctx<'_>, user: &UserRow) -> Result<Onboarding, LicensingError> {
    let Some(org) = user.organization_id.as_deref() else {
        return Ok(Onboarding {
            step: Step::Account,
            licenses: vec![],
            assigned: vec![],
            trials: vec![],
        });
    };
    if user.email_verified_at.is_none() {
        return Ok(Onboarding {
            step: Step::VerifyEmail,
            licenses: vec![],
            assigned: vec![],
            trials: vec![],
        });
    }
    let filter = LicenseFilter {
        organization_id: Some(org.to_owned()),
        ..LicenseFilter::default()
    };
    let owned = licensing::list_licenses(ctx.db, &filter, 200).await?;
    let mut assigned = Vec::new();
    for row in licenses::unclaimed_for_email(ctx.db.pool(), &user.email).await? {
        assigned.push(licensing::get_license(ctx.db, &row.id).await?);
    }
    let trials = licenses::trial_offers(ctx.db.pool(), org).await?;
    let step = if owned.is_empty() {
        Step::GetLicense
    } else if !licenses::organization_has_activated(ctx.db.pool(), org).await? {
        Step::Activate
    } else {
        Step::Done
    };
    Ok(Onboarding {
        step,
        licenses: owned,
        assigned,
        trials,
    })
}

/// The user's organization, once their email is confirmed.
fn verified_organization(user: &UserRow) -> Result<OrganizationId, LicensingError> {
    let org = user
        .organization_id
        .clone()
        .ok_or_else(|| LicensingError::Invalid("Your account has no organization.".to_owned()))?;
    if user.email_verified_at.is_none() {
        return Err(LicensingError::Invalid(
            "Confirm your email address first.".to_owned(),
        ));
    }
    Ok(org)
}

/// Claims the self-service trial of a license type for the user's
/// organization: one per organization and product, enforced by a unique
/// index.
pub async fn claim_trial(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    brand: &crate::services::context::Brand,
    user: &UserRow,
    license_type_id: &str,
) -> Result<LicenseView, LicensingError> {
    let org = verified_organization(user)?;
    let lt = license_types::find_by_id(ctx.db.pool(), license_type_id)
        .await?
        .filter(|t| t.self_service_trial == 1 && t.retired_at.is_none())
        .ok_or(LicensingError::NotFound("trial"))?;
    let issued = licensing::issue_license(
        ctx,
        cipher,
        brand,
        &IssueRequest {
            license_type_id: lt.id,
            holder: Some(Holder::Organization(org)),
            max_machines: None,
            expires_at: None,
            is_trial: true,
            entitlements: None,
            note: None,
        },
    )
    .await
    .map_err(|e| match e {
        LicensingError::Conflict(_) => LicensingError::Conflict(
            "Your organization already had a trial of this product.".to_owned(),
        ),
        other => other,
    })?;
    Ok(issued.license)
}

/// Accepts a license the vendor assigned to the user's (verified) email.
pub async fn accept_assigned(
    ctx: &Ctx<'_>,
    brand: &crate::services::context::Brand,
    user: &UserRow,
    license_id: &LicenseId,
) -> Result<LicenseView, LicensingError> {
    let org = verified_organization(user)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    if !licenses::claim_for_organization(&mut tx, license_id, &user.email, &org, now).await? {
        return Err(LicensingError::NotFound("license"));
    }
    let mut event = NewEvent::new(EventKind::LicenseAssigned, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.license_id = Some(license_id);
    event.organization_id = Some(&org);
    event.user_id = Some(&user.id);
    event.data = json!({ "accepted_by": user.id });
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the assignment")?;
    let license = licensing::view_in_tx(&mut tx, license_id).await?;
    crate::services::webhooks::publish(
        &mut tx,
        WebhookEvent::LicenseAssigned,
        (Some(&org), Some(license_id)),
        json!({ "license": license.webhook_data(),
                "details": { "accepted_by": user.id } }),
        now,
    )
    .await?;
    crate::services::licensing::welcome(&mut tx, brand, &license, now).await?;
    tx.commit().await.context("committing the assignment")?;
    Ok(license)
}
