//! Backup and restore of a SQLite database, run as an operator would:
//! `licensor backup` under write load without stopping the server,
//! `licensor restore` refused while a server runs and for a damaged file,
//! and the restored database, in a fresh directory, validating every
//! license and serving every page that needs no session.

use std::path::Path;

use serde_json::json;

use crate::cli::{licensor, run, serve, text};
use crate::support::TestDatabase;

fn command(dir: &Path, database: &TestDatabase, args: &[&str]) -> std::process::Output {
    let mut cmd = licensor(dir, database);
    cmd.args(args);
    run(cmd, None)
}

#[tokio::test]
async fn a_live_backup_restores_into_a_fresh_directory_and_serves_every_license() {
    licensor::tls::install_crypto_provider();
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    if database.is_postgres() {
        // PostgreSQL is backed up with its own tools: said plainly.
        let out = command(dir.path(), &database, &["backup", "b.db"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("pg_dump"),
            "{}",
            text(&out.stderr)
        );
        return;
    }
    let seeded = command(
        dir.path(),
        &database,
        &["seed", "--licenses", "300", "--keys-out", "keys.txt"],
    );
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    let keys = std::fs::read_to_string(dir.path().join("keys.txt")).unwrap();
    let pairs: Vec<(String, String)> = keys
        .lines()
        .map(|l| {
            let (k, f) = l.split_once(' ').unwrap();
            (k.to_owned(), f.to_owned())
        })
        .collect();

    let server = serve(dir.path(), &database, &[]).await;
    // Write load while the backup runs: activations of new machines.
    let base = server.base.clone();
    let load_pairs = pairs.clone();
    let load = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut activated = 0;
        for (i, (key, _)) in load_pairs.iter().enumerate().take(200) {
            let res = client
                .post(format!("{base}/api/v1/machines/activate"))
                .json(&json!({ "key": key, "fingerprint": format!("during-backup-{i}") }))
                .send()
                .await
                .unwrap();
            if res.status() == 201 {
                activated += 1;
            }
        }
        activated
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let out = command(dir.path(), &database, &["backup", "backup.db"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("backed up the database to backup.db"),
        "{said}"
    );
    assert!(
        said.contains("server secret"),
        "the secret is named: {said}"
    );
    assert_eq!(load.await.unwrap(), 200, "the server kept writing");

    // Refused: an existing backup path; a restore while the server runs;
    // a damaged file. Nothing is overwritten.
    let before = std::fs::metadata(dir.path().join("backup.db"))
        .unwrap()
        .len();
    let out = command(dir.path(), &database, &["backup", "backup.db"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("backup.db"))
            .unwrap()
            .len(),
        before
    );
    let out = command(dir.path(), &database, &["restore", "backup.db"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("a server is running"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(dir.path().join("corrupt.db"), vec![0x5a; 8192]).unwrap();
    let out = command(dir.path(), &database, &["restore", "corrupt.db"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim().lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
    assert!(server.stop().success());
    let out = command(dir.path(), &database, &["restore", "corrupt.db"]);
    assert_eq!(out.status.code(), Some(1), "still refused once stopped");
    assert!(
        text(&out.stderr).contains("not a Licensor backup"),
        "{}",
        text(&out.stderr)
    );

    // Restored into a fresh directory, with the secret copied over.
    let fresh = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(fresh.path().join("data")).unwrap();
    std::fs::copy(
        dir.path().join("data/secret.key"),
        fresh.path().join("data/secret.key"),
    )
    .unwrap();
    let backup = dir.path().join("backup.db").display().to_string();
    let out = command(fresh.path(), &database, &["restore", &backup]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let restored = serve(fresh.path(), &database, &[]).await;
    let client = reqwest::Client::new();
    for (key, fingerprint) in &pairs {
        let answer: serde_json::Value = client
            .post(format!("{}/api/v1/licenses/validate", restored.base))
            .json(&json!({ "key": key, "fingerprint": fingerprint }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["code"], "VALID", "{key}");
    }
    for page in [
        "/",
        "/login",
        "/signup",
        "/forgot-password",
        "/docs/api",
        "/.well-known/licensor-keys.json",
        "/healthz",
        "/readyz",
    ] {
        let res = reqwest::get(format!("{}{page}", restored.base))
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{page}");
    }
    assert!(restored.stop().success());
}
