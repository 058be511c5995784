//! The benchmark database: created on the test harness's server (a throwaway
//! cluster unless `TEST_DATABASE_URL`/`DATABASE_URL` name one), migrated by
//! the real runner, dropped at the end.

use std::net::{SocketAddr, ToSocketAddrs};

use clerk_sync::{db::tls::ConnectionString, db::DbSettings};
use tokio_postgres::config::Host;

use crate::BenchError;

/// The floor's table: the least a handler that durably records an event
/// must write.
const FLOOR_TABLE: &str = "CREATE TABLE bench_floor (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload jsonb NOT NULL)";

pub struct BenchDb {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl BenchDb {
    /// Creates and migrates `bench_<uuid>`, with the floor's table.
    pub async fn create() -> Result<Self, BenchError> {
        let admin_url = clerk_sync_tests::server_url().to_string();
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(&admin_url).await?;
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await?;
        let url = with_dbname(&admin_url, &name);
        let mut client = connect(&url).await?;
        clerk_sync::sync::schema::migrate(&mut client).await?;
        client.batch_execute(FLOOR_TABLE).await?;
        Ok(Self { admin_url, name, url })
    }

    /// `SHOW server_version`.
    pub async fn server_version(&self) -> Result<String, BenchError> {
        let client = connect(&self.url).await?;
        Ok(client.query_one("SHOW server_version", &[]).await?.get(0))
    }

    /// Drops the database; every pool over it must be gone.
    pub async fn drop_database(self) -> Result<(), BenchError> {
        let admin = connect(&self.admin_url).await?;
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).await?;
        Ok(())
    }
}

/// What `DB_TIMEOUTS=role` expects, for the bench database only: the
/// functions' default timeouts as the role's settings there.
pub async fn give_the_role_the_timeouts(db: &BenchDb) -> Result<(), BenchError> {
    let client = connect(&db.url).await?;
    for (name, ms) in DbSettings::for_url(db.url.as_str()).timeout_settings() {
        let database = &db.name;
        client.batch_execute(&format!("ALTER ROLE CURRENT_USER IN DATABASE \"{database}\" SET {name} = {ms}")).await?;
    }
    Ok(())
}

/// One connection, TLS as the URL says (the same code path as the pool).
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, BenchError> {
    Ok(DbSettings::for_url(url).target()?.connect().await?)
}

/// The server's first address, for the proxy to forward to.
pub fn upstream(url: &str) -> Result<SocketAddr, BenchError> {
    let config = ConnectionString::parse(url).map_err(|e| format!("cannot parse the database URL: {e}"))?.config;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        _ => return Err("the proxied run needs a TCP host in the database URL".into()),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    (host.as_str(), port).to_socket_addrs()?.next().ok_or_else(|| format!("{host} does not resolve").into())
}

/// `url` (URL form) with its host and port replaced by `addr`.
pub fn with_address(url: &str, addr: SocketAddr) -> Result<String, BenchError> {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return Err("the proxied run needs a postgres:// URL, not key=value".into());
    };
    let authority_end = url[scheme_end..].find(['/', '?']).map_or(url.len(), |i| scheme_end + i);
    let host_start = url[scheme_end..authority_end].rfind('@').map_or(scheme_end, |i| scheme_end + i + 1);
    Ok(format!("{}{addr}{}", &url[..host_start], &url[authority_end..]))
}

/// `url` with its database name replaced by `name`.
pub fn with_dbname(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        // key=value form: a later dbname wins.
        return format!("{url} dbname={name}");
    };
    let query_start = url.find('?').unwrap_or(url.len());
    let authority_end = url[scheme_end..query_start].find('/').map_or(query_start, |i| scheme_end + i);
    format!("{}/{name}{}", &url[..authority_end], &url[query_start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_urls() {
        let addr: SocketAddr = "127.0.0.1:6001".parse().expect("addr");
        assert_eq!(
            with_address("postgres://u:p@h:5/db?x=1", addr).expect("url"),
            "postgres://u:p@127.0.0.1:6001/db?x=1"
        );
        assert_eq!(with_address("postgres://h", addr).expect("url"), "postgres://127.0.0.1:6001");
        assert!(with_address("host=h port=5", addr).is_err());
        assert_eq!(with_dbname("postgres://u@h:5/postgres", "b"), "postgres://u@h:5/b");
        assert_eq!(with_dbname("postgresql://h?sslmode=disable", "b"), "postgresql://h/b?sslmode=disable");
        assert_eq!(with_dbname("host=h", "b"), "host=h dbname=b");
        assert_eq!(upstream("postgres://u@127.0.0.1:6002/db").expect("addr"), "127.0.0.1:6002".parse().expect("addr"));
    }
}
