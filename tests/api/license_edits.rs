//! Editing a license through the API: `PATCH /api/v1/licenses/{id}` as a
//! JSON merge patch (seats, expiry, entitlements, metadata, owner), all or
//! nothing, each change audited, sent to webhooks and seen by the next
//! validation; and a write token deactivating a machine.

use licensor::clock::Clock;
use licensor::services::api_tokens::Scope;
use serde_json::{Value, json};

use crate::support::{Provisioned, TestApp, spawn_app};

async fn patch(app: &TestApp, token: &str, id: &str, body: &Value) -> (u16, Value) {
    patch_with(app, token, id, body, None).await
}

async fn patch_with(
    app: &TestApp,
    token: &str,
    id: &str,
    body: &Value,
    idempotency_key: Option<&str>,
) -> (u16, Value) {
    let mut req = app
        .client
        .patch(app.url(&format!("/api/v1/licenses/{id}")))
        .bearer_auth(token)
        .header("Content-Type", "application/merge-patch+json")
        .body(body.to_string());
    if let Some(key) = idempotency_key {
        req = req.header("Idempotency-Key", key);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn detail(app: &TestApp, p: &Provisioned) -> Value {
    let res = app
        .get_json(&format!("/api/v1/licenses/{}", p.license_id), &p.token)
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn events(app: &TestApp, kind: &str) -> Vec<Value> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT data FROM events WHERE kind = $1 ORDER BY occurred_at, id")
            .bind(kind)
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    rows.iter()
        .map(|(d,)| serde_json::from_str(d).unwrap())
        .collect()
}

/// A 5-seat license with three machines.
async fn license_with_machines(app: &TestApp) -> Provisioned {
    let p = app.with_license(json!({ "max_machines": 5 })).await;
    for fp in ["fp-1", "fp-2", "fp-3"] {
        assert_eq!(app.activate(&p.key, fp).await.status(), 201);
    }
    p
}

#[tokio::test]
async fn a_patch_applies_whole_audited_and_seen_by_the_next_validation() {
    let app = spawn_app().await;
    let p = license_with_machines(&app).await;
    let v = app
        .validate(json!({ "key": p.key, "fingerprint": "fp-1", "entitlements": ["pro"] }))
        .await;
    assert_eq!(v["code"], "VALID");
    let future = app.clock.now().unix() + 400 * 86_400;
    let (status, body) = patch(
        &app,
        &p.token,
        &p.license_id,
        &json!({
            "max_machines": 10,
            "expires_at": future,
            "entitlements": ["export"],
            "metadata": { "crm_id": "C-42", "plan": "gold" },
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["license"]["max_machines"], 10);
    assert_eq!(body["license"]["expires_at"], future);
    assert_eq!(body["license"]["entitlements"], json!(["export"]));
    assert_eq!(
        body["metadata"],
        json!({ "crm_id": "C-42", "plan": "gold" })
    );
    assert_eq!(body["machines"].as_array().unwrap().len(), 3);

    // The next validation sees it: "pro" is gone, "export" is there.
    let v = app
        .validate(json!({ "key": p.key, "fingerprint": "fp-1", "entitlements": ["pro"] }))
        .await;
    assert_eq!(v["code"], "ENTITLEMENT_MISSING", "{v}");
    let v = app
        .validate(json!({ "key": p.key, "fingerprint": "fp-1", "entitlements": ["export"] }))
        .await;
    assert_eq!(v["code"], "VALID");
    assert_eq!(v["license"]["max_machines"], 10);

    // One audit event with each field's before and after.
    let updated = events(&app, "license.updated").await;
    assert_eq!(updated.len(), 1);
    let changes = &updated[0]["changes"];
    assert_eq!(changes["max_machines"], json!({ "before": 5, "after": 10 }));
    assert_eq!(changes["entitlements"]["before"], json!(["export", "pro"]));
    assert_eq!(changes["metadata"]["after"]["crm_id"], "C-42");

    // Merge semantics: a null key is removed, the others stay; a null
    // expiry means the license never expires.
    let (status, body) = patch(
        &app,
        &p.token,
        &p.license_id,
        &json!({ "metadata": { "plan": null }, "expires_at": null }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["metadata"], json!({ "crm_id": "C-42" }));
    assert_eq!(body["license"]["expires_at"], Value::Null);
    assert_eq!(
        detail(&app, &p).await["metadata"],
        json!({ "crm_id": "C-42" })
    );
    // The list finds it by its metadata, under a key or any.
    for (query, found) in [
        ("crm_id:C-42", true),
        ("C-42", true),
        ("plan:C-42", false),
        ("C-4", false),
    ] {
        let res = app
            .get_json(&format!("/api/v1/licenses?metadata={query}"), &p.token)
            .await;
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.unwrap();
        let ids: Vec<&str> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.contains(&p.license_id.as_str()), found, "{query}");
    }

    // An empty patch changes nothing and records nothing.
    let (status, _) = patch(&app, &p.token, &p.license_id, &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(events(&app, "license.updated").await.len(), 2);
}

#[tokio::test]
async fn a_bad_field_refuses_the_whole_patch_and_names_the_field() {
    let app = spawn_app().await;
    let p = license_with_machines(&app).await;
    let past = app.clock.now().unix() - 60;
    let cases = [
        (
            json!({ "max_machines": 2, "metadata": { "a": "b" } }),
            "max_machines",
            "deactivate 1",
        ),
        (json!({ "max_machines": 0 }), "max_machines", "from 1"),
        (
            json!({ "max_machines": "ten" }),
            "max_machines",
            "invalid type",
        ),
        (
            json!({ "expires_at": past, "max_machines": 9 }),
            "expires_at",
            "in the past",
        ),
        (
            json!({ "entitlements": ["pro", "nope"], "max_machines": 9 }),
            "entitlements",
            "nope",
        ),
        (
            json!({ "entitlements": ["bad code!"] }),
            "entitlements",
            "not an entitlement code",
        ),
        (
            json!({ "metadata": { "bad key": "x" } }),
            "metadata",
            "a key is",
        ),
        (
            json!({ "metadata": { "k": "line\nbreak" } }),
            "metadata",
            "control",
        ),
        (json!({ "seats": 9 }), "seats", "not a field"),
        (
            json!({ "organization_id": "nope" }),
            "organization_id",
            "not an id",
        ),
        (
            json!({ "organization_id": "0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa", "max_machines": 9 }),
            "organization_id",
            "no such organization",
        ),
    ];
    let before = detail(&app, &p).await;
    for (body, field, says) in cases {
        let (status, problem) = patch(&app, &p.token, &p.license_id, &body).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["code"], "invalid_field", "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
        let detail_text = problem["detail"].as_str().unwrap();
        assert!(detail_text.contains(says), "{body}: {detail_text}");
    }
    let (status, problem) = patch(&app, &p.token, &p.license_id, &json!([1])).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_field"))
    );
    // Nothing of any refused patch was applied.
    assert_eq!(detail(&app, &p).await, before);
    assert!(events(&app, "license.updated").await.is_empty());

    // A read token may not; an unknown license is 404.
    let read = app.api_token(Scope::Read).await;
    let (status, _) = patch(&app, &read, &p.license_id, &json!({ "max_machines": 9 })).await;
    assert_eq!(status, 403);
    let (status, _) = patch(
        &app,
        &p.token,
        "0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa",
        &json!({ "max_machines": 9 }),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_patch_with_an_idempotency_key_applies_once() {
    let app = spawn_app().await;
    let p = license_with_machines(&app).await;
    let body = json!({ "max_machines": 7, "metadata": { "order": "A-1" } });
    let first = patch_with(&app, &p.token, &p.license_id, &body, Some("edit-1")).await;
    assert_eq!(first.0, 200);
    // Changed in between: the replay answers what the first one did.
    patch(&app, &p.token, &p.license_id, &json!({ "max_machines": 8 })).await;
    let again = patch_with(&app, &p.token, &p.license_id, &body, Some("edit-1")).await;
    assert_eq!(again, first);
    assert_eq!(detail(&app, &p).await["license"]["max_machines"], 8);
    assert_eq!(events(&app, "license.updated").await.len(), 2);
}

#[tokio::test]
async fn the_owner_is_transferred_and_a_write_token_deactivates_a_machine() {
    let app = spawn_app().await;
    let p = license_with_machines(&app).await;
    crate::support::form_browser::Browser::new(&app)
        .sign_up("new-owner@example.com", "New Owner Ltd")
        .await;
    let (org,): (String,) =
        sqlx::query_as("SELECT organization_id FROM users WHERE email = 'new-owner@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let (status, body) = patch(
        &app,
        &p.token,
        &p.license_id,
        &json!({ "organization_id": org, "metadata": { "moved": "yes" } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["license"]["organization_id"], org.as_str());
    assert_eq!(events(&app, "license.transferred").await.len(), 1);
    // The same owner again is no change at all.
    patch(
        &app,
        &p.token,
        &p.license_id,
        &json!({ "organization_id": org }),
    )
    .await;
    assert_eq!(events(&app, "license.transferred").await.len(), 1);

    let machine = body["machines"][0]["id"].as_str().unwrap().to_owned();
    let fingerprint = body["machines"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let delete = |token: String| {
        let url = app.url(&format!(
            "/api/v1/licenses/{}/machines/{machine}",
            p.license_id
        ));
        let client = app.client.clone();
        async move { client.delete(url).bearer_auth(token).send().await.unwrap() }
    };
    let read = app.api_token(Scope::Read).await;
    assert_eq!(delete(read).await.status(), 403);
    let res = delete(p.token.clone()).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["license"]["machines_used"], 2);
    assert_eq!(body["deactivated"]["id"], machine.as_str());
    let v = app
        .validate(json!({ "key": p.key, "fingerprint": fingerprint }))
        .await;
    assert_eq!(v["code"], "NOT_ACTIVATED");
    let deactivated = events(&app, "license.deactivated").await;
    assert_eq!(deactivated.last().unwrap()["by"], "vendor");
    assert_eq!(delete(p.token.clone()).await.status(), 404);
}

/// A site license's detail lists its oldest 1,000 machines and says how
/// many it has.
#[tokio::test]
async fn a_large_licenses_detail_lists_a_thousand_machines_and_the_total() {
    let app = spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 5000 })).await;
    let mut tx = app.db.begin_write().await.unwrap();
    for i in 0..1005 {
        sqlx::query(
            "INSERT INTO machines (id, license_id, fingerprint, activated_at, last_heartbeat_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&p.license_id)
        .bind(format!("site-{i:04}"))
        .bind(1_000 + i64::from(i))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE licenses SET machines_used = 1005 WHERE id = $1")
        .bind(&p.license_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let body = detail(&app, &p).await;
    let machines = body["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 1000);
    assert_eq!(machines[0]["fingerprint"], "site-0000", "the oldest first");
    assert_eq!(body["machines_total"], 1005);
    let (status, body) = patch(
        &app,
        &p.token,
        &p.license_id,
        &json!({ "max_machines": 4000 }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["machines"].as_array().unwrap().len(), 1000);
    assert_eq!(body["machines_total"], 1005);
}
