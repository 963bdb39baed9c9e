//! Sign-up, email verification, sign-in and out, password reset and change.

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
use crate::services::accounts::{self, AccountError, Verification};
use crate::services::context::{Brand, Ctx};
use crate::services::onboarding;
use crate::store::users::{self, UserRow};
use crate::store::{Db, organizations};
use crate::web::error::WebError;
use crate::web::layout::{
    CsrfForm, FormPage, ONBOARDED, Page, STAFF, USER_EMAIL, check_csrf, flash, render,
    render_private, render_status, see_other,
};
use crate::web::portal::{SignedIn, customer_ctx};
use crate::web::ratelimit::PortalLimits;
use crate::web::request::client_ip;
use crate::web::session::USER_ID;

const RESET_TOKEN: &str = "reset_token";

fn anonymous_ctx<'a>(db: &'a Db, clock: &'a dyn Clock, req: &HttpRequest) -> Ctx<'a> {
    Ctx::new(db, clock, Actor::System).with_request_id(Some(crate::web::request::request_id(req)))
}

/// Starts a fresh session for a user (a new id: no fixation).
fn sign_in(session: &Session, user: &UserRow) -> Result<(), WebError> {
    session.renew();
    session
        .insert(USER_ID, &user.id)
        .and_then(|()| session.insert(USER_EMAIL, &user.email))
        .and_then(|()| session.insert(STAFF, user.role != "customer"))
        .map_err(|e| WebError::Unexpected(anyhow::anyhow!("session insert failed: {e}")))
}

impl From<AccountError> for WebError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Unexpected(e) => e.into(),
            other => WebError::BadRequest {
                code: "account",
                detail: other.to_string(),
            },
        }
    }
}

// ------------------------------------------------------------------ sign-up

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

/// The session entry naming the address the last sign-up or reset request
/// went to, for the page after it.
const SENT_TO: &str = "sent_to";

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

// ------------------------------------------------------------ verification

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "portal/message.html")]
struct MessagePage<'a> {
    page: Page,
    heading: &'a str,
    message: &'a str,
    link: &'a str,
    link_text: &'a str,
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

fn no_referrer(res: &mut HttpResponse) {
    res.headers_mut().insert(
        actix_web::http::header::REFERRER_POLICY,
        actix_web::http::header::HeaderValue::from_static("no-referrer"),
    );
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

// ------------------------------------------------------------- sign in/out

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
    if let Err(limited) = limits.sign_in(client_ip(&req), account) {
        return login_limited(page, &form.email, limited);
    }
    let refused = |page: Page| {
        limits.sign_in_failed(account);
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
        return refused(page);
    };
    let ctx = anonymous_ctx(&db, clock.as_ref(), &req);
    match accounts::authenticate(&ctx, &email, SecretString::from(form.password.clone())).await {
        Ok(user) => {
            limits.sign_in_succeeded(account);
            sign_in(&session, &user)?;
            tracing::info!(user_id = %user.id, "signed in");
            let home = if user.role != "customer" {
                "/admin"
            } else if onboarding::is_done(&ctx, &user).await? {
                let _ = session.insert(ONBOARDED, true);
                "/licenses"
            } else {
                "/onboarding"
            };
            Ok(see_other(home))
        }
        Err(AccountError::BadCredentials) => refused(page),
        Err(e) => Err(e.into()),
    }
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

// ----------------------------------------------------------- password reset

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

// ------------------------------------------------------------------ account

#[derive(Template)]
#[template(path = "portal/account.html")]
struct AccountPage<'a> {
    page: Page,
    user: &'a UserRow,
    organization: String,
    reminders: bool,
    /// The password form's error: the field (`current` or `new`) and why.
    error: Option<(&'static str, String)>,
}

impl AccountPage<'_> {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| *f == field)
            .map(|(_, message)| message.as_str())
    }
}

async fn organization_name(db: &Db, who: &SignedIn) -> Result<String, WebError> {
    Ok(match who.user.organization_id.as_deref() {
        Some(id) => organizations::find_by_id(db.pool(), id)
            .await?
            .map(|o| o.name)
            .unwrap_or_default(),
        None => String::new(),
    })
}

