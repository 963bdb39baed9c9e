//! TLS set-up shared by every rustls user in the process (webhook
//! deliveries, and the HTTP clients of the tests and examples).

/// Makes ring the process's rustls crypto provider. Idempotent: a provider
/// installed earlier (by us or by an embedding application) is kept.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The rustls configuration that serves HTTPS from the PEM files of the
/// `tls_cert` and `tls_key` settings; ring as the provider, TLS 1.2 and 1.3,
/// HTTP/1.1 by ALPN.
pub fn server_config(files: &crate::config::TlsFiles) -> anyhow::Result<rustls::ServerConfig> {
    use anyhow::Context;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read tls_cert {}", files.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("tls_cert {} holds no PEM certificate", files.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).with_context(|| {
        format!(
            "cannot read a PEM private key from tls_key {}",
            files.key.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("rustls refused its own default protocol versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("tls_cert and tls_key do not make a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
