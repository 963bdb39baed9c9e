use crate::domain::license::ExpiryFrom;
use crate::domain::time::Timestamp;
use crate::store::{Tx, flag};

/// The rules of a license type, as stored.
#[derive(Debug)]
pub struct NewLicenseType<'a> {
    pub id: &'a str,
    pub product_id: &'a str,
    pub name: &'a str,
    pub duration_days: Option<i64>,
    pub max_machines: i64,
    pub floating: bool,
    pub heartbeat_window_secs: Option<i64>,
    pub grace_days: i64,
    pub self_service_trial: bool,
    pub customer_may_deactivate: bool,
    pub deactivation_limit: Option<i64>,
    pub deactivation_period_days: Option<i64>,
    pub expiry_from_first_activation: bool,
    pub offline_checkin_days: i64,
}

/// Inserts the type unless the product already has one by that name;
/// returns whether it is new.
#[tracing::instrument(level = "debug", skip_all, fields(name = lt.name))]
pub async fn insert_if_absent(
    tx: &mut Tx,
    lt: &NewLicenseType<'_>,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let inserted: Option<(String,)> = sqlx::query_as(
        "INSERT INTO license_types (id, product_id, name, duration_days, max_machines, floating, \
         heartbeat_window_secs, grace_days, self_service_trial, customer_may_deactivate, \
         deactivation_limit, deactivation_period_days, expiry_from, offline_checkin_days, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (product_id, name) DO NOTHING RETURNING id",
    )
    .bind(lt.id)
    .bind(lt.product_id)
    .bind(lt.name)
    .bind(lt.duration_days)
    .bind(lt.max_machines)
    .bind(flag(lt.floating))
    .bind(lt.heartbeat_window_secs)
    .bind(lt.grace_days)
    .bind(flag(lt.self_service_trial))
    .bind(flag(lt.customer_may_deactivate))
    .bind(lt.deactivation_limit)
    .bind(lt.deactivation_period_days)
    .bind(if lt.expiry_from_first_activation {
        "first_activation"
    } else {
        "issue"
    })
    .bind(lt.offline_checkin_days)
    .bind(now.unix())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(inserted.is_some())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LicenseTypeRow {
    pub id: String,
    pub product_id: String,
    pub name: String,
    pub duration_days: Option<i64>,
    pub max_machines: i64,
    pub floating: i64,
    pub heartbeat_window_secs: Option<i64>,
    pub grace_days: i64,
    pub self_service_trial: i64,
    pub customer_may_deactivate: i64,
    pub deactivation_limit: Option<i64>,
    pub deactivation_period_days: Option<i64>,
    #[sqlx(try_from = "String")]
    pub expiry_from: ExpiryFrom,
    pub offline_checkin_days: i64,
    pub retired_at: Option<i64>,
    pub created_at: i64,
}

macro_rules! select_type {
    () => {
        "SELECT id, product_id, name, duration_days, max_machines, floating, \
         heartbeat_window_secs, grace_days, self_service_trial, customer_may_deactivate, \
         deactivation_limit, deactivation_period_days, expiry_from, offline_checkin_days, \
         retired_at, created_at FROM license_types "
    };
}

pub async fn find_by_id<'e, E>(exec: E, id: &str) -> Result<Option<LicenseTypeRow>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as(concat!(select_type!(), "WHERE id = $1"))
        .bind(id)
        .fetch_optional(exec)
        .await
}

/// Every license type, retired ones too.
pub async fn all(pool: &sqlx::AnyPool) -> Result<Vec<LicenseTypeRow>, sqlx::Error> {
    sqlx::query_as(select_type!()).fetch_all(pool).await
}

/// A page of license types in id order, after the cursor, optionally of
/// one product.
pub async fn list_page(
    pool: &sqlx::AnyPool,
    product_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<LicenseTypeRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_type!(),
        "WHERE ($1 IS NULL OR product_id = $1) AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
    ))
    .bind(product_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Links entitlement codes to a type, creating the codes that are new.
pub async fn add_entitlements(
    tx: &mut Tx,
    license_type_id: &str,
    codes: &[String],
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    // Licenses of the type (if any yet) carry its entitlements.
    tx.touch_all_licenses();
    for code in codes {
        sqlx::query(
            "INSERT INTO entitlements (id, code, name, created_at) VALUES ($1, $2, $2, $3) \
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(crate::domain::id::new_id())
        .bind(code)
        .bind(now.unix())
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO license_type_entitlements (license_type_id, entitlement_id) \
             SELECT $1, id FROM entitlements WHERE code = $2 \
             ON CONFLICT (license_type_id, entitlement_id) DO NOTHING",
        )
        .bind(license_type_id)
        .bind(code)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Deletes a type no license uses; false when it is in use or absent.
pub async fn delete_unused(tx: &mut Tx, id: &str) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "DELETE FROM license_types WHERE id = $1 \
         AND NOT EXISTS (SELECT 1 FROM licenses WHERE license_type_id = $1)",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Retires a type: no new licenses of it; existing ones go on.
pub async fn retire(tx: &mut Tx, id: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE license_types SET retired_at = $2 WHERE id = $1 AND retired_at IS NULL",
    )
    .bind(id)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(res.rows_affected() == 1)
}
