use std::time::{Duration, Instant};

use crate::support::{
    CuttableProxy, TestDatabase, assert_standard_headers, spawn_app, spawn_app_on,
};

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    assert_standard_headers(&res);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_answers_200_while_the_database_answers() {
    let app = spawn_app().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn readyz_answers_503_once_the_pool_is_closed() {
    let app = spawn_app().await;
    app.db.close().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "database_unavailable");
    // Pages that need the database answer 503, with a page, not a 500.
    let res = app.get("/").await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    assert!(res.text().await.unwrap().contains("briefly unavailable"));
}

/// Polls `path` until it answers `status`, for at most `limit`.
async fn eventually(client: &reqwest::Client, url: &str, status: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(res) = client.get(url).send().await
            && res.status().as_u16() == status
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn a_database_that_goes_away_and_comes_back() {
    let database = TestDatabase::create().await;
    if !database.is_postgres() {
        // SQLite is a file inside the process: it cannot go away over a
        // network. The PostgreSQL run of the suite covers this.
        eprintln!("skipped on SQLite: covered by the PostgreSQL run");
        return;
    }
    let target = {
        let url = url::Url::parse(&database.url).unwrap();
        let host = url.host_str().unwrap().to_owned();
        let port = url.port().unwrap_or(5432);
        tokio::net::lookup_host((host.as_str(), port))
            .await
            .unwrap()
            .next()
            .unwrap()
    };
    let proxy = CuttableProxy::start(target).await;
    let url = database.url_via(proxy.addr);
    let app = spawn_app_on(database, &url, |_| {}, true).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(app.get("/").await.status(), 200);

    proxy.cut();
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let res = app.get("/").await;
    assert_eq!(res.status(), 503, "a page needing the database answers 503");
    assert_standard_headers(&res);
    let res = app.get("/api/v1/anything").await;
    assert_eq!(res.status(), 404, "routing does not need the database");

    proxy.restore();
    assert!(
        eventually(
            &app.client,
            &app.url("/readyz"),
            200,
            Duration::from_secs(15)
        )
        .await,
        "readyz recovers"
    );
    assert!(eventually(&app.client, &app.url("/"), 200, Duration::from_secs(15)).await);
}
