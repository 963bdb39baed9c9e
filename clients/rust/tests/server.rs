//! Against a real `licensor serve` started here on a fresh data directory:
//! provision, activate, validate, heartbeat, deactivate, offline grace with
//! the server stopped, a clock set back, and answers signed by other keys.
//! The binary is $LICENSOR_BIN, or the workspace's debug build; without
//! either the tests say so and pass (CI names it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use licensor_client::{Client, ErrorKind, Keys};
use serde_json::{Value, json};

fn binary() -> Option<PathBuf> {
    match std::env::var_os("LICENSOR_BIN") {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            let built =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/licensor");
            if !built.exists() {
                eprintln!(
                    "no licensor binary at {}: cargo build, or set LICENSOR_BIN",
                    built.display()
                );
            }
            built.exists().then_some(built)
        }
    }
}

fn command(bin: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("LICENSOR_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("LICENSOR_DATA_DIR", data);
    cmd
}

struct Server {
    child: Child,
    url: String,
    token: String,
    keys: Keys,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(bin: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = command(bin, &data)
            .args([
                "admin", "token", "create", "--scope", "write", "--name", "rust",
            ])
            .output()
            .unwrap();
        let token = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned();
        let mut child = command(bin, &data)
            .arg("serve")
            .env("LICENSOR_LISTEN", "127.0.0.1:0")
            .env("LICENSOR_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            assert!(Instant::now() < deadline, "the server did not start");
            let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
                continue;
            };
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                break format!("http://127.0.0.1:{port}");
            }
        };
        // The key set as the vendor ships it with the application.
        let out = command(bin, &data)
            .args(["keys", "export-public"])
            .output()
            .unwrap();
        let keys = Keys::from_key_set_json(&String::from_utf8(out.stdout).unwrap()).unwrap();
        Self {
            child,
            url,
            token,
            keys,
            dir,
        }
    }

    fn call(&self, path: &str, body: Value) -> Value {
        let out = Command::new("curl")
            .args(["-sf", "-X", "POST", &format!("{}{path}", self.url)])
            .args(["-H", &format!("Authorization: Bearer {}", self.token)])
            .args([
                "-H",
                "Content-Type: application/json",
                "-d",
                &body.to_string(),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "POST {path}");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A product, a type and a license; its key.
    fn provision(&self, floating: bool) -> String {
        let product = self.call(
            "/api/v1/products",
            json!({"code": "rs-app", "name": "Rust App"}),
        );
        let mut kind = json!({"product_id": product["id"], "name": if floating { "Floating" } else { "Pro" },
            "duration_days": 365, "max_machines": 2, "entitlements": [], "offline_checkin_days": 7});
        if floating {
            kind["floating"] = json!(true);
            kind["heartbeat_window_secs"] = json!(600);
        }
        let kind = self.call("/api/v1/license-types", kind);
        let issued = self.call(
            "/api/v1/licenses",
            json!({"license_type_id": kind["id"], "email": "dev@example.com"}),
        );
        issued["key"].as_str().unwrap().to_owned()
    }

    fn stop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn activate_validate_then_offline_grace_and_a_clock_set_back() {
    let Some(bin) = binary() else { return };
    let mut server = Server::start(&bin);
    let key = server.provision(false);
    let now = Arc::new(AtomicI64::new(unix_now()));
    let clock = Arc::clone(&now);
    let state = server.dir.path().join("state.json");
    let client = Client::new(&server.url, "rs-app", server.keys.clone())
        .with_state_path(&state)
        .with_clock(move || clock.load(Ordering::SeqCst));

    let first = client.validate(&key, "rs-fp-1", &[]).await.unwrap();
    assert_eq!(
        (first.valid, first.code.as_str(), first.offline),
        (false, "NOT_ACTIVATED", false)
    );
    assert!(first.next_action.is_some());
    let activated = client
        .activate(&key, "rs-fp-1", Some("CI box"), Some("Linux"))
        .await
        .unwrap();
    assert!(activated.created);
    assert!(
        activated
            .machine_file
            .unwrap()
            .starts_with("-----BEGIN LICENSOR LICENSE-----")
    );
    assert!(
        !client
            .activate(&key, "rs-fp-1", None, None)
            .await
            .unwrap()
            .created,
        "no second seat"
    );
    let result = client.validate(&key, "rs-fp-1", &[]).await.unwrap();
    assert_eq!(
        (result.valid, result.code.as_str(), result.offline),
        (true, "VALID", false)
    );
    assert_eq!(
        result.license.as_ref().unwrap()["product"]["code"],
        "rs-app"
    );

    // Another program on this machine, with a state of its own: valid
    // online, it fetches the machine file its offline grace needs.
    let other = Client::new(&server.url, "rs-app", server.keys.clone())
        .with_state_path(server.dir.path().join("other.json"));
    assert!(other.validate(&key, "rs-fp-1", &[]).await.unwrap().valid);

    server.stop();
    assert!(other.validate(&key, "rs-fp-1", &[]).await.unwrap().offline);
    let offline = client.validate(&key, "rs-fp-1", &[]).await.unwrap();
    assert_eq!((offline.valid, offline.offline), (true, true));
    let left = offline.deadline.unwrap() - now.load(Ordering::SeqCst);
    assert!(6 * 86_400 < left && left <= 7 * 86_400 + 60, "{left}");
    assert_eq!(
        offline.license.as_ref().unwrap()["id"],
        result.license.as_ref().unwrap()["id"]
    );
    now.fetch_sub(3600, Ordering::SeqCst);
    let rolled = client.validate(&key, "rs-fp-1", &[]).await.unwrap();
    assert_eq!(
        (rolled.valid, rolled.code.as_str(), rolled.offline),
        (false, "CLOCK_BEHIND", true)
    );
    now.fetch_add(3600 + 8 * 86_400, Ordering::SeqCst);
    assert_eq!(
        client.validate(&key, "rs-fp-1", &[]).await.unwrap().code,
        "CHECK_IN_OVERDUE"
    );
    let other = client.validate(&key, "rs-fp-2", &[]).await.unwrap_err();
    assert_eq!(other.kind, ErrorKind::Unreachable);
    let without_state = Client::new(&server.url, "rs-app", server.keys.clone()).with_retries(1);
    let e = without_state
        .validate(&key, "rs-fp-1", &[])
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::Unreachable, "unreachable")
    );

    // Editing the state file earns nothing: the machine file is verified.
    let mut kept: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let file = kept["machine_file"].as_str().unwrap().to_owned();
    let mut lines: Vec<String> = file.lines().map(str::to_owned).collect();
    let first_char = if lines[2].starts_with('B') { "C" } else { "B" };
    lines[2].replace_range(0..1, first_char);
    kept["machine_file"] = json!(lines.join("\n"));
    std::fs::write(&state, kept.to_string()).unwrap();
    now.fetch_sub(8 * 86_400, Ordering::SeqCst);
    let tampered = client.validate(&key, "rs-fp-1", &[]).await.unwrap();
    assert!(
        !tampered.valid && ["BAD_SIGNATURE", "BAD_ENCODING"].contains(&tampered.code.as_str()),
        "{}",
        tampered.code
    );
}

