//! Where `dev`'s database comes from: DATABASE_URL, or a local cluster of
//! its own (`local-postgres`) kept in the dev folder, reused from one run to
//! the next on the port it had.

use std::{fs, path::Path};

pub use local_postgres::State as ClusterState;
use local_postgres::{free_port, port_is_free, Builder, Cluster};

use super::error::DevError;

/// The local cluster's port when free; otherwise a free one, saved.
const DEV_PG_PORT: u16 = 54320;

/// The database the local cluster serves.
pub const DEV_DB_NAME: &str = "clerk_sync";

/// Where the database comes from.
pub enum Database {
    /// DATABASE_URL: described without its password.
    External {
        url: String,
        target: String,
    },
    Local {
        cluster: LocalCluster,
        state: ClusterState,
    },
}

/// The dev folder's cluster: `data/`, `sock/`, `postgres.log`, and `port`
/// (the port it was given, reused next time). Stopped at exit only when
/// this process started it.
pub struct LocalCluster {
    cluster: Cluster,
}

impl LocalCluster {
    /// Initializes the cluster when `dir` has none, then starts it unless it
    /// is already running.
    pub fn ensure(dir: &Path) -> Result<(Self, ClusterState), DevError> {
        let port_file = dir.join("port");
        let saved = fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse::<u16>().ok());
        let first = saved.unwrap_or_else(|| {
            if port_is_free(DEV_PG_PORT) {
                DEV_PG_PORT
            } else {
                free_port().unwrap_or(DEV_PG_PORT + 1)
            }
        });
        let cluster = Builder::new(dir).port(first).start()?;
        let state = cluster.state();
        if state != ClusterState::AlreadyRunning {
            // Best effort: a lost port file only means another port next time.
            let _ = fs::write(&port_file, format!("{}\n", cluster.port()));
        }
        Ok((Self { cluster }, state))
    }

    pub fn port(&self) -> u16 {
        self.cluster.port()
    }

    pub fn dir(&self) -> &Path {
        self.cluster.dir()
    }

    pub fn version(&self) -> &str {
        self.cluster.version()
    }

    /// Whether this process started the server (and so stops it).
    pub fn started_here(&self) -> bool {
        self.cluster.started_here()
    }

    /// The port of a server running on this cluster's data.
    #[cfg(test)]
    pub fn running_port(&self) -> Option<u16> {
        self.cluster.running_port()
    }

    /// Stops the server, when this process started it.
    pub fn stop(&mut self) -> Result<(), DevError> {
        Ok(self.cluster.stop()?)
    }

    pub fn url(&self, database: &str) -> String {
        self.cluster.url(database)
    }

    /// Creates the dev database when missing.
    pub async fn create_database(&self) -> Result<(), DevError> {
        let target = format!("postgres@127.0.0.1:{}/postgres", self.port());
        let failed =
            |e: tokio_postgres::Error| DevError::Database { target: target.clone(), reason: crate::error::report(&e) };
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await.map_err(failed)?;
        tokio::spawn(connection);
        let exists =
            client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DEV_DB_NAME]).await.map_err(failed)?;
        if exists.is_none() {
            match client.batch_execute(&format!("CREATE DATABASE {DEV_DB_NAME}")).await {
                Ok(()) => {}
                // Created meanwhile by another clerk-sync dev.
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_local_cluster_is_created_once_reused_and_stopped() {
        if !local_postgres::Installation::is_installed() {
            panic!("{}", DevError::NoPostgres);
        }
        let dir = std::env::temp_dir().join(format!("clerk-sync-dev-test-{}", uuid::Uuid::new_v4().simple()));
        let (mut cluster, state) = LocalCluster::ensure(&dir).expect("starts");
        assert_eq!(state, ClusterState::InitializedAndStarted);
        cluster.create_database().await.expect("creates the database");
        cluster.create_database().await.expect("finds the database");
        let port = cluster.port();
        let saved = fs::read_to_string(dir.join("port")).expect("the port is saved");
        assert_eq!(saved.trim(), port.to_string());

        // A second dev finds it running: it uses it and leaves it running.
        let (second, state) = LocalCluster::ensure(&dir).expect("finds it");
        assert_eq!((state, second.port()), (ClusterState::AlreadyRunning, port));
        drop(second);
        assert_eq!(cluster.running_port(), Some(port), "only the process that started it stops it");

        cluster.stop().expect("stops");
        assert_eq!(cluster.running_port(), None);
        let (mut cluster, state) = LocalCluster::ensure(&dir).expect("starts again");
        assert_eq!(state, ClusterState::Started, "the data directory is reused, not initialized again");
        assert_eq!(cluster.port(), port, "on the saved port");
        let (client, connection) =
            tokio_postgres::connect(&cluster.url(DEV_DB_NAME), tokio_postgres::NoTls).await.expect("connects");
        tokio::spawn(connection);
        client.simple_query("SELECT 1").await.expect("queries");
        drop(client);
        cluster.stop().expect("stops");
        let _ = fs::remove_dir_all(&dir);
    }
}
