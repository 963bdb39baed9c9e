//! Enumeration resistance, measured: how long sign-in, sign-up and password
//! reset take to answer for a registered email next to an unknown one. The
//! two are alternated request by request, so drift hits both alike.
//!
//! `cargo bench --bench enumeration` (a real server on loopback, SQLite,
//! rate limits off; prints medians, 90th percentiles and their ratio).

// A benchmark binary: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use licensor::config::{RawSettings, Source};
use licensor::startup::Application;

const ROUNDS: usize = 40;
const PASSWORD: &str = "a long enough passphrase";

struct Portal {
    base: String,
}

impl Portal {
    /// A fresh browser: its own cookie jar and CSRF token.
    async fn browser(&self) -> (reqwest::Client, String) {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = client
            .get(format!("{}/login", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).unwrap() + marker.len();
        let csrf = page[start..start + page[start..].find('"').unwrap()].to_owned();
        (client, csrf)
    }

    /// Posts a form from a fresh browser; the time of the POST alone.
    async fn timed_post(&self, path: &str, fields: &[(&str, &str)]) -> (Duration, u16) {
        let (client, csrf) = self.browser().await;
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let started = Instant::now();
        let res = client
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let _ = res.bytes().await.unwrap();
        (started.elapsed(), status)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(what: &str, known: &mut [Duration], unknown: &mut [Duration]) {
    known.sort();
    unknown.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (k50, u50) = (percentile(known, 0.5), percentile(unknown, 0.5));
    let (k90, u90) = (percentile(known, 0.9), percentile(unknown, 0.9));
    println!(
        "| {what} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |",
        ms(k50),
        ms(u50),
        ms(k90),
        ms(u90),
        ms(k50) / ms(u50)
    );
}

fn main() {
    licensor::tls::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut raw = RawSettings::default();
    raw.set("listen", "127.0.0.1:0", Source::Default);
    raw.set(
        "data_dir",
        dir.path().display().to_string(),
        Source::Default,
    );
    raw.set("log", "warn", Source::Default);
    for key in [
        "rate_limit_sign_in_ip",
        "rate_limit_sign_in_account",
        "rate_limit_sign_up_ip",
        "rate_limit_password_reset",
    ] {
        raw.set(key, "0", Source::Default);
    }
    let settings = raw.build().unwrap();
    runtime.block_on(async {
        let app = Application::builder(settings)
            .demo(true)
            .build()
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let portal = Portal { base };

        // Registered accounts: one per round, so no account collects the
        // three failures that start the sign-in delays.
        for i in 0..ROUNDS {
            let email = format!("known-{i}@example.com");
            let (_, status) = portal
                .timed_post(
                    "/signup",
                    &[
                        ("email", &email),
                        ("password", PASSWORD),
                        ("organization", "Known Ltd"),
                    ],
                )
                .await;
            assert_eq!(status, 200);
        }

        println!("| request | registered p50 ms | unknown p50 ms | registered p90 ms | unknown p90 ms | p50 ratio |");
        println!("|---|---|---|---|---|---|");
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            let k = format!("known-{i}@example.com");
            let u = format!("nobody-{i}@example.com");
            let wrong = "not the password, but long";
            let (t, s) = portal
                .timed_post("/login", &[("email", &k), ("password", wrong)])
                .await;
            assert_eq!(s, 401);
            known.push(t);
            let (t, s) = portal
                .timed_post("/login", &[("email", &u), ("password", wrong)])
                .await;
            assert_eq!(s, 401);
            unknown.push(t);
        }
        report("sign-in, wrong password", &mut known, &mut unknown);

        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            let k = format!("known-{i}@example.com");
            let u = format!("nobody-{i}@example.com");
            let (t, s) = portal.timed_post("/forgot-password", &[("email", &k)]).await;
            assert_eq!(s, 200);
            known.push(t);
            let (t, s) = portal.timed_post("/forgot-password", &[("email", &u)]).await;
            assert_eq!(s, 200);
            unknown.push(t);
        }
        report("password reset request", &mut known, &mut unknown);

        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            let k = format!("known-{i}@example.com");
            let u = format!("new-{i}@example.com");
            let fields = |email: &str| {
                [
                    ("email", email.to_owned()),
                    ("password", PASSWORD.to_owned()),
                    ("organization", "Org".to_owned()),
                ]
            };
            let f = fields(&k);
            let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (*a, b.as_str())).collect();
            let (t, s) = portal.timed_post("/signup", &f).await;
            assert_eq!(s, 200);
            known.push(t);
            let f = fields(&u);
            let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (*a, b.as_str())).collect();
            let (t, s) = portal.timed_post("/signup", &f).await;
            assert_eq!(s, 200);
            unknown.push(t);
        }
        report("sign-up", &mut known, &mut unknown);
    });
}
