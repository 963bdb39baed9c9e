//! Fuzzes the license file reader: any bytes, as text, through armor,
//! envelope, signature and payload checks. Run (nightly, cargo-fuzz):
//! `cargo +nightly fuzz run license_file -- -max_total_time=60`.
//! The stable test suite replays `fuzz/corpus/license_file/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    licensor::verify::fuzz_one(data);
});
