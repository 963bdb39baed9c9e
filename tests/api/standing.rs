//! What a customer sees and hears when support changes a license's
//! standing: no new signed file for a license that is not in good standing
//! (portal, offline activation, API), the reason on the page and in an
//! email with the support address, and confirmations before anything
//! destructive.

use licensor::config::Source;
use licensor::domain::role::Role;
use serde_json::json;

use crate::support::form_browser::{Browser, location};
use crate::support::{TestApp, spawn_app_with};

const SUPPORT: &str = "help@vendor.example";

async fn app_with_support_address() -> TestApp {
    spawn_app_with(
        |raw| raw.set("support_email", SUPPORT, Source::Default),
        true,
    )
    .await
}

/// A customer with a claimed trial and one machine; returns the license id
/// and key.
async fn licensed_customer(app: &TestApp, customer: &Browser, email: &str) -> (String, String) {
    assert_eq!(customer.claim_trial().await.status(), 303);
    let (license_id, _) = license_of(app, email).await;
    let key = app.key_of(&license_id).await;
    assert_eq!(app.activate(&key, "fp-office").await.status(), 201);
    (license_id, key)
}

async fn license_of(app: &TestApp, email: &str) -> (String, String) {
    sqlx::query_as(
        "SELECT l.id, l.organization_id FROM licenses l JOIN users u \
         ON u.organization_id = l.organization_id WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(app.db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_suspended_or_revoked_license_gets_no_new_file_and_its_customer_is_told_why() {
    let app = app_with_support_address().await;
    let email = "nia@example.com";
    let customer = app.with_customer(email).await;
    let (license_id, key) = licensed_customer(&app, &customer, email).await;
    let page_path = format!("/licenses/{license_id}");
    let file_path = format!("/licenses/{license_id}/license-file");
    assert_eq!(
        customer.get(&file_path).await.status(),
        200,
        "in good standing"
    );

    let support = app.with_staff(Role::Support).await;
    let actions = format!("/admin/licenses/{license_id}/actions");
    let res = support
        .post(
            &actions,
            &[("action", "suspend"), ("reason", "Invoice 2026-114 unpaid")],
        )
        .await;
    assert_eq!(res.status(), 303);

    // The console's timeline says it in words.
    let console = support.html(&format!("/admin/licenses/{license_id}")).await;
    let timeline = &console[console.find("id=\"timeline\"").expect("a timeline")..];
    assert!(timeline.contains("Suspended the license"), "{timeline}");
    assert!(
        timeline.contains("support@vendor.example"),
        "the actor's email"
    );
    assert!(
        timeline.contains("status: active → suspended"),
        "{timeline}"
    );
    assert!(timeline.contains("Reason: Invoice 2026-114 unpaid"));
    assert!(
        !timeline.contains("{&#34;") && !timeline.contains("{&quot;"),
        "no raw JSON"
    );

    // The email: what it means, the reason, where to write.
    let mail = app.mail.wait_for(email, "license is suspended").await;
    for part in [
        mail.part("text/plain").unwrap(),
        mail.part("text/html").unwrap(),
    ] {
        assert!(part.contains("Invoice 2026-114 unpaid"), "{part}");
        assert!(part.contains(SUPPORT), "{part}");
        assert!(part.contains("no new license file"), "{part}");
    }
    assert_eq!(mail.header("Reply-To").as_deref(), Some(SUPPORT));

    // The page says so, with the reason, and offers no download.
    let page = customer.html(&page_path).await;
    assert!(page.contains("This license is suspended"), "{page}");
    assert!(page.contains("Invoice 2026-114 unpaid"));
    assert!(page.contains(&format!("mailto:{SUPPORT}")));
    assert!(!page.contains("id=\"download-license\""));
    assert!(!page.contains("/offline\""), "no offline activation form");

    // Asking anyway: back to the page, which says why; no file anywhere.
    let res = customer.get(&file_path).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), page_path);
    let page = customer.html(&page_path).await;
    assert!(page.contains("This license is suspended."), "{page}");
    assert!(page.contains("No new license file can be downloaded"));
    let res = customer.get(&format!("{file_path}?encrypted=1")).await;
    assert_eq!(res.status(), 303);
    let res = customer
        .post(
            &format!("/licenses/{license_id}/offline"),
            &[("fingerprint", "fp-offline-1")],
        )
        .await;
    assert_eq!(res.status(), 303, "no machine file");
    assert!(
        !res.headers()
            .get("content-disposition")
            .is_some_and(|v| v.to_str().unwrap().contains("attachment"))
    );
    let res = app.activate(&key, "fp-office").await;
    assert_eq!(res.status(), 422, "the API makes no machine file either");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "SUSPENDED");
    assert!(body.get("machine_file").is_none());

    // Reinstated: told, and files again.
    support
        .post(
            &actions,
            &[("action", "reinstate"), ("reason", "Paid, thank you")],
        )
        .await;
    let mail = app.mail.wait_for(email, "license works again").await;
    assert!(mail.part("text/plain").unwrap().contains("Paid, thank you"));
    assert_eq!(customer.get(&file_path).await.status(), 200);

    // Revocation is destructive: refused without the confirmation.
    let admin = app.with_staff(Role::Admin).await;
    admin
        .post(&actions, &[("action", "revoke"), ("reason", "Fraud")])
        .await;
    assert!(
        admin
            .html(&format!("/admin/licenses/{license_id}"))
            .await
            .contains("Not done: tick the box to confirm that revoking is final")
    );
    assert_eq!(
        standing_messages(&app, email).await,
        2,
        "nothing sent for it"
    );
    let res = admin
        .post(
            &actions,
            &[
                ("action", "revoke"),
                ("reason", "Key published on a forum"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let mail = app.mail.wait_for(email, "license was revoked").await;
    assert!(
        mail.part("text/plain")
            .unwrap()
            .contains("Key published on a forum")
    );
    let page = customer.html(&page_path).await;
    assert!(page.contains("This license was revoked"), "{page}");
    assert!(page.contains("can no longer be used"));
    assert!(page.contains("Key published on a forum"));
    assert_eq!(customer.get(&file_path).await.status(), 303);
}

/// The messages about a license's standing queued to `email`.
async fn standing_messages(app: &TestApp, email: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND topic = 'license_standing'",
    )
    .bind(email)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    n
}

#[tokio::test]
async fn a_transfer_tells_the_organization_that_loses_the_license() {
    let app = app_with_support_address().await;
    let from = app.with_customer("old-owner@example.com").await;
    let (license_id, _) = licensed_customer(&app, &from, "old-owner@example.com").await;
    let _to = app.with_customer("new-owner@example.com").await;
    let (new_org,): (String,) =
        sqlx::query_as("SELECT organization_id FROM users WHERE email = $1")
            .bind("new-owner@example.com")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let admin = app.with_staff(Role::Admin).await;
    let actions = format!("/admin/licenses/{license_id}/actions");
    let transfer = |confirm: &'static str| {
        vec![
            ("action", "transfer"),
            ("organization_id", new_org.as_str()),
            ("reason", "Company acquired by New Owner Ltd"),
            ("confirm", confirm),
        ]
    };
    admin.post(&actions, &transfer("")).await;
    assert_eq!(
        license_of(&app, "old-owner@example.com").await.0,
        license_id
    );
    admin.post(&actions, &transfer("yes")).await;
    let mail = app
        .mail
        .wait_for("old-owner@example.com", "moved to another organization")
        .await;
    let text = mail.part("text/plain").unwrap();
    assert!(text.contains("Company acquired by New Owner Ltd"), "{text}");
    assert!(text.contains(SUPPORT), "{text}");
    app.mail
        .wait_for("new-owner@example.com", "Welcome to Demo App")
        .await;
}

