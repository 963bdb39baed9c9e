//! Builds the application from settings: database, migrations, secrets,
//! key ring and the HTTP server. Tests use exactly this.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::web::Data;
use actix_web::{App, HttpServer};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::jobs;
use crate::mail::Mailer;
use crate::secret::DataCipher;
use crate::services::context::Brand;
use crate::services::usage::UsageRecorder;
use crate::services::webhooks::WebhookSender;
use crate::services::{demo, keys};
use crate::signing::LiveKeyRing;
use crate::store::Db;
use crate::web;
use crate::web::assets::Assets;
use crate::web::layout::Site;
use crate::web::ratelimit::{ApiLimits, PortalLimits};
use crate::web::request::RequestSpan;
use crate::web::session::DbSessionStore;
use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite, time::Duration as CookieDuration};

/// A session ends after this long without a request.
pub const SESSION_IDLE_SECS: i64 = 24 * 3600;
/// A session ends this long after sign-in, however busy.
pub const SESSION_ABSOLUTE_SECS: i64 = 7 * 24 * 3600;

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    /// The address it listens on, as configured (the port as bound).
    listen: std::net::SocketAddr,
    server: Server,
    /// The plain listener that only redirects to HTTPS, and its port.
    redirect: Option<(u16, Server)>,
    db: Db,
    clock: SharedClock,
    limits: Data<ApiLimits>,
    portal_limits: Data<PortalLimits>,
    mailer: Arc<Mailer>,
    outbox_poll: std::time::Duration,
    brand: Brand,
    expiry_notice_days: Vec<i64>,
    validation_retention_days: i64,
    webhooks: WebhookSender,
    usage: Arc<UsageRecorder>,
    metrics: crate::metrics::Metrics,
    draining: Data<web::health::Draining>,
    shutdown_grace: std::time::Duration,
    signals: bool,
    ring: Data<LiveKeyRing>,
    cipher: Data<DataCipher>,
    dashboards: Data<crate::services::analytics::DashboardSnapshots>,
    /// Held while serving: `licensor restore` refuses this database.
    _serving: Option<crate::store::backup::ServingLock>,
}

/// Options beyond the settings, for `serve --demo` and for tests.
pub struct ApplicationBuilder {
    settings: Settings,
    clock: SharedClock,
    demo: bool,
    signals: bool,
}

impl ApplicationBuilder {
    /// Uses `clock` instead of the system clock.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Seeds the demo product and trial (idempotent).
    pub fn demo(mut self, demo: bool) -> Self {
        self.demo = demo;
        self
    }

    /// Whether SIGTERM and SIGINT drain and stop the server: `serve` asks
    /// for it; by default (an application inside a test process) the
    /// process's signals are left alone.
    pub fn signals(mut self, signals: bool) -> Self {
        self.signals = signals;
        self
    }

