//! The admin dashboard's queries: the onboarding funnel, error patterns and
//! license utilization. Read-only; sums are cast so both backends answer
//! BIGINT through `Any`.

use sqlx::{AnyPool, FromRow};

/// One customer (an organization that signed up) and when it reached each
/// onboarding step.
#[derive(Debug, Clone, FromRow)]
pub struct FunnelRow {
    pub organization_id: String,
    pub signed_up_at: i64,
    pub verified_at: Option<i64>,
    pub licensed_at: Option<i64>,
    pub activated_at: Option<i64>,
    pub validated_at: Option<i64>,
    /// The product of the customer's first license.
    pub product: Option<String>,
}

/// Customers who signed up at or after `since`, oldest first. Three
/// grouped reads joined here, each one pass over its index range (a
/// subquery per customer read the events and licenses of 75,000
/// customers one by one: 25 s at a million customers).
pub async fn funnel(pool: &AnyPool, since: i64) -> Result<Vec<FunnelRow>, sqlx::Error> {
    use std::collections::HashMap;
    let cohort: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT u.organization_id, u.created_at, u.email_verified_at FROM users u \
         WHERE u.role = 'customer' AND u.created_at >= $1 AND u.org_role = 'owner' \
           AND u.organization_id IS NOT NULL \
         ORDER BY u.created_at, u.id",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    // Their organizations' first license event: none of theirs is older
    // than their sign-up.
    let licensed: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT organization_id, CAST(MIN(occurred_at) AS BIGINT) FROM events \
         WHERE kind IN ('license.created', 'license.assigned') AND occurred_at >= $1 \
           AND organization_id IS NOT NULL \
         GROUP BY organization_id",
    )
    .bind(since)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    // Their licenses, oldest first: the first activation and validation,
    // and the first license's product.
    let licenses: Vec<(String, Option<i64>, Option<i64>, String)> = sqlx::query_as(
        "SELECT l.organization_id, l.first_activated_at, l.first_validated_at, p.name \
         FROM users u JOIN licenses l ON l.organization_id = u.organization_id \
         JOIN products p ON p.id = l.product_id \
         WHERE u.role = 'customer' AND u.created_at >= $1 AND u.org_role = 'owner' \
         ORDER BY l.created_at, l.id",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    #[derive(Default)]
    struct Seen {
        activated_at: Option<i64>,
        validated_at: Option<i64>,
        product: Option<String>,
    }
    let earliest = |a: Option<i64>, b: Option<i64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut seen: HashMap<String, Seen> = HashMap::new();
    for (org, activated, validated, product) in licenses {
        let s = seen.entry(org).or_default();
        s.activated_at = earliest(s.activated_at, activated);
        s.validated_at = earliest(s.validated_at, validated);
        s.product.get_or_insert(product);
    }
    Ok(cohort
        .into_iter()
        .map(|(organization_id, signed_up_at, verified_at)| {
            let s = seen.remove(&organization_id).unwrap_or_default();
            FunnelRow {
                licensed_at: licensed.get(&organization_id).copied(),
                organization_id,
                signed_up_at,
                verified_at,
                activated_at: s.activated_at,
                validated_at: s.validated_at,
                product: s.product,
            }
        })
        .collect())
}

/// Answers of the key-authenticated API on one day.
#[derive(Debug, Clone, FromRow)]
pub struct OutcomeRow {
    pub day: i64,
    pub endpoint: String,
    pub code: String,
    pub count: i64,
}

pub async fn outcomes(pool: &AnyPool, since_day: i64) -> Result<Vec<OutcomeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT day, endpoint, code, count FROM api_outcomes WHERE day >= $1 \
         ORDER BY day, endpoint, code",
    )
    .bind(since_day)
    .fetch_all(pool)
    .await
}

/// A license whose validations were refused.
#[derive(Debug, Clone, FromRow)]
pub struct FailingLicense {
    pub license_id: String,
    pub refusals: i64,
    pub last_at: i64,
    pub key_last4: String,
    pub product: String,
    pub organization: Option<String>,
}

