//! Load scenarios for Licensor, on goose.
//!
//! ```text
//! licensor-load run <scenario> [--users N] [--secs S] [--rate R [--paced]]
//! licensor-load compare <a> <b> [--users N] [--secs S] [--rate R [--paced]] [--rounds K]
//! ```
//!
//! Scenarios: `healthz`; `warm` (every seeded key validated once, in
//! order, then stop: fills the server's license cache before a measured
//! run); `validate` (a random seeded key with its machine);
//! `validate-nolimit` (the same, named apart for A/B runs against a server
//! with the rate limiter off); `activate` (a new machine on a random seeded
//! license); `activate-one` (a new machine on the first seeded license:
//! with `licensor seed --first-license-machines N`, a license with N live
//! machines); `validate-one` (one of the first license's machines, at
//! random: `LOAD_PRODUCT` and `LOAD_FIRST_LICENSE_MACHINES` from the seed);
//! `onboard` (a license assigned through the API, a machine
//! activated with its key, then validated: each step and the assignment to
//! activation time); `signin` (the portal's sign-in form, with its CSRF
//! token).
//!
//! `run` reports throughput and p50/p95/p99 per request and transaction.
//! `compare` alternates A and B `--rounds` times (three by default) and
//! reports each round and the median ratio of B to A, since these machines
//! drift between runs. `--rate` holds a fixed request rate (goose's
//! throttle, which frees the requests of each 10 ms at once) instead of as
//! fast as the users go; with `--paced` (healthz and validate) each user
//! keeps its own evenly spaced schedule instead, and the report counts the
//! requests that started late.
//!
//! The environment says where and with what (`licensor seed` prints it):
//! `LOAD_HOST` (http://127.0.0.1:8080), `LOAD_KEYS_FILE` (`KEY FINGERPRINT`
//! lines), `LOAD_API_TOKEN` and `LOAD_LICENSE_TYPE_ID` (onboard),
//! `LOAD_SIGNIN_EMAIL` and `LOAD_SIGNIN_PASSWORD` (signin).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use goose::config::GooseConfiguration;
use goose::goose::{GooseResponse, TransactionName};
use goose::metrics::{GooseMetrics, GooseRequestMetricTimingData};
use goose::prelude::*;
use rand::Rng;

/// Seeded `(key, fingerprint)` pairs.
static KEYS: OnceLock<Vec<(String, String)>> = OnceLock::new();
/// Makes fingerprints and emails unique across users and iterations.
static SERIAL: AtomicU64 = AtomicU64::new(0);
/// The next key of the warm-up pass.
static WARM: AtomicU64 = AtomicU64::new(0);

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("set {name} (see `licensor seed`)"))
}

fn keys() -> &'static [(String, String)] {
    KEYS.get().map_or(&[], Vec::as_slice)
}

fn load_keys() -> anyhow::Result<()> {
    let path = env("LOAD_KEYS_FILE")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let pairs: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, f)| (k.to_owned(), f.to_owned()))
        .collect();
    if pairs.is_empty() {
        bail!("{path} holds no `KEY FINGERPRINT` lines");
    }
    let _ = KEYS.set(pairs);
    Ok(())
}

fn random_key() -> &'static (String, String) {
    let keys = keys();
    &keys[rand::rng().random_range(0..keys.len())]
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads the whole body (so the connection is reused) and checks it.
async fn expect(
    user: &mut GooseUser,
    mut goose: GooseResponse,
    status: u16,
    needle: &str,
) -> Result<String, Box<TransactionError>> {
    let response = match goose.response {
        Ok(r) => r,
        Err(e) => {
            return user
                .set_failure(&e.to_string(), &mut goose.request, None, None)
                .map(|()| String::new());
        }
    };
    let got = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    if got != status || !body.contains(needle) {
        let why = format!("expected {status} with {needle}, got {got}: {body:.200}");
        user.set_failure(&why, &mut goose.request, None, Some(&body))?;
    }
    Ok(body)
}

