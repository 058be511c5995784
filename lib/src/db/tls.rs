//! TLS to PostgreSQL with rustls.
//!
//! `sslmode` comes from the connection string, else from `PGSSLMODE`, else it
//! is `prefer` (libpq's default). `disable` never encrypts; `prefer` encrypts
//! when the server offers TLS; `require`, `verify-ca` and `verify-full` refuse
//! a server that does not. Whenever TLS is used the server certificate is
//! verified against the system roots plus the CA bundle named by the string's
//! `sslrootcert` or `PGSSLROOTCERT` (e.g. the RDS global bundle): rustls has
//! no unverified mode, so `prefer` and `require` are stricter than libpq's
//! (there they only encrypt). `require` and `verify-full` check the host
//! name; `verify-ca` checks the chain only.
//!
//! tokio-postgres knows only `disable`/`prefer`/`require` and no
//! `sslrootcert`: [`ConnectionString::parse`] reads and strips those before
//! tokio-postgres parses the rest.

use std::{
    fmt,
    path::PathBuf,
    str::FromStr,
    sync::{Arc, OnceLock},
};

use percent_encoding::percent_decode_str;
use rustls::{
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        WebPkiServerVerifier,
    },
    pki_types::{pem::PemObject, CertificateDer, ServerName, UnixTime},
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::{config::SslMode as PgSslMode, tls::MakeTlsConnect};
pub use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{
    config::{ConfigError, Source},
    http::client::{provider, system_roots},
};

/// libpq's `sslmode` values, less `allow` (plain first, TLS as a fallback),
/// which nothing here needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres should do at the protocol level: the difference
    /// between `require` and `verify-*` lies in the certificate verifier.
    fn protocol(self) -> PgSslMode {
        match self {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const SSLMODE_VALUES: &str = "expected disable, prefer, require, verify-ca or verify-full";

impl FromStr for SslMode {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            "allow" => Err("allow is not supported (it prefers plain text): use disable or prefer"),
            _ => Err(SSLMODE_VALUES),
        }
    }
}

/// libpq's environment variables for TLS, used when the connection string
/// does not say.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// `PGSSLMODE`.
    pub ssl_mode: Option<SslMode>,
    /// `PGSSLROOTCERT`: a PEM file of extra trusted CA certificates.
    pub root_cert: Option<PathBuf>,
}

impl TlsSettings {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let ssl_mode = match src.get("PGSSLMODE") {
            None => None,
            Some(raw) => Some(
                raw.parse().map_err(|reason: &str| ConfigError::Invalid { var: "PGSSLMODE", reason: reason.into() })?,
            ),
        };
        let root_cert = src.get("PGSSLROOTCERT").map(|p| PathBuf::from(p.trim()));
        Ok(Self { ssl_mode, root_cert })
    }
}

/// Why a connection string was refused. Never carries any of its text: it
/// may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a PostgreSQL connection string (postgres://user:password@host:port/db or key=value pairs)")]
    Syntax,
    #[error("its sslmode is invalid: {0}")]
    SslMode(&'static str),
}

impl From<UrlError> for ConfigError {
    fn from(e: UrlError) -> Self {
        ConfigError::Invalid { var: "DATABASE_URL", reason: e.to_string() }
    }
}

/// A connection string with its TLS parameters taken out.
pub struct ConnectionString {
    /// What tokio-postgres parsed, `sslmode`/`sslrootcert` removed.
    pub config: tokio_postgres::Config,
    /// The string's own `sslmode`, if it has one.
    pub ssl_mode: Option<SslMode>,
    /// The string's own `sslrootcert`, if it has one.
    pub root_cert: Option<PathBuf>,
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("ssl_mode", &self.ssl_mode)
            .field("root_cert", &self.root_cert)
            .finish_non_exhaustive()
    }
}

impl ConnectionString {
    /// Parses a URL (`postgres://…?sslmode=verify-full`) or key=value
    /// (`host=… sslmode=verify-full`) connection string.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (rest, params) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            strip_url_params(url)?
        } else {
            strip_key_value_params(url)?
        };
        let mut ssl_mode = None;
        let mut root_cert = None;
        for (key, value) in params {
            match key {
                TlsParam::SslMode => ssl_mode = Some(value.parse().map_err(UrlError::SslMode)?),
                // libpq's `sslrootcert=system`: the system roots alone.
                TlsParam::SslRootCert if value == "system" => root_cert = None,
                TlsParam::SslRootCert => root_cert = Some(PathBuf::from(value)),
            }
        }
        let config = tokio_postgres::Config::from_str(&rest).map_err(|_| UrlError::Syntax)?;
        Ok(Self { config, ssl_mode, root_cert })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsParam {
    SslMode,
    SslRootCert,
}

