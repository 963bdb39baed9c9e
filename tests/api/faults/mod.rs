//! Faults a server meets in the field, each provoked here (issue 28's
//! suite; `bash load/faults.sh` runs it with the unit tables on both
//! backends): clients that trickle their request bodies or send what
//! cannot be read, a database that cannot grow and a full disk, SIGTERM
//! under load, a crashed outbox worker, licenses with more machines than a
//! cache entry holds, and look-alike addresses.

mod large_licenses;
mod look_alikes;

use std::time::{Duration, Instant};

use licensor::config::Source;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestApp, spawn_app_with};

async fn spawn_with_body_limits(timeout_secs: &str, slow_per_client: &str) -> TestApp {
    let (timeout, slow) = (timeout_secs.to_owned(), slow_per_client.to_owned());
    spawn_app_with(
        move |raw| {
            raw.set("request_body_timeout_secs", timeout, Source::Default);
            raw.set("slow_bodies_per_client", slow, Source::Default);
            raw.set("api_rate_limit_ip", "0", Source::Default);
        },
        false,
    )
    .await
}

/// A client that declares a 2,000-byte body and sends one byte every
/// `every`, until the server answers or closes; returns what it read (the
/// answer's head) and how long the server took.
async fn trickle(app: &TestApp, every: Duration) -> (String, Duration) {
    let addr = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /api/v1/licenses/validate HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 2000\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            },
            () = tokio::time::sleep(every) => {
                if stream.write_all(b" ").await.is_err() {
                    break;
                }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server let a trickled body run for 30 s"
        );
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_trickled_body_gets_408_within_its_deadline_and_the_connection_closes() {
    let app = spawn_with_body_limits("2", "8").await;
    let (answer, took) = trickle(&app, Duration::from_millis(300)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "answered after {took:?}"
    );
    // A body that arrives at once is untouched.
    let res = app
        .post_json(
            "/api/v1/licenses/validate",
            None,
            &serde_json::json!({ "key": "not-a-key" }),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn one_client_may_hold_only_so_many_slow_bodies_at_once() {
    let app = spawn_with_body_limits("4", "2").await;
    let every = Duration::from_millis(300);
    let (first, second, third) = tokio::join!(trickle(&app, every), trickle(&app, every), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trickle(&app, every).await
    });
    let mut heads = [first.0, second.0, third.0];
    heads.sort();
    assert!(heads[0].starts_with("HTTP/1.1 408"), "{heads:?}");
    assert!(heads[1].starts_with("HTTP/1.1 408"), "{heads:?}");
    assert!(heads[2].starts_with("HTTP/1.1 429"), "{heads:?}");
    assert!(
        heads[2].to_ascii_lowercase().contains("retry-after: 10"),
        "{heads:?}"
    );
    // The refused one was refused once slow, long before the deadline.
    assert!(
        third.1 < Duration::from_secs(3),
        "refused after {:?}",
        third.1
    );
    // Once they are gone, the client is welcome again.
    let (again, _) = trickle(&app, Duration::from_millis(100)).await;
    assert!(again.starts_with("HTTP/1.1 408"), "{again}");
}

#[tokio::test]
async fn a_request_the_server_cannot_read_is_logged_as_the_clients_fault_not_ours() {
    let app = spawn_with_body_limits("10", "8").await;
    let addr = app.address.trim_start_matches("http://");
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(garbage).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    // The server's own line comes once the connection is done with.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !crate::support::captured_log().contains("a client sent a request that could not be read")
    {
        assert!(
            Instant::now() < deadline,
            "no INFO line for the client's fault"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = crate::support::captured_log();
    for line in log.lines() {
        assert!(
            !(line.contains("\"ERROR\"") && line.contains("stream error")),
            "a client's mistake reached the error level: {line}"
        );
    }
    let ours = log
        .lines()
        .find(|l| l.contains("a client sent a request that could not be read"))
        .unwrap();
    assert!(ours.contains("\"INFO\""), "{ours}");
    assert!(ours.contains("\"cause\""), "{ours}");
}

/// Every connection of the pool is capped at the database's current size
/// (`PRAGMA max_page_count`), so writes that need a new page fail with
/// SQLITE_FULL as on a full disk; `None` lifts the cap.
pub(crate) async fn cap_database_size(app: &TestApp, cap: Option<i64>) {
    let pool = app.db.pool();
    let mut held = Vec::new();
    for _ in 0..10 {
        match tokio::time::timeout(Duration::from_millis(500), pool.acquire()).await {
            Ok(Ok(conn)) => held.push(conn),
            _ => break,
        }
    }
    for conn in &mut held {
        let pages = cap.unwrap_or(1_073_741_823);
        let sql = format!("PRAGMA max_page_count = {pages}");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut **conn)
            .await
            .unwrap();
    }
}

/// Writes a product; its status and problem code.
async fn write_product(app: &TestApp, token: &str, code: &str) -> (u16, String, Option<String>) {
    let res = app
        .post_json(
            "/api/v1/products",
            Some(token),
            &serde_json::json!({
                "code": code,
                "name": "Full",
                "description": "x".repeat(1000),
                "activation_instructions": "y".repeat(1000),
            }),
        )
        .await;
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    (
        status,
        body["code"].as_str().unwrap_or_default().to_owned(),
        retry_after,
    )
}

/// While the database cannot grow, every write answers 503 `unavailable`
/// with Retry-After (never a 500), and `/readyz` says so right after. (A
/// write on a connection that still has room commits and, by design, clears
/// the report: so it is read after each refusal, and must show once.)
async fn writes_are_unavailable(app: &TestApp, token: &str, round: &str) {
    let (mut refused, mut reported) = (0, None);
    for n in 0..20 {
        let (status, code, retry_after) = write_product(app, token, &format!("{round}-{n}")).await;
        match status {
            201 => {}
            503 => {
                assert_eq!(code, "unavailable");
                assert!(retry_after.is_some(), "503 without Retry-After");
                refused += 1;
                let ready = app.get("/readyz").await;
                if ready.status() == 503 {
                    reported = Some(ready.text().await.unwrap());
                }
            }
            other => panic!("a write on a full disk answered {other} ({code})"),
        }
    }
    assert!(refused >= 10, "only {refused} of 20 writes were refused");
    let text = reported.expect("/readyz reports the failing writes");
    assert!(text.contains("full"), "{text}");
}

/// Once there is room again, writes work within seconds, without a restart.
async fn writes_work_again(app: &TestApp, token: &str, round: &str) {
    for n in 0..15 {
        let (status, code, _) = write_product(app, token, &format!("{round}-again-{n}")).await;
        assert_eq!(status, 201, "write {n} after space came back: {code}");
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn a_database_that_cannot_grow_answers_503_and_recovers_when_it_can() {
    let app = spawn_with_body_limits("10", "8").await;
    if app.database.is_postgres() {
        return;
    }
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    let (pages,): (i64,) = sqlx::query_as("PRAGMA page_count")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    cap_database_size(&app, Some(pages)).await;
    writes_are_unavailable(&app, &token, "capped").await;
    cap_database_size(&app, None).await;
    writes_work_again(&app, &token, "capped").await;
}

/// A filesystem of its own, 4 MB, for a data directory that can fill up;
/// `None` where this machine does not let the test mount one.
fn small_filesystem() -> Option<(tempfile::TempDir, SmallFs)> {
    let dir = tempfile::tempdir().ok()?;
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| {
        let fs = SmallFs(dir.path().to_owned());
        (dir, fs)
    })
}

/// Unmounts the small filesystem when the test ends.
struct SmallFs(std::path::PathBuf);

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l"])
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_and_writes_work_again_once_there_is_room() {
    let Some((dir, fs)) = small_filesystem() else {
        eprintln!("skipped: this machine cannot mount a small filesystem");
        return;
    };
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        return;
    }
    let url = format!("sqlite://{}/licensor.db", fs.0.display());
    let app = spawn_app_with(
        move |raw| {
            raw.set("database_url", url, Source::Default);
            raw.set("api_rate_limit_ip", "0", Source::Default);
        },
        false,
    )
    .await;
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    assert_eq!(write_product(&app, &token, "before").await.0, 201);
    // Fill the filesystem to the last byte.
    let filler = fs.0.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let small = vec![0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
    }
    writes_are_unavailable(&app, &token, "full").await;
    std::fs::remove_file(&filler).unwrap();
    writes_work_again(&app, &token, "full").await;
    drop(app);
    drop(fs);
    drop(dir);
}

#[tokio::test]
async fn sigterm_turns_readiness_off_first_and_answers_every_request_before_exiting() {
    licensor::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let database = crate::support::TestDatabase::create().await;
    let mut served = crate::cli::serve(
        dir.path(),
        &database,
        &[
            ("LICENSOR_SHUTDOWN_GRACE_SECS", "5"),
            ("LICENSOR_API_RATE_LIMIT_IP", "0"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (client, base, stop) = (client.clone(), served.base.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let (mut answered, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match client.get(format!("{base}/healthz")).send().await {
                    Ok(res) if res.status() == 200 => answered += 1,
                    Ok(res) => failed.push(format!("status {}", res.status())),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (answered, failed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    served.signal("TERM");
    let signalled = Instant::now();
    // Readiness goes first, while requests are still served.
    loop {
        let res = client
            .get(format!("{}/readyz", served.base))
            .send()
            .await
            .unwrap();
        if res.status() == 503 {
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["status"], "shutting_down");
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(3),
            "readyz still 200"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = 0;
    for task in load {
        let (n, failed) = task.await.unwrap();
        assert!(
            failed.is_empty(),
            "requests during the grace failed: {failed:?}"
        );
        answered += n;
    }
    assert!(answered > 100, "only {answered} requests under load");
    // After the grace, the process stops on its own, cleanly.
    let deadline = signalled + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = served.exited() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(5),
        "it stopped before the grace ended"
    );
}

#[tokio::test]
async fn a_restarted_server_sends_at_once_what_its_crashed_predecessor_had_claimed() {
    let secret = licensor::secret::ServerSecret::random_base64().unwrap();
    let database = crate::support::TestDatabase::create().await;
    let url = database.url.clone();
    let first_secret = secret.as_str().to_owned();
    // The first server sends nothing after its first pass: its messages
    // stay queued, as a crash would leave them.
    let first = crate::support::spawn_app_on(
        database,
        &url,
        move |raw| {
            raw.set("secret", first_secret, Source::Default);
            raw.set("outbox_poll_ms", "3600000", Source::Default);
        },
        true,
    )
    .await;
    // Its worker's one pass runs as it starts; the message must come
    // after it, so a sign-up whose message that pass sent (a loaded
    // machine starts slowly) is followed by another.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let port = crate::scale_out::free_port();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    let ghost = format!("{host} 127.0.0.1:{port} 1");
    let leased_until = licensor::clock::Clock::now(first.clock.as_ref()).unix() + 3600;
    let mut email = None;
    for n in 0..5 {
        let address = format!("crash{n}@example.com");
        let browser = crate::support::form_browser::Browser::new(&first);
        assert_eq!(browser.sign_up(&address, "Crash Ltd").await.status(), 200);
        // Its worker had claimed the message, with a long lease, then died.
        let claimed = sqlx::query(
            "UPDATE outbox SET claimed_by = $1, locked_until = $2 \
             WHERE status = 'queued' AND recipient = $3",
        )
        .bind(&ghost)
        .bind(leased_until)
        .bind(&address)
        .execute(first.db.pool())
        .await
        .unwrap()
        .rows_affected();
        if claimed >= 1 {
            email = Some(address);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let email = email.expect("a message stayed queued after the first pass");

    // The restarted server, same host and address, releases the claim at
    // start and sends the message, long before the lease would end.
    let second_secret = secret.as_str().to_owned();
    let started = Instant::now();
    let second = crate::support::spawn_app_on(
        crate::support::TestDatabase::existing(&url),
        &url,
        move |raw| {
            raw.set("secret", second_secret, Source::Default);
            raw.set("listen", format!("127.0.0.1:{port}"), Source::Default);
        },
        false,
    )
    .await;
    second.mail.wait_for(&email, "Confirm your email").await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let (left,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE claimed_by IS NOT NULL")
            .fetch_one(second.db.pool())
            .await
            .unwrap();
    assert_eq!(left, 0, "no claim outlives its delivery");
    drop(second);
    drop(first);
}
