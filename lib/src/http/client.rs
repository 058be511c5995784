//! The one outbound HTTPS setup: rustls with the system's roots (read once
//! per process) and the aws-lc-rs provider, shared with the PostgreSQL
//! connector.

use std::sync::{Arc, OnceLock};

use rustls::{crypto::CryptoProvider, pki_types::CertificateDer, ClientConfig, RootCertStore};

/// The crypto provider every TLS connection uses.
pub fn provider() -> Arc<CryptoProvider> {
    // Explicit, so nothing depends on a process-wide default provider.
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The system's trusted roots, read once per process.
pub fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let result = rustls_native_certs::load_native_certs();
        for error in &result.errors {
            tracing::warn!(%error, "could not read some system CA certificates");
        }
        result.certs
    })
}

/// A rustls client configuration for HTTPS (Secrets Manager, the JWKS): the system roots (read
/// once per process, shared with the PostgreSQL connector), the same
/// provider.
pub fn https_config() -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    if roots.is_empty() {
        return Err("the system has no trusted CA certificates for HTTPS".into());
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