fn tls_param(key: &str) -> Option<TlsParam> {
    match key {
        "sslmode" => Some(TlsParam::SslMode),
        "sslrootcert" => Some(TlsParam::SslRootCert),
        _ => None,
    }
}

/// Removes `sslmode` and `sslrootcert` from a URL's query string.
fn strip_url_params(url: &str) -> Result<(String, Vec<(TlsParam, String)>), UrlError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut found = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode =
            |s: &str| percent_decode_str(s).decode_utf8().map(|c| c.into_owned()).map_err(|_| UrlError::Syntax);
        match tls_param(&decode(key)?) {
            Some(param) => found.push((param, decode(value)?)),
            None => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((rest, found))
}

/// Removes `sslmode` and `sslrootcert` from a `key=value` string, following
/// libpq's quoting (single quotes, backslash escapes, spaces around `=`).
fn strip_key_value_params(s: &str) -> Result<(String, Vec<(TlsParam, String)>), UrlError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut kept = String::with_capacity(s.len());
    let mut found = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i == bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[start..i];
        skip_ws(&mut i);
        if bytes.get(i) != Some(&b'=') {
            return Err(UrlError::Syntax);
        }
        i += 1;
        skip_ws(&mut i);
        let mut value = String::new();
        if bytes.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(UrlError::Syntax),
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        value.push(char::from(bytes[i + 1]));
                        i += 2;
                    }
                    Some(_) => {
                        let c = s[i..].chars().next().ok_or(UrlError::Syntax)?;
                        value.push(c);
                        i += c.len_utf8();
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                let c = s[i..].chars().next().ok_or(UrlError::Syntax)?;
                value.push(c);
                i += c.len_utf8();
            }
        }
        match tls_param(key) {
            Some(param) => found.push((param, value)),
            None => {
                kept.push_str(&s[start..i]);
                kept.push(' ');
            }
        }
    }
    Ok((kept.trim_end().to_string(), found))
}

/// A connection string ready to connect: the tokio-postgres config with its
/// effective `sslmode`, and the rustls connector that goes with it.
#[derive(Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    pub ssl_mode: SslMode,
    pub tls: LazyTls,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target").field("ssl_mode", &self.ssl_mode).finish_non_exhaustive()
    }
}

impl Target {
    /// Parses `url`; the TLS connector is built on the first connection (see
    /// [`LazyTls`]); a CA bundle is read now.
    pub fn from_url(url: &str, settings: &TlsSettings) -> Result<Self, ConfigError> {
        Self::new(ConnectionString::parse(url)?, settings)
    }

    pub fn new(conn: ConnectionString, settings: &TlsSettings) -> Result<Self, ConfigError> {
        let ssl_mode = conn.ssl_mode.or(settings.ssl_mode).unwrap_or(SslMode::Prefer);
        let root_cert = match (conn.root_cert, &settings.root_cert) {
            (Some(path), _) => Some(("DATABASE_URL", path)),
            (None, Some(path)) => Some(("PGSSLROOTCERT", path.clone())),
            (None, None) => None,
        };
        let mut config = conn.config;
        config.ssl_mode(ssl_mode.protocol());
        Ok(Self { config, ssl_mode, tls: LazyTls::new(ssl_mode, root_cert)? })
    }

    /// One connection, driven on a spawned task until the client is dropped.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "database connection ended with an error");
            }
        });
        Ok(client)
    }
}

/// The rustls connector, built on the first connection rather than at cold
/// start: reading and parsing the system CA bundle is most of a cold start
/// (BENCHMARKS.md), and nothing that can wait should delay a function's first poll of the Runtime API. A CA bundle the
/// settings name is read when this is made, so a wrong path or a file with
/// no PEM certificate still fails the cold start; one whose certificates
/// cannot be parsed fails every connection with the same message (a 503,
/// logged).
const PEM_CERTIFICATE: &[u8] = b"-----BEGIN CERTIFICATE-----";

#[derive(Clone)]
pub struct LazyTls(Arc<LazyTlsInner>);

