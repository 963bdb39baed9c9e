//! `/admin/keys`: the signing keys (which signs, which are published),
//! rotating them (every running server signs with the new key within
//! seconds) and revoking one that leaked, with the licenses whose files it
//! signed last. Admins only.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::role::Capability;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::keys::{self, KeyInfo, KeysError};
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
    revoked: String,
    reason: String,
    /// Why revoking it was just refused.
    error: Option<String>,
}

impl From<KeyInfo> for KeyLine {
    fn from(k: KeyInfo) -> Self {
        let at = |t: Option<Timestamp>| t.map(|t| t.to_utc_string()).unwrap_or_default();
        Self {
            state: match (k.active, k.revoked_at) {
                (_, Some(_)) => "revoked",
                (true, None) => "signing",
                (false, None) => "published",
            },
            created: k.created_at.to_utc_string(),
            retired: at(k.retired_at),
            revoked: at(k.revoked_at),
            reason: k.revoked_reason.unwrap_or_default(),
            error: None,
            kid: k.kid,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    page: Page,
    keys: Vec<KeyLine>,
    /// A revocation refused, said at the top too.
    error: Option<String>,
}

async fn keys_page(
    page: Page,
    db: &Db,
    error: Option<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut keys: Vec<KeyLine> = keys::list(db)
        .await?
        .into_iter()
        .rev()
        .map(KeyLine::from)
        .collect();
    if let Some((kid, why)) = &error
        && let Some(line) = keys.iter_mut().find(|k| &k.kid == kid)
    {
        line.error = Some(why.clone());
    }
    render_private_status(
        status,
        &KeysPage {
            page: page.titled("Signing keys"),
            keys,
            error: error.map(|(kid, why)| format!("Key {kid} was not revoked: {why}")),
        },
    )
}

/// `GET /admin/keys`
pub async fn page(
    FormPage(page): FormPage,
    staff: Staff,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Administer)?;
    keys_page(page, &db, None).await
}

/// The licenses a key signed files for last (the first of them).
const SIGNED_SHOWN: i64 = 200;

struct SignedLine {
    license_id: String,
    key_last4: String,
    product: String,
    holder: String,
    files: i64,
    last_signed: String,
}

#[derive(Template)]
#[template(path = "admin/key.html")]
struct KeyPage {
    page: Page,
    key: KeyLine,
    licenses: Vec<SignedLine>,
    total: i64,
}

/// `GET /admin/keys/{kid}`: a key, and the licenses whose license or
/// machine files it signed last (the ones to reissue when it is revoked).
pub async fn key(
    FormPage(page): FormPage,
    staff: Staff,
    path: web::Path<String>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Administer)?;
    let kid = path.into_inner();
    let key = keys::list(&db)
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or(WebError::NotFound)?;
    let (rows, total) = keys::licenses_signed_by(&db, &kid, SIGNED_SHOWN).await?;
    let licenses = rows
        .into_iter()
        .map(|r| SignedLine {
            holder: r.organization_name.or(r.assigned_email).unwrap_or_default(),
            license_id: r.license_id,
            key_last4: r.key_last4,
            product: r.product_code,
            files: r.files,
            last_signed: Timestamp::from_unix(r.last_signed_at).to_utc_string(),
        })
        .collect();
    render_private_status(
        StatusCode::OK,
        &KeyPage {
            page: page.titled(&format!("Signing key {kid}")),
            key: key.into(),
            licenses,
            total,
        },
    )
}

#[derive(Deserialize)]
pub struct RevokeForm {
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /admin/keys/{kid}/revoke`: distrusts a key that leaked; a
/// refusal (no reason, revoked already) is shown by the form (422).
pub async fn revoke(
    req: HttpRequest,
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<RevokeForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let kid = path.into_inner();
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    match keys::revoke(&db, &cipher, clock.as_ref(), &ctx.actor, &kid, &form.reason).await {
        Ok(done) => {
            tracing::warn!(kid, replaced_by = ?done.replaced_by, "signing key revoked from the console");
            let signing = match &done.replaced_by {
                Some(new) => format!(" Key {new} signs from now on."),
                None => String::new(),
            };
            flash(
                &session,
                &format!(
                    "Key {kid} is revoked: verifiers that read the published keys refuse what it signed.{signing} Below: the licenses whose files it signed last."
                ),
            );
            Ok(see_other(&format!("/admin/keys/{kid}")))
        }
        Err(KeysError::UnknownKey(_)) => Err(WebError::NotFound),
        Err(e @ (KeysError::ReasonRequired | KeysError::AlreadyRevoked { .. })) => {
            keys_page(page, &db, Some((kid, e.to_string()))).await
        }
        Err(e) => Err(anyhow::Error::from(e).into()),
    }
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
