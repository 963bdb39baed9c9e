//! The one-shot commands of the `licensor` binary (export, seed, import,
//! verify, keys): the binary's own module, not the library's.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use licensor::clock::{Clock, SystemClock};
use licensor::config::Settings;
use licensor::domain::audit::Actor;
use licensor::domain::fingerprint::Fingerprint;
use licensor::domain::license_key::LicenseKey;
use licensor::domain::time::Timestamp;
use licensor::services::context::Ctx;
use licensor::services::license_files::{FileForm, Standing};
use licensor::services::licensing::LicensingError;
use licensor::services::{keys, license_files, licensing, load_seed};
use licensor::signing::key_set_document;
use licensor::verify;

use crate::{KeysCommand, open_db};

pub(crate) async fn license_export(
    settings: Settings,
    id: &str,
    fingerprint: Option<&str>,
    encrypted: bool,
    standing: Standing,
) -> anyhow::Result<()> {
    let fingerprint = fingerprint
        .map(|f| Fingerprint::parse(f).map_err(|e| anyhow::anyhow!("--fingerprint: {e}")))
        .transpose()?;
    let id = &licensor::domain::id::LicenseId::parse(id).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = open_db(&settings).await?;
    let result = async {
        let (secret, _) = settings.server_secret()?;
        let cipher = secret.data_cipher()?;
        let ring = keys::load_ring(&db, &cipher).await?;
        let key = if encrypted {
            Some(licensing::reveal_key(&db, &cipher, id).await?)
        } else {
            None
        };
        let form = key.as_ref().map_or(FileForm::Plain, FileForm::Encrypted);
        let now = SystemClock.now();
        let file = license_files::file(&db, &ring, id, fingerprint.as_ref(), now, form, standing)
            .await
            .map_err(|e| match e {
                LicensingError::Refused { .. } => anyhow::anyhow!(
                    "{e} No new signed file is made for a license that is not in good standing \
                     (files issued before keep their own expiry); reinstate it first, or pass \
                     --force to sign one anyway."
                ),
                e => anyhow::anyhow!("{e}"),
            })?;
        license_files::record(&db, &file.signature, now).await?;
        anyhow::Ok(file.text)
    }
    .await;
    db.close().await;
    print!("{}", result?);
    Ok(())
}

pub(crate) async fn seed(
    settings: Settings,
    plan: load_seed::Plan,
    product: &str,
    keys_out: &std::path::Path,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(keys_out)
            .with_context(|| format!("cannot create {}", keys_out.display()))?,
    );
    let db = open_db(&settings).await?;
    let result = async {
        let (secret, _) = settings.server_secret()?;
        let cipher = secret.data_cipher()?;
        let clock = SystemClock;
        let ctx = Ctx::new(&db, &clock, Actor::Cli);
        load_seed::seed(&ctx, &cipher, product, plan, &mut out).await
    }
    .await;
    db.close().await;
    let seeded = result?;
    println!(
        "{}",
        serde_json::json!({
            "product": seeded.product_code,
            "license_type_id": seeded.license_type_id,
            "api_token": seeded.api_token,
            "licenses": seeded.licenses,
            "first_license_machines": seeded.first_license_machines,
            "keys_file": keys_out.display().to_string(),
        })
    );
    Ok(())
}

