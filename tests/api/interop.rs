//! Independent implementations, following only the docs, agree with us.
//! Needs python3 with the `cryptography` package: `.ci/run` installs it,
//! and under CI a missing one fails instead of skipping.

use std::process::Command;

use serde_json::json;

use crate::helpers::spawn_app;

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

/// The first ```python block of a document.
fn python_block(doc: &str) -> String {
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
    let p = app.provision(json!({})).await;
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
    std::fs::write(dir.path().join("verify.py"), script).unwrap();
    let out = Command::new("python3")
        .arg(dir.path().join("verify.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "genuine: ok",
            "edited body: rejected",
            "edited request id: rejected"
        ]
    );
}
