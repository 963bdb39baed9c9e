//! Pure types and rules: no IO, no sqlx, no actix.

pub mod audit;
pub mod email;
pub mod fingerprint;
pub mod id;
pub mod license;
pub mod license_key;
pub mod machine;
pub mod outbox;
pub mod password;
pub mod payments;
pub mod proxies;
pub mod role;
pub mod time;
pub mod token;
pub mod two_factor;
pub mod vocabulary;
