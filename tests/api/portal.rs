//! The customer portal through its real forms, with a cookie jar, on both
//! backends: what a browser without JavaScript does.

use serde_json::{Value, json};

use crate::support::form_browser::{Browser, PASSWORD, command_on, location};
use crate::support::spawn_demo_app;

#[tokio::test]
async fn a_new_customer_goes_from_sign_up_to_an_activated_machine() {
    let app = spawn_demo_app().await;
    let b = Browser::new(&app);

    // Home page leads to sign-up.
    let home = b.html("/").await;
    assert!(home.contains("href=\"/signup\"") && home.contains("href=\"/login\""));

    let res = b.sign_up("jane@example.com", "Jane's Studio").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Check your inbox"));

    // The verification email: both parts, a working link, a stable Message-ID.
    let mail = app
        .mail
        .wait_for("jane@example.com", "Confirm your email")
        .await;
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .contains("multipart/alternative")
    );
    assert!(mail.header("Message-ID").is_some());
    assert!(mail.part("text/html").unwrap().contains("Confirm my email"));
    let link = mail.link("/verify-email?token=");
    assert!(
        link.starts_with(&app.address),
        "links use the public URL: {link}"
    );

    // Signing in before confirming shows only the verify step.
    let res = b.sign_in("jane@example.com", PASSWORD).await;
    assert_eq!(location(&res), "/onboarding");
    let page = b.html("/onboarding").await;
    assert!(page.contains("id=\"step-verify\""), "{page}");
    assert_eq!(location(&b.get("/licenses").await), "/onboarding");

    // The link confirms, then leaves the address bar.
    let res = b.get(&link).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/onboarding");
    let page = b.html("/onboarding").await;
    assert!(page.contains("Your email address is confirmed."));
    assert!(page.contains("id=\"step-license\""));
    assert!(page.contains("Start the Demo App trial"));

    // Claim the trial: the next step shows the key and the instructions.
    let res = b.claim_trial().await;
    assert_eq!(location(&res), "/onboarding");
    let page = b.html("/onboarding").await;
    assert!(page.contains("id=\"step-activate\""), "{page}");
    assert!(page.contains("Demo App stands in for your own application"));
    // The key shows under the license page's rule: after the password.
    assert!(!page.contains("<code id=\"license-key\">"), "{page}");
    assert!(
        page.contains("YOUR-LICENSE-KEY"),
        "commands wait for the key"
    );
    let (license_id,): (String,) = sqlx::query_as("SELECT id FROM licenses")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let res = b
        .post(
            &format!("/licenses/{license_id}/reveal"),
            &[("password", PASSWORD), ("back", "onboarding")],
        )
        .await;
    assert_eq!(location(&res), "/onboarding#license-key-section");
    let page = b.html("/onboarding").await;
    let key = {
        let s = page.find("<code id=\"license-key\">").unwrap() + "<code id=\"license-key\">".len();
        page[s..s + 29].to_owned()
    };
    // Copy-paste commands that activate with this very key.
    let activate = command_on(&page, "command-activate");
    assert!(
        activate.contains(&format!("\"key\": \"{key}\"")),
        "{activate}"
    );
    assert!(activate.contains(&app.address), "{activate}");
    assert!(page.contains("waiting for the first activation"));

    // The customer pastes the command into a shell; a reload shows it.
    // Off the runtime: the app's database pool lives on this test's runtime.
    let command = activate.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .output()
    })
    .await
    .unwrap()
    .expect("sh runs");
    let answer: Value = serde_json::from_slice(&out.stdout).expect("the API answers JSON");
    assert_eq!(
        answer["machine"]["fingerprint"], "my-first-machine",
        "{answer}"
    );
    let page = b.html("/onboarding").await;
    assert!(page.contains("id=\"step-done\""));
    assert!(page.contains("<strong>activated</strong>"));

    // The license page masks the key and lists the machine.
    let list = b.html("/licenses").await;
    assert!(list.contains(&key[key.len() - 4..]));
    assert!(!list.contains(&key));
    let (license_id,): (String,) = sqlx::query_as("SELECT id FROM licenses")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let detail = b.html(&format!("/licenses/{license_id}")).await;
    assert!(detail.contains("My first machine"));
    assert!(
        detail.contains(&key),
        "shown for a while after the password"
    );
    app.clock.advance_secs(11 * 60);
    let detail = b.html(&format!("/licenses/{license_id}")).await;
    assert!(
        !detail.contains(&key),
        "the key is masked again until the password is given again"
    );
}

