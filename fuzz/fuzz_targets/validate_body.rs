//! Fuzzes the body of `POST /api/v1/licenses/validate` as the handler reads
//! it: JSON decoding, the field checks, the key parse and the problem
//! document of a refusal. Run (nightly, cargo-fuzz):
//! `cargo +nightly fuzz run validate_body -- -max_total_time=60`.
//! The stable test suite replays `fuzz/corpus/validate_body/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    licensor::web::api::licenses::fuzz_validate_body(data);
});
