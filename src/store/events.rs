//! The audit log: one row per change, written in the change's transaction.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, FromRow};

use crate::domain::audit::{Actor, ActorKind, EventKind};
use crate::domain::id::new_id;
use crate::domain::time::Timestamp;
use crate::store::Tx;

/// An event about to be recorded.
#[derive(Debug)]
pub struct NewEvent<'a> {
    pub kind: EventKind,
    pub actor: &'a Actor,
    pub request_id: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub license_id: Option<&'a str>,
    pub data: serde_json::Value,
}

impl<'a> NewEvent<'a> {
    pub fn new(kind: EventKind, actor: &'a Actor) -> Self {
        Self {
            kind,
            actor,
            request_id: None,
            organization_id: None,
            user_id: None,
            license_id: None,
            data: serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: String,
    pub occurred_at: i64,
    #[sqlx(try_from = "String")]
    pub kind: EventKind,
    #[sqlx(try_from = "String")]
    pub actor_kind: ActorKind,
    pub actor_id: Option<String>,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    pub license_id: Option<String>,
    pub data: String,
}

/// The columns an event is written with, in the order [`insert`] binds
/// them (a macro, for `concat!`).
macro_rules! new_event_columns {
    () => {
        "id, occurred_at, kind, actor_kind, actor_id, request_id, organization_id, user_id, \
         license_id, data"
    };
}
pub(crate) use new_event_columns;

#[tracing::instrument(level = "debug", skip_all, fields(kind = event.kind.as_str()))]
pub async fn insert(tx: &mut Tx, at: Timestamp, event: &NewEvent<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO events (",
        new_event_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(new_id())
    .bind(at.unix())
    .bind_who(event)
    .bind(event.license_id)
    .bind(event.data.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Binds what an event is and who made it (`kind` through `user_id` of
/// [`new_event_columns`]), for every statement that writes one.
pub(crate) trait BindWho<'q> {
    fn bind_who(self, event: &'q NewEvent<'_>) -> Self;
}

impl<'q> BindWho<'q> for Query<'q, Any, AnyArguments> {
    fn bind_who(self, event: &'q NewEvent<'_>) -> Self {
        self.bind(event.kind.as_str())
            .bind(event.actor.kind().as_str())
            .bind(event.actor.id())
            .bind(event.request_id)
            .bind(event.organization_id)
            .bind(event.user_id)
    }
}

/// The newest events about an organization or a license (one of the two),
/// newest first: the timeline of the support console.
pub async fn timeline(
    pool: &sqlx::AnyPool,
    organization_id: Option<&str>,
    license_id: Option<&str>,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    // One statement per case, so each reads its own index (an optional
    // `$1 IS NULL OR` would walk every event by time instead).
    let (column, id) = match (organization_id, license_id) {
        (_, Some(license)) => ("license_id", license),
        (Some(organization), None) => ("organization_id", organization),
        (None, None) => return Ok(Vec::new()),
    };
    let also = match (organization_id, license_id) {
        (Some(_), Some(_)) => " AND organization_id = $3",
        _ => "",
    };
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, occurred_at, kind, actor_kind, actor_id, organization_id, user_id, \
         license_id, data FROM events WHERE {column} = $1{also} \
         ORDER BY occurred_at DESC, id DESC LIMIT $2"
    )))
    .bind(id)
    .bind(limit);
    if let (Some(organization), Some(_)) = (organization_id, license_id) {
        query = query.bind(organization);
    }
    query.fetch_all(pool).await
}

/// Which events the audit log lists; all optional, combined with AND.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub kind: Option<EventKind>,
    pub actor_kind: Option<ActorKind>,
    pub actor_id: Option<String>,
    pub license_id: Option<String>,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    /// From this instant on.
    pub since: Option<Timestamp>,
    /// Before this instant.
    pub until: Option<Timestamp>,
    /// After this page position (newest first): (occurred_at, id).
    pub before: Option<(i64, String)>,
}

/// The events that match, newest first: the SQL names only the filters
/// given (fixed fragments, every value bound), so each uses its index.
pub async fn search(
    pool: &sqlx::AnyPool,
    filter: &EventFilter,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT id, occurred_at, kind, actor_kind, actor_id, organization_id, user_id, \
         license_id, data FROM events WHERE 1 = 1",
    );
    let mut n = 0;
    let mut param = |sql: &mut String, fragment: &str| {
        n += 1;
        sql.push_str(&fragment.replace('?', &format!("${n}")));
    };
    let text: [(&Option<String>, &str); 5] = [
        (&filter.kind.map(|k| k.as_str().to_owned()), " AND kind = ?"),
        (
            &filter.actor_kind.map(|k| k.as_str().to_owned()),
            " AND actor_kind = ?",
        ),
        (&filter.actor_id, " AND actor_id = ?"),
        (&filter.license_id, " AND license_id = ?"),
        (&filter.organization_id, " AND organization_id = ?"),
    ];
    let mut texts: Vec<String> = Vec::new();
    for (value, fragment) in text {
        if let Some(value) = value {
            param(&mut sql, fragment);
            texts.push(value.clone());
        }
    }
    if let Some(user) = &filter.user_id {
        param(&mut sql, " AND user_id = ?");
        texts.push(user.clone());
    }
    let mut numbers: Vec<i64> = Vec::new();
    if let Some(since) = filter.since {
        param(&mut sql, " AND occurred_at >= ?");
        numbers.push(since.unix());
    }
    if let Some(until) = filter.until {
        param(&mut sql, " AND occurred_at < ?");
        numbers.push(until.unix());
    }
    let before = filter.before.clone();
    if before.is_some() {
        n += 1;
        let (at, id) = (n, n + 1);
        n += 1;
        sql.push_str(&format!(
            " AND (occurred_at < ${at} OR (occurred_at = ${at} AND id < ${id}))"
        ));
    }
    n += 1;
    sql.push_str(&format!(" ORDER BY occurred_at DESC, id DESC LIMIT ${n}"));
    let mut query = sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql));
    for value in texts {
        query = query.bind(value);
    }
    for value in numbers {
        query = query.bind(value);
    }
    if let Some((at, id)) = before {
        query = query.bind(at).bind(id);
    }
    query.bind(limit).fetch_all(pool).await
}