#[tokio::test]
async fn floating_seats_heartbeat_and_deactivate_and_the_blocking_client_agrees() {
    let Some(bin) = binary() else { return };
    let server = Server::start(&bin);
    let key = server.provision(true);
    let client = Client::new(&server.url, "rs-app", server.keys.clone());
    client
        .activate(&key, "rs-float-1", None, None)
        .await
        .unwrap();
    let beat = client.heartbeat(&key, "rs-float-1").await.unwrap();
    assert!(beat.next_heartbeat_before.unwrap() > unix_now());
    let beats = client.spawn_heartbeats(&key, "rs-float-1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(beats.stop().await.is_none(), "no failed heartbeat");
    let done = client.deactivate(&key, "rs-float-1").await.unwrap();
    assert!(done.machine["deactivated_at"].is_i64());
    let refused = client.heartbeat(&key, "rs-float-1").await.unwrap_err();
    assert_eq!(
        (refused.kind, refused.code.as_str(), refused.status),
        (ErrorKind::Refused, "NOT_ACTIVATED", Some(422))
    );
    assert!(refused.request_id.is_some() && refused.next_action.is_some());

    // The same calls without a runtime of the application's own.
    let url = server.url.clone();
    let keys = server.keys.clone();
    let key2 = key.clone();
    let code = tokio::task::spawn_blocking(move || {
        let blocking = licensor_client::blocking::Client::new(&url, "rs-app", keys).unwrap();
        blocking.activate(&key2, "rs-float-2", None, None).unwrap();
        blocking.validate(&key2, "rs-float-2", &[]).unwrap().code
    })
    .await
    .unwrap();
    assert_eq!(code, "VALID");
}

#[tokio::test]
async fn answers_signed_by_other_keys_are_never_valid() {
    let Some(bin) = binary() else { return };
    let server = Server::start(&bin);
    let key = server.provision(false);
    let other =
        Keys::from_public_key_base64("knMI9T1nZVA9K2TBA6tapHIGqzlQLP6PmEQv21QxALc=").unwrap();
    let e = Client::new(&server.url, "rs-app", other)
        .validate(&key, "rs-fp-1", &[])
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::Rejected, "unknown_key")
    );
}
