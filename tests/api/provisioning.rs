//! Provisioning and support endpoints behind API tokens.

use licensor::services::api_tokens::Scope;
use serde_json::{Value, json};

use crate::support::spawn_app;

#[tokio::test]
async fn tokens_are_required_and_scoped() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/licenses"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"licensor\""
    );
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "unauthorized");

    let res = app.get_json("/api/v1/licenses", "lic_notarealtoken").await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "invalid_token");

    let read = app.api_token(Scope::Read).await;
    assert_eq!(app.get_json("/api/v1/licenses", &read).await.status(), 200);
    let res = app
        .post_json(
            "/api/v1/products",
            Some(&read),
            &json!({ "code": "x1", "name": "X" }),
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "insufficient_scope"
    );
    assert_eq!(app.count("products").await, 0, "nothing was written");

    let (last_used,): (Option<i64>,) =
        sqlx::query_as("SELECT last_used_at FROM api_tokens WHERE scope = 'read'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(last_used.is_some(), "use is recorded");
}

#[tokio::test]
async fn licenses_are_listed_by_filter_and_cursor() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    // Four more licenses of the same type, one to another email.
    for email in [
        "buyer@example.com",
        "buyer@example.com",
        "buyer@example.com",
        "other@example.com",
    ] {
        let res = app
            .post_json(
                "/api/v1/licenses",
                Some(&p.token),
                &json!({ "license_type_id": p.license_type_id, "email": email }),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let page: Value = app
        .get_json("/api/v1/licenses?email=Buyer@Example.com&limit=3", &p.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest: Value = app
        .get_json(
            &format!("/api/v1/licenses?email=buyer@example.com&limit=3&cursor={cursor}"),
            &p.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);

    let by_type: Value = app
        .get_json(
            &format!("/api/v1/licenses?license_type_id={}", p.license_type_id),
            &p.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_type["data"].as_array().unwrap().len(), 5);
    app.post_json(
        &format!("/api/v1/licenses/{}/actions/suspend", p.license_id),
        Some(&p.token),
        &json!({}),
    )
    .await;
    let suspended: Value = app
        .get_json("/api/v1/licenses?status=suspended", &p.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(suspended["data"][0]["id"], p.license_id.as_str());
    assert_eq!(suspended["data"].as_array().unwrap().len(), 1);
    // No key appears anywhere in a listing.
    assert!(!by_type.to_string().contains(&p.key));

    let customer: Value = app
        .get_json("/api/v1/customers?email=other@example.com", &p.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(customer["licenses"].as_array().unwrap().len(), 1);
    assert_eq!(customer["user"], Value::Null, "not signed up yet");
    let res = app
        .get_json("/api/v1/customers?email=nobody@example.com", &p.token)
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn products_and_types_are_listed_and_names_are_unique() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    let products: Value = app
        .get_json("/api/v1/products", &p.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(products["data"][0]["code"], p.product_code.as_str());
    let product_id = products["data"][0]["id"].as_str().unwrap().to_owned();
    let types: Value = app
        .get_json(
            &format!("/api/v1/license-types?product_id={product_id}"),
            &p.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(types["data"][0]["entitlements"], json!(["export", "pro"]));
    assert_eq!(types["data"][0]["customer_may_deactivate"], true);

    let res = app
        .post_json(
            "/api/v1/products",
            Some(&p.token),
            &json!({ "code": p.product_code, "name": "Again" }),
        )
        .await;
    assert_eq!(res.status(), 409);
    let res = app
        .post_json(
            "/api/v1/license-types",
            Some(&p.token),
            &json!({ "product_id": product_id, "name": "Standard", "max_machines": 1 }),
        )
        .await;
    assert_eq!(res.status(), 409, "type names are unique per product");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    let body = json!({ "license_type_id": p.license_type_id, "email": "retry@example.com" });
    let send = |key: &'static str, body: Value| {
        let req = app
            .client
            .post(app.url("/api/v1/licenses"))
            .bearer_auth(&p.token)
            .header("Idempotency-Key", key)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    let first = send("order-42", body.clone()).await;
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let first: Value = first.json().await.unwrap();
    let again = send("order-42", body.clone()).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"].to_str().unwrap(), location);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first, "the same license and key");
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM licenses WHERE assigned_email = 'retry@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(n, 1, "one license, not two");

    let other = send(
        "order-42",
        json!({ "license_type_id": p.license_type_id, "email": "else@example.com" }),
    )
    .await;
    assert_eq!(other.status(), 422);
    assert_eq!(
        other.json::<Value>().await.unwrap()["code"],
        "idempotency_key_reused"
    );

    // Activation retries replay too, still signed for the new request.
    let activate = |key: &'static str| {
        let req = app
            .client
            .post(app.url("/api/v1/machines/activate"))
            .header("Idempotency-Key", key)
            .json(&json!({ "key": p.key, "fingerprint": "fp-retry" }));
        async move { req.send().await.unwrap() }
    };
    assert_eq!(activate("act-1").await.status(), 201);
    let replay = activate("act-1").await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert!(replay.headers().contains_key("licensor-signature"));
}

#[tokio::test]
async fn the_cli_prints_a_token_that_works() {
    let app = spawn_app().await;
    // The CLI against the same database: its token authenticates here.
    let bin = env!("CARGO_BIN_EXE_licensor");
    let dir = tempfile::tempdir().unwrap();
    let url = app.database.url.clone();
    let out = std::process::Command::new(bin)
        .current_dir(dir.path())
        .env("LICENSOR_DATABASE_URL", &url)
        .args([
            "admin", "token", "create", "--scope", "read", "--name", "crm",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("lic_"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown once"));
    assert_eq!(app.get_json("/api/v1/licenses", &token).await.status(), 200);
    let (digest, name): (String, String) = sqlx::query_as("SELECT digest, name FROM api_tokens")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(name, "crm");
    assert_ne!(digest, token, "stored hashed");
}

#[tokio::test]
async fn a_type_in_use_is_retired_not_deleted() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    let type_url = format!("/api/v1/license-types/{}", p.license_type_id);
    let del = app
        .client
        .delete(app.url(&type_url))
        .bearer_auth(&p.token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 409);
    assert_eq!(
        del.json::<Value>().await.unwrap()["code"],
        "license_type_in_use"
    );

    let res = app
        .post_json(&format!("{type_url}/retire"), Some(&p.token), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["retired"], true);
    let res = app
        .post_json(
            "/api/v1/licenses",
            Some(&p.token),
            &json!({ "license_type_id": p.license_type_id }),
        )
        .await;
    assert_eq!(res.status(), 422, "no new licenses of a retired type");
    assert_eq!(
        app.activate(&p.key, "fp-1").await.status(),
        201,
        "existing licenses go on"
    );

    // A type nobody uses can be deleted; its Location no longer answers.
    let product: Value = app
        .get_json("/api/v1/products", &p.token)
        .await
        .json()
        .await
        .unwrap();
    let product_id = product["data"][0]["id"].as_str().unwrap().to_owned();
    let res = app
        .post_json(
            "/api/v1/license-types",
            Some(&p.token),
            &json!({ "product_id": product_id, "name": "Unused", "max_machines": 1 }),
        )
        .await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(app.get_json(&location, &p.token).await.status(), 200);
    let del = app
        .client
        .delete(app.url(&location))
        .bearer_auth(&p.token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    assert_eq!(app.get_json(&location, &p.token).await.status(), 404);
    let product = app
        .get_json(&format!("/api/v1/products/{product_id}"), &p.token)
        .await;
    assert_eq!(product.status(), 200);
}

#[tokio::test]
async fn the_openapi_document_covers_every_endpoint() {
    let app = spawn_app().await;
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("post", "/api/v1/licenses/validate"),
        ("post", "/api/v1/machines/activate"),
        ("post", "/api/v1/machines/deactivate"),
        ("post", "/api/v1/machines/heartbeat"),
        ("get", "/api/v1/products"),
        ("post", "/api/v1/products"),
        ("get", "/api/v1/products/{id}"),
        ("get", "/api/v1/license-types"),
        ("post", "/api/v1/license-types"),
        ("get", "/api/v1/license-types/{id}"),
        ("delete", "/api/v1/license-types/{id}"),
        ("post", "/api/v1/license-types/{id}/retire"),
        ("get", "/api/v1/licenses"),
        ("post", "/api/v1/licenses"),
        ("get", "/api/v1/licenses/{id}"),
        ("post", "/api/v1/licenses/{id}/actions/{action}"),
        ("get", "/api/v1/customers"),
        ("patch", "/api/v1/products/{id}"),
        ("patch", "/api/v1/licenses/{id}"),
        ("delete", "/api/v1/licenses/{id}/machines/{machine_id}"),
        ("post", "/api/v1/licenses/import"),
        ("get", "/api/v1/offers"),
        ("post", "/api/v1/offers"),
        ("get", "/api/v1/offers/{id}"),
        ("post", "/api/v1/offers/{id}/retire"),
        ("post", "/api/v1/offers/{id}/checkout"),
    ];
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, expected.len());
    for (method, path) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["token"]["scheme"],
        "bearer"
    );
    // The document describes what the API really answers: check one shape.
    let p = app.with_license(json!({})).await;
    let v = app
        .validate(json!({ "key": p.key, "fingerprint": "fp" }))
        .await;
    let props = doc["components"]["schemas"]["ValidationAnswer"]["properties"]
        .as_object()
        .unwrap();
    let mut documented: Vec<&String> = props.keys().collect();
    let mut answered: Vec<&String> = v.as_object().unwrap().keys().collect();
    documented.sort();
    answered.sort();
    assert_eq!(documented, answered);
}

/// docs/api.md names every code the API can answer and every endpoint.
#[test]
fn the_api_doc_lists_every_code_and_endpoint() {
    let doc = include_str!("../../docs/api.md");
    let mut codes: Vec<&str> = licensor::domain::license::ValidationCode::ORDER
        .iter()
        .map(|c| c.as_str())
        .collect();
    codes.extend([
        "TOO_MANY_MACHINES",
        "DEACTIVATION_NOT_ALLOWED",
        "DEACTIVATION_LIMIT_REACHED",
        "malformed_json",
        "invalid_body",
        "invalid_query",
        "bad_request",
        "invalid_idempotency_key",
        "unauthorized",
        "invalid_token",
        "insufficient_scope",
        "not_found",
        "method_not_allowed",
        "conflict",
        "license_type_in_use",
        "idempotency_key_in_use",
        "payload_too_large",
        "unsupported_media_type",
        "invalid_field",
        "idempotency_key_reused",
        "rate_limited",
        "internal_error",
        "unavailable",
    ]);
    for code in codes {
        assert!(
            doc.contains(&format!("| `{code}` |")),
            "docs/api.md lacks a row for {code}"
        );
    }
    for endpoint in [
        "`POST /licenses/validate`",
        "`POST /machines/activate`",
        "`POST /machines/deactivate`",
        "`POST /machines/heartbeat`",
        "`POST /products`",
        "`GET /products`",
        "`GET /products/{id}`",
        "`POST /license-types`",
        "`GET /license-types`",
        "`GET /license-types/{id}`",
        "`DELETE /license-types/{id}`",
        "`POST /license-types/{id}/retire`",
        "`POST /licenses`",
        "`GET /licenses`",
        "`GET /licenses/{id}`",
        "`POST /licenses/{id}/actions/suspend`",
        "`POST /licenses/{id}/actions/reinstate`",
        "`POST /licenses/{id}/actions/renew`",
        "`POST /licenses/{id}/actions/revoke`",
        "`GET /customers?email=`",
    ] {
        assert!(doc.contains(endpoint), "docs/api.md lacks {endpoint}");
    }
}