async fn post_json(
    user: &mut GooseUser,
    name: &str,
    path: &str,
    body: &serde_json::Value,
    bearer: Option<&str>,
) -> Result<GooseResponse, Box<TransactionError>> {
    let mut builder = user
        .get_request_builder(&GooseMethod::Post, path)?
        .json(body);
    if let Some(token) = bearer {
        builder = builder.bearer_auth(token);
    }
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(path)
        .name(name)
        .set_request_builder(builder)
        .build();
    user.request(request).await
}

/// Under `--rate --paced`: the time between one user's requests in
/// nanoseconds (users / rate; 0 when not paced).
static INTERVAL_NS: AtomicU64 = AtomicU64::new(0);
/// How many users the paced run has (spreads their first slots).
static USERS: AtomicU64 = AtomicU64::new(1);
/// Users that have taken their first slot.
static PACED: AtomicU64 = AtomicU64::new(0);
/// Paced requests that started more than [`LATE_AFTER`] after their slot.
static LATE: AtomicU64 = AtomicU64::new(0);
/// tokio's timer wakes on whole milliseconds: a start within two of its
/// slot is on time.
const LATE_AFTER: Duration = Duration::from_millis(2);

/// A user's next slot under `--paced`.
#[derive(Clone)]
struct Slot(tokio::time::Instant);

/// Under `--paced`, waits for this user's next slot: each user sends one
/// request per interval and the users' slots are spread evenly over it, so
/// the server sees a steady stream (goose's throttle instead frees a
/// hundredth of a second's requests at once every 10 ms). A user behind its
/// schedule sends at once and the start counts as late: latencies are timed
/// from the send, so many late starts would hide queueing.
async fn pace(user: &mut GooseUser) {
    let interval = Duration::from_nanos(INTERVAL_NS.load(Ordering::Relaxed));
    if interval.is_zero() {
        return;
    }
    let next = match user.get_session_data_mut::<Slot>() {
        Some(slot) => {
            slot.0 += interval;
            slot.0
        }
        None => {
            let users = USERS.load(Ordering::Relaxed).max(1);
            let n = PACED.fetch_add(1, Ordering::Relaxed) % users;
            let first = tokio::time::Instant::now() + interval.mul_f64(n as f64 / users as f64);
            user.set_session_data(Slot(first));
            first
        }
    };
    if tokio::time::Instant::now() > next + LATE_AFTER {
        LATE.fetch_add(1, Ordering::Relaxed);
    }
    tokio::time::sleep_until(next).await;
}

async fn healthz(user: &mut GooseUser) -> TransactionResult {
    pace(user).await;
    let goose = user.get("/healthz").await?;
    expect(user, goose, 200, "ok").await?;
    Ok(())
}

async fn validate(user: &mut GooseUser) -> TransactionResult {
    pace(user).await;
    let (key, fingerprint) = random_key();
    let body = serde_json::json!({ "key": key, "fingerprint": fingerprint });
    let goose = post_json(user, "validate", "/api/v1/licenses/validate", &body, None).await?;
    expect(user, goose, 200, "\"code\":\"VALID\"").await?;
    Ok(())
}

