//! How a vendor's application checks its license with Licensor: offline
//! first, against the signed machine (or license) file on disk; online when
//! the file cannot vouch for this machine and the server is reachable,
//! checking that the answer is signed by the vendor's key.
//!
//! ```text
//! cargo run --example vendor_app -- --keys licensor-keys.json \
//!     --fingerprint 4f1c9e2a --file machine.lic \
//!     [--server https://licenses.example.com --license-key XXXXX-...]
//! ```
//!
//! Exit status: 0 licensed, 1 not licensed, 2 a usage error. The trusted
//! key set ships with the application (`licensor keys export-public`); it is
//! never fetched from the server being checked.
//!
//! Online, the application validates the key for this fingerprint; when the
//! server answers `VALID` or `NOT_ACTIVATED` it activates (idempotent: an
//! active machine takes no second seat) and stores the fresh machine file,
//! so the next start works offline again until the file's `valid_until`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use licensor::domain::license_key::LicenseKey;
use licensor::domain::time::Timestamp;
use licensor::verify::{self, Payload, PublicKeys, VerifyError};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Checks this machine's license the way a vendor's application would")]
struct Args {
    /// The vendor's public key set, shipped with the application.
    #[arg(long)]
    keys: PathBuf,
    /// This machine's fingerprint.
    #[arg(long)]
    fingerprint: String,
    /// The machine or license file (read, and replaced after an online
    /// check).
    #[arg(long)]
    file: PathBuf,
    /// The licensing server, for online checks.
    #[arg(long)]
    server: Option<String>,
    /// The customer's license key: needed online, and to read an encrypted
    /// file.
    #[arg(long, env = "VENDOR_APP_LICENSE_KEY", hide_env_values = true)]
    license_key: Option<String>,
}

/// How far the server's `Date` may be from ours before an answer counts as
/// replayed.
const MAX_CLOCK_SKEW_SECS: i64 = 300;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    licensor::tls::install_crypto_provider();
    let keys = match std::fs::read_to_string(&args.keys)
        .map_err(|e| e.to_string())
        .and_then(|text| PublicKeys::from_key_set_json(&text).map_err(|e| e.to_string()))
    {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!("cannot read the key set {}: {e}", args.keys.display());
            return ExitCode::from(2);
        }
    };
    let license_key = match args.license_key.as_deref().map(LicenseKey::parse) {
        None => None,
        Some(Ok(key)) => Some(key),
        Some(Err(e)) => {
            eprintln!("--license-key: {e}");
            return ExitCode::from(2);
        }
    };

    let offline = check_offline(&args.file, &keys, &args.fingerprint, license_key.as_ref());
    match &offline {
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

    let (Some(server), Some(key)) = (args.server.as_deref(), license_key.as_ref()) else {
        println!("not licensed: no valid file, and no server and key to check online");
        return ExitCode::from(1);
    };
    match check_online(server.trim_end_matches('/'), &keys, key, &args.fingerprint).await {
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

fn check_offline(
    file: &Path,
    keys: &PublicKeys,
    fingerprint: &str,
    license_key: Option<&LicenseKey>,
) -> Result<Payload, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("no file ({e})"))?;
    verify::verify_with_key(
        &text,
        keys,
        Timestamp::now(),
        Some(fingerprint),
        license_key,
    )
    .map_err(|e| format!("{} ({e})", e.code()))
}

/// Validates online, then activates to get a fresh machine file. Every
/// answer must carry a valid signature of a trusted key, a current `Date`
/// and, for the validation, our nonce.
async fn check_online(
    server: &str,
    keys: &PublicKeys,
    key: &LicenseKey,
    fingerprint: &str,
) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let nonce = licensor::domain::id::new_id();
    let validation = signed_post(
        &client,
        keys,
        &format!("{server}/api/v1/licenses/validate"),
        &json!({"key": key.expose(), "fingerprint": fingerprint, "nonce": nonce}),
    )
    .await?;
    if validation["meta"]["nonce"].as_str() != Some(nonce.as_str()) {
        return Err("the answer is not for this request (nonce)".to_owned());
    }
    let code = validation["code"].as_str().unwrap_or("missing");
    if code != "VALID" && code != "NOT_ACTIVATED" {
        let detail = validation["detail"].as_str().unwrap_or("");
        return Err(format!("{code}: {detail}"));
    }
    let activation = signed_post(
        &client,
        keys,
        &format!("{server}/api/v1/machines/activate"),
        &json!({"key": key.expose(), "fingerprint": fingerprint}),
    )
    .await?;
    let file = activation["machine_file"]
        .as_str()
        .ok_or_else(|| {
            let code = activation["code"].as_str().unwrap_or("no machine file");
            format!("activation refused: {code}")
        })?
        .to_owned();
    verify::verify(&file, keys, Timestamp::now(), Some(fingerprint))
        .map_err(|e| format!("the new machine file does not verify: {e}"))?;
    Ok(file)
}

async fn signed_post(
    client: &reqwest::Client,
    keys: &PublicKeys,
    url: &str,
    body: &Value,
) -> Result<Value, String> {
    let res = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("the server is not reachable ({e})"))?;
    let status = res.status();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| format!("the answer ({status}) has no {name} header"))
    };
    let signature = header("licensor-signature")?;
    let request_id = header("x-request-id")?;
    let date = header("date")?;
    let bytes = res.bytes().await.map_err(|e| e.to_string())?;
    verify::verify_response(keys, &signature, &request_id, &date, &bytes)
        .map_err(|e: VerifyError| format!("the answer is not genuine: {e}"))?;
    let sent = Timestamp::from_http_date(&date)
        .ok_or_else(|| "the answer's Date is unreadable".to_owned())?;
    if (sent.unix() - Timestamp::now().unix()).abs() > MAX_CLOCK_SKEW_SECS {
        return Err("the answer's Date is far from this clock (replayed?)".to_owned());
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("the answer is not JSON ({e})"))
}
