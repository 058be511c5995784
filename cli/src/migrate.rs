//! `clerk-sync migrate`: the library's migrations over one connection, with
//! the same TLS as the functions (`sslmode`, `PGSSLMODE`, `PGSSLROOTCERT`).

use std::{str::FromStr, time::Duration};

use clerk_sync::{
    config::Env,
    db::migrate::MigrationReport,
    db::tls::{ConnectionString, Target, TlsSettings, UrlError},
};
use tokio_postgres::{config::Host, Config};

use crate::error::CliError;

/// Applies the pending migrations to the database at `url`.
pub async fn run(url: &str) -> Result<MigrationReport, CliError> {
    let parsed = ConnectionString::parse(url).map_err(|e| match e {
        UrlError::Syntax => CliError::InvalidDatabaseUrl,
        e => CliError::Config(e.into()),
    })?;
    let mut target = Target::new(parsed, &TlsSettings::from_source(&Env)?)?;
    let config = &mut target.config;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("clerk-sync-cli");
    }
    let mut client =
        target.connect().await.map_err(|e| CliError::Connect { target: describe(&target.config), source: e.into() })?;
    Ok(clerk_sync::db::migrate::run(&mut client).await?)
}

/// `user@host:port/db` for a connection string: never the password.
pub fn describe_url(url: &str) -> String {
    Config::from_str(url).map(|config| describe(&config)).unwrap_or_else(|_| "DATABASE_URL".to_string())
}

/// `user@host:port/db`, for messages: everything but the password.
pub fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let hosts = if hosts.is_empty() { "localhost".to_string() } else { hosts.join(",") };
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    let port = if ports.is_empty() { "5432".to_string() } else { ports.join(",") };
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = config.get_dbname().map(|d| format!("/{d}")).unwrap_or_default();
    format!("{user}{hosts}:{port}{db}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_target_without_the_password() {
        let config = match Config::from_str("postgres://app:s3cr3t@db.internal:6432/clerk") {
            Ok(config) => config,
            Err(e) => panic!("valid URL refused: {e}"),
        };
        assert_eq!(describe(&config), "app@db.internal:6432/clerk");
    }

    #[tokio::test]
    async fn a_bad_url_is_reported_without_its_contents() {
        let message = match run("postgres://app:s3cr3t@host:notaport/db").await {
            Ok(_) => panic!("an invalid URL migrates"),
            Err(e) => e.to_string(),
        };
        assert!(message.contains("DATABASE_URL"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}
