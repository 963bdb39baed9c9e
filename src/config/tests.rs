use super::*;
use std::path::Path;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_are_the_embedded_setup() {
    let s = RawSettings::default().build().unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.public_url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(s.database.url, "sqlite://data/licensor.db");
    assert_eq!(s.database.backend, Backend::Sqlite);
    assert_eq!(s.database.sqlite_synchronous, SqliteSynchronous::Full);
    assert_eq!(s.secret_file, PathBuf::from("data/secret.key"));
    assert_eq!(s.log_format, LogFormat::Pretty);
}

#[test]
fn file_then_environment_override_defaults() {
    let mut raw = RawSettings::default();
    raw.merge_toml(
        "listen = \"0.0.0.0:9000\"\ndatabase_max_connections = 4\nvendor_name = \"Acme\"\n",
        Path::new("licensor.toml"),
    )
    .unwrap();
    raw.merge_env(env(&[
        ("LICENSOR_LISTEN", "127.0.0.1:7000"),
        (
            "LICENSOR_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/lic",
        ),
        ("LICENSOR_CONFIG", "ignored.toml"),
        ("PATH", "/usr/bin"),
    ]))
    .unwrap();
    let s = raw.build().unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:7000");
    assert_eq!(s.database.max_connections, 4);
    assert_eq!(s.database.backend, Backend::Postgres);
    assert_eq!(s.vendor_name, "Acme");
}

#[test]
fn tls_files_go_together_and_make_the_public_url_https() {
    let mut raw = RawSettings::default();
    raw.merge_env(env(&[("LICENSOR_TLS_CERT", "/etc/licensor/cert.pem")]))
        .unwrap();
    let err = raw.build().unwrap_err().to_string();
    assert!(err.contains("give both"), "{err}");

    raw.merge_env(env(&[("LICENSOR_TLS_KEY", "/etc/licensor/key.pem")]))
        .unwrap();
    let s = raw.build().unwrap();
    assert_eq!(s.public_url.as_str(), "https://127.0.0.1:8080/");
    let tls = s.tls.unwrap();
    assert_eq!(tls.cert, PathBuf::from("/etc/licensor/cert.pem"));
    assert_eq!(tls.key, PathBuf::from("/etc/licensor/key.pem"));

    raw.merge_env(env(&[(
        "LICENSOR_PUBLIC_URL",
        "http://licenses.example.com/",
    )]))
    .unwrap();
    let err = raw.build().unwrap_err().to_string();
    assert!(err.contains("use https://"), "{err}");
}

#[test]
fn a_redirect_listener_needs_an_https_public_url() {
    let mut raw = RawSettings::default();
    raw.merge_env(env(&[("LICENSOR_HTTP_REDIRECT_LISTEN", "0.0.0.0:80")]))
        .unwrap();
    let err = raw.build().unwrap_err().to_string();
    assert!(err.contains("public_url is http"), "{err}");
    raw.merge_env(env(&[(
        "LICENSOR_PUBLIC_URL",
        "https://licenses.example.com/",
    )]))
    .unwrap();
    let s = raw.build().unwrap();
    assert_eq!(s.http_redirect_listen, Some("0.0.0.0:80".parse().unwrap()));
    assert!(s.tls.is_none(), "a proxy may terminate TLS");
}

