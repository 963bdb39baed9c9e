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

#[cfg(test)]
pub(crate) mod test_support {
    /// Every input of a cargo-fuzz corpus (`fuzz/corpus/<target>`), for the
    /// stable suite to replay what the fuzzers found.
    pub fn fuzz_corpus(target: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect()
    }
}
