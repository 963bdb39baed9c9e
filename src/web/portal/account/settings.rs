//! The account page: reminders, password change, sign-out everywhere, and the one-click unsubscribe.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::domain::password::Password;
use crate::services::accounts::UserRow;
use crate::services::accounts::{self, AccountError};
use crate::services::context::{Brand, Ctx};
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{
    FormPage, Page, check_csrf, flash, render_private, render_status, see_other,
};
use crate::web::portal::{SignedIn, customer_ctx};

use super::{MessagePage, no_referrer, sign_in};

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
    Ok(match &who.user.organization_id {
        Some(id) => accounts::organization(db, id)
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
        reminders: accounts::reminders_enabled(&db, &who.user.id).await?,
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
