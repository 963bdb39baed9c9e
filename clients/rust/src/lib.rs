//! Licensor's client library for Rust applications: validate a license
//! online (every answer's signature, nonce and date checked against keys
//! the application pins), activate, deactivate and heartbeat machines,
//! verify license and machine files offline, and keep answering from the
//! last machine file while the server is out of reach, until its check-in
//! deadline, refusing a clock set back (docs/clients.md).
//!
//! [`Client`] is async (tokio); [`blocking::Client`] wraps it for
//! applications without a runtime. The verifier is `licensor-verify`, the
//! one the server and `licensor verify` use. TLS is rustls with ring.
//!
//! ```no_run
//! # async fn run() -> Result<(), licensor_client::Error> {
//! use licensor_client::{Client, Keys, machine_fingerprint};
//! let pinned = std::fs::read_to_string("licensor-keys.json").expect("the key set shipped with the app");
//! let keys = Keys::from_key_set_json(&pinned)?;
//! let client = Client::new("https://licenses.example.com", "my-app", keys)
//!     .with_state_path("/home/jane/.my-app/license-state.json");
//! let fingerprint = machine_fingerprint("my-app")?;
//! let key = "RVBFW-W2PAF-2JD8S-Z2PMZ-DACNT";
//! if client.validate(key, &fingerprint, &[]).await?.code == "NOT_ACTIVATED" {
//!     client.activate(key, &fingerprint, Some("Jane's laptop"), None).await?;
//! }
//! let result = client.validate(key, &fingerprint, &["pro"]).await?;
//! assert!(result.valid, "{}", result.detail);
//! # Ok(()) }
//! ```

mod client;
mod error;
mod fingerprint;
mod state;

pub use client::{Client, Heartbeats, MachineAnswer, Validation};
pub use error::{Error, ErrorKind, NextAction};
pub use fingerprint::{fingerprint_of, machine_fingerprint, os_machine_id};
pub use licensor_verify::{Payload, PublicKeys as Keys, VerifyError, verify_response};
pub use state::canonical_key;

/// Verifies a license or machine file at `now` (unix seconds), an
/// encrypted one with the license key as typed: the verdicts of
/// `licensor verify`.
pub fn verify_license_file(
    text: &str,
    keys: &Keys,
    fingerprint: Option<&str>,
    now: i64,
    license_key: Option<&str>,
) -> Result<Payload, VerifyError> {
    let canonical = license_key.map(canonical_key);
    licensor_verify::verify_with_key(text, keys, now, fingerprint, canonical.as_deref())
}

/// The same client without an async runtime: each call runs on a
/// current-thread runtime of its own.
pub mod blocking {
    use crate::{Error, Keys, MachineAnswer, Validation};

    pub struct Client {
        inner: crate::Client,
        runtime: tokio::runtime::Runtime,
    }

    impl Client {
        pub fn new(base_url: &str, product: &str, keys: Keys) -> Result<Self, Error> {
            Self::wrap(crate::Client::new(base_url, product, keys))
        }

        /// A blocking client around a configured async one.
        pub fn wrap(inner: crate::Client) -> Result<Self, Error> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::state(format!("cannot start the client's runtime: {e}")))?;
            Ok(Self { inner, runtime })
        }

        pub fn validate(
            &self,
            key: &str,
            fingerprint: &str,
            entitlements: &[&str],
        ) -> Result<Validation, Error> {
            self.runtime
                .block_on(self.inner.validate(key, fingerprint, entitlements))
        }

        pub fn activate(
            &self,
            key: &str,
            fingerprint: &str,
            name: Option<&str>,
            platform: Option<&str>,
        ) -> Result<MachineAnswer, Error> {
            self.runtime
                .block_on(self.inner.activate(key, fingerprint, name, platform))
        }

        pub fn deactivate(&self, key: &str, fingerprint: &str) -> Result<MachineAnswer, Error> {
            self.runtime
                .block_on(self.inner.deactivate(key, fingerprint))
        }

        pub fn heartbeat(&self, key: &str, fingerprint: &str) -> Result<MachineAnswer, Error> {
            self.runtime
                .block_on(self.inner.heartbeat(key, fingerprint))
        }
    }
}
