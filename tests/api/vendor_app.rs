//! `examples/vendor_app.rs`, run as a vendor's application would run it:
//! offline against the file, online against the server when the file
//! cannot vouch for the machine, and never fooled by an edited file or an
//! answer signed by someone else.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use licensor::domain::time::Timestamp;
use serde_json::json;

use crate::interop::edit_payload;
use crate::support::form_browser::{PASSWORD, command_on};
use crate::support::{TestApp, spawn_app, spawn_demo_app};

/// The example's binary, which `cargo test` builds next to the test binary.
pub fn vendor_app_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join("vendor_app");
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples",
        path.display()
    );
    path
}

/// Runs the example; returns its exit code and output. The wait happens off
/// the test's runtime thread, which also drives the app's database
/// connections (a blocking wait there starves a PostgreSQL pool).
pub async fn run_vendor_app(args: &[&str], file: &Path, keys: &Path) -> (i32, String) {
    let mut command = Command::new(vendor_app_binary());
    command
        .args([
            "--keys",
            keys.to_str().unwrap(),
            "--file",
            file.to_str().unwrap(),
        ])
        .args(args)
        .env_remove("VENDOR_APP_LICENSE_KEY");
    let out: Output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code().unwrap_or(-1),
        format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

async fn keys_file(app: &TestApp, dir: &Path) -> PathBuf {
    let keys = app
        .get("/.well-known/licensor-keys.json")
        .await
        .text()
        .await
        .unwrap();
    let path = dir.join("keys.json");
    std::fs::write(&path, keys).unwrap();
    path
}

#[tokio::test]
async fn the_example_works_offline_rejects_edits_and_checks_in_online() {
    let app = spawn_app().await;
    // The example reads the wall clock; issue files at the same time.
    app.clock.set(Timestamp::now());
    let p = app.with_license(json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_file(&app, dir.path()).await;
    let file = dir.path().join("machine.lic");
    let server = app.address.clone();

    // First start, no file yet: offline fails, online activates and stores
    // the machine file.
    let (code, out) = run_vendor_app(
        &[
            "--fingerprint",
            "fp-app",
            "--server",
            &server,
            "--product",
            &p.product_code,
            "--license-key",
            &p.key,
        ],
        &file,
        &keys,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("licensed (online)"), "{out}");
    let stored = std::fs::read_to_string(&file).unwrap();

    // Next start, no server: the stored file is enough.
    let (code, out) = run_vendor_app(&["--fingerprint", "fp-app"], &file, &keys).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("licensed (offline)"), "{out}");

    // Another machine cannot use this file.
    let (code, out) = run_vendor_app(&["--fingerprint", "fp-other"], &file, &keys).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("fingerprint_mismatch"), "{out}");

    // An edited copy is refused offline...
    std::fs::write(&file, edit_payload(&stored)).unwrap();
    let (code, out) = run_vendor_app(&["--fingerprint", "fp-app"], &file, &keys).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad_signature"), "{out}");
    // ...and replaced by a genuine one when the server is reachable.
    let (code, out) = run_vendor_app(
        &[
            "--fingerprint",
            "fp-app",
            "--server",
            &server,
            "--product",
            &p.product_code,
            "--license-key",
            &p.key,
        ],
        &file,
        &keys,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let (code, _) = run_vendor_app(&["--fingerprint", "fp-app"], &file, &keys).await;
    assert_eq!(code, 0);

    // A suspended license: online says so, and the app is not licensed.
    std::fs::remove_file(&file).unwrap();
    let res = app
        .post_json(
            &format!("/api/v1/licenses/{}/actions/suspend", p.license_id),
            Some(&p.token),
            &json!({"reason": "unpaid"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (code, out) = run_vendor_app(
        &[
            "--fingerprint",
            "fp-app",
            "--server",
            &server,
            "--product",
            &p.product_code,
            "--license-key",
            &p.key,
        ],
        &file,
        &keys,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("SUSPENDED"), "{out}");
}

#[tokio::test]
async fn the_example_trusts_no_answer_signed_by_another_key() {
    let app = spawn_app().await;
    app.clock.set(Timestamp::now());
    let p = app.with_license(json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    // A key set with someone else's key only.
    let keys = dir.path().join("keys.json");
    std::fs::write(
        &keys,
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/keys.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let file = dir.path().join("machine.lic");
    let server = app.address.clone();
    let (code, out) = run_vendor_app(
        &[
            "--fingerprint",
            "fp-app",
            "--server",
            &server,
            "--product",
            &p.product_code,
            "--license-key",
            &p.key,
        ],
        &file,
        &keys,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not genuine"), "{out}");
    assert!(!file.exists(), "nothing stored from an untrusted answer");

    // No server, no file, no key: a clear refusal, not a crash.
    let (code, out) = run_vendor_app(&["--fingerprint", "fp-app"], &file, &keys).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not licensed"), "{out}");
}

#[tokio::test]
async fn the_example_reads_an_encrypted_file_only_with_the_key() {
    let app = spawn_app().await;
    app.clock.set(Timestamp::now());
    let p = app.with_license(json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_file(&app, dir.path()).await;
    let res = app
        .post_json(
            "/api/v1/machines/activate",
            None,
            &json!({"key": p.key, "fingerprint": "fp-sealed", "encrypt_file": true}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let file = dir.path().join("machine.lic");
    std::fs::write(&file, body["machine_file"].as_str().unwrap()).unwrap();
    let (code, out) = run_vendor_app(&["--fingerprint", "fp-sealed"], &file, &keys).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("key_required"), "{out}");
    let (code, out) = run_vendor_app(
        &["--fingerprint", "fp-sealed", "--license-key", &p.key],
        &file,
        &keys,
    )
    .await;
    assert_eq!(code, 0, "{out}");
}

/// The portal's activation step shows the check in each client library;
/// the Python one, copied from the page and run as written (beside the
/// key set the vendor ships), activates this machine and validates.
#[tokio::test]
async fn the_portals_python_snippet_runs_as_written() {
    if !crate::interop::python_with_cryptography() {
        return;
    }
    let app = spawn_demo_app().await;
    // The library checks each answer's Date against the wall clock.
    app.clock.set(Timestamp::now());
    let customer = app.with_customer("dev@example.com").await;
    assert_eq!(customer.claim_trial().await.status(), 303);
    let (license_id,): (String,) = sqlx::query_as("SELECT id FROM licenses")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let res = customer
        .post(
            &format!("/licenses/{license_id}/reveal"),
            &[("password", PASSWORD), ("back", "onboarding")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = customer.html("/onboarding").await;
    for id in ["command-python", "command-typescript", "command-rust"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "{id}: {page}");
    }
    let snippet = command_on(&page, "command-python");
    assert!(!snippet.contains("YOUR-LICENSE-KEY"), "{snippet}");

    let dir = tempfile::tempdir().unwrap();
    keys_file(&app, dir.path()).await;
    std::fs::rename(
        dir.path().join("keys.json"),
        dir.path().join("licensor-keys.json"),
    )
    .unwrap();
    let library = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python/src");
    let mut command = Command::new("python3");
    command
        .args(["-c", &snippet])
        .current_dir(dir.path())
        .env("PYTHONPATH", library);
    let out: Output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "VALID",
        "{snippet}\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("license-state.json").exists(),
        "the offline grace is kept"
    );
    let (machines,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM machines")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(machines, 1, "the snippet activated this machine");
}
