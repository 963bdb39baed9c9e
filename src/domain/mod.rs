//! Pure types and rules: no IO, no sqlx, no actix.

pub mod audit;
pub mod email;
pub mod id;
pub mod password;
pub mod role;
pub mod time;
