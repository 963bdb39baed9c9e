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
