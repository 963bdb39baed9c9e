//! A browser without JavaScript for the integration tests: a cookie jar,
//! forms posted with the session's CSRF token, and the steps every journey
//! starts with (a verified, signed-in customer, or a signed-in staff
//! member).

use crate::support::TestApp;

pub const PASSWORD: &str = "a long enough passphrase";

/// One browser: its own cookie jar.
pub struct Browser {
    pub client: reqwest::Client,
    base: String,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

pub fn csrf_from(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

impl Browser {
    /// The license type of the first trial the onboarding page offers.
    pub async fn trial_type_id(&self) -> String {
        let page = self.html("/onboarding").await;
        let marker = "name=\"license_type_id\" value=\"";
        let start = page.find(marker).expect("a trial offer") + marker.len();
        page[start..start + 36].to_owned()
    }

    /// Claims the first trial offered.
    pub async fn claim_trial(&self) -> reqwest::Response {
        let type_id = self.trial_type_id().await;
        self.post(
            "/onboarding/trial",
            &[("license_type_id", type_id.as_str())],
        )
        .await
    }

    pub fn new(app: &TestApp) -> Self {
        Self::with_base(&app.address)
    }

    /// A browser with no cookies yet, for the server at `base`.
    pub fn with_base(base: &str) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_provider(jar.clone())
                .build()
                .unwrap(),
            base: base.to_owned(),
            jar,
        }
    }

    /// The same browser (cookies and all) pointed at another server.
    pub fn at(&self, base: &str) -> Self {
        Self {
            client: self.client.clone(),
            base: base.to_owned(),
            jar: self.jar.clone(),
        }
    }

    /// The browser's cookies.
    pub fn cookie_jar(&self) -> &reqwest::cookie::Jar {
        &self.jar
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.client.get(url).send().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn html(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    pub async fn csrf(&self) -> String {
        csrf_from(&self.html("/login").await)
    }

    /// Posts a form with this session's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf().await;
        let mut form: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        form.extend_from_slice(fields);
        self.client
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form and, when it answers with a redirect (post/redirect/
    /// get), follows it once: the page a browser shows after the form.
    pub async fn post_and_follow(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let res = self.post(path, fields).await;
        if res.status() == 303 {
            self.get(&location(&res)).await
        } else {
            res
        }
    }

    /// Signs up, through the page the form leads to.
    pub async fn sign_up(&self, email: &str, organization: &str) -> reqwest::Response {
        self.post_and_follow(
            "/signup",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("organization", organization),
            ],
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post("/login", &[("email", email), ("password", password)])
            .await
    }
}

/// The text of a copy-paste command block on a page, unescaped.
pub fn command_on(page: &str, id: &str) -> String {
    let open = format!("<pre id=\"{id}\"");
    let start = page.find(&open).expect("the command");
    let start = start + page[start..].find('>').unwrap() + 1;
    let end = start + page[start..].find("</pre>").unwrap();
    page[start..end]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

impl TestApp {
    /// A customer who signed up, confirmed the email and signed in: their
    /// browser.
    pub async fn with_customer(&self, email: &str) -> Browser {
        let browser = Browser::new(self);
        assert_eq!(browser.sign_up(email, "Acme Ltd").await.status(), 200);
        let mail = self.mail.wait_for(email, "Confirm your email").await;
        let res = browser.get(&mail.link("/verify-email?token=")).await;
        assert_eq!(res.status(), 303);
        let res = browser.sign_in(email, PASSWORD).await;
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        browser
    }

    /// A staff member of `role` (`{role}@vendor.example`), signed in: their
    /// browser.
    pub async fn with_staff(&self, role: licensor::domain::role::Role) -> Browser {
        let email = format!("{}@vendor.example", role.as_str());
        crate::support::create_staff(self, &email, role).await;
        let b = Browser::new(self);
        let res = b.sign_in(&email, PASSWORD).await;
        assert_eq!(location(&res), "/admin", "staff land in the console");
        b
    }
}
