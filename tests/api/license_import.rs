//! Importing licenses a vendor already has: `POST /api/v1/licenses/import`
//! (CSV or JSON, dry run), keys in the vendor's own format validated and
//! activated like ours, every bad row named by its line with nothing
//! written, and the same file twice creating nothing new.

use licensor::domain::license_key::LicenseKey;
use licensor::domain::role::Role;
use licensor::services::api_tokens::Scope;
use serde_json::{Value, json};

use crate::support::{Provisioned, TestApp, spawn_app};
use crate::webhook_sink::WebhookSink;

async fn import(app: &TestApp, token: &str, query: &str, csv: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/licenses/import{query}")))
        .bearer_auth(token)
        .header("Content-Type", "text/csv; charset=utf-8")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn import_json(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let res = app
        .post_json("/api/v1/licenses/import", Some(token), body)
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn validate(app: &TestApp, p: &Provisioned, key: &str, fingerprint: &str) -> String {
    let answer = app
        .validate(json!({ "key": key, "fingerprint": fingerprint, "product": p.product_code }))
        .await;
    answer["code"].as_str().unwrap_or_default().to_owned()
}

async fn license(app: &TestApp, p: &Provisioned, id: &str) -> Value {
    let res = app
        .get_json(&format!("/api/v1/licenses/{id}"), &p.token)
        .await;
    assert_eq!(res.status(), 200);
    let detail: Value = res.json().await.unwrap();
    // The license's fields, with its machines and metadata beside them.
    let mut license = detail["license"].clone();
    license["machines"] = detail["machines"].clone();
    license["metadata"] = detail["metadata"].clone();
    license
}

fn id_of_line(report: &Value, line: u64) -> String {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["line"] == line)
        .and_then(|r| r["license_id"].as_str())
        .unwrap_or_else(|| panic!("no license for line {line}: {report}"))
        .to_owned()
}

#[tokio::test]
async fn a_csv_import_brings_licenses_over_with_their_keys_customers_and_machines() {
    let app = spawn_app().await;
    let p = app.with_license(json!({})).await;
    let _ann = app.with_customer("ann@example.com").await;
    let ours = LicenseKey::generate().unwrap().expose();
    let csv = format!(
        "key,customer_email,organization,product,license_type,seats,entitlements,issued_at,expires_at,machines,metadata\n\
         ACME-OLD-0001-XYZ,ann@example.com,Acme Ltd,{product},Standard,5,pro,2025-01-15,2099-12-31,,crm=A-1\n\
         {ours},bob@example.com,Bob & Co,{product},standard,,,,2099-06-30,\"fp-a|Desk PC;fp-b\",crm=B-2\n\
         legacy:key/with+symbols=,,,{product},{type_id},,,,,,\n",
        product = p.product_code,
        type_id = p.license_type_id,
    );
    let before = app.count("licenses").await;

    // A dry run reports what would happen and writes nothing.
    let (status, report) = import(&app, &p.token, "?dry_run=true", &csv).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["created"], 3);
    assert!(report["rows"][0]["license_id"].is_null());
    assert_eq!(app.count("licenses").await, before);

    let (status, report) = import(&app, &p.token, "", &csv).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["created"].as_u64(), report["existing"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(app.count("licenses").await, before + 3);

    // Ann has an account: the license is her organization's, with the
    // row's seats, entitlements and dates.
    let anns = license(&app, &p, &id_of_line(&report, 2)).await;
    let ann_org: (String,) =
        sqlx::query_as("SELECT organization_id FROM users WHERE email = 'ann@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(anns["organization_id"], ann_org.0.as_str());
    assert_eq!(anns["max_machines"], 5);
    assert_eq!(anns["entitlements"], json!(["pro"]));
    assert_eq!(anns["metadata"], json!({ "crm": "A-1" }));
    assert_eq!(anns["key_last4"], "-XYZ");
    // Bob has none yet: his to claim, the organization's name kept, both
    // machines in their seats.
    let bobs = license(&app, &p, &id_of_line(&report, 3)).await;
    assert_eq!(bobs["assigned_email"], "bob@example.com");
    assert_eq!(
        bobs["metadata"],
        json!({ "crm": "B-2", "organization": "Bob & Co" })
    );
    assert_eq!(bobs["machines_used"], 2);
    assert_eq!(bobs["machines"][0]["name"], "Desk PC");
    assert_eq!(bobs["entitlements"], json!(["export", "pro"]), "the type's");

    // A key in the vendor's own format validates and activates like ours;
    // the machines came with the license.
    assert_eq!(validate(&app, &p, &ours, "fp-a").await, "VALID");
    let res = app.activate("ACME-OLD-0001-XYZ", "new-machine").await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    assert_eq!(
        validate(&app, &p, "ACME-OLD-0001-XYZ", "new-machine").await,
        "VALID"
    );
    assert_eq!(
        validate(&app, &p, "legacy:key/with+symbols=", "m").await,
        "NOT_ACTIVATED"
    );
    // A key in no known format that no import brought stays malformed; a
    // well-formed key of ours that no license has, not found.
    assert_eq!(
        validate(&app, &p, "ACME-OLD-0001-XYY", "m").await,
        "MALFORMED_KEY"
    );
    let unknown = LicenseKey::generate().unwrap().expose();
    assert_eq!(validate(&app, &p, &unknown, "m").await, "NOT_FOUND");

    // Each license's import is in the audit log, and the import itself.
    assert_eq!(
        app.number_for(
            "SELECT COUNT(*) FROM events WHERE kind = $1",
            "license.imported"
        )
        .await,
        3
    );
    assert_eq!(
        app.number_for(
            "SELECT COUNT(*) FROM events WHERE kind = $1",
            "licenses.imported"
        )
        .await,
        1
    );

    // The same file again creates nothing new.
    let (status, again) = import(&app, &p.token, "", &csv).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["created"].as_u64(), again["existing"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(id_of_line(&again, 2), id_of_line(&report, 2));
    assert_eq!(app.count("licenses").await, before + 3);
}

#[tokio::test]
async fn every_bad_row_is_named_by_its_line_and_nothing_is_written() {
    let app = spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 2 })).await;
    let before = app.count("licenses").await;
    let csv = format!(
        "key,customer_email,product,license_type,seats,entitlements,expires_at,machines\n\
         GOOD-KEY-0001,,{product},Standard,,,,\n\
         GOOD-KEY-0002,not-an-email,{product},Standard,,,,\n\
         GOOD-KEY-0003,,{product},Standard,1,,,fp-1;fp-2\n\
         GOOD-KEY-0004,,{product},Standard,,gold,,\n\
         GOOD-KEY-0005,,{product},Standard,,,2020-01-01,\n\
         GOOD-KEY-0001,,{product},Standard,,,,\n\
         GOOD-KEY-0007,,{product},Standard\n\
         GOOD-KEY-0008,,nope,Standard,,,,\n",
        product = p.product_code
    );
    for query in ["?dry_run=true", ""] {
        let (status, problem) = import(&app, &p.token, query, &csv).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["code"], "invalid_import");
        let named: Vec<(u64, Option<&str>)> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str()))
            .collect();
        assert_eq!(
            named,
            vec![
                (3, Some("customer_email")),
                (4, Some("machines")),
                (5, Some("entitlements")),
                (6, Some("expires_at")),
                (7, Some("key")),
                (8, None),
                (9, Some("product")),
            ],
            "{problem}"
        );
        let detail = problem["errors"][4]["detail"].as_str().unwrap();
        assert!(detail.contains("same key as line 2"), "{detail}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("nothing was imported")
        );
        assert_eq!(app.count("licenses").await, before, "nothing half-applied");
    }

    // JSON: an unknown field and a wrong type are named too.
    let (status, problem) = import_json(
        &app,
        &p.token,
        &json!({ "licenses": [
            { "key": "JSON-KEY-0001", "product": p.product_code, "license_type": "Standard", "colour": "red" },
            { "key": "JSON-KEY-0002", "product": p.product_code, "license_type": "Standard", "seats": "many" },
        ]}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["line"], 1);
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    assert_eq!(problem["errors"][1]["line"], 2);
    assert_eq!(problem["errors"][1]["field"], "seats");

    // A header naming no such column.
    let (status, problem) = import(&app, &p.token, "", "key,product,license_type,colour\n").await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["line"], 1);

    // More than 10,000 rows a request.
    let mut big = String::from("key,product,license_type\n");
    for i in 0..10_001 {
        big.push_str(&format!("BIG-KEY-{i:06},{},Standard\n", p.product_code));
    }
    let (status, problem) = import(&app, &p.token, "", &big).await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["code"], "too_many_rows");

    // A read token cannot import.
    let read = app.api_token(Scope::Read).await;
    let (status, _) = import(&app, &read, "", &csv).await;
    assert_eq!(status, 403);
    assert_eq!(app.count("licenses").await, before);
}

