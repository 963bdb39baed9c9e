//! `/admin/tokens`: API tokens for provisioning and CRM integrations,
//! created with a scope and shown once, stored hashed, revocable, with
//! their last use. Admins only.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::Clock;
use crate::domain::id::is_well_formed;
use crate::domain::role::Capability;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::api_tokens::{self, Scope, TokenError};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::admin::form::is_reason;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, flash, render_private_status, see_other};

struct TokenLine {
    id: String,
    name: String,
    prefix: String,
    scope: String,
    created: String,
    last_used: String,
    revoked: String,
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    page: Page,
    tokens: Vec<TokenLine>,
    /// The token just created: shown this once.
    created: Option<String>,
    error: Option<String>,
}

async fn render_page(
    db: &Db,
    page: Page,
    status: StatusCode,
    created: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let at = |t: i64| Timestamp::from_unix(t).to_utc_string();
    let tokens = api_tokens::list(db)
        .await?
        .into_iter()
        .map(|t| TokenLine {
            last_used: t.last_used_at.map_or_else(|| "never".to_owned(), at),
            revoked: t.revoked_at.map(at).unwrap_or_default(),
            created: at(t.created_at),
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            scope: t.scope,
        })
        .collect();
    render_private_status(
        status,
        &TokensPage {
            page: page.titled("API tokens"),
            tokens,
            created,
            error,
        },
    )
}

/// The session entry carrying a new token from the form to the page that
/// shows it once, sealed with the server secret (never in the clear at
/// rest in the sessions table).
const NEW_TOKEN: &str = "new_api_token";
/// What the sealed token is bound to.
const NEW_TOKEN_AAD: &[u8] = b"console-new-api-token";

/// `GET /admin/tokens`: after a creation, the new token, this once.
pub async fn page(
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    db: web::Data<Db>,
    cipher: web::Data<DataCipher>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Administer)?;
    let created = match session.remove_as::<String>(NEW_TOKEN) {
        Some(Ok(sealed)) => {
            let bytes = URL_SAFE_NO_PAD
                .decode(sealed)
                .map_err(|e| WebError::Unexpected(anyhow::anyhow!("sealed token: {e}")))?;
            let token = cipher.open(&bytes, NEW_TOKEN_AAD)?;
            Some(
                String::from_utf8(token.to_vec())
                    .map_err(|e| WebError::Unexpected(anyhow::anyhow!("sealed token: {e}")))?,
            )
        }
        _ => None,
    };
    render_page(&db, page, StatusCode::OK, created, None).await
}

#[derive(Debug, Default, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

/// `POST /admin/tokens`: creates the token, then back to the list, which
/// shows it once (post/redirect/get: a reload creates nothing).
pub async fn create(
    req: HttpRequest,
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    form: web::Form<CreateForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let Some(scope) = Scope::parse(&form.scope) else {
        let error = Some("Choose read or write.".to_owned());
        return render_page(&db, page, StatusCode::UNPROCESSABLE_ENTITY, None, error).await;
    };
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    match api_tokens::create(&ctx, form.name.trim(), scope).await {
        Ok((_, token)) => {
            let sealed = cipher.seal(token.expose().as_bytes(), NEW_TOKEN_AAD)?;
            let _ = session.insert(NEW_TOKEN, URL_SAFE_NO_PAD.encode(sealed));
            Ok(see_other("/admin/tokens#new-token"))
        }
        Err(TokenError::Unexpected(e)) => Err(e.into()),
        Err(e) => {
            render_page(
                &db,
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(e.to_string()),
            )
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /admin/tokens/{id}/revoke`
pub async fn revoke(
    req: HttpRequest,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<RevokeForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    if !is_well_formed(&path) {
        return Err(WebError::NotFound);
    }
    let reason = form.reason.trim();
    if !is_reason(reason) {
        flash(&session, "Give a reason for the revocation.");
        return Ok(see_other("/admin/tokens"));
    }
    let ctx = staff.ctx(&db, clock.as_ref(), &req).with_reason(reason);
    match api_tokens::revoke(&ctx, &path).await {
        Ok(true) => flash(
            &session,
            "The token is revoked; requests with it are refused now.",
        ),
        Ok(false) => flash(&session, "That token was already revoked."),
        Err(TokenError::Unexpected(e)) => return Err(e.into()),
        Err(e) => flash(&session, &e.to_string()),
    }
    Ok(see_other("/admin/tokens"))
}

/// Licenses as CSV for a spreadsheet or a CRM import: `GET /admin/licenses.csv`.
pub async fn licenses_csv(staff: Staff, db: web::Data<Db>) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    let rows = crate::services::support::license_export(&db).await?;
    let header = [
        "license_id",
        "key_last4",
        "product",
        "license_type",
        "status",
        "customer_id",
        "customer",
        "assigned_email",
        "issued_at",
        "expires_at",
        "seats_used",
        "seats",
    ];
    let lines = rows.into_iter().map(|r| {
        vec![
            r.license_id,
            r.key_last4,
            r.product,
            r.license_type,
            r.status.to_string(),
            r.organization_id.unwrap_or_default(),
            r.organization_name.unwrap_or_default(),
            r.assigned_email.unwrap_or_default(),
            Timestamp::from_unix(r.issued_at).to_utc_string(),
            r.expires_at
                .map(|t| Timestamp::from_unix(t).to_utc_string())
                .unwrap_or_default(),
            r.machines_used.to_string(),
            r.max_machines.to_string(),
        ]
    });
    Ok(csv_download("licenses", &header, lines))
}

/// A CSV file to download (RFC 4180, CRLF lines, every field defused),
/// named `<name>.csv`; `name` is one of ours, never the caller's text.
pub fn csv_download(
    name: &str,
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> HttpResponse {
    let mut out = header.join(",");
    out.push_str("\r\n");
    for row in rows {
        let line: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(out)
}

/// One CSV field (RFC 4180), defused against spreadsheet formulas.
pub fn csv_field(value: &str) -> String {
    let mut v = value.to_owned();
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        v.insert(0, '\'');
    }
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }
}
