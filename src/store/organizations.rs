use sqlx::{AnyPool, FromRow};

use crate::domain::time::Timestamp;
use crate::store::Tx;

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

/// Organizations whose name contains `needle` (any case), newest first.
pub async fn search_by_name(
    pool: &AnyPool,
    needle: &str,
    limit: i64,
) -> Result<Vec<OrganizationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, created_at FROM organizations \
         WHERE LOWER(name) LIKE $1 ESCAPE '\\' ORDER BY created_at DESC, id LIMIT $2",
    )
    .bind(like_pattern(needle))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// `%needle%` in lower case, with LIKE's wildcards taken literally.
pub fn like_pattern(needle: &str) -> String {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}