    pub async fn build(self) -> anyhow::Result<Application> {
        let Self {
            settings,
            clock,
            demo,
            signals,
        } = self;
        let production = settings.public_url.scheme() == "https";
        if production && settings.secret.is_none() && !settings.secret_file.exists() {
            anyhow::bail!(
                "public_url is https, and there is no server secret at {}: create one with `licensor secret create` or set LICENSOR_SECRET (a server with an https address never generates its own)",
                settings.secret_file.display()
            );
        }
        let (secret, origin) = settings.server_secret()?;
        if production && origin.is_generated() {
            anyhow::bail!(
                "public_url is https, but the server secret {} was generated for development: create a production secret with `licensor secret create` and set secret_file to it (or, to keep the data this one already protects, delete the file's first line, the development marker)",
                settings.secret_file.display()
            );
        }
        let cipher = secret.data_cipher()?;
        let webhooks = WebhookSender::new(Arc::new(secret.data_cipher()?))?;
        let serving = crate::store::backup::hold_serving_lock(&settings.database.url)?;
        let db = Db::connect(&settings.database).await?;
        db.migrate().await?;
        if demo {
            demo::seed(&db, clock.as_ref()).await?;
        }
        keys::ensure_signing_key(&db, &cipher, clock.as_ref()).await?;
        let ring = keys::load_ring(&db, &cipher).await?;
        let mailer = Arc::new(Mailer::new(
            settings.mail.smtp_url.as_deref(),
            settings.data_dir.join("mail"),
            &settings.mail.from,
            settings
                .mail
                .reply_to
                .as_deref()
                .or(settings.mail.support_email.as_deref()),
        )?);
        let session_key = Key::from(&secret.derive_bytes::<64>("session-cookie-v1")?[..]);
        let secure_cookies = settings.public_url.scheme() == "https";

        let tls = settings
            .tls
            .as_ref()
            .map(crate::tls::server_config)
            .transpose()?;
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("cannot listen on {} (setting `listen`)", settings.listen))?;
        let port = listener.local_addr()?.port();
        let mut settings = settings;
        if settings.public_url_from_listen {
            let mut url = settings.public_url.clone();
            if url.set_port(Some(port)).is_ok() {
                settings.public_url = url;
            }
        }

        let assets = Assets::new();
        let site = Data::new(
            Site::new(
                settings.vendor_name.clone(),
                settings.public_url.clone(),
                &assets,
            )
            .with_support_email(settings.mail.support_email.clone()),
        );
        let assets = Data::new(assets);
        let db_data = Data::new(db.clone());
        let clock_data: Data<dyn crate::clock::Clock> = Data::from(clock.clone());
        let ring = Data::new(LiveKeyRing::new(ring));
        let cipher = Data::new(cipher);
        let (app_ring, app_cipher) = (ring.clone(), cipher.clone());
        let metrics = crate::metrics::Metrics::new();
        let usage = Arc::new(UsageRecorder::new(metrics.clone()));
        let usage_data: Data<UsageRecorder> = Data::from(usage.clone());
        let limits = Data::new(ApiLimits::new(
            settings.api_rate_limit_ip,
            settings.api_rate_limit_key,
            metrics.clone(),
        ));

