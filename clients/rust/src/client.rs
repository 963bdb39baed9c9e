//! The async client: the same model, names and state file as the Python
//! and TypeScript clients (docs/clients.md).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::error::{Error, ErrorKind, NextAction};
use crate::state::{SignedAnswer, StateFile};
use crate::{Keys, verify_license_file};
use licensor_verify::{CLOCK_TOLERANCE_SECS, verify_response};

/// Codes after which the kept offline grace is dropped.
const ENDS_GRACE: &[&str] = &[
    "NOT_FOUND",
    "PRODUCT_MISMATCH",
    "REVOKED",
    "SUSPENDED",
    "EXPIRED",
    "NOT_ACTIVATED",
    "HEARTBEAT_DEAD",
];

/// A validation's verdict: the server's signed answer, or offline
/// (`offline`) the kept machine file's verdict now, good until `deadline`.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub valid: bool,
    pub code: String,
    pub detail: String,
    pub in_grace: bool,
    pub next_action: Option<NextAction>,
    pub license: Option<Value>,
    pub machine: Option<Value>,
    pub request_id: Option<String>,
    pub offline: bool,
    pub deadline: Option<i64>,
}

impl Validation {
    fn offline_refusal(code: &str, detail: &str) -> Self {
        Self {
            valid: false,
            code: code.to_owned(),
            detail: detail.to_owned(),
            in_grace: false,
            next_action: None,
            license: None,
            machine: None,
            request_id: None,
            offline: true,
            deadline: None,
        }
    }
}

/// An answer of the machine endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineAnswer {
    pub machine: Value,
    pub license: Value,
    pub machine_file: Option<String>,
    pub next_heartbeat_before: Option<i64>,
    pub created: bool,
    pub request_id: Option<String>,
}

struct Answer {
    status: u16,
    body: Vec<u8>,
    request_id: String,
    date: String,
    signature: Option<String>,
    retry_after: Option<u64>,
}

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A Licensor client for one product, with the vendor's pinned keys.
#[derive(Clone)]
pub struct Client {
    base_url: String,
    product: String,
    keys: Keys,
    state: Option<StateFile>,
    http: reqwest::Client,
    retries: u32,
    max_skew_secs: i64,
    clock: Clock,
}

