//! What an import of licenses reads before it writes: the catalog, the
//! keys already held and the accounts of the customers it names, each in a
//! few statements however many rows the import has.

use std::collections::HashMap;

use sqlx::AnyPool;

use crate::domain::role::Role;
use crate::store::{Backend, values_list};

/// Values per `IN (...)` list.
const CHUNK: usize = 500;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductRef {
    pub id: String,
    pub code: String,
}

/// Every product, by code.
pub async fn products(pool: &AnyPool) -> Result<Vec<ProductRef>, sqlx::Error> {
    sqlx::query_as("SELECT id, code FROM products")
        .fetch_all(pool)
        .await
}

/// Every entitlement code.
pub async fn entitlement_codes(pool: &AnyPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT code FROM entitlements")
        .fetch_all(pool)
        .await
}

/// The licenses that already have one of these key digests: digest -> id.
pub async fn licenses_by_digest(
    pool: &AnyPool,
    backend: Backend,
    digests: &[String],
) -> Result<HashMap<String, String>, sqlx::Error> {
    let mut found = HashMap::new();
    for chunk in digests.chunks(CHUNK) {
        let sql = format!(
            "SELECT key_digest, id FROM licenses WHERE key_digest IN {}",
            values_list(backend, 1, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
        for digest in chunk {
            query = query.bind(digest);
        }
        found.extend(query.fetch_all(pool).await?);
    }
    Ok(found)
}

/// An account an import row names by email.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub organization_id: Option<String>,
    pub organization_name: Option<String>,
}

/// The accounts with these addresses (as stored), by address.
pub async fn accounts_by_email(
    pool: &AnyPool,
    backend: Backend,
    emails: &[String],
) -> Result<HashMap<String, Account>, sqlx::Error> {
    let mut found = HashMap::new();
    for chunk in emails.chunks(CHUNK) {
        let sql = format!(
            "SELECT u.email AS email, u.role AS role, u.organization_id AS organization_id, \
             o.name AS organization_name \
             FROM users u LEFT JOIN organizations o ON o.id = u.organization_id \
             WHERE u.email IN {}",
            values_list(backend, 1, chunk.len())
        );
        let mut query = sqlx::query_as::<_, Account>(sqlx::AssertSqlSafe(sql));
        for email in chunk {
            query = query.bind(email);
        }
        for account in query.fetch_all(pool).await? {
            found.insert(account.email.clone(), account);
        }
    }
    Ok(found)
}
