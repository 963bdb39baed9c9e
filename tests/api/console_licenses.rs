//! Sales and support run licenses from the console: issuing one (to an
//! organization or an email, with seats, features, expiry and a note; the
//! key shown once) and editing one, with every mistake shown beside its
//! field and nothing half-applied.

use licensor::domain::role::Role;
use serde_json::{Value, json};

use crate::support::form_browser::{Browser, location};
use crate::support::{Provisioned, TestApp, spawn_app};

async fn license_json(app: &TestApp, p: &Provisioned, id: &str) -> Value {
    let res = app
        .get_json(&format!("/api/v1/licenses/{id}"), &p.token)
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn field_error<'a>(page: &'a str, field: &str) -> &'a str {
    let marker = format!("id=\"{field}-error\">");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no error beside {field}: {page}"))
        + marker.len();
    &page[start..start + page[start..].find('<').unwrap()]
}

#[tokio::test]
async fn an_admin_issues_a_license_and_sees_its_key_once() {
    let app = spawn_app().await;
    let p = app.with_license(serde_json::json!({})).await;
    let admin = app.with_staff(Role::Admin).await;
    let page = admin.html("/admin/licenses/new").await;
    assert!(page.contains(&p.license_type_id), "the type is offered");

    let good = [
        ("license_type_id", p.license_type_id.as_str()),
        ("email", "buyer2@example.com"),
        ("max_machines", "7"),
        ("expires", "2030-06-30"),
        ("entitlements", "pro"),
        ("note", "Order 1234"),
    ];
    // Each mistake is named beside its field, with what was typed kept.
    let with = |field: &'static str, value: &'static str| {
        let mut form: Vec<(&str, &str)> = good.to_vec();
        form.retain(|(f, _)| *f != field);
        form.push((field, value));
        form
    };
    let mut bad_org = with("organization_id", "nope");
    bad_org.retain(|(f, _)| *f != "email");
    let cases = [
        (with("email", "not an email"), "email", "email address"),
        (bad_org, "organization_id", "not an organization id"),
        (
            with("organization_id", "0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa"),
            "email",
            "not both",
        ),
        (
            with("max_machines", "seven"),
            "max_machines",
            "whole number",
        ),
        (with("max_machines", "0"), "max_machines", "1 to 100,000"),
        (with("expires", "2020-01-01"), "expires", "future"),
        (with("expires", "30/06/2030"), "expires", "YYYY-MM-DD"),
        (with("entitlements", "pro, nope"), "entitlements", "nope"),
        (with("license_type_id", ""), "license_type_id", "Choose"),
    ];
    for (form, field, says) in cases {
        let res = admin.post("/admin/licenses/new", &form).await;
        assert_eq!(res.status(), 422, "{field}");
        let page = res.text().await.unwrap();
        assert!(
            field_error(&page, field).contains(says),
            "{field}: {}",
            field_error(&page, field)
        );
        assert!(page.contains("value=\"Order 1234\""), "the note is kept");
    }
    let before = app.count("licenses").await;
    assert_eq!(before, 1, "nothing was issued");

    let res = admin.post("/admin/licenses/new", &good).await;
    assert_eq!(location(&res), "/admin/licenses/issued");
    let page = admin.html("/admin/licenses/issued").await;
    let start = page.find("id=\"new-key-value\">").unwrap() + "id=\"new-key-value\">".len();
    let key = &page[start..start + page[start..].find('<').unwrap()];
    assert_eq!(key.len(), 29, "{key}");
    // Once: a reload shows no key.
    let again = admin.get("/admin/licenses/issued").await;
    assert_eq!(location(&again), "/admin");
    assert_eq!(app.count("licenses").await, 2);

    let (id,): (String,) =
        sqlx::query_as("SELECT id FROM licenses WHERE assigned_email = 'buyer2@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let license = license_json(&app, &p, &id).await;
    assert_eq!(license["license"]["max_machines"], 7);
    assert_eq!(
        license["license"]["entitlements"],
        serde_json::json!(["pro"])
    );
    let expires = license["license"]["expires_at"].as_i64().unwrap();
    assert_eq!(
        licensor::domain::time::Timestamp::from_unix(expires).to_date_string(),
        "2030-06-30"
    );
    let v = app
        .validate(serde_json::json!({ "key": key, "fingerprint": "fp-1" }))
        .await;
    assert_eq!(v["code"], "NOT_ACTIVATED", "the key shown is the license's");
    let (data,): (String,) = sqlx::query_as(
        "SELECT data FROM events WHERE kind = 'license.created' AND license_id = $1",
    )
    .bind(&id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(data.contains("Order 1234"), "{data}");
    app.mail.wait_for("buyer2@example.com", "license").await;

    // Support may not issue.
    let support = app.with_staff(Role::Support).await;
    assert_eq!(support.get("/admin/licenses/new").await.status(), 403);
    let res = support.post("/admin/licenses/new", &good).await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.count("licenses").await, 2);
}

#[tokio::test]
async fn a_license_issued_to_a_customer_from_their_page() {
    let app = spawn_app().await;
    let p = app.with_license(serde_json::json!({})).await;
    let customer = Browser::new(&app);
    customer.sign_up("owner@example.com", "Owner Ltd").await;
    let (org,): (String,) =
        sqlx::query_as("SELECT organization_id FROM users WHERE email = 'owner@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let admin = app.with_staff(Role::Admin).await;
    let page = admin.html(&format!("/admin/customers/{org}")).await;
    assert!(page.contains(&format!("/admin/licenses/new?organization_id={org}")));
    let form = admin
        .html(&format!("/admin/licenses/new?organization_id={org}"))
        .await;
    assert!(
        form.contains(&format!("value=\"{org}\"")),
        "the customer is filled in"
    );
    let res = admin
        .post(
            "/admin/licenses/new",
            &[
                ("license_type_id", p.license_type_id.as_str()),
                ("organization_id", org.as_str()),
            ],
        )
        .await;
    assert_eq!(location(&res), "/admin/licenses/issued");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM licenses WHERE organization_id = $1")
        .bind(&org)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn an_admin_edits_a_license_whole_or_not_at_all_and_finds_it_by_metadata() {
    let app = spawn_app().await;
    let p = app
        .with_license(serde_json::json!({ "max_machines": 5 }))
        .await;
    for fp in ["fp-1", "fp-2", "fp-3"] {
        assert_eq!(app.activate(&p.key, fp).await.status(), 201);
    }
    let admin = app.with_staff(Role::Admin).await;
    let edit = format!("/admin/licenses/{}/edit", p.license_id);
    let page = admin
        .html(&format!("/admin/licenses/{}", p.license_id))
        .await;
    assert!(page.contains(&edit), "the license page links to the form");
    let form = admin.html(&edit).await;
    assert!(form.contains("value=\"5\""), "the form shows the seats");
    assert!(form.contains("value=\"export, pro\""), "and the features");

    let good = [
        ("max_machines", "8"),
        ("expires", "2031-01-31"),
        ("entitlements", "export"),
        ("metadata", "crm=C-9\nregion=eu"),
        ("organization_id", ""),
        ("reason", "Upsell, order 77"),
    ];
    let with = |field: &'static str, value: &'static str| {
        let mut form: Vec<(&str, &str)> = good.to_vec();
        form.retain(|(f, _)| *f != field);
        form.push((field, value));
        form
    };
    let cases = [
        (with("max_machines", "2"), "max_machines", "deactivate 1"),
        (with("max_machines", "many"), "max_machines", "whole number"),
        (with("expires", "2020-05-01"), "expires", "in the past"),
        (with("entitlements", "export, nope"), "entitlements", "nope"),
        (with("metadata", "crm C-9"), "metadata", "key=value"),
        (with("metadata", "bad key=1"), "metadata", "a key is"),
        (
            with("organization_id", "x"),
            "organization_id",
            "not an organization id",
        ),
        (with("reason", " "), "reason", "Say why"),
    ];
    for (form, field, says) in cases {
        let res = admin.post(&edit, &form).await;
        assert_eq!(res.status(), 422, "{field}");
        let page = res.text().await.unwrap();
        let error = field_error(&page, field);
        assert!(error.contains(says), "{field}: {error}");
        if field != "reason" {
            assert!(
                page.contains("Upsell, order 77"),
                "{field}: the reason is kept"
            );
        }
    }
    let unchanged = license_json(&app, &p, &p.license_id).await;
    assert_eq!(unchanged["license"]["max_machines"], 5);
    assert_eq!(unchanged["metadata"], serde_json::json!({}));

    let res = admin.post(&edit, &good).await;
    assert_eq!(location(&res), format!("/admin/licenses/{}", p.license_id));
    let page = admin.html(&location(&res)).await;
    assert!(page.contains("Saved."));
    assert!(
        page.contains("region</span>=eu"),
        "the page shows the metadata"
    );
    let edited = license_json(&app, &p, &p.license_id).await;
    assert_eq!(edited["license"]["max_machines"], 8);
    assert_eq!(
        edited["license"]["entitlements"],
        serde_json::json!(["export"])
    );
    assert_eq!(
        edited["metadata"],
        serde_json::json!({ "crm": "C-9", "region": "eu" })
    );
    let (data,): (String,) = sqlx::query_as(
        "SELECT data FROM events WHERE kind = 'license.updated' AND license_id = $1",
    )
    .bind(&p.license_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(data.contains("Upsell, order 77"), "{data}");

    // The same form again changes nothing.
    let res = admin.post(&edit, &good).await;
    assert!(
        admin
            .html(&location(&res))
            .await
            .contains("Nothing changed.")
    );

    // Found by a metadata value, or by key=value.
    for q in ["C-9", "crm=C-9"] {
        let res = admin.post("/admin", &[("q", q)]).await;
        let hits = res.text().await.unwrap();
        assert!(
            hits.contains(&format!("/admin/licenses/{}", p.license_id)),
            "{q}"
        );
    }
    let res = admin.post("/admin", &[("q", "region=C-9")]).await;
    assert!(
        !res.text()
            .await
            .unwrap()
            .contains(&format!("/admin/licenses/{}", p.license_id))
    );

    let support = app.with_staff(Role::Support).await;
    assert_eq!(support.get(&edit).await.status(), 403);
    assert_eq!(support.post(&edit, &good).await.status(), 403);
}

#[tokio::test]
async fn each_staff_role_sees_and_does_its_own_part() {
    let app = spawn_app().await;
    let p = app
        .with_license(serde_json::json!({ "max_machines": 5 }))
        .await;
    let page_path = format!("/admin/licenses/{}", p.license_id);
    async fn extend(b: &Browser, license_id: &str, days: &str) -> String {
        let res = b
            .post(
                &format!("/admin/licenses/{license_id}/actions"),
                &[("action", "renew"), ("days", days), ("reason", "goodwill")],
            )
            .await;
        b.html(&location(&res)).await
    }
    // Read-only: the page, no action and no edit.
    let read_only = app.with_staff(Role::ReadOnly).await;
    let page = read_only.html(&page_path).await;
    assert!(page.contains(&p.license_id));
    assert!(!page.contains("name=\"action\""), "no action form");
    assert!(!page.contains("id=\"edit-license\""));
    // Sales: edits and issues, no everyday action.
    let sales = app.with_staff(Role::Sales).await;
    let page = sales.html(&page_path).await;
    assert!(page.contains("id=\"edit-license\""));
    assert!(!page.contains("value=\"suspend\""));
    let res = sales
        .post(
            "/admin/licenses/new",
            &[
                ("license_type_id", p.license_type_id.as_str()),
                ("email", "deal@example.com"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/admin/licenses/issued");
    // Support: everyday actions, extending by a month at most.
    let support = app.with_staff(Role::Support).await;
    let page = support.html(&page_path).await;
    assert!(page.contains("value=\"suspend\"") && !page.contains("value=\"revoke\""));
    let before = license_json(&app, &p, &p.license_id).await["license"]["expires_at"]
        .as_i64()
        .unwrap();
    let page = extend(&support, &p.license_id, "90").await;
    assert!(page.contains("up to 31 days"), "{page}");
    let after = license_json(&app, &p, &p.license_id).await["license"]["expires_at"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before, "a refused extension changes nothing");
    extend(&support, &p.license_id, "30").await;
    let admin = app.with_staff(Role::Admin).await;
    extend(&admin, &p.license_id, "90").await;
    let after = license_json(&app, &p, &p.license_id).await["license"]["expires_at"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before + 120 * 86_400);
}

#[tokio::test]
async fn a_sales_person_checks_then_imports_licenses_pasted_as_csv() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    let sales = app.with_staff(Role::Sales).await;
    let before = app.count("licenses").await;
    let csv = format!(
        "key,customer_email,product,license_type,seats\n\
         CONSOLE-KEY-0001,carol@example.com,{product},Standard,2\n\
         CONSOLE-KEY-0002,,{product},Standard,\n",
        product = p.product_code
    );
    let res = sales
        .post(
            "/admin/licenses/import",
            &[("csv", csv.as_str()), ("action", "check")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("importing would create 2 licenses"), "{page}");
    assert!(
        page.contains("CONSOLE-KEY-0002"),
        "the text is kept for the import"
    );
    assert_eq!(
        app.count("licenses").await,
        before,
        "a check writes nothing"
    );

    let res = sales
        .post(
            "/admin/licenses/import",
            &[("csv", csv.as_str()), ("action", "import")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Imported 2 licenses"), "{page}");
    assert!(
        page.contains("href=\"/admin/licenses/"),
        "links to the new licenses"
    );
    assert_eq!(app.count("licenses").await, before + 2);
    let (actor,): (String,) =
        sqlx::query_as("SELECT actor_kind FROM events WHERE kind = 'licenses.imported'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(actor, "staff");

    // Bad rows: a table of errors by line, nothing written.
    let bad = format!(
        "key,product,license_type,seats\nCONSOLE-KEY-0003,{product},Standard,0\nCONSOLE-KEY-0004,nope,Standard,1\n",
        product = p.product_code
    );
    let res = sales
        .post(
            "/admin/licenses/import",
            &[("csv", bad.as_str()), ("action", "import")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("2 errors; nothing was imported."), "{page}");
    assert!(
        page.contains("<td data-label=\"Line\">2</td><td data-label=\"Column\">seats</td>"),
        "{page}"
    );
    assert!(page.contains("<td data-label=\"Line\">3</td><td data-label=\"Column\">product</td>"));
    assert_eq!(app.count("licenses").await, before + 2);
}
