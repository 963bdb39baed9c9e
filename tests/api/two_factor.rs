//! Two-factor sign-in: enrolment with a QR code and recovery codes, the
//! code asked after the password (computed here from the secret, as an
//! authenticator app does), each code accepted once, wrong codes counted by
//! the sign-in throttle, and admins made to enrol when the vendor says so.

use licensor::config::Source;
use licensor::domain::role::Role;
use licensor::domain::two_factor::TotpSecret;

use crate::support::form_browser::{Browser, PASSWORD, location};
use crate::support::{TestApp, spawn_app, spawn_app_with};

fn between<'a>(page: &'a str, open: &str, close: &str) -> &'a str {
    let start = page
        .find(open)
        .unwrap_or_else(|| panic!("{open} in {page}"))
        + open.len();
    &page[start..start + page[start..].find(close).unwrap()]
}

/// Turns two-factor sign-in on from the settings page: its secret and the
/// recovery codes shown once.
async fn enrol(app: &TestApp, b: &Browser) -> (TotpSecret, Vec<String>) {
    let page = b.html("/account/two-factor").await;
    assert!(page.contains("id=\"two-factor-off\""), "{page}");
    let res = b.post("/account/two-factor/start", &[("code", "")]).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("<svg"), "a QR code, drawn on the server");
    let secret = TotpSecret::from_base32(between(&page, "<code id=\"totp-secret\">", "<")).unwrap();

    let res = b
        .post("/account/two-factor/confirm", &[("code", "000000")])
        .await;
    assert_eq!(res.status(), 422, "a wrong first code");
    assert!(
        res.text().await.unwrap().contains("id=\"qr-code\""),
        "the QR code again"
    );

    let code = secret.code_at(now(app)).unwrap();
    let res = b
        .post("/account/two-factor/confirm", &[("code", &code)])
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let list = between(&page, "<ul id=\"recovery-codes\" class=\"codes\">", "</ul>");
    let codes: Vec<String> = list
        .split("<code>")
        .skip(1)
        .map(|c| c[..c.find('<').unwrap()].to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let page = b.html("/account/two-factor").await;
    assert!(page.contains("You have 10 unused recovery codes"), "{page}");
    assert!(!page.contains(&codes[0]), "shown once");
    (secret, codes)
}

fn now(app: &TestApp) -> u64 {
    use licensor::clock::Clock;
    u64::try_from(app.clock.now().unix()).unwrap()
}

/// Signs in with the password: the answer asks for the code.
async fn password(b: &Browser, email: &str) {
    let res = b.sign_in(email, PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login/code", "the code is asked next");
}

async fn code(b: &Browser, code: &str) -> reqwest::Response {
    b.post("/login/code", &[("code", code)]).await
}

#[tokio::test]
async fn a_customer_turns_it_on_and_then_signs_in_with_a_code_each_accepted_once() {
    let app = spawn_app().await;
    let email = "two-factor@example.com";
    let b = app.with_customer(email).await;
    let (secret, recovery) = enrol(&app, &b).await;

    let b = Browser::new(&app);
    password(&b, email).await;
    // Not signed in yet: the portal still sends to sign-in.
    assert_eq!(location(&b.get("/licenses").await), "/login");
    assert_eq!(b.get("/login/code").await.status(), 200);
    let res = code(&b, "123456").await;
    assert_eq!(res.status(), 401);
    // The code of this step was used to enrol: it is not accepted again.
    let used = secret.code_at(now(&app)).unwrap();
    assert_eq!(
        code(&b, &used).await.status(),
        401,
        "a code is accepted once"
    );
    app.clock.advance_secs(30);
    let next = secret.code_at(now(&app)).unwrap();
    let res = code(&b, &next).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_ne!(location(&res), "/login");
    assert_eq!(b.get("/account").await.status(), 200, "signed in");

    // The same code in another browser a moment later: refused.
    let other = Browser::new(&app);
    password(&other, email).await;
    assert_eq!(code(&other, &next).await.status(), 401);
    // A recovery code works once, typed any way.
    app.clock.advance_secs(5);
    let typed = recovery[3].to_uppercase().replace('-', " ");
    assert_eq!(code(&other, &typed).await.status(), 303);
    let third = Browser::new(&app);
    password(&third, email).await;
    assert_eq!(code(&third, &recovery[3]).await.status(), 401, "used up");
    let page = other.html("/account/two-factor").await;
    assert!(page.contains("You have 9 unused recovery codes"));

    // Turned off with a current code: the password alone signs in again.
    app.clock.advance_secs(30);
    let current = secret.code_at(now(&app)).unwrap();
    let res = other
        .post("/account/two-factor/off", &[("code", &current)])
        .await;
    assert_eq!(res.status(), 303);
    let b = Browser::new(&app);
    let res = b.sign_in(email, PASSWORD).await;
    assert_ne!(location(&res), "/login/code");
    let kinds: Vec<(String,)> = sqlx::query_as(
        "SELECT kind FROM events WHERE kind LIKE 'user.%' AND kind <> 'user.reminders_changed' \
         ORDER BY occurred_at, id",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    let kinds: Vec<&str> = kinds.iter().map(|(k,)| k.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "user.two_factor_enabled",
            "user.recovery_code_used",
            "user.two_factor_disabled"
        ]
    );
}

#[tokio::test]
async fn wrong_codes_count_toward_the_sign_in_throttle() {
    let app = spawn_app().await;
    let email = "throttled@example.com";
    let b = app.with_customer(email).await;
    let (secret, _) = enrol(&app, &b).await;
    app.clock.advance_secs(30);
    let b = Browser::new(&app);
    password(&b, email).await;
    for _ in 0..3 {
        assert_eq!(code(&b, "999999").await.status(), 401);
    }
    // After three failures in a row the next attempt must wait, even with
    // the right code.
    let right = secret.code_at(now(&app)).unwrap();
    assert_eq!(code(&b, &right).await.status(), 429);
}

#[tokio::test]
async fn admins_enrol_before_the_console_when_the_vendor_requires_it() {
    let app = spawn_app_with(
        |raw| raw.set("staff_require_2fa", "true", Source::Default),
        false,
    )
    .await;
    let admin = app.with_staff(Role::Admin).await;
    let res = admin.get("/admin").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account/two-factor");
    assert!(
        admin
            .html("/account/two-factor")
            .await
            .contains("must use two-factor")
    );
    let (secret, _) = enrol(&app, &admin).await;
    assert_eq!(admin.get("/admin").await.status(), 200);
    // Support may go on without it.
    let support = app.with_staff(Role::Support).await;
    assert_eq!(support.get("/admin").await.status(), 200);

    // From now on the admin's sign-in asks for the code.
    app.clock.advance_secs(30);
    let b = Browser::new(&app);
    password(&b, "admin@vendor.example").await;
    let res = code(&b, &secret.code_at(now(&app)).unwrap()).await;
    assert_eq!(location(&res), "/admin");
    assert_eq!(b.get("/admin").await.status(), 200);
}