pub async fn account(
    FormPage(page): FormPage,
    who: SignedIn,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    render_private(&AccountPage {
        page: page.titled("Your account"),
        organization: organization_name(&db, &who).await?,
        reminders: users::reminders_enabled(db.pool(), &who.user.id).await?,
        user: &who.user,
        error: None,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct RemindersForm {
    #[serde(default)]
    csrf: String,
    /// A checkbox: present when reminders stay on.
    #[serde(default)]
    reminders: Option<String>,
}

/// `POST /account/reminders`: expiry reminders on or off.
pub async fn set_reminders(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    form: web::Form<RemindersForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let enabled = form.reminders.is_some();
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    accounts::set_reminders(&ctx, &who.user.id, enabled).await?;
    flash(
        &session,
        if enabled {
            "You will get a reminder before your licenses expire."
        } else {
            "Expiry reminders are off. Security emails still reach you."
        },
    );
    Ok(see_other("/account"))
}

#[derive(Debug, Default, Deserialize)]
pub struct UnsubscribeQuery {
    #[serde(default)]
    u: String,
    #[serde(default)]
    t: String,
}

#[derive(Template)]
#[template(path = "portal/unsubscribe.html")]
struct UnsubscribePage<'a> {
    page: Page,
    action: &'a str,
}

/// `GET /unsubscribe?u=…&t=…`: the link in a reminder. It only asks: mail
/// scanners follow links, so the change needs the POST.
pub async fn unsubscribe_form(
    req: HttpRequest,
    FormPage(page): FormPage,
    query: web::Query<UnsubscribeQuery>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    if !brand.check_unsubscribe(&query.u, &query.t) {
        return bad_unsubscribe_link(page);
    }
    let action = format!("/unsubscribe?{}", req.query_string());
    let mut res = render_private(&UnsubscribePage {
        page: page.titled("Stop expiry reminders"),
        action: &action,
    })?;
    no_referrer(&mut res);
    Ok(res)
}

/// `POST /unsubscribe?u=…&t=…`: one click (RFC 8058: the mail client posts
/// `List-Unsubscribe=One-Click`), or the button of the page above. The
/// signed link is the authority; no session is needed.
pub async fn unsubscribe(
    req: HttpRequest,
    FormPage(page): FormPage,
    query: web::Query<UnsubscribeQuery>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    if !brand.check_unsubscribe(&query.u, &query.t) {
        return bad_unsubscribe_link(page);
    }
    let ctx = Ctx::new(
        &db,
        clock.as_ref(),
        Actor::Customer {
            user_id: query.u.clone(),
        },
    )
    .with_request_id(Some(crate::web::request::request_id(&req)));
    if !accounts::set_reminders(&ctx, &query.u, false).await? {
        return bad_unsubscribe_link(page);
    }
    let mut res = render_private(&MessagePage {
        page: page.titled("Reminders off"),
        heading: "Expiry reminders are off",
        message: "You will no longer get reminders before your licenses expire. Security emails (new machines, password changes) still reach you. You can turn reminders back on in your account.",
        link: "/account",
        link_text: "Your account",
    })?;
    no_referrer(&mut res);
    Ok(res)
}

fn bad_unsubscribe_link(page: Page) -> Result<HttpResponse, WebError> {
    let mut res = render_status(
        StatusCode::NOT_FOUND,
        &MessagePage {
            page: page.titled("Link not valid"),
            heading: "This link is not valid",
            message: "The link may be incomplete. Sign in to change your email settings in your account.",
            link: "/account",
            link_text: "Your account",
        },
    )?;
    no_referrer(&mut res);
    Ok(res)
}

#[derive(Debug, Default, Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
}

pub async fn change_password(
    req: HttpRequest,
    FormPage(page): FormPage,
    who: SignedIn,
    session: Session,
    form: web::Form<ChangePasswordForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let refuse = |page: Page, field: &'static str, message: String, organization: String| {
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &AccountPage {
                page: page.titled("Your account"),
                user: &who.user,
                organization,
                reminders: true,
                error: Some((field, message)),
            },
        )
    };
    let new = match Password::parse_for(SecretString::from(form.new.clone()), &who.user.email) {
        Ok(p) => p,
        Err(e) => {
            return refuse(
                page,
                "new",
                e.to_string(),
                organization_name(&db, &who).await?,
            );
        }
    };
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    match accounts::change_password(
        &ctx,
        &brand,
        &who.user,
        SecretString::from(form.current.clone()),
        new,
    )
    .await
    {
        Ok(()) => {
            sign_in(&session, &who.user)?;
            flash(
                &session,
                "Your password is changed and your other sessions are signed out.",
            );
            Ok(see_other("/account"))
        }
        Err(AccountError::WrongCurrentPassword) => refuse(
            page,
            "current",
            AccountError::WrongCurrentPassword.to_string(),
            organization_name(&db, &who).await?,
        ),
        Err(e) => Err(e.into()),
    }
}
