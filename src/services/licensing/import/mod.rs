//! Importing licenses a vendor already has (`licensor import licenses`,
//! `POST /api/v1/licenses/import`): every row is read and checked against
//! the catalog and the accounts before anything is written; a dry run stops
//! there. A real run writes every new license in one transaction, so an
//! import is whole or not at all, and a key already held (by its digest) is
//! left as it is, so running the same file twice creates nothing new.

mod check;
mod read;
mod write;

use std::fmt;

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::secret::DataCipher;
use crate::services::context::Ctx;
use crate::store::events::{self, NewEvent};

use super::error::LicensingError;

pub use read::{COLUMNS, ImportRow, ReadRows, csv_rows, json_rows};

/// Rows one API request may carry.
pub const MAX_ROWS_PER_REQUEST: usize = 10_000;

/// Where an import came from, as its audit event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportSource {
    Api,
    Cli,
    Console,
}

impl ImportSource {
    fn as_str(self) -> &'static str {
        match self {
            ImportSource::Api => "api",
            ImportSource::Cli => "cli",
            ImportSource::Console => "console",
        }
    }
}

/// What is wrong with one row (or with the header, line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    /// The column at fault, when one is.
    pub field: Option<&'static str>,
    pub detail: String,
}

impl RowError {
    pub(crate) fn new(line: u64, field: Option<&'static str>, detail: String) -> Self {
        Self {
            line,
            field,
            detail,
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "line {}: {field}: {}", self.line, self.detail),
            None => write!(f, "line {}: {}", self.line, self.detail),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The body is not an import at all.
    #[error("{0}")]
    Body(String),
    #[error("an import has at most {max} rows; split the file")]
    TooManyRows { max: usize },
    /// Rows that break the rules: nothing was written.
    #[error("{} rows have errors; nothing was imported", .0.len())]
    Rows(Vec<RowError>),
    #[error(transparent)]
    Licensing(#[from] LicensingError),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Licensing(e.into())
    }
}

impl From<anyhow::Error> for ImportError {
    fn from(e: anyhow::Error) -> Self {
        ImportError::Licensing(e.into())
    }
}

/// One row's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedLine {
    pub line: u64,
    /// The license: new, or the one that already had the key; `None` for
    /// a new one on a dry run.
    pub license_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Rows that are (or on a dry run would be) new licenses.
    pub created: Vec<ImportedLine>,
    /// Rows whose key a license already has: left as they are.
    pub existing: Vec<ImportedLine>,
}

/// Checks every row and, unless `dry_run`, imports them all or none. Rows
/// that could not be read are reported with the errors of the others.
pub async fn import_licenses(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    read: ReadRows,
    source: ImportSource,
    dry_run: bool,
) -> Result<ImportReport, ImportError> {
    let ReadRows { rows, errors } = read;
    let reference = check::Reference::read(ctx.db, &rows).await?;
    let planned = match (check::plan(&reference, &rows, ctx.clock.now()), errors) {
        (Ok(planned), errors) if errors.is_empty() => planned,
        (Ok(_), errors) => return Err(ImportError::Rows(errors)),
        (Err(ImportError::Rows(more)), mut errors) => {
            errors.extend(more);
            // Stable: a row's own errors stay in column order.
            errors.sort_by_key(|e| e.line);
            return Err(ImportError::Rows(errors));
        }
        (Err(e), _) => return Err(e),
    };
    let existing: Vec<ImportedLine> = planned
        .iter()
        .filter_map(|p| {
            p.existing.as_ref().map(|id| ImportedLine {
                line: p.line,
                license_id: Some(id.clone()),
            })
        })
        .collect();
    let new: Vec<&check::Planned> = planned.iter().filter(|p| p.existing.is_none()).collect();
    if dry_run {
        return Ok(ImportReport {
            dry_run,
            created: new
                .iter()
                .map(|p| ImportedLine {
                    line: p.line,
                    license_id: None,
                })
                .collect(),
            existing,
        });
    }
    let mut tx = ctx.db.begin_write().await?;
    let created = write::insert_all(ctx, &mut tx, cipher, &new).await?;
    let mut event = NewEvent::new(EventKind::LicensesImported, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = json!({
        "source": source.as_str(),
        "rows": rows.len(),
        "created": created.len(),
        "existing": existing.len(),
    });
    events::insert(&mut tx, ctx.clock.now(), &event)
        .await
        .context("recording the import")?;
    tx.commit().await.context("committing the import")?;
    tracing::info!(
        source = source.as_str(),
        created = created.len(),
        existing = existing.len(),
        "licenses imported"
    );
    Ok(ImportReport {
        dry_run,
        created,
        existing,
    })
}