impl Client {
    /// A client with a 10 s timeout per request, 3 retries and no offline
    /// grace (see [`with_state_path`](Self::with_state_path)).
    pub fn new(base_url: &str, product: &str, keys: Keys) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            product: product.to_owned(),
            keys,
            state: None,
            http: http_client(Duration::from_secs(10)),
            retries: 3,
            max_skew_secs: CLOCK_TOLERANCE_SECS,
            clock: Arc::new(unix_now),
        }
    }

    /// Keeps the offline grace in this file.
    pub fn with_state_path(mut self, path: impl AsRef<Path>) -> Self {
        self.state = Some(StateFile::new(path.as_ref()));
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http = http_client(timeout);
        self
    }

    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The largest distance between an answer's Date and this clock.
    pub fn with_max_skew_secs(mut self, secs: i64) -> Self {
        self.max_skew_secs = secs;
        self
    }

    /// The clock (unix seconds) the offline checks read.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Asks the server, with a fresh nonce; offline, answers from the kept
    /// grace until its deadline.
    pub async fn validate(
        &self,
        key: &str,
        fingerprint: &str,
        entitlements: &[&str],
    ) -> Result<Validation, Error> {
        let nonce = nonce()?;
        let mut body = json!({"key": key, "fingerprint": fingerprint, "product": self.product, "nonce": nonce});
        if !entitlements.is_empty() {
            body["entitlements"] = json!(entitlements);
        }
        let answer = match self.post("/api/v1/licenses/validate", &body).await {
            Ok(answer) => answer,
            Err(e) if e.kind == ErrorKind::Unreachable => {
                return self.offline(key, fingerprint, entitlements, e);
            }
            Err(e) => return Err(e),
        };
        let data = self.checked(&answer, &nonce)?;
        let result = Validation {
            valid: data["valid"] == json!(true),
            code: data["code"].as_str().unwrap_or_default().to_owned(),
            detail: data["detail"].as_str().unwrap_or_default().to_owned(),
            in_grace: data["in_grace"] == json!(true),
            next_action: serde_json::from_value(data["next_action"].clone()).ok(),
            license: Some(data["license"].clone()).filter(|l| !l.is_null()),
            machine: Some(data["machine"].clone()).filter(|m| !m.is_null()),
            request_id: Some(answer.request_id.clone()),
            offline: false,
            deadline: None,
        };
        self.remember(key, fingerprint, &answer, &result)?;
        self.ensure_machine_file(key, fingerprint, &result).await;
        Ok(result)
    }

    /// A machine valid online but with no machine file kept (activated by
    /// another program, or the state file was lost) fetches one:
    /// activating an active machine takes no second seat and answers its
    /// file, which the offline grace needs. A failure leaves the grace for
    /// the next validation; the verdict stands.
    async fn ensure_machine_file(&self, key: &str, fingerprint: &str, result: &Validation) {
        let Some(state_file) = &self.state else {
            return;
        };
        if result.valid && state_file.load(key, fingerprint).machine_file.is_none() {
            let _ = self.activate(key, fingerprint, None, None).await;
        }
    }

    /// Activates this machine (again: no second seat) and keeps its
    /// machine file for offline use.
    pub async fn activate(
        &self,
        key: &str,
        fingerprint: &str,
        name: Option<&str>,
        platform: Option<&str>,
    ) -> Result<MachineAnswer, Error> {
        let nonce = nonce()?;
        let mut body = json!({"key": key, "fingerprint": fingerprint, "product": self.product, "nonce": nonce});
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        if let Some(platform) = platform {
            body["platform"] = json!(platform);
        }
        let answer = self.post("/api/v1/machines/activate", &body).await?;
        let result = self.machine_answer(&answer, &nonce)?;
        if let (Some(file), Some(state_file)) = (&result.machine_file, &self.state) {
            let mut state = state_file.load(key, fingerprint);
            state.machine_file = Some(file.clone());
            state.latest_seen = state.latest_seen.max(answer_time(&answer));
            state_file.save(&state)?;
        }
        Ok(result)
    }

    /// Frees this machine's seat; its offline grace goes with it.
    pub async fn deactivate(&self, key: &str, fingerprint: &str) -> Result<MachineAnswer, Error> {
        let nonce = nonce()?;
        let body = json!({"key": key, "fingerprint": fingerprint, "nonce": nonce});
        let answer = self.post("/api/v1/machines/deactivate", &body).await?;
        let result = self.machine_answer(&answer, &nonce)?;
        if let Some(state_file) = &self.state {
            let mut state = state_file.load(key, fingerprint);
            state.answer = None;
            state.machine_file = None;
            state_file.save(&state)?;
        }
        Ok(result)
    }

    /// Keeps a floating seat: call before `next_heartbeat_before`.
    pub async fn heartbeat(&self, key: &str, fingerprint: &str) -> Result<MachineAnswer, Error> {
        let nonce = nonce()?;
        let body = json!({"key": key, "fingerprint": fingerprint, "nonce": nonce});
        let answer = self.post("/api/v1/machines/heartbeat", &body).await?;
        self.machine_answer(&answer, &nonce)
    }

    /// Heartbeats on a tokio task, each halfway to the previous answer's
    /// deadline, until [`Heartbeats::stop`].
    pub fn spawn_heartbeats(&self, key: &str, fingerprint: &str) -> Heartbeats {
        Heartbeats::spawn(self.clone(), key.to_owned(), fingerprint.to_owned())
    }

    fn offline(
        &self,
        key: &str,
        fingerprint: &str,
        entitlements: &[&str],
        unreachable: Error,
    ) -> Result<Validation, Error> {
        let Some(state_file) = &self.state else {
            return Err(unreachable);
        };
        let mut state = state_file.load(key, fingerprint);
        let Some(machine_file) = state.machine_file.clone() else {
            return Err(Error::unreachable(format!(
                "{}; no offline grace is kept for this machine (activate it online first)",
                unreachable.detail
            )));
        };
        let now = self.now();
        if now.saturating_add(CLOCK_TOLERANCE_SECS) < state.latest_seen {
            return Ok(Validation::offline_refusal(
                "CLOCK_BEHIND",
                "This computer's clock is behind a time it has already seen: correct the clock, or connect.",
            ));
        }
        let license = state.answer.as_ref().and_then(|a| {
            let body = a.body()?;
            verify_response(&self.keys, &a.signature, &a.request_id, &a.date, &body).ok()?;
            let data: Value = serde_json::from_slice(&body).ok()?;
            Some(data["license"].clone()).filter(|l| !l.is_null())
        });
        let payload =
            match verify_license_file(&machine_file, &self.keys, Some(fingerprint), now, None) {
                Ok(payload) => payload,
                Err(refused) => {
                    return Ok(Validation::offline_refusal(
                        &refused.code().to_uppercase(),
                        &refused.to_string(),
                    ));
                }
            };
        state.latest_seen = state.latest_seen.max(now);
        state_file.save(&state)?;
        let missing: Vec<&str> = entitlements
            .iter()
            .copied()
            .filter(|e| !payload.entitlements.iter().any(|have| have == e))
            .collect();
        if !missing.is_empty() {
            let mut refused = Validation::offline_refusal(
                "ENTITLEMENT_MISSING",
                &format!("The license lacks {}.", missing.join(", ")),
            );
            refused.license = license;
            refused.deadline = payload.valid_until;
            return Ok(refused);
        }
        Ok(Validation {
            valid: true,
            code: "VALID".to_owned(),
            detail: "The license is valid (offline, from the machine file).".to_owned(),
            in_grace: payload.expires_at.is_some_and(|e| now >= e),
            next_action: None,
            license,
            machine: None,
            request_id: None,
            offline: true,
            deadline: payload.valid_until,
        })
    }

    fn remember(
        &self,
        key: &str,
        fingerprint: &str,
        answer: &Answer,
        result: &Validation,
    ) -> Result<(), Error> {
        let Some(state_file) = &self.state else {
            return Ok(());
        };
        let mut state = state_file.load(key, fingerprint);
        state.latest_seen = state.latest_seen.max(answer_time(answer)).max(self.now());
        if result.valid {
            state.answer = Some(SignedAnswer::new(
                &answer.body,
                &answer.request_id,
                &answer.date,
                answer.signature.as_deref().unwrap_or_default(),
            ));
        } else if ENDS_GRACE.contains(&result.code.as_str()) {
            state.answer = None;
            state.machine_file = None;
        }
        state_file.save(&state)
    }

    /// The body of a signed answer, once its signature, Date and nonce hold.
    fn checked(&self, answer: &Answer, nonce: &str) -> Result<Value, Error> {
        let rid = answer.request_id.as_str();
        let Some(signature) = answer.signature.as_deref() else {
            return Err(Error::rejected(
                "missing_signature",
                "the answer is not signed",
                rid,
            ));
        };
        verify_response(&self.keys, signature, rid, &answer.date, &answer.body)
            .map_err(|e| Error::rejected(e.code(), e.to_string(), rid))?;
        let when = httpdate::parse_http_date(&answer.date)
            .map_err(|_| Error::rejected("bad_date", "the answer's Date is unreadable", rid))?;
        let when = when
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let skew = when - self.now();
        if skew.abs() > self.max_skew_secs {
            return Err(Error::rejected(
                "date_skew",
                format!(
                    "the answer's Date is {skew} s from this machine's clock (more than {} s): a replayed answer, or a wrong clock",
                    self.max_skew_secs
                ),
                rid,
            ));
        }
        let data: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| Error::rejected("bad_answer", "the answer is not JSON", rid))?;
        if data["meta"]["nonce"].as_str() != Some(nonce) {
            return Err(Error::rejected(
                "nonce_mismatch",
                "the answer is not for this request",
                rid,
            ));
        }
        Ok(data)
    }

    fn machine_answer(&self, answer: &Answer, nonce: &str) -> Result<MachineAnswer, Error> {
        let data = self.checked(answer, nonce)?;
        Ok(MachineAnswer {
            machine: data["machine"].clone(),
            license: data["license"].clone(),
            machine_file: data["machine_file"].as_str().map(str::to_owned),
            next_heartbeat_before: data["next_heartbeat_before"].as_i64(),
            created: answer.status == 201,
            request_id: Some(answer.request_id.clone()),
        })
    }

    /// POSTs JSON, retrying on no answer, 5xx and 429 (honouring
    /// Retry-After); a 4xx is its problem document as an error.
    async fn post(&self, path: &str, body: &Value) -> Result<Answer, Error> {
        let url = format!("{}{path}", self.base_url);
        let mut last = Error::unreachable(format!("no answer from {}", self.base_url));
        for attempt in 0..=self.retries {
            let mut wait = Duration::from_millis(250 << attempt.min(6));
            match self.send(&url, body).await {
                Ok(answer) if (200..300).contains(&answer.status) => return Ok(answer),
                Ok(answer) if answer.status == 429 || answer.status >= 500 => {
                    if let Some(secs) = answer.retry_after {
                        wait = wait.max(Duration::from_secs(secs));
                    }
                    last = problem(&answer, ErrorKind::Unreachable);
                }
                Ok(answer) => return Err(problem(&answer, ErrorKind::Refused)),
                Err(e) => last = e,
            }
            if attempt < self.retries {
                tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
            }
        }
        Err(last)
    }

    async fn send(&self, url: &str, body: &Value) -> Result<Answer, Error> {
        let res = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Error::unreachable(format!("no answer from {url}: {e}")))?;
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = res.status().as_u16();
        let request_id = header("x-request-id").unwrap_or_default();
        let date = header("date").unwrap_or_default();
        let signature = header("licensor-signature");
        let retry_after = header("retry-after").and_then(|v| v.parse().ok());
        let body = res
            .bytes()
            .await
            .map_err(|e| Error::unreachable(format!("the answer from {url} broke off: {e}")))?
            .to_vec();
        Ok(Answer {
            status,
            body,
            request_id,
            date,
            signature,
            retry_after,
        })
    }
}

