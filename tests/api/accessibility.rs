//! Every page of the portal and the console in a real headless Chromium,
//! at a desktop (1280 px) and a phone (390 px) width: axe-core finds no
//! serious or critical violation, signed out, signed in and with a form
//! error showing; no page scrolls sideways on the phone; and each fix of
//! the portal's safety list holds at both widths.
//!
//! axe-core comes from npm (`.ci/run` installs it under `target/axe/`, or
//! `AXE_CORE_JS` names the file); without it the test says so and skips,
//! and under CI it fails.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use licensor::config::Source;
use serde_json::{Value, json};

use crate::browser::{Headless, WAIT, browser_available, page_containing};
use crate::support::form_browser::PASSWORD;
use crate::support::{TestApp, spawn_app_with};

const SUPPORT: &str = "help@vendor.example";

fn axe_source() -> Option<String> {
    let path = std::env::var("AXE_CORE_JS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/axe/node_modules/axe-core/axe.min.js"
        )
        .to_owned()
    });
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must install axe-core ({path}; see .ci/run)")
        }
        Err(_) => {
            eprintln!(
                "skipped: `npm install --prefix target/axe axe-core@4` to run the axe checks"
            );
            None
        }
    }
}

/// What a page must not have, gathered over the whole walk so that one run
/// reports every problem.
struct Audit {
    axe: String,
    width: u32,
    problems: Vec<String>,
    pages: usize,
}

impl Audit {
    /// axe-core's serious and critical violations of the page as it is,
    /// and, on the phone, a page wider than the screen.
    async fn page(&mut self, b: &Client, label: &str) {
        b.execute(&format!("{}\nreturn true;", self.axe), vec![])
            .await
            .expect("axe-core loads");
        let found = b
            .execute(
                "return axe.run(document, { runOnly: { type: 'tag', values: \
                 ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }, \
                 resultTypes: ['violations'] }).then(r => r.violations \
                 .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                 .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + \
                 v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')));",
                vec![],
            )
            .await
            .expect("axe runs");
        let Some(found) = found.as_array() else {
            panic!("axe answered {found}");
        };
        for v in found {
            self.problems.push(format!(
                "{} px, {label}: {}",
                self.width,
                v.as_str().unwrap_or("?")
            ));
        }
        if self.width < 600 {
            let wide = b
                .execute(
                    "return document.documentElement.scrollWidth - window.innerWidth;",
                    vec![],
                )
                .await
                .unwrap();
            if wide.as_i64().unwrap_or(0) > 0 {
                self.problems.push(format!(
                    "{} px, {label}: the page is {wide} px wider than the screen",
                    self.width
                ));
            }
        }
        self.pages += 1;
        let png = b.screenshot().await.unwrap();
        let name: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        std::fs::write(
            crate::browser::shots_dir()
                .join(format!("a11y-{}-{:02}-{name}.png", self.width, self.pages)),
            png,
        )
        .unwrap();
    }
}

async fn goto(b: &Client, app: &TestApp, path: &str) {
    b.goto(&format!("{}{path}", app.address)).await.unwrap();
}

