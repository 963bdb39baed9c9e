//! Faults a server meets in the field, each provoked here: clients that
//! trickle their request bodies. (Issue 28's suite; more of it to come.)

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
