//! The whole system's audit log, as the console filters and exports it.

use crate::domain::audit::{ActorKind, EventKind};
use crate::domain::email::EmailAddress;
use crate::domain::id::is_well_formed;
use crate::domain::time::Timestamp;
use crate::store::Db;
pub use crate::store::events::EventFilter;
use crate::store::events::{self, EventRow};
use crate::store::{licenses, organizations, users};

/// The most events one export holds.
pub const EXPORT_LIMIT: i64 = 100_000;

/// What the console's filter fields say, as typed.
#[derive(Debug, Default, Clone)]
pub struct Query<'a> {
    /// An event kind (`license.updated`), or empty.
    pub action: &'a str,
    /// A person's email, an actor kind (`staff`, `api_token`, ...), or an
    /// actor's id.
    pub actor: &'a str,
    /// A license, organization or user id.
    pub entity: &'a str,
    /// `YYYY-MM-DD`, UTC, inclusive.
    pub from: &'a str,
    pub to: &'a str,
}

/// A filter field that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct FilterError {
    pub field: &'static str,
    pub detail: String,
}

fn bad(field: &'static str, detail: &str) -> FilterError {
    FilterError {
        field,
        detail: detail.to_owned(),
    }
}

/// Reads the filter fields; an entity is looked up to know what it is, a
/// person by their email.
pub async fn filter(db: &Db, q: &Query<'_>) -> anyhow::Result<Result<EventFilter, FilterError>> {
    let mut filter = EventFilter::default();
    let action = q.action.trim();
    if !action.is_empty() {
        match action.parse::<EventKind>() {
            Ok(kind) => filter.kind = Some(kind),
            Err(_) => return Ok(Err(bad("action", "Choose an action from the list."))),
        }
    }
    let actor = q.actor.trim();
    if !actor.is_empty() {
        if let Ok(kind) = actor.parse::<ActorKind>() {
            filter.actor_kind = Some(kind);
        } else if actor.contains('@') {
            let Ok(email) = EmailAddress::parse(actor) else {
                return Ok(Err(bad("actor", "That is not an email address.")));
            };
            match users::find_by_email(db.pool(), &email).await? {
                Some(user) => filter.actor_id = Some(user.id.to_string()),
                None => return Ok(Err(bad("actor", "No account has that email."))),
            }
        } else {
            filter.actor_id = Some(actor.to_owned());
        }
    }
    let entity = q.entity.trim();
    if !entity.is_empty() {
        if !is_well_formed(entity) {
            return Ok(Err(bad(
                "entity",
                "Give a license, organization or user id.",
            )));
        }
        if licenses::find_by_id(db.pool(), entity).await?.is_some() {
            filter.license_id = Some(entity.to_owned());
        } else if organizations::find_by_id(db.pool(), entity)
            .await?
            .is_some()
        {
            filter.organization_id = Some(entity.to_owned());
        } else if users::find_by_id(db.pool(), entity).await?.is_some() {
            filter.user_id = Some(entity.to_owned());
        } else {
            // Gone since (a deleted license): its events still name it.
            filter.license_id = Some(entity.to_owned());
        }
    }
    let date = |field: &'static str, text: &str| -> Result<Option<Timestamp>, FilterError> {
        match text.trim() {
            "" => Ok(None),
            d => Timestamp::end_of_date(d)
                .map(Some)
                .ok_or_else(|| bad(field, "Give the date as YYYY-MM-DD.")),
        }
    };
    // A day runs from its first second to its last.
    match date("from", q.from) {
        Ok(from) => filter.since = from.map(|end| end.plus_secs(-86_399)),
        Err(e) => return Ok(Err(e)),
    }
    match date("to", q.to) {
        Ok(to) => filter.until = to.map(|end| end.plus_secs(1)),
        Err(e) => return Ok(Err(e)),
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && until <= since
    {
        return Ok(Err(bad("to", "The end comes before the start.")));
    }
    Ok(Ok(filter))
}

/// The events that match, newest first.
pub async fn events(db: &Db, filter: &EventFilter, limit: i64) -> anyhow::Result<Vec<EventRow>> {
    Ok(events::search(db.pool(), filter, limit).await?)
}
