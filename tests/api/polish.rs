//! The portal's everyday clarity: where sign-in lands, what the navigation
//! offers, and how refusals read.

use crate::helpers::spawn_demo_app;
use crate::portal::{Browser, PASSWORD, location, verified_customer};

#[tokio::test]
async fn once_onboarding_is_done_sign_in_lands_on_the_licenses() {
    let app = spawn_demo_app().await;
    let email = "done@example.com";
    let first = verified_customer(&app, email).await;
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
