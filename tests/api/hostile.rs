//! The hostile-input suite: well over 150 requests across the portal, the
//! console and the API (oversized and deeply nested JSON, wrong content
//! types, invalid UTF-8, NUL bytes, 10 KB values, SQL and template
//! metacharacters, header injection in email fields, forged or missing
//! CSRF tokens, tampered and replayed session cookies, other customers'
//! ids). Each gets its expected 4xx (or, for a key the validation API
//! answers with a result code, that code), never a 5xx, and the database
//! is byte-for-byte what it was before.

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::json;
use sqlx::{Column, Row};

use crate::support::form_browser::{Browser, PASSWORD, csrf_from};
use crate::support::{TestApp, spawn_app_with};
use licensor::config::Source;

/// Who sends a probe.
#[derive(Clone, Copy)]
enum As {
    /// No cookie, no token.
    Nobody,
    /// An anonymous browser session (it has a CSRF token).
    Visitor,
    /// Alice, a signed-in customer.
    Alice,
    /// A write-scoped API token.
    Token,
    /// A read-scoped API token.
    ReadToken,
}

/// One hostile request and what it must get.
struct Probe {
    what: String,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    headers: Vec<(&'static str, HeaderValue)>,
    who: As,
    /// Adds the sender's CSRF token in front of a form body.
    csrf: bool,
    status: u16,
    /// The problem `code` (API) or the validation `code` (validate).
    code: Option<&'static str>,
}

impl Probe {
    fn new(what: impl Into<String>, method: Method, path: impl Into<String>, who: As) -> Self {
        Self {
            what: what.into(),
            method,
            path: path.into(),
            content_type: None,
            body: Vec::new(),
            headers: Vec::new(),
            who,
            csrf: false,
            status: 400,
            code: None,
        }
    }

    fn json(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = Some("application/json");
        self.body = body.into();
        self
    }

    /// A form body as raw urlencoded bytes, with the sender's CSRF token.
    fn form(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = Some("application/x-www-form-urlencoded");
        self.body = body.into();
        self.csrf = true;
        self
    }

    fn without_csrf(mut self) -> Self {
        self.csrf = false;
        self
    }

    fn content_type(mut self, ct: Option<&'static str>) -> Self {
        self.content_type = ct;
        self
    }

    fn header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    fn expect(mut self, status: u16, code: Option<&'static str>) -> Self {
        self.status = status;
        self.code = code;
        self
    }
}

/// Percent-encodes every byte but letters and digits, so any bytes
/// (invalid UTF-8, NUL, CR/LF) reach the form parser exactly.
impl Probe {
    /// What is wrong with the answer this probe got, if anything.
    fn verdict(&self, status: u16, content_type: &str, text: &str) -> Option<String> {
        let code = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned));
        let mut wrong = Vec::new();
        if status != self.status {
            wrong.push(format!("status {status}, expected {}", self.status));
        }
        if let Some(expected) = self.code
            && code.as_deref() != Some(expected)
        {
            wrong.push(format!("code {code:?}, expected {expected}"));
        }
        let api = self.path.starts_with("/api/");
        if api && status >= 400 && content_type != "application/problem+json" {
            wrong.push(format!("content type {content_type}"));
        }
        if text.contains("panicked") || text.contains("sqlx") || text.contains("SQLITE") {
            wrong.push("the answer leaks internals".to_owned());
        }
        (!wrong.is_empty()).then(|| {
            format!(
                "{} {} ({}): {}",
                self.method,
                self.what,
                self.path.chars().take(80).collect::<String>(),
                wrong.join("; ")
            )
        })
    }
}

