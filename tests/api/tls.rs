//! Serving HTTPS directly: `tls_cert`/`tls_key`, the redirect-only plain
//! listener, Secure cookies, and the secret taken from the environment.

use licensor::config::Source;
use licensor::startup::Application;

use crate::support::{TestDatabase, test_settings};

/// A self-signed certificate for 127.0.0.1 and localhost, as PEM files in
/// `dir`; returns the certificate's PEM for the client to trust.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, cert_pem)
}

fn trusting_client(cert_pem: &str) -> reqwest::Client {
    licensor::tls::install_crypto_provider();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn tls_files_serve_https_and_the_plain_listener_only_redirects() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, cert_pem) = self_signed(dir.path());
    let secret = licensor::secret::ServerSecret::random_base64().unwrap();
    let settings = test_settings(&dir, &database.url, |raw| {
        raw.set("tls_cert", cert.display().to_string(), Source::Default);
        raw.set("tls_key", key.display().to_string(), Source::Default);
        raw.set("http_redirect_listen", "127.0.0.1:0", Source::Default);
        raw.set(
            "secret",
            secret.as_str(),
            Source::Env("LICENSOR_SECRET".into()),
        );
    });
    assert_eq!(settings.public_url.scheme(), "https");
    let secret_file = settings.secret_file.clone();
    let app = Application::build(settings)
        .await
        .expect("https with a secret from the environment starts");
    let port = app.port();
    let redirect_port = app.redirect_port().expect("a redirect listener");
    tokio::spawn(app.run_until_stopped());
    assert!(
        !secret_file.exists(),
        "with LICENSOR_SECRET set, no secret file is read or generated"
    );

    let client = trusting_client(&cert_pem);
    let res = client
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("an HTTPS answer from a certificate the client trusts");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );

    // The session cookie is Secure (and HttpOnly) under https.
    let res = client
        .get(format!("https://127.0.0.1:{port}/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("licensor_session="))
        .expect("a session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("; HttpOnly"), "{cookie}");

    // Plain HTTP to the TLS port gets no page.
    let plain = reqwest::Client::new();
    assert!(
        plain
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
    );

    // The plain listener answers every method and path with a 308 to the
    // same path and query over https, and serves nothing itself.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (method, path) in [
        (reqwest::Method::GET, "/login?next=%2Flicenses"),
        (reqwest::Method::GET, "/"),
        (reqwest::Method::POST, "/api/v1/licenses/validate"),
        (reqwest::Method::GET, "/healthz"),
    ] {
        let res = plain
            .request(
                method.clone(),
                format!("http://127.0.0.1:{redirect_port}{path}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 308, "{method} {path}");
        assert_eq!(
            res.headers()["location"],
            format!("https://127.0.0.1:{port}{path}").as_str(),
        );
        assert!(!res.headers().contains_key("set-cookie"));
    }
    // Following the redirect lands on the https page.
    let res = client
        .get(format!("http://127.0.0.1:{redirect_port}/healthz"))
        .send()
        .await
        .unwrap();
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(client.get(location).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn unusable_tls_files_stop_start_up_with_the_file_named() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = self_signed(dir.path());
    let start = |cert: &std::path::Path, key: &std::path::Path| {
        let settings = test_settings(&dir, &database.url, |raw| {
            raw.set("tls_cert", cert.display().to_string(), Source::Default);
            raw.set("tls_key", key.display().to_string(), Source::Default);
        });
        licensor::secret::ServerSecret::create_file(&settings.secret_file).ok();
        Application::build(settings)
    };
    let missing = dir.path().join("missing.pem");
    let err = format!("{:#}", start(&missing, &key).await.err().unwrap());
    assert!(
        err.contains("tls_cert") && err.contains("missing.pem"),
        "{err}"
    );
    // The certificate where the key should be, and the other way round.
    let err = format!("{:#}", start(&cert, &cert).await.err().unwrap());
    assert!(err.contains("tls_key"), "{err}");
    let err = format!("{:#}", start(&key, &key).await.err().unwrap());
    assert!(err.contains("no PEM certificate"), "{err}");
    // A key that does not belong to the certificate.
    let (_, other_key, _) = {
        let other = dir.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        self_signed(&other)
    };
    let err = format!("{:#}", start(&cert, &other_key).await.err().unwrap());
    assert!(err.contains("do not make a usable pair"), "{err}");
}
