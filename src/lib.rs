//! Licensor: a self-hosted software-licensing portal and API.

pub mod clock;
pub mod config;
pub mod domain;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod secret;
pub mod services;
pub mod signing;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod verify;
pub mod web;
