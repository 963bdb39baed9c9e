//! The audit timeline in words: who did what, and what changed as
//! "before → after", with dates, never raw JSON or unix seconds.

use std::collections::HashMap;

use serde_json::Value;

use crate::domain::audit::ActorKind;
use crate::domain::audit::EventKind;
use crate::domain::time::Timestamp;
use crate::services::support::{self, EventRow};
use crate::store::Db;
use crate::web::error::WebError;

/// One event as the console lists it.
pub struct EventLine {
    pub at: String,
    /// What happened, as a sentence fragment ("Suspended the license").
    pub what: String,
    /// Who: a person's email, an API token's name, or what acted.
    pub actor: String,
    /// What changed and why, one line each.
    pub details: Vec<String>,
}

/// The events in words, their actors looked up once each.
pub async fn lines(db: &Db, events: &[EventRow]) -> Result<Vec<EventLine>, WebError> {
    let names = support::actor_names(db, events).await?;
    Ok(events
        .iter()
        .map(|e| EventLine {
            at: Timestamp::from_unix(e.occurred_at).to_utc_string(),
            what: what(e.kind),
            actor: actor(e, &names),
            details: details(&e.data),
        })
        .collect())
}

fn actor(e: &EventRow, names: &HashMap<String, String>) -> String {
    if let Some(name) = e.actor_id.as_ref().and_then(|id| names.get(id)) {
        return name.clone();
    }
    match e.actor_kind {
        ActorKind::System => "Licensor",
        ActorKind::Cli => "the command line",
        ActorKind::Application => "the application (license key)",
        ActorKind::Customer => "a customer no longer on record",
        ActorKind::Staff => "a staff member no longer on record",
        ActorKind::ApiToken => "a deleted API token",
    }
    .to_owned()
}

/// What an event kind means, in words.
pub fn what(kind: EventKind) -> String {
    let words = match kind {
        EventKind::CustomerCreated => "Signed up",
        EventKind::CustomerEmailVerified => "Confirmed the email address",
        EventKind::CustomerPasswordChanged => "Changed the password",
        EventKind::CustomerPasswordReset => "Reset the password",
        EventKind::UserSignedOutEverywhere => "Signed out everywhere",
        EventKind::UserRemindersChanged => "Changed the expiry reminders",
        EventKind::UserTwoFactorEnabled => "Turned on two-factor sign-in",
        EventKind::UserTwoFactorDisabled => "Turned off two-factor sign-in",
        EventKind::UserRecoveryCodesCreated => "Made new recovery codes",
        EventKind::UserRecoveryCodeUsed => "Signed in with a recovery code",
        EventKind::LicenseCreated => "Issued the license",
        EventKind::LicenseAssigned => "Assigned the license",
        EventKind::LicenseActivated => "Activated a machine",
        EventKind::LicenseDeactivated => "Deactivated a machine",
        EventKind::LicenseRenewed => "Renewed the license",
        EventKind::LicenseSuspended => "Suspended the license",
        EventKind::LicenseReinstated => "Reinstated the license",
        EventKind::LicenseRevoked => "Revoked the license",
        EventKind::LicenseTransferred => "Transferred the license",
        EventKind::LicenseTypeChanged => "Changed the license type",
        EventKind::LicenseUpdated => "Edited the license",
        EventKind::LicenseUpgraded => "Upgraded the trial to a paid license",
        EventKind::LicenseSubscriptionCanceled => "The subscription was canceled",
        EventKind::OfferCreated => "Created an offer",
        EventKind::OfferRetired => "Stopped selling an offer",
        EventKind::LicenseExpiring => "Sent an expiry reminder",
        EventKind::LicenseExpired => "The license expired",
        EventKind::LicenseKeyRevealed => "Showed the full key",
        EventKind::LicenseEmailResent => "Sent the license details again",
        EventKind::LicenseImported => "Imported the license",
        EventKind::LicensesImported => "Imported licenses",
        EventKind::TeamInvited => "Invited a member",
        EventKind::TeamInvitationResent => "Sent an invitation again",
        EventKind::TeamInvitationRevoked => "Revoked an invitation",
        EventKind::TeamJoined => "Joined the team",
        EventKind::TeamRemoved => "Removed a member",
        EventKind::OutboxResent => "Sent a message again",
        other => return other.as_str().replace(['.', '_'], " "),
    };
    words.to_owned()
}

