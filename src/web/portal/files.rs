//! Signed license and machine files, downloaded from the license page:
//! only for a license in good standing (`license_files::Standing`).

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::id::LicenseId;
use crate::domain::license_key::KeyDigest;
use crate::domain::license_key::LicenseKey;
use crate::secret::DataCipher;
use crate::services::context::Brand;
use crate::services::license_files::{self, FileForm, Standing};
use crate::services::licensing::{self, ActivateInput, LicenseView, LicensingError};
use crate::services::usage::UsageRecorder;
use crate::signing::LiveKeyRing;
use crate::store::Db;
use crate::web::error::WebError;
use crate::web::layout::{check_csrf, flash, see_other};
use crate::web::portal::licenses::owned;
use crate::web::portal::{SignedIn, customer_ctx};

#[derive(Debug, Deserialize)]
pub struct FileQuery {
    /// `1`: the encrypted variant, readable only with the license key.
    #[serde(default)]
    encrypted: Option<String>,
}

impl FileQuery {
    fn encrypted(&self) -> bool {
        matches!(self.encrypted.as_deref(), Some("1" | "true" | "on"))
    }
}

/// `GET /licenses/{id}/license-file[?encrypted=1]`: the signed license
/// file, as a download.
pub async fn license_file(
    who: SignedIn,
    session: Session,
    path: web::Path<String>,
    query: web::Query<FileQuery>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    ring: web::Data<LiveKeyRing>,
    cipher: web::Data<DataCipher>,
    usage: web::Data<UsageRecorder>,
) -> Result<HttpResponse, WebError> {
    let ring = ring.current();
    who.require_verified()?;
    let license = owned(&db, &who, &path).await?;
    let key = sealing_key(&db, &cipher, &license.id, query.encrypted()).await?;
    let form = key.as_ref().map_or(FileForm::Plain, FileForm::Encrypted);
    let file = license_files::file(
        &db,
        &ring,
        &license.id,
        None,
        clock.now(),
        form,
        Standing::Required,
    )
    .await;
    match file {
        Ok(file) => {
            usage.record_file(&file.signature, clock.now());
            Ok(download(&file_name(&license, "", key.is_some()), file.text))
        }
        // Suspended or revoked: no new file, and the page says why.
        Err(refused @ LicensingError::Refused { .. }) => {
            Ok(not_in_good_standing(&session, &license, &refused))
        }
        Err(e) => Err(e.into()),
    }
}

/// Back to the license page, which says why no file can be made.
fn not_in_good_standing(
    session: &Session,
    license: &LicenseView,
    refused: &LicensingError,
) -> HttpResponse {
    flash(
        session,
        &format!("{refused} No new license file can be downloaded for it; see below why."),
    );
    see_other(&format!("/licenses/{}", license.id))
}

/// The license key that seals an encrypted file, when one is wanted.
async fn sealing_key(
    db: &Db,
    cipher: &DataCipher,
    license_id: &LicenseId,
    encrypted: bool,
) -> Result<Option<LicenseKey>, WebError> {
    if !encrypted {
        return Ok(None);
    }
    Ok(Some(licensing::reveal_key(db, cipher, license_id).await?))
}

fn file_name(license: &LicenseView, kind: &str, encrypted: bool) -> String {
    format!(
        "{}-{}{kind}{}.lic",
        license.product_code,
        license.key_last4,
        if encrypted { "-encrypted" } else { "" }
    )
}

fn download(name: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-licensor-license; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

#[derive(Debug, Deserialize)]
pub struct OfflineForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    name: String,
    /// A checkbox: present when the file should be encrypted.
    #[serde(default)]
    encrypted: Option<String>,
}

/// `POST /licenses/{id}/offline`: activates a machine that cannot reach us
/// (the customer pastes its fingerprint) and downloads its machine file.
#[allow(clippy::too_many_arguments)]
pub async fn offline_activation(
    req: HttpRequest,
    who: SignedIn,
    session: Session,
    path: web::Path<String>,
    form: web::Form<OfflineForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    ring: web::Data<LiveKeyRing>,
    cipher: web::Data<DataCipher>,
    usage: web::Data<UsageRecorder>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    let ring = ring.current();
    check_csrf(&session, &form.csrf)?;
    who.require_verified()?;
    let license = owned(&db, &who, &path).await?;
    let back = format!("/licenses/{}", license.id);
    let fingerprint = match Fingerprint::parse(&form.fingerprint) {
        Ok(fp) => fp,
        Err(e) => {
            flash(&session, &format!("That fingerprint cannot be used: {e}."));
            return Ok(see_other(&back));
        }
    };
    let key = licensing::reveal_key(&db, &cipher, &license.id).await?;
    let ctx = customer_ctx(&db, clock.as_ref(), &who, &req);
    let name = form.name.trim();
    let input = ActivateInput {
        key: KeyDigest::of_input(&key.expose()),
        fingerprint: fingerprint.clone(),
        name: (!name.is_empty()).then(|| name.chars().take(200).collect()),
        platform: Some("offline".to_owned()),
        ip: None,
        product: None,
    };
    match licensing::activate(&ctx, &brand, &input).await {
        Ok(_) => {
            let encrypted = form.encrypted.is_some();
            let form = if encrypted {
                FileForm::Encrypted(&key)
            } else {
                FileForm::Plain
            };
            let file = license_files::file(
                &db,
                &ring,
                &license.id,
                Some(&fingerprint),
                clock.now(),
                form,
                Standing::Required,
            )
            .await?;
            usage.record_file(&file.signature, clock.now());
            Ok(download(
                &file_name(&license, "-machine", encrypted),
                file.text,
            ))
        }
        Err(LicensingError::Unexpected(e)) => Err(e.into()),
        Err(e) => {
            flash(&session, &e.to_string());
            Ok(see_other(&back))
        }
    }
}