struct LazyTlsInner {
    mode: SslMode,
    /// The named CA bundle as read at cold start: parsed on first use, not read again.
    root_cert: Option<Bundle>,
    built: OnceLock<Result<MakeRustlsConnect, ConfigError>>,
}

/// A CA bundle's bytes, with the variable and path that named it (for messages).
struct Bundle {
    var: &'static str,
    path: PathBuf,
    pem: Vec<u8>,
}

impl LazyTls {
    fn new(mode: SslMode, root_cert: Option<(&'static str, PathBuf)>) -> Result<Self, ConfigError> {
        let root_cert = match root_cert {
            None => None,
            Some((var, path)) => {
                // Read and glanced at, not parsed: a wrong path or a file that
                // is not a bundle at all still fails the cold start, for
                // microseconds.
                let invalid = |reason: String| ConfigError::Invalid { var, reason };
                let pem = std::fs::read(&path)
                    .map_err(|e| invalid(format!("cannot read the CA bundle {}: {e}", path.display())))?;
                if !pem.windows(PEM_CERTIFICATE.len()).any(|w| w == PEM_CERTIFICATE) {
                    return Err(invalid(format!("{} holds no PEM certificate", path.display())));
                }
                Some(Bundle { var, path, pem })
            }
        };
        Ok(Self(Arc::new(LazyTlsInner { mode, root_cert, built: OnceLock::new() })))
    }

    /// The connector, built on first use (and its outcome kept).
    pub fn connector(&self) -> Result<&MakeRustlsConnect, &ConfigError> {
        let inner = &*self.0;
        inner.built.get_or_init(|| connector(inner.mode, inner.root_cert.as_ref())).as_ref()
    }
}

impl fmt::Debug for LazyTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyTls")
            .field("mode", &self.0.mode)
            .field("built", &self.0.built.get().is_some())
            .finish_non_exhaustive()
    }
}

/// Why a TLS connector could not be built (a CA bundle that is not PEM, no
/// trusted roots at all). The text is the configuration error's.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(String);

impl<S> MakeTlsConnect<S> for LazyTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;
    type Error = TlsSetupError;

    fn make_tls_connect(&mut self, hostname: &str) -> Result<Self::TlsConnect, Self::Error> {
        let mut connector = self.connector().map_err(|e| TlsSetupError(e.to_string()))?.clone();
        match MakeTlsConnect::<S>::make_tls_connect(&mut connector, hostname) {
            Ok(tls) => Ok(tls),
            Err(never) => match never {},
        }
    }
}

/// Adds a PEM bundle of CA certificates to `roots`.
fn add_bundle(roots: &mut RootCertStore, bundle: &Bundle) -> Result<(), ConfigError> {
    let Bundle { var, path, pem } = bundle;
    let invalid = |reason: String| ConfigError::Invalid { var, reason };
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| invalid(format!("{} is not a PEM CA bundle: {e}", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| invalid(format!("{} holds a certificate rustls cannot use: {e}", path.display())))?;
        added += 1;
    }
    if added == 0 {
        return Err(invalid(format!("{} holds no PEM certificate", path.display())));
    }
    Ok(())
}

fn connector(mode: SslMode, root_cert: Option<&Bundle>) -> Result<MakeRustlsConnect, ConfigError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Invalid { var: "DATABASE_URL", reason: format!("TLS setup failed: {e}") })?;
    if mode == SslMode::Disable {
        // Never used: tokio-postgres does not start TLS with sslmode=disable.
        return Ok(MakeRustlsConnect::new(
            builder.with_root_certificates(RootCertStore::empty()).with_no_client_auth(),
        ));
    }
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(bundle) = root_cert {
        add_bundle(&mut roots, bundle)?;
    }
    if roots.is_empty() {
        return Err(ConfigError::Missing {
            var: "PGSSLROOTCERT",
            hint: "the system has no trusted CA certificates: name a PEM CA bundle (e.g. the RDS global bundle), \
                   or set sslmode=disable",
        });
    }
    let config = if mode == SslMode::VerifyCa {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| ConfigError::Invalid { var: "DATABASE_URL", reason: format!("TLS setup failed: {e}") })?;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(ChainOnly(webpki))).with_no_client_auth()
    } else {
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(MakeRustlsConnect::new(config))
}

