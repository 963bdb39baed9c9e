//! Live key rotation: `licensor keys rotate` (here its use case, from
//! another connection as the command line would) and the console's button
//! reach the running server within seconds, with no restart: answers are
//! signed with the new key and the published set lists both.

use std::time::{Duration, Instant};

use licensor::domain::audit::Actor;
use licensor::domain::role::Role;
use licensor::store::Db;
use serde_json::{Value, json};

use crate::support::form_browser::location;
use crate::support::{TestApp, cipher_of, spawn_app};

/// The key id an activation's answer is signed with.
async fn signing_kid(app: &TestApp, key: &str, fingerprint: &str) -> String {
    let res = app
        .post_json(
            "/api/v1/licenses/validate",
            None,
            &json!({ "key": key, "fingerprint": fingerprint }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let header = res.headers()["licensor-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    header
        .split(',')
        .find_map(|p| p.trim().strip_prefix("kid=\""))
        .map(|v| v.trim_end_matches('"').to_owned())
        .unwrap()
}

async fn published(app: &TestApp) -> Value {
    app.get("/.well-known/licensor-keys.json")
        .await
        .json()
        .await
        .unwrap()
}

/// Waits (up to 10 s) until the server signs with another key than `old`.
async fn new_kid_after(app: &TestApp, key: &str, old: &str) -> (String, Duration) {
    let start = Instant::now();
    loop {
        let kid = signing_kid(app, key, "fp-rot").await;
        if kid != old {
            return (kid, start.elapsed());
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still signing with {old}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_rotation_elsewhere_reaches_the_running_server_within_seconds() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    assert_eq!(app.activate(&p.key, "fp-rot").await.status(), 201);
    let first = signing_kid(&app, &p.key, "fp-rot").await;

    // As `licensor keys rotate` does: its own connection, the same database.
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::support::test_settings(&dir, &app.database.url, |_| {});
    let other = Db::connect(&settings.database).await.unwrap();
    let (retired, kid) =
        licensor::services::keys::rotate(&other, &cipher_of(&app), app.clock.as_ref(), &Actor::Cli)
            .await
            .unwrap();
    assert_eq!(retired.as_deref(), Some(first.as_str()));
    let (now_signing, took) = new_kid_after(&app, &p.key, &first).await;
    assert_eq!(now_signing, kid);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let set = published(&app).await;
    assert_eq!(set["keys"][&first]["active"], false);
    assert_eq!(set["keys"][&kid]["active"], true);

    // The console's button, for admins.
    let admin = app.with_staff(Role::Admin).await;
    let page = admin.html("/admin/keys").await;
    assert!(page.contains(&kid) && page.contains(&first));
    let res = admin.post("/admin/keys/rotate", &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/keys");
    let (third, _) = new_kid_after(&app, &p.key, &kid).await;
    assert_eq!(published(&app).await["keys"].as_object().unwrap().len(), 3);
    assert!(admin.html("/admin/keys").await.contains(&third));
}
