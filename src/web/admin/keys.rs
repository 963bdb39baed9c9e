//! `/admin/keys`: the signing keys (which signs, which are published) and
//! rotating them: every running server signs with the new key within
//! seconds. Admins only.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::clock::Clock;
use crate::domain::role::Capability;
use crate::secret::DataCipher;
use crate::services::keys;
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::error::WebError;
use crate::web::layout::{
    CsrfForm, FormPage, Page, check_csrf, flash, render_private_status, see_other,
};

struct KeyLine {
    kid: String,
    state: &'static str,
    created: String,
    retired: String,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    page: Page,
    keys: Vec<KeyLine>,
}

/// `GET /admin/keys`
pub async fn page(
    FormPage(page): FormPage,
    staff: Staff,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Administer)?;
    let keys = keys::list(&db)
        .await?
        .into_iter()
        .rev()
        .map(|k| KeyLine {
            state: if k.active { "signing" } else { "published" },
            created: k.created_at.to_utc_string(),
            retired: k.retired_at.map(|t| t.to_utc_string()).unwrap_or_default(),
            kid: k.kid,
        })
        .collect();
    render_private_status(
        actix_web::http::StatusCode::OK,
        &KeysPage {
            page: page.titled("Signing keys"),
            keys,
        },
    )
}

/// `POST /admin/keys/rotate`
pub async fn rotate(
    req: HttpRequest,
    staff: Staff,
    session: Session,
    form: web::Form<CsrfForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    let (_, kid) = keys::rotate(&db, &cipher, clock.as_ref(), &ctx.actor).await?;
    tracing::info!(kid, "signing key rotated from the console");
    flash(
        &session,
        &format!("Key {kid} signs from now on; every server uses it within seconds."),
    );
    Ok(see_other("/admin/keys"))
}
