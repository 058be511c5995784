//! Finds or starts the PostgreSQL server the tests use (the clusters
//! themselves are `local-postgres`'s).

use std::{path::PathBuf, sync::OnceLock};

use local_postgres::{Builder, Cluster, Installation};

static SERVER: OnceLock<String> = OnceLock::new();

/// The admin connection URL of the test server, started on first use.
pub fn server_url() -> &'static str {
    SERVER.get_or_init(|| {
        for var in ["TEST_DATABASE_URL", "DATABASE_URL"] {
            if let Ok(url) = std::env::var(var) {
                if !url.trim().is_empty() {
                    return url;
                }
            }
        }
        start_throwaway_cluster()
    })
}

/// `url` with its database name replaced by `name`.
pub fn with_dbname(url: &str, name: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let (query_start, query) = match url.find('?') {
            Some(i) => (i, &url[i..]),
            None => (url.len(), ""),
        };
        let authority_end =
            url[scheme_end + 3..query_start].find('/').map(|i| scheme_end + 3 + i).unwrap_or(query_start);
        format!("{}/{name}{query}", &url[..authority_end])
    } else {
        // key=value form: a later dbname wins.
        format!("{url} dbname={name}")
    }
}

const MISSING: &str = "no PostgreSQL server for the tests: set DATABASE_URL (or TEST_DATABASE_URL) to a server \
where the user may CREATE DATABASE, or install the PostgreSQL server binaries (Debian: apt-get install postgresql) \
so the tests can start a throwaway cluster";

/// Whether a server can be had without panicking: a URL is set, or the
/// server binaries for a throwaway cluster are installed. `Err` says what to
/// install or set (for callers outside a test, such as `clerk-sync bench`).
pub fn server_available() -> Result<(), &'static str> {
    let url_set = ["TEST_DATABASE_URL", "DATABASE_URL"]
        .iter()
        .any(|var| std::env::var(var).is_ok_and(|url| !url.trim().is_empty()));
    if url_set || SERVER.get().is_some() || Installation::is_installed() {
        Ok(())
    } else {
        Err(MISSING)
    }
}

/// The installed server binaries, or a panic saying what to install.
fn installation() -> Installation {
    Installation::find().unwrap_or_else(|_| panic!("{MISSING}"))
}

/// A PostgreSQL client program (`pg_dump`, `psql`…) from the same
/// installation the throwaway cluster uses.
pub fn pg_binary(name: &str) -> PathBuf {
    installation().binary(name)
}

pub(crate) fn free_port() -> u16 {
    local_postgres::free_port().expect("a free local port")
}

/// A throwaway cluster for the tests: durability off (fsync, synchronous
/// commits, full page writes) and room for many parallel tests' pools.
pub(crate) fn test_cluster(prefix: &str) -> Builder {
    Builder::temporary(prefix)
        .setting("fsync", "off")
        .setting("synchronous_commit", "off")
        .setting("full_page_writes", "off")
        .setting("max_connections", "300")
}

/// Starts `builder`'s cluster for the rest of this process: stopped and
/// removed once the process has exited, however it ends.
pub(crate) fn start_for_process(builder: Builder) -> Cluster {
    if !Installation::is_installed() {
        panic!("{MISSING}");
    }
    let mut cluster =
        builder.start().unwrap_or_else(|e| panic!("could not start the throwaway PostgreSQL cluster: {e}"));
    cluster.stop_at_exit();
    cluster
}

fn start_throwaway_cluster() -> String {
    start_for_process(test_cluster("clerk-sync-pg")).url("postgres")
}

/// A cluster of its own, for tests that stop and restart the server (the
/// shared one must stay up for every other test). Stopped and removed when dropped.
pub struct OwnCluster {
    cluster: std::sync::Mutex<Cluster>,
    port: u16,
}

impl OwnCluster {
    pub fn start() -> Self {
        if !Installation::is_installed() {
            panic!("{MISSING}");
        }
        let cluster = test_cluster("clerk-sync-faults")
            .start()
            .unwrap_or_else(|e| panic!("could not start the throwaway PostgreSQL cluster: {e}"));
        Self { port: cluster.port(), cluster: std::sync::Mutex::new(cluster) }
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The server's port, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn with(&self, what: &str, action: impl FnOnce(&mut Cluster) -> Result<(), local_postgres::Error>) {
        let mut cluster = self.cluster.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        action(&mut cluster).unwrap_or_else(|e| panic!("{what}: {e}"));
    }

    /// Stops the server: every connection dies.
    pub fn stop(&self) {
        self.with("pg_ctl stop", Cluster::stop);
    }

    /// Starts it again with the options it had.
    pub fn start_again(&self) {
        self.with("pg_ctl start", Cluster::start);
    }

    pub fn restart(&self) {
        self.with("pg_ctl restart", Cluster::restart);
    }
}

#[cfg(test)]
mod tests {
    use super::with_dbname;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(with_dbname("postgres://u:p@h:5/postgres", "x"), "postgres://u:p@h:5/x");
        assert_eq!(with_dbname("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(with_dbname("postgresql://h/db?sslmode=require", "x"), "postgresql://h/x?sslmode=require");
        assert_eq!(with_dbname("host=h user=u", "x"), "host=h user=u dbname=x");
    }
}
