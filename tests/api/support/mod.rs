//! What the tests share: the application under test and its builders, a
//! database per test, a form-posting browser, the captured log.

pub mod app;
pub mod database;
pub mod form_browser;
pub mod log;
pub mod providers;

pub use app::*;
pub use database::*;
pub use log::captured_log;

/// A license id from a test's text (an id the server issued).
pub fn lid(text: &str) -> licensor::domain::id::LicenseId {
    licensor::domain::id::LicenseId::parse(text).expect("a license id")
}
