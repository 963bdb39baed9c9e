//! The `licensor` command: parses the command line and calls the library.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use licensor::clock::SystemClock;
use licensor::config::{self, LogFormat, Settings};
use licensor::domain::audit::Actor;
use licensor::domain::email::EmailAddress;
use licensor::domain::password::Password;
use licensor::domain::role::Role;
use licensor::secret::ServerSecret;
use licensor::services::api_tokens::{self, Scope};
use licensor::services::context::Ctx;
use licensor::services::license_files::Standing;
use licensor::services::{load_seed, staff};
use licensor::startup::Application;
use licensor::store::Db;
use licensor::telemetry;

/// mimalloc: per-thread free lists, where glibc's allocator made the HTTP
/// workers and SQLite's threads queue on a few arena locks (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `licensor --version`: the release and the database schema it applies.
fn version_line() -> &'static str {
    static LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LINE.get_or_init(|| {
        format!(
            "{} (database schema {})",
            env!("CARGO_PKG_VERSION"),
            licensor::store::schema_version()
        )
    })
}

/// Licensor: a self-hosted software-licensing portal and API.
#[derive(Parser)]
#[command(name = "licensor", version = version_line(), about)]
struct Cli {
    /// Configuration file (default: ./licensor.toml when present).
    #[arg(long, global = true, env = "LICENSOR_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Log format; overrides the `log_format` setting.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Pretty,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal and API (applies migrations first).
    Serve {
        /// Also seed a demo product and a self-service trial (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The server secret: the root of every key at rest.
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Manage the license signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Work with licenses.
    License {
        #[command(subcommand)]
        command: LicenseCommand,
    },
    /// Copy the live SQLite database to FILE (a new file) without stopping
    /// the server; keep the server secret with it (docs/deploy.md).
    Backup { file: PathBuf },
    /// Replace the SQLite database with a backup; refused while a server
    /// runs on it. The database it replaces is moved aside, not deleted.
    Restore { file: PathBuf },
    /// Bring over records from another system.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Seed a product, a write API token and N licenses with one machine
    /// each, for a load test (docs/performance.md); prints what the load
    /// tool needs as JSON.
    Seed {
        /// How many licenses.
        #[arg(long)]
        licenses: usize,
        /// The code of the product to create (it must be new).
        #[arg(long, default_value = "load")]
        product: String,
        /// Where to write one `KEY FINGERPRINT` line per license.
        #[arg(long, value_name = "FILE")]
        keys_out: PathBuf,
        /// Live machines on the first license (its seat limit is 100,000):
        /// the activation scale benchmark's one large license.
        #[arg(long, default_value_t = 1, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        first_license_machines: u32,
        /// Customers (an organization and its owner each) to deal the
        /// licenses out to: the console's scale benchmark.
        #[arg(long, default_value_t = 0, value_name = "N")]
        customers: usize,
        /// Audit events about them over the past year.
        #[arg(long, default_value_t = 0, value_name = "N")]
        events: usize,
    },
    /// Verify a license or machine file offline; exits 1 when it is not valid.
    #[command(group(clap::ArgGroup::new("trust").required(true).args(["keys", "public_key"])))]
    Verify {
        /// The license or machine file.
        file: PathBuf,
        /// The public key set (`licensor keys export-public` or
        /// /.well-known/licensor-keys.json).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "public_key",
            conflicts_with = "public_key"
        )]
        keys: Option<PathBuf>,
        /// One public key instead of a key set: a file holding the base64 of
        /// the 32-byte ed25519 key (a `public_key` value of the key set).
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        /// This machine's fingerprint (machine files).
        #[arg(long)]
        fingerprint: Option<String>,
        /// The license key, to read an encrypted file (also read from
        /// LICENSOR_VERIFY_LICENSE_KEY, which keeps it out of the process list).
        #[arg(long, env = "LICENSOR_VERIFY_LICENSE_KEY", hide_env_values = true)]
        license_key: Option<String>,
        /// Verify as of this time (unix seconds) instead of now: would the
        /// file be valid then.
        #[arg(long, value_name = "UNIX_SECONDS")]
        at: Option<i64>,
    },
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Create a production server secret (mode 0600) at `secret_file`, or at
    /// --file; never overwrites an existing one. With --print, write a new
    /// secret to standard output instead, for LICENSOR_SECRET.
    Create {
        #[arg(long, value_name = "FILE", conflicts_with = "print")]
        file: Option<PathBuf>,
        #[arg(long)]
        print: bool,
    },
}

