//! Bulk rows for `licensor seed` (load tests only): customers with their
//! organizations, and audit events, in multi-row statements.

use crate::store::{Tx, values_list};

/// Rows per statement: far under either backend's parameter limit.
const ROWS: usize = 500;

/// One seeded customer: an organization and its owner.
#[derive(Debug, Clone)]
pub struct SeedCustomer {
    pub organization_id: String,
    pub organization_name: String,
    pub user_id: String,
    pub email: String,
    pub created_at: i64,
}

/// Inserts organizations and their owners (verified customers who cannot
/// sign in: `password_hash` is given, the same for all).
pub async fn insert_customers(
    tx: &mut Tx,
    customers: &[SeedCustomer],
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    let backend = tx.backend();
    for chunk in customers.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO organizations (id, name, created_at) VALUES {}",
            values_list(backend, chunk.len(), 3)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            query = query
                .bind(&c.organization_id)
                .bind(&c.organization_name)
                .bind(c.created_at);
        }
        query.execute(&mut **tx).await?;
        let sql = format!(
            "INSERT INTO users (id, organization_id, org_role, email, email_key, password_hash, \
             role, email_verified_at, created_at, updated_at) VALUES {}",
            values_list(backend, chunk.len(), 10)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            query = query
                .bind(&c.user_id)
                .bind(&c.organization_id)
                .bind("owner")
                .bind(&c.email)
                .bind(&c.email)
                .bind(password_hash)
                .bind("customer")
                .bind(c.created_at)
                .bind(c.created_at)
                .bind(c.created_at);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// One seeded audit event.
#[derive(Debug, Clone)]
pub struct SeedEvent {
    pub id: String,
    pub occurred_at: i64,
    pub kind: &'static str,
    pub actor_kind: &'static str,
    pub actor_id: Option<String>,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    pub license_id: Option<String>,
    pub data: String,
}

pub async fn insert_events(tx: &mut Tx, events: &[SeedEvent]) -> Result<(), sqlx::Error> {
    let backend = tx.backend();
    for chunk in events.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO events (id, occurred_at, kind, actor_kind, actor_id, organization_id, \
             user_id, license_id, data) VALUES {}",
            values_list(backend, chunk.len(), 9)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in chunk {
            query = query
                .bind(&e.id)
                .bind(e.occurred_at)
                .bind(e.kind)
                .bind(e.actor_kind)
                .bind(&e.actor_id)
                .bind(&e.organization_id)
                .bind(&e.user_id)
                .bind(&e.license_id)
                .bind(&e.data);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
