//! A table of malformed requests: each gets its 4xx as problem+json with a
//! stable code, never a 5xx, and changes nothing.

use licensor::services::api_tokens::Scope;
use serde_json::{Value, json};

use crate::support::spawn_app;

struct Case {
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    auth: bool,
    status: u16,
    code: &'static str,
}

fn case(
    method: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        method,
        path: path.to_owned(),
        content_type: Some("application/json"),
        body: body.into(),
        auth: true,
        status,
        code,
    }
}

#[tokio::test]
async fn malformed_requests_get_the_right_4xx() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    let read = app.api_token(Scope::Read).await;
    let lt = p.license_type_id.clone();
    let key = p.key.clone();
    let big = format!("{{\"key\":\"{}\"}}", "x".repeat(20_000));
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let lic = format!("/api/v1/licenses/{}", p.license_id);

    let mut cases = vec![
        case(
            "POST",
            "/api/v1/licenses/validate",
            "{",
            400,
            "malformed_json",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            "",
            400,
            "malformed_json",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            "null",
            400,
            "invalid_body",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            "[]",
            400,
            "invalid_body",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            "{}",
            400,
            "invalid_body",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            r#"{"key": 5}"#,
            400,
            "invalid_body",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            r#"{"key": "k", "extra": 1}"#,
            400,
            "invalid_body",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            r#"{"key": "k", "entitlements": "pro"}"#,
            400,
            "invalid_body",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            big.clone(),
            413,
            "payload_too_large",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            nested.clone(),
            400,
            "invalid_body",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            b"{\"key\": \"\xff\xfe\"}".to_vec(),
            400,
            "malformed_json",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            format!(r#"{{"key": "{key}", "fingerprint": "a b"}}"#),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            format!(r#"{{"key": "{key}", "fingerprint": ""}}"#),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            format!(
                r#"{{"key": "{key}", "fingerprint": "{}"}}"#,
                "f".repeat(300)
            ),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            format!(r#"{{"key": "{key}", "nonce": "{}"}}"#, "n".repeat(200)),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/licenses/validate",
            format!(r#"{{"key": "{key}", "product": ""}}"#),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/machines/activate",
            r#"{"key": "k"}"#,
            400,
            "invalid_body",
        ),
        case(
            "POST",
            "/api/v1/machines/activate",
            format!(r#"{{"key": "{key}", "fingerprint": "<script>"}}"#),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/machines/activate",
            format!(
                r#"{{"key": "{key}", "fingerprint": "ok", "name": "{}"}}"#,
                "n".repeat(300)
            ),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/machines/activate",
            r#"{"key": "nonsense", "fingerprint": "fp"}"#,
            422,
            "MALFORMED_KEY",
        ),
        case(
            "POST",
            "/api/v1/machines/deactivate",
            r#"{"key": "nonsense", "fingerprint": "fp"}"#,
            422,
            "MALFORMED_KEY",
        ),
        case(
            "POST",
            "/api/v1/machines/heartbeat",
            format!(r#"{{"key": "{key}", "fingerprint": "never-activated"}}"#),
            422,
            "NOT_ACTIVATED",
        ),
        case("POST", "/api/v1/licenses", "{}", 400, "invalid_body"),
        case(
            "POST",
            "/api/v1/licenses",
            r#"{"license_type_id": "not-an-id"}"#,
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/licenses",
            format!(r#"{{"license_type_id": "{lt}", "email": "not an email"}}"#),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/licenses",
            format!(r#"{{"license_type_id": "{lt}", "email": "a@b.co\r\nBcc: x@y.z"}}"#),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/licenses",
            format!(r#"{{"license_type_id": "{lt}", "max_machines": 0}}"#),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/licenses",
            format!(r#"{{"license_type_id": "{lt}", "expires_at": 1}}"#),
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/licenses",
            r#"{"license_type_id": "01900000-0000-7000-8000-000000000000"}"#,
            404,
            "not_found",
        ),
        case(
            "POST",
            "/api/v1/products",
            r#"{"code": "Bad Code!", "name": "x"}"#,
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/products",
            r#"{"code": "ok-code", "name": ""}"#,
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/license-types",
            r#"{"product_id": "x", "name": "n", "max_machines": 1}"#,
            422,
            "invalid_field",
        ),
        case(
            "POST",
            "/api/v1/license-types",
            r#"{"product_id": "01900000-0000-7000-8000-000000000000", "name": "n", "max_machines": 1}"#,
            422,
            "not_found",
        ),
        case(
            "POST",
            "/api/v1/license-types",
            r#"{"product_id": "01900000-0000-7000-8000-000000000000", "name": "n", "max_machines": -1}"#,
            422,
            "invalid_field",
        ),
        case(
            "POST",
            &format!("{lic}/actions/explode"),
            "{}",
            404,
            "not_found",
        ),
        case(
            "POST",
            &format!("{lic}/actions/renew"),
            "{}",
            422,
            "invalid_field",
        ),
        case(
            "POST",
            &format!("{lic}/actions/renew"),
            r#"{"days": 0}"#,
            422,
            "invalid_field",
        ),
        case(
            "POST",
            &format!("{lic}/actions/suspend"),
            r#"{"days": 3}"#,
            422,
            "invalid_field",
        ),
        case(
            "POST",
            &format!("{lic}/actions/reinstate"),
            "{}",
            409,
            "conflict",
        ),
        case("GET", "/api/v1/licenses/not-an-id", "", 404, "not_found"),
        case(
            "GET",
            "/api/v1/licenses/01900000-0000-7000-8000-000000000000",
            "",
            404,
            "not_found",
        ),
        case("GET", "/api/v1/licenses?limit=0", "", 422, "invalid_field"),
        case(
            "GET",
            "/api/v1/licenses?limit=abc",
            "",
            400,
            "invalid_query",
        ),
        case(
            "GET",
            "/api/v1/licenses?status=deleted",
            "",
            422,
            "invalid_field",
        ),
        case(
            "GET",
            "/api/v1/licenses?cursor=../../etc",
            "",
            422,
            "invalid_field",
        ),
        case(
            "GET",
            "/api/v1/licenses?unknown=1",
            "",
            400,
            "invalid_query",
        ),
        case("GET", "/api/v1/customers", "", 400, "invalid_query"),
        case("GET", "/api/v1/customers?email=x", "", 422, "invalid_field"),
        case("DELETE", "/api/v1/licenses", "", 405, "method_not_allowed"),
        case(
            "GET",
            "/api/v1/licenses/validate",
            "",
            405,
            "method_not_allowed",
        ),
    ];
    cases.push(Case {
        content_type: Some("text/plain"),
        ..case(
            "POST",
            "/api/v1/licenses/validate",
            r#"{"key": "k"}"#,
            415,
            "unsupported_media_type",
        )
    });
    // JSON is UTF-8: any other declared charset is refused, UTF-8 is fine.
    for content_type in [
        "application/json; charset=utf-16",
        "application/json;charset=UTF-16LE",
        "application/json; charset=iso-8859-1",
        "application/json; charset=\"utf-32\"",
    ] {
        cases.push(Case {
            content_type: Some(content_type),
            ..case(
                "POST",
                "/api/v1/licenses/validate",
                r#"{"key": "k"}"#,
                415,
                "unsupported_media_type",
            )
        });
    }
    cases.push(Case {
        content_type: Some("application/json; charset=UTF-8"),
        ..case(
            "POST",
            "/api/v1/machines/activate",
            r#"{"key": "k"}"#,
            400,
            "invalid_body",
        )
    });
    cases.push(Case {
        content_type: None,
        ..case(
            "POST",
            "/api/v1/machines/activate",
            r#"{"key": "k", "fingerprint": "f"}"#,
            415,
            "unsupported_media_type",
        )
    });
    cases.push(Case {
        auth: false,
        ..case(
            "POST",
            "/api/v1/products",
            r#"{"code": "abc", "name": "x"}"#,
            401,
            "unauthorized",
        )
    });
    cases.push(Case {
        auth: false,
        ..case("GET", "/api/v1/licenses", "", 401, "unauthorized")
    });
    assert!(cases.len() >= 30);

    let before = (
        app.count("licenses").await,
        app.count("products").await,
        app.count("machines").await,
    );
    for c in &cases {
        let mut req = app
            .client
            .request(c.method.parse().unwrap(), app.url(&c.path))
            .body(c.body.clone());
        if let Some(ct) = c.content_type {
            req = req.header("Content-Type", ct);
        }
        if c.auth {
            let token = if c.method == "GET" { &read } else { &p.token };
            req = req.bearer_auth(token);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let ctype = res.headers()["content-type"].to_str().unwrap().to_owned();
        let text = res.text().await.unwrap();
        assert_eq!(status, c.status, "{} {}: {text}", c.method, c.path);
        assert_eq!(ctype, "application/problem+json", "{} {}", c.method, c.path);
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["code"], c.code, "{} {}: {text}", c.method, c.path);
        assert_eq!(problem["status"], c.status);
        assert!(!text.contains(&p.key), "no key in a problem");
    }
    let after = (
        app.count("licenses").await,
        app.count("products").await,
        app.count("machines").await,
    );
    assert_eq!(before, after, "no bad request changed anything");
}
