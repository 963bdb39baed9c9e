//! Customer accounts in the browser: sign-up and verification, sign-in
//! and out, password reset, and the account page; what they share.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::services::accounts::AccountError;
use crate::services::accounts::UserRow;
use crate::services::context::Ctx;
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{Page, STAFF, USER_EMAIL};
use crate::web::session::USER_ID;

mod data;
mod reset;
mod settings;
mod sign_in;
mod sign_up;

pub use data::{delete, delete_form, export};
pub use reset::{forgot, forgot_form, forgot_sent, reset, reset_form};
pub use settings::{account, change_password, set_reminders, unsubscribe, unsubscribe_form};
pub use sign_in::{
    code, code_form, complete_sign_in, login, login_form, logout, sign_out_everywhere,
};
pub use sign_up::{resend_verification, signup, signup_form, signup_sent, verify_email};

fn anonymous_ctx<'a>(db: &'a Db, clock: &'a dyn Clock, req: &HttpRequest) -> Ctx<'a> {
    Ctx::new(db, clock, Actor::System).with_request_id(Some(crate::web::request::request_id(req)))
}

/// Starts a fresh session for a user (a new id: no fixation).
fn sign_in(session: &Session, user: &UserRow) -> Result<(), WebError> {
    session.renew();
    session
        .insert(USER_ID, &user.id)
        .and_then(|()| session.insert(USER_EMAIL, &user.email))
        .and_then(|()| session.insert(STAFF, user.role.is_staff()))
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

#[derive(Template)]
#[template(path = "portal/message.html")]
struct MessagePage<'a> {
    page: Page,
    heading: &'a str,
    message: &'a str,
    link: &'a str,
    link_text: &'a str,
}

/// Email-link pages tell the browser not to pass their address on.
fn no_referrer(res: &mut HttpResponse) {
    res.headers_mut().insert(
        actix_web::http::header::REFERRER_POLICY,
        actix_web::http::header::HeaderValue::from_static("no-referrer"),
    );
}
