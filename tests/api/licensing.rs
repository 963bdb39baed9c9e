//! The license engine through HTTP, as a vendor's application meets it.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{TestApp, spawn_app};

const DAY: i64 = 86_400;

/// Verifies `Licensor-Signature` as docs/api.md tells an application to.
async fn assert_signed(app: &TestApp, res: reqwest::Response) -> Value {
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let date = res.headers()["date"].to_str().unwrap().to_owned();
    let header = res.headers()["licensor-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = res.bytes().await.unwrap();
    let field = |name: &str| {
        header
            .split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix(&format!("{name}=\"")))
            .map(|v| v.trim_end_matches('"').to_owned())
            .unwrap()
    };
    let keys: Value = app
        .get("/.well-known/licensor-keys.json")
        .await
        .json()
        .await
        .unwrap();
    let public = STANDARD
        .decode(keys["keys"][field("kid")]["public_key"].as_str().unwrap())
        .unwrap();
    let key = VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
    let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(&body));
    let message = format!("licensor-response-v1\n{request_id}\n{date}\n{digest}");
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(field("sig"))
        .unwrap()
        .try_into()
        .unwrap();
    key.verify(message.as_bytes(), &Signature::from_bytes(&sig))
        .expect("the response signature verifies");
    assert_eq!(field("alg"), "ed25519");
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn a_vendor_provisions_activates_and_validates() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    assert_eq!(p.key.len(), 29);

    let res = app.activate(&p.key, "fp-1").await;
    assert_eq!(res.status(), 201);
    let activated = assert_signed(&app, res).await;
    assert_eq!(activated["machine"]["fingerprint"], "fp-1");
    assert_eq!(activated["machine"]["name"], "Workstation");
    assert_eq!(activated["license"]["machines_used"], 1);
    // The activation carries a machine file that verifies offline.
    let payload = app.assert_activation_file(&activated, "fp-1").await;
    assert_eq!(payload.license_id, p.license_id);
    assert_eq!(payload.kind, "machine");
    assert!(payload.valid_until.unwrap() > payload.file_issued_at);
    assert_eq!(payload.max_machines, 3);
    assert!(!activated["machine_file"].as_str().unwrap().contains(&p.key));

    let res = app
        .post_json(
            "/api/v1/licenses/validate",
            None,
            &json!({ "key": p.key.to_lowercase().replace('-', " "), "fingerprint": "fp-1",
                     "product": p.product_code, "entitlements": ["pro"], "nonce": "n-123" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v = assert_signed(&app, res).await;
    assert_eq!(v["valid"], true);
    assert_eq!(v["code"], "VALID");
    assert_eq!(v["next_action"], Value::Null);
    assert_eq!(v["meta"]["nonce"], "n-123");
    assert_eq!(v["license"]["id"], p.license_id.as_str());
    assert_eq!(v["license"]["entitlements"], json!(["export", "pro"]));
    assert_eq!(v["machine"]["fingerprint"], "fp-1");
    assert!(
        v.to_string().find(&p.key).is_none(),
        "the key is never echoed"
    );

    // The full key was shown once; reading the license shows only the last four.
    let detail: Value = app
        .get_json(&format!("/api/v1/licenses/{}", p.license_id), &p.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["license"]["key_last4"], &p.key[p.key.len() - 4..]);
    assert!(detail.to_string().find(&p.key).is_none());
    assert_eq!(detail["machines"].as_array().unwrap().len(), 1);
}

async fn code_of(app: &TestApp, body: Value) -> (String, Value) {
    let v = app.validate(body).await;
    (v["code"].as_str().unwrap().to_owned(), v)
}

#[tokio::test]
async fn every_validation_code_is_reached_through_http() {
    let app = spawn_app().await;
    let p = app.with_license(json!({ "grace_days": 2 })).await;
    assert_eq!(app.activate(&p.key, "fp-1").await.status(), 201);
    let key = p.key.as_str();

    let (code, v) = code_of(&app, json!({ "key": "not-a-key", "fingerprint": "fp-1" })).await;
    assert_eq!(code, "MALFORMED_KEY");
    assert_eq!(v["license"], Value::Null);
    assert!(
        v["next_action"]["message"]
            .as_str()
            .unwrap()
            .contains("typos")
    );

    // A typo in one character: the check character catches it.
    let mut typo: Vec<char> = key.chars().collect();
    typo[3] = if typo[3] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    assert_eq!(
        code_of(&app, json!({ "key": typo })).await.0,
        "MALFORMED_KEY"
    );

    let other = licensor::domain::license_key::LicenseKey::generate()
        .unwrap()
        .expose();
    let (code, v) = code_of(&app, json!({ "key": other, "fingerprint": "fp-1" })).await;
    assert_eq!(code, "NOT_FOUND");
    assert_eq!(v["license"], Value::Null);

    let (code, v) = code_of(
        &app,
        json!({ "key": key, "fingerprint": "fp-1", "product": "another" }),
    )
    .await;
    assert_eq!(code, "PRODUCT_MISMATCH");
    assert_eq!(
        v["license"]["id"],
        p.license_id.as_str(),
        "license present once found"
    );

    assert_eq!(
        code_of(&app, json!({ "key": key })).await.0,
        "FINGERPRINT_REQUIRED"
    );
    let (code, v) = code_of(&app, json!({ "key": key, "fingerprint": "fp-unknown" })).await;
    assert_eq!(code, "NOT_ACTIVATED");
    assert!(
        v["next_action"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/licenses/{}", p.license_id))
    );
    let (code, v) = code_of(
        &app,
        json!({ "key": key, "fingerprint": "fp-1", "entitlements": ["enterprise"] }),
    )
    .await;
    assert_eq!(code, "ENTITLEMENT_MISSING");
    assert_eq!(v["valid"], false);
    assert_eq!(
        code_of(&app, json!({ "key": key, "fingerprint": "fp-1" }))
            .await
            .0,
        "VALID"
    );

    let action = |name: &str| format!("/api/v1/licenses/{}/actions/{name}", p.license_id);
    let res = app
        .post_json(
            &action("suspend"),
            Some(&p.token),
            &json!({ "reason": "unpaid invoice" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        code_of(&app, json!({ "key": key, "fingerprint": "fp-1" }))
            .await
            .0,
        "SUSPENDED"
    );
    let res = app
        .post_json(&action("reinstate"), Some(&p.token), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        code_of(&app, json!({ "key": key, "fingerprint": "fp-1" }))
            .await
            .0,
        "VALID"
    );

    // Expiry, grace and the instants around them (30 days, 2 grace days).
    app.clock.advance_secs(30 * DAY - 1);
    let (code, v) = code_of(&app, json!({ "key": key, "fingerprint": "fp-1" })).await;
    assert_eq!(
        (code.as_str(), v["in_grace"].as_bool()),
        ("VALID", Some(false))
    );
    app.clock.advance_secs(1);
    let (code, v) = code_of(&app, json!({ "key": key, "fingerprint": "fp-1" })).await;
    assert_eq!(
        (code.as_str(), v["in_grace"].as_bool()),
        ("VALID", Some(true))
    );
    assert_eq!(v["license"]["in_grace"], true);
    app.clock.advance_secs(2 * DAY - 1);
    assert_eq!(
        code_of(&app, json!({ "key": key, "fingerprint": "fp-1" }))
            .await
            .1["in_grace"],
        true
    );
    app.clock.advance_secs(1);
    let (code, v) = code_of(&app, json!({ "key": key, "fingerprint": "fp-1" })).await;
    assert_eq!(code, "EXPIRED");
    assert!(
        v["next_action"]["message"]
            .as_str()
            .unwrap()
            .contains("Renew")
    );

    let res = app
        .post_json(&action("renew"), Some(&p.token), &json!({ "days": 30 }))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        code_of(&app, json!({ "key": key, "fingerprint": "fp-1" }))
            .await
            .0,
        "VALID"
    );

    let res = app
        .post_json(
            &action("revoke"),
            Some(&p.token),
            &json!({ "reason": "chargeback" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        code_of(&app, json!({ "key": key, "fingerprint": "fp-1" }))
            .await
            .0,
        "REVOKED"
    );
    let res = app
        .post_json(&action("reinstate"), Some(&p.token), &json!({}))
        .await;
    assert_eq!(res.status(), 409, "a revoked license stays revoked");
}

#[tokio::test]
async fn floating_seats_free_themselves_when_heartbeats_stop() {
    let app = spawn_app().await;
    let p = app
        .with_license(json!({ "floating": true, "heartbeat_window_secs": 600, "max_machines": 1 }))
        .await;
    assert_eq!(app.activate(&p.key, "fp-a").await.status(), 201);
    let beat = app
        .post_json(
            "/api/v1/machines/heartbeat",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-a" }),
        )
        .await;
    assert_eq!(beat.status(), 200);
    let beat = assert_signed(&app, beat).await;
    assert_eq!(beat["next_heartbeat_before"], app.clock_now() + 600);

    assert_eq!(
        app.activate(&p.key, "fp-b").await.status(),
        409,
        "the one seat is taken"
    );
    app.clock.advance_secs(601);
    let (code, _) = code_of(&app, json!({ "key": p.key, "fingerprint": "fp-a" })).await;
    assert_eq!(code, "HEARTBEAT_DEAD");
    let res = app
        .post_json(
            "/api/v1/machines/heartbeat",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-a" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "HEARTBEAT_DEAD");
    assert_eq!(
        app.activate(&p.key, "fp-b").await.status(),
        201,
        "the dead seat was freed"
    );
}

#[tokio::test]
async fn activation_is_idempotent_per_fingerprint_and_refuses_past_the_seats() {
    let app = spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 2 })).await;
    assert_eq!(app.activate(&p.key, "fp-1").await.status(), 201);
    let again = app.activate(&p.key, "fp-1").await;
    assert_eq!(
        again.status(),
        200,
        "the same fingerprint again takes no seat"
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["license"]["machines_used"], 1);
    assert_eq!(app.activate(&p.key, "fp-2").await.status(), 201);
    let refused = app.activate(&p.key, "fp-3").await;
    assert_eq!(refused.status(), 409);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "TOO_MANY_MACHINES");
    let url = problem["next_action"]["url"].as_str().unwrap();
    assert!(
        url.ends_with(&format!("/licenses/{}", p.license_id)),
        "{url}"
    );
    assert!(
        problem["next_action"]["message"]
            .as_str()
            .unwrap()
            .contains("Deactivate")
    );

    // Deactivating frees a seat.
    let res = app
        .post_json(
            "/api/v1/machines/deactivate",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-1" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = assert_signed(&app, res).await;
    assert_eq!(body["license"]["machines_used"], 1);
    assert!(body["machine"]["deactivated_at"].is_i64());
    assert_eq!(app.activate(&p.key, "fp-3").await.status(), 201);
    let res = app
        .post_json(
            "/api/v1/machines/deactivate",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-1" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "NOT_ACTIVATED");
}

#[tokio::test]
async fn the_deactivation_limit_stops_seat_rotation() {
    let app = spawn_app().await;
    let p = app
        .with_license(
            json!({ "max_machines": 1, "deactivation_limit": 2, "deactivation_period_days": 30 }),
        )
        .await;
    let deactivate = |fp: &'static str| {
        let body = json!({ "key": p.key, "fingerprint": fp });
        let app = &app;
        async move {
            app.post_json("/api/v1/machines/deactivate", None, &body)
                .await
        }
    };
    for fp in ["fp-1", "fp-2"] {
        assert_eq!(app.activate(&p.key, fp).await.status(), 201);
        assert_eq!(deactivate(fp).await.status(), 200);
    }
    assert_eq!(app.activate(&p.key, "fp-3").await.status(), 201);
    let res = deactivate("fp-3").await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "DEACTIVATION_LIMIT_REACHED"
    );
    app.clock.advance_secs(30 * DAY + 1);
    assert_eq!(
        deactivate("fp-3").await.status(),
        200,
        "the period rolls over"
    );

    let locked = app
        .with_license(json!({ "customer_may_deactivate": false }))
        .await;
    assert_eq!(app.activate(&locked.key, "fp-x").await.status(), 201);
    let res = app
        .post_json(
            "/api/v1/machines/deactivate",
            None,
            &json!({ "key": locked.key, "fingerprint": "fp-x" }),
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "DEACTIVATION_NOT_ALLOWED"
    );
}

#[tokio::test]
async fn the_term_can_start_at_first_activation() {
    let app = spawn_app().await;
    let p = app
        .with_license(json!({ "duration_days": 10, "expiry_from": "first_activation" }))
        .await;
    let detail: Value = app
        .get_json(&format!("/api/v1/licenses/{}", p.license_id), &p.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["license"]["expires_at"],
        Value::Null,
        "not started yet"
    );
    app.clock.advance_secs(5 * DAY);
    let res = app.activate(&p.key, "fp-1").await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["license"]["expires_at"], app.clock_now() + 10 * DAY);
}

#[tokio::test]
async fn two_hundred_concurrent_activations_take_exactly_five_seats() {
    // One client and one key send all 200: the rate limits are lifted, as
    // for a benchmark.
    let app = crate::support::spawn_app_with(
        |raw| {
            raw.set("api_rate_limit_ip", "0", licensor::config::Source::Default);
            raw.set("api_rate_limit_key", "0", licensor::config::Source::Default);
        },
        false,
    )
    .await;
    let p = app.with_license(json!({ "max_machines": 5 })).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let client = app.client.clone();
            let url = app.url("/api/v1/machines/activate");
            let key = p.key.clone();
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .json(&json!({ "key": key, "fingerprint": format!("fp-{i}") }))
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut created = 0;
    let mut refused = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => created += 1,
            409 => {
                assert_eq!(body["code"], "TOO_MANY_MACHINES");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created, refused), (5, 195));
    let rows = app
        .number_for(
            "SELECT COUNT(*) FROM machines WHERE license_id = $1 AND deactivated_at IS NULL",
            &p.license_id,
        )
        .await;
    assert_eq!(rows, 5);
    let (used,): (i64,) = sqlx::query_as("SELECT machines_used FROM licenses WHERE id = $1")
        .bind(&p.license_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(used, 5);
}

#[tokio::test]
async fn twenty_simultaneous_activations_of_one_fingerprint_leave_one_machine() {
    let app = spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 5 })).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/api/v1/machines/activate");
            let key = p.key.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({ "key": key, "fingerprint": "same-machine" }))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 200),
        "{statuses:?}"
    );
    let (rows, used): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM machines WHERE license_id = $1), machines_used FROM licenses WHERE id = $1",
    )
    .bind(&p.license_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!((rows, used), (1, 1));
}