#[test]
fn the_secret_comes_only_from_the_environment_and_is_never_echoed() {
    let mut raw = RawSettings::default();
    let err = raw
        .merge_toml("secret = \"c2VjcmV0\"", Path::new("licensor.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("LICENSOR_SECRET"), "{err}");

    raw.merge_env(env(&[("LICENSOR_SECRET", "dG9vIHNob3J0IHNlY3JldA==")]))
        .unwrap();
    let err = raw.build().unwrap_err().to_string();
    assert!(err.contains("32 bytes"), "{err}");
    assert!(
        !err.contains("dG9vIHNob3J0"),
        "the value is not echoed: {err}"
    );
    raw.merge_env(env(&[("LICENSOR_SECRET", "not base64 at all!")]))
        .unwrap();
    let err = raw.build().unwrap_err().to_string();
    assert!(!err.contains("at all"), "{err}");

    let good = crate::secret::ServerSecret::random_base64().unwrap();
    raw.merge_env(env(&[("LICENSOR_SECRET", good.as_str())]))
        .unwrap();
    let s = raw.build().unwrap();
    assert!(s.secret.is_some());
    assert!(
        !format!("{s:?}").contains(good.as_str()),
        "Debug redacts it"
    );
}

#[test]
fn data_dir_moves_the_derived_defaults() {
    let mut raw = RawSettings::default();
    raw.merge_env(env(&[("LICENSOR_DATA_DIR", "/var/lib/licensor")]))
        .unwrap();
    let s = raw.build().unwrap();
    assert_eq!(s.database.url, "sqlite:///var/lib/licensor/licensor.db");
    assert_eq!(s.secret_file, PathBuf::from("/var/lib/licensor/secret.key"));
}

#[test]
fn expiry_notice_days_come_as_a_list_or_an_array() {
    assert_eq!(parse::notice_days("1, 30,7,7").unwrap(), vec![30, 7, 1]);
    assert_eq!(parse::notice_days("").unwrap(), Vec::<i64>::new());
    let mut raw = RawSettings::default();
    raw.merge_toml("expiry_notice_days = [14, 3]", Path::new("licensor.toml"))
        .unwrap();
    assert_eq!(raw.build().unwrap().expiry_notice_days, vec![14, 3]);
    assert_eq!(
        RawSettings::default().build().unwrap().expiry_notice_days,
        vec![30, 7, 1]
    );
    assert!(parse::notice_days("400").is_err());
}

#[test]
fn unknown_keys_are_named() {
    let mut raw = RawSettings::default();
    let err = raw
        .merge_toml("lisen = \"x\"", Path::new("licensor.toml"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown setting `lisen` in licensor.toml")
    );
    let err = raw
        .merge_env(env(&[("LICENSOR_DATABSE_URL", "x")]))
        .unwrap_err();
    assert!(err.to_string().contains("LICENSOR_DATABSE_URL"), "{err}");
}

#[test]
fn bad_values_name_the_setting_and_the_source() {
    let cases = [
        ("LICENSOR_LISTEN", "localhost", "`listen`"),
        ("LICENSOR_PUBLIC_URL", "not a url", "`public_url`"),
        ("LICENSOR_PUBLIC_URL", "ftp://x.example", "`public_url`"),
        ("LICENSOR_DATABASE_URL", "mysql://x", "`database_url`"),
        ("LICENSOR_DATABASE_URL", "sqlite://", "`database_url`"),
        ("LICENSOR_DATABASE_URL", "postgres://[::1", "`database_url`"),
        (
            "LICENSOR_DATABASE_MAX_CONNECTIONS",
            "0",
            "`database_max_connections`",
        ),
        ("LICENSOR_SQLITE_SYNCHRONOUS", "off", "`sqlite_synchronous`"),
        ("LICENSOR_LOG_FORMAT", "xml", "`log_format`"),
        ("LICENSOR_LOG", "info,=[", "`log`"),
        ("LICENSOR_VENDOR_NAME", "", "`vendor_name`"),
        ("LICENSOR_API_RATE_LIMIT_IP", "-1", "`api_rate_limit_ip`"),
        ("LICENSOR_SMTP_URL", "http://mail.example.com", "`smtp_url`"),
        (
            "LICENSOR_SMTP_URL",
            "smtp://u:p@h:1?tls=bogus",
            "`smtp_url`",
        ),
        ("LICENSOR_MAIL_FROM", "not a mailbox <", "`mail_from`"),
        ("LICENSOR_OUTBOX_POLL_MS", "0", "`outbox_poll_ms`"),
        (
            "LICENSOR_EXPIRY_NOTICE_DAYS",
            "30,0",
            "`expiry_notice_days`",
        ),
        (
            "LICENSOR_EXPIRY_NOTICE_DAYS",
            "soon",
            "`expiry_notice_days`",
        ),
        (
            "LICENSOR_TRUSTED_PROXIES",
            "10.0.0.0/40",
            "`trusted_proxies`",
        ),
        (
            "LICENSOR_RATE_LIMIT_SIGN_IN_IP",
            "-1",
            "`rate_limit_sign_in_ip`",
        ),
        (
            "LICENSOR_RATE_LIMIT_KEY_REVEAL",
            "lots",
            "`rate_limit_key_reveal`",
        ),
        (
            "LICENSOR_API_RATE_LIMIT_KEY",
            "lots",
            "`api_rate_limit_key`",
        ),
    ];
    for (var, value, named) in cases {
        let mut raw = RawSettings::default();
        raw.merge_env(env(&[(var, value)])).unwrap();
        let err = raw.build().unwrap_err().to_string();
        assert!(err.contains(named), "{var}={value}: {err}");
        assert!(err.contains(var), "{var}={value}: {err}");
    }
}

#[test]
fn bad_toml_is_reported_with_the_file() {
    let mut raw = RawSettings::default();
    let err = raw
        .merge_toml("listen = ", Path::new("/etc/licensor.toml"))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("configuration file /etc/licensor.toml is not valid TOML")
    );
    let err = raw
        .merge_toml("listen = { port = 1 }", Path::new("licensor.toml"))
        .unwrap_err();
    assert!(err.to_string().contains("`listen`"));
    // A list is read as its comma-separated text, which `listen` refuses.
    raw.merge_toml("listen = [1]", Path::new("licensor.toml"))
        .unwrap();
    assert!(raw.build().unwrap_err().to_string().contains("`listen`"));
}

#[test]
fn a_missing_explicit_file_is_an_error() {
    let err = load(Some(Path::new("/nonexistent/licensor.toml"))).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot read configuration file /nonexistent/licensor.toml")
    );
}

/// The README's configuration table is this module's table, row for row
/// and in order, so the documentation cannot drift from the code.
#[test]
fn the_readme_table_is_the_settings_table() {
    let readme = include_str!("../../README.md");
    let rows: Vec<&str> = readme
        .lines()
        .skip_while(|line| !line.starts_with("| setting (`licensor.toml`)"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .collect();
    let expected: Vec<String> = table::KNOWN.iter().map(|k| k.readme_row()).collect();
    for (row, want) in rows.iter().zip(&expected) {
        assert_eq!(row, want, "README.md's row differs from config::table");
    }
    assert_eq!(
        rows.len(),
        expected.len(),
        "README.md lists {} settings, the table {}",
        rows.len(),
        expected.len()
    );
}

#[test]
fn every_literal_default_parses() {
    let raw = RawSettings::default();
    let settings = raw.build().unwrap();
    assert_eq!(settings.portal_limits.sign_in_ip_per_minute, 30);
    assert_eq!(settings.mail.poll, std::time::Duration::from_secs(1));
    for known in table::KNOWN {
        assert!(!known.doc.is_empty(), "{} has no doc line", known.key);
        assert!(table::find(known.key).is_some());
    }
}
