//! TLS set-up shared by every rustls user in the process (webhook
//! deliveries, and the HTTP clients of the tests and examples).

/// Makes ring the process's rustls crypto provider. Idempotent: a provider
/// installed earlier (by us or by an embedding application) is kept.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