#[tokio::test]
async fn every_change_writes_an_audit_event_with_its_actor() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    assert_eq!(app.activate(&p.key, "fp-1").await.status(), 201);
    let res = app
        .post_json(
            &format!("/api/v1/licenses/{}/actions/suspend", p.license_id),
            Some(&p.token),
            &json!({ "reason": "fraud check" }),
        )
        .await;
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let rows: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
        // The reminder job may send an expiry notice meanwhile: not a change.
        "SELECT kind, actor_kind, request_id, data FROM events \
         WHERE license_id = $1 AND kind <> 'license.expiring' ORDER BY occurred_at, id",
    )
    .bind(&p.license_id)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["license.created", "license.activated", "license.suspended"]
    );
    assert_eq!(rows[0].1, "api_token");
    assert_eq!(rows[1].1, "license_key");
    let suspended = &rows[2];
    assert_eq!(suspended.2.as_deref(), Some(request_id.as_str()));
    let data: Value = serde_json::from_str(&suspended.3).unwrap();
    assert_eq!(data["before"]["status"], "active");
    assert_eq!(data["after"]["status"], "suspended");
    assert_eq!(data["reason"], "fraud check");
}

#[tokio::test]
async fn validation_is_rate_limited_per_key_and_per_ip() {
    let app = crate::support::spawn_app_with(
        |raw| {
            raw.set("api_rate_limit_ip", "8", licensor::config::Source::Default);
            raw.set("api_rate_limit_key", "3", licensor::config::Source::Default);
        },
        false,
    )
    .await;
    let p = app.with_license(json!({})).await;
    let send = |key: String| {
        let req = app
            .client
            .post(app.url("/api/v1/licenses/validate"))
            .json(&json!({ "key": key, "fingerprint": "fp" }));
        async move { req.send().await.unwrap() }
    };
    for remaining in (0..3).rev() {
        let res = send(p.key.clone()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["ratelimit-limit"], "3");
        assert_eq!(
            res.headers()["ratelimit-remaining"],
            remaining.to_string().as_str()
        );
    }
    let res = send(p.key.clone()).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
    // Other keys from the same address go on until the address's limit.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let other = licensor::domain::license_key::LicenseKey::generate()
            .unwrap()
            .expose();
        statuses.push(send(other).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn the_maintenance_pass_frees_dead_seats_and_old_idempotency_keys() {
    let app = spawn_app().await;
    // A visitor's session, idle from now on.
    assert_eq!(app.get("/login").await.status(), 200);
    assert_eq!(app.count("sessions").await, 1);
    let p = app
        .with_license(json!({ "floating": true, "heartbeat_window_secs": 300, "max_machines": 2 }))
        .await;
    for fp in ["fp-1", "fp-2"] {
        let res = app
            .client
            .post(app.url("/api/v1/machines/activate"))
            .header("Idempotency-Key", fp)
            .json(&json!({ "key": p.key, "fingerprint": fp }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let clock: licensor::clock::SharedClock = app.clock.clone();
    app.clock.advance_secs(200);
    let beat = app
        .post_json(
            "/api/v1/machines/heartbeat",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-2" }),
        )
        .await;
    assert_eq!(beat.status(), 200);
    app.clock.advance_secs(200);
    let done = licensor::jobs::maintenance_pass(&app.db, &clock, 90)
        .await
        .unwrap();
    assert_eq!(done.seats_freed, 1, "fp-1 missed its window, fp-2 did not");
    assert_eq!(done.idempotency_keys_purged, 0, "keys are kept 24 hours");
    assert_eq!(done.sessions_purged, 0, "the session is idle only minutes");
    let (used,): (i64,) = sqlx::query_as("SELECT machines_used FROM licenses WHERE id = $1")
        .bind(&p.license_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(used, 1);
    let (by,): (Option<String>,) =
        sqlx::query_as("SELECT deactivated_by FROM machines WHERE fingerprint = 'fp-1'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(by.as_deref(), Some("heartbeat"));
    let (events,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM events WHERE kind = 'license.deactivated' AND actor_kind = 'system'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(events, 1);

    app.clock.advance_secs(DAY);
    let done = licensor::jobs::maintenance_pass(&app.db, &clock, 90)
        .await
        .unwrap();
    assert_eq!(done.idempotency_keys_purged, 2);
    assert_eq!(done.seats_freed, 1, "fp-2 has been silent a day too");
    assert_eq!(done.sessions_purged, 1, "idle over 24 hours");
    assert_eq!(app.count("sessions").await, 0);
}

impl TestApp {
    fn clock_now(&self) -> i64 {
        use licensor::clock::Clock;
        self.clock.now().unix()
    }
}

/// The machine endpoints echo a nonce in `meta`, inside the signed body,
/// as validation does; a nonce out of bounds is a field error.
#[tokio::test]
async fn machine_answers_echo_the_nonce_they_were_sent() {
    let app = spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 2 })).await;
    for (path, nonce) in [
        ("/api/v1/machines/activate", "act-1"),
        ("/api/v1/machines/heartbeat", "beat-1"),
        ("/api/v1/machines/deactivate", "off-1"),
    ] {
        let res = app
            .post_json(
                path,
                None,
                &json!({ "key": p.key, "fingerprint": "fp-n", "nonce": nonce }),
            )
            .await;
        assert!(res.status().is_success(), "{path}: {}", res.status());
        let answer = assert_signed(&app, res).await;
        assert_eq!(answer["meta"]["nonce"], nonce, "{path}");
        assert!(answer["meta"]["request_id"].is_string(), "{path}");
    }
    let res = app
        .post_json(
            "/api/v1/machines/activate",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-n", "nonce": "" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["field"], "nonce");
}
