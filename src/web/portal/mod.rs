//! The customer portal: server-rendered pages that work without JavaScript.

pub mod account;
pub mod activation;
pub mod checkout;
pub mod files;
pub mod licenses;
pub mod onboarding;
pub mod reveal;
pub mod team;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};

use crate::domain::audit::Actor;
use crate::services::accounts::UserRow;
use crate::services::context::Ctx;
use crate::store::Db;
use crate::web::error::{Problem, WebError};
use crate::web::layout::{back_to, up};
use crate::web::session::signed_in_user;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/signup")
            .route(web::get().to(account::signup_form))
            .route(web::post().to(account::signup)),
    )
    .service(web::resource("/signup/sent").route(web::get().to(account::signup_sent)))
    .service(web::resource("/forgot-password/sent").route(web::get().to(account::forgot_sent)))
    .service(web::resource("/verify-email").route(web::get().to(account::verify_email)))
    .service(
        web::resource("/verify-email/resend")
            .route(web::post().to(account::resend_verification))
            .route(back_to("/onboarding")),
    )
    .service(
        web::resource("/login")
            .route(web::get().to(account::login_form))
            .route(web::post().to(account::login)),
    )
    .service(
        web::resource("/login/code")
            .route(web::get().to(account::code_form))
            .route(web::post().to(account::code)),
    )
    .service(
        web::resource("/account/two-factor").route(web::get().to(crate::web::two_factor::page)),
    )
    .service(
        web::resource("/account/two-factor/{step}")
            .route(web::post().to(crate::web::two_factor::act))
            .route(back_to("/account/two-factor")),
    )
    .service(
        web::resource("/logout")
            .route(web::post().to(account::logout))
            .route(back_to("/")),
    )
    .service(
        web::resource("/forgot-password")
            .route(web::get().to(account::forgot_form))
            .route(web::post().to(account::forgot)),
    )
    .service(
        web::resource("/reset-password")
            .route(web::get().to(account::reset_form))
            .route(web::post().to(account::reset)),
    )
    .service(web::resource("/account").route(web::get().to(account::account)))
    .service(web::resource("/account/data.json").route(web::get().to(account::export)))
    .service(
        web::resource("/account/delete")
            .route(web::get().to(account::delete_form))
            .route(web::post().to(account::delete)),
    )
    .service(
        web::resource("/account/password")
            .route(web::post().to(account::change_password))
            .route(back_to("/account")),
    )
    .service(
        web::resource("/account/sign-out-everywhere")
            .route(web::post().to(account::sign_out_everywhere))
            .route(back_to("/account")),
    )
    .service(
        web::resource("/account/reminders")
            .route(web::post().to(account::set_reminders))
            .route(back_to("/account")),
    )
    .service(
        web::resource("/unsubscribe")
            .route(web::get().to(account::unsubscribe_form))
            .route(web::post().to(account::unsubscribe)),
    )
    .service(web::resource("/onboarding").route(web::get().to(onboarding::page)))
    .service(
        web::resource("/onboarding/trial")
            .route(web::post().to(onboarding::claim_trial))
            .route(back_to("/onboarding")),
    )
    .service(
        web::resource("/onboarding/accept/{id}")
            .route(web::post().to(onboarding::accept))
            .route(back_to("/onboarding")),
    )
    .service(web::resource("/licenses").route(web::get().to(licenses::list)))
    .service(web::resource("/buy").route(web::get().to(checkout::buy_page)))
    .service(
        web::resource("/checkout")
            .route(web::post().to(checkout::start))
            .route(back_to("/buy")),
    )
    .service(web::resource("/licenses/{id}/renew").route(web::get().to(checkout::renew_page)))
    .service(web::resource("/licenses/{id}/upgrade").route(web::get().to(checkout::upgrade_page)))
    .service(web::resource("/licenses/{id}").route(web::get().to(licenses::detail)))
    .service(
        web::resource("/licenses/{id}/reveal")
            .route(web::post().to(reveal::reveal))
            .route(up(1)),
    )
    .service(web::resource("/licenses/{id}/license-file").route(web::get().to(files::license_file)))
    .service(
        web::resource("/licenses/{id}/offline")
            .route(web::post().to(files::offline_activation))
            .route(up(1)),
    )
    .service(
        web::resource("/licenses/{id}/machines/{machine}/deactivate")
            .route(web::post().to(licenses::deactivate))
            .route(up(3)),
    )
    .service(web::resource("/team").route(web::get().to(team::page)))
    .service(
        web::resource("/team/invite")
            .route(web::post().to(team::invite))
            .route(back_to("/team")),
    )
    .service(
        web::resource("/team/{id}/remove")
            .route(web::post().to(team::remove))
            .route(back_to("/team")),
    )
    .service(
        web::resource("/team/invitations/{id}/{action}")
            .route(web::post().to(team::invitation_action))
            .route(back_to("/team")),
    )
    .service(
        web::resource("/join")
            .route(web::get().to(team::join_form))
            .route(web::post().to(team::join)),
    );
}

/// A signed-in customer. Pages that need one redirect to sign-in without.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: UserRow,
}

impl SignedIn {
    /// The rest of the portal waits until the email is confirmed.
    pub fn require_verified(&self) -> Result<(), WebError> {
        if self.user.email_verified_at.is_some() {
            Ok(())
        } else {
            Err(WebError::Redirect("/onboarding".to_owned()))
        }
    }

    pub fn organization_id(&self) -> Result<&str, WebError> {
        self.user
            .organization_id
            .as_deref()
            .ok_or(WebError::NotFound)
    }

    pub fn actor(&self) -> Actor {
        Actor::Customer {
            user_id: self.user.id.to_string(),
        }
    }
}

impl FromRequest for SignedIn {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = signed_in_user(req);
        Box::pin(async move {
            let user = user.await?;
            if user.role.is_staff() {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "customers_only",
                    "The portal is for customers; staff use the support console.",
                )
                .into());
            }
            Ok(SignedIn { user })
        })
    }
}

/// The context for a use case run by a signed-in customer.
pub fn customer_ctx<'a>(
    db: &'a Db,
    clock: &'a dyn crate::clock::Clock,
    who: &SignedIn,
    req: &HttpRequest,
) -> Ctx<'a> {
    Ctx::new(db, clock, who.actor()).with_request_id(Some(crate::web::request::request_id(req)))
}