/// One validation of each seeded key in turn (the warm-up pass).
async fn validate_next(user: &mut GooseUser) -> TransactionResult {
    let keys = keys();
    let i = usize::try_from(WARM.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
    let Some((key, fingerprint)) = keys.get(i) else {
        return Ok(());
    };
    let body = serde_json::json!({ "key": key, "fingerprint": fingerprint });
    let goose = post_json(user, "validate", "/api/v1/licenses/validate", &body, None).await?;
    expect(user, goose, 200, "\"code\":\"VALID\"").await?;
    Ok(())
}

async fn activate(user: &mut GooseUser) -> TransactionResult {
    let (key, _) = random_key();
    let body = serde_json::json!({ "key": key, "fingerprint": unique("act") });
    let goose = post_json(user, "activate", "/api/v1/machines/activate", &body, None).await?;
    expect(user, goose, 201, "\"machine\"").await?;
    Ok(())
}

/// A new machine on the first seeded license.
async fn activate_first(user: &mut GooseUser) -> TransactionResult {
    let Some((key, _)) = keys().first() else {
        return Ok(());
    };
    let body = serde_json::json!({ "key": key, "fingerprint": unique("one") });
    let goose = post_json(user, "activate", "/api/v1/machines/activate", &body, None).await?;
    expect(user, goose, 201, "\"machine\"").await?;
    Ok(())
}

/// One of the first seeded license's machines, at random: `licensor seed`
/// names them `load-PRODUCT-0` and `load-PRODUCT-0-J`.
async fn validate_first(user: &mut GooseUser) -> TransactionResult {
    let Some((key, first)) = keys().first() else {
        return Ok(());
    };
    let machines: u32 = std::env::var("LOAD_FIRST_LICENSE_MACHINES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let product = std::env::var("LOAD_PRODUCT").unwrap_or_default();
    let fingerprint = match rand::rng().random_range(0..machines.max(1)) {
        0 => first.clone(),
        j => format!("load-{product}-0-{}", j - 1),
    };
    let body = serde_json::json!({ "key": key, "fingerprint": fingerprint });
    let goose = post_json(user, "validate", "/api/v1/licenses/validate", &body, None).await?;
    expect(user, goose, 200, "\"code\":\"VALID\"").await?;
    Ok(())
}

/// Assignment through the vendor API, then activation with the new key:
/// the transaction's time is the assignment-to-activation time.
async fn assign_and_activate(user: &mut GooseUser) -> TransactionResult {
    let token = std::env::var("LOAD_API_TOKEN").unwrap_or_default();
    let license_type = std::env::var("LOAD_LICENSE_TYPE_ID").unwrap_or_default();
    let email = format!("{}@load.example.com", unique("buyer"));
    let body = serde_json::json!({ "license_type_id": license_type, "email": email });
    let goose = post_json(user, "assign", "/api/v1/licenses", &body, Some(&token)).await?;
    let created = expect(user, goose, 201, "\"key\"").await?;
    let Some(key) = serde_json::from_str::<serde_json::Value>(&created)
        .ok()
        .and_then(|v| v["key"].as_str().map(str::to_owned))
    else {
        return Ok(());
    };
    let fingerprint = unique("onboard");
    let body = serde_json::json!({ "key": key, "fingerprint": fingerprint });
    let goose = post_json(user, "activate", "/api/v1/machines/activate", &body, None).await?;
    expect(user, goose, 201, "\"machine\"").await?;
    let body = serde_json::json!({ "key": key, "fingerprint": fingerprint });
    let goose = post_json(
        user,
        "validate new",
        "/api/v1/licenses/validate",
        &body,
        None,
    )
    .await?;
    expect(user, goose, 200, "\"code\":\"VALID\"").await?;
    Ok(())
}

async fn sign_in(user: &mut GooseUser) -> TransactionResult {
    let email = std::env::var("LOAD_SIGNIN_EMAIL").unwrap_or_default();
    let password = std::env::var("LOAD_SIGNIN_PASSWORD").unwrap_or_default();
    let goose = user.get_named("/login", "sign-in form").await?;
    let page = expect(user, goose, 200, "name=\"csrf\"").await?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let form = [
        ("csrf", csrf.as_str()),
        ("email", email.as_str()),
        ("password", password.as_str()),
    ];
    let builder = user
        .get_request_builder(&GooseMethod::Post, "/login")?
        .form(&form);
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path("/login")
        .name("sign in")
        .expect_status_code(303)
        .set_request_builder(builder)
        .build();
    let goose = user.request(request).await?;
    expect(user, goose, 303, "").await?;
    Ok(())
}

/// Sign-ins keep their own cookie jar and see the 303 itself.
async fn no_redirects(user: &mut GooseUser) -> TransactionResult {
    let builder = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none());
    user.set_client_builder(builder).await?;
    Ok(())
}

fn scenario(name: &str) -> anyhow::Result<Scenario> {
    Ok(match name {
        "healthz" => scenario!("healthz").register_transaction(transaction!(healthz)),
        "validate" | "validate-nolimit" => {
            load_keys()?;
            scenario!("validate").register_transaction(transaction!(validate))
        }
        "warm" => {
            load_keys()?;
            scenario!("warm").register_transaction(transaction!(validate_next))
        }
        "activate" => {
            load_keys()?;
            scenario!("activate").register_transaction(transaction!(activate))
        }
        "activate-one" => {
            load_keys()?;
            scenario!("activate-one").register_transaction(transaction!(activate_first))
        }
        "validate-one" => {
            load_keys()?;
            env("LOAD_PRODUCT")?;
            env("LOAD_FIRST_LICENSE_MACHINES")?;
            scenario!("validate-one").register_transaction(transaction!(validate_first))
        }
        "onboard" => {
            env("LOAD_API_TOKEN")?;
            env("LOAD_LICENSE_TYPE_ID")?;
            scenario!("onboard").register_transaction(
                transaction!(assign_and_activate).set_name("assign to activation"),
            )
        }
        "signin" => {
            env("LOAD_SIGNIN_EMAIL")?;
            env("LOAD_SIGNIN_PASSWORD")?;
            scenario!("signin")
                .register_transaction(transaction!(no_redirects).set_on_start())
                .register_transaction(transaction!(sign_in).set_name("sign in"))
        }
        other => bail!("unknown scenario {other}"),
    })
}

#[derive(Debug, Clone)]
struct Options {
    users: usize,
    secs: usize,
    rate: Option<usize>,
    /// `--rate` as evenly spaced requests instead of goose's throttle.
    paced: bool,
    rounds: usize,
}

/// One row of a report: what was timed and its figures.
#[derive(Debug, Clone)]
struct Row {
    name: String,
    count: usize,
    failed: usize,
    per_sec: f64,
    p50_us: u64,
    p95_us: u64,
    p99_us: u64,
}

impl Row {
    fn new(name: String, data: &GooseRequestMetricTimingData, failed: usize, secs: f64) -> Self {
        Self {
            name,
            count: data.counter,
            failed,
            per_sec: data.counter as f64 / secs.max(1.0),
            p50_us: data.percentile_us(0.50),
            p95_us: data.percentile_us(0.95),
            p99_us: data.percentile_us(0.99),
        }
    }

    fn print(&self) {
        println!(
            "  {:<28} {:>9} {:>7} {:>10.1} {:>9.2} {:>9.2} {:>9.2}",
            self.name,
            self.count,
            self.failed,
            self.per_sec,
            self.p50_us as f64 / 1000.0,
            self.p95_us as f64 / 1000.0,
            self.p99_us as f64 / 1000.0,
        );
    }
}

struct Outcome {
    rows: Vec<Row>,
    /// Requests per second over every request of the run.
    throughput: f64,
    failed: usize,
    /// Under `--paced`: requests that started late.
    late: Option<u64>,
}

impl Outcome {
    fn late(&self) -> String {
        self.late
            .map_or(String::new(), |n| format!(", {n} started late"))
    }
}

async fn attack(host: &str, name: &str, o: &Options) -> anyhow::Result<Outcome> {
    let mut attack = GooseAttack::initialize_with_config(GooseConfiguration::default())?
        .register_scenario(scenario(name)?)
        .set_default(GooseDefault::Host, host)?
        .set_default(GooseDefault::Users, o.users)?
        .set_default(GooseDefault::IncreaseRate, o.users.to_string().as_str())?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::NoErrorSummary, true)?
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::Quiet, 1)?;
    if name == "warm" {
        // Every key once, then stop: as many iterations as that takes.
        attack = attack.set_default(
            GooseDefault::Iterations,
            keys().len().div_ceil(o.users.max(1)),
        )?;
    } else {
        attack = attack.set_default(GooseDefault::RunTime, o.secs)?;
    }
    let mut interval = Duration::ZERO;
    match o.rate {
        Some(rate) if o.paced => {
            interval = Duration::from_secs_f64(o.users as f64 / rate.max(1) as f64);
        }
        Some(rate) => attack = attack.set_default(GooseDefault::ThrottleRequests, rate)?,
        None => {}
    }
    INTERVAL_NS.store(
        u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    USERS.store(o.users as u64, Ordering::Relaxed);
    PACED.store(0, Ordering::Relaxed);
    LATE.store(0, Ordering::Relaxed);
    let metrics: GooseMetrics = attack.execute().await?;
    let late = o.paced.then(|| LATE.load(Ordering::Relaxed));
    let secs = metrics.duration as f64;
    let mut rows = Vec::new();
    let mut total = 0;
    let mut failed = 0;
    let mut requests: Vec<_> = metrics.requests.iter().collect();
    requests.sort_by(|a, b| a.0.cmp(b.0));
    for (key, request) in requests {
        total += request.raw_data.counter;
        failed += request.fail_count;
        rows.push(Row::new(
            key.clone(),
            &request.raw_data,
            request.fail_count,
            secs,
        ));
    }
    for scenario in &metrics.transactions {
        for t in scenario {
            let (TransactionName::InheritNameByRequests(name)
            | TransactionName::TransactionOnly(name)) = &t.transaction_name;
            if t.run_times.counter == 0 || name.is_empty() {
                continue;
            }
            rows.push(Row::new(
                format!("tx {name}"),
                &t.run_times,
                t.fail_count,
                secs,
            ));
        }
    }
    Ok(Outcome {
        rows,
        throughput: total as f64 / secs.max(1.0),
        failed,
        late,
    })
}

