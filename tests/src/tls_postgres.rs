//! A second throwaway PostgreSQL cluster that speaks only TLS, with a
//! certificate for 127.0.0.1/localhost issued by a CA the tests generate.
//!
//! pg_hba.conf has `hostssl` lines only, so a plain TCP connection is
//! refused. The cluster is started once per test process and stopped when it
//! exits, like the main one.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use clerk_sync::db::tls::{Target, TlsSettings};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::postgres::{start_for_process, test_cluster};

/// The running TLS-only server.
pub struct TlsServer {
    pub port: u16,
    /// PEM file of the test CA that issued the server certificate.
    pub ca_file: PathBuf,
}

static SERVER: OnceLock<TlsServer> = OnceLock::new();

/// The TLS-only server, started on first use.
pub fn tls_server() -> &'static TlsServer {
    SERVER.get_or_init(start)
}

impl TlsServer {
    /// `postgres://postgres@127.0.0.1:<port>/<db>`, without `sslmode`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// `PGSSLROOTCERT` pointing at the test CA.
    pub fn trusting_settings(&self) -> TlsSettings {
        TlsSettings { ssl_mode: None, root_cert: Some(self.ca_file.clone()) }
    }

    /// One connection with the given URL, trusting the test CA.
    pub async fn connect(&self, url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        Target::from_url(url, &self.trusting_settings()).expect("valid test target").connect().await
    }

    /// A new empty database on the server; returns its name.
    pub async fn create_database(&self) -> String {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = self.connect(&format!("{}?sslmode=verify-full", self.url("postgres"))).await.expect("TLS admin");
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.expect("create TLS test database");
        name
    }
}

fn start() -> TlsServer {
    let builder = test_cluster("clerk-sync-pg-tls");
    let tls = builder.dir().join("tls");
    let ca_file = write_certificates(&tls);
    let builder = builder
        .tls(tls.join("server.crt"), tls.join("server.key"))
        // TLS only over TCP: no plain `host` line, so plain connections fail.
        .hba("local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n");
    let port = start_for_process(builder).port();
    TlsServer { port, ca_file }
}

/// Generates the CA and the server certificate into `tls`; returns the CA
/// file. The cluster makes the key private to the server's user, as
/// PostgreSQL demands.
fn write_certificates(tls: &Path) -> PathBuf {
    std::fs::create_dir_all(tls).expect("create tls directory");

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "clerk-sync test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA certificate");

    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("server params");
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &ca).expect("server certificate");

    let ca_file = tls.join("ca.crt");
    std::fs::write(&ca_file, ca.pem()).expect("write CA");
    std::fs::write(tls.join("server.crt"), cert.pem()).expect("write server certificate");
    std::fs::write(tls.join("server.key"), key.serialize_pem()).expect("write server key");
    // The CA file must stay readable by the tests whoever owns it.
    std::fs::set_permissions(&ca_file, std::fs::Permissions::from_mode(0o644)).expect("chmod CA");
    ca_file
}
