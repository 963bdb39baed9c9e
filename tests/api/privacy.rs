//! Personal data: what validations saw (IP addresses, fingerprints) is
//! erased after `validation_retention_days`, in batches, by the
//! maintenance pass; the day's counts stay.

use std::time::{Duration, Instant};

use licensor::clock::SharedClock;
use serde_json::json;

use crate::support::TestApp;

async fn number(app: &TestApp, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(app.db.pool()).await.unwrap();
    n
}

#[tokio::test]
async fn addresses_and_fingerprints_older_than_the_retention_are_erased_in_batches() {
    let app = crate::support::spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 5 })).await;
    assert_eq!(app.activate(&p.key, "fp-retained").await.status(), 201);
    for _ in 0..3 {
        let answer = app
            .validate(json!({ "key": p.key, "fingerprint": "fp-retained" }))
            .await;
        assert_eq!(answer["code"], "VALID");
    }
    // The usage batch is written every 2 s.
    let start = Instant::now();
    while number(&app, "SELECT COUNT(*) FROM validation_sightings").await < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no sightings written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A machine deactivated today keeps its address for the retention too.
    let res = app
        .post_json(
            "/api/v1/machines/deactivate",
            None,
            &json!({ "key": p.key, "fingerprint": "fp-retained" }),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    // A backlog older than any retention: 2,500 sightings of a year ago.
    let day = 1_795_910_400 / 86_400 - 365;
    for chunk in 0..25 {
        let values: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    "('{}', {day}, 'ip', '198.51.100.{}-{chunk}', 1, 0)",
                    p.license_id, i
                )
            })
            .collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO validation_sightings (license_id, day, kind, value, count, last_at) VALUES {}",
            values.join(", ")
        )))
        .execute(app.db.pool())
        .await
        .unwrap();
    }
    let clock: SharedClock = app.clock.clone();

    // Within the retention: only the year-old backlog goes, in batches.
    let done = licensor::jobs::maintenance_pass(&app.db, &clock, 90)
        .await
        .unwrap();
    assert_eq!(done.personal_data_erased, 2_500);
    assert_eq!(
        number(&app, "SELECT COUNT(*) FROM validation_sightings").await,
        2
    );
    let stats_with_addresses = "SELECT COUNT(*) FROM validation_stats \
        WHERE last_ip IS NOT NULL OR last_fingerprint IS NOT NULL";
    assert_eq!(number(&app, stats_with_addresses).await, 1);
    let machine_ips = "SELECT COUNT(*) FROM machines WHERE ip IS NOT NULL";
    assert_eq!(number(&app, machine_ips).await, 1);

    // 91 days on: today's sightings, the statistics' last address and
    // fingerprint and the deactivated machine's IP are erased; the counts
    // stay.
    app.clock.advance_secs(91 * 86_400);
    let done = licensor::jobs::maintenance_pass(&app.db, &clock, 90)
        .await
        .unwrap();
    assert_eq!(done.personal_data_erased, 4, "{done:?}");
    assert_eq!(
        number(&app, "SELECT COUNT(*) FROM validation_sightings").await,
        0
    );
    assert_eq!(number(&app, stats_with_addresses).await, 0);
    assert_eq!(number(&app, machine_ips).await, 0);
    assert_eq!(
        number(
            &app,
            "SELECT CAST(SUM(count) AS BIGINT) FROM validation_stats"
        )
        .await,
        3,
        "the counts stay"
    );
    let done = licensor::jobs::maintenance_pass(&app.db, &clock, 90)
        .await
        .unwrap();
    assert_eq!(done.personal_data_erased, 0, "nothing twice");
}
