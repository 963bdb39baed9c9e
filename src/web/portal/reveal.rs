//! Showing a license's full key: only after the customer gives their
//! password again (rate-limited and audited), on the license page and on
//! the onboarding page alike.
//!
//! The form posts, then redirects back (post/redirect/get): the session
//! remembers for a few minutes that this license's key may be shown, never
//! the key itself, so a reload shows it again without resubmitting.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::email::EmailAddress;
use crate::domain::license_key::masked;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::accounts;
use crate::services::licensing::{self, LicenseView};
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{check_csrf, see_other};
use crate::web::portal::{SignedIn, customer_ctx};

/// How long a confirmed password keeps a key visible in that session.
const GRANT_SECS: i64 = 10 * 60;
/// The session entry: `(license id, visible until)` pairs.
const GRANTS: &str = "revealed_keys";
/// The session entry of a failed attempt, shown once by the next page.
const ERROR: &str = "reveal_error";

/// What a page shows of a license's key (`templates/portal/_key.html`).
pub struct KeyView {
    pub license_id: String,
    pub masked: String,
    /// The full key, while the session's grant lasts.
    pub revealed: Option<String>,
    /// Why the last attempt failed; the form shows it open and focused.
    pub error: Option<String>,
    /// The page the form returns to: `license` or `onboarding`.
    pub back: &'static str,
}

impl KeyView {
    /// The key as `session` may see it now: in full only under a grant.
    pub async fn for_session(
        session: &Session,
        db: &Db,
        cipher: &DataCipher,
        license: &LicenseView,
        now: Timestamp,
        back: &'static str,
    ) -> Result<Self, WebError> {
        let revealed = if granted(session, &license.id, now) {
            Some(
                licensing::reveal_key(db, cipher, &license.id)
                    .await?
                    .expose(),
            )
        } else {
            None
        };
        let error = session
            .remove_as::<(String, String)>(ERROR)
            .and_then(Result::ok)
            .filter(|(id, _)| license.id == *id)
            .map(|(_, message)| message);
        Ok(Self {
            license_id: license.id.to_string(),
            masked: masked(&license.key_last4),
            revealed,
            error,
            back,
        })
    }

    /// The key for commands a customer copies: the full key once shown,
    /// else a placeholder that says what goes there.
    pub fn for_commands(&self) -> &str {
        self.revealed.as_deref().unwrap_or("YOUR-LICENSE-KEY")
    }
}

fn grants(session: &Session) -> Vec<(String, i64)> {
    session
        .get::<Vec<(String, i64)>>(GRANTS)
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn granted(session: &Session, license_id: &str, now: Timestamp) -> bool {
    grants(session)
        .iter()
        .any(|(id, until)| id == license_id && *until > now.unix())
}

fn grant(session: &Session, license_id: &str, now: Timestamp) {
    let mut kept: Vec<(String, i64)> = grants(session)
        .into_iter()
        .filter(|(id, until)| id != license_id && *until > now.unix())
        .collect();
    kept.push((license_id.to_owned(), now.unix() + GRANT_SECS));
    let _ = session.insert(GRANTS, kept);
}

#[derive(Debug, Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    /// `onboarding` returns there; anything else to the license page.
    #[serde(default)]
    back: String,
}

/// `POST /licenses/{id}/reveal`: checks the password, then back to the
/// page, which shows the key. A wrong password comes back too, with the
/// error beside the open password field.
#[allow(clippy::too_many_arguments)]
pub async fn reveal(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    path: web::Path<String>,
    form: web::Form<RevealForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    limits: web::Data<crate::web::ratelimit::PortalLimits>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let license = super::licenses::owned(&db, &who, &path).await?;
    limits.key_reveal(&who.user.id)?;
    // Without a fragment after an error: scrolling to one would take the
    // focus off the password field.
    let page = if form.back == "onboarding" {
        "/onboarding".to_owned()
    } else {
        format!("/licenses/{}", license.id)
    };
    let anchor = if form.back == "onboarding" {
        "#license-key-section"
    } else {
        "#key"
    };
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    let email = EmailAddress::parse(&who.user.email)
        .map_err(|e| WebError::Unexpected(anyhow::anyhow!("stored email is malformed: {e}")))?;
    if accounts::authenticate(&ctx, &email, SecretString::from(form.password.clone()))
        .await
        .is_err()
    {
        let _ = session.insert(
            ERROR,
            (
                license.id.clone(),
                "That password is not right. Enter the password you sign in with.".to_owned(),
            ),
        );
        return Ok(see_other(&page));
    }
    licensing::reveal_key_audited(&ctx, &cipher, &license, &who.user.id).await?;
    grant(&session, &license.id, clock.now());
    Ok(see_other(&format!("{page}{anchor}")))
}
