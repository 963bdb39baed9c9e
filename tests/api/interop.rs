//! Independent implementations, following only the docs, agree with us.
//! Needs python3 with the `cryptography` package: `.ci/run` installs it,
//! and under CI a missing one fails instead of skipping.

use std::process::Command;

use serde_json::json;

use crate::support::spawn_app;

/// Whether python3 with `cryptography` is here; panics under CI when not.
pub fn python_with_cryptography() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("CI must provide python3 with the cryptography package (see .ci/run)");
    }
    if !ok {
        eprintln!("skipped: python3 with the cryptography package is not installed");
    }
    ok
}

/// Runs a Python script (written into `dir`) with arguments; returns its
/// standard output, failing the test when the script fails.
pub fn run_python(dir: &std::path::Path, script: &str, args: &[&std::ffi::OsStr]) -> String {
    let path = dir.join("script.py");
    std::fs::write(&path, script).unwrap();
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The first ```python block of a document.
pub fn python_block(doc: &str) -> String {
    let start = doc.find("```python\n").expect("a python block") + "```python\n".len();
    let len = doc[start..].find("```").expect("the block ends");
    doc[start..start + len].to_owned()
}

#[tokio::test]
async fn the_documented_python_verifier_accepts_signed_answers_and_rejects_edits() {
    if !python_with_cryptography() {
        return;
    }
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    assert_eq!(app.activate(&p.key, "fp-1").await.status(), 201);
    let res = app
        .post_json(
            "/api/v1/licenses/validate",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-1" }),
        )
        .await;
    let headers = json!({
        "Licensor-Signature": res.headers()["licensor-signature"].to_str().unwrap(),
        "X-Request-Id": res.headers()["x-request-id"].to_str().unwrap(),
        "Date": res.headers()["date"].to_str().unwrap(),
    });
    let body = res.bytes().await.unwrap();
    let keys = app
        .get("/.well-known/licensor-keys.json")
        .await
        .text()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body.bin"), &body).unwrap();
    std::fs::write(dir.path().join("headers.json"), headers.to_string()).unwrap();
    std::fs::write(dir.path().join("keys.json"), keys).unwrap();
    let script = format!(
        "{}\n{}",
        python_block(include_str!("../../docs/api.md")),
        r#"
import json, sys
d = sys.argv[1]
headers = json.load(open(d + "/headers.json"))
body = open(d + "/body.bin", "rb").read()
keys = json.load(open(d + "/keys.json"))["keys"]
kid = [p.split("=", 1)[1].strip('"') for p in (x.strip() for x in headers["Licensor-Signature"].split(",")) if p.startswith("kid=")][0]
verify(keys[kid]["public_key"], headers, body)
print("genuine: ok")
for name, h, b in [("body", headers, body.replace(b"VALID", b"VALIE")),
                   ("request id", dict(headers, **{"X-Request-Id": "forged"}), body)]:
    try:
        verify(keys[kid]["public_key"], h, b)
        print("edited " + name + ": ACCEPTED")
    except Exception:
        print("edited " + name + ": rejected")
"#
    );
    let stdout = run_python(dir.path(), &script, &[dir.path().as_os_str()]);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "genuine: ok",
            "edited body: rejected",
            "edited request id: rejected"
        ]
    );
}

/// Runs the Python verifier of docs/license-file.md over `cases` (each:
/// `file` text, `keys` JSON text, `now`, `fingerprint`, `license_key`) and
/// returns its verdict for each.
pub fn python_license_verdicts(cases: &serde_json::Value) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cases.json"), cases.to_string()).unwrap();
    let script = format!(
        "{}\n{}",
        python_block(include_str!("../../docs/license-file.md")),
        r#"
import json, sys
for case in json.load(open(sys.argv[1])):
    try:
        verify_license_file(case["file"], case["keys"], case["now"], case["fingerprint"], case["license_key"])
        print("valid")
    except Refused as refused:
        print(refused.args[0])
"#
    );
    let cases = dir.path().join("cases.json");
    let stdout = run_python(dir.path(), &script, &[cases.as_os_str()]);
    stdout.lines().map(str::to_owned).collect()
}

#[test]
fn the_documented_python_license_verifier_reaches_every_vector_verdict() {
    if !python_with_cryptography() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let vectors: serde_json::Value = serde_json::from_str(&read("cases.json")).unwrap();
    let keys = read("keys.json");
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for case in vectors["cases"].as_array().unwrap() {
        cases.push(json!({
            "file": read(case["file"].as_str().unwrap()),
            "keys": keys,
            "now": case["now"],
            "fingerprint": case["fingerprint"],
            "license_key": case["license_key"],
        }));
        expected.push(case["verdict"].as_str().unwrap().to_owned());
    }
    assert!(expected.len() >= 10);
    assert_eq!(python_license_verdicts(&json!(cases)), expected);
}

#[tokio::test]
async fn the_documented_python_license_verifier_agrees_on_server_issued_files() {
    if !python_with_cryptography() {
        return;
    }
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    let machine_file = |encrypt: bool, fp: &'static str| {
        let app = &app;
        let key = p.key.clone();
        async move {
            let res = app
                .post_json(
                    "/api/v1/machines/activate",
                    None,
                    &json!({ "key": key, "fingerprint": fp, "encrypt_file": encrypt }),
                )
                .await;
            assert_eq!(res.status(), 201);
            let body: serde_json::Value = res.json().await.unwrap();
            body["machine_file"].as_str().unwrap().to_owned()
        }
    };
    let plain = machine_file(false, "fp-plain").await;
    let sealed = machine_file(true, "fp-sealed").await;
    assert!(!sealed.contains(&p.key));
    let keys = app
        .get("/.well-known/licensor-keys.json")
        .await
        .text()
        .await
        .unwrap();
    let edited = edit_payload(&plain);
    let now = licensor::clock::Clock::now(app.clock.as_ref()).unix();
    let case = |file: &str, fp: &str, key: Option<&str>| json!({"file": file, "keys": keys, "now": now, "fingerprint": fp, "license_key": key});
    let cases = json!([
        case(&plain, "fp-plain", None),
        case(&plain, "fp-other", None),
        case(&sealed, "fp-sealed", Some(&p.key)),
        case(&sealed, "fp-sealed", Some(&p.key.to_lowercase())),
        case(&sealed, "fp-sealed", None),
        case(&edited, "fp-plain", None),
    ]);
    assert_eq!(
        python_license_verdicts(&cases),
        [
            "valid",
            "fingerprint_mismatch",
            "valid",
            "valid",
            "key_required",
            "bad_signature"
        ]
    );
}

/// The file with one value of its payload changed and re-encoded, the way
/// someone would try to raise their seat count.
pub fn edit_payload(file: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut env = licensor::verify::parse(file).unwrap();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&env.payload).unwrap()).unwrap();
    payload["max_machines"] = json!(1000);
    env.payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    licensor::verify::armor(&env)
}

/// The worked example of docs/license-file.md is the committed test vector,
/// so the doc cannot drift from what the code issues.
#[test]
fn the_worked_example_is_the_license_vector() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/license-file.md")).unwrap();
    let file = std::fs::read_to_string(root.join("tests/vectors/license.lic")).unwrap();
    assert!(doc.contains(file.trim()), "the example file");
    let envelope = licensor::verify::parse(&file).unwrap();
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&envelope.payload)
        .unwrap();
    assert!(
        doc.contains(std::str::from_utf8(&payload).unwrap()),
        "the payload bytes"
    );
    assert!(doc.contains(&envelope.sig) && doc.contains(&envelope.kid));
}
