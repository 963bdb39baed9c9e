//! The customer journey in a real headless Chromium (Debian's `chromium`
//! and `chromium-driver`, which `.ci/run` installs), driven over WebDriver.
//! Screenshots of each step land in `target/e2e/`. Under CI a missing
//! browser fails the test instead of skipping it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::support::spawn_demo_app;

/// How long a step waits for the element it needs (pages load after clicks).
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// The page source once it contains `text` (a click's navigation may still
/// be under way when the click returns).
pub async fn page_containing(browser: &fantoccini::Client, text: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let page = browser.source().await.unwrap();
        if page.contains(text) {
            return page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no page with {text:?}:\n{page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
use crate::interop::{edit_payload, python_license_verdicts, python_with_cryptography};
use crate::support::form_browser::PASSWORD;
use crate::vendor_app::run_vendor_app;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn browser_available() -> bool {
    let ok = std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists();
    if !ok && std::env::var_os("CI").is_some() {
        panic!("CI must install chromium and chromium-driver (see .ci/run)");
    }
    if !ok {
        eprintln!("skipped: install Debian's chromium and chromium-driver to run the browser test");
    }
    ok
}

async fn start_driver() -> (Driver, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (Driver(child), port)
}

/// A headless Chromium driven over WebDriver, with its own driver process
/// and profile; both go when it is dropped.
pub struct Headless {
    pub client: fantoccini::Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Headless {
    /// A browser whose window is `width` x `height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> Self {
        let (driver, port) = start_driver().await;
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--disable-sync", "--disable-quic",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Self {
            client,
            _driver: driver,
            _profile: profile,
        }
    }
}

pub fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_customer_onboards_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let app = spawn_demo_app().await;
    // The example application below reads the wall clock.
    app.clock.set(licensor::domain::time::Timestamp::now());
    let session = Headless::start(1280, 1000).await;
    let browser = session.client.clone();
    let shots = shots_dir();
    let shot = |name: &'static str| {
        let browser = browser.clone();
        let path = shots.join(name);
        async move {
            let png = browser.screenshot().await.unwrap();
            std::fs::write(path, png).unwrap();
        }
    };

    // Home → sign-up.
    browser.goto(&app.address).await.unwrap();
    shot("01-home.png").await;
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::LinkText("Create an account"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page_containing(&browser, "<h1>Create your account</h1>").await;
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/signup")
    );
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("e2e@example.com")
        .await
        .unwrap();
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("organization"))
        .await
        .unwrap()
        .send_keys("E2E Ltd")
        .await
        .unwrap();
    shot("02-signup.png").await;
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page_containing(&browser, "Check your inbox").await;
    shot("03-check-inbox.png").await;

    // The link from the captured email.
    let link = app
        .mail
        .wait_for("e2e@example.com", "Confirm your email")
        .await
        .link("verify-email");
    browser.goto(&link).await.unwrap();
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        "/login",
        "the token left the URL"
    );
    assert!(
        browser
            .source()
            .await
            .unwrap()
            .contains("Your email address is confirmed.")
    );
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("e2e@example.com")
        .await
        .unwrap();
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    shot("04-sign-in.png").await;
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page_containing(&browser, "Start the Demo App trial").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/onboarding");
    shot("05-get-a-license.png").await;

    // Claim the trial; the key is shown with the instructions.
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//button[contains(., 'Start the Demo App trial')]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The key shows once the password is given again (the accessibility
    // walk covers a wrong one, and the commands, at both widths).
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("details.reveal summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .find(Locator::Id("reveal-password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    browser
        .find(Locator::Css("details.reveal button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let key = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("license-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(key.len(), 29, "{key}");
    assert!(
        browser
            .source()
            .await
            .unwrap()
            .contains("waiting for the first activation")
    );
    shot("06-activate.png").await;

    // The application activates; a plain reload shows it.
    assert_eq!(app.activate(&key, "e2e-machine").await.status(), 201);
    browser.refresh().await.unwrap();
    let status = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("activation-status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("activated"), "{status}");
    shot("07-done.png").await;

    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::LinkText("Manage your licenses"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page_containing(&browser, "<h1>Licenses</h1>").await;
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("table a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let detail = page_containing(&browser, "Workstation").await;
    assert!(
        detail.contains(&key),
        "shown for a while after the password was given"
    );
    shot("08-license.png").await;

    // The license file, downloaded in the browser's own session.
    let href = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("download-license"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let file = browser
        .execute(
            "return fetch(arguments[0]).then(r => r.text());",
            vec![json!(href)],
        )
        .await
        .unwrap();
    let file = file.as_str().unwrap();
    let keys = app
        .get("/.well-known/licensor-keys.json")
        .await
        .text()
        .await
        .unwrap();
    let now = {
        use licensor::clock::Clock;
        app.clock.now()
    };
    let trusted = licensor::verify::PublicKeys::from_key_set_json(&keys).unwrap();
    let payload =
        licensor::verify::verify(file, &trusted, now, None).expect("the downloaded file verifies");
    assert_eq!(payload.product, "demo-app");

    // The vendor's example application accepts it offline and refuses an
    // edited copy; the Python verifier written from the doc agrees.
    let dir = tempfile::tempdir().unwrap();
    let keys_path = dir.path().join("keys.json");
    std::fs::write(&keys_path, &keys).unwrap();
    let genuine = dir.path().join("genuine.lic");
    std::fs::write(&genuine, file).unwrap();
    let edited = dir.path().join("edited.lic");
    std::fs::write(&edited, edit_payload(file)).unwrap();
    let (code, out) = run_vendor_app(&["--fingerprint", "fp-any"], &genuine, &keys_path).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = run_vendor_app(&["--fingerprint", "fp-any"], &edited, &keys_path).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad_signature"), "{out}");
    if python_with_cryptography() {
        let case = |f: &str| json!({"file": f, "keys": keys, "now": now.unix(), "fingerprint": null, "license_key": null});
        assert_eq!(
            python_license_verdicts(&json!([case(file), case(&edit_payload(file))])),
            ["valid", "bad_signature"]
        );
    }
    // The vendor's staff see the customer on the dashboard.
    crate::support::create_staff(
        &app,
        "admin@vendor.example",
        licensor::domain::role::Role::Admin,
    )
    .await;
    browser.delete_all_cookies().await.unwrap();
    browser
        .goto(&format!("{}/login", app.address))
        .await
        .unwrap();
    for (field, value) in [("email", "admin@vendor.example"), ("password", PASSWORD)] {
        browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Id(field))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    browser
        .find(Locator::Css("form[action='/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page_containing(&browser, "Console").await;
    browser
        .goto(&format!("{}/admin/dashboard", app.address))
        .await
        .unwrap();
    let dashboard = page_containing(&browser, "Onboarding funnel").await;
    assert!(dashboard.contains("1 customer signed up"), "{dashboard}");
    shot("09-dashboard.png").await;
    browser
        .execute("document.getElementById('funnel').scrollIntoView()", vec![])
        .await
        .unwrap();
    shot("10-dashboard-charts.png").await;

    browser.close().await.unwrap();
    for name in [
        "01-home.png",
        "05-get-a-license.png",
        "08-license.png",
        "09-dashboard.png",
    ] {
        assert!(std::fs::metadata(shots_dir().join(name)).unwrap().len() > 1000);
    }
}