        let app_limits = limits.clone();
        let portal_limits = Data::new(PortalLimits::new(
            settings.portal_limits,
            db.clone(),
            metrics.clone(),
        ));
        let metrics_data = Data::new(metrics.clone());
        let metrics_access = Data::new(web::metrics::MetricsAccess(settings.metrics_token.clone()));
        let provider_secrets = Data::new(web::payments::ProviderSecrets(settings.payments.clone()));
        let proxies = Data::new(settings.trusted_proxies.clone());
        let draining = Data::new(web::health::Draining::default());
        let app_draining = draining.clone();
        let body_limits = Data::new(web::body_deadline::BodyLimits::new(
            settings.body_timeout,
            settings.slow_bodies_per_client,
        ));
        let app_portal_limits = portal_limits.clone();
        let dashboards = Data::new(crate::services::analytics::DashboardSnapshots::default());
        let app_dashboards = dashboards.clone();
        let two_factor_policy = Data::new(web::two_factor::TwoFactorPolicy {
            staff_require_2fa: settings.staff_require_2fa,
        });
        let brand = Data::new(
            Brand::new(
                settings.vendor_name.clone(),
                settings.public_url.clone(),
                secret.derive_bytes::<32>("signed-links-v1")?,
            )
            .with_support_email(settings.mail.support_email.clone()),
        );
        let brand_for_jobs = Brand::clone(&brand);
        let session_db = db.clone();
        let session_clock = clock.clone();
        let redirect = settings
            .http_redirect_listen
            .map(|addr| redirect_server(addr, &settings.public_url))
            .transpose()?;
        let server = HttpServer::new(move || {
            let sessions = SessionMiddleware::builder(
                DbSessionStore::new(
                    session_db.clone(),
                    session_clock.clone(),
                    SESSION_ABSOLUTE_SECS,
                ),
                session_key.clone(),
            )
            .cookie_name("licensor_session".to_owned())
            .cookie_secure(secure_cookies)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .session_lifecycle(
                BrowserSession::default()
                    .state_ttl(CookieDuration::seconds(SESSION_IDLE_SECS))
                    .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
            )
            .build();
            App::new()
                .wrap(from_fn(web::body_deadline::enforce))
                .wrap(sessions)
                .wrap(ErrorHandlers::new().default_handler(web::error::render_error))
                .wrap(from_fn(web::middleware::response_headers))
                .wrap(from_fn(web::middleware::record_request))
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(site.clone())
                .app_data(metrics_data.clone())
                .app_data(metrics_access.clone())
                .app_data(provider_secrets.clone())
                .app_data(assets.clone())
                .app_data(db_data.clone())
                .app_data(clock_data.clone())
                .app_data(ring.clone())
                .app_data(cipher.clone())
                .app_data(usage_data.clone())
                .app_data(app_limits.clone())
                .app_data(app_portal_limits.clone())
                .app_data(proxies.clone())
                .app_data(app_draining.clone())
                .app_data(body_limits.clone())
                .app_data(brand.clone())
                .app_data(two_factor_policy.clone())
                .app_data(dashboards.clone())
                .configure(web::routes)
                .default_service(actix_web::web::to(web::error::not_found))
        });
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config),
            None => server.listen(listener),
        }
        .context("cannot start the HTTP server")?
        // Signals are ours (`drain_on_signal`): readiness goes first.
        .disable_signals()
        .shutdown_timeout(10)
        .run();

        Ok(Application {
            port,
            listen: std::net::SocketAddr::new(settings.listen.ip(), port),
            server,
            redirect,
            db,
            clock,
            limits,
            portal_limits,
            mailer,
            outbox_poll: settings.mail.poll,
            brand: brand_for_jobs,
            expiry_notice_days: settings.expiry_notice_days.clone(),
            validation_retention_days: settings.validation_retention_days,
            webhooks,
            draining,
            shutdown_grace: settings.shutdown_grace,
            signals,
            usage,
            metrics,
            ring: app_ring,
            cipher: app_cipher,
            _serving: serving,
            dashboards: app_dashboards,
        })
    }
}