/// `sslmode=verify-ca`: the full WebPKI check, except that a certificate
/// issued for another host name is accepted.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            // The name is checked last, after the chain, validity and
            // revocation, so this error means everything else passed.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(url: &str) -> ConnectionString {
        match ConnectionString::parse(url) {
            Ok(c) => c,
            Err(e) => panic!("{url}: {e}"),
        }
    }

    #[test]
    fn url_tls_params_are_read_and_stripped() {
        let c = parse("postgres://u:p@h:5433/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem");
        assert_eq!(c.ssl_mode, Some(SslMode::VerifyFull));
        assert_eq!(c.root_cert.as_deref(), Some(Path::new("/tmp/ca.pem")));
        assert_eq!(c.config.get_application_name(), Some("x"));
        assert_eq!(c.config.get_dbname(), Some("db"));

        let c = parse("postgresql://h/db?sslmode=verify-ca");
        assert_eq!(c.ssl_mode, Some(SslMode::VerifyCa));
        let c = parse("postgres://h/db?sslrootcert=system");
        assert_eq!((c.ssl_mode, c.root_cert), (None, None));
        let c = parse("postgres://h/db");
        assert_eq!(c.ssl_mode, None);
    }

    #[test]
    fn key_value_tls_params_are_read_and_stripped() {
        let c =
            parse("host=h  port = 5433 password='a b\\'c' sslmode = verify-full sslrootcert='/x y/ca.pem' dbname=d");
        assert_eq!(c.ssl_mode, Some(SslMode::VerifyFull));
        assert_eq!(c.root_cert.as_deref(), Some(Path::new("/x y/ca.pem")));
        assert_eq!(c.config.get_password(), Some(&b"a b'c"[..]));
        assert_eq!(c.config.get_dbname(), Some("d"));
        assert_eq!(c.config.get_ports(), &[5433]);
    }

    #[test]
    fn bad_modes_and_strings_are_refused_without_their_text() {
        for url in ["postgres://u:s3cr3t@h/db?sslmode=allow", "host=h password=s3cr3t sslmode=bogus"] {
            let e = ConnectionString::parse(url).err().map(|e| ConfigError::from(e).to_string()).unwrap_or_default();
            assert!(e.contains("DATABASE_URL") && e.contains("sslmode") && !e.contains("s3cr3t"), "{e}");
        }
        assert_eq!(ConnectionString::parse("host=h password='unterminated").err(), Some(UrlError::Syntax));
        assert_eq!(ConnectionString::parse("postgres://h:port/db").err(), Some(UrlError::Syntax));
    }

    #[test]
    fn the_effective_mode_falls_back_to_pgsslmode_then_prefer() {
        let settings = TlsSettings { ssl_mode: Some(SslMode::Disable), root_cert: None };
        let target = Target::from_url("postgres://h/db", &settings).map(|t| t.ssl_mode);
        assert_eq!(target.ok(), Some(SslMode::Disable));
        let target = Target::from_url("postgres://h/db?sslmode=disable", &TlsSettings::default()).map(|t| t.ssl_mode);
        assert_eq!(target.ok(), Some(SslMode::Disable));
        let target = Target::from_url("host=h sslmode=disable", &TlsSettings::default()).map(|t| t.config);
        assert_eq!(target.ok().map(|c| c.get_ssl_mode()), Some(PgSslMode::Disable));
    }

    #[test]
    fn the_connector_is_built_on_first_use_only() {
        let target = Target::from_url("postgres://h/db?sslmode=require", &TlsSettings::default());
        let Ok(target) = target else { panic!("target") };
        assert!(format!("{:?}", target.tls).contains("built: false"));
        // Whatever the machine's roots, the outcome is now kept.
        let _ = target.tls.connector();
        assert!(format!("{:?}", target.tls).contains("built: true"));
    }

    #[test]
    fn an_unreadable_bundle_names_its_variable() {
        let settings = TlsSettings { ssl_mode: None, root_cert: Some("/nonexistent/ca.pem".into()) };
        let e = Target::from_url("postgres://h/db?sslmode=require", &settings).err().map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| e.starts_with("PGSSLROOTCERT") && e.contains("/nonexistent/ca.pem")));
        let e = Target::from_url("postgres://h/db?sslrootcert=/nonexistent/ca.pem", &settings).err();
        assert!(e.map(|e| e.to_string()).is_some_and(|e| e.starts_with("DATABASE_URL")));
    }
}
