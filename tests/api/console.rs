//! The support console: every route checked by role on the server, one
//! search box over every identifier, the customer and license pages, and
//! "explain a validation".

use licensor::domain::role::Role;
use serde_json::json;

use crate::support::form_browser::Browser;
use crate::support::{TestApp, spawn_demo_app};

/// A customer signed up with a claimed trial: their browser, the license
/// id, its key and the organization id.
pub(crate) async fn customer_with_trial(
    app: &TestApp,
    email: &str,
) -> (Browser, String, String, String) {
    let b = app.with_customer(email).await;
    assert_eq!(b.claim_trial().await.status(), 303);
    let (license_id, org): (String, String) = sqlx::query_as(
        "SELECT l.id, l.organization_id FROM licenses l JOIN users u \
         ON u.organization_id = l.organization_id WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let key = app.key_of(&license_id).await;
    (b, license_id, key, org)
}

/// A customer with a claimed trial and one activated machine; returns the
/// license id, its key and the organization id.
async fn customer_with_machine(app: &TestApp, email: &str) -> (String, String, String) {
    let (_, license_id, key, org) = customer_with_trial(app, email).await;
    let res = app
        .post_json(
            "/api/v1/machines/activate",
            None,
            &json!({"key": key, "fingerprint": "fp-render-01", "name": "Render Node", "platform": "Linux"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    (license_id, key, org)
}

#[tokio::test]
async fn every_console_route_is_checked_by_role() {
    let app = spawn_demo_app().await;
    let (license_id, _, org) = customer_with_machine(&app, "role@example.com").await;
    let customer = app.with_customer("other-role@example.com").await;
    let support = app.with_staff(Role::Support).await;
    let sales = app.with_staff(Role::Sales).await;
    let read_only = app.with_staff(Role::ReadOnly).await;
    let admin = app.with_staff(Role::Admin).await;
    let anonymous = Browser::new(&app);
    let (message_id,): (String,) = sqlx::query_as("SELECT id FROM outbox LIMIT 1")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let (member_id,): (String,) = sqlx::query_as("SELECT id FROM users WHERE organization_id = $1")
        .bind(&org)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let (signing_kid,): (String,) =
        sqlx::query_as("SELECT id FROM signing_keys WHERE is_active = 1")
            .fetch_one(app.db.pool())
            .await
            .unwrap();

    // (method, path, form, what it needs, the status when allowed); a
    // staff member without it gets 403.
    use licensor::domain::role::Capability::{Administer, Read, Sell, Support};
    let none: Vec<(&str, &str)> = vec![];
    type Route<'a> = (
        &'a str,
        String,
        Vec<(&'a str, &'a str)>,
        licensor::domain::role::Capability,
        u16,
    );
    let routes: Vec<Route> = vec![
        ("GET", "/admin".to_owned(), none.clone(), Read, 200),
        ("POST", "/admin".to_owned(), vec![("q", "role")], Read, 200),
        ("GET", "/admin/outbox".to_owned(), none.clone(), Read, 200),
        ("GET", "/admin/payments".to_owned(), none.clone(), Read, 200),
        (
            "POST",
            "/admin/payments/stripe/evt_none/retry".to_owned(),
            none.clone(),
            Sell,
            404,
        ),
        (
            "GET",
            "/admin/licenses.csv".to_owned(),
            none.clone(),
            Read,
            200,
        ),
        (
            "GET",
            "/admin/tokens".to_owned(),
            none.clone(),
            Administer,
            200,
        ),
        (
            "GET",
            "/admin/products".to_owned(),
            none.clone(),
            Administer,
            200,
        ),
        (
            "GET",
            "/admin/staff".to_owned(),
            none.clone(),
            Administer,
            200,
        ),
        (
            "GET",
            "/admin/webhooks".to_owned(),
            none.clone(),
            Administer,
            200,
        ),
        (
            "POST",
            "/admin/products".to_owned(),
            vec![("code", "matrix"), ("name", "Matrix")],
            Administer,
            303,
        ),
        (
            "POST",
            "/admin/tokens".to_owned(),
            vec![("name", "matrix"), ("scope", "read")],
            Administer,
            303,
        ),
        (
            "GET",
            format!("/admin/customers/{org}"),
            none.clone(),
            Read,
            200,
        ),
        (
            "GET",
            format!("/admin/licenses/{license_id}"),
            none.clone(),
            Read,
            200,
        ),
        (
            "GET",
            format!("/admin/licenses/{license_id}?fingerprint=fp-render-01"),
            none.clone(),
            Read,
            200,
        ),
        (
            "POST",
            format!("/admin/licenses/{license_id}/actions"),
            vec![("action", "resend_email"), ("reason", "role matrix")],
            Support,
            303,
        ),
        (
            "POST",
            format!("/admin/licenses/{license_id}/actions"),
            vec![
                ("action", "revoke"),
                ("reason", "role matrix"),
                ("confirm", "yes"),
            ],
            Administer,
            303,
        ),
        (
            "POST",
            format!("/admin/outbox/{message_id}/resend"),
            vec![("reason", "role matrix")],
            Support,
            303,
        ),
        ("GET", "/admin/audit".to_owned(), none.clone(), Read, 200),
        (
            "GET",
            "/admin/dashboard".to_owned(),
            none.clone(),
            Read,
            200,
        ),
        (
            "GET",
            "/admin/audit.csv".to_owned(),
            none.clone(),
            Read,
            200,
        ),
        (
            "GET",
            "/admin/audit.jsonl".to_owned(),
            none.clone(),
            Read,
            200,
        ),
        (
            "GET",
            "/admin/licenses/new".to_owned(),
            none.clone(),
            Sell,
            200,
        ),
        (
            "POST",
            "/admin/licenses/new".to_owned(),
            vec![("license_type_id", "")],
            Sell,
            422,
        ),
        (
            "GET",
            "/admin/keys".to_owned(),
            none.clone(),
            Administer,
            200,
        ),
        (
            "POST",
            "/admin/keys/rotate".to_owned(),
            none.clone(),
            Administer,
            303,
        ),
        (
            "GET",
            format!("/admin/customers/{org}/users/{member_id}/data.json"),
            none.clone(),
            Support,
            200,
        ),
        (
            "POST",
            format!("/admin/customers/{org}/users/{member_id}/erase"),
            vec![("reason", "")],
            Administer,
            303,
        ),
        (
            "GET",
            format!("/admin/keys/{signing_kid}"),
            none.clone(),
            Administer,
            200,
        ),
        (
            "POST",
            format!("/admin/keys/{signing_kid}/revoke"),
            vec![("reason", "")],
            Administer,
            422,
        ),
        (
            "GET",
            "/admin/licenses/import".to_owned(),
            none.clone(),
            Sell,
            200,
        ),
        (
            "POST",
            "/admin/licenses/import".to_owned(),
            vec![
                ("csv", "key,product,license_type\nKEY-ROLE-01,nope,x\n"),
                ("action", "check"),
            ],
            Sell,
            422,
        ),
        (
            "GET",
            format!("/admin/licenses/{license_id}/edit"),
            none.clone(),
            Sell,
            200,
        ),
        (
            "POST",
            format!("/admin/licenses/{license_id}/edit"),
            vec![("max_machines", "many"), ("reason", "role matrix")],
            Sell,
            422,
        ),
    ];
    for (method, path, fields, needs, ok) in &routes {
        for (who, browser, expected) in [
            ("anonymous", &anonymous, 303),
            ("customer", &customer, 403),
            (
                "support",
                &support,
                if Role::Support.can(*needs) { *ok } else { 403 },
            ),
            (
                "sales",
                &sales,
                if Role::Sales.can(*needs) { *ok } else { 403 },
            ),
            (
                "read_only",
                &read_only,
                if Role::ReadOnly.can(*needs) { *ok } else { 403 },
            ),
            ("admin", &admin, *ok),
        ] {
            let res = if *method == "GET" {
                browser.get(path).await
            } else {
                browser.post(path, fields).await
            };
            assert_eq!(
                res.status().as_u16(),
                expected,
                "{who} {method} {path} {fields:?}"
            );
            if who == "anonymous" {
                assert_eq!(res.headers()["location"], "/login", "{path}");
            }
        }
    }
    // Staff never reach the customer portal's pages either.
    assert_eq!(support.get("/licenses").await.status(), 403);
}

#[tokio::test]
async fn one_search_box_finds_customers_and_licenses_by_anything_they_quote() {
    let app = spawn_demo_app().await;
    let (license_id, key, org) = customer_with_machine(&app, "quote@example.com").await;
    let support = app.with_staff(Role::Support).await;
    let search = |q: String| {
        let support = &support;
        async move {
            let res = support.post("/admin", &[("q", q.as_str())]).await;
            assert_eq!(res.status(), 200);
            res.text().await.unwrap()
        }
    };
    let license_link = format!("href=\"/admin/licenses/{license_id}\"");
    let customer_link = format!("href=\"/admin/customers/{org}\"");
    for (q, link) in [
        ("quote@example.com".to_owned(), &customer_link),
        ("QUOTE@example".to_owned(), &customer_link),
        ("acme".to_owned(), &customer_link),
        (org.clone(), &customer_link),
        (license_id.clone(), &license_link),
        (key.clone(), &license_link),
        (key.to_lowercase().replace('-', " "), &license_link),
        (key[key.len() - 4..].to_lowercase(), &license_link),
        ("fp-render-01".to_owned(), &license_link),
        ("render node".to_owned(), &license_link),
    ] {
        let page = search(q.clone()).await;
        assert!(page.contains(link.as_str()), "{q}: {page}");
        assert!(!page.contains(&key), "{q}: the key is never shown");
    }
    let page = search("no-such-thing-anywhere".to_owned()).await;
    assert!(page.contains("Nothing matches"));
    // LIKE wildcards are taken literally.
    assert!(search("%".to_owned()).await.contains("Nothing matches"));
}

#[tokio::test]
async fn the_customer_and_license_pages_answer_why_a_license_does_not_work() {
    let app = spawn_demo_app().await;
    let (license_id, key, org) = customer_with_machine(&app, "why@example.com").await;
    let support = app.with_staff(Role::Support).await;

    let page = support.html(&format!("/admin/customers/{org}")).await;
    for expected in [
        "why@example.com",
        "Acme Ltd",
        "Done",
        "Render Node",
        "fp-render-01",
        "verify_email",
        "welcome",
        "machine_activated",
        "Activated a machine",
        "Issued the license",
    ] {
        assert!(page.contains(expected), "customer page lacks {expected}");
    }
    assert!(!page.contains(&key));

    let page = support.html(&format!("/admin/licenses/{license_id}")).await;
    assert!(page.contains("Explain a validation") && page.contains("node-locked"));
    assert!(!page.contains(&key));

    let explain = |q: &str| {
        let support = &support;
        let url = format!("/admin/licenses/{license_id}?{q}");
        async move { support.html(&url).await }
    };
    let verdict = |page: &str| {
        let marker = "The API answers <strong class=\"code\">";
        let start = page.find(marker).unwrap() + marker.len();
        page[start..start + page[start..].find('<').unwrap()].to_owned()
    };
    let page = explain("fingerprint=fp-render-01").await;
    assert_eq!(verdict(&page), "VALID");
    assert_eq!(page.matches("passed").count(), 10, "every check ran");
    let page = explain("fingerprint=fp-unknown").await;
    assert_eq!(verdict(&page), "NOT_ACTIVATED");
    assert!(page.contains("<tr class=\"decided\"><td class=\"code\">NOT_ACTIVATED</td>"));
    let page = explain("fingerprint=fp-render-01&product=other-app").await;
    assert_eq!(verdict(&page), "PRODUCT_MISMATCH");
    let checks = &page[page.find("id=\"checks\"").unwrap()..];
    assert!(checks.contains("asked for “other-app”"), "{checks}");
    assert!(!checks.contains('`'), "no literal backticks: {checks}");
    let page = explain("fingerprint=fp-render-01&entitlements=pro,%20enterprise").await;
    assert_eq!(verdict(&page), "ENTITLEMENT_MISSING");
    let page = explain("fingerprint=bad%20fingerprint!").await;
    assert!(page.contains("cannot be used"));
    // The same answer as the API itself gives.
    let res = app
        .post_json(
            "/api/v1/licenses/validate",
            None,
            &json!({"key": key, "fingerprint": "fp-unknown"}),
        )
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "NOT_ACTIVATED");

    assert_eq!(
        support
            .get("/admin/licenses/01a224ca-7b2c-76bc-b555-28ab9da014f9")
            .await
            .status(),
        404
    );
    assert_eq!(
        support.get("/admin/customers/not-an-id").await.status(),
        404
    );
}

async fn event_reason(app: &TestApp, kind: &str) -> (String, String) {
    let (actor, data): (String, String) = sqlx::query_as(
        "SELECT actor_kind, data FROM events WHERE kind = $1 ORDER BY occurred_at DESC, id DESC LIMIT 1",
    )
    .bind(kind)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    (
        actor,
        data["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn support_acts_with_a_reason_and_only_admins_revoke_move_or_retype() {
    let app = spawn_demo_app().await;
    let (license_id, key, _) = customer_with_machine(&app, "act@example.com").await;
    let support = app.with_staff(Role::Support).await;
    let admin = app.with_staff(Role::Admin).await;
    let actions = format!("/admin/licenses/{license_id}/actions");
    let page = format!("/admin/licenses/{license_id}");
    let validate = |fp: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            let res = app
                .post_json(
                    "/api/v1/licenses/validate",
                    None,
                    &json!({"key": key, "fingerprint": fp}),
                )
                .await;
            let body: serde_json::Value = res.json().await.unwrap();
            body["code"].as_str().unwrap().to_owned()
        }
    };

    // No reason, nothing happens.
    let res = support.post(&actions, &[("action", "suspend")]).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let html = support.html(&page).await;
    assert!(html.contains("Give a reason"), "{html}");
    assert_eq!(validate("fp-render-01").await, "VALID");

    let res = support
        .post(
            &actions,
            &[("action", "suspend"), ("reason", "chargeback #42")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        support
            .html(&page)
            .await
            .contains("The license is now suspended.")
    );
    assert_eq!(validate("fp-render-01").await, "SUSPENDED");
    assert_eq!(
        event_reason(&app, "license.suspended").await,
        ("staff".to_owned(), "chargeback #42".to_owned())
    );
    support
        .post(&actions, &[("action", "reinstate"), ("reason", "paid")])
        .await;
    assert_eq!(validate("fp-render-01").await, "VALID");

    support
        .post(
            &actions,
            &[("action", "renew"), ("days", "30"), ("reason", "goodwill")],
        )
        .await;
    assert!(support.html(&page).await.contains("Extended by 30 days"));
    assert_eq!(event_reason(&app, "license.renewed").await.1, "goodwill");

    let (machine_id,): (String,) = sqlx::query_as("SELECT id FROM machines WHERE license_id = $1")
        .bind(&license_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    support
        .post(
            &actions,
            &[
                ("action", "deactivate_machine"),
                ("machine_id", &machine_id),
                ("reason", "stolen laptop"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(validate("fp-render-01").await, "NOT_ACTIVATED");
    assert_eq!(
        event_reason(&app, "license.deactivated").await.1,
        "stolen laptop"
    );
    assert_eq!(app.activate(&key, "fp-a").await.status(), 201);
    assert_eq!(app.activate(&key, "fp-b").await.status(), 201);
    support
        .post(
            &actions,
            &[
                ("action", "reset_machines"),
                ("reason", "new office"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert!(
        support
            .html(&page)
            .await
            .contains("Deactivated 2 machine(s)")
    );

    let welcomes = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE topic = 'welcome'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        n
    };
    let before = welcomes().await;
    support
        .post(
            &actions,
            &[("action", "resend_email"), ("reason", "lost it")],
        )
        .await;
    assert_eq!(welcomes().await, before + 1);

    // Admin-only actions are refused to support, on the server.
    for action in ["revoke", "change_type", "transfer"] {
        let res = support
            .post(&actions, &[("action", action), ("reason", "try")])
            .await;
        assert_eq!(res.status(), 403, "{action}");
    }
    assert!(!support.html(&page).await.contains("value=\"revoke\""));
    let res = support
        .post(&actions, &[("action", "explode"), ("reason", "x")])
        .await;
    assert_eq!(res.status(), 400);

    // Change type: another type of the demo product with fewer seats.
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    let (product_id,): (String,) = sqlx::query_as("SELECT product_id FROM licenses WHERE id = $1")
        .bind(&license_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let res = app
        .post_json(
            "/api/v1/license-types",
            Some(&token),
            &json!({"product_id": product_id, "name": "Solo", "duration_days": 365, "max_machines": 1}),
        )
        .await;
    let solo: serde_json::Value = res.json().await.unwrap();
    let solo_id = solo["id"].as_str().unwrap();
    assert_eq!(app.activate(&key, "fp-c").await.status(), 201);
    assert_eq!(app.activate(&key, "fp-d").await.status(), 201);
    admin
        .post(
            &actions,
            &[
                ("action", "change_type"),
                ("license_type_id", solo_id),
                ("reason", "downgrade"),
            ],
        )
        .await;
    assert!(
        admin
            .html(&page)
            .await
            .contains("2 machines are active and the new type allows 1")
    );
    admin
        .post(
            &actions,
            &[
                ("action", "reset_machines"),
                ("reason", "downgrade"),
                ("confirm", "yes"),
            ],
        )
        .await;
    admin
        .post(
            &actions,
            &[
                ("action", "change_type"),
                ("license_type_id", solo_id),
                ("reason", "downgrade"),
            ],
        )
        .await;
    assert!(admin.html(&page).await.contains("now a Solo license"));
    assert_eq!(
        event_reason(&app, "license.type_changed").await.1,
        "downgrade"
    );

    // Transfer to another customer, who is welcomed.
    let _other = app.with_customer("buyer-two@example.com").await;
    let (other_org,): (String,) =
        sqlx::query_as("SELECT organization_id FROM users WHERE email = 'buyer-two@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    admin
        .post(
            &actions,
            &[
                ("action", "transfer"),
                ("organization_id", &other_org),
                ("reason", "company sold"),
                ("confirm", "yes"),
            ],
        )
        .await;
    let (owner,): (String,) = sqlx::query_as("SELECT organization_id FROM licenses WHERE id = $1")
        .bind(&license_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(owner, other_org);
    app.mail
        .wait_for("buyer-two@example.com", "Welcome to Demo App")
        .await;
    assert_eq!(
        event_reason(&app, "license.transferred").await.1,
        "company sold"
    );

    admin
        .post(
            &actions,
            &[
                ("action", "revoke"),
                ("reason", "fraud"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(validate("fp-x").await, "REVOKED");
    assert!(
        admin
            .html(&page)
            .await
            .contains("The license is now revoked.")
    );
}

#[tokio::test]
async fn admins_issue_read_tokens_for_a_crm_and_revoke_them() {
    let app = spawn_demo_app().await;
    let (license_id, key, _) = customer_with_machine(&app, "crm@example.com").await;
    let support = app.with_staff(Role::Support).await;
    let admin = app.with_staff(Role::Admin).await;
    assert_eq!(support.get("/admin/tokens").await.status(), 403);

    let res = admin
        .post("/admin/tokens", &[("name", "CRM sync"), ("scope", "read")])
        .await;
    assert_eq!(res.status(), 303, "post/redirect/get");
    let html = admin
        .html(&crate::support::form_browser::location(&res))
        .await;
    let marker = "<code id=\"new-token-value\">";
    let start = html.find(marker).unwrap() + marker.len();
    let token = html[start..start + html[start..].find('<').unwrap()].to_owned();
    assert!(token.starts_with("lic_"));
    let listing = admin.html("/admin/tokens").await;
    assert!(
        listing.contains("CRM sync") && !listing.contains(&token),
        "shown once"
    );
    assert!(listing.contains("never"), "not used yet");

    // The CRM pulls status with it, and cannot change anything.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/licenses/{license_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .post_json(
            &format!("/api/v1/licenses/{license_id}/actions/suspend"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(
        !admin.html("/admin/tokens").await.contains("never"),
        "last use shown"
    );

    let res = admin
        .post("/admin/tokens", &[("name", ""), ("scope", "read")])
        .await;
    assert_eq!(res.status(), 422);
    let res = admin
        .post("/admin/tokens", &[("name", "x"), ("scope", "root")])
        .await;
    assert_eq!(res.status(), 422);

    let (token_id,): (String,) =
        sqlx::query_as("SELECT id FROM api_tokens WHERE name = 'CRM sync'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    admin
        .post(
            &format!("/admin/tokens/{token_id}/revoke"),
            &[("reason", "CRM replaced")],
        )
        .await;
    let res = app
        .client
        .get(app.url(&format!("/api/v1/licenses/{license_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // The CSV export: every license with its customer, never the key.
    let res = support.get("/admin/licenses.csv").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    // Every license in the database is a row, with its status and seats.
    let rows: Vec<(String, String, i64, i64)> =
        sqlx::query_as("SELECT id, status, machines_used, max_machines FROM licenses")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert_eq!(csv.lines().count(), rows.len() + 1);
    for (id, status, used, max) in &rows {
        let line = csv.lines().find(|l| l.starts_with(id.as_str())).unwrap();
        assert!(line.contains(&format!(",{status},")), "{line}");
        assert!(line.ends_with(&format!(",{used},{max}")), "{line}");
    }
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("license_id,key_last4,product,license_type,status")
    );
    let row = lines.find(|l| l.starts_with(&license_id)).unwrap();
    assert!(
        row.contains("demo-app") && row.contains("Acme Ltd") && row.contains(",1,2"),
        "{row}"
    );
    assert!(!csv.contains(&key));
    assert_eq!(
        Browser::new(&app).get("/admin/licenses.csv").await.status(),
        303
    );
}

#[tokio::test]
async fn the_license_page_counts_outcomes_and_warns_of_key_sharing() {
    let app = spawn_demo_app().await;
    let (license_id, key, _) = customer_with_machine(&app, "share@example.com").await;
    let support = app.with_staff(Role::Support).await;
    // The trial has 2 seats; the key is tried from 4 machines.
    for fp in ["fp-render-01", "fp-render-01", "fp-x", "fp-y", "fp-z"] {
        let res = app
            .post_json(
                "/api/v1/licenses/validate",
                None,
                &json!({"key": key, "fingerprint": fp}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    // Usage is written in batches every couple of seconds.
    let page = format!("/admin/licenses/{license_id}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let html = loop {
        let html = support.html(&page).await;
        // Wait for the whole batch: a flush between two of the requests
        // shows the warning with fewer fingerprints first.
        if html.contains("id=\"sharing-warning\"") && html.contains("used from 4 fingerprints") {
            break html;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sharing warning:\n{html}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(html.contains("used from 4 fingerprints"), "{html}");
    assert!(
        html.contains("<td class=\"code\">NOT_ACTIVATED</td><td>3</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td class=\"code\">VALID</td><td>2</td>"),
        "{html}"
    );
    assert!(html.contains("with fingerprint fp-"), "last seen");
    assert!(html.contains("from IP 127.0.0.1"));

    // A license used within its seats shows no warning.
    let (other_id, other_key, _) = customer_with_machine(&app, "fair@example.com").await;
    for _ in 0..3 {
        app.post_json(
            "/api/v1/licenses/validate",
            None,
            &json!({"key": other_key, "fingerprint": "fp-render-01"}),
        )
        .await;
    }
    let page = format!("/admin/licenses/{other_id}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let html = support.html(&page).await;
        if html.contains("<td class=\"code\">VALID</td><td>3</td>") {
            assert!(!html.contains("sharing-warning"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{html}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn admins_manage_products_types_and_staff() {
    let app = spawn_demo_app().await;
    let admin = app.with_staff(Role::Admin).await;
    let support = app.with_staff(Role::Support).await;
    for path in ["/admin/products", "/admin/staff"] {
        assert_eq!(support.get(path).await.status(), 403, "{path}");
    }

    // A product, then a license type with every rule.
    let res = admin
        .post(
            "/admin/products",
            &[
                ("code", "studio"),
                ("name", "Studio"),
                ("activation_instructions", "Open Help > License."),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let product_page = res.headers()["location"].to_str().unwrap().to_owned();
    let res = admin
        .post("/admin/products", &[("code", "studio"), ("name", "Again")])
        .await;
    assert_eq!(res.status(), 422, "codes are unique");
    let res = admin
        .post("/admin/products", &[("code", "Bad Code!"), ("name", "x")])
        .await;
    assert_eq!(res.status(), 422);
    let types = format!("{product_page}/types");
    let res = admin
        .post(
            &types,
            &[
                ("name", "Team yearly"),
                ("duration_days", "365"),
                ("max_machines", "5"),
                ("entitlements", "pro, export"),
                ("grace_days", "7"),
                ("offline_checkin_days", "14"),
                ("floating", "1"),
                ("heartbeat_window_secs", "900"),
                ("customer_may_deactivate", "1"),
                ("deactivation_limit", "3"),
                ("deactivation_period_days", "30"),
                ("expiry_from", "first_activation"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let html = admin.html(&product_page).await;
    for expected in [
        "Team yearly",
        "365 days from first activation",
        "5 seats",
        "7 grace days",
        "offline check-in every 14 days",
        "floating (heartbeat every 900 s)",
        "customers deactivate up to 3 per 30 days",
        "export, pro",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    let res = admin
        .post(&types, &[("name", "Broken"), ("max_machines", "many")])
        .await;
    assert_eq!(res.status(), 422);
    let res = admin
        .post(&types, &[("name", "Broken"), ("floating", "1")])
        .await;
    assert_eq!(res.status(), 422, "floating needs a heartbeat window");

    // The API sees the same catalog; the welcome uses the instructions.
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    let res = app
        .client
        .get(app.url("/api/v1/license-types"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    let team = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Team yearly")
        .unwrap()
        .clone();
    assert_eq!(team["max_machines"], 5);
    let type_id = team["id"].as_str().unwrap().to_owned();

    // Edit the product; retire and delete the type.
    admin
        .post(
            &product_page,
            &[
                ("name", "Studio Pro"),
                ("description", ""),
                ("activation_instructions", "New steps."),
            ],
        )
        .await;
    assert!(admin.html(&product_page).await.contains("Studio Pro"));
    admin
        .post(&format!("/admin/types/{type_id}"), &[("action", "retire")])
        .await;
    assert!(admin.html(&product_page).await.contains("(retired)"));
    admin
        .post(&format!("/admin/types/{type_id}"), &[("action", "delete")])
        .await;
    assert!(!admin.html(&product_page).await.contains("Team yearly"));

    // Staff: invite (a set-password link by email), change role, disable.
    let res = admin
        .post(
            "/admin/staff",
            &[("email", "new-agent@vendor.example"), ("role", "support")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let mail = app
        .mail
        .wait_for("new-agent@vendor.example", "password")
        .await;
    let link = mail.link("/reset-password");
    let agent = Browser::new(&app);
    let res = agent.get(&link).await;
    assert!(res.status().is_redirection());
    let res = admin
        .post(
            "/admin/staff",
            &[("email", "new-agent@vendor.example"), ("role", "support")],
        )
        .await;
    assert_eq!(res.status(), 422, "taken");
    let res = admin
        .post(
            "/admin/staff",
            &[("email", "x@vendor.example"), ("role", "customer")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let (support_id,): (String,) =
        sqlx::query_as("SELECT id FROM users WHERE email = 'support@vendor.example'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(support.get("/admin").await.status(), 200);
    admin
        .post(
            &format!("/admin/staff/{support_id}"),
            &[("role", "support"), ("disabled", "1")],
        )
        .await;
    let res = support.get("/admin").await;
    assert_eq!(
        res.status(),
        303,
        "a disabled account is signed out at once"
    );
    let (admin_id,): (String,) =
        sqlx::query_as("SELECT id FROM users WHERE email = 'admin@vendor.example'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    admin
        .post(&format!("/admin/staff/{admin_id}"), &[("role", "support")])
        .await;
    assert!(
        admin
            .html("/admin/staff")
            .await
            .contains("Not done: change your own account")
    );
}

#[tokio::test]
async fn support_resends_a_verification_link_from_the_customer_page() {
    let app = spawn_demo_app().await;
    let b = Browser::new(&app);
    b.sign_up("slow@example.com", "Slow Ltd").await;
    app.mail
        .wait_for("slow@example.com", "Confirm your email")
        .await;
    let (org, user): (String, String) =
        sqlx::query_as("SELECT organization_id, id FROM users WHERE email = 'slow@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let support = app.with_staff(Role::Support).await;
    let page = support.html(&format!("/admin/customers/{org}")).await;
    assert!(page.contains("not verified") && page.contains("Resend the link"));
    app.clock.advance_secs(120);
    let res = support
        .post(
            &format!("/admin/customers/{org}/users/{user}/resend-verification"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        support
            .html(&format!("/admin/customers/{org}"))
            .await
            .contains("Sent a new verification link")
    );
    app.mail
        .wait_for_count("slow@example.com", "Confirm your email", 2)
        .await;
    // Right again: the cooldown answers, nothing is sent.
    support
        .post(
            &format!("/admin/customers/{org}/users/{user}/resend-verification"),
            &[],
        )
        .await;
    assert!(
        support
            .html(&format!("/admin/customers/{org}"))
            .await
            .contains("Not sent")
    );
}

/// The console's explanation and the API agree on the code, case by case.
#[tokio::test]
async fn explain_a_validation_agrees_with_the_api_in_every_case() {
    let app = spawn_demo_app().await;
    let (license_id, key, _) = customer_with_machine(&app, "agree@example.com").await;
    let _ = app.with_staff(Role::Support).await;
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    // A fresh sign-in per case: the clock moves past session lifetimes.
    let explain_code = |q: String| {
        let app = &app;
        let url = format!("/admin/licenses/{license_id}?{q}");
        async move {
            let support = Browser::new(app);
            support
                .sign_in(
                    "support@vendor.example",
                    crate::support::form_browser::PASSWORD,
                )
                .await;
            let page = support.html(&url).await;
            let marker = "The API answers <strong class=\"code\">";
            let start = page.find(marker).expect("an explanation") + marker.len();
            page[start..start + page[start..].find('<').unwrap()].to_owned()
        }
    };
    let api_code = |body: serde_json::Value| {
        let app = &app;
        async move {
            let res = app
                .post_json("/api/v1/licenses/validate", None, &body)
                .await;
            let answer: serde_json::Value = res.json().await.unwrap();
            answer["code"].as_str().unwrap().to_owned()
        }
    };
    // (license state, fingerprint, product, feature, the code)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        ("active", "fp-render-01", None, None, "VALID"),
        ("active", "fp-elsewhere", None, None, "NOT_ACTIVATED"),
        ("active", "fp-render-01", Some("demo-app"), None, "VALID"),
        (
            "active",
            "fp-render-01",
            Some("other-app"),
            None,
            "PRODUCT_MISMATCH",
        ),
        (
            "active",
            "fp-render-01",
            None,
            Some("enterprise"),
            "ENTITLEMENT_MISSING",
        ),
        ("suspended", "fp-render-01", None, None, "SUSPENDED"),
        ("expired", "fp-render-01", None, None, "EXPIRED"),
    ];
    for (state, fp, product, feature, expected) in cases {
        if state == "suspended" {
            app.post_json(
                &format!("/api/v1/licenses/{license_id}/actions/suspend"),
                Some(&token),
                &json!({}),
            )
            .await;
        }
        if state == "expired" {
            app.post_json(
                &format!("/api/v1/licenses/{license_id}/actions/reinstate"),
                Some(&token),
                &json!({}),
            )
            .await;
            app.clock.advance_secs(15 * 86_400);
        }
        let mut q = format!("fingerprint={fp}");
        let mut body = json!({"key": key, "fingerprint": fp});
        if let Some(p) = product {
            q.push_str(&format!("&product={p}"));
            body["product"] = json!(p);
        }
        if let Some(f) = feature {
            q.push_str(&format!("&entitlements={f}"));
            body["entitlements"] = json!([f]);
        }
        let (explained, answered) = (explain_code(q).await, api_code(body).await);
        assert_eq!(explained, answered, "{state} {fp} {product:?} {feature:?}");
        assert_eq!(answered, expected, "{state} {fp} {product:?} {feature:?}");
    }
}

/// Given only a customer's email, support finds why validation fails and
/// fixes it from the console.
#[tokio::test]
async fn support_finds_and_fixes_a_failing_validation_from_an_email() {
    let app = spawn_demo_app().await;
    let (license_id, key, _) = customer_with_machine(&app, "stuck@example.com").await;
    // The customer's second and third machines: the third finds no seat.
    assert_eq!(app.activate(&key, "fp-laptop").await.status(), 201);
    assert_eq!(app.activate(&key, "fp-new-pc").await.status(), 409);
    let support = app.with_staff(Role::Support).await;

    let results = support
        .post("/admin", &[("q", "stuck@example.com")])
        .await
        .text()
        .await
        .unwrap();
    let marker = "href=\"/admin/customers/";
    let start = results.find(marker).unwrap() + "href=\"".len();
    let customer_link = results[start..start + results[start..].find('"').unwrap()].to_owned();
    let customer = support.html(&customer_link).await;
    assert!(customer.contains(&format!("/admin/licenses/{license_id}")));
    assert!(customer.contains("2 of 2 seats in use"));
    let page = support
        .html(&format!(
            "/admin/licenses/{license_id}?fingerprint=fp-new-pc"
        ))
        .await;
    assert!(page.contains("<strong class=\"code\">NOT_ACTIVATED</strong>"));

    // The old laptop is gone: free its seat, with a reason.
    let (machine_id,): (String,) = sqlx::query_as(
        "SELECT id FROM machines WHERE fingerprint = 'fp-laptop' AND deactivated_at IS NULL",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    support
        .post(
            &format!("/admin/licenses/{license_id}/actions"),
            &[
                ("action", "deactivate_machine"),
                ("machine_id", &machine_id),
                ("reason", "laptop retired, per phone call"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(app.activate(&key, "fp-new-pc").await.status(), 201);
    let page = support
        .html(&format!(
            "/admin/licenses/{license_id}?fingerprint=fp-new-pc"
        ))
        .await;
    assert!(page.contains("<strong class=\"code\">VALID</strong>"));
    assert!(
        page.contains("laptop retired, per phone call"),
        "in the timeline"
    );
}
