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

pub async fn find_by_id(pool: &AnyPool, id: &str) -> Result<Option<OrganizationRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}
