//! The Rust client's own cost on an online validation, beyond the HTTP
//! round trip (target: under 50 µs): `Client::validate` against a local
//! server that answers as Licensor does (the request's nonce echoed, the
//! answer signed with the vectors' key), next to a bare reqwest POST of the
//! same body to the same server; alternated, the difference of medians is
//! the client's work (a nonce, the JSON, the signature, Date and nonce
//! checks, the answer's parse).
//!
//!     cargo bench -p licensor-client --bench online

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use licensor_client::{Client, Keys};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server that answers every POST as `/licenses/validate` does.
async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let key = SigningKey::from_bytes(&[0x4c; 32]);
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let key = key.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut filled = 0;
                loop {
                    let Ok(n) = socket.read(&mut buf[filled..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    filled += n;
                    let text = String::from_utf8_lossy(&buf[..filled]).into_owned();
                    let Some(split) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = text[..split]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if filled < split + 4 + length {
                        continue;
                    }
                    let request: serde_json::Value =
                        serde_json::from_slice(&buf[split + 4..split + 4 + length])
                            .unwrap_or_default();
                    let rid = "rid-bench";
                    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
                    let body = serde_json::json!({"valid": true, "code": "VALID", "detail": "The license is valid.",
                        "in_grace": false, "next_action": null, "license": {"id": "l-1"}, "machine": null,
                        "meta": {"request_id": rid, "ts": 1, "nonce": request["nonce"]}})
                    .to_string();
                    let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(body.as_bytes()));
                    let message = format!("licensor-response-v1\n{rid}\n{date}\n{digest}");
                    let sig = URL_SAFE_NO_PAD.encode(key.sign(message.as_bytes()).to_bytes());
                    let kid = "b4bd9412f7f3135a";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                         x-request-id: {rid}\r\ndate: {date}\r\n\
                         licensor-signature: kid=\"{kid}\", alg=\"ed25519\", sig=\"{sig}\"\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                    buf.copy_within(split + 4 + length..filled, 0);
                    filled -= split + 4 + length;
                }
            });
        }
    });
    addr
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = serve().await;
    let url = format!("http://{addr}");
    let keys = Keys::from_key_set_json(include_str!("../../../tests/vectors/keys.json")).unwrap();
    let client = Client::new(&url, "bench-app", keys);
    let raw = reqwest::Client::new();
    let body =
        serde_json::json!({"key": "44GJ2-89144-GJ289-144GJ-28914", "fingerprint": "fp-bench",
        "product": "bench-app", "nonce": "n"})
        .to_string();
    let (mut with_client, mut bare) = (Vec::new(), Vec::new());
    for round in 0..6_000 {
        if round % 2 == 0 {
            let start = Instant::now();
            let result = client
                .validate("44GJ2-89144-GJ289-144GJ-28914", "fp-bench", &[])
                .await
                .unwrap();
            assert!(result.valid);
            with_client.push(start.elapsed());
        } else {
            let start = Instant::now();
            let res = raw
                .post(format!("{url}/api/v1/licenses/validate"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let _ = res.bytes().await.unwrap();
            bare.push(start.elapsed());
        }
    }
    let (c, b) = (median(with_client), median(bare));
    println!(
        "online validation: client {:.1} us, bare HTTP round trip {:.1} us, the client's own work {:.1} us (target < 50 us)",
        c.as_secs_f64() * 1e6,
        b.as_secs_f64() * 1e6,
        c.saturating_sub(b).as_secs_f64() * 1e6
    );
}