fn header() {
    println!(
        "  {:<28} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9}",
        "request", "count", "failed", "per sec", "p50 ms", "p95 ms", "p99 ms"
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run(host: &str, name: &str, o: &Options) -> anyhow::Result<()> {
    println!(
        "{name}: {} users, {} s{}",
        o.users,
        o.secs,
        o.rate
            .map_or(String::new(), |r| format!(", {r} requests/s"))
    );
    let started = Instant::now();
    let outcome = attack(host, name, o).await?;
    header();
    for row in &outcome.rows {
        row.print();
    }
    println!(
        "  throughput {:.1} requests/s, {} failed{} ({:.1} s)",
        outcome.throughput,
        outcome.failed,
        outcome.late(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn compare(host: &str, a: &str, b: &str, o: &Options) -> anyhow::Result<()> {
    let mut throughput = Vec::new();
    let mut p99 = Vec::new();
    for round in 1..=o.rounds {
        let mut pair = Vec::new();
        for name in [a, b] {
            let outcome = attack(host, name, o).await?;
            let first = outcome.rows.first().cloned();
            println!(
                "round {round} {name:<18} {:>10.1} requests/s  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  failed {}{}",
                outcome.throughput,
                first.as_ref().map_or(0.0, |r| r.p50_us as f64 / 1000.0),
                first.as_ref().map_or(0.0, |r| r.p95_us as f64 / 1000.0),
                first.as_ref().map_or(0.0, |r| r.p99_us as f64 / 1000.0),
                outcome.failed,
                outcome.late(),
            );
            pair.push((outcome.throughput, first.map_or(0, |r| r.p99_us)));
        }
        throughput.push(pair[1].0 / pair[0].0);
        p99.push(pair[1].1 as f64 / pair[0].1.max(1) as f64);
    }
    println!(
        "{b} / {a}: throughput ratios {:?}, median {:.3}; p99 ratios {:?}, median {:.3}",
        throughput
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>(),
        median(throughput.clone()),
        p99.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>(),
        median(p99.clone()),
    );
    Ok(())
}

fn parse(args: &[String]) -> anyhow::Result<(Vec<String>, Options)> {
    let mut positional = Vec::new();
    let mut o = Options {
        users: 64,
        secs: 10,
        rate: None,
        paced: false,
        rounds: 3,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| -> anyhow::Result<usize> {
            it.next()
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("{flag} takes a whole number"))
        };
        match arg.as_str() {
            "--users" => o.users = value("--users")?,
            "--secs" => o.secs = value("--secs")?,
            "--rate" => o.rate = Some(value("--rate")?),
            "--rounds" => o.rounds = value("--rounds")?.max(1),
            "--paced" => o.paced = true,
            flag if flag.starts_with("--") => bail!("unknown option {flag}"),
            _ => positional.push(arg.clone()),
        }
    }
    Ok((positional, o))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (positional, options) = parse(&args)?;
    let host = std::env::var("LOAD_HOST").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    match positional.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["run", name] => run(&host, name, &options).await,
        ["compare", a, b] => compare(&host, a, b, &options).await,
        _ => bail!(
            "usage: licensor-load run <scenario> | compare <a> <b> [--users N] [--secs S] [--rate R [--paced]] [--rounds K]"
        ),
    }
}