pub(crate) async fn import_licenses(
    settings: Settings,
    file: &std::path::Path,
    dry_run: bool,
) -> anyhow::Result<()> {
    use licensor::services::licensing::import::{self, ImportError, ImportSource};
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let db = open_db(&settings).await?;
    let result = async {
        let rows = import::csv_rows(&bytes, usize::MAX)?;
        let (secret, _) = settings.server_secret()?;
        let cipher = secret.data_cipher()?;
        let ctx = Ctx::new(&db, &SystemClock, Actor::Cli);
        import::import_licenses(&ctx, &cipher, rows, ImportSource::Cli, dry_run).await
    }
    .await;
    db.close().await;
    match result {
        Ok(report) => {
            let verb = if dry_run { "would import" } else { "imported" };
            println!(
                "{verb} {} licenses from {}; {} already held (left as they are)",
                report.created.len(),
                file.display(),
                report.existing.len()
            );
            Ok(())
        }
        Err(ImportError::Rows(errors)) => {
            for e in &errors {
                let field = e.field.map(|f| format!("{f}: ")).unwrap_or_default();
                eprintln!("{}:{}: {field}{}", file.display(), e.line, e.detail);
            }
            anyhow::bail!(
                "{} errors in {}; nothing was imported",
                errors.len(),
                file.display()
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// Where `licensor verify` takes the trusted public keys from.
pub(crate) enum TrustedKeys {
    Set(PathBuf),
    One(PathBuf),
}

pub(crate) fn verify_file(
    file: &std::path::Path,
    trusted: &TrustedKeys,
    fingerprint: Option<&str>,
    license_key: Option<&str>,
    at: Option<i64>,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let keys = match trusted {
        TrustedKeys::Set(path) => {
            let set = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            verify::PublicKeys::from_key_set_json(&set)
                .map_err(|e| anyhow::anyhow!("--keys: {e}"))?
        }
        TrustedKeys::One(path) => {
            let key = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            verify::PublicKeys::from_public_key_base64(&key)
                .map_err(|e| anyhow::anyhow!("--public-key: {e}"))?
        }
    };
    let license_key = license_key
        .map(|k| LicenseKey::named(k).map_err(|e| anyhow::anyhow!("--license-key: {e}")))
        .transpose()?;
    match verify::verify_with_key(
        &text,
        &keys,
        at.map_or_else(|| SystemClock.now(), Timestamp::from_unix),
        fingerprint,
        license_key.as_ref(),
    ) {
        Ok(payload) => {
            println!("valid");
            println!("{}", serde_json::to_string_pretty(&payload)?);
            Ok(())
        }
        Err(e) => bail!("not valid ({}): {e}", e.code()),
    }
}

pub(crate) async fn keys_command(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    let db = open_db(&settings).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let result = async {
        let cipher = || -> anyhow::Result<_> {
            let (secret, _) = settings.server_secret()?;
            secret.data_cipher()
        };
        let mut out = std::io::stdout().lock();
        match command {
            KeysCommand::Generate => {
                let kid = keys::generate(&db, &cipher()?, clock.as_ref(), &Actor::Cli).await?;
                writeln!(out, "generated signing key {kid}")?;
            }
            KeysCommand::Rotate => {
                let (old, new) = keys::rotate(&db, &cipher()?, clock.as_ref(), &Actor::Cli).await?;
                match old {
                    Some(old) => writeln!(out, "retired {old}; new signing key {new}")?,
                    None => writeln!(out, "new signing key {new}")?,
                }
                writeln!(out, "running servers sign with {new} within seconds")?;
            }
            KeysCommand::Revoke { kid, reason } => {
                let done =
                    keys::revoke(&db, &cipher()?, clock.as_ref(), &Actor::Cli, &kid, &reason)
                        .await?;
                writeln!(
                    out,
                    "revoked {kid} at {}: verifiers that read the published key set refuse \
                     what it signed",
                    done.at
                )?;
                if let Some(new) = done.replaced_by {
                    writeln!(out, "it was the signing key; new signing key {new}")?;
                }
                writeln!(
                    out,
                    "the console's Signing keys page lists the licenses whose files it signed last"
                )?;
            }
            KeysCommand::List => {
                writeln!(
                    out,
                    "{:<18} {:<8} {:<22} {:<22} REVOKED",
                    "KID", "STATUS", "CREATED", "RETIRED"
                )?;
                let at =
                    |t: Option<Timestamp>| t.map_or_else(|| "-".to_owned(), |t| t.to_utc_string());
                for key in keys::list(&db).await? {
                    let status = match (key.active, key.revoked_at) {
                        (_, Some(_)) => "revoked",
                        (true, None) => "active",
                        (false, None) => "retired",
                    };
                    writeln!(
                        out,
                        "{:<18} {:<8} {:<22} {:<22} {}",
                        key.kid,
                        status,
                        key.created_at.to_utc_string(),
                        at(key.retired_at),
                        match (key.revoked_at, key.revoked_reason) {
                            (Some(t), Some(reason)) => format!("{} ({reason})", t.to_utc_string()),
                            (t, _) => at(t),
                        }
                    )?;
                }
            }
            KeysCommand::ExportPublic => {
                let doc = key_set_document(&keys::published(&db).await?);
                writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    result
}

pub(crate) async fn backup(settings: Settings, file: &std::path::Path) -> anyhow::Result<()> {
    use licensor::store::backup;
    let db = open_db(&settings).await?;
    let result = backup::backup(&db, file).await;
    db.close().await;
    let bytes = result?;
    println!(
        "backed up the database to {} ({bytes} bytes)\n\
         Keep the server secret ({}) too, apart from the backup: without it the keys in \
         the backup cannot be opened.",
        file.display(),
        settings.secret_file.display()
    );
    Ok(())
}

pub(crate) async fn restore(settings: Settings, file: &std::path::Path) -> anyhow::Result<()> {
    use licensor::store::backup;
    let restored = backup::restore(&settings.database.url, file, SystemClock.now()).await?;
    println!(
        "restored {} (database schema {}); `licensor serve` brings it to this release's schema",
        file.display(),
        restored.schema
    );
    if let Some(previous) = restored.previous {
        println!("the database it replaced is kept as {}", previous.display());
    }
    Ok(())
}
