//! The `licensor` binary itself, run as a user would.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::TestDatabase;

const BIN: &str = env!("CARGO_BIN_EXE_licensor");

/// A command in `dir` with no LICENSOR_* variables but the database.
pub fn licensor(dir: &Path, database: &TestDatabase) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("LICENSOR_") {
            cmd.env_remove(key);
        }
    }
    if database.is_postgres() {
        cmd.env("LICENSOR_DATABASE_URL", &database.url);
    }
    cmd
}

pub fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("licensor starts");
    if let Some(input) = stdin {
        // A command that refuses its arguments may exit before it reads
        // its input: a closed pipe then is not a failure of the test.
        let written = child.stdin.take().unwrap().write_all(input.as_bytes());
        if let Err(e) = written
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            panic!("cannot write to licensor's stdin: {e}");
        }
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn serve_with_no_configuration_creates_its_data_and_answers() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = licensor(dir.path(), &database);
    // Port 0: the default 8080 may be taken on a shared machine.
    cmd.env("LICENSOR_LISTEN", "127.0.0.1:0")
        .args(["--log-format", "json", "serve", "--demo"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut port = None;
    let mut seen = Vec::new();
    while port.is_none() && Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            port = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .map(str::to_owned);
        }
        seen.push(line);
    }
    let port = port.unwrap_or_else(|| panic!("no URL logged: {seen:#?}"));
    let res = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let home = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert!(home.text().await.unwrap().contains("Demo App"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(dir.path().join("data/secret.key").is_file());
    assert!(dir.path().join("data/licensor.db").is_file() || database.is_postgres());
}

#[tokio::test]
async fn bad_configuration_stops_start_up_with_one_clear_line() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    std::fs::write(dir.path().join("typo.toml"), "lissen = \"127.0.0.1:1\"\n").unwrap();
    std::fs::write(dir.path().join("broken.toml"), "listen = \n").unwrap();

    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("LICENSOR_LISTEN", "nonsense")],
            vec!["serve"],
            "`listen`",
        ),
        (
            vec![("LICENSOR_PUBLIC_URL", "ftp://x")],
            vec!["serve"],
            "`public_url`",
        ),
        (
            vec![("LICENSOR_DATABASE_URL", "mysql://x/y")],
            vec!["serve"],
            "`database_url`",
        ),
        (
            vec![("LICENSOR_LISTNE", "x")],
            vec!["serve"],
            "LICENSOR_LISTNE",
        ),
        (
            vec![],
            vec!["--config", "typo.toml", "serve"],
            "unknown setting `lissen`",
        ),
        (
            vec![],
            vec!["--config", "broken.toml", "serve"],
            "not valid TOML",
        ),
        (
            vec![],
            vec!["--config", "missing.toml", "serve"],
            "cannot read configuration file",
        ),
        (
            vec![("LICENSOR_LISTEN", taken_addr.as_str())],
            vec!["serve"],
            "cannot listen on",
        ),
        (
            vec![(
                "LICENSOR_DATABASE_URL",
                "postgres://postgres@127.0.0.1:1/none",
            )],
            vec!["migrate"],
            "cannot open the database",
        ),
    ];
    for (env, args, expected) in cases {
        let mut cmd = licensor(dir.path(), &database);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        if !env.iter().any(|(k, _)| *k == "LICENSOR_LISTEN") {
            cmd.env("LICENSOR_LISTEN", "127.0.0.1:0");
        }
        cmd.args(&args);
        let out = run(cmd, None);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{env:?} {args:?} must fail");
        let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(error_lines.len(), 1, "{env:?} {args:?}: {stderr}");
        assert!(
            error_lines[0].contains(expected),
            "{env:?} {args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    }
    drop(taken);
}

#[tokio::test]
async fn migrate_applies_the_schema_alone() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = run(
            {
                let mut c = licensor(dir.path(), &database);
                c.arg("migrate");
                c
            },
            None,
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let mut conn = database_of(dir.path(), &database).await;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM licenses")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn admin_create_reads_the_password_from_stdin_never_argv() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let password = "a long enough staff passphrase";
    let create = |email: &str, role: &str| {
        let mut c = licensor(dir.path(), &database);
        c.args(["admin", "create", "--email", email, "--role", role]);
        c
    };

    let out = run(
        create("Ops@Example.com", "admin"),
        Some(&format!("{password}\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("created admin account ops@example.com"),
        "{stdout}"
    );
    assert!(!stdout.contains(password) && !text(&out.stderr).contains(password));

    let out = run(
        create("ops@example.com", "support"),
        Some(&format!("{password}\n")),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );

    let out = run(create("new@example.com", "support"), Some("too short\n"));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("at least 15 characters"));

    let out = run(
        create("not-an-email", "support"),
        Some(&format!("{password}\n")),
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--email"));

    let out = run(
        create("x@example.com", "customer"),
        Some(&format!("{password}\n")),
    );
    assert!(!out.status.success(), "customers are not created here");

    let out = run(create("y@example.com", "support"), Some(""));
    assert!(text(&out.stderr).contains("no password on standard input"));
}

#[tokio::test]
async fn keys_generate_rotate_list_and_export() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = |verb: &str| {
        let mut c = licensor(dir.path(), &database);
        c.args(["keys", verb]);
        run(c, None)
    };

    let out = keys("generate");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout)
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(first.len(), 16);
    assert!((dir.path().join("data/secret.key")).is_file());

    let out = keys("generate");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("keys rotate"));

    let out = keys("rotate");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("retired {first}")));

    let out = keys("list");
    let listing = text(&out.stdout);
    assert_eq!(listing.lines().count(), 3, "{listing}");
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with(&first) && l.contains("retired"))
    );
    assert_eq!(
        listing.lines().filter(|l| l.contains(" active ")).count(),
        1
    );

    let out = keys("export-public");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let published = doc["keys"].as_object().unwrap();
    assert_eq!(published.len(), 2);
    assert_eq!(published[&first]["active"], false);
}