fn http_client(timeout: Duration) -> reqwest::Client {
    // ring as rustls's provider, once per process (an application's own
    // choice made earlier is kept).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent("licensor-client-rust/0.1")
        .build()
        .unwrap_or_default()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A fresh random nonce: an answer that echoes it answers this request.
fn nonce() -> Result<String, Error> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::state(format!("the OS random source failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn answer_time(answer: &Answer) -> i64 {
    httpdate::parse_http_date(&answer.date)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn problem(answer: &Answer, kind: ErrorKind) -> Error {
    let data: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let status = answer.status;
    Error {
        kind,
        code: data["code"]
            .as_str()
            .map_or_else(|| format!("http_{status}"), str::to_owned),
        detail: data["detail"]
            .as_str()
            .map_or_else(|| format!("the server answered {status}"), str::to_owned),
        status: Some(status),
        next_action: serde_json::from_value(data["next_action"].clone()).ok(),
        request_id: data["request_id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| Some(answer.request_id.clone()).filter(|r| !r.is_empty())),
    }
}

/// Heartbeats of one floating seat on a tokio task.
pub struct Heartbeats {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Option<Error>>,
}

impl Heartbeats {
    fn spawn(client: Client, key: String, fingerprint: String) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let mut wait = Duration::from_secs(30);
                let last_error = match client.heartbeat(&key, &fingerprint).await {
                    Ok(answer) => {
                        if let Some(before) = answer.next_heartbeat_before {
                            let half = (before - client.now()).max(2) / 2;
                            wait = Duration::from_secs(u64::try_from(half).unwrap_or(1));
                        }
                        None
                    }
                    Err(e) if e.code == "HEARTBEAT_DEAD" => return Some(e),
                    Err(e) => Some(e),
                };
                tokio::select! {
                    _ = stopped.changed() => return last_error,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        });
        Self { stop, task }
    }

    /// Stops after the heartbeat in flight; the last failure, if the last
    /// heartbeat failed.
    pub async fn stop(self) -> Option<Error> {
        let _ = self.stop.send(true);
        self.task.await.ok().flatten()
    }
}