#[tokio::test]
async fn a_json_import_takes_lists_and_objects_and_reaches_webhooks_as_created() {
    let app = spawn_app().await;
    let p = app.with_license(json!({ "max_machines": 10 })).await;
    let sink = WebhookSink::start().await;
    let admin = app.with_staff(Role::Admin).await;
    let res = admin
        .post(
            "/admin/webhooks",
            &[("url", sink.url().as_str()), ("events", "license.created")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (status, report) = import_json(
        &app,
        &p.token,
        &json!({ "licenses": [{
            "key": "JSON-KEY-0001", "product": p.product_code, "license_type": "Standard",
            "seats": 4, "entitlements": ["export"],
            "machines": ["fp-1", { "fingerprint": "fp-2", "name": "Lab" }],
            "metadata": { "crm": "C-3" }, "expires_at": "2099-01-01T00:00:00Z",
        }]}),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let l = license(&app, &p, &id_of_line(&report, 1)).await;
    assert_eq!(l["max_machines"], 4);
    assert_eq!(l["machines_used"], 2);
    assert_eq!(l["entitlements"], json!(["export"]));
    assert_eq!(l["metadata"], json!({ "crm": "C-3" }));
    assert_eq!(validate(&app, &p, "JSON-KEY-0001", "fp-2").await, "VALID");
    let delivered = sink.wait_for("license.created", 1).await;
    assert_eq!(
        delivered[0].json()["data"]["license"]["id"],
        id_of_line(&report, 1).as_str(),
        "{}",
        delivered[0].json()
    );
}
