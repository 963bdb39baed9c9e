//! Load and concurrency, on both backends: many activations racing for a
//! few seats, and a bounded mixed load that must end with no 5xx, no error
//! in the log and no lost row. Latency figures are printed for the record;
//! the latency targets are measured by the benchmarks and the load tool
//! (docs/performance.md), not asserted in a debug build.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use licensor::config::Source;
use serde_json::json;

use crate::support::{TestApp, captured_log, spawn_app_with};

async fn unlimited_app() -> TestApp {
    spawn_app_with(
        |raw| {
            raw.set("api_rate_limit_ip", "0", Source::Default);
            raw.set("api_rate_limit_key", "0", Source::Default);
        },
        true,
    )
    .await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[tokio::test]
async fn five_hundred_concurrent_activations_take_exactly_ten_seats_every_time() {
    let app = unlimited_app().await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()
        .unwrap();
    let mut latencies = Vec::new();
    for round in 0..20 {
        let p = app.with_license(json!({ "max_machines": 10 })).await;
        let attempts = (0..500).map(|i| {
            let client = client.clone();
            let url = app.url("/api/v1/machines/activate");
            let body = json!({ "key": p.key, "fingerprint": format!("r{round}-m{i:03}") });
            async move {
                let started = Instant::now();
                let res = client.post(url).json(&body).send().await.unwrap();
                let status = res.status().as_u16();
                let code = res.json::<serde_json::Value>().await.unwrap()["code"]
                    .as_str()
                    .map(str::to_owned);
                (status, code, started.elapsed())
            }
        });
        let results = futures_util::future::join_all(attempts).await;
        let mut by_outcome: HashMap<(u16, Option<String>), usize> = HashMap::new();
        for (status, code, took) in results {
            *by_outcome.entry((status, code)).or_default() += 1;
            latencies.push(took);
        }
        assert_eq!(
            by_outcome.get(&(201, None)),
            Some(&10),
            "round {round}: {by_outcome:?}"
        );
        assert_eq!(
            by_outcome.get(&(409, Some("TOO_MANY_MACHINES".to_owned()))),
            Some(&490),
            "round {round}: {by_outcome:?}"
        );
        let (used,): (i64,) = sqlx::query_as("SELECT machines_used FROM licenses WHERE id = $1")
            .bind(&p.license_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        assert_eq!(used, 10);
    }
    latencies.sort();
    let p50 = percentile(&latencies, 0.5);
    let p99 = percentile(&latencies, 0.99);
    eprintln!(
        "500 concurrent activations x 20 ({}): p50 {p50:?}, p99 {p99:?}, max {:?}",
        if app.database.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        latencies.last().unwrap()
    );
    // The bound (p99 under 1 s) is for the release build at
    // rest; this debug build shares its two cores with the rest of the
    // suite, so the figure is printed here and measured in
    // docs/performance.md.

    // On SQLite the activations that met at the write lock shared commits
    // (store::batch), and every one of them was answered.
    if let Some(batch) = app.db.write_batch() {
        let (commits, jobs) = batch.stats();
        eprintln!("SQLite write batches: {jobs} activations in {commits} commits");
        assert!(jobs >= 200, "{jobs} activations reached the write lock");
        assert!(
            commits < jobs / 2,
            "{jobs} racing activations took {commits} commits"
        );
    }
}

#[tokio::test]
async fn a_sustained_mixed_load_ends_with_no_5xx_no_error_logs_and_no_lost_rows() {
    let app = unlimited_app().await;
    let p = app.with_license(json!({ "max_machines": 50 })).await;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(8);

    // Eight workers for a bounded time: activate, validate, deactivate,
    // heartbeat and portal page views, each counting what it did.
    let workers = (0..8).map(|w| {
        let client = client.clone();
        let base = app.address.clone();
        let key = p.key.clone();
        async move {
            let mut statuses: HashMap<u16, usize> = HashMap::new();
            let mut request_ids: Vec<String> = Vec::new();
            let mut active: Vec<String> = Vec::new();
            let mut i = 0usize;
            while Instant::now() < deadline {
                i += 1;
                let fingerprint = format!("w{w}-m{i}");
                let (path, body) = match i % 5 {
                    0 => ("/api/v1/machines/activate", json!({ "key": key, "fingerprint": fingerprint })),
                    1 | 2 => (
                        "/api/v1/licenses/validate",
                        json!({ "key": key, "fingerprint": active.last().cloned().unwrap_or_else(|| fingerprint.clone()) }),
                    ),
                    3 => match active.pop() {
                        Some(fp) => ("/api/v1/machines/deactivate", json!({ "key": key, "fingerprint": fp })),
                        None => ("/api/v1/licenses/validate", json!({ "key": key })),
                    },
                    _ => ("", json!(null)),
                };
                let res = if path.is_empty() {
                    client.get(format!("{base}/")).send().await.unwrap()
                } else {
                    client
                        .post(format!("{base}{path}"))
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                };
                if let Some(id) = res.headers().get("x-request-id") {
                    request_ids.push(id.to_str().unwrap().to_owned());
                }
                let status = res.status().as_u16();
                if path == "/api/v1/machines/activate" && status == 201 {
                    active.push(fingerprint);
                }
                *statuses.entry(status).or_default() += 1;
            }
            (statuses, active.len(), request_ids)
        }
    });
    let results = futures_util::future::join_all(workers).await;
    let mut totals: HashMap<u16, usize> = HashMap::new();
    let mut still_active = 0;
    let mut request_ids = std::collections::HashSet::new();
    for (statuses, active, ids) in results {
        for (s, n) in statuses {
            *totals.entry(s).or_default() += n;
        }
        still_active += active;
        request_ids.extend(ids);
    }
    let requests: usize = totals.values().sum();
    eprintln!("mixed load: {requests} requests in 8 s, by status {totals:?}");
    assert!(requests > 100, "the load ran: {totals:?}");
    assert!(
        totals.keys().all(|s| *s < 500),
        "no server errors: {totals:?}"
    );
    // Nothing lost: the seats in use are exactly the machines the workers
    // activated and did not deactivate, in both counts the database keeps.
    let (used,): (i64,) = sqlx::query_as("SELECT machines_used FROM licenses WHERE id = $1")
        .bind(&p.license_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let machines = app
        .number_for(
            "SELECT COUNT(*) FROM machines WHERE license_id = $1 AND deactivated_at IS NULL",
            &p.license_id,
        )
        .await;
    assert_eq!(used, i64::try_from(still_active).unwrap());
    assert_eq!(machines, used);
    // And none of its requests logged an error or a warning (the log is
    // shared by the tests running beside this one: requests are told
    // apart by their ids).
    assert_eq!(request_ids.len(), requests, "every answer has its id");
    let log = captured_log();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"level\":\"ERROR\"") || l.contains("\"level\":\"WARN\""))
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["span"]["request_id"].as_str().map(str::to_owned))
                .is_some_and(|id| request_ids.contains(&id))
        })
        .collect();
    assert!(errors.is_empty(), "errors logged: {errors:#?}");
}

