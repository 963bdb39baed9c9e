//! The shared conformance vectors (tests/vectors/ at the repository's
//! root, made by the server's own code): every verdict equal.

use std::path::PathBuf;

use licensor_client::{Keys, verify_license_file, verify_response};
use serde_json::Value;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(vectors().join(name)).unwrap()
}

fn keys() -> Keys {
    Keys::from_key_set_json(&read("keys.json")).unwrap()
}

#[test]
fn every_file_vector_gets_its_verdict() {
    let cases: Value = serde_json::from_str(&read("cases.json")).unwrap();
    let keys = keys();
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 12);
    for case in cases {
        let got = verify_license_file(
            &read(case["file"].as_str().unwrap()),
            &keys,
            case["fingerprint"].as_str(),
            case["now"].as_i64().unwrap(),
            case["license_key"].as_str(),
        );
        let verdict = got.map_or_else(|e| e.code(), |_| "valid");
        assert_eq!(verdict, case["verdict"].as_str().unwrap(), "{case}");
    }
}

#[test]
fn every_signed_answer_vector_gets_its_verdict() {
    let answers: Value = serde_json::from_str(&read("answers.json")).unwrap();
    let keys = keys();
    for case in answers["answers"].as_array().unwrap() {
        let text = |field: &str| case[field].as_str().unwrap();
        let got = verify_response(
            &keys,
            text("signature"),
            text("request_id"),
            text("date"),
            text("body").as_bytes(),
        );
        let verdict = got.map_or_else(|e| e.code(), |()| "valid");
        assert_eq!(verdict, text("verdict"), "{case}");
    }
}