#[tokio::test]
async fn sign_up_never_reveals_a_registered_email() {
    let app = spawn_demo_app().await;
    let first = Browser::new(&app);
    assert_eq!(
        first.sign_up("taken@example.com", "First").await.status(),
        200
    );
    app.mail
        .wait_for("taken@example.com", "Confirm your email")
        .await;

    let second = Browser::new(&app);
    let res = second.sign_up("Taken@Example.com", "Second").await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Check your inbox"), "the same answer");
    assert_eq!(app.count("users").await, 1);
    assert_eq!(
        app.count("organizations").await,
        1,
        "the second organization was rolled back"
    );

    // Sign-in: the same words for an unknown email and a wrong password.
    let unknown = second.sign_in("nobody@example.com", PASSWORD).await;
    let wrong = second
        .sign_in("taken@example.com", "not the right password")
        .await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(wrong.status(), 401);
    let a = unknown.text().await.unwrap();
    let b = wrong.text().await.unwrap();
    assert!(a.contains("The email or password is not right."));
    assert!(b.contains("The email or password is not right."));
}

#[tokio::test]
async fn sign_up_errors_are_shown_next_to_the_fields_with_the_input_kept() {
    let app = spawn_demo_app().await;
    let b = Browser::new(&app);
    let res = b
        .post(
            "/signup",
            &[
                ("email", "not-an-email"),
                ("password", "short"),
                ("organization", "Kept Org"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"email-error\""));
    assert!(page.contains("id=\"password-error\""));
    assert!(page.contains("value=\"Kept Org\""));
    assert!(page.contains("value=\"not-an-email\""));
    let long = "x".repeat(2000);
    let res = b
        .post(
            "/signup",
            &[
                ("email", "a@b.co"),
                ("password", long.as_str()),
                ("organization", "O"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422, "an over-long password is a form error");
    for (weak, says) in [
        ("password12345678", "commonly used passwords"),
        ("1q2w3e4r5t6y7u8i9o0p", "commonly used passwords"),
        ("aaaaaaaaaaaaaaaaaaaa", "repeated or sequential"),
        ("passwordpassword123", "guessed too easily"),
        ("monkeymonkeymonkey1", "guessed too easily"),
        ("letmeinletmein12", "guessed too easily"),
        ("aaaaaaaaaaaaaaab", "guessed too easily"),
    ] {
        let res = b
            .post(
                "/signup",
                &[
                    ("email", "weak@example.com"),
                    ("password", weak),
                    ("organization", "Weak Ltd"),
                ],
            )
            .await;
        assert_eq!(res.status(), 422, "{weak}");
        let page = res.text().await.unwrap();
        assert!(page.contains(says), "{weak}");
        assert!(!page.contains(weak), "the password is never echoed");
    }
    assert_eq!(app.count("users").await, 0);
    // A look-alike address is refused beside its field, as typed.
    let res = b
        .post(
            "/signup",
            &[
                ("email", "\u{430}lice@example.com"),
                ("password", "a long enough passphrase"),
                ("organization", "Look Ltd"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("look like another address"), "{page}");
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn verification_links_expire_and_work_once() {
    let app = spawn_demo_app().await;
    let b = Browser::new(&app);
    b.sign_up("late@example.com", "Late").await;
    let link = app
        .mail
        .wait_for("late@example.com", "Confirm")
        .await
        .link("verify-email");
    app.clock.advance_secs(25 * 3600);
    let res = b.get(&link).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    assert!(res.text().await.unwrap().contains("expired"));

    // A new link, from the verify step's resend button.
    b.sign_in("late@example.com", PASSWORD).await;
    let res = b.post("/verify-email/resend", &[]).await;
    assert_eq!(location(&res), "/onboarding");
    let page = b.html("/onboarding").await;
    assert!(page.contains("We sent a new link"));
    // A second resend within the cooldown is refused, politely.
    b.post("/verify-email/resend", &[]).await;
    assert!(b.html("/onboarding").await.contains("Wait"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.mail.count_to("late@example.com") < 2 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let fresh = app.mail.all().last().unwrap().link("verify-email");
    assert_ne!(fresh, link);
    assert_eq!(b.get(&fresh).await.status(), 303);
    // Used again (or the older, expired link) once the address is
    // confirmed: said plainly, not as an error.
    for used in [&fresh, &link] {
        let res = b.get(used).await;
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "/onboarding");
        assert!(
            b.html("/onboarding")
                .await
                .contains("Your email address is already confirmed")
        );
    }
}

#[tokio::test]
async fn a_second_trial_of_a_product_is_refused() {
    let app = spawn_demo_app().await;
    let b = app.with_customer("twice@example.com").await;
    let type_id = b.trial_type_id().await;
    b.claim_trial().await;
    let res = b
        .post(
            "/onboarding/trial",
            &[("license_type_id", type_id.as_str())],
        )
        .await;
    assert_eq!(location(&res), "/onboarding");
    assert!(b.html("/onboarding").await.contains("already had a trial"));
    assert_eq!(app.count("licenses").await, 1);
}

#[tokio::test]
async fn forms_without_the_csrf_token_change_nothing() {
    let app = spawn_demo_app().await;
    let b = Browser::new(&app);
    let res = b
        .client
        .post(format!("{}/signup", app.address))
        .form(&[
            ("email", "x@example.com"),
            ("password", PASSWORD),
            ("organization", "X"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("This form has expired"));
    let res = b
        .client
        .post(format!("{}/signup", app.address))
        .form(&[
            ("csrf", "forged"),
            ("email", "x@example.com"),
            ("password", PASSWORD),
            ("organization", "X"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.count("users").await, 0);
    // Sign-out is a POST with the token; a GET goes home and signs nobody out.
    let signed_in = app.with_customer("stays@example.com").await;
    let res = signed_in.get("/logout").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    assert_eq!(signed_in.get("/account").await.status(), 200);
}

#[tokio::test]
async fn customers_see_only_their_own_organization() {
    let app = spawn_demo_app().await;
    let alice = app.with_customer("alice@example.com").await;
    let bob = app.with_customer("bob@example.com").await;
    alice.claim_trial().await;
    let (license_id,): (String,) = sqlx::query_as("SELECT id FROM licenses")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let key = app.key_of(&license_id).await;
    assert_eq!(app.activate(&key, "alice-pc").await.status(), 201);
    let (machine_id,): (String,) = sqlx::query_as("SELECT id FROM machines")
        .fetch_one(app.db.pool())
        .await
        .unwrap();

    assert_eq!(
        alice.get(&format!("/licenses/{license_id}")).await.status(),
        200
    );
    assert_eq!(
        bob.get(&format!("/licenses/{license_id}")).await.status(),
        404
    );
    assert!(!bob.html("/licenses").await.contains(&license_id));
    let res = bob
        .post(
            &format!("/licenses/{license_id}/machines/{machine_id}/deactivate"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 404);
    let res = bob
        .post(
            &format!("/licenses/{license_id}/reveal"),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(bob.get("/licenses/not-an-id").await.status(), 404);
    let (used,): (i64,) = sqlx::query_as("SELECT machines_used FROM licenses")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(used, 1, "bob changed nothing");

    // Alice reveals her key with her password, and deactivates her machine.
    // A wrong password comes back to the page with the disclosure open,
    // the error beside the field and the focus on it.
    let res = alice
        .post(
            &format!("/licenses/{license_id}/reveal"),
            &[("password", "wrong password here")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/licenses/{license_id}"));
    let page = alice.html(&format!("/licenses/{license_id}")).await;
    assert!(!page.contains(&key));
    assert!(page.contains("<details class=\"reveal\" open>"), "{page}");
    assert!(page.contains("That password is not right."));
    assert!(page.contains("aria-invalid=\"true\""));
    assert!(page.contains("autofocus"));
    let again = alice.html(&format!("/licenses/{license_id}")).await;
    assert!(!again.contains("That password is not right."), "shown once");
    let res = alice
        .post(
            &format!("/licenses/{license_id}/reveal"),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 303, "post/redirect/get");
    let page = alice.html(&format!("/licenses/{license_id}")).await;
    assert!(page.contains(&key));
    // A reload shows it again without asking (or counting) again.
    assert!(
        alice
            .html(&format!("/licenses/{license_id}"))
            .await
            .contains(&key)
    );
    // Bob's session never got the grant.
    assert_eq!(
        bob.get(&format!("/licenses/{license_id}")).await.status(),
        404
    );
    let (reveals,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM events WHERE kind = 'license.key_revealed'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(reveals, 1);
    let res = alice
        .post(
            &format!("/licenses/{license_id}/machines/{machine_id}/deactivate"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = alice.html(&format!("/licenses/{license_id}")).await;
    assert!(
        page.contains("Nothing was deactivated: confirm"),
        "a deactivation without its confirmation changes nothing"
    );
    assert!(page.contains("1 of 2 in use"));
    assert!(
        page.contains("Yes, deactivate"),
        "the confirmation names it"
    );
    let res = alice
        .post(
            &format!("/licenses/{license_id}/machines/{machine_id}/deactivate"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = alice.html(&format!("/licenses/{license_id}")).await;
    assert!(page.contains("is deactivated; its seat is free"));
    assert!(page.contains("0 of 2 in use"));
}

#[tokio::test]
async fn a_password_reset_ends_every_session() {
    let app = spawn_demo_app().await;
    let laptop = app.with_customer("reset@example.com").await;
    let phone = Browser::new(&app);
    assert_eq!(
        phone.sign_in("reset@example.com", PASSWORD).await.status(),
        303
    );
    assert_eq!(phone.get("/account").await.status(), 200);

    let stranger = Browser::new(&app);
    let res = stranger
        .post_and_follow("/forgot-password", &[("email", "reset@example.com")])
        .await;
    let same_for_unknown = stranger
        .post_and_follow("/forgot-password", &[("email", "ghost@example.com")])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(same_for_unknown.status(), 200);
    assert!(
        same_for_unknown
            .text()
            .await
            .unwrap()
            .contains("If an account uses that address")
    );
    let link = app
        .mail
        .wait_for("reset@example.com", "Reset your")
        .await
        .link("reset-password");
    let res = stranger.get(&link).await;
    assert_eq!(
        location(&res),
        "/reset-password",
        "the token leaves the URL"
    );
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let form = stranger.html("/reset-password").await;
    assert!(form.contains("Choose a new password"));
    let res = stranger
        .post("/reset-password", &[("password", "a brand new passphrase")])
        .await;
    assert_eq!(location(&res), "/onboarding");

    assert_eq!(
        location(&laptop.get("/account").await),
        "/login",
        "the old sessions ended"
    );
    assert_eq!(location(&phone.get("/account").await), "/login");
    assert_eq!(
        Browser::new(&app)
            .sign_in("reset@example.com", PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        Browser::new(&app)
            .sign_in("reset@example.com", "a brand new passphrase")
            .await
            .status(),
        303
    );
    app.mail
        .wait_for("reset@example.com", "password was changed")
        .await;
    // The link worked once.
    let again = Browser::new(&app);
    again.get(&link).await;
    assert!(again.html("/reset-password").await.contains("already used"));
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_signs_out_elsewhere() {
    let app = spawn_demo_app().await;
    let b = app.with_customer("change@example.com").await;
    let other = Browser::new(&app);
    other.sign_in("change@example.com", PASSWORD).await;
    let res = b
        .post(
            "/account/password",
            &[
                ("current", "wrong current pass"),
                ("new", "another long passphrase"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The current password is not right.")
    );
    let res = b
        .post(
            "/account/password",
            &[("current", PASSWORD), ("new", "another long passphrase")],
        )
        .await;
    assert_eq!(location(&res), "/account");
    assert_eq!(
        b.get("/account").await.status(),
        200,
        "this session goes on"
    );
    assert_eq!(location(&other.get("/account").await), "/login");
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_of_the_account_only() {
    let app = spawn_demo_app().await;
    let b = app.with_customer("everywhere@example.com").await;
    let phone = Browser::new(&app);
    assert_eq!(
        phone
            .sign_in("everywhere@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let someone_else = app.with_customer("bystander@example.com").await;
    assert!(b.html("/account").await.contains("Sign out everywhere"));

    // A forged form changes nothing.
    let res = b
        .client
        .post(b.url("/account/sign-out-everywhere"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(phone.get("/account").await.status(), 200);

    let res = b.post("/account/sign-out-everywhere", &[]).await;
    assert_eq!(location(&res), "/login?ended=everywhere");
    assert!(
        b.html("/login?ended=everywhere")
            .await
            .contains("You are signed out on every device")
    );
    assert_eq!(location(&b.get("/account").await), "/login", "this browser");
    assert_eq!(
        location(&phone.get("/account").await),
        "/login",
        "the other device"
    );
    assert_eq!(
        someone_else.get("/account").await.status(),
        200,
        "other accounts keep their sessions"
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'user.signed_out_everywhere'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(audited, 1);
    // Signing in again works as before.
    assert_eq!(
        b.sign_in("everywhere@example.com", PASSWORD).await.status(),
        303
    );
    assert_eq!(b.get("/account").await.status(), 200);
}

#[tokio::test]
async fn the_session_cookie_is_guarded_and_rotates_at_sign_in() {
    let app = spawn_demo_app().await;
    let b = Browser::new(&app);
    b.sign_up("cookie@example.com", "C").await;
    let before = b.get("/login").await;
    let cookie = before
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    let res = b.sign_in("cookie@example.com", PASSWORD).await;
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.contains("HttpOnly"));
    assert!(set.contains("SameSite=Lax"));
    assert!(!set.contains("Secure"), "http public URL: not Secure");
    if let Some(cookie) = cookie {
        assert_ne!(
            cookie.split(';').next(),
            set.split(';').next(),
            "a new session id"
        );
    }
    // A tampered cookie is no session at all.
    let forged = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = forged
        .get(format!("{}/account", app.address))
        .header("Cookie", "licensor_session=forged-value")
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login");
    // Idle timeout: a day without requests ends the session.
    app.clock.advance_secs(24 * 3600 + 1);
    assert_eq!(location(&b.get("/account").await), "/login");
}

#[tokio::test]
async fn a_license_assigned_to_an_email_is_accepted_after_verification() {
    let app = spawn_demo_app().await;
    let p = app.with_license(json!({})).await;
    let res = app
        .post_json(
            "/api/v1/licenses",
            Some(&p.token),
            &json!({ "license_type_id": p.license_type_id, "email": "assigned@example.com" }),
        )
        .await;
    let created: Value = res.json().await.unwrap();
    let license_id = created["license"]["id"].as_str().unwrap().to_owned();
    // The vendor's assignment is announced by email, with the way in.
    let mail = app
        .mail
        .wait_for("assigned@example.com", "license from")
        .await;
    let link = mail.link("/onboarding");
    assert!(link.starts_with(&app.address));
    assert!(
        !mail.raw.contains(created["key"].as_str().unwrap()),
        "never the key by email"
    );
    let b = app.with_customer("assigned@example.com").await;
    let page = b.html("/onboarding").await;
    assert!(page.contains("assigned to you"), "{page}");
    let res = b
        .post(&format!("/onboarding/accept/{license_id}"), &[])
        .await;
    assert_eq!(location(&res), "/onboarding");
    let page = b.html("/onboarding").await;
    assert!(page.contains("id=\"step-activate\""));
    let (org,): (Option<String>,) =
        sqlx::query_as("SELECT organization_id FROM licenses WHERE id = $1")
            .bind(&license_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(org.is_some());
}

#[tokio::test]
async fn mail_waits_in_the_outbox_while_smtp_is_down() {
    let app = spawn_demo_app().await;
    app.mail.set_up(false);
    let b = Browser::new(&app);
    b.sign_up("patient@example.com", "Patient").await;
    // The worker tries, fails, and keeps the message for later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, attempts, error): (String, i64, Option<String>) =
            sqlx::query_as("SELECT status, attempts, last_error FROM outbox")
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        if attempts >= 1 && error.is_some() {
            assert_eq!(status, "queued");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery attempt");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.mail.count_to("patient@example.com"), 0);
    app.mail.set_up(true);
    app.clock.advance_secs(10 * 60);
    let mail = app
        .mail
        .wait_for("patient@example.com", "Confirm your email")
        .await;
    assert!(mail.link("verify-email").contains("token="));
    // The row is marked sent just after the server accepted the message.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status,): (String,) = sqlx::query_as("SELECT status FROM outbox")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        if status == "sent" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {status}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.mail.count_to("patient@example.com"), 1, "sent once");
}

#[tokio::test]
async fn the_owner_invites_a_member_who_sees_the_licenses_until_removed() {
    let app = spawn_demo_app().await;
    let owner = app.with_customer("owner@example.com").await;
    owner.claim_trial().await;
    let (license_id,): (String,) = sqlx::query_as("SELECT id FROM licenses")
        .fetch_one(app.db.pool())
        .await
        .unwrap();

    let res = owner
        .post("/team/invite", &[("email", "mate@example.com")])
        .await;
    assert_eq!(location(&res), "/team");
    let link = app
        .mail
        .wait_for("mate@example.com", "Join Acme Ltd")
        .await
        .link("/join?token=");
    let mate = Browser::new(&app);
    assert_eq!(
        location(&mate.get(&link).await),
        "/join",
        "the token leaves the URL"
    );
    assert!(mate.html("/join").await.contains("Join Acme Ltd"));
    let res = mate
        .post("/join", &[("password", "their own long passphrase")])
        .await;
    assert_eq!(location(&res), "/licenses");
    assert!(mate.html("/licenses").await.contains(&license_id));
    assert_eq!(
        mate.get(&format!("/licenses/{license_id}")).await.status(),
        200
    );
    // A member cannot invite or remove.
    assert_eq!(
        mate.post("/team/invite", &[("email", "x@example.com")])
            .await
            .status(),
        403
    );
    // The invitation worked once.
    let again = Browser::new(&app);
    again.get(&link).await;
    assert_eq!(again.get("/join").await.status(), 400);

    let (mate_id,): (String,) =
        sqlx::query_as("SELECT id FROM users WHERE email = 'mate@example.com'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let res = owner.post(&format!("/team/{mate_id}/remove"), &[]).await;
    assert_eq!(location(&res), "/team");
    let res = mate.get(&format!("/licenses/{license_id}")).await;
    assert_eq!(location(&res), "/login", "signed out when removed");
    let back = Browser::new(&app);
    back.sign_in("mate@example.com", "their own long passphrase")
        .await;
    assert_eq!(
        back.get(&format!("/licenses/{license_id}")).await.status(),
        404,
        "no longer in the organization"
    );
}

#[tokio::test]
async fn a_busy_session_still_ends_after_a_week() {
    let app = spawn_demo_app().await;
    let b = app.with_customer("busy@example.com").await;
    // Seven requests 23 hours apart: never idle for a day, 161 hours in all.
    for _ in 0..7 {
        app.clock.advance_secs(23 * 3600);
        assert_eq!(
            b.get("/account").await.status(),
            200,
            "active within the idle timeout"
        );
    }
    app.clock.advance_secs(23 * 3600);
    assert_eq!(
        location(&b.get("/account").await),
        "/login",
        "the absolute timeout"
    );
}

#[tokio::test]
async fn cookies_are_secure_when_the_public_url_is_https() {
    let app = crate::support::spawn_app_with(
        |raw| {
            raw.set(
                "public_url",
                "https://licenses.example.com/",
                licensor::config::Source::Default,
            )
        },
        true,
    )
    .await;
    let b = Browser::new(&app);
    let res = b.get("/login").await;
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.contains("Secure"), "{set}");
    assert!(set.contains("HttpOnly"));
}

#[tokio::test]
async fn license_files_download_and_offline_activation() {
    let app = spawn_demo_app().await;
    let b = app.with_customer("files@example.com").await;
    b.claim_trial().await;
    let (license_id,): (String,) = sqlx::query_as("SELECT id FROM licenses")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let keys = app.public_keys().await;
    let now = {
        use licensor::clock::Clock;
        app.clock.now()
    };

    let res = b.get(&format!("/licenses/{license_id}/license-file")).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let file = res.text().await.unwrap();
    let payload = licensor::verify::verify(&file, &keys, now, None).unwrap();
    assert_eq!(payload.license_id, license_id);
    assert_eq!(payload.licensee.name.as_deref(), Some("Acme Ltd"));

    let res = b
        .post(
            &format!("/licenses/{license_id}/offline"),
            &[("fingerprint", "air-gapped-1"), ("name", "Lab PC")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let machine_file = res.text().await.unwrap();
    let payload =
        licensor::verify::verify(&machine_file, &keys, now, Some("air-gapped-1")).unwrap();
    assert_eq!(payload.kind, "machine");
    assert!(
        b.html(&format!("/licenses/{license_id}"))
            .await
            .contains("Lab PC")
    );
    let res = b
        .post(
            &format!("/licenses/{license_id}/offline"),
            &[("fingerprint", "bad fingerprint!")],
        )
        .await;
    assert_eq!(location(&res), format!("/licenses/{license_id}"));
    assert!(
        b.html(&format!("/licenses/{license_id}"))
            .await
            .contains("cannot be used")
    );

    // The encrypted variants: readable only with the license key.
    let key = licensor::services::licensing::reveal_key(
        &app.db,
        &crate::support::cipher_of(&app),
        &crate::support::lid(&license_id),
    )
    .await
    .unwrap();
    let res = b
        .get(&format!("/licenses/{license_id}/license-file?encrypted=1"))
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("-encrypted.lic")
    );
    let sealed = res.text().await.unwrap();
    assert!(!sealed.contains(&key.expose()));
    assert_eq!(
        licensor::verify::verify(&sealed, &keys, now, None),
        Err(licensor::verify::VerifyError::KeyRequired)
    );
    let opened = licensor::verify::verify_with_key(&sealed, &keys, now, None, Some(&key)).unwrap();
    assert_eq!(opened.licensee.name.as_deref(), Some("Acme Ltd"));
    let res = b
        .post(
            &format!("/licenses/{license_id}/offline"),
            &[("fingerprint", "air-gapped-2"), ("encrypted", "1")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let sealed_machine = res.text().await.unwrap();
    assert_eq!(
        licensor::verify::verify_with_key(
            &sealed_machine,
            &keys,
            now,
            Some("air-gapped-2"),
            Some(&key)
        )
        .unwrap()
        .kind,
        "machine"
    );
    assert!(licensor::verify::verify(&sealed_machine, &keys, now, Some("air-gapped-2")).is_err());

    // Another organization gets nothing.
    let other = app.with_customer("other-files@example.com").await;
    assert_eq!(
        other
            .get(&format!("/licenses/{license_id}/license-file"))
            .await
            .status(),
        404
    );
}