#[derive(Subcommand)]
enum LicenseCommand {
    /// Print the signed license file of a license (a machine file with
    /// --fingerprint of an active machine).
    Export {
        id: String,
        #[arg(long)]
        fingerprint: Option<String>,
        /// Encrypt the payload with the license's key, so only a holder of
        /// the key can read the file (it still verifies without it).
        #[arg(long)]
        encrypted: bool,
        /// Sign a file even though the license is suspended or revoked
        /// (refused without it: a file says "valid" offline until it expires).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import licenses from a CSV file with a header line (columns: key,
    /// customer_email, organization, product, license_type, seats,
    /// entitlements, issued_at, expires_at, machines, metadata; see
    /// docs/import.md). All or nothing; keys already held are left as they
    /// are, so the same file twice creates nothing new.
    Licenses {
        file: PathBuf,
        /// Check every row and report, writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a staff account. The password is read from a prompt, or from
    /// the first line of standard input when it is not a terminal.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: StaffRoleArg,
    },
    /// Manage API tokens for provisioning and integrations.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token and print it once on standard output.
    Create {
        #[arg(long, value_enum)]
        scope: ScopeArg,
        /// A name to recognize the token by (e.g. the integration using it).
        #[arg(long, default_value = "api")]
        name: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    Read,
    Write,
}

#[derive(Clone, Copy, ValueEnum)]
enum StaffRoleArg {
    Admin,
    Support,
    Sales,
    #[value(name = "read_only")]
    ReadOnly,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create the first signing key (the server also does this on first start).
    Generate,
    /// Make a new key the signing key; older keys stay published.
    Rotate,
    /// Distrust a key that leaked: it stays published as revoked, verifiers
    /// refuse what it signed; a revoked signing key is replaced by a new one.
    Revoke {
        /// The key's id (`licensor keys list`).
        kid: String,
        /// Why it is revoked (kept in the audit log and the console).
        #[arg(long)]
        reason: String,
    },
    /// List the keys with their state.
    List,
    /// Print the public key set as JSON (the /.well-known/licensor-keys.json document).
    ExportPublic,
}

/// Exit code for a configuration problem, as for a usage error.
const EXIT_CONFIG: u8 = 2;

mod commands;
use commands::{TrustedKeys, import_licenses, keys_command, license_export, seed, verify_file};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match config::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match cli.log_format {
        Some(LogFormatArg::Pretty) => settings.log_format = LogFormat::Pretty,
        Some(LogFormatArg::Json) => settings.log_format = LogFormat::Json,
        None => {}
    }
    // Only `serve` logs at the configured level; the one-shot verbs keep
    // their output for their results.
    let filter = match cli.command {
        Command::Serve { .. } | Command::Migrate => settings.log_filter.clone(),
        _ => "warn".to_owned(),
    };
    if let Err(e) = telemetry::init(settings.log_format, &filter) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo } => serve(settings, demo).await,
        Command::Migrate => {
            let db = Db::connect(&settings.database).await?;
            db.migrate().await?;
            tracing::info!(database = %licensor::store::redact_url(&settings.database.url), "migrations applied");
            db.close().await;
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Create { email, role },
        } => admin_create(settings, &email, role).await,
        Command::Admin {
            command:
                AdminCommand::Token {
                    command: TokenCommand::Create { scope, name },
                },
        } => token_create(settings, scope, &name).await,
        Command::Keys { command } => keys_command(settings, command).await,
        Command::Seed {
            licenses,
            product,
            keys_out,
            first_license_machines,
            customers,
            events,
        } => {
            let plan = load_seed::Plan {
                licenses,
                first_license_machines,
                customers,
                events,
            };
            seed(settings, plan, &product, &keys_out).await
        }
        Command::Backup { file } => commands::backup(settings, &file).await,
        Command::Restore { file } => commands::restore(settings, &file).await,
        Command::Import {
            command: ImportCommand::Licenses { file, dry_run },
        } => import_licenses(settings, &file, dry_run).await,
        Command::Secret {
            command: SecretCommand::Create { file, print },
        } => {
            if print {
                println!("{}", ServerSecret::random_base64()?.as_str());
                return Ok(());
            }
            let path = file.unwrap_or_else(|| settings.secret_file.clone());
            ServerSecret::create_file(&path)?;
            println!(
                "created the server secret {}; keep a copy somewhere safe",
                path.display()
            );
            Ok(())
        }
        Command::License {
            command:
                LicenseCommand::Export {
                    id,
                    fingerprint,
                    encrypted,
                    force,
                },
        } => {
            let standing = if force {
                Standing::Overridden
            } else {
                Standing::Required
            };
            license_export(settings, &id, fingerprint.as_deref(), encrypted, standing).await
        }
        Command::Verify {
            file,
            keys,
            public_key,
            fingerprint,
            license_key,
            at,
        } => {
            let trusted = match (keys, public_key) {
                (Some(keys), _) => TrustedKeys::Set(keys),
                (None, Some(key)) => TrustedKeys::One(key),
                (None, None) => bail!("give --keys FILE or --public-key FILE"),
            };
            verify_file(
                &file,
                &trusted,
                fingerprint.as_deref(),
                license_key.as_deref(),
                at,
            )
        }
    }
}

async fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    let public_url = settings.public_url.clone();
    let listen = settings.listen;
    let app = Application::builder(settings)
        .demo(demo)
        .signals(true)
        .build()
        .await?;
    tracing::info!(
        "Licensor listening on http://{}:{} (public URL {public_url})",
        listen.ip(),
        app.port()
    );
    app.run_until_stopped().await
}

async fn open_db(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(&settings.database).await?;
    db.migrate().await?;
    Ok(db)
}

async fn admin_create(settings: Settings, email: &str, role: StaffRoleArg) -> anyhow::Result<()> {
    let email = EmailAddress::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let role = match role {
        StaffRoleArg::Admin => Role::Admin,
        StaffRoleArg::Support => Role::Support,
        StaffRoleArg::Sales => Role::Sales,
        StaffRoleArg::ReadOnly => Role::ReadOnly,
    };
    let password = read_new_password()?;
    let db = open_db(&settings).await?;
    let clock = SystemClock;
    let id = staff::create_staff(&db, &clock, &Actor::Cli, &email, role, password).await;
    db.close().await;
    let id = id?;
    println!("created {role} account {} (id {id})", email.as_str());
    Ok(())
}

async fn token_create(settings: Settings, scope: ScopeArg, name: &str) -> anyhow::Result<()> {
    let scope = match scope {
        ScopeArg::Read => Scope::Read,
        ScopeArg::Write => Scope::Write,
    };
    let db = open_db(&settings).await?;
    let clock = SystemClock;
    let ctx = Ctx::new(&db, &clock, Actor::Cli);
    let created = api_tokens::create(&ctx, name, scope).await;
    db.close().await;
    let (id, token) = created?;
    eprintln!(
        "created {} token {id}; it is shown once, store it now:",
        scope.as_str()
    );
    println!("{}", token.expose());
    Ok(())
}

/// A new password from a no-echo prompt (asked twice), or from the first
/// line of standard input when it is not a terminal. Never an argument.
fn read_new_password() -> anyhow::Result<Password> {
    let text = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (15 characters or more): ")
            .context("cannot read the password")?;
        let again = rpassword::prompt_password("Repeat the password: ")
            .context("cannot read the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let trimmed = line.trim_end_matches(['\n', '\r']).to_owned();
        if trimmed.is_empty() {
            bail!("no password on standard input");
        }
        trimmed
    };
    Password::parse(SecretString::from(text)).map_err(|e| anyhow::anyhow!("password: {e}"))
}
