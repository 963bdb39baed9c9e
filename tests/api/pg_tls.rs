//! PostgreSQL over TLS: a cluster of the test's own with a self-signed
//! certificate (`tests/pg-tls.sh`; the shared server is never touched),
//! `sslmode=verify-full` with `sslrootcert` connecting, and a wrong CA, a
//! name the certificate does not carry or a missing root file refused
//! with one clear line.

use std::path::Path;
use std::process::{Command, Output};

use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_licensor");

/// A TLS cluster in a temporary directory, stopped when dropped.
struct TlsCluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl TlsCluster {
    fn start() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        // The server runs as `postgres`, which must reach the directory.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = script(&[
            "start",
            &dir.path().display().to_string(),
            &port.to_string(),
        ]);
        match out.status.code() {
            Some(0) => Some(Self { dir, port }),
            Some(3) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: no PostgreSQL server binaries to start a TLS cluster");
                None
            }
            _ => panic!(
                "starting the TLS cluster: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    fn url(&self, host: &str, mode: &str, ca: &str) -> String {
        format!(
            "postgres://postgres@{host}:{}/postgres?sslmode={mode}&sslrootcert={}",
            self.port,
            self.dir.path().join(ca).display()
        )
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        script(&["stop", &self.dir.path().display().to_string()]);
    }
}

fn script(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pg-tls.sh"))
        .args(args)
        .output()
        .unwrap()
}

/// `licensor migrate` against a database URL, in a fresh directory.
fn migrate(url: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .current_dir(dir.path())
        .env_remove("LICENSOR_SECRET")
        .env("LICENSOR_DATABASE_URL", url)
        .arg("migrate")
        .output()
        .unwrap()
}

async fn is_tls(url: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let (ssl,): (i64,) = sqlx::query_as(
        "SELECT CAST(CASE WHEN ssl THEN 1 ELSE 0 END AS BIGINT) FROM pg_stat_ssl \
         WHERE pid = pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    ssl
}

#[tokio::test]
async fn verify_full_connects_over_tls_and_a_wrong_ca_is_refused_in_one_line() {
    let Some(cluster) = TlsCluster::start() else {
        return;
    };
    for host in ["localhost", "127.0.0.1"] {
        let url = cluster.url(host, "verify-full", "ca.crt");
        let out = migrate(&url);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(is_tls(&url).await, 1, "the connection is encrypted");
    }
    assert_eq!(
        is_tls(&cluster.url("localhost", "verify-ca", "ca.crt")).await,
        1
    );
    assert_eq!(
        is_tls(&cluster.url("localhost", "require", "ca.crt")).await,
        1
    );
    assert_eq!(
        is_tls(&cluster.url("localhost", "disable", "ca.crt")).await,
        0
    );

    // A certificate another CA signed: refused, named, one line.
    let out = migrate(&cluster.url("localhost", "verify-full", "wrong-ca.crt"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot open the database at postgres://"),
        "{stderr}"
    );
    assert!(stderr.contains("certificate"), "{stderr}");
    // The right CA but another name than the certificate's: verify-ca
    // takes it, verify-full refuses it.
    assert_eq!(
        is_tls(&cluster.url("127.0.0.2", "verify-ca", "ca.crt")).await,
        1
    );
    let out = migrate(&cluster.url("127.0.0.2", "verify-full", "ca.crt"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    // A root certificate file that is not there.
    let out = migrate(&cluster.url("localhost", "verify-full", "missing.crt"));
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
}
