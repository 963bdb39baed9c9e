//! Signing in and out.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::domain::email::EmailAddress;
use crate::secret::DataCipher;
use crate::services::accounts::{self, AccountError};
use crate::services::context::Ctx;
use crate::services::onboarding;
use crate::services::two_factor::{self, TwoFactorError};
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{
    CsrfForm, FormPage, ONBOARDED, Page, check_csrf, render, render_private_status, render_status,
    see_other,
};
use crate::web::portal::{SignedIn, customer_ctx};
use crate::web::ratelimit::PortalLimits;
use crate::web::request::{client_ip, request_id};
use crate::web::two_factor::{PENDING, pending_of};

use super::{anonymous_ctx, sign_in};

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage<'a> {
    page: Page,
    email: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    ended: Option<String>,
}

pub async fn login_form(
    FormPage(page): FormPage,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, WebError> {
    render(&LoginPage {
        page: page.titled("Sign in"),
        email: "",
        error: None,
        notice: (query.ended.as_deref() == Some("everywhere"))
            .then_some("You are signed out on every device and browser."),
    })
}

pub async fn login(
    req: HttpRequest,
    FormPage(page): FormPage,
    session: Session,
    form: web::Form<LoginForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    limits: web::Data<PortalLimits>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let account = form.email.trim();
    if let Err(limited) = limits.sign_in(client_ip(&req), account).await {
        return login_limited(page, &form.email, limited);
    }
    let refused = async |page: Page| {
        limits.sign_in_failed(account).await?;
        render_status(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                page: page.titled("Sign in"),
                email: &form.email,
                error: Some("The email or password is not right."),
                notice: None,
            },
        )
    };
    let Ok(email) = EmailAddress::parse(&form.email) else {
        return refused(page).await;
    };
    let ctx = anonymous_ctx(&db, clock.as_ref(), &req);
    match accounts::authenticate(&ctx, &email, SecretString::from(form.password.clone())).await {
        Ok(user) => {
            // With two-factor sign-in the password is half: the throttle
            // counts on until the code is right too.
            if two_factor::is_enabled(&db, &user.id)
                .await
                .map_err(|e| WebError::Unexpected(e.into()))?
            {
                return crate::web::two_factor::ask_for_code(&session, &user, clock.now().unix());
            }
            limits.sign_in_succeeded(account).await?;
            let home = complete_sign_in(&ctx, &session, &user).await?;
            tracing::info!(user_id = %user.id, "signed in");
            Ok(see_other(home))
        }
        Err(AccountError::BadCredentials) => refused(page).await,
        Err(e) => Err(e.into()),
    }
}

/// Signs the account in (a new session) and says where it goes first.
pub async fn complete_sign_in(
    ctx: &crate::services::context::Ctx<'_>,
    session: &Session,
    user: &crate::services::accounts::UserRow,
) -> Result<&'static str, WebError> {
    sign_in(session, user)?;
    Ok(if user.role.is_staff() {
        "/admin"
    } else if onboarding::is_done(ctx, user).await? {
        let _ = session.insert(ONBOARDED, true);
        "/licenses"
    } else {
        "/onboarding"
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

#[derive(Template)]
#[template(path = "portal/login_code.html")]
struct CodePage<'a> {
    page: Page,
    error: Option<&'a str>,
}

fn code_page(
    page: Page,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, WebError> {
    render_private_status(
        status,
        &CodePage {
            page: page.titled("Enter your code"),
            error,
        },
    )
}

/// `GET /login/code`
pub async fn code_form(
    FormPage(page): FormPage,
    session: Session,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    if pending_of(&session, clock.now().unix()).is_none() {
        return Ok(see_other("/login"));
    }
    code_page(page, StatusCode::OK, None)
}

/// `POST /login/code`: the second factor; a wrong code counts toward the
/// sign-in throttle like a wrong password.
#[allow(clippy::too_many_arguments)]
pub async fn code(
    req: HttpRequest,
    FormPage(page): FormPage,
    session: Session,
    form: web::Form<CodeForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    limits: web::Data<PortalLimits>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let Some(pending) = pending_of(&session, clock.now().unix()) else {
        return Ok(see_other("/login"));
    };
    if let Err(limited) = limits.sign_in(client_ip(&req), &pending.email).await {
        let detail = limited.to_string();
        return code_page(page, StatusCode::TOO_MANY_REQUESTS, Some(&detail));
    }
    let ctx = Ctx::new(
        &db,
        clock.as_ref(),
        Actor::Customer {
            user_id: pending.user_id.clone(),
        },
    )
    .with_request_id(Some(request_id(&req)));
    match two_factor::verify(&ctx, &cipher, &pending.user_id, form.code.trim()).await {
        Ok(()) => {}
        Err(TwoFactorError::WrongCode | TwoFactorError::NotOn) => {
            limits.sign_in_failed(&pending.email).await?;
            tracing::warn!(user_id = %pending.user_id, "a wrong second-factor code");
            let error = TwoFactorError::WrongCode.to_string();
            return code_page(page, StatusCode::UNAUTHORIZED, Some(&error));
        }
        Err(e) => return Err(WebError::Unexpected(e.into())),
    }
    limits.sign_in_succeeded(&pending.email).await?;
    let Some(user) = accounts::active_user(&db, &pending.user_id).await? else {
        session.purge();
        return Ok(see_other("/login"));
    };
    session.remove(PENDING);
    let home = complete_sign_in(&ctx, &session, &user).await?;
    tracing::info!(user_id = %user.id, "signed in with a second factor");
    Ok(see_other(home))
}

/// A sign-in refused by a limit: the form stays, with the email typed and
/// when to try again (status 429 and `Retry-After` for scripts).
fn login_limited(page: Page, email: &str, limited: WebError) -> Result<HttpResponse, WebError> {
    let WebError::Problem(problem) = limited else {
        return Err(limited);
    };
    let mut res = render_status(
        problem.status,
        &LoginPage {
            page: page.titled("Sign in"),
            email,
            error: Some(&problem.detail),
            notice: None,
        },
    )?;
    for (name, value) in &problem.headers {
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(value) {
            res.headers_mut().insert(name.clone(), value);
        }
    }
    Ok(res)
}

pub async fn logout(session: Session, form: web::Form<CsrfForm>) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    session.purge();
    Ok(see_other("/"))
}

/// `POST /account/sign-out-everywhere`: ends every session of the account
/// (other browsers, other devices, this one), then shows the sign-in page.
pub async fn sign_out_everywhere(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    form: web::Form<CsrfForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    accounts::sign_out_everywhere(&ctx, &who.user).await?;
    session.purge();
    Ok(see_other("/login?ended=everywhere"))
}