#[tokio::test]
async fn signing_up_with_a_registered_address_tells_its_holder_by_email_only() {
    let app = spawn_app_with(
        |raw| raw.set("rate_limit_sign_up_ip", "0", Source::Default),
        true,
    )
    .await;
    let email = "held@example.com";
    let _holder = app.with_customer(email).await;
    let stranger = Browser::new(&app);
    let res = stranger.sign_up(email, "Someone Else").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text().await.unwrap().contains("Check your inbox"),
        "the page is the same as for a new address"
    );
    let mail = app.mail.wait_for(email, "You already have").await;
    let sign_in = mail.link("/login");
    let reset = mail.link("/forgot-password");
    assert_eq!(Browser::new(&app).get(&sign_in).await.status(), 200);
    assert_eq!(Browser::new(&app).get(&reset).await.status(), 200);
    assert_eq!(app.count("users").await, 1);

    // Repeated sign-ups do not flood the inbox: one such message an hour.
    stranger.sign_up(email, "Again").await;
    stranger.sign_up(email, "And again").await;
    let topic_count = || async {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE topic = 'account_exists'")
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        n
    };
    assert_eq!(topic_count().await, 1);
    app.clock.advance_secs(3601);
    stranger.sign_up(email, "An hour later").await;
    assert_eq!(topic_count().await, 2);
}