/// Keys whose values are unix seconds.
const TIMES: [&str; 5] = ["expires_at", "issued_at", "valid_until", "at", "runs_until"];

/// A value as a person reads it.
fn shown(key: &str, v: &Value) -> String {
    match v {
        Value::Null => match key {
            "expires_at" => "never".to_owned(),
            _ => "none".to_owned(),
        },
        Value::Number(n) if TIMES.contains(&key) => n.as_i64().map_or_else(
            || n.to_string(),
            |t| Timestamp::from_unix(t).to_date_string(),
        ),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) => items
            .iter()
            .map(|i| shown(key, i))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(map) if map.is_empty() => "none".to_owned(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", shown(k, v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// A key as a person reads it.
fn label(key: &str) -> String {
    match key {
        "expires_at" => "expires".to_owned(),
        "max_machines" => "seats".to_owned(),
        "machines_used" => "machines in use".to_owned(),
        other => other.replace('_', " "),
    }
}

/// The reason first, then every field that changed between `before` and
/// `after` as "label: before → after", then the other facts.
pub fn details(data: &str) -> Vec<String> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(data) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    if let Some(Value::String(reason)) = map.get("reason") {
        lines.push(format!("Reason: {reason}"));
    }
    // An edit names each field it changed; the snapshots say no more.
    if let Some(Value::Object(changes)) = map.get("changes") {
        for (key, change) in changes {
            let (old, new) = (&change["before"], &change["after"]);
            lines.push(format!(
                "{}: {} → {}",
                label(key),
                shown(key, old),
                shown(key, new)
            ));
        }
    } else if let (Some(Value::Object(before)), Some(Value::Object(after))) =
        (map.get("before"), map.get("after"))
    {
        for (key, new) in after {
            let old = before.get(key).unwrap_or(&Value::Null);
            if old != new {
                lines.push(format!(
                    "{}: {} → {}",
                    label(key),
                    shown(key, old),
                    shown(key, new)
                ));
            }
        }
    }
    for (key, value) in &map {
        if matches!(key.as_str(), "reason" | "before" | "after" | "changes") || value.is_null() {
            continue;
        }
        lines.push(format!("{}: {}", label(key), shown(key, value)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_change_reads_as_before_and_after_with_dates() {
        let data = r#"{"before":{"status":"active","expires_at":1767225600,"max_machines":2,"machines_used":1},
                       "after":{"status":"suspended","expires_at":1798761600,"max_machines":2,"machines_used":1},
                       "reason":"Invoice unpaid"}"#;
        assert_eq!(
            details(data),
            [
                "Reason: Invoice unpaid",
                "expires: 2026-01-01 → 2027-01-01",
                "status: active → suspended",
            ]
        );
        assert_eq!(what(EventKind::LicenseSuspended), "Suspended the license");
    }

    #[test]
    fn an_edit_reads_as_each_field_it_changed() {
        let data = r#"{"changes":{"max_machines":{"before":5,"after":8},
                         "expires_at":{"before":1767225600,"after":null},
                         "entitlements":{"before":["export","pro"],"after":["export"]},
                         "metadata":{"before":{},"after":{"crm":"C-9","region":"eu"}}},
                       "before":{"max_machines":5},"after":{"max_machines":8},
                       "reason":"Upsell"}"#;
        assert_eq!(
            details(data),
            [
                "Reason: Upsell",
                "entitlements: export, pro → export",
                "expires: 2026-01-01 → never",
                "seats: 5 → 8",
                "metadata: none → crm=C-9, region=eu",
            ]
        );
        assert_eq!(what(EventKind::LicenseUpdated), "Edited the license");
    }

    #[test]
    fn other_facts_read_in_words_and_unknown_kinds_lose_their_dots() {
        assert_eq!(
            details(r#"{"email":"j***@e***.com","machines":2,"expires_at":null}"#),
            ["email: j***@e***.com", "machines: 2"]
        );
        assert_eq!(details("{}"), Vec::<String>::new());
        assert_eq!(details("not json"), Vec::<String>::new());
        assert_eq!(what(EventKind::WebhookTestSent), "webhook test sent");
    }
}
