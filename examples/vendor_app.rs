//! How a vendor's application checks its license with Licensor, written on
//! the Rust client library (`licensor-client`, docs/clients.md), as an
//! application would be: offline first, against the signed machine (or
//! license) file on disk; online when the file cannot vouch for this
//! machine and the server is reachable.
//!
//! ```text
//! cargo run --example vendor_app -- --keys licensor-keys.json \
//!     --fingerprint 4f1c9e2a --file machine.lic \
//!     [--server https://licenses.example.com --product my-app --license-key XXXXX-...]
//! ```
//!
//! Exit status: 0 licensed, 1 not licensed, 2 a usage error. The trusted
//! key set ships with the application (`licensor keys export-public`); it is
//! never fetched from the server being checked.
//!
//! Online, the application validates the key for this fingerprint (the
//! library checks the answer's signature, nonce and date); when the server
//! answers `VALID` or `NOT_ACTIVATED` it activates (idempotent: an active
//! machine takes no second seat) and stores the fresh machine file, so the
//! next start works offline again until the file's `valid_until`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use licensor_client::{Client, ErrorKind, Keys, Payload, verify_license_file};

#[derive(Parser)]
#[command(about = "Checks this machine's license the way a vendor's application would")]
struct Args {
    /// The vendor's public key set, shipped with the application.
    #[arg(long)]
    keys: PathBuf,
    /// This machine's fingerprint (an application would use
    /// `licensor_client::machine_fingerprint`).
    #[arg(long)]
    fingerprint: String,
    /// The machine or license file (read, and replaced after an online
    /// check).
    #[arg(long)]
    file: PathBuf,
    /// The licensing server, for online checks.
    #[arg(long, requires = "product")]
    server: Option<String>,
    /// The product's code, for online checks.
    #[arg(long)]
    product: Option<String>,
    /// The customer's license key: needed online, and to read an encrypted
    /// file.
    #[arg(long, env = "VENDOR_APP_LICENSE_KEY", hide_env_values = true)]
    license_key: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let keys = match std::fs::read_to_string(&args.keys)
        .map_err(|e| e.to_string())
        .and_then(|text| Keys::from_key_set_json(&text).map_err(|e| e.to_string()))
    {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!("cannot read the key set {}: {e}", args.keys.display());
            return ExitCode::from(2);
        }
    };
    let license_key = args.license_key.as_deref();

    match check_offline(&args.file, &keys, &args.fingerprint, license_key) {
        Ok(payload) => {
            println!(
                "licensed (offline): {} {} for {}",
                payload.product,
                payload.license_type,
                payload.licensee.name.as_deref().unwrap_or("this customer")
            );
            return ExitCode::SUCCESS;
        }
        Err(reason) => println!("offline check failed: {reason}"),
    }

    let (Some(server), Some(product), Some(key)) = (&args.server, &args.product, license_key)
    else {
        println!("not licensed: no valid file, and no server and key to check online");
        return ExitCode::from(1);
    };
    let client = Client::new(server, product, keys.clone());
    match check_online(&client, &keys, key, &args.fingerprint).await {
        Ok(file) => {
            if let Err(e) = std::fs::write(&args.file, &file) {
                eprintln!("could not store the new machine file: {e}");
            }
            println!("licensed (online): a fresh machine file is stored");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("not licensed: {reason}");
            ExitCode::from(1)
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn check_offline(
    file: &Path,
    keys: &Keys,
    fingerprint: &str,
    license_key: Option<&str>,
) -> Result<Payload, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("no file ({e})"))?;
    verify_license_file(&text, keys, Some(fingerprint), unix_now(), license_key)
        .map_err(|e| format!("{} ({e})", e.code()))
}

/// Validates online, then activates to get a fresh machine file, which is
/// verified before it is kept.
async fn check_online(
    client: &Client,
    keys: &Keys,
    key: &str,
    fingerprint: &str,
) -> Result<String, String> {
    let describe = |e: licensor_client::Error| match e.kind {
        ErrorKind::Rejected => format!("the answer is not genuine: {e}"),
        ErrorKind::Unreachable => format!("the server is not reachable: {e}"),
        ErrorKind::Refused | ErrorKind::State => e.to_string(),
    };
    let validation = client
        .validate(key, fingerprint, &[])
        .await
        .map_err(describe)?;
    if validation.code != "VALID" && validation.code != "NOT_ACTIVATED" {
        return Err(format!("{}: {}", validation.code, validation.detail));
    }
    let activation = client
        .activate(key, fingerprint, None, None)
        .await
        .map_err(describe)?;
    let file = activation
        .machine_file
        .ok_or_else(|| "activation answered no machine file".to_owned())?;
    verify_license_file(&file, keys, Some(fingerprint), unix_now(), Some(key))
        .map_err(|e| format!("the new machine file does not verify: {e}"))?;
    Ok(file)
}