async fn fill(b: &Client, css: &str, value: &str) {
    let field = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(b: &Client, css: &str) {
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

async fn script(b: &Client, js: &str) -> Value {
    b.execute(js, vec![]).await.unwrap()
}

/// Waits until `js` returns true.
async fn until(b: &Client, what: &str, js: &str) {
    let deadline = Instant::now() + WAIT;
    while script(b, js).await != json!(true) {
        assert!(
            Instant::now() < deadline,
            "{what}: {}",
            b.source().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in(b: &Client, app: &TestApp, email: &str) {
    b.delete_all_cookies().await.unwrap();
    goto(b, app, "/login").await;
    fill(b, "#email", email).await;
    fill(b, "#password", PASSWORD).await;
    click(b, "main form[action='/login'] button[type=submit]").await;
    until(b, "signed in", "return location.pathname !== '/login';").await;
}

/// Whether the element matching `css` is shown (rendered, not hidden).
async fn visible(b: &Client, css: &str) -> bool {
    script(
        b,
        &format!(
            "const e = document.querySelector({css:?}); \
             return !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';"
        ),
    )
    .await
        == json!(true)
}

#[tokio::test]
async fn every_page_passes_axe_and_each_fix_holds_at_desktop_and_phone_widths() {
    if !browser_available() {
        return;
    }
    let Some(axe) = axe_source() else {
        return;
    };
    let app = spawn_app_with(
        |raw| {
            raw.set("support_email", SUPPORT, Source::Default);
            raw.set("rate_limit_sign_up_ip", "0", Source::Default);
            raw.set("rate_limit_sign_in_ip", "0", Source::Default);
        },
        true,
    )
    .await;
    crate::support::create_staff(
        &app,
        "admin@vendor.example",
        licensor::domain::role::Role::Admin,
    )
    .await;
    let mut problems = Vec::new();
    let mut pages = 0;
    for (width, height) in [(1280, 1000), (390, 844)] {
        let session = Headless::start(width, height).await;
        let mut audit = Audit {
            axe: axe.clone(),
            width,
            problems: Vec::new(),
            pages: 0,
        };
        walk(&app, &session.client, &mut audit).await;
        session.client.clone().close().await.unwrap();
        problems.extend(audit.problems);
        pages += audit.pages;
    }
    assert!(pages >= 50, "{pages} pages audited");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The whole walk at one width.
async fn walk(app: &TestApp, b: &Client, audit: &mut Audit) {
    let w = audit.width;
    axe_sees_a_planted_violation(app, b, audit).await;
    signed_out(app, b, audit).await;
    let email = format!("walk-{w}@example.com");
    let customer = app.with_customer(&email).await;
    drop(customer);
    sign_in(b, app, &email).await;
    onboarding_and_the_key(app, b, audit, &email).await;
    let license_id = app.license_and_key_of(&email).await.0;
    machines_and_files(app, b, audit, &license_id).await;
    team(app, b, audit, w).await;
    account(app, b, audit).await;
    console(app, b, audit, &license_id).await;
    standing_seen_by_the_customer(app, b, audit, &email, &license_id).await;
}

/// The check itself works: an image without a text alternative, planted
/// in a page, is reported (and then taken out of the report).
async fn axe_sees_a_planted_violation(app: &TestApp, b: &Client, audit: &mut Audit) {
    goto(b, app, "/").await;
    script(
        b,
        "const i = document.createElement('img'); i.src = '/static/none.png'; \
         document.querySelector('main').appendChild(i); return 1;",
    )
    .await;
    let before = audit.problems.len();
    audit.page(b, "planted").await;
    let planted: Vec<String> = audit.problems.drain(before..).collect();
    assert!(
        planted.iter().any(|p| p.contains("image-alt")),
        "axe reports a planted image without alt: {planted:?}"
    );
    audit.pages -= 1;
}

async fn signed_out(app: &TestApp, b: &Client, audit: &mut Audit) {
    for path in [
        "/",
        "/signup",
        "/login",
        "/forgot-password",
        "/join",
        "/no-such-page",
    ] {
        goto(b, app, path).await;
        audit.page(b, &format!("signed out {path}")).await;
    }
    // Form errors, signed out.
    goto(b, app, "/signup").await;
    fill(b, "#email", "not an email").await;
    fill(b, "#password", "short").await;
    click(b, "main form button[type=submit]").await;
    page_containing(b, "aria-invalid").await;
    audit.page(b, "sign-up with errors").await;
    goto(b, app, "/login").await;
    fill(b, "#email", "nobody@example.com").await;
    fill(b, "#password", "not the right password").await;
    click(b, "main form button[type=submit]").await;
    page_containing(b, "The email or password is not right.").await;
    audit.page(b, "sign-in refused").await;

    // 4. Signing up with an address that has an account: the same page,
    // and the inbox says the account exists.
    let email = format!("taken-{}@example.com", audit.width);
    app.with_customer(&email).await;
    goto(b, app, "/signup").await;
    fill(b, "#email", &email).await;
    fill(b, "#password", PASSWORD).await;
    fill(b, "#organization", "Someone Else").await;
    click(b, "main form button[type=submit]").await;
    page_containing(b, "Check your inbox").await;
    audit.page(b, "check your inbox").await;
    let mail = app.mail.wait_for(&email, "You already have").await;
    assert!(mail.link("/forgot-password").starts_with(&app.address));
}

/// 2 and 3: the key under the password rule, its error visible and
/// focused, and commands with the key for the demo.
async fn onboarding_and_the_key(app: &TestApp, b: &Client, audit: &mut Audit, email: &str) {
    goto(b, app, "/onboarding").await;
    audit.page(b, "onboarding: get a license").await;
    click(b, "#step-license form[action='/onboarding/trial'] button").await;
    page_containing(b, "id=\"step-activate\"").await;
    audit.page(b, "onboarding: activate, key masked").await;
    assert!(
        visible(b, "#command-activate").await,
        "commands without a download"
    );
    script(
        b,
        "document.querySelector('details.reveal summary').click(); return 1;",
    )
    .await;
    fill(b, "#reveal-password", "not my password at all").await;
    click(b, "details.reveal button[type=submit]").await;
    page_containing(b, "That password is not right.").await;
    until(
        b,
        "the password field has the focus",
        "return document.activeElement && document.activeElement.id === 'reveal-password';",
    )
    .await;
    assert!(
        visible(b, "#reveal-password-error").await,
        "the error shows"
    );
    audit.page(b, "onboarding: wrong password").await;
    fill(b, "#reveal-password", PASSWORD).await;
    click(b, "details.reveal button[type=submit]").await;
    let key = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("license-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let command = b
        .find(Locator::Id("command-activate"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(command.contains(&key), "{command}");
    if audit.width < 600 {
        let fits = script(
            b,
            "const k = document.getElementById('license-key'); \
             return k.getClientRects().length === 1 && k.scrollWidth <= k.clientWidth + 1;",
        )
        .await;
        assert_eq!(fits, json!(true), "the key stays on one line, whole");
    }
    audit.page(b, "onboarding: key shown").await;
    let (_, key2) = app.license_and_key_of(email).await;
    assert_eq!(key, key2);
    assert_eq!(app.activate(&key, "walk-machine-1").await.status(), 201);
    assert_eq!(app.activate(&key, "walk-machine-2").await.status(), 201);
    goto(b, app, "/onboarding").await;
    audit.page(b, "onboarding: done").await;
}

/// 6: deactivating a machine names it and asks first.
async fn machines_and_files(app: &TestApp, b: &Client, audit: &mut Audit, license_id: &str) {
    goto(b, app, "/licenses").await;
    audit.page(b, "licenses").await;
    if audit.width < 600 {
        let label = script(
            b,
            "const td = document.querySelector('table.table tbody td'); \
             return getComputedStyle(td, '::before').content;",
        )
        .await;
        assert!(
            label.as_str().unwrap_or_default().contains("Product"),
            "phone rows keep their labels: {label}"
        );
    }
    goto(b, app, &format!("/licenses/{license_id}/renew")).await;
    audit.page(b, "license: renew or upgrade").await;
    goto(b, app, "/buy").await;
    audit.page(b, "buy").await;
    goto(b, app, &format!("/licenses/{license_id}")).await;
    audit.page(b, "license").await;
    click(b, "details.confirm summary").await;
    until(
        b,
        "the confirmation opens",
        "return document.querySelector('details.confirm').open;",
    )
    .await;
    let text = script(
        b,
        "return document.querySelector('details.confirm').innerText;",
    )
    .await;
    assert!(
        text.as_str()
            .unwrap_or_default()
            .contains("Its seat becomes free"),
        "{text}"
    );
    audit.page(b, "license: confirm a deactivation").await;
    click(b, "details.confirm button[type=submit]").await;
    page_containing(b, "is deactivated; its seat is free.").await;
    audit.page(b, "license: after a deactivation").await;
}

/// 5: invitations listed, resent, revoked; yourself refused.
async fn team(app: &TestApp, b: &Client, audit: &mut Audit, width: u32) {
    goto(b, app, "/team").await;
    audit.page(b, "team").await;
    fill(b, "#email", &format!("walk-{width}@example.com")).await;
    click(b, "form[action='/team/invite'] button").await;
    page_containing(b, "your own address").await;
    assert!(visible(b, "#email-error").await);
    audit.page(b, "team: inviting yourself").await;
    let invitee = format!("invitee-{width}@example.com");
    fill(b, "#email", &invitee).await;
    click(b, "form[action='/team/invite'] button").await;
    page_containing(b, "We sent an invitation").await;
    assert!(visible(b, "#invitations").await);
    audit.page(b, "team: an invitation pending").await;
    click(b, "#invitations form[action$='/resend'] button").await;
    page_containing(b, "again, with a new link").await;
    app.mail.wait_for_count(&invitee, "Join", 2).await;
    click(b, "#invitations form[action$='/revoke'] button").await;
    page_containing(b, "No invitation is waiting").await;
}

async fn account(app: &TestApp, b: &Client, audit: &mut Audit) {
    goto(b, app, "/account").await;
    audit.page(b, "account").await;
    goto(b, app, "/account/delete").await;
    audit.page(b, "account: delete, what happens first").await;
}

/// The console, every page, with a form error; 7: suspension with a reason.
async fn console(app: &TestApp, b: &Client, audit: &mut Audit, license_id: &str) {
    sign_in(b, app, "admin@vendor.example").await;
    let (org,): (String,) = sqlx::query_as("SELECT organization_id FROM licenses WHERE id = $1")
        .bind(license_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let (product_id,): (String,) = sqlx::query_as("SELECT id FROM products")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let (kid,): (String,) = sqlx::query_as("SELECT id FROM signing_keys WHERE is_active = 1")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    for path in [
        "/admin".to_owned(),
        format!("/admin/customers/{org}"),
        format!("/admin/licenses/{license_id}"),
        format!("/admin/licenses/{license_id}?fingerprint=walk-machine-2"),
        "/admin/dashboard".to_owned(),
        "/admin/outbox".to_owned(),
        "/admin/payments".to_owned(),
        "/admin/products".to_owned(),
        format!("/admin/products/{product_id}"),
        "/admin/tokens".to_owned(),
        "/admin/webhooks".to_owned(),
        "/admin/staff".to_owned(),
        "/admin/licenses/new".to_owned(),
        "/admin/audit".to_owned(),
        "/admin/audit?action=license.created&from=bad".to_owned(),
        format!("/admin/licenses/{license_id}/edit"),
        "/admin/licenses/import".to_owned(),
        "/admin/keys".to_owned(),
        format!("/admin/keys/{kid}"),
    ] {
        goto(b, app, &path).await;
        audit.page(b, &path).await;
    }
    // Two-factor sign-in: its page, then the enrolment's QR code.
    goto(b, app, "/account/two-factor").await;
    audit.page(b, "two-factor sign-in: off").await;
    click(
        b,
        "form[action='/account/two-factor/start'] button[type=submit]",
    )
    .await;
    page_containing(b, "totp-secret").await;
    audit.page(b, "two-factor sign-in: enrolling").await;
    // An import refused, with its table of errors by line.
    goto(b, app, "/admin/licenses/import").await;
    fill(
        b,
        "#csv",
        "key,product,license_type\nWALK-KEY-0001,no-such-product,Pro\n",
    )
    .await;
    click(b, "button[value=check]").await;
    page_containing(b, "import-errors").await;
    audit.page(b, "console: import refused").await;
    // A license edit refused: the reason is missing.
    goto(b, app, &format!("/admin/licenses/{license_id}/edit")).await;
    click(b, "form[action$='/edit'] button[type=submit]").await;
    page_containing(b, "reason-error").await;
    audit.page(b, "console: license edit refused").await;
    // A form error in the console.
    goto(b, app, &format!("/admin/products/{product_id}")).await;
    fill(b, "#t-name", "Floating team").await;
    click(b, "input[name=floating]").await;
    click(b, "form[action$='/types'] button[type=submit]").await;
    page_containing(b, "heartbeat_window_secs-error").await;
    until(
        b,
        "the focus is on the field in error",
        "return document.activeElement.id === 'heartbeat_window_secs';",
    )
    .await;
    audit.page(b, "console: license type refused").await;
    goto(b, app, "/admin/webhooks").await;
    fill(b, "#url", "not a url").await;
    click(b, "form[action='/admin/webhooks'] button[type=submit]").await;
    page_containing(b, "url-error").await;
    audit.page(b, "console: webhook refused").await;

    // 7. Suspended with a reason, from the console.
    goto(b, app, &format!("/admin/licenses/{license_id}")).await;
    fill(
        b,
        "form.action input[value=suspend] ~ label input[name=reason]",
        "Invoice 2026-7 unpaid",
    )
    .await;
    click(b, "form.action input[value=suspend] ~ button").await;
    page_containing(b, "The license is now suspended.").await;
    audit.page(b, "console: suspended").await;
}

/// 1 and 7, as the customer sees them.
async fn standing_seen_by_the_customer(
    app: &TestApp,
    b: &Client,
    audit: &mut Audit,
    email: &str,
    license_id: &str,
) {
    let mail = app.mail.wait_for(email, "license is suspended").await;
    let text = mail.part("text/plain").unwrap();
    assert!(
        text.contains("Invoice 2026-7 unpaid") && text.contains(SUPPORT),
        "{text}"
    );
    sign_in(b, app, email).await;
    goto(b, app, &format!("/licenses/{license_id}")).await;
    assert!(visible(b, "#standing").await, "the page says so");
    let notice = script(b, "return document.getElementById('standing').innerText;").await;
    let notice = notice.as_str().unwrap_or_default();
    assert!(notice.contains("This license is suspended"), "{notice}");
    assert!(notice.contains("Invoice 2026-7 unpaid"), "{notice}");
    assert!(notice.contains(SUPPORT), "{notice}");
    assert!(
        !visible(b, "#download-license").await,
        "no download offered"
    );
    audit.page(b, "license: suspended").await;
    // Asking for the file anyway comes back to the page, which says why.
    goto(b, app, &format!("/licenses/{license_id}/license-file")).await;
    page_containing(b, "No new license file can be downloaded").await;
    assert!(b.current_url().await.unwrap().path().ends_with(license_id));
}