fn enc(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(*b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every table's rows as text, sorted: the database's state apart from
/// sessions (an anonymous page view may start one) and the in-flight
/// validation usage counters.
async fn snapshot(app: &TestApp) -> Vec<String> {
    // Sessions and the usage counters change by design; the rest may not.
    let tables = crate::database::TABLES.iter().filter(|t| {
        ![
            "sessions",
            "validation_stats",
            "validation_sightings",
            "api_outcomes",
            "api_refusal_ips",
        ]
        .contains(t)
    });
    let mut out = Vec::new();
    for table in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(app.db.pool())
            .await
            .unwrap();
        let mut lines: Vec<String> = rows
            .iter()
            .map(|row| {
                let cells: Vec<String> = (0..row.columns().len())
                    .map(|i| {
                        let name = row.columns()[i].name().to_owned();
                        let value = row
                            .try_get::<Option<String>, _>(i)
                            .map(|v| format!("{v:?}"))
                            .or_else(|_| row.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                            .or_else(|_| row.try_get::<Option<f64>, _>(i).map(|v| format!("{v:?}")))
                            .or_else(|_| {
                                row.try_get::<Option<Vec<u8>>, _>(i)
                                    .map(|v| format!("{v:?}"))
                            })
                            .unwrap_or_else(|e| panic!("{table}.{name}: {e}"));
                        format!("{name}={value}")
                    })
                    .collect();
                format!("{table}: {}", cells.join(", "))
            })
            .collect();
        lines.sort();
        out.extend(lines);
    }
    out
}

/// Strings that have broken servers before.
fn metacharacters() -> Vec<(&'static str, String)> {
    vec![
        ("sql quote", "' OR '1'='1".to_owned()),
        ("sql drop", "x'; DROP TABLE licenses; --".to_owned()),
        (
            "sql union",
            "\" UNION SELECT key_digest FROM licenses --".to_owned(),
        ),
        ("askama", "{{ 7*7 }}{% if true %}x{% endif %}".to_owned()),
        ("script", "<script>alert(1)</script>".to_owned()),
        ("nul", "a\u{0}b".to_owned()),
        ("crlf", "a\r\nX-Injected: 1".to_owned()),
        ("bidi", "\u{202e}gnp.exe".to_owned()),
        ("path", "../../../etc/passwd".to_owned()),
        ("10 KB", "A".repeat(10 * 1024)),
    ]
}

/// What the probes are aimed at: two customers with a license each (Bob's
/// with a machine), the ids and cookies they are aimed with.
struct Fixture {
    alice_license: String,
    bob_license: String,
    bob_user: String,
    bob_key: String,
    bob_machine: String,
    /// A session that signed out: its cookie, replayed later, is dead.
    carol_cookie: String,
    /// Alice's live session cookie with its last character changed.
    alice_cookie_flipped: String,
    visitor_csrf: String,
}

/// The key-authenticated and token API: bodies, content types, keys, tokens, pages.
fn api_probes(f: &Fixture) -> Vec<Probe> {
    let Fixture { bob_key, .. } = f;
    let mut probes: Vec<Probe> = Vec::new();
    let post = Method::POST;
    let get = Method::GET;
    let validate = "/api/v1/licenses/validate";
    let activate = "/api/v1/machines/activate";
    let machine_endpoints = [
        activate,
        "/api/v1/machines/deactivate",
        "/api/v1/machines/heartbeat",
    ];
    // Deeper than serde_json's recursion limit, within the size limit.
    let nested_arrays = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let nested_objects = format!("{}1{}", "{\"a\":".repeat(2000), "}".repeat(2000));
    let oversized = format!("{{\"key\":\"{}\"}}", "K".repeat(20 * 1024));
    let mut invalid_utf8 = b"{\"key\":\"".to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    invalid_utf8.extend_from_slice(b"\"}");
    for path in [validate, activate] {
        for (what, body, status, code) in [
            ("truncated", "{\"key\":".to_owned(), 400, "malformed_json"),
            ("empty", String::new(), 400, "malformed_json"),
            ("nested arrays", nested_arrays.clone(), 400, "invalid_body"),
            (
                "nested objects",
                nested_objects.clone(),
                400,
                "invalid_body",
            ),
            ("oversized", oversized.clone(), 413, "payload_too_large"),
            (
                "number key",
                "{\"key\": 12345}".to_owned(),
                400,
                "invalid_body",
            ),
            (
                "array key",
                "{\"key\": [\"a\"]}".to_owned(),
                400,
                "invalid_body",
            ),
            (
                "unknown field",
                "{\"key\":\"k\",\"admin\":true}".to_owned(),
                400,
                "invalid_body",
            ),
            (
                "duplicate field",
                "{\"key\":\"a\",\"key\":\"b\"}".to_owned(),
                400,
                "invalid_body",
            ),
            (
                "huge number",
                "{\"key\": 1e999999}".to_owned(),
                400,
                "malformed_json",
            ),
            (
                "lone surrogate",
                "{\"key\":\"\\ud800\"}".to_owned(),
                400,
                "malformed_json",
            ),
        ] {
            probes.push(
                Probe::new(format!("{path} {what}"), post.clone(), path, As::Nobody)
                    .json(body)
                    .expect(status, Some(code)),
            );
        }
        probes.push(
            Probe::new(
                format!("{path} invalid UTF-8"),
                post.clone(),
                path,
                As::Nobody,
            )
            .json(invalid_utf8.clone())
            .expect(400, Some("malformed_json")),
        );
        for ct in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/xml"),
            None,
        ] {
            probes.push(
                Probe::new(format!("{path} as {ct:?}"), post.clone(), path, As::Nobody)
                    .json(format!("{{\"key\":\"{bob_key}\"}}"))
                    .content_type(ct)
                    .expect(415, Some("unsupported_media_type")),
            );
        }
        probes.push(
            Probe::new(format!("GET {path}"), get.clone(), path, As::Nobody)
                .expect(405, Some("method_not_allowed")),
        );
    }
    // Metacharacters as the key: validation answers its result code (200,
    // no lookup made); the machine endpoints refuse with 422.
    for (what, value) in metacharacters() {
        let key_body = json!({ "key": value, "fingerprint": "fp-1" }).to_string();
        probes.push(
            Probe::new(
                format!("validate key {what}"),
                post.clone(),
                validate,
                As::Nobody,
            )
            .json(key_body.clone())
            .expect(200, Some("MALFORMED_KEY")),
        );
        for path in machine_endpoints {
            probes.push(
                Probe::new(format!("{path} key {what}"), post.clone(), path, As::Nobody)
                    .json(key_body.clone())
                    .expect(422, Some("MALFORMED_KEY")),
            );
        }
        // A real key (Bob's) with the hostile value as the fingerprint
        // (a path is a valid fingerprint: it is never used as one).
        if what != "path" {
            probes.push(
                Probe::new(
                    format!("activate fingerprint {what}"),
                    post.clone(),
                    activate,
                    As::Nobody,
                )
                .json(json!({ "key": bob_key, "fingerprint": value }).to_string())
                .expect(422, Some("invalid_field")),
            );
        }
        // Provisioning: the value as an email, a product code, an id.
        probes.push(
            Probe::new(format!("create license email {what}"), post.clone(), "/api/v1/licenses", As::Token)
                .json(json!({ "license_type_id": "01900000-0000-7000-8000-000000000000", "email": value }).to_string())
                .expect(422, Some("invalid_field")),
        );
        probes.push(
            Probe::new(
                format!("create product code {what}"),
                post.clone(),
                "/api/v1/products",
                As::Token,
            )
            .json(json!({ "code": value, "name": "Hostile" }).to_string())
            .expect(422, Some("invalid_field")),
        );
        probes.push(
            Probe::new(
                format!("customer lookup {what}"),
                get.clone(),
                format!("/api/v1/customers?email={}", enc(value.as_bytes())),
                As::ReadToken,
            )
            .expect(422, Some("invalid_field")),
        );
    }
    for (what, path) in [
        (
            "sql in license id",
            "/api/v1/licenses/1%27%20OR%20%271%27%3D%271",
        ),
        (
            "traversal in license id",
            "/api/v1/licenses/..%2F..%2Fetc%2Fpasswd",
        ),
        (
            "sql in product id",
            "/api/v1/products/%27%3B%20DROP%20TABLE%20products%3B--",
        ),
        (
            "unknown action",
            "/api/v1/licenses/01900000-0000-7000-8000-000000000000/actions/explode",
        ),
    ] {
        let method = if what == "unknown action" {
            post.clone()
        } else {
            get.clone()
        };
        probes.push(
            Probe::new(what, method, path, As::Token)
                .json("{}")
                .expect(404, Some("not_found")),
        );
    }
    for (what, auth) in [
        ("empty bearer", "Bearer "),
        ("sql bearer", "Bearer lic_' OR '1'='1"),
        ("basic auth", "Basic YWRtaW46YWRtaW4="),
        (
            "huge bearer",
            "Bearer lic_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
    ] {
        let code = if auth == "Bearer " || auth.starts_with("Basic") {
            "unauthorized"
        } else {
            "invalid_token"
        };
        probes.push(
            Probe::new(what, get.clone(), "/api/v1/licenses", As::Nobody)
                .header("authorization", HeaderValue::from_static(auth))
                .expect(401, Some(code)),
        );
    }
    probes.push(
        Probe::new(
            "read token writes",
            post.clone(),
            "/api/v1/products",
            As::ReadToken,
        )
        .json(json!({ "code": "sneaky", "name": "Sneaky" }).to_string())
        .expect(403, Some("insufficient_scope")),
    );
    probes.push(
        Probe::new(
            "idempotency key of raw bytes",
            post.clone(),
            "/api/v1/products",
            As::Token,
        )
        .json(json!({ "code": "bytes", "name": "Bytes" }).to_string())
        .header(
            "idempotency-key",
            HeaderValue::from_bytes(&[0xff, 0xfe, 0x41]).unwrap(),
        )
        .expect(400, Some("invalid_idempotency_key")),
    );
    probes.push(
        Probe::new(
            "idempotency key too long",
            post.clone(),
            "/api/v1/products",
            As::Token,
        )
        .json(json!({ "code": "long", "name": "Long" }).to_string())
        .header(
            "idempotency-key",
            HeaderValue::from_str(&"k".repeat(300)).unwrap(),
        )
        .expect(400, Some("invalid_idempotency_key")),
    );
    for (what, query) in [
        ("sql in status filter", "status=active'%20OR%201=1--"),
        ("sql in cursor", "cursor=1%27%3B--"),
        ("negative limit", "limit=-1"),
        ("zero limit", "limit=0"),
        ("huge limit", "limit=99999999999999999999"),
        ("NUL in email filter", "email=a%00@example.com"),
    ] {
        let status = if what == "huge limit" { 400 } else { 422 };
        let code = if status == 400 {
            "invalid_query"
        } else {
            "invalid_field"
        };
        probes.push(
            Probe::new(
                what,
                get.clone(),
                format!("/api/v1/licenses?{query}"),
                As::ReadToken,
            )
            .expect(status, Some(code)),
        );
    }

    probes
}

/// The portal's forms: addresses that are not email addresses, and bytes that are not text.
fn portal_form_probes(f: &Fixture) -> Vec<Probe> {
    let Fixture { bob_user, .. } = f;
    let mut probes: Vec<Probe> = Vec::new();
    let post = Method::POST;
    let get = Method::GET;
    // Addresses that must never pass as an email, each into each form.
    let bad_emails: Vec<(&str, Vec<u8>)> = vec![
        (
            "header injection",
            b"victim@example.com\r\nBcc: all@evil.example".to_vec(),
        ),
        (
            "LF injection",
            b"victim@example.com\nBcc: all@evil.example".to_vec(),
        ),
        ("NUL", b"victim\0@example.com".to_vec()),
        (
            "invalid UTF-8",
            vec![b'a', 0xff, b'@', b'x', b'.', b'c', b'o'],
        ),
        ("sql", b"' OR 1=1 --@example.com".to_vec()),
        ("template", b"{{7*7}}@{% raw %}.com".to_vec()),
        (
            "10 KB",
            format!("{}@example.com", "a".repeat(10 * 1024)).into_bytes(),
        ),
        (
            "bidi override",
            "admin\u{202e}moc@example.com".as_bytes().to_vec(),
        ),
    ];
    // Each form comes back with the field's error (sign-in with its one
    // answer for every failure), and nothing is stored. Bytes that are not
    // UTF-8 arrive as U+FFFD, which no address may hold.
    for (what, email) in &bad_emails {
        let refused = 422;
        probes.push(
            Probe::new(
                format!("sign-up email {what}"),
                post.clone(),
                "/signup",
                As::Visitor,
            )
            .form(format!(
                "email={}&password={}&organization=Hostile",
                enc(email),
                enc(PASSWORD.as_bytes())
            ))
            .expect(refused, None),
        );
        probes.push(
            Probe::new(
                format!("sign-in email {what}"),
                post.clone(),
                "/login",
                As::Visitor,
            )
            .form(format!(
                "email={}&password={}",
                enc(email),
                enc(PASSWORD.as_bytes())
            ))
            .expect(401, None),
        );
        probes.push(
            Probe::new(
                format!("reset email {what}"),
                post.clone(),
                "/forgot-password",
                As::Visitor,
            )
            .form(format!("email={}", enc(email)))
            .expect(refused, None),
        );
        probes.push(
            Probe::new(
                format!("team invite {what}"),
                post.clone(),
                "/team/invite",
                As::Alice,
            )
            .form(format!("email={}", enc(email)))
            .expect(refused, None),
        );
    }
    for (what, value) in metacharacters() {
        // Hostile passwords are refused for their shape or length, never
        // echoed, never stored.
        if value.chars().count() < 15 {
            probes.push(
                Probe::new(
                    format!("sign-up password {what}"),
                    post.clone(),
                    "/signup",
                    As::Visitor,
                )
                .form(format!(
                    "email=new-{}%40example.com&password={}&organization=Org",
                    what.replace(' ', "-"),
                    enc(value.as_bytes())
                ))
                .expect(422, None),
            );
        }
        // Tokens from links: unknown, so refused without a change. The
        // reset and invitation links first move the token out of the URL
        // into the session (303), and refuse it when the form is sent.
        for (path, status) in [
            ("/verify-email", 400),
            ("/reset-password", 303),
            ("/join", 303),
        ] {
            probes.push(
                Probe::new(
                    format!("{path} token {what}"),
                    get.clone(),
                    format!("{path}?token={}", enc(value.as_bytes())),
                    As::Visitor,
                )
                .expect(status, None),
            );
        }
        probes.push(
            Probe::new(
                format!("reset with token {what}"),
                post.clone(),
                "/reset-password",
                As::Visitor,
            )
            .form(format!(
                "token={}&password=a+brand+new+passphrase",
                enc(value.as_bytes())
            ))
            .expect(400, None),
        );
        probes.push(
            Probe::new(
                format!("unsubscribe signature {what}"),
                get.clone(),
                format!("/unsubscribe?u={bob_user}&sig={}", enc(value.as_bytes())),
                As::Visitor,
            )
            .expect(404, None),
        );
        probes.push(
            Probe::new(
                format!("license id {what}"),
                get.clone(),
                format!("/licenses/{}", enc(value.as_bytes())),
                As::Alice,
            )
            .expect(404, None),
        );
    }
    probes.push(
        Probe::new(
            "sign-up password over 1 KiB",
            post.clone(),
            "/signup",
            As::Visitor,
        )
        .form(format!(
            "email=kib%40example.com&password={}&organization=Org",
            "p".repeat(1025)
        ))
        .expect(422, None),
    );
    probes.push(
        Probe::new(
            "sign-up password 10 KB",
            post.clone(),
            "/signup",
            As::Visitor,
        )
        .form(format!(
            "email=tenkb%40example.com&password={}&organization=Org",
            "q".repeat(10 * 1024)
        ))
        .expect(422, None),
    );
    probes.push(
        Probe::new(
            "sign-up organization 10 KB",
            post.clone(),
            "/signup",
            As::Visitor,
        )
        .form(format!(
            "email=org%40example.com&password={}&organization={}",
            enc(PASSWORD.as_bytes()),
            "O".repeat(10 * 1024)
        ))
        .expect(422, None),
    );
    probes.push(
        Probe::new(
            "sign-up form over 16 KiB",
            post.clone(),
            "/signup",
            As::Visitor,
        )
        .form(format!(
            "email=big%40example.com&password={}",
            "z".repeat(17 * 1024)
        ))
        .expect(413, None),
    );
    probes.push(
        Probe::new("sign-up as JSON", post.clone(), "/signup", As::Visitor)
            .json(
                json!({ "email": "json@example.com", "password": PASSWORD, "organization": "J" })
                    .to_string(),
            )
            .expect(415, None),
    );

    probes
}

/// Forged and missing CSRF tokens on every state-changing portal form.
fn csrf_probes(f: &Fixture) -> Vec<Probe> {
    let Fixture {
        alice_license,
        bob_user,
        visitor_csrf,
        ..
    } = f;
    let mut probes: Vec<Probe> = Vec::new();
    let post = Method::POST;
    // Forged and missing CSRF tokens on every state-changing portal form.
    let forms = [
        (
            "/signup",
            format!(
                "email=f%40example.com&password={}&organization=F",
                enc(PASSWORD.as_bytes())
            ),
        ),
        (
            "/login",
            format!(
                "email=alice%40example.com&password={}",
                enc(PASSWORD.as_bytes())
            ),
        ),
        ("/logout", String::new()),
        ("/forgot-password", "email=alice%40example.com".to_owned()),
        (
            "/account/password",
            "current=x&new=a+brand+new+passphrase".to_owned(),
        ),
        ("/account/reminders", "reminders=0".to_owned()),
        ("/account/sign-out-everywhere", String::new()),
        ("/verify-email/resend", String::new()),
        ("/onboarding/trial", "license_type_id=x".to_owned()),
        (
            &*format!("/licenses/{alice_license}/reveal"),
            format!("password={}", enc(PASSWORD.as_bytes())),
        ),
        (
            &*format!("/licenses/{alice_license}/offline"),
            "request=x".to_owned(),
        ),
        ("/team/invite", "email=mate%40example.com".to_owned()),
        ("/unsubscribe", format!("u={bob_user}&sig=x")),
    ]
    .map(|(path, body)| (path.to_owned(), body));
    for (path, body) in &forms {
        // An unsubscribe link's signature is checked first: without a
        // valid one there is nothing to unsubscribe (404).
        let refused = if path == "/unsubscribe" { 404 } else { 403 };
        probes.push(
            Probe::new(
                format!("{path} forged CSRF"),
                post.clone(),
                path.clone(),
                As::Alice,
            )
            .form(format!("csrf=forged-token&{body}"))
            .without_csrf()
            .expect(refused, None),
        );
        probes.push(
            Probe::new(
                format!("{path} no CSRF"),
                post.clone(),
                path.clone(),
                As::Alice,
            )
            .form(body.clone())
            .without_csrf()
            .expect(refused, None),
        );
        // A token from another session (the visitor's) is no token.
        probes.push(
            Probe::new(
                format!("{path} someone else's CSRF"),
                post.clone(),
                path.clone(),
                As::Alice,
            )
            .form(format!("csrf={visitor_csrf}&{body}"))
            .without_csrf()
            .expect(refused, None),
        );
    }

    probes
}

/// Other customers' things, and the console, with a customer's session and token.
fn ownership_probes(f: &Fixture) -> Vec<Probe> {
    let Fixture {
        alice_license,
        bob_license,
        bob_user,
        bob_machine,
        ..
    } = f;
    let mut probes: Vec<Probe> = Vec::new();
    let post = Method::POST;
    let get = Method::GET;
    // Other customers' things, with Alice's valid session and token.
    for (what, method, path, body) in [
        (
            "Bob's license page",
            get.clone(),
            format!("/licenses/{bob_license}"),
            String::new(),
        ),
        (
            "Bob's license file",
            get.clone(),
            format!("/licenses/{bob_license}/license-file"),
            String::new(),
        ),
        (
            "reveal Bob's key",
            post.clone(),
            format!("/licenses/{bob_license}/reveal"),
            format!("password={}", enc(PASSWORD.as_bytes())),
        ),
        (
            "Bob's offline activation",
            post.clone(),
            format!("/licenses/{bob_license}/offline"),
            "request=x".to_owned(),
        ),
        (
            "deactivate Bob's machine",
            post.clone(),
            format!("/licenses/{bob_license}/machines/{bob_machine}/deactivate"),
            String::new(),
        ),
        (
            "Bob's machine under Alice's license",
            post.clone(),
            format!("/licenses/{alice_license}/machines/{bob_machine}/deactivate"),
            String::new(),
        ),
        (
            "remove Bob from a team",
            post.clone(),
            format!("/team/{bob_user}/remove"),
            String::new(),
        ),
    ] {
        let mut probe = Probe::new(what, method.clone(), path, As::Alice).expect(404, None);
        if method == Method::POST {
            probe = probe.form(body);
        }
        probes.push(probe);
    }
    // Someone else's assigned license: "that offer is no longer available"
    // on the onboarding page, and nothing moves.
    probes.push(
        Probe::new(
            "accept Bob's license",
            post.clone(),
            format!("/onboarding/accept/{bob_license}"),
            As::Alice,
        )
        .form("")
        .expect(303, None),
    );
    // The console, as a customer: refused, whatever the route.
    for (method, path) in [
        (get.clone(), "/admin".to_owned()),
        (post.clone(), "/admin".to_owned()),
        (get.clone(), format!("/admin/licenses/{bob_license}")),
        (
            post.clone(),
            format!("/admin/licenses/{bob_license}/actions"),
        ),
        (get.clone(), "/admin/licenses.csv".to_owned()),
        (post.clone(), "/admin/tokens".to_owned()),
        (post.clone(), "/admin/staff".to_owned()),
        (get.clone(), "/admin/outbox".to_owned()),
    ] {
        let mut probe = Probe::new(
            format!("customer {method} {path}"),
            method.clone(),
            path,
            As::Alice,
        )
        .expect(403, None);
        if method == Method::POST {
            probe = probe.form("action=revoke&reason=because&query=bob");
        }
        probes.push(probe);
    }

    probes
}

/// Tampered, forged and replayed session cookies, and odd headers.
fn session_probes(f: &Fixture) -> Vec<Probe> {
    let Fixture {
        carol_cookie,
        alice_cookie_flipped,
        ..
    } = f;
    let mut probes: Vec<Probe> = Vec::new();
    let post = Method::POST;
    let get = Method::GET;
    // Tampered, forged and replayed session cookies: treated as no session
    // (a page or a form sends the browser to sign in).
    for (what, cookie) in [
        ("garbage cookie", "licensor_session=garbage".to_owned()),
        ("empty cookie", "licensor_session=".to_owned()),
        (
            "8 KB cookie",
            format!("licensor_session={}", "A".repeat(8 * 1024)),
        ),
        (
            "sql cookie",
            "licensor_session=%27%20OR%20%271%27%3D%271".to_owned(),
        ),
        ("flipped cookie", alice_cookie_flipped.clone()),
        ("replayed after sign-out", carol_cookie.clone()),
    ] {
        probes.push(
            Probe::new(what, get.clone(), "/licenses", As::Nobody)
                .header("cookie", HeaderValue::from_str(&cookie).unwrap())
                .expect(303, None),
        );
        probes.push(
            Probe::new(
                format!("{what} posting"),
                post.clone(),
                "/account/reminders",
                As::Nobody,
            )
            .header("cookie", HeaderValue::from_str(&cookie).unwrap())
            .form("csrf=x&reminders=0")
            .without_csrf()
            .expect(303, None),
        );
    }
    // Odd headers never reach a 5xx.
    probes.push(
        Probe::new(
            "forged forwarded-for",
            get.clone(),
            "/api/v1/licenses",
            As::Nobody,
        )
        .header(
            "x-forwarded-for",
            HeaderValue::from_static("' OR 1=1, 999.1.1.1, ::ffff:zz"),
        )
        .expect(401, Some("unauthorized")),
    );
    probes.push(
        Probe::new("16 KB header", get.clone(), "/api/v1/licenses", As::Nobody)
            .header(
                "x-padding",
                HeaderValue::from_str(&"p".repeat(16 * 1024)).unwrap(),
            )
            .expect(401, Some("unauthorized")),
    );

    probes
}

#[tokio::test]
async fn hostile_requests_get_their_4xx_and_change_nothing() {
    // Limits off: every probe must reach the code it is aimed at.
    let app = spawn_app_with(
        |raw| {
            for key in [
                "rate_limit_sign_in_ip",
                "rate_limit_sign_in_account",
                "rate_limit_sign_up_ip",
                "rate_limit_password_reset",
                "rate_limit_verification_resend",
                "rate_limit_key_reveal",
                "api_rate_limit_ip",
                "api_rate_limit_key",
            ] {
                raw.set(key, "0", Source::Default);
            }
        },
        true,
    )
    .await;

    // Alice and Bob, each with a trial license; Bob's has a machine.
    let alice = app.with_customer("alice@example.com").await;
    let bob = app.with_customer("bob@example.com").await;
    assert_eq!(alice.claim_trial().await.status(), 303);
    assert_eq!(bob.claim_trial().await.status(), 303);
    let id_of = |sql: &'static str| {
        let pool = app.db.pool().clone();
        async move {
            let (id,): (String,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            id
        }
    };
    let bob_license = id_of(
        "SELECT l.id FROM licenses l JOIN users u ON u.organization_id = l.organization_id WHERE u.email = 'bob@example.com'",
    )
    .await;
    let alice_license = id_of(
        "SELECT l.id FROM licenses l JOIN users u ON u.organization_id = l.organization_id WHERE u.email = 'alice@example.com'",
    )
    .await;
    let bob_user = id_of("SELECT id FROM users WHERE email = 'bob@example.com'").await;
    let bob_key = app.key_of(&bob_license).await;
    assert_eq!(app.activate(&bob_key, "bob-laptop").await.status(), 201);
    let bob_machine = id_of("SELECT id FROM machines").await;
    let write = app
        .api_token(licensor::services::api_tokens::Scope::Write)
        .await;
    let read = app
        .api_token(licensor::services::api_tokens::Scope::Read)
        .await;

    // A session that signed out: its cookie, replayed later, is dead.
    let carol = app.with_customer("carol@example.com").await;
    let carol_cookie = session_cookie(&app, &carol).await;
    assert_eq!(carol.post("/logout", &[]).await.status(), 303);

    let visitor = Browser::new(&app);
    let visitor_csrf = visitor.csrf().await;
    let alice_csrf = csrf_from(&alice.html("/account").await);

    let fixture = Fixture {
        alice_cookie_flipped: flip_last(&session_cookie(&app, &alice).await),
        alice_license,
        bob_license: bob_license.clone(),
        bob_user,
        bob_key,
        bob_machine,
        carol_cookie,
        visitor_csrf: visitor_csrf.clone(),
    };
    let probes: Vec<Probe> = [
        api_probes,
        portal_form_probes,
        csrf_probes,
        ownership_probes,
        session_probes,
    ]
    .iter()
    .flat_map(|table| table(&fixture))
    .collect();
    assert!(probes.len() >= 150, "only {} probes", probes.len());

    // The tokens' first use stamps `last_used_at`; do that before the
    // snapshot, so only the probes' effects are compared.
    for token in [&write, &read] {
        assert_eq!(app.get_json("/api/v1/products", token).await.status(), 200);
    }
    let before = snapshot(&app).await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut failures = Vec::new();
    for p in &probes {
        let (client, csrf) = match p.who {
            As::Nobody | As::Token | As::ReadToken => (&plain, ""),
            As::Visitor => (&visitor.client, visitor_csrf.as_str()),
            As::Alice => (&alice.client, alice_csrf.as_str()),
        };
        let mut body = p.body.clone();
        if p.csrf {
            let mut with = format!("csrf={csrf}").into_bytes();
            if !body.is_empty() {
                with.push(b'&');
            }
            with.extend_from_slice(&body);
            body = with;
        }
        let mut req = client
            .request(p.method.clone(), app.url(&p.path))
            .body(body);
        if let Some(ct) = p.content_type {
            req = req.header("content-type", ct);
        }
        match p.who {
            As::Token => req = req.bearer_auth(&write),
            As::ReadToken => req = req.bearer_auth(&read),
            _ => {}
        }
        for (name, value) in &p.headers {
            req = req.header(HeaderName::from_static(name), value.clone());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = res.text().await.unwrap_or_default();
        if let Some(wrong) = p.verdict(status, &content_type, &text) {
            failures.push(wrong);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} probes answered wrongly:\n{}",
        failures.len(),
        probes.len(),
        failures.join("\n")
    );
    let after = snapshot(&app).await;
    let changed: Vec<_> = after.iter().filter(|row| !before.contains(row)).collect();
    let gone: Vec<_> = before.iter().filter(|row| !after.contains(row)).collect();
    assert!(
        changed.is_empty() && gone.is_empty(),
        "the database changed:\nnew or altered: {changed:#?}\ngone: {gone:#?}"
    );
    // And everyone still works.
    assert_eq!(alice.get("/licenses").await.status(), 200);
    assert_eq!(
        bob.get(&format!("/licenses/{bob_license}")).await.status(),
        200
    );
}

#[tokio::test]
async fn metacharacters_that_are_valid_data_are_stored_verbatim_and_shown_escaped() {
    let app = spawn_app_with(|_| {}, true).await;
    let org = "<script>alert(1)</script> O'Brien & {{ 7*7 }} {% if x %}; DROP TABLE users; --";
    let email = "o'brien+{tag}@example.com";
    let b = Browser::new(&app);
    let res = b.sign_up(email, org).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let (stored,): (String,) = sqlx::query_as("SELECT name FROM organizations")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, org, "stored exactly as typed");
    let mail = app.mail.wait_for(email, "Confirm your email").await;
    assert_eq!(
        b.get(&mail.link("/verify-email?token=")).await.status(),
        303
    );
    assert_eq!(b.sign_in(email, PASSWORD).await.status(), 303);
    let page = b.html("/account").await;
    assert!(!page.contains("<script>alert(1)</script>"), "escaped");
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62; O&#39;Brien &#38;"),
        "{page}"
    );
    assert!(
        page.contains("{{ 7*7 }}"),
        "templates are not evaluated twice"
    );
    assert!(!page.contains(">49<"));
    assert_eq!(app.count("users").await, 1, "the tables are all there");
}

/// The session cookie of a browser, as a `Cookie:` header value.
async fn session_cookie(app: &TestApp, browser: &Browser) -> String {
    use reqwest::cookie::CookieStore;
    let _ = browser.get("/account").await;
    let jar = browser.cookie_jar();
    let url = reqwest::Url::parse(&app.address).unwrap();
    let header = jar.cookies(&url).expect("a session cookie");
    header
        .to_str()
        .unwrap()
        .split("; ")
        .find(|c| c.starts_with("licensor_session="))
        .expect("the session cookie")
        .to_owned()
}

/// The same cookie with its last character changed.
fn flip_last(cookie: &str) -> String {
    let mut chars: Vec<char> = cookie.chars().collect();
    if let Some(last) = chars.last_mut() {
        *last = if *last == 'A' { 'B' } else { 'A' };
    }
    chars.into_iter().collect()
}
