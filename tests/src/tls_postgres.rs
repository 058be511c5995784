//! A second throwaway PostgreSQL cluster that speaks only TLS, with a
//! certificate for 127.0.0.1/localhost issued by a CA the tests generate.
//!
//! pg_hba.conf has `hostssl` lines only, so a plain TCP connection is
//! refused. The cluster is started once per test process and stopped when it
//! exits, like the main one.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use clerk_sync::db::tls::{Target, TlsSettings};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::postgres::{is_root, run, start_cluster};

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
    let mut ca_file = PathBuf::new();
    let port = start_cluster("clerk-sync-pg-tls", |dir| {
        ca_file = write_certificates(dir);
        let data = dir.join("data");
        let tls = dir.join("tls");
        append(
            &data.join("postgresql.conf"),
            &format!(
                "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                tls.join("server.crt").display(),
                tls.join("server.key").display()
            ),
        );
        // TLS only over TCP: no plain `host` line, so plain connections fail.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .expect("write pg_hba.conf");
        String::new()
    });
    TlsServer { port, ca_file }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).expect("open postgresql.conf");
    file.write_all(text.as_bytes()).expect("append to postgresql.conf");
}

/// Generates the CA and the server certificate into `<dir>/tls`; returns the
/// CA file. The key is 0600 and owned by the server's user, as PostgreSQL
/// demands.
fn write_certificates(dir: &Path) -> PathBuf {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).expect("create tls directory");

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
    let key_file = tls.join("server.key");
    std::fs::write(&key_file, key.serialize_pem()).expect("write server key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod server key");
    if is_root() {
        let mut chown = Command::new("chown");
        chown.args(["-R", "postgres:postgres"]).arg(&tls);
        run(chown, "chown the TLS files to postgres");
    }
    // The CA file must stay readable by the tests whoever owns it.
    std::fs::set_permissions(&ca_file, std::fs::Permissions::from_mode(0o644)).expect("chmod CA");
    ca_file
}
