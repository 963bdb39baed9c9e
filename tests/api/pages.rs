use crate::support::{assert_standard_headers, spawn_app, spawn_demo_app};

#[tokio::test]
async fn the_home_page_names_the_products() {
    let app = spawn_demo_app().await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    assert_standard_headers(&res);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let html = res.text().await.unwrap();
    assert!(html.contains("<h3>Demo App</h3>"), "{html}");
    assert!(html.contains("Free trial available"));
    assert!(html.contains("/static/app.css?v="));
    assert_eq!(
        app.count("sessions").await,
        0,
        "an anonymous visit writes no session"
    );
}

#[tokio::test]
async fn the_home_page_says_so_when_nothing_is_on_offer() {
    let app = spawn_app().await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("No products are on offer yet"));
}

#[tokio::test]
async fn the_vendor_name_is_configurable_and_escaped() {
    let app = crate::support::spawn_app_with(
        |raw| {
            raw.set(
                "vendor_name",
                "Acme <Tools>",
                licensor::config::Source::Default,
            )
        },
        false,
    )
    .await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(
        html.contains("Acme &#60;Tools&#62;") || html.contains("Acme &lt;Tools&gt;"),
        "{html}"
    );
    assert!(!html.contains("<Tools>"));
}

#[tokio::test]
async fn the_stylesheet_is_cached_by_its_digest() {
    let app = spawn_app().await;
    let html = app.get("/").await.text().await.unwrap();
    let start = html.find("/static/app.css?v=").unwrap();
    let href = &html[start..start + html[start..].find('"').unwrap()];

    let res = app.get(href).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert!(res.text().await.unwrap().contains(":root"));

    // An old or missing digest is served but revalidated.
    let res = app.get("/static/app.css?v=old").await;
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=0, must-revalidate"
    );

    let res = app
        .client
        .get(app.url(href))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
}

#[tokio::test]
async fn the_script_is_ours_and_cached_by_its_digest() {
    let app = spawn_app().await;
    let html = app.get("/").await.text().await.unwrap();
    let start = html.find("/static/app.js?v=").unwrap();
    let src = &html[start..start + html[start..].find('"').unwrap()];
    let res = app.get(src).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(res.text().await.unwrap().contains("clipboard"));
}

#[tokio::test]
async fn unknown_pages_get_a_friendly_404_page() {
    let app = spawn_app().await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    assert_standard_headers(&res);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let html = res.text().await.unwrap();
    assert!(html.contains("Not Found"));
    assert!(html.contains("Go to the home page"));
    assert!(html.contains(&request_id), "the page quotes the request id");
}

#[tokio::test]
async fn unknown_api_routes_get_problem_json() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/nothing-here").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["code"], "not_found");
    assert_eq!(problem["title"], "Not Found");
    assert_eq!(problem["request_id"], request_id.as_str());
    assert!(problem["detail"].as_str().unwrap().len() > 5);
}

#[tokio::test]
async fn wrong_methods_get_405() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz", "/", "/static/app.css"] {
        let res = app.client.delete(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 405, "{path}");
        assert_standard_headers(&res);
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("does not accept that kind of request")
        );
    }
}

/// Hostile or odd requests get a 4xx (or are harmlessly served), never a 5xx.
#[tokio::test]
async fn bad_requests_never_get_a_5xx() {
    let app = spawn_app().await;
    let big = vec![b'x'; 2 * 1024 * 1024];
    let cases: Vec<(reqwest::Method, &str, Option<Vec<u8>>, u16)> = vec![
        (reqwest::Method::POST, "/", Some(big.clone()), 405),
        (
            reqwest::Method::POST,
            "/api/v1/licenses/validate",
            Some(big.clone()),
            413,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/nothing",
            Some(big.clone()),
            404,
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/products",
            Some(b"{".to_vec()),
            405,
        ),
        (reqwest::Method::GET, "/static/app.css?v=a&v=b", None, 400),
        (reqwest::Method::GET, "/?%zz=%%%", None, 200),
        (reqwest::Method::GET, "/%2e%2e/%2e%2e/etc/passwd", None, 404),
        (reqwest::Method::GET, "/static/../Cargo.toml", None, 404),
        (reqwest::Method::GET, "/healthz?x=%00", None, 200),
        (reqwest::Method::PATCH, "/api", None, 404),
    ];
    for (method, path, body, expected) in cases {
        let mut req = app.client.request(method.clone(), app.url(path));
        if let Some(body) = body {
            req = req.body(body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), expected, "{method} {path}");
        assert_standard_headers(&res);
    }
}

#[tokio::test]
async fn malformed_query_strings_get_a_400_page_or_problem() {
    let app = spawn_app().await;
    let res = app.get("/static/app.css?v=1&v=2").await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    assert!(res.text().await.unwrap().contains("Bad Request"));
}

#[tokio::test]
async fn public_keys_are_published() {
    let app = spawn_app().await;
    let res = app.get("/.well-known/licensor-keys.json").await;
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    let keys = doc["keys"].as_object().unwrap();
    assert_eq!(keys.len(), 1, "the first start generates one key");
    let (kid, key) = keys.iter().next().unwrap();
    assert_eq!(kid.len(), 16);
    assert_eq!(key["alg"], "ed25519");
    assert_eq!(key["active"], true);
    let (stored,): (String,) = sqlx::query_as("SELECT id FROM signing_keys WHERE is_active = 1")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(&stored, kid);
}

#[tokio::test]
async fn server_errors_get_a_generic_page_that_reveals_nothing() {
    let app = spawn_demo_app().await;
    // Break the schema under the running server: the home page's query fails.
    sqlx::query("ALTER TABLE license_types RENAME COLUMN self_service_trial TO renamed")
        .execute(app.db.pool())
        .await
        .unwrap();
    let res = app.get("/").await;
    assert_eq!(res.status(), 500);
    assert_standard_headers(&res);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let html = res.text().await.unwrap();
    assert!(html.contains("Something went wrong on our side"));
    assert!(html.contains(&request_id));
    for secret in [
        "license_types",
        "sqlx",
        "SELECT",
        "relation",
        "no such table",
        "src/",
    ] {
        assert!(
            !html.contains(secret),
            "the page reveals {secret:?}: {html}"
        );
    }
}