#[test]
fn every_verb_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["admin", "create", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "export-public", "--help"],
        vec!["secret", "create", "--help"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
}

/// `licensor --version` names the database schema it applies: the newest
/// migration, numbered alike on both backends, and what a migrated
/// database records.
#[tokio::test]
async fn the_version_names_the_database_schema() {
    let numbers = |backend: &str| -> Vec<i64> {
        let mut n: Vec<i64> = std::fs::read_dir(format!("migrations/{backend}"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .map(|name| name.split('_').next().unwrap().parse().unwrap())
            .collect();
        n.sort();
        n
    };
    let (sqlite, postgres) = (numbers("sqlite"), numbers("postgres"));
    assert_eq!(sqlite, postgres, "both backends have every migration");
    let newest = *sqlite.last().unwrap();
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "licensor {} (database schema {newest})",
            env!("CARGO_PKG_VERSION")
        )
    );
    let app = crate::support::spawn_app().await;
    let (applied,): (i64,) = sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(applied, newest);
}

#[tokio::test]
async fn a_license_file_is_exported_and_verified_offline() {
    let app = crate::support::spawn_app().await;
    // `licensor verify` reads the wall clock.
    app.clock.set(licensor::domain::time::Timestamp::now());
    let p = app.with_license(serde_json::json!({})).await;
    assert_eq!(app.activate(&p.key, "fp-1").await.status(), 201);
    let dir = tempfile::tempdir().unwrap();
    let keys = app
        .get("/.well-known/licensor-keys.json")
        .await
        .text()
        .await
        .unwrap();
    std::fs::write(dir.path().join("keys.json"), &keys).unwrap();
    let key_set: serde_json::Value = serde_json::from_str(&keys).unwrap();
    let (_, entry) = key_set["keys"].as_object().unwrap().iter().next().unwrap();
    std::fs::write(
        dir.path().join("public.key"),
        entry["public_key"].as_str().unwrap(),
    )
    .unwrap();
    let export = |fingerprint: Option<&str>, extra: &[&str]| {
        let mut c = Command::new(BIN);
        c.current_dir(dir.path())
            .env("LICENSOR_DATABASE_URL", &app.database.url)
            .env(
                "LICENSOR_SECRET_FILE",
                app._data_dir.path().join("secret.key"),
            )
            .args(["license", "export", &p.license_id]);
        if let Some(fp) = fingerprint {
            c.args(["--fingerprint", fp]);
        }
        c.args(extra);
        run(c, None)
    };
    let out = export(Some("fp-1"), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = text(&out.stdout);
    assert!(file.starts_with("-----BEGIN LICENSOR LICENSE-----"));
    assert!(!file.contains(&p.key), "the key is never in a file");
    std::fs::write(dir.path().join("machine.lic"), &file).unwrap();
    let verify_with = |name: &str, fingerprint: &str, extra: &[&str]| {
        let mut c = Command::new(BIN);
        c.current_dir(dir.path())
            .args(["verify", name, "--fingerprint", fingerprint])
            .args(extra);
        run(c, None)
    };
    let verify =
        |name: &str, fingerprint: &str| verify_with(name, fingerprint, &["--keys", "keys.json"]);
    let out = verify("machine.lic", "fp-1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("valid"));
    assert!(text(&out.stdout).contains(&p.license_id));

    let out = verify("machine.lic", "fp-2");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("another machine"));

    // One changed character in the body: refused.
    let mut lines: Vec<String> = file.lines().map(str::to_owned).collect();
    let line = &mut lines[2];
    let flipped = if line.starts_with('A') { 'B' } else { 'A' };
    line.replace_range(0..1, &flipped.to_string());
    std::fs::write(dir.path().join("edited.lic"), lines.join("\n")).unwrap();
    let out = verify("edited.lic", "fp-1");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not valid"),
        "{}",
        text(&out.stderr)
    );

    // One public key instead of the set.
    let out = verify_with("machine.lic", "fp-1", &["--public-key", "public.key"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = verify_with("machine.lic", "fp-1", &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--public-key"),
        "{}",
        text(&out.stderr)
    );

    // The encrypted variant: signed for anyone, readable with the key.
    let out = export(Some("fp-1"), &["--encrypted"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(dir.path().join("sealed.lic"), text(&out.stdout)).unwrap();
    let out = verify("sealed.lic", "fp-1");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("key_required"),
        "{}",
        text(&out.stderr)
    );
    let out = verify_with(
        "sealed.lic",
        "fp-1",
        &["--keys", "keys.json", "--license-key", &p.key],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&p.license_id));
    let out = verify_with(
        "sealed.lic",
        "fp-1",
        &["--keys", "keys.json", "--license-key", "not a key"],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--license-key"));

    // A machine file needs an active machine.
    let out = export(Some("never-activated"), &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not activated"));

    // A suspended license gets no new file unless the operator insists.
    let res = app
        .post_json(
            &format!("/api/v1/licenses/{}/actions/suspend", p.license_id),
            Some(&p.token),
            &serde_json::json!({ "reason": "chargeback" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    for fingerprint in [None, Some("fp-1")] {
        let out = export(fingerprint, &[]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains("This license is suspended."), "{err}");
        assert!(err.contains("--force"), "{err}");
        assert!(out.stdout.is_empty());
        let out = export(fingerprint, &["--force"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("-----BEGIN LICENSOR LICENSE-----"));
    }
}

#[tokio::test]
async fn an_https_server_refuses_a_development_secret_and_takes_a_created_one() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let https = |cmd: &mut Command| {
        cmd.env("LICENSOR_LISTEN", "127.0.0.1:0")
            .env("LICENSOR_PUBLIC_URL", "https://licenses.example.com/");
    };
    // No secret yet: an https server will not generate one.
    let mut cmd = licensor(dir.path(), &database);
    https(&mut cmd);
    cmd.arg("serve");
    let out = run(cmd, None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("licensor secret create"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.path().join("data/secret.key").exists(),
        "nothing generated"
    );

    // A development secret (generated by a plain-http start) is refused too.
    let dev = dir.path().join("dev.key");
    licensor::secret::ServerSecret::load_or_generate(&dev).unwrap();
    let mut cmd = licensor(dir.path(), &database);
    https(&mut cmd);
    cmd.env("LICENSOR_SECRET_FILE", &dev).arg("serve");
    let out = run(cmd, None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("generated for development"),
        "{}",
        text(&out.stderr)
    );

    // `licensor secret create` makes one the server accepts, once.
    let mut cmd = licensor(dir.path(), &database);
    cmd.args(["secret", "create"]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created = dir.path().join("data/secret.key");
    let (_, origin) = licensor::secret::ServerSecret::load_or_generate(&created).unwrap();
    assert!(!origin.is_generated());
    let mut cmd = licensor(dir.path(), &database);
    cmd.args(["secret", "create"]);
    let out = run(cmd, None);
    assert!(!out.status.success(), "never overwritten");
    let mut settings = crate::support::test_settings(&dir, &database.url, |raw| {
        raw.set(
            "public_url",
            "https://licenses.example.com/",
            licensor::config::Source::Default,
        );
    });
    settings.secret_file = created;
    let app = licensor::startup::Application::build(settings)
        .await
        .expect("a created secret is accepted");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    // Served over https (a proxy in front terminates TLS): HSTS on every answer.
    let res = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let plain = crate::support::spawn_app().await;
    assert!(
        !plain
            .get("/healthz")
            .await
            .headers()
            .contains_key("strict-transport-security"),
        "not on plain http"
    );
}

#[tokio::test]
async fn a_stopped_server_writes_its_last_usage_batch() {
    licensor::tls::install_crypto_provider();
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut seed = licensor(dir.path(), &database);
    seed.args(["seed", "--licenses", "1", "--keys-out", "keys.txt"]);
    let seeded = run(seed, None);
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    let keys = std::fs::read_to_string(dir.path().join("keys.txt")).unwrap();
    let (key, fingerprint) = keys.trim().split_once(' ').expect("KEY FINGERPRINT");

    let server = serve(dir.path(), &database, &[]).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    // Validations just before the stop: the batch is written every 2 s, so
    // these are in memory until the server writes them on its way out.
    for _ in 0..5 {
        let res = client
            .post(format!("{base}/api/v1/licenses/validate"))
            .json(&serde_json::json!({"key": key, "fingerprint": fingerprint}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    assert!(server.stop().success(), "a clean stop");

    let mut conn = database_of(dir.path(), &database).await;
    let (validations,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM validation_stats WHERE code = 'VALID'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(validations, 5, "every validation counted");
    let (marked,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM licenses WHERE first_validated_at IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(marked, 1, "the first validation marked");
}

#[tokio::test]
async fn import_licenses_reads_a_csv_file_whole_or_not_at_all_and_twice_adds_nothing() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    // `seed` makes the product `load` with the license type `Load`.
    let mut seed = licensor(dir.path(), &database);
    seed.args(["seed", "--licenses", "1", "--keys-out", "keys.txt"]);
    let seeded = run(seed, None);
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    let file = dir.path().join("licenses.csv");
    std::fs::write(
        &file,
        "key,customer_email,product,license_type,seats,machines\n\
         OLD-0001-AAAA,ann@example.com,load,Load,2,fp-1\n\
         OLD-0002-BBBB,,load,Load,,\n",
    )
    .unwrap();
    let import = |extra: &[&str]| {
        let mut cmd = licensor(dir.path(), &database);
        cmd.args(["import", "licenses", "licenses.csv"]).args(extra);
        run(cmd, None)
    };
    let licenses = || async {
        let mut conn = database_of(dir.path(), &database).await;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM licenses")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        n
    };

    let dry = import(&["--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("would import 2 licenses"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(licenses().await, 1, "a dry run writes nothing");

    let done = import(&[]);
    assert!(done.status.success(), "{}", text(&done.stderr));
    assert!(text(&done.stdout).contains("imported 2 licenses"));
    assert_eq!(licenses().await, 3);
    let again = import(&[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("imported 0 licenses from licenses.csv; 2 already held"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(licenses().await, 3);

    // A bad file: every error on standard error as FILE:LINE, exit 1,
    // nothing written.
    std::fs::write(
        &file,
        "key,product,license_type,seats,machines\n\
         NEW-0001-AAAA,load,Load,1,fp-1;fp-2\n\
         NEW-0002-BBBB,load,Load,x,\n\
         NEW-0003-CCCC,load\n",
    )
    .unwrap();
    let refused = import(&[]);
    assert_eq!(refused.status.code(), Some(1));
    let errors = text(&refused.stderr);
    assert!(
        errors.contains("licenses.csv:2: machines: lists 2 machines but the license has 1 seats"),
        "{errors}"
    );
    assert!(errors.contains("licenses.csv:3: seats:"), "{errors}");
    assert!(
        errors.contains("licenses.csv:4: this line has 2 fields"),
        "{errors}"
    );
    assert!(
        errors.contains("3 errors in licenses.csv; nothing was imported"),
        "{errors}"
    );
    assert_eq!(licenses().await, 3);
}

/// A connection to the database a `licensor` command in `dir` uses.
async fn database_of(dir: &Path, database: &TestDatabase) -> sqlx::AnyConnection {
    let url = if database.is_postgres() {
        database.url.clone()
    } else {
        format!("sqlite://{}", dir.join("data/licensor.db").display())
    };
    <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap()
}

/// A `licensor serve` child process, killed if the test ends before it
/// stops.
pub struct Served {
    child: std::process::Child,
    pub base: String,
}

impl Served {
    /// Sends the process a signal (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Whether the process has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Stops the process the way an operator does (SIGTERM), and waits.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `licensor serve` in `dir` on a free port, with these variables
/// besides the database's, and waits until it is ready.
pub async fn serve(dir: &Path, database: &TestDatabase, env: &[(&str, &str)]) -> Served {
    let port = crate::scale_out::free_port();
    let child = licensor(dir, database)
        .env("LICENSOR_LISTEN", format!("127.0.0.1:{port}"))
        .env("LICENSOR_LOG", "warn")
        .env("LICENSOR_SHUTDOWN_GRACE_SECS", "0")
        .envs(env.iter().copied())
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("licensor serve starts");
    let served = Served {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = reqwest::get(format!("{}/readyz", served.base)).await
            && res.status() == 200
        {
            return served;
        }
        assert!(
            Instant::now() < deadline,
            "{} never became ready",
            served.base
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `licensor verify --at` reaches every verdict of the shared vectors
/// (tests/vectors/cases.json), as the client libraries do.
#[test]
fn verify_reaches_every_vector_verdict() {
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vectors.join("cases.json")).unwrap())
            .unwrap();
    for case in cases["cases"].as_array().unwrap() {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(&vectors)
            .args([
                "verify",
                case["file"].as_str().unwrap(),
                "--keys",
                "keys.json",
            ])
            .args(["--at", &case["now"].to_string()])
            .env_remove("LICENSOR_VERIFY_LICENSE_KEY");
        if let Some(fp) = case["fingerprint"].as_str() {
            cmd.args(["--fingerprint", fp]);
        }
        if let Some(key) = case["license_key"].as_str() {
            cmd.env("LICENSOR_VERIFY_LICENSE_KEY", key);
        }
        let out = run(cmd, None);
        let verdict = if out.status.success() {
            text(&out.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        } else {
            let err = text(&out.stderr);
            err.split("not valid (")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .unwrap_or(&err)
                .to_owned()
        };
        assert_eq!(verdict, case["verdict"].as_str().unwrap(), "{case}");
    }
}