#[tokio::test]
async fn the_owner_sees_resends_and_revokes_pending_invitations() {
    let app = spawn_app_with(|_| {}, true).await;
    let owner = app.with_customer("owner@example.com").await;
    let page = owner.html("/team").await;
    assert!(page.contains("No invitation is waiting"), "{page}");

    // Yourself or a member: refused on the page, the address kept.
    for (address, says) in [
        ("Owner@Example.com", "your own address"),
        ("owner@example.com", "your own address"),
    ] {
        let res = owner.post("/team/invite", &[("email", address)]).await;
        assert_eq!(res.status(), 422);
        let page = res.text().await.unwrap();
        assert!(page.contains(says), "{page}");
        assert!(page.contains(&format!("value=\"{address}\"")), "{page}");
        assert!(page.contains("aria-invalid=\"true\""));
    }
    let res = owner
        .post("/team/invite", &[("email", "new@example.com")])
        .await;
    assert_eq!(res.status(), 303);
    let first = app.mail.wait_for("new@example.com", "Join").await;
    for part in [
        first.part("text/plain").unwrap(),
        first.part("text/html").unwrap(),
    ] {
        assert!(
            !part.contains("because of"),
            "the invitee has no account: {part}"
        );
    }
    let page = owner.html("/team").await;
    assert!(page.contains("id=\"invitations\""), "{page}");
    assert!(page.contains("new@example.com"));
    let (invitation_id,): (String,) =
        sqlx::query_as("SELECT id FROM tokens WHERE kind = 'invitation' AND used_at IS NULL")
            .fetch_one(app.db.pool())
            .await
            .unwrap();

    // Resent: a new link; the old one stops working.
    let res = owner
        .post(&format!("/team/invitations/{invitation_id}/resend"), &[])
        .await;
    assert_eq!(res.status(), 303);
    assert!(owner.html("/team").await.contains("again, with a new link"));
    app.mail.wait_for_count("new@example.com", "Join", 2).await;
    let old_link = first.link("/join?token=");
    let page = join_page(&app, &old_link).await;
    assert!(page.contains("not valid"), "{page}");
    let second = app
        .mail
        .all()
        .into_iter()
        .rev()
        .find(|m| m.to.iter().any(|t| t == "new@example.com"))
        .unwrap();
    let new_link = second.link("/join?token=");
    assert_ne!(new_link, old_link);
    assert!(
        !Browser::new(&app)
            .html(&new_link)
            .await
            .contains("not valid")
    );

    let (pending_id,): (String,) =
        sqlx::query_as("SELECT id FROM tokens WHERE kind = 'invitation' AND used_at IS NULL")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    // Revoked: the link stops working and the list is empty again.
    owner
        .post(&format!("/team/invitations/{pending_id}/revoke"), &[])
        .await;
    assert!(
        owner
            .html("/team")
            .await
            .contains("The invitation to new@example.com is revoked")
    );
    assert!(join_page(&app, &new_link).await.contains("not valid"));
    assert!(
        owner
            .html("/team")
            .await
            .contains("No invitation is waiting")
    );
    // Another organization cannot touch this one's invitations.
    let stranger = app.with_customer("stranger@example.com").await;
    owner
        .post("/team/invite", &[("email", "again@example.com")])
        .await;
    let (again_id,): (String,) =
        sqlx::query_as("SELECT id FROM tokens WHERE kind = 'invitation' AND used_at IS NULL")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    stranger
        .post(&format!("/team/invitations/{again_id}/revoke"), &[])
        .await;
    assert!(owner.html("/team").await.contains("again@example.com"));
}

/// The join page an invitation link leads to, in a fresh browser.
async fn join_page(app: &TestApp, link: &str) -> String {
    let b = Browser::new(app);
    assert_eq!(b.get(link).await.status(), 303);
    b.html("/join").await
}

