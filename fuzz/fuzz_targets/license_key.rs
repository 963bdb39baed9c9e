//! Fuzzes the license key parser: any bytes, as text; a key that parses
//! must print and parse back to itself. Run (nightly, cargo-fuzz):
//! `cargo +nightly fuzz run license_key -- -max_total_time=60`.
//! The stable test suite replays `fuzz/corpus/license_key/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    licensor::domain::license_key::fuzz_one(data);
});
