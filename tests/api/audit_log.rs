//! The console's audit log: every event kind listed in words with its
//! actor, filtered by action, actor, entity and dates, paged, and the
//! filtered range exported as CSV and JSON lines.

use licensor::domain::audit::{Actor, EventKind};
use licensor::domain::role::Role;
use licensor::domain::time::Timestamp;
use licensor::store::events::{self, NewEvent};
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app};

async fn record(
    app: &TestApp,
    kind: EventKind,
    actor: &Actor,
    at: Timestamp,
    license: Option<&str>,
) {
    let mut tx = app.db.begin_write().await.unwrap();
    let mut event = NewEvent::new(kind, actor);
    event.license_id = license;
    event.data = json!({ "before": { "status": "active" }, "after": { "status": "suspended" },
                         "reason": format!("reason of {}", kind.as_str()) });
    events::insert(&mut tx, at, &event).await.unwrap();
    tx.commit().await.unwrap();
}

fn rows(page: &str) -> usize {
    page.matches("<td data-label=\"When\">").count()
}

#[tokio::test]
async fn every_event_kind_is_listed_in_words_filtered_and_exported() {
    let app = spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 5 })).await;
    let support = app.with_staff(Role::Support).await;
    let (staff_id,): (String,) =
        sqlx::query_as("SELECT id FROM users WHERE email = 'support@vendor.example'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let staff = Actor::Staff { user_id: staff_id };
    let day = Timestamp::end_of_date("2026-03-10")
        .unwrap()
        .plus_secs(-43_200);
    for kind in EventKind::ALL {
        record(&app, *kind, &staff, day, Some(&p.license_id)).await;
    }
    // A real edit through the API, by the token.
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/licenses/{}", p.license_id)))
        .bearer_auth(&p.token)
        .json(&json!({ "max_machines": 9 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Every kind, one filter each: exactly its row, in words, with the
    // staff member's email and the reason, never raw JSON.
    for kind in EventKind::ALL {
        let page = support
            .html(&format!(
                "/admin/audit?action={}&actor=support@vendor.example",
                kind.as_str()
            ))
            .await;
        assert_eq!(rows(&page), 1, "{}", kind.as_str());
        assert!(page.contains("support@vendor.example"), "{}", kind.as_str());
        assert!(page.contains(&format!("Reason: reason of {}", kind.as_str())));
        assert!(
            page.contains("status: active → suspended"),
            "{}",
            kind.as_str()
        );
        assert!(!page.contains("{&quot;"), "no raw JSON: {}", kind.as_str());
    }
    // The token's edit: its name and the field's before and after.
    let page = support
        .html("/admin/audit?action=license.updated&actor=api_token")
        .await;
    assert_eq!(rows(&page), 1);
    assert!(page.contains("API token “test”"), "{page}");
    assert!(page.contains("seats: 5 → 9"));

    // By entity and by date; a page of 50, then the older ones.
    let all = EventKind::ALL.len();
    let page = support
        .html(&format!(
            "/admin/audit?entity={}&from=2026-03-10&to=2026-03-10",
            p.license_id
        ))
        .await;
    assert_eq!(rows(&page), 50.min(all));
    if all > 50 {
        let start = page.find("id=\"older\"").map(|_| ()).is_some();
        assert!(start, "a link to the older events");
    }
    let page = support
        .html("/admin/audit?from=2026-03-11&to=2026-03-12")
        .await;
    assert!(
        !page.contains("Reason: reason of"),
        "another day's events are left out"
    );

    // Mistakes are named beside their field.
    for (query, field) in [
        ("action=license.exploded", "action"),
        ("actor=nobody@example.com", "actor"),
        ("entity=no%20such%20thing", "entity"),
        ("from=10/03/2026", "from"),
        ("from=2026-03-12&to=2026-03-10", "to"),
    ] {
        let res = support.get(&format!("/admin/audit?{query}")).await;
        assert_eq!(res.status(), 422, "{query}");
        let page = res.text().await.unwrap();
        assert!(page.contains(&format!("id=\"{field}-error\"")), "{query}");
    }

    // The exports hold the whole filtered range.
    let res = support
        .get(&format!(
            "/admin/audit.csv?entity={}&actor=staff",
            p.license_id
        ))
        .await;
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    assert_eq!(csv.lines().count(), all + 1, "a header and every event");
    assert!(csv.contains("support@vendor.example"));
    let res = support
        .get(&format!("/admin/audit.jsonl?entity={}", p.license_id))
        .await;
    assert_eq!(res.status(), 200);
    let lines: Vec<Value> = res
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.len() > all,
        "every event of the license, the edit too"
    );
    let edit = lines
        .iter()
        .find(|l| l["action"] == "license.updated" && l["actor_kind"] == "api_token")
        .unwrap();
    assert_eq!(edit["data"]["changes"]["max_machines"]["after"], 9);
    let res = support.get("/admin/audit.csv?from=bad").await;
    assert_eq!(res.status(), 422);

    // Customers and strangers do not see it.
    let customer = crate::support::form_browser::Browser::new(&app);
    assert_eq!(customer.get("/admin/audit").await.status(), 303);
}
