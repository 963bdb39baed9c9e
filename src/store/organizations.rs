use sqlx::{AnyPool, FromRow};

use crate::domain::time::Timestamp;
use crate::store::{Backend, Tx};

#[derive(Debug, Clone, FromRow)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

pub async fn insert(tx: &mut Tx, id: &str, name: &str, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(now.unix())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn find_by_id<'e, E>(exec: E, id: &str) -> Result<Option<OrganizationRow>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_optional(exec)
        .await
}

/// Organizations whose name starts with `needle` (any case), by name:
/// one index range however many organizations there are.
pub async fn search_by_name(
    pool: &AnyPool,
    backend: Backend,
    needle: &str,
    limit: i64,
) -> Result<Vec<OrganizationRow>, sqlx::Error> {
    let name = bytes_order(backend, "LOWER(name)");
    let (from, to) = prefix_range(&needle.to_lowercase());
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, name, created_at FROM organizations \
         WHERE {name} >= $1 AND {name} < $2 ORDER BY {name} LIMIT $3"
    )))
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The bounds of the texts that start with `prefix`, in byte order.
pub fn prefix_range(prefix: &str) -> (String, String) {
    (prefix.to_owned(), format!("{prefix}\u{10FFFF}"))
}

/// A text expression compared in byte order: PostgreSQL's `C` collation
/// (the database's own may order otherwise); SQLite's is bytes already.
pub fn bytes_order(backend: Backend, expression: &str) -> String {
    match backend {
        Backend::Sqlite => expression.to_owned(),
        Backend::Postgres => format!("({expression} COLLATE \"C\")"),
    }
}