#[tokio::test]
async fn inviting_an_existing_member_is_refused() {
    let app = spawn_app_with(|_| {}, true).await;
    let owner = app.with_customer("boss@example.com").await;
    owner
        .post("/team/invite", &[("email", "mate@example.com")])
        .await;
    let link = app
        .mail
        .wait_for("mate@example.com", "Join")
        .await
        .link("/join?token=");
    let mate = Browser::new(&app);
    assert_eq!(mate.get(&link).await.status(), 303);
    let form = mate.html("/join").await;
    assert!(form.contains("Join"), "{form}");
    let res = mate
        .post(
            "/join",
            &[("password", crate::support::form_browser::PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let res = owner
        .post("/team/invite", &[("email", "mate@example.com")])
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("mate@example.com is already a member")
    );
}

#[tokio::test]
async fn a_product_download_link_replaces_the_commands_and_is_checked() {
    let app = spawn_app_with(|_| {}, true).await;
    let token = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    let (product_id,): (String,) = sqlx::query_as("SELECT id FROM products")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let path = format!("/api/v1/products/{product_id}");
    let patch = |body: serde_json::Value| {
        let app = &app;
        let token = token.clone();
        let path = path.clone();
        async move {
            app.client
                .patch(app.url(&path))
                .bearer_auth(token)
                .header("Content-Type", "application/merge-patch+json")
                .body(body.to_string())
                .send()
                .await
                .unwrap()
        }
    };
    let res = patch(json!({ "download_url": "ftp://nowhere" })).await;
    assert_eq!(res.status(), 422);
    let problem: serde_json::Value = res.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("full web address"),
        "{problem}"
    );
    let res = patch(json!({
        "download_url": "https://downloads.example.com/demo",
        "activation_instructions": "Open Demo App and paste the key."
    }))
    .await;
    assert_eq!(res.status(), 200);
    let product: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        product["download_url"],
        "https://downloads.example.com/demo"
    );
    assert_eq!(product["name"], "Demo App", "left out: kept");

    let email = "dl@example.com";
    let customer = app.with_customer(email).await;
    assert_eq!(customer.claim_trial().await.status(), 303);
    let page = customer.html("/onboarding").await;
    assert!(
        page.contains("href=\"https://downloads.example.com/demo\""),
        "{page}"
    );
    assert!(page.contains("Open Demo App and paste the key."));
    assert!(
        !page.contains("command-activate"),
        "no commands with a download"
    );

    // `null` removes the link: the commands come back.
    let res = patch(json!({ "download_url": null })).await;
    assert_eq!(res.status(), 200);
    let page = customer.html("/onboarding").await;
    assert!(page.contains("id=\"command-activate\""), "{page}");

    // The console edits it too, and keeps what was typed on an error.
    let admin = app.with_staff(Role::Admin).await;
    let res = admin
        .post(
            &format!("/admin/products/{product_id}"),
            &[
                ("name", "Demo App Renamed"),
                ("description", "typed description"),
                ("activation_instructions", "typed instructions"),
                ("download_url", "not a url"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("full web address"), "{page}");
    assert!(page.contains("value=\"Demo App Renamed\""));
    assert!(page.contains("typed instructions"));
    assert!(page.contains("value=\"not a url\""));
    let res = admin
        .post(
            &format!("/admin/products/{product_id}"),
            &[
                ("name", "Demo App"),
                ("description", ""),
                ("activation_instructions", "From the console."),
                ("download_url", "https://downloads.example.com/v2"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = customer.html("/onboarding").await;
    assert!(page.contains("https://downloads.example.com/v2"));
}

#[tokio::test]
async fn a_password_naming_the_email_is_refused_at_sign_up() {
    let app = spawn_app_with(|_| {}, true).await;
    let b = Browser::new(&app);
    let res = b
        .post(
            "/signup",
            &[
                ("email", "maria.lopez@example.com"),
                ("password", "maria.lopez is my password"),
                ("organization", "Lopez Ltd"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("contains your email address"), "{page}");
    assert!(
        page.contains("value=\"Lopez Ltd\""),
        "what was typed is kept"
    );
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn going_back_to_a_form_target_lands_on_its_page_not_a_405() {
    let app = spawn_app_with(|_| {}, true).await;
    let customer = app.with_customer("back@example.com").await;
    assert_eq!(customer.claim_trial().await.status(), 303);
    let (license_id, _) = license_of(&app, "back@example.com").await;
    let id = "01a224ca-7b2c-76bc-b555-28ab9da014f9";
    for (path, page) in [
        ("/onboarding/trial".to_owned(), "/onboarding".to_owned()),
        ("/account/password".to_owned(), "/account".to_owned()),
        ("/team/invite".to_owned(), "/team".to_owned()),
        (format!("/team/invitations/{id}/revoke"), "/team".to_owned()),
        (
            format!("/licenses/{license_id}/reveal"),
            format!("/licenses/{license_id}"),
        ),
        (
            format!("/licenses/{license_id}/machines/{id}/deactivate"),
            format!("/licenses/{license_id}"),
        ),
        (
            format!("/admin/licenses/{license_id}/actions"),
            format!("/admin/licenses/{license_id}"),
        ),
    ] {
        let res = customer.get(&path).await;
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(location(&res), page, "{path}");
    }
}
