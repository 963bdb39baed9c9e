//! Sign-up and email verification.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::email::EmailAddress;
use crate::domain::password::Password;
use crate::services::accounts::{self, AccountError, Verification};
use crate::services::context::Brand;
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{
    CsrfForm, FormPage, Page, check_csrf, flash, render, render_status, see_other,
};
use crate::web::portal::{SignedIn, customer_ctx};
use crate::web::ratelimit::PortalLimits;
use crate::web::request::client_ip;
use crate::web::session::USER_ID;

use super::{MessagePage, anonymous_ctx, no_referrer};

#[derive(Debug, Default, Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    organization: String,
}

#[derive(Debug, Default)]
struct SignupErrors {
    email: Option<String>,
    password: Option<String>,
    organization: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/signup.html")]
struct SignupPage<'a> {
    page: Page,
    form: &'a SignupForm,
    errors: SignupErrors,
}

#[derive(Template)]
#[template(path = "portal/check_email.html")]
struct CheckEmailPage {
    page: Page,
    email: String,
}

pub async fn signup_form(FormPage(page): FormPage) -> Result<HttpResponse, WebError> {
    render(&SignupPage {
        page: page.titled("Create your account"),
        form: &SignupForm::default(),
        errors: SignupErrors::default(),
    })
}

pub async fn signup(
    req: HttpRequest,
    FormPage(page): FormPage,
    session: Session,
    form: web::Form<SignupForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
    limits: web::Data<PortalLimits>,
    metrics: web::Data<crate::metrics::Metrics>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    limits.sign_up(client_ip(&req))?;
    let mut errors = SignupErrors::default();
    let email = EmailAddress::parse(&form.email)
        .map_err(|e| errors.email = Some(e.to_string()))
        .ok();
    let password = Password::parse_for(SecretString::from(form.password.clone()), &form.email)
        .map_err(|e| errors.password = Some(e.to_string()))
        .ok();
    let organization = form.organization.trim();
    if organization.is_empty() || organization.chars().count() > 100 {
        errors.organization =
            Some("Enter your organization's name (up to 100 characters).".to_owned());
    }
    let (Some(email), Some(password), None) = (email, password, &errors.organization) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SignupPage {
                page: page.titled("Create your account"),
                form: &form,
                errors,
            },
        );
    };
    let ctx = anonymous_ctx(&db, clock.as_ref(), &req);
    if accounts::sign_up(&ctx, &brand, &email, password, organization)
        .await?
        .is_some()
    {
        metrics.step("signed_up");
    }
    let _ = session.insert(SENT_TO, email.as_str());
    Ok(see_other("/signup/sent"))
}

/// The session entry naming the address the last sign-up went to, for the
/// page after it.
const SENT_TO: &str = "sent_to";

/// `GET /signup/sent`: the page after a sign-up (post/redirect/get).
pub async fn signup_sent(
    FormPage(page): FormPage,
    session: Session,
) -> Result<HttpResponse, WebError> {
    let Some(email) = session.get::<String>(SENT_TO).ok().flatten() else {
        return Ok(see_other("/signup"));
    };
    render(&CheckEmailPage {
        page: page.titled("Check your inbox"),
        email,
    })
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /verify-email?token=…`: confirms, then redirects so the token
/// leaves the address bar.
pub async fn verify_email(
    req: HttpRequest,
    FormPage(page): FormPage,
    session: Session,
    query: web::Query<TokenQuery>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    metrics: web::Data<crate::metrics::Metrics>,
) -> Result<HttpResponse, WebError> {
    let ctx = anonymous_ctx(&db, clock.as_ref(), &req);
    match accounts::verify_email(&ctx, &query.token).await {
        Ok(verification) => {
            let user_id = match verification {
                Verification::Confirmed(user_id) => {
                    metrics.step("email_verified");
                    flash(&session, "Your email address is confirmed.");
                    user_id
                }
                Verification::AlreadyConfirmed(user_id) => {
                    flash(
                        &session,
                        "Your email address is already confirmed: there is nothing more to do.",
                    );
                    user_id
                }
            };
            let signed_in = session.get::<String>(USER_ID).ok().flatten();
            Ok(see_other(
                if signed_in.as_deref() == Some(user_id.as_str()) {
                    "/onboarding"
                } else {
                    "/login"
                },
            ))
        }
        Err(AccountError::Unexpected(e)) => Err(e.into()),
        Err(e) => {
            let mut res = render_status(
                StatusCode::BAD_REQUEST,
                &MessagePage {
                    page: page.titled("Link not valid"),
                    heading: "This confirmation link does not work",
                    message: &e.to_string(),
                    link: "/onboarding",
                    link_text: "Sign in and send a new link",
                },
            )?;
            no_referrer(&mut res);
            Ok(res)
        }
    }
}

pub async fn resend_verification(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    form: web::Form<CsrfForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
    limits: web::Data<PortalLimits>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    limits.verification_resend(&who.user.id)?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    match accounts::resend_verification(&ctx, &brand, &who.user).await {
        Ok(()) => flash(&session, "We sent a new link. It works for 24 hours."),
        Err(AccountError::Cooldown(secs)) => {
            flash(
                &session,
                &format!("We just sent a link. Wait {secs} seconds before asking again."),
            );
        }
        Err(e) => return Err(e.into()),
    }
    Ok(see_other("/onboarding"))
}
