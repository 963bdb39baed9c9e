//! The integration suite: one test binary. Every test spawns the real
//! application on a random port against its own fresh database: a temporary
//! SQLite file, or a new PostgreSQL database when `TEST_DATABASE_URL` is set.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accessibility;
mod architecture;
mod audit_log;
mod backup;
mod browser;
mod cli;
mod console;
mod console_licenses;
mod dashboard;
mod database;
mod emails;
mod faults;
mod health;
mod hostile;
mod interop;
mod key_revocation;
mod key_rotation;
mod license_cache;
mod license_edits;
mod license_import;
mod licensing;
mod load;
mod malformed;
mod pages;
mod payments;
mod payments_browser;
mod payments_portal;
mod pg_tls;
mod polish;
mod portal;
mod portal_limits;
mod privacy;
mod provisioning;
mod scale_out;
mod secrets;
mod smtp;
mod standing;
mod support;
mod tls;
mod two_factor;
mod upgrade;
mod vendor_app;
mod webhook_sink;
mod webhooks;
