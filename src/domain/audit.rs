//! Who did something and what, for the audit log and the CRM.

use super::vocabulary::text_enum;

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
    pub fn kind(&self) -> ActorKind {
        match self {
            Actor::System => ActorKind::System,
            Actor::Cli => ActorKind::Cli,
            Actor::Customer { .. } => ActorKind::Customer,
            Actor::Staff { .. } => ActorKind::Staff,
            Actor::ApiToken { .. } => ActorKind::ApiToken,
            Actor::Application => ActorKind::Application,
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

text_enum! {
    /// What an audit event records. Stored as its dotted name; a name the
    /// code does not know is an error when read, never a silent default.
    pub enum EventKind ("an audit event kind") {
        ApiTokenCreated = "api_token.created",
        ApiTokenRevoked = "api_token.revoked",
        CustomerCreated = "customer.created",
        CustomerEmailVerified = "customer.email_verified",
        CustomerErased = "customer.erased",
        CustomerPasswordChanged = "customer.password_changed",
        CustomerPasswordReset = "customer.password_reset",
        LicenseActivated = "license.activated",
        LicenseAssigned = "license.assigned",
        LicenseCreated = "license.created",
        LicenseDeactivated = "license.deactivated",
        LicenseEmailResent = "license.email_resent",
        LicenseExpired = "license.expired",
        LicenseExpiring = "license.expiring",
        LicenseImported = "license.imported",
        LicenseKeyRevealed = "license.key_revealed",
        LicenseReinstated = "license.reinstated",
        LicenseRenewed = "license.renewed",
        LicenseRevoked = "license.revoked",
        LicenseSubscriptionCanceled = "license.subscription_canceled",
        LicenseSuspended = "license.suspended",
        LicenseTransferred = "license.transferred",
        LicenseTypeChanged = "license.type_changed",
        LicenseUpdated = "license.updated",
        LicenseUpgraded = "license.upgraded",
        LicensesImported = "licenses.imported",
        LicenseTypeCreated = "license_type.created",
        LicenseTypeDeleted = "license_type.deleted",
        LicenseTypeRetired = "license_type.retired",
        OfferCreated = "offer.created",
        OfferRetired = "offer.retired",
        OutboxResent = "outbox.resent",
        ProductCreated = "product.created",
        ProductUpdated = "product.updated",
        SigningKeyCreated = "signing_key.created",
        SigningKeyRevoked = "signing_key.revoked",
        StaffCreated = "staff.created",
        StaffUpdated = "staff.updated",
        TeamInvitationResent = "team.invitation_resent",
        TeamInvitationRevoked = "team.invitation_revoked",
        TeamInvited = "team.invited",
        TeamJoined = "team.joined",
        TeamRemoved = "team.removed",
        UserRecoveryCodeUsed = "user.recovery_code_used",
        UserRecoveryCodesCreated = "user.recovery_codes_created",
        UserRemindersChanged = "user.reminders_changed",
        UserSignedOutEverywhere = "user.signed_out_everywhere",
        UserTwoFactorDisabled = "user.two_factor_disabled",
        UserTwoFactorEnabled = "user.two_factor_enabled",
        WebhookCreated = "webhook.created",
        WebhookDeleted = "webhook.deleted",
        WebhookDisabled = "webhook.disabled",
        WebhookEnabled = "webhook.enabled",
        WebhookTestSent = "webhook.test_sent",
    }
}

impl EventKind {
    /// The webhook event the CRM hears of this change, if any: a transfer
    /// reaches it as the license being assigned.
    pub fn webhook(self) -> Option<WebhookEvent> {
        let event = match self {
            EventKind::LicenseTransferred => WebhookEvent::LicenseAssigned,
            EventKind::LicenseImported => WebhookEvent::LicenseCreated,
            EventKind::LicenseUpgraded => WebhookEvent::LicenseUpdated,
            other => return other.as_str().parse().ok(),
        };
        Some(event)
    }
}

text_enum! {
    /// Who acted, as the audit log stores it.
    pub enum ActorKind ("an actor kind") {
        System = "system",
        Cli = "cli",
        Customer = "customer",
        Staff = "staff",
        ApiToken = "api_token",
        Application = "license_key",
    }
}

text_enum! {
    /// The events a webhook endpoint can subscribe to, and the test event
    /// (sent on request, to one endpoint, whatever it subscribes to).
    pub enum WebhookEvent ("a webhook event") {
        CustomerCreated = "customer.created",
        OnboardingCompleted = "onboarding.completed",
        LicenseCreated = "license.created",
        LicenseAssigned = "license.assigned",
        LicenseActivated = "license.activated",
        LicenseDeactivated = "license.deactivated",
        LicenseExpiring = "license.expiring",
        LicenseExpired = "license.expired",
        LicenseRenewed = "license.renewed",
        LicenseSuspended = "license.suspended",
        LicenseRevoked = "license.revoked",
        LicenseUpdated = "license.updated",
        Test = "webhook.test",
    }
}

impl WebhookEvent {
    /// What an endpoint can subscribe to: every event but the test.
    pub fn subscribable() -> impl Iterator<Item = WebhookEvent> {
        WebhookEvent::ALL
            .iter()
            .copied()
            .filter(|e| *e != WebhookEvent::Test)
    }
}

#[cfg(test)]
mod event_kind_tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_itself_and_unknown_names_are_errors() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), *kind);
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

#[cfg(test)]
mod webhook_event_tests {
    use super::*;

    #[test]
    fn changes_reach_the_crm_as_their_webhook_event() {
        assert_eq!(
            EventKind::LicenseTransferred.webhook(),
            Some(WebhookEvent::LicenseAssigned)
        );
        assert_eq!(
            EventKind::LicenseCreated.webhook(),
            Some(WebhookEvent::LicenseCreated)
        );
        assert_eq!(
            EventKind::CustomerCreated.webhook(),
            Some(WebhookEvent::CustomerCreated)
        );
        assert_eq!(
            EventKind::LicenseImported.webhook(),
            Some(WebhookEvent::LicenseCreated)
        );
        assert_eq!(EventKind::LicensesImported.webhook(), None);
        assert_eq!(EventKind::ApiTokenCreated.webhook(), None);
        assert_eq!(EventKind::WebhookTestSent.webhook(), None);
        assert_eq!(
            EventKind::LicenseUpdated.webhook(),
            Some(WebhookEvent::LicenseUpdated)
        );
        assert_eq!(WebhookEvent::subscribable().count(), 12);
        assert!(WebhookEvent::subscribable().all(|e| e != WebhookEvent::Test));
    }
}