/// `licensor seed` (what the load tool runs against): the seeded keys
/// validate with their fingerprints, and the token and license type it
/// prints provision more licenses through the API.
#[tokio::test]
async fn seeded_licenses_validate_and_the_printed_token_provisions() {
    let app = unlimited_app().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    let mut cmd = crate::cli::licensor(dir.path(), &app.database);
    cmd.env("LICENSOR_DATABASE_URL", &app.database.url)
        .env(
            "LICENSOR_SECRET_FILE",
            app._data_dir.path().join("secret.key"),
        )
        .args(["seed", "--licenses", "2500", "--product", "bench"])
        .arg("--keys-out")
        .arg(&keys);
    let out = cmd.output().expect("licensor seed runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["licenses"], 2500);
    assert_eq!(printed["product"], "bench");

    let lines: Vec<(String, String)> = std::fs::read_to_string(&keys)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, f) = l.split_once(' ').unwrap();
            (k.to_owned(), f.to_owned())
        })
        .collect();
    assert_eq!(lines.len(), 2500, "one line per license, over two batches");
    for (key, fingerprint) in [&lines[0], &lines[1999], &lines[2000], &lines[2499]] {
        let v = app
            .validate(json!({ "key": key, "fingerprint": fingerprint, "product": "bench" }))
            .await;
        assert_eq!(v["code"], "VALID", "{v}");
        assert_eq!(v["license"]["machines_used"], 1);
    }
    let token = printed["api_token"].as_str().unwrap();
    let res = app
        .post_json(
            "/api/v1/licenses",
            Some(token),
            &json!({ "license_type_id": printed["license_type_id"], "email": "more@example.com" }),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

    // The product code is taken now: a second seed says so and stops.
    let mut again = crate::cli::licensor(dir.path(), &app.database);
    again
        .env("LICENSOR_DATABASE_URL", &app.database.url)
        .args([
            "seed",
            "--licenses",
            "1",
            "--product",
            "bench",
            "--keys-out",
        ])
        .arg(dir.path().join("again.txt"));
    let out = again.output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("product"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
