//! Password reset by email.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::domain::email::EmailAddress;
use crate::domain::password::Password;
use crate::services::accounts::{self, AccountError};
use crate::services::context::{Brand, Ctx};
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{
    FormPage, Page, check_csrf, flash, render, render_private, render_status, see_other,
};
use crate::web::ratelimit::PortalLimits;
use crate::web::request::client_ip;

use super::{anonymous_ctx, no_referrer, sign_in};

/// The session entry holding a reset link's token once it left the URL.
const RESET_TOKEN: &str = "reset_token";

/// `GET /forgot-password/sent`: the page after a reset request, the same
/// for every address.
pub async fn forgot_sent(FormPage(page): FormPage) -> Result<HttpResponse, WebError> {
    render(&ForgotPage {
        page: page.titled("Reset your password"),
        email: "",
        sent: true,
        error: None,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

#[derive(Template)]
#[template(path = "portal/forgot.html")]
struct ForgotPage<'a> {
    page: Page,
    email: &'a str,
    sent: bool,
    error: Option<String>,
}

pub async fn forgot_form(FormPage(page): FormPage) -> Result<HttpResponse, WebError> {
    render(&ForgotPage {
        page: page.titled("Reset your password"),
        email: "",
        sent: false,
        error: None,
    })
}

pub async fn forgot(
    req: HttpRequest,
    FormPage(page): FormPage,
    session: Session,
    form: web::Form<EmailForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
    limits: web::Data<PortalLimits>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    limits.password_reset(client_ip(&req), form.email.trim())?;
    let email = match EmailAddress::parse(&form.email) {
        Ok(email) => email,
        Err(e) => {
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ForgotPage {
                    page: page.titled("Reset your password"),
                    email: &form.email,
                    sent: false,
                    error: Some(e.to_string()),
                },
            );
        }
    };
    // The answer must not tell a known address from an unknown one, in its
    // words or in its time: the lookup, the token and the email happen
    // after it, in the background. A failure there is logged.
    let request_id = crate::web::request::request_id(&req);
    let (db, clock, brand) = (db.into_inner(), clock.into_inner(), brand.into_inner());
    actix_web::rt::spawn(async move {
        let ctx =
            Ctx::new(&db, clock.as_ref(), Actor::System).with_request_id(Some(request_id.clone()));
        if let Err(e) = accounts::request_password_reset(&ctx, &brand, &email).await {
            tracing::error!(
                request_id = %request_id,
                error = %e,
                "a password reset request failed"
            );
        }
    });
    Ok(see_other("/forgot-password/sent"))
}

#[derive(Template)]
#[template(path = "portal/reset.html")]
struct ResetPage {
    page: Page,
    usable: bool,
    error: Option<String>,
}

/// `GET /reset-password?token=…` keeps the token in the session and
/// redirects, so it leaves the address bar; the form then posts without it.
pub async fn reset_form(
    req: HttpRequest,
    FormPage(page): FormPage,
    session: Session,
    query: web::Query<std::collections::HashMap<String, String>>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    if let Some(token) = query.get("token") {
        let _ = session.insert(RESET_TOKEN, token);
        let mut res = see_other("/reset-password");
        no_referrer(&mut res);
        return Ok(res);
    }
    let token = session
        .get::<String>(RESET_TOKEN)
        .ok()
        .flatten()
        .unwrap_or_default();
    let ctx = anonymous_ctx(&db, clock.as_ref(), &req);
    let (usable, error) = match accounts::check_reset_token(&ctx, &token).await {
        Ok(()) => (true, None),
        Err(AccountError::Unexpected(e)) => return Err(e.into()),
        Err(e) => (false, Some(e.to_string())),
    };
    let mut res = render_private(&ResetPage {
        page: page.titled("Choose a new password"),
        usable,
        error,
    })?;
    no_referrer(&mut res);
    Ok(res)
}

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

pub async fn reset(
    req: HttpRequest,
    FormPage(page): FormPage,
    session: Session,
    form: web::Form<PasswordForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let token = session
        .get::<String>(RESET_TOKEN)
        .ok()
        .flatten()
        .unwrap_or_default();
    let password = match Password::parse(SecretString::from(form.password.clone())) {
        Ok(p) => p,
        Err(e) => {
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ResetPage {
                    page: page.titled("Choose a new password"),
                    usable: true,
                    error: Some(e.to_string()),
                },
            );
        }
    };
    let ctx = anonymous_ctx(&db, clock.as_ref(), &req);
    match accounts::reset_password(&ctx, &brand, &token, password).await {
        Ok(user) => {
            let _ = session.remove(RESET_TOKEN);
            sign_in(&session, &user)?;
            flash(
                &session,
                "Your password is changed and every other session is signed out.",
            );
            Ok(see_other("/onboarding"))
        }
        Err(AccountError::Unexpected(e)) => Err(e.into()),
        Err(e @ AccountError::WeakPassword(_)) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ResetPage {
                page: page.titled("Choose a new password"),
                usable: true,
                error: Some(e.to_string()),
            },
        ),
        Err(e) => render_status(
            StatusCode::BAD_REQUEST,
            &ResetPage {
                page: page.titled("Choose a new password"),
                usable: false,
                error: Some(e.to_string()),
            },
        ),
    }
}
