//! Who did something, for the audit log.

/// The party behind a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The server itself (a background job, start-up seeding).
    System,
    /// Someone at the server's command line.
    Cli,
    Customer {
        user_id: String,
    },
    Staff {
        user_id: String,
    },
    ApiToken {
        token_id: String,
    },
    /// An application in the field, authenticated by a license key (the
    /// event names the license).
    Application,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::System => "system",
            Actor::Cli => "cli",
            Actor::Customer { .. } => "customer",
            Actor::Staff { .. } => "staff",
            Actor::ApiToken { .. } => "api_token",
            Actor::Application => "license_key",
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Actor::System | Actor::Cli | Actor::Application => None,
            Actor::Customer { user_id } | Actor::Staff { user_id } => Some(user_id),
            Actor::ApiToken { token_id } => Some(token_id),
        }
    }
}

/// What an audit event records. Stored as its dotted name; a name the code
/// does not know is an error when read, never a silent default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ApiTokenCreated,
    ApiTokenRevoked,
    CustomerCreated,
    CustomerEmailVerified,
    CustomerPasswordChanged,
    CustomerPasswordReset,
    LicenseActivated,
    LicenseAssigned,
    LicenseCreated,
    LicenseDeactivated,
    LicenseEmailResent,
    LicenseExpired,
    LicenseExpiring,
    LicenseKeyRevealed,
    LicenseReinstated,
    LicenseRenewed,
    LicenseRevoked,
    LicenseSuspended,
    LicenseTransferred,
    LicenseTypeChanged,
    LicenseTypeCreated,
    LicenseTypeDeleted,
    LicenseTypeRetired,
    OutboxResent,
    ProductCreated,
    ProductUpdated,
    SigningKeyCreated,
    StaffCreated,
    StaffUpdated,
    TeamInvitationResent,
    TeamInvitationRevoked,
    TeamInvited,
    TeamJoined,
    TeamRemoved,
    UserRemindersChanged,
    UserSignedOutEverywhere,
    WebhookCreated,
    WebhookDeleted,
    WebhookDisabled,
    WebhookEnabled,
    WebhookTestSent,
}

impl EventKind {
    pub const ALL: [EventKind; 41] = [
        EventKind::ApiTokenCreated,
        EventKind::ApiTokenRevoked,
        EventKind::CustomerCreated,
        EventKind::CustomerEmailVerified,
        EventKind::CustomerPasswordChanged,
        EventKind::CustomerPasswordReset,
        EventKind::LicenseActivated,
        EventKind::LicenseAssigned,
        EventKind::LicenseCreated,
        EventKind::LicenseDeactivated,
        EventKind::LicenseEmailResent,
        EventKind::LicenseExpired,
        EventKind::LicenseExpiring,
        EventKind::LicenseKeyRevealed,
        EventKind::LicenseReinstated,
        EventKind::LicenseRenewed,
        EventKind::LicenseRevoked,
        EventKind::LicenseSuspended,
        EventKind::LicenseTransferred,
        EventKind::LicenseTypeChanged,
        EventKind::LicenseTypeCreated,
        EventKind::LicenseTypeDeleted,
        EventKind::LicenseTypeRetired,
        EventKind::OutboxResent,
        EventKind::ProductCreated,
        EventKind::ProductUpdated,
        EventKind::SigningKeyCreated,
        EventKind::StaffCreated,
        EventKind::StaffUpdated,
        EventKind::TeamInvitationResent,
        EventKind::TeamInvitationRevoked,
        EventKind::TeamInvited,
        EventKind::TeamJoined,
        EventKind::TeamRemoved,
        EventKind::UserRemindersChanged,
        EventKind::UserSignedOutEverywhere,
        EventKind::WebhookCreated,
        EventKind::WebhookDeleted,
        EventKind::WebhookDisabled,
        EventKind::WebhookEnabled,
        EventKind::WebhookTestSent,
    ];

    /// The name stored in `events.kind` (and shown in exports).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ApiTokenCreated => "api_token.created",
            EventKind::ApiTokenRevoked => "api_token.revoked",
            EventKind::CustomerCreated => "customer.created",
            EventKind::CustomerEmailVerified => "customer.email_verified",
            EventKind::CustomerPasswordChanged => "customer.password_changed",
            EventKind::CustomerPasswordReset => "customer.password_reset",
            EventKind::LicenseActivated => "license.activated",
            EventKind::LicenseAssigned => "license.assigned",
            EventKind::LicenseCreated => "license.created",
            EventKind::LicenseDeactivated => "license.deactivated",
            EventKind::LicenseEmailResent => "license.email_resent",
            EventKind::LicenseExpired => "license.expired",
            EventKind::LicenseExpiring => "license.expiring",
            EventKind::LicenseKeyRevealed => "license.key_revealed",
            EventKind::LicenseReinstated => "license.reinstated",
            EventKind::LicenseRenewed => "license.renewed",
            EventKind::LicenseRevoked => "license.revoked",
            EventKind::LicenseSuspended => "license.suspended",
            EventKind::LicenseTransferred => "license.transferred",
            EventKind::LicenseTypeChanged => "license.type_changed",
            EventKind::LicenseTypeCreated => "license_type.created",
            EventKind::LicenseTypeDeleted => "license_type.deleted",
            EventKind::LicenseTypeRetired => "license_type.retired",
            EventKind::OutboxResent => "outbox.resent",
            EventKind::ProductCreated => "product.created",
            EventKind::ProductUpdated => "product.updated",
            EventKind::SigningKeyCreated => "signing_key.created",
            EventKind::StaffCreated => "staff.created",
            EventKind::StaffUpdated => "staff.updated",
            EventKind::TeamInvitationResent => "team.invitation_resent",
            EventKind::TeamInvitationRevoked => "team.invitation_revoked",
            EventKind::TeamInvited => "team.invited",
            EventKind::TeamJoined => "team.joined",
            EventKind::TeamRemoved => "team.removed",
            EventKind::UserRemindersChanged => "user.reminders_changed",
            EventKind::UserSignedOutEverywhere => "user.signed_out_everywhere",
            EventKind::WebhookCreated => "webhook.created",
            EventKind::WebhookDeleted => "webhook.deleted",
            EventKind::WebhookDisabled => "webhook.disabled",
            EventKind::WebhookEnabled => "webhook.enabled",
            EventKind::WebhookTestSent => "webhook.test_sent",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an audit event kind")]
pub struct UnknownEventKind(pub String);

impl std::str::FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
}

#[cfg(test)]
mod event_kind_tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_itself_and_unknown_names_are_errors() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
        }
        let names: std::collections::HashSet<_> =
            EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names.len(),
            EventKind::ALL.len(),
            "no two kinds share a name"
        );
        assert!("license.exploded".parse::<EventKind>().is_err());
    }
}