impl Application {
    pub fn builder(settings: Settings) -> ApplicationBuilder {
        ApplicationBuilder {
            settings,
            clock: Arc::new(SystemClock),
            demo: false,
            signals: false,
        }
    }

    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::builder(settings).build().await
    }

    /// The bound port (useful when `listen` asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound port of the redirect-only plain listener, when configured.
    pub fn redirect_port(&self) -> Option<u16> {
        self.redirect.as_ref().map(|(port, _)| *port)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn mailer(&self) -> Arc<Mailer> {
        self.mailer.clone()
    }

    /// Serves until SIGINT/SIGTERM, with the background jobs beside the
    /// server; then drains and closes the pool.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let cache_feed = self.db.spawn_cache_feed();
        let maintenance = tokio::spawn(jobs::run_maintenance(
            self.db.clone(),
            self.clock.clone(),
            self.validation_retention_days,
        ));
        // The default dashboard, read once at start: on a large database
        // it is kept, and its first viewer does not wait for it.
        let (dashboards, db, now) = (self.dashboards.clone(), self.db.clone(), self.clock.now());
        let warm = tokio::spawn(async move {
            if let Err(e) = dashboards
                .read(&db, now, crate::web::admin::dashboard::DEFAULT_WEEKS)
                .await
            {
                tracing::warn!(error = %format!("{e:#}"), "cannot read the dashboard");
            }
        });
        let key_refresh = tokio::spawn(jobs::run_key_refresh(
            self.db.clone(),
            self.cipher.clone().into_inner(),
            self.ring.clone().into_inner(),
        ));
        let usage_writer = jobs::UsageWriter::start(&self.db, self.usage.clone())
            .context("cannot start the usage writer thread")?;
        let reminders = tokio::spawn(jobs::run_reminders(
            self.db.clone(),
            self.clock.clone(),
            self.brand.clone(),
            self.expiry_notice_days.clone(),
        ));
        let limits = self.limits.clone();
        let portal_limits = self.portal_limits.clone();
        let pruning = tokio::spawn(async move {
            let mut tick = tokio::time::interval(jobs::MAINTENANCE_EVERY);
            loop {
                tick.tick().await;
                limits.prune();
                portal_limits.prune();
            }
        });
        let claimant = jobs::outbox::Claimant::new(self.listen, std::time::SystemTime::now());
        let outbox = tokio::spawn(jobs::outbox::run(
            self.db.clone(),
            claimant,
            self.mailer.clone(),
            self.webhooks.clone(),
            self.clock.clone(),
            self.outbox_poll,
            self.metrics.clone(),
        ));
        let redirect = self.redirect.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let signals = self.signals.then(|| {
            tokio::spawn(drain_on_signal(
                self.server.handle(),
                self.draining.clone(),
                self.shutdown_grace,
            ))
        });
        let result = self.server.await.context("the HTTP server failed");
        if let Some(signals) = signals {
            signals.abort();
        }
        if let Some((handle, task)) = redirect {
            handle.stop(true).await;
            let _ = task.await;
        }
        outbox.abort();
        maintenance.abort();
        key_refresh.abort();
        warm.abort();
        reminders.abort();
        usage_writer.stop().await;
        pruning.abort();
        if let Some(feed) = cache_feed {
            feed.abort();
        }
        self.db.close().await;
        result
    }
}

/// Waits for SIGTERM or SIGINT, then drains: `/readyz` answers 503 at once
/// while every request is still served for `grace`, so a proxy stops
/// sending; then the listener closes and requests in flight get the
/// server's shutdown timeout to finish.
async fn drain_on_signal(
    server: actix_web::dev::ServerHandle,
    draining: Data<web::health::Draining>,
    grace: std::time::Duration,
) {
    let signal = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return std::future::pending::<&str>().await;
            };
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    };
    let name = signal.await;
    draining.start();
    tracing::info!(
        signal = name,
        grace_secs = grace.as_secs(),
        "shutting down: /readyz answers 503, requests are still served until the grace ends"
    );
    tokio::time::sleep(grace).await;
    tracing::info!("closing the listener; requests in flight get 10 s to finish");
    server.stop(true).await;
}

/// The plain-HTTP listener of `http_redirect_listen`: every request gets a
/// 308 to the same path and query under the https public URL, and nothing
/// else (no session, no content), so nothing travels unencrypted twice.
fn redirect_server(
    addr: std::net::SocketAddr,
    public_url: &url::Url,
) -> anyhow::Result<(u16, Server)> {
    let listener = TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on {addr} (setting `http_redirect_listen`)"))?;
    let port = listener.local_addr()?.port();
    let base = public_url.as_str().trim_end_matches('/').to_owned();
    let server = HttpServer::new(move || {
        let base = base.clone();
        App::new()
            .wrap(TracingLogger::<RequestSpan>::new())
            .default_service(actix_web::web::to(move |req: actix_web::HttpRequest| {
                let target = format!(
                    "{base}{}",
                    req.uri().path_and_query().map_or("/", |pq| pq.as_str())
                );
                async move {
                    actix_web::HttpResponse::PermanentRedirect()
                        .insert_header((actix_web::http::header::LOCATION, target))
                        .finish()
                }
            }))
    })
    .workers(1)
    .listen(listener)
    .context("cannot start the redirect listener")?
    .shutdown_timeout(1)
    .run();
    Ok((port, server))
}
