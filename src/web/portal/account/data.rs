//! The customer's own data: download everything Licensor holds about them
//! (`GET /account/data.json`) and erase their account (`/account/delete`,
//! with the password).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::services::personal_data::{self, PersonalDataError};
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, json_download, render_status};
use crate::web::portal::{SignedIn, customer_ctx};

use super::MessagePage;

/// `GET /account/data.json`
pub async fn export(
    who: SignedIn,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    let document = personal_data::export(&db, &who.user.id, clock.now().unix()).await?;
    tracing::info!(user_id = %who.user.id, "personal data exported by its owner");
    Ok(json_download("licensor-personal-data.json", &document))
}

#[derive(Template)]
#[template(path = "portal/delete_account.html")]
struct DeletePage<'a> {
    page: Page,
    email: &'a str,
    fate: String,
    error: Option<String>,
}

/// `GET /account/delete`: what erasing the account does, said plainly,
/// and the password to confirm it.
pub async fn delete_form(
    FormPage(page): FormPage,
    who: SignedIn,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    let fate = personal_data::fate_of(&db, &who.user.id).await?;
    render_status(
        StatusCode::OK,
        &DeletePage {
            page: page.titled("Delete your account"),
            email: &who.user.email,
            fate: fate.describe(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct DeleteForm {
    csrf: String,
    #[serde(default)]
    password: String,
}

/// `POST /account/delete`
pub async fn delete(
    req: HttpRequest,
    FormPage(page): FormPage,
    who: SignedIn,
    session: Session,
    form: web::Form<DeleteForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    let password = SecretString::from(form.password.clone());
    match personal_data::erase_own_account(&ctx, &who.user.id, password).await {
        Ok(fate) => {
            session.purge();
            let message = format!(
                "Your account, {}, and what Licensor held about you are erased. {}",
                who.user.email,
                fate.describe()
            );
            render_status(
                StatusCode::OK,
                &MessagePage {
                    page: page.titled("Account erased"),
                    heading: "Your account is erased",
                    message: &message,
                    link: "/",
                    link_text: "Home",
                },
            )
        }
        Err(e @ (PersonalDataError::WrongPassword | PersonalDataError::Staff)) => {
            let fate = personal_data::fate_of(&db, &who.user.id).await?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &DeletePage {
                    page: page.titled("Delete your account"),
                    email: &who.user.email,
                    fate: fate.describe(),
                    error: Some(e.to_string()),
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}
