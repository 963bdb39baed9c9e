//! A customer's personal data from the console: support downloads
//! everything Licensor holds about a person (JSON); an admin erases their
//! account, with a reason, as the customer can from the portal.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::id::is_well_formed;
use crate::domain::role::Capability;
use crate::services::personal_data::{self, PersonalDataError};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::admin::form::is_reason;
use crate::web::error::WebError;
use crate::web::layout::{check_csrf, flash, json_download, see_other};

/// The person must be a member of the organization in the address.
async fn member_of(db: &Db, org: &str, user_id: &str) -> Result<(), WebError> {
    if !is_well_formed(org) || !is_well_formed(user_id) {
        return Err(WebError::NotFound);
    }
    crate::services::accounts::member(db, org, user_id)
        .await?
        .map(|_| ())
        .ok_or(WebError::NotFound)
}

/// `GET /admin/customers/{org}/users/{user}/data.json`
pub async fn export(
    staff: Staff,
    path: web::Path<(String, String)>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Support)?;
    let (org, user_id) = path.into_inner();
    member_of(&db, &org, &user_id).await?;
    let document = personal_data::export(&db, &user_id, clock.now().unix()).await?;
    tracing::info!(user_id, staff = %staff.user.id, "personal data exported by staff");
    Ok(json_download(
        &format!("licensor-personal-data-{user_id}.json"),
        &document,
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct EraseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /admin/customers/{org}/users/{user}/erase`: a reason is required
/// and recorded; what became of the organization is said.
pub async fn erase(
    req: HttpRequest,
    staff: Staff,
    session: Session,
    path: web::Path<(String, String)>,
    form: web::Form<EraseForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let (org, user_id) = path.into_inner();
    member_of(&db, &org, &user_id).await?;
    let back = format!("/admin/customers/{org}");
    let reason = form.reason.trim();
    if !is_reason(reason) {
        flash(
            &session,
            "Not erased: give the reason for erasing the account (up to 500 characters).",
        );
        return Ok(see_other(&back));
    }
    let ctx = staff.ctx(&db, clock.as_ref(), &req).with_reason(reason);
    match personal_data::erase_account(&ctx, &user_id).await {
        Ok(fate) => {
            let said = match fate {
                personal_data::OrganizationFate::HandedOver { to } => {
                    format!("{to} is now the organization's owner.")
                }
                personal_data::OrganizationFate::NameErased => {
                    "No one is left in the organization: its name is erased; its licenses stay."
                        .to_owned()
                }
                personal_data::OrganizationFate::Unchanged => {
                    "The organization and its licenses are unchanged.".to_owned()
                }
            };
            flash(&session, &format!("The account is erased. {said}"));
            Ok(see_other(&back))
        }
        Err(e @ PersonalDataError::Staff) => {
            flash(&session, &format!("Not erased: {e}"));
            Ok(see_other(&back))
        }
        Err(e) => Err(e.into()),
    }
}
