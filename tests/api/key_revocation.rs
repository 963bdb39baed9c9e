//! A leaked signing key: `licensor keys revoke KID --reason` (its use case,
//! from another connection as the command line would, and the binary) and
//! the console's form. The published set marks the key revoked with the
//! time, verifiers refuse what it signed, new answers and files are signed
//! by a new key, and the console lists the licenses whose files it signed
//! last.

use std::process::Command;
use std::time::{Duration, Instant};

use licensor::domain::audit::Actor;
use licensor::domain::role::Role;
use licensor::services::keys::{self, KeysError};
use licensor::store::Db;
use licensor::verify::{PublicKeys, VerifyError};
use serde_json::{Value, json};

use crate::cli::{run, text};
use crate::support::form_browser::location;
use crate::support::{TestApp, cipher_of, spawn_app};

async fn key_set(app: &TestApp) -> (Value, String) {
    let text = app
        .get("/.well-known/licensor-keys.json")
        .await
        .text()
        .await
        .unwrap();
    (serde_json::from_str(&text).unwrap(), text)
}

/// What `licensor keys revoke` runs on: a connection of its own.
async fn other_connection(app: &TestApp) -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::support::test_settings(&dir, &app.database.url, |_| {});
    (Db::connect(&settings.database).await.unwrap(), dir)
}

/// Polls (up to 10 s) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_revoked_key_is_published_as_revoked_refused_by_verifiers_and_its_licenses_listed() {
    let app = spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 3 })).await;
    let activated: Value = app.activate(&p.key, "fp-leak").await.json().await.unwrap();
    let old_file = activated["machine_file"].as_str().unwrap().to_owned();
    let trusted_before = app.public_keys().await;
    let old_kid = licensor::verify::parse(&old_file).unwrap().kid;
    // The console lists the license once the usage batch has noted its file.
    let admin = app.with_staff(Role::Admin).await;
    let page = format!("/admin/keys/{old_kid}");
    eventually("the file noted", || async {
        admin.html(&page).await.contains(&p.license_id)
    })
    .await;

    let (other, _dir) = other_connection(&app).await;
    let cipher = cipher_of(&app);
    let clock = app.clock.as_ref();
    let revoked = keys::revoke(
        &other,
        &cipher,
        clock,
        &Actor::Cli,
        &old_kid,
        "laptop stolen",
    )
    .await
    .unwrap();
    let new_kid = revoked
        .replaced_by
        .clone()
        .expect("the signing key is replaced");
    assert_ne!(new_kid, old_kid);

    // The published set says so, with the time; the new key signs.
    eventually("the new key published", || async {
        key_set(&app).await.0["keys"][&new_kid]["active"] == true
    })
    .await;
    let (set, set_text) = key_set(&app).await;
    assert_eq!(set["keys"][&old_kid]["revoked_at"], revoked.at.unix());
    assert_eq!(set["keys"][&old_kid]["active"], false);
    // What the old key signed is refused by a verifier with the set.
    let trusted = PublicKeys::from_key_set_json(&set_text).unwrap();
    use licensor::clock::Clock;
    let now = app.clock.now();
    assert!(licensor::verify::verify(&old_file, &trusted_before, now, Some("fp-leak")).is_ok());
    assert_eq!(
        licensor::verify::verify(&old_file, &trusted, now, Some("fp-leak")),
        Err(VerifyError::RevokedKey(old_kid.clone()))
    );
    // Within seconds the running server answers and signs with the new key.
    let start = Instant::now();
    let fresh: Value = loop {
        let res = app.activate(&p.key, "fp-leak").await;
        let signature = res.headers()["licensor-signature"]
            .to_str()
            .unwrap()
            .to_owned();
        if signature.contains(&new_kid) {
            break res.json().await.unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still signing with {old_kid}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let fresh_file = fresh["machine_file"].as_str().unwrap();
    let trusted = app.public_keys().await;
    assert!(licensor::verify::verify(fresh_file, &trusted, now, Some("fp-leak")).is_ok());

    // `licensor verify` with the published set refuses the old file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keys.json"), &set_text).unwrap();
    std::fs::write(dir.path().join("old.lic"), &old_file).unwrap();
    let mut verify = Command::new(env!("CARGO_BIN_EXE_licensor"));
    verify.current_dir(dir.path()).args([
        "verify",
        "old.lic",
        "--fingerprint",
        "fp-leak",
        "--keys",
        "keys.json",
    ]);
    let out = run(verify, None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("revoked"),
        "{}",
        text(&out.stderr)
    );

    // The console: the key page names the revocation and the license.
    let listing = admin.html("/admin/keys").await;
    assert!(listing.contains("laptop stolen"), "{listing}");
    let key_page = admin.html(&page).await;
    assert!(key_page.contains("Revoked"), "{key_page}");
    assert!(key_page.contains(&format!("/admin/licenses/{}", p.license_id)));
    assert!(key_page.contains("1 license."), "{key_page}");
    // Once its file is signed again by the new key, the license is the new
    // key's: the list is of files still to reissue.
    eventually("the reissued file noted", || async {
        admin
            .html(&format!("/admin/keys/{new_kid}"))
            .await
            .contains(&p.license_id)
    })
    .await;
    assert!(!admin.html(&page).await.contains(&p.license_id));

    // Recorded in the audit log with the reason.
    let audit = admin.html("/admin/audit?action=signing_key.revoked").await;
    assert!(audit.contains("laptop stolen"), "{audit}");
}

#[tokio::test]
async fn a_revocation_without_reason_of_an_unknown_or_revoked_key_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (other, _dir) = other_connection(&app).await;
    let cipher = cipher_of(&app);
    let clock = app.clock.as_ref();
    let (retired, signing) = keys::rotate(&other, &cipher, clock, &Actor::Cli)
        .await
        .unwrap();
    let retired = retired.unwrap();

    let refused = |r: Result<keys::Revocation, KeysError>| r.unwrap_err();
    assert!(matches!(
        refused(keys::revoke(&other, &cipher, clock, &Actor::Cli, "0123456789abcdef", "x").await),
        KeysError::UnknownKey(_)
    ));
    assert!(matches!(
        refused(keys::revoke(&other, &cipher, clock, &Actor::Cli, &retired, "  ").await),
        KeysError::ReasonRequired
    ));
    let (before, _) = key_set(&app).await;
    assert!(before["keys"][&retired].get("revoked_at").is_none());

    // A retired key is revoked without touching the signing one.
    let done = keys::revoke(
        &other,
        &cipher,
        clock,
        &Actor::Cli,
        &retired,
        "old backup leaked",
    )
    .await
    .unwrap();
    assert_eq!(done.replaced_by, None);
    assert!(matches!(
        refused(keys::revoke(&other, &cipher, clock, &Actor::Cli, &retired, "again").await),
        KeysError::AlreadyRevoked { .. }
    ));
    let listed = keys::list(&other).await.unwrap();
    let signing_now: Vec<_> = listed.iter().filter(|k| k.active).collect();
    assert_eq!(signing_now.len(), 1);
    assert_eq!(signing_now[0].kid, signing);

    // The console's form: no reason is a form error (422), nothing revoked.
    let admin = app.with_staff(Role::Admin).await;
    let res = admin
        .post(&format!("/admin/keys/{signing}/revoke"), &[("reason", "")])
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("say why the key is revoked"), "{page}");
    assert!(
        keys::list(&other)
            .await
            .unwrap()
            .iter()
            .any(|k| k.kid == signing && k.active)
    );
    let res = admin
        .post("/admin/keys/0123456789abcdef/revoke", &[("reason", "x")])
        .await;
    assert_eq!(res.status(), 404);
    // With a reason: revoked, replaced, and the page of the key next.
    let res = admin
        .post(
            &format!("/admin/keys/{signing}/revoke"),
            &[("reason", "found in a public repository")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/admin/keys/{signing}"));
    let listed = keys::list(&other).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|k| k.kid == signing && k.revoked_at.is_some())
    );
    assert_eq!(listed.iter().filter(|k| k.active).count(), 1);
}

