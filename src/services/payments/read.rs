//! Reading a provider's JSON after its signature was checked: the
//! envelope's id and type, and the few fields each event needs, by path.

use serde_json::Value;

use crate::domain::time::Timestamp;

/// A verified body Licensor cannot read: a 400, and nothing stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the body is not JSON")]
    NotJson,
    #[error("the event is malformed: {0}")]
    Malformed(&'static str),
}

impl ReadError {
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::NotJson => "malformed_json",
            ReadError::Malformed(_) => "malformed_event",
        }
    }
}

/// The event, its id and its type.
pub fn envelope(
    body: &[u8],
    id_field: &str,
    type_field: &str,
) -> Result<(Value, String, String), ReadError> {
    let event: Value = serde_json::from_slice(body).map_err(|_| ReadError::NotJson)?;
    let id = str_at(&event, &[id_field])
        .filter(|id| id.len() <= 255)
        .ok_or(ReadError::Malformed("the event has no id"))?
        .to_owned();
    let kind = str_at(&event, &[type_field])
        .filter(|kind| kind.len() <= 255)
        .ok_or(ReadError::Malformed("the event has no type"))?
        .to_owned();
    Ok((event, id, kind))
}

/// The non-empty text at `path`.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The instant at `path`: unix seconds (Stripe) or RFC 3339 (Paddle).
pub fn time_at(value: &Value, path: &[&str]) -> Option<Timestamp> {
    let at = path.iter().try_fold(value, |v, key| v.get(key))?;
    match at {
        Value::Number(n) => n.as_i64().map(Timestamp::from_unix),
        Value::String(s) => Timestamp::parse_date_or_time(s, false),
        _ => None,
    }
}

/// The text at `path` in each item.
pub fn strings(items: &[Value], path: &[&str]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| str_at(item, path))
        .map(str::to_owned)
        .collect()
}

/// The payment ids present at these paths.
pub fn payments(object: &Value, paths: &[&[&str]]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|path| str_at(object, path))
        .map(str::to_owned)
        .collect()
}
