//! `/admin/staff`: support and admin accounts. Admins invite (the person
//! gets a link to set a password), change roles and disable accounts.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::email::EmailAddress;
use crate::domain::id::is_well_formed;
use crate::domain::role::{Capability, Role};
use crate::domain::time::Timestamp;
use crate::services::context::Brand;
use crate::services::staff::StaffRow;
use crate::services::staff::{self, StaffError};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, flash, render_private_status, see_other};

struct StaffLine {
    row: StaffRow,
    created: String,
    me: bool,
}

#[derive(Template)]
#[template(path = "admin/staff.html")]
struct StaffPage {
    page: Page,
    staff: Vec<StaffLine>,
    /// The staff roles, for the role selects.
    roles: Vec<&'static str>,
    error: Option<String>,
}

async fn render_page(
    db: &Db,
    me: &str,
    page: Page,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let staff = staff::list(db)
        .await?
        .into_iter()
        .map(|row| StaffLine {
            created: Timestamp::from_unix(row.created_at).to_utc_string(),
            me: row.id == me,
            row,
        })
        .collect();
    render_private_status(
        status,
        &StaffPage {
            page: page.titled("Staff"),
            roles: Role::ALL
                .iter()
                .filter(|r| r.is_staff())
                .map(|r| r.as_str())
                .collect(),
            staff,
            error,
        },
    )
}

/// `GET /admin/staff`
pub async fn page(
    FormPage(page): FormPage,
    who: Staff,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    who.require(Capability::Administer)?;
    render_page(&db, &who.user.id, page, StatusCode::OK, None).await
}

#[derive(Debug, Default, Deserialize)]
pub struct StaffInviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

fn staff_role(s: &str) -> Option<Role> {
    s.parse::<Role>().ok().filter(|r| r.is_staff())
}

/// `POST /admin/staff`: invites a staff member of any staff role.
pub async fn invite(
    req: HttpRequest,
    FormPage(page): FormPage,
    who: Staff,
    session: Session,
    form: web::Form<StaffInviteForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require(Capability::Administer)?;
    let refuse = |page: Page, message: String| {
        let db = db.clone();
        let me = who.user.id.clone();
        async move {
            render_page(
                &db,
                &me,
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(message),
            )
            .await
        }
    };
    let Ok(email) = EmailAddress::parse(&form.email) else {
        return refuse(page, "That is not an email address.".to_owned()).await;
    };
    let Some(role) = staff_role(&form.role) else {
        return refuse(
            page,
            "Choose a staff role: admin, support, sales or read_only.".to_owned(),
        )
        .await;
    };
    let ctx = who.ctx(&db, clock.as_ref(), &req);
    match staff::invite_staff(&ctx, &brand, &email, role).await {
        Ok(_) => {
            flash(
                &session,
                &format!(
                    "Invited {}: they get a link to set their password.",
                    email.as_str()
                ),
            );
            Ok(see_other("/admin/staff"))
        }
        Err(StaffError::Unexpected(e)) => Err(e.into()),
        Err(e) => refuse(page, e.to_string()).await,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
    /// A checkbox: present when the account may not sign in.
    #[serde(default)]
    disabled: Option<String>,
}

/// `POST /admin/staff/{id}`: role and enabled state.
pub async fn update(
    req: HttpRequest,
    who: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<UpdateForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require(Capability::Administer)?;
    if !is_well_formed(&path) {
        return Err(WebError::NotFound);
    }
    let Some(role) = staff_role(&form.role) else {
        flash(
            &session,
            "Choose a staff role: admin, support, sales or read_only.",
        );
        return Ok(see_other("/admin/staff"));
    };
    let ctx = who.ctx(&db, clock.as_ref(), &req);
    match staff::update_staff(&ctx, &path, role, form.disabled.is_some()).await {
        Ok(()) => flash(&session, "Saved."),
        Err(StaffError::NotFound) => return Err(WebError::NotFound),
        Err(StaffError::Unexpected(e)) => return Err(e.into()),
        Err(e) => flash(&session, &format!("Not done: {e}")),
    }
    Ok(see_other("/admin/staff"))
}