pub async fn failing_licenses(
    pool: &AnyPool,
    since_day: i64,
    limit: i64,
) -> Result<Vec<FailingLicense>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.license_id AS license_id, CAST(SUM(s.count) AS BIGINT) AS refusals, \
           MAX(s.last_at) AS last_at, l.key_last4 AS key_last4, p.name AS product, \
           o.name AS organization \
         FROM validation_stats s \
         JOIN licenses l ON l.id = s.license_id \
         JOIN products p ON p.id = l.product_id \
         LEFT JOIN organizations o ON o.id = l.organization_id \
         WHERE s.day >= $1 AND s.code <> 'VALID' \
         GROUP BY s.license_id, l.key_last4, p.name, o.name \
         ORDER BY refusals DESC, license_id LIMIT $2",
    )
    .bind(since_day)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A client address whose requests were refused.
#[derive(Debug, Clone, FromRow)]
pub struct FailingIp {
    pub ip: String,
    pub refusals: i64,
    pub last_at: i64,
}

pub async fn failing_ips(
    pool: &AnyPool,
    since_day: i64,
    limit: i64,
) -> Result<Vec<FailingIp>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ip, CAST(SUM(count) AS BIGINT) AS refusals, MAX(last_at) AS last_at \
         FROM api_refusal_ips WHERE day >= $1 \
         GROUP BY ip ORDER BY refusals DESC, ip LIMIT $2",
    )
    .bind(since_day)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Failed deliveries by channel: (channel, retrying, dead).
pub async fn delivery_failures(pool: &AnyPool) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT channel, \
           CAST(COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM outbox WHERE status = 'dead' OR (status = 'queued' AND attempts > 0) \
         GROUP BY channel ORDER BY channel",
    )
    .fetch_all(pool)
    .await
}

/// Seats of the licenses in force, by product and license type.
#[derive(Debug, Clone, FromRow)]
pub struct SeatRow {
    pub product: String,
    pub license_type: String,
    pub licenses: i64,
    pub seats_used: i64,
    pub seats: i64,
}

pub async fn seats(pool: &AnyPool, now: i64) -> Result<Vec<SeatRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.name AS product, t.name AS license_type, COUNT(*) AS licenses, \
           CAST(COALESCE(SUM(l.machines_used), 0) AS BIGINT) AS seats_used, \
           CAST(COALESCE(SUM(l.max_machines), 0) AS BIGINT) AS seats \
         FROM licenses l \
         JOIN products p ON p.id = l.product_id \
         JOIN license_types t ON t.id = l.license_type_id \
         WHERE l.status = 'active' AND (l.expires_at IS NULL OR l.expires_at > $1) \
         GROUP BY p.name, t.name ORDER BY p.name, t.name",
    )
    .bind(now)
    .fetch_all(pool)
    .await
}

/// Licenses in force: (validated since `since_day`, all).
pub async fn activity(pool: &AnyPool, now: i64, since_day: i64) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN EXISTS ( \
             SELECT 1 FROM validation_stats s WHERE s.license_id = l.id AND s.day >= $2 \
           ) THEN 1 ELSE 0 END), 0) AS BIGINT), COUNT(*) \
         FROM licenses l \
         WHERE l.status = 'active' AND (l.expires_at IS NULL OR l.expires_at > $1)",
    )
    .bind(now)
    .bind(since_day)
    .fetch_one(pool)
    .await
}

/// A license that expires soon.
#[derive(Debug, Clone, FromRow)]
pub struct ExpiringRow {
    pub license_id: String,
    pub product: String,
    pub license_type: String,
    pub key_last4: String,
    pub organization: Option<String>,
    pub assigned_email: Option<String>,
    pub expires_at: i64,
}

/// Active licenses expiring after `now` and before `until`, soonest first.
pub async fn expiring(
    pool: &AnyPool,
    now: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<ExpiringRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id AS license_id, p.name AS product, lt.name AS license_type, \
           l.key_last4 AS key_last4, o.name AS organization, \
           l.assigned_email AS assigned_email, l.expires_at AS expires_at \
         FROM licenses l \
         JOIN products p ON p.id = l.product_id \
         JOIN license_types lt ON lt.id = l.license_type_id \
         LEFT JOIN organizations o ON o.id = l.organization_id \
         WHERE l.status = 'active' AND l.expires_at > $1 AND l.expires_at <= $2 \
         ORDER BY l.expires_at, l.id LIMIT $3",
    )
    .bind(now)
    .bind(until)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How many active licenses expire after `now` and before `until`.
pub async fn expiring_count(pool: &AnyPool, now: i64, until: i64) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM licenses WHERE status = 'active' AND expires_at > $1 AND expires_at <= $2",
    )
    .bind(now)
    .bind(until)
    .fetch_one(pool)
    .await?;
    Ok(n)
}
