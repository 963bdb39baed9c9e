//! Two-factor sign-in in the browser, for customers and staff alike:
//! turning it on and off with recovery codes (`/account/two-factor`), and
//! the sign-in waiting for its code (asked at `/login/code`, in the
//! portal's sign-in).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::secret::DataCipher;
use crate::services::accounts::UserRow;
use crate::services::context::{Brand, Ctx};
use crate::services::two_factor::{self, Enrolment, Status, TwoFactorError};
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, render_private_status, see_other};
use crate::web::request::request_id;
use crate::web::session::signed_in_user;

/// The session entry of a sign-in whose password was right and whose
/// second factor is awaited: the account and when the password passed.
pub const PENDING: &str = "two_factor_pending";
/// How long the code may take after the password.
const PENDING_SECS: i64 = 300;

/// Admins must turn two-factor sign-in on before using the console
/// (setting `staff_require_2fa`).
#[derive(Debug, Clone, Copy)]
pub struct TwoFactorPolicy {
    pub staff_require_2fa: bool,
}

/// A sign-in waiting for its second factor.
#[derive(Debug, serde::Serialize, Deserialize)]
pub struct Pending {
    pub user_id: String,
    /// The account as typed, for the sign-in throttle.
    pub email: String,
    pub at: i64,
}

/// The sign-in waiting for its code, unless it waited too long.
pub fn pending_of(session: &Session, now: i64) -> Option<Pending> {
    session
        .get::<Pending>(PENDING)
        .ok()
        .flatten()
        .filter(|p| now - p.at <= PENDING_SECS)
}

/// After a right password: remembers the account and asks for the code.
pub fn ask_for_code(session: &Session, user: &UserRow, now: i64) -> Result<HttpResponse, WebError> {
    session.renew();
    session
        .insert(
            PENDING,
            Pending {
                user_id: user.id.to_string(),
                email: user.email.clone(),
                at: now,
            },
        )
        .map_err(|e| WebError::Unexpected(anyhow::anyhow!("session insert failed: {e}")))?;
    Ok(see_other("/login/code"))
}

#[derive(Debug, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// What the settings page shows.
enum Shown {
    Status(Status),
    Enrolling(Enrolment),
    Codes(Vec<String>),
}

#[derive(Template)]
#[template(path = "portal/two_factor.html")]
struct SettingsPage<'a> {
    page: Page,
    shown: Shown,
    error: Option<&'a str>,
    required: bool,
}

/// The signed-in account, staff or customer, and its actor.
async fn account(req: &HttpRequest) -> Result<(UserRow, Actor), WebError> {
    let user = signed_in_user(req).await?;
    let actor = if user.role.is_staff() {
        Actor::Staff {
            user_id: user.id.to_string(),
        }
    } else {
        Actor::Customer {
            user_id: user.id.to_string(),
        }
    };
    Ok((user, actor))
}

fn settings(
    page: Page,
    status: StatusCode,
    shown: Shown,
    error: Option<&str>,
    required: bool,
) -> Result<HttpResponse, WebError> {
    render_private_status(
        status,
        &SettingsPage {
            page: page.titled("Two-factor sign-in"),
            shown,
            error,
            required,
        },
    )
}

fn required_for(user: &UserRow, policy: &TwoFactorPolicy) -> bool {
    policy.staff_require_2fa && user.role == crate::domain::role::Role::Admin
}

/// `GET /account/two-factor`
pub async fn page(
    req: HttpRequest,
    FormPage(page): FormPage,
    db: web::Data<Db>,
    policy: web::Data<TwoFactorPolicy>,
) -> Result<HttpResponse, WebError> {
    let (user, _) = account(&req).await?;
    let status = two_factor::status(&db, &user.id)
        .await
        .map_err(unexpected)?;
    settings(
        page,
        StatusCode::OK,
        Shown::Status(status),
        None,
        required_for(&user, &policy),
    )
}

fn unexpected(e: TwoFactorError) -> WebError {
    match e {
        TwoFactorError::Unexpected(e) => WebError::Unexpected(e),
        other => WebError::Unexpected(anyhow::anyhow!("{other}")),
    }
}

/// What a settings action needs.
struct Action<'a> {
    req: &'a HttpRequest,
    page: Page,
    db: &'a Db,
    clock: &'a dyn Clock,
    cipher: &'a DataCipher,
    brand: &'a Brand,
    policy: TwoFactorPolicy,
}

impl Action<'_> {
    async fn run(self, step: &str, code: &str) -> Result<HttpResponse, WebError> {
        let (user, actor) = account(self.req).await?;
        let required = required_for(&user, &self.policy);
        let ctx = Ctx::new(self.db, self.clock, actor).with_request_id(Some(request_id(self.req)));
        let (issuer, id) = (self.brand.vendor_name.as_str(), user.id.to_string());
        let outcome = match step {
            "start" => two_factor::start(&ctx, self.cipher, &id, issuer, &user.email)
                .await
                .map(Shown::Enrolling),
            "confirm" => two_factor::confirm(&ctx, self.cipher, &id, code)
                .await
                .map(Shown::Codes),
            "recovery-codes" => two_factor::renew_recovery_codes(&ctx, self.cipher, &id, code)
                .await
                .map(Shown::Codes),
            _ => match two_factor::turn_off(&ctx, self.cipher, &id, code).await {
                Ok(()) => return Ok(see_other("/account/two-factor")),
                Err(e) => Err(e),
            },
        };
        let error = match outcome {
            Ok(shown) => return settings(self.page, StatusCode::OK, shown, None, required),
            Err(TwoFactorError::Unexpected(e)) => return Err(WebError::Unexpected(e)),
            Err(e) => e.to_string(),
        };
        // Refused: the enrolment again (its QR code), or the status.
        let shown = match two_factor::pending(&ctx, self.cipher, &id, issuer, &user.email).await {
            Ok(enrolment) if step == "confirm" => Shown::Enrolling(enrolment),
            _ => Shown::Status(two_factor::status(self.db, &id).await.map_err(unexpected)?),
        };
        settings(
            self.page,
            StatusCode::UNPROCESSABLE_ENTITY,
            shown,
            Some(&error),
            required,
        )
    }
}

/// `POST /account/two-factor/{step}`: `start`, `confirm`,
/// `recovery-codes` or `off`.
#[allow(clippy::too_many_arguments)]
pub async fn act(
    req: HttpRequest,
    FormPage(page): FormPage,
    path: web::Path<String>,
    session: Session,
    form: web::Form<SettingsForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    brand: web::Data<Brand>,
    policy: web::Data<TwoFactorPolicy>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let step = path.into_inner();
    if !["start", "confirm", "recovery-codes", "off"].contains(&step.as_str()) {
        return Err(WebError::NotFound);
    }
    Action {
        req: &req,
        page,
        db: &db,
        clock: clock.as_ref(),
        cipher: &cipher,
        brand: &brand,
        policy: **policy,
    }
    .run(&step, form.code.trim())
    .await
}