/// The binary: one clear line and a non-zero exit for a kid it does not
/// know, an already revoked key or no reason; `keys list` and
/// `export-public` show the revocation.
#[tokio::test]
async fn the_command_line_revokes_once_and_refuses_bad_input_in_one_line() {
    let database = crate::support::TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = |args: &[&str]| {
        let mut c = crate::cli::licensor(dir.path(), &database);
        c.arg("keys").args(args);
        run(c, None)
    };
    let out = keys(&["generate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout)
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();

    let out = keys(&["revoke", &first]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--reason"),
        "{}",
        text(&out.stderr)
    );
    let out = keys(&["revoke", "feedfacefeedface", "--reason", "leak"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("no signing key has the id `feedfacefeedface`"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = keys(&["revoke", &first, "--reason", "laptop stolen"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(&format!("revoked {first}")), "{said}");
    assert!(said.contains("new signing key"), "{said}");

    let out = keys(&["revoke", &first, "--reason", "again"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("already revoked"));

    let listing = text(&keys(&["list"]).stdout);
    let line = listing.lines().find(|l| l.starts_with(&first)).unwrap();
    assert!(
        line.contains("revoked") && line.contains("laptop stolen"),
        "{listing}"
    );
    let doc: Value = serde_json::from_slice(&keys(&["export-public"]).stdout).unwrap();
    assert!(doc["keys"][&first]["revoked_at"].is_i64());
    assert_eq!(doc["keys"].as_object().unwrap().len(), 2);
}
