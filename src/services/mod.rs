//! One function per use case. Each runs in one transaction, records an
//! event in it, and is what the portal, the API, the console and the CLI
//! all call.

pub mod accounts;
pub mod analytics;
pub mod api_tokens;
pub mod audit_log;
pub mod catalog;
pub mod context;
pub mod credentials;
pub mod demo;
pub mod keys;
pub mod license_files;
pub mod licensing;
pub mod load_seed;
pub mod notify;
pub mod onboarding;
pub mod outbox;
pub mod payments;
pub mod personal_data;
pub mod reminders;
pub mod retention;
pub mod sign_in_throttle;
pub mod staff;
pub mod support;
pub mod team;
pub mod two_factor;
pub mod usage;
pub mod webhooks;
