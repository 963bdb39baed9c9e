//! `/admin/licenses/import`: importing licenses from the console, the CSV
//! pasted in; "Check" reports every row (a dry run), "Import" writes them
//! all or none. Sales and admins.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::role::Capability;
use crate::secret::DataCipher;
use crate::services::licensing::import::{
    self, COLUMNS, ImportError, ImportReport, ImportSource, MAX_ROWS_PER_REQUEST, RowError,
};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, render_private_status};

#[derive(Debug, Default, Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    csv: String,
    /// `check` (a dry run) or `import`.
    #[serde(default)]
    action: String,
}

/// What the last submission did.
enum Outcome {
    Nothing,
    Report(ImportReport),
    Refused(String, Vec<RowError>),
}

#[derive(Template)]
#[template(path = "admin/import.html")]
struct ImportPage<'a> {
    page: Page,
    columns: String,
    csv: &'a str,
    outcome: Outcome,
}

async fn render(
    page: Page,
    status: StatusCode,
    csv: &str,
    outcome: Outcome,
) -> Result<HttpResponse, WebError> {
    render_private_status(
        status,
        &ImportPage {
            page: page.titled("Import licenses"),
            columns: COLUMNS.join(","),
            csv,
            outcome,
        },
    )
}

/// `GET /admin/licenses/import`
pub async fn form(FormPage(page): FormPage, staff: Staff) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Sell)?;
    render(page, StatusCode::OK, "", Outcome::Nothing).await
}

/// `POST /admin/licenses/import`
pub async fn submit(
    req: HttpRequest,
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    form: web::Form<ImportForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Sell)?;
    let dry_run = form.action != "import";
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    let result = match import::csv_rows(form.csv.as_bytes(), MAX_ROWS_PER_REQUEST) {
        Ok(rows) => {
            import::import_licenses(&ctx, &cipher, rows, ImportSource::Console, dry_run).await
        }
        Err(e) => Err(e),
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let outcome = match result {
        Ok(report) => {
            return render(page, StatusCode::OK, &form.csv, Outcome::Report(report)).await;
        }
        Err(ImportError::Rows(errors)) => Outcome::Refused(
            format!("{} errors; nothing was imported.", errors.len()),
            errors,
        ),
        Err(ImportError::TooManyRows { max }) => Outcome::Refused(
            format!(
                "At most {max} rows at a time: split the file, or use `licensor import licenses`."
            ),
            Vec::new(),
        ),
        Err(ImportError::Body(detail)) => Outcome::Refused(detail, Vec::new()),
        Err(ImportError::Licensing(e)) => match e {
            crate::services::licensing::LicensingError::Unexpected(e) => return Err(e.into()),
            other => Outcome::Refused(other.to_string(), Vec::new()),
        },
    };
    render(page, unprocessable, &form.csv, outcome).await
}
