//! A database of its own for each test: SQLite in a temporary directory,
//! or a PostgreSQL database created and dropped again.

use std::net::SocketAddr;

use sqlx::Connection;
use tempfile::TempDir;

/// A database of its own for one test: a SQLite file in a temporary
/// directory, or a PostgreSQL database created on the server named by
/// `TEST_DATABASE_URL` and dropped again when the test ends.
pub struct TestDatabase {
    pub url: String,
    pg: Option<PgTestDb>,
    _dir: TempDir,
}

struct PgTestDb {
    admin_url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        sqlx::any::install_default_drivers();
        // Any test's HTTP client may speak TLS, whichever test runs first.
        licensor::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temporary directory");
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("licensor_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::AnyConnection::connect(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                conn.close().await.ok();
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    pg: Some(PgTestDb { admin_url, name }),
                    _dir: dir,
                }
            }
            _ => Self {
                url: format!("sqlite://{}", dir.path().join("licensor.db").display()),
                pg: None,
                _dir: dir,
            },
        }
    }

    /// Another handle on a database `create` made (for a second app on
    /// it); the original drops it.
    pub fn existing(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            pg: None,
            _dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// The URL with its host and port replaced (to go through a proxy).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        let mut url = url::Url::parse(&self.url).expect("database URL");
        url.set_host(Some(&addr.ip().to_string())).expect("host");
        url.set_port(Some(addr.port())).expect("port");
        url.to_string()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(pg) = self.pg.take() else {
            return;
        };
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&pg.admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", pg.name);
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// A TCP proxy whose link can be cut and restored, to take the database
/// away from a running server.
pub struct CuttableProxy {
    pub addr: SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
}

impl CuttableProxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut watch = watch.clone();
                if !*watch.borrow() {
                    drop(inbound);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up }
    }

    pub fn cut(&self) {
        let _ = self.up.send(false);
    }

    pub fn restore(&self) {
        let _ = self.up.send(true);
    }
}
