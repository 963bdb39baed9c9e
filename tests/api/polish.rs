//! The portal's everyday clarity: where sign-in lands, what the navigation
//! offers, and how refusals read.

use crate::support::form_browser::{Browser, PASSWORD, location};
use crate::support::spawn_demo_app;

#[tokio::test]
async fn once_onboarding_is_done_sign_in_lands_on_the_licenses() {
    let app = spawn_demo_app().await;
    let email = "done@example.com";
    let first = app.with_customer(email).await;
    assert!(
        first
            .html("/licenses")
            .await
            .contains("href=\"/onboarding\"")
    );
    assert_eq!(first.claim_trial().await.status(), 303);
    let (_, key) = app.license_and_key_of(email).await;
    assert_eq!(app.activate(&key, "fp-done").await.status(), 201);
    // The onboarding page shows it is done; the navigation drops the step.
    assert!(first.html("/onboarding").await.contains("id=\"step-done\""));
    assert!(
        !first
            .html("/licenses")
            .await
            .contains("href=\"/onboarding\"")
    );

    let later = Browser::new(&app);
    let res = later.sign_in(email, PASSWORD).await;
    assert_eq!(location(&res), "/licenses");
    let page = later.html("/licenses").await;
    assert!(!page.contains(">Get started<"), "{page}");
}

/// The text of the element with `id` (its first text node run).
fn text_of<'a>(page: &'a str, id: &str) -> &'a str {
    let open = format!("id=\"{id}\">");
    let start = page
        .find(&open)
        .unwrap_or_else(|| panic!("no #{id} in {page}"))
        + open.len();
    &page[start..start + page[start..].find('<').unwrap()]
}

#[tokio::test]
async fn console_form_errors_read_in_words_beside_their_field_with_the_input_kept() {
    let app = spawn_demo_app().await;
    let admin = app.with_staff(licensor::domain::role::Role::Admin).await;
    let (product_id,): (String,) = sqlx::query_as("SELECT id FROM products")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let res = admin
        .post(
            &format!("/admin/products/{product_id}/types"),
            &[
                ("name", "Floating team"),
                ("max_machines", "25"),
                ("floating", "1"),
                ("entitlements", "export-pdf"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    let error = text_of(&page, "heartbeat_window_secs-error");
    assert!(
        error.starts_with("A floating license needs a heartbeat window"),
        "{error}"
    );
    assert!(!error.contains('_'), "no field names: {error}");
    assert!(page.contains("value=\"Floating team\""));
    assert!(page.contains("value=\"25\""));
    assert!(page.contains("value=\"export-pdf\""));
    assert!(page.contains("name=\"floating\" value=\"1\" checked"));
    let field = &page[page.find("id=\"heartbeat_window_secs\"").unwrap()..];
    assert!(field[..field.find('>').unwrap()].contains("aria-invalid=\"true\""));
    assert!(
        !page.contains("error-box"),
        "the error is said once, beside its field"
    );

    let res = admin
        .post(
            "/admin/products",
            &[("code", "Not A Code"), ("name", "Kept name")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    let error = text_of(&page, "code-error");
    assert!(!error.contains("2 to 64"), "{error}");
    assert!(error.contains("like acme-studio"), "{error}");
    assert!(page.contains("value=\"Kept name\""));
    assert!(page.contains("value=\"Not A Code\""));
}

#[tokio::test]
async fn password_errors_sit_beside_their_field() {
    let app = spawn_demo_app().await;
    let b = app.with_customer("fields@example.com").await;
    let res = b
        .post(
            "/account/password",
            &[
                ("current", "not the current one"),
                ("new", "a brand new long passphrase"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"current-error\""), "{page}");
    assert!(page.contains("aria-describedby=\"current-error\""));
    let res = b
        .post(
            "/account/password",
            &[("current", PASSWORD), ("new", "fields is my new password")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        text_of(&page, "new-error").contains("email address"),
        "{page}"
    );
    assert!(page.contains("aria-describedby=\"new-hint new-error\" aria-invalid=\"true\""));
    assert!(!page.contains("error-box"), "said once, beside the field");
}

#[tokio::test]
async fn the_footer_names_the_vendor_once_and_where_to_get_help() {
    let plain = spawn_demo_app().await;
    let footer = |page: &str| {
        let start = page.find("<footer").unwrap();
        page[start..start + page[start..].find("</footer>").unwrap()].to_owned()
    };
    let page = footer(&Browser::new(&plain).html("/").await);
    assert_eq!(page.matches("Licensor").count(), 1, "{page}");
    assert!(page.contains("Licensing by Licensor"), "{page}");
    let vendor = crate::support::spawn_app_with(
        |raw| {
            raw.set(
                "vendor_name",
                "Acme Tools",
                licensor::config::Source::Default,
            );
            raw.set(
                "support_email",
                "help@acme.example",
                licensor::config::Source::Default,
            );
        },
        true,
    )
    .await;
    let page = footer(&Browser::new(&vendor).html("/").await);
    assert!(
        page.contains("Licensing by Acme Tools · powered by Licensor"),
        "{page}"
    );
    assert!(page.contains("href=\"mailto:help@acme.example\""));
}
