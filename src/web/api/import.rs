//! Importing licenses a vendor already has: `POST /api/v1/licenses/import`
//! with `{"licenses": [...]}` as JSON, or a CSV file as `text/csv`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::secret::DataCipher;
use crate::services::api_tokens::Scope;
use crate::services::licensing::import::{
    self, ImportError, ImportReport, ImportSource, MAX_ROWS_PER_REQUEST, ReadRows,
};
use crate::store::Db;
use crate::web::api::ProblemDoc;
use crate::web::api::auth::ApiClient;
use crate::web::api::idempotency::{self, Reply};
use crate::web::api::{licensing_problem, parse_json, token_ctx};
use crate::web::error::{Problem, WebError};

/// The largest import body: 10,000 rows of a few hundred bytes.
pub const MAX_IMPORT_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Check every row and report, writing nothing.
    #[serde(default)]
    dry_run: bool,
}

/// One row's outcome.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportedRow {
    /// The CSV line (the header is line 1), or the position in `licenses`
    /// from 1.
    line: u64,
    /// `created` (or on a dry run, would be), or `existing`: a license
    /// already has this key and is left as it is.
    status: &'static str,
    /// The license; absent for a new one on a dry run.
    license_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    dry_run: bool,
    created: usize,
    existing: usize,
    rows: Vec<ImportedRow>,
}

impl ImportResult {
    fn new(report: ImportReport) -> Self {
        let mut rows: Vec<ImportedRow> = report
            .created
            .iter()
            .map(|l| ImportedRow {
                line: l.line,
                status: "created",
                license_id: l.license_id.clone(),
            })
            .chain(report.existing.iter().map(|l| ImportedRow {
                line: l.line,
                status: "existing",
                license_id: l.license_id.clone(),
            }))
            .collect();
        rows.sort_by_key(|r| r.line);
        Self {
            dry_run: report.dry_run,
            created: report.created.len(),
            existing: report.existing.len(),
            rows,
        }
    }
}

/// Import licenses
///
/// Brings over licenses a vendor already has, with their keys in any
/// format: `{"licenses": [{"key", "customer_email", "organization",
/// "product", "license_type", "seats", "entitlements", "issued_at",
/// "expires_at", "machines", "metadata"}]}` as JSON, or the same columns
/// as a CSV file with a header line (`Content-Type: text/csv`; lists split
/// on `;`, a machine `fingerprint|name`, metadata `key=value`). At most
/// 10,000 rows. Every row is checked first: any error answers 422
/// `invalid_import` with every row's errors (`errors`: line, field,
/// detail) and nothing is written; otherwise all the new licenses are
/// written together. A key a license already has is left as it is
/// (`existing`), so the same file imported twice creates nothing new.
/// `?dry_run=true` checks and reports without writing.
#[utoipa::path(post, path = "/api/v1/licenses/import", tag = "provisioning",
    params(ImportQuery), security(("token" = ["write"])),
    request_body(content = String, description = "JSON {\"licenses\": [...]} or text/csv"),
    responses((status = 200, body = ImportResult),
        (status = 413, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn import_licenses(
    req: HttpRequest,
    client: ApiClient,
    query: web::Query<ImportQuery>,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let rows = read_rows(&req, &body)?;
    let dry_run = query.dry_run;
    let ctx = token_ctx(&db, clock.as_ref(), &client, &req);
    let scope = format!("{}:import:{dry_run}", client.token_id);
    let reply = idempotency::run(&req, &db, clock.as_ref(), &scope, &body, || async {
        let report =
            import::import_licenses(&ctx, &cipher, rows.clone(), ImportSource::Api, dry_run)
                .await
                .map_err(import_problem)?;
        Reply::json(StatusCode::OK, &ImportResult::new(report))
    })
    .await?;
    Ok(reply.into_response())
}

/// The rows of a CSV or JSON body.
fn read_rows(req: &HttpRequest, body: &[u8]) -> Result<ReadRows, WebError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let rows = if media == "text/csv" {
        import::csv_rows(body, MAX_ROWS_PER_REQUEST)
    } else {
        let value: serde_json::Value = parse_json(req, body)?;
        import::json_rows(&value, MAX_ROWS_PER_REQUEST)
    };
    rows.map_err(import_problem)
}

fn import_problem(err: ImportError) -> WebError {
    match err {
        ImportError::Rows(errors) => {
            let list: Vec<serde_json::Value> = errors
                .iter()
                .map(
                    |e| serde_json::json!({ "line": e.line, "field": e.field, "detail": e.detail }),
                )
                .collect();
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_import",
                format!(
                    "{} errors; nothing was imported. The first: {first}.",
                    errors.len()
                ),
            )
            .with("errors", serde_json::Value::Array(list))
            .into()
        }
        ImportError::TooManyRows { max } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_rows",
            format!("An import request has at most {max} rows; split the file."),
        )
        .into(),
        ImportError::Body(detail) => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_import", detail).into()
        }
        ImportError::Licensing(e) => licensing_problem(e, None),
    }
}
