//! Finds or starts the PostgreSQL server the tests use.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

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
    if url_set || SERVER.get().is_some() || find_bin_dir().is_some() {
        Ok(())
    } else {
        Err(MISSING)
    }
}

pub(crate) fn bin_dir() -> PathBuf {
    find_bin_dir().unwrap_or_else(|| panic!("{MISSING}"))
}

fn find_bin_dir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let from_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    let from_debian = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|entries| {
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        dirs.sort_by_key(|d| {
            d.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).and_then(|n| n.parse::<u32>().ok())
        });
        dirs.into_iter().rev().find(|d| d.join("initdb").is_file())
    });
    [from_pg_config, from_path, from_debian]
        .into_iter()
        .flatten()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

/// A PostgreSQL client program (`pg_dump`, `psql`…) from the same
/// installation the throwaway cluster uses.
pub fn pg_binary(name: &str) -> PathBuf {
    bin_dir().join(name)
}

pub(crate) fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Runs a PostgreSQL binary, through `runuser -u postgres` when we are root
/// (PostgreSQL refuses to run as root).
pub(crate) fn pg_command(root: bool, program: &Path) -> Command {
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

pub(crate) fn run(mut cmd: Command, what: &str) {
    let output = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}. {MISSING}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free local port")
}

fn start_throwaway_cluster() -> String {
    let port = start_cluster("clerk-sync-pg", |_| String::new());
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// Creates and starts a throwaway cluster in a new temporary directory named
/// after `prefix`, stopped and removed when this process exits, and returns
/// its port. `configure` runs after initdb with the cluster directory (data
/// in `data/`, owned by the server user) and returns extra `postgres`
/// options.
pub(crate) fn start_cluster(prefix: &str, configure: impl FnOnce(&Path) -> String) -> u16 {
    let bin = bin_dir();
    let root = is_root();
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    let (data, sock) = (dir.join("data"), dir.join("sock"));
    std::fs::create_dir_all(&data).expect("create cluster directory");
    std::fs::create_dir_all(&sock).expect("create socket directory");
    if root {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(&dir);
                c
            },
            "chown the cluster directory to postgres",
        );
    }
    run(
        {
            let mut c = pg_command(root, &bin.join("initdb"));
            c.arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
            c.args(["--locale=C", "--no-instructions"]);
            c
        },
        "initdb",
    );
    let extra = configure(&dir);

    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300 {extra}",
            sock.display()
        );
        let mut start = pg_command(root, &bin.join("pg_ctl"));
        start.arg("-D").arg(&data).arg("-l").arg(dir.join("postgres.log")).args(["-w", "-o", &options, "start"]);
        let output = start.stdin(Stdio::null()).output().expect("run pg_ctl");
        if output.status.success() {
            reap_on_exit(root, &bin, &dir);
            return port;
        }
        last_error = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
    }
    panic!("could not start the throwaway PostgreSQL cluster: {last_error}");
}

/// A cluster of its own, for tests that stop and restart the server (the
/// shared one must stay up for every other test).
pub struct OwnCluster {
    dir: PathBuf,
    port: u16,
    root: bool,
}

impl OwnCluster {
    pub fn start() -> Self {
        let mut dir = PathBuf::new();
        let port = start_cluster("clerk-sync-faults", |d| {
            dir = d.to_path_buf();
            String::new()
        });
        Self { dir, port, root: is_root() }
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut cmd = pg_command(self.root, &bin_dir().join("pg_ctl"));
        cmd.arg("-D").arg(self.dir.join("data")).args(["-w", "-l"]).arg(self.dir.join("postgres.log")).args(args);
        run(cmd, &format!("pg_ctl {}", args.join(" ")));
    }

    /// Stops the server: every connection dies.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    /// Starts it again with the options it had (pg_ctl keeps them).
    pub fn start_again(&self) {
        let opts = std::fs::read_to_string(self.dir.join("data/postmaster.opts")).unwrap_or_default();
        // postmaster.opts holds the command line: reuse its options.
        let options: String =
            opts.split_once(' ').map(|(_, rest)| rest.replace('"', "")).unwrap_or_default().trim().to_string();
        self.pg_ctl(&["-o", &options, "start"]);
    }

    pub fn restart(&self) {
        self.pg_ctl(&["-m", "fast", "restart"]);
    }
}

/// Stops the cluster and removes its files once this test process is gone,
/// however it ends.
fn reap_on_exit(root: bool, bin: &Path, dir: &Path) {
    let pg_ctl = bin.join("pg_ctl");
    let stop = if root {
        format!("runuser -u postgres -- '{}' -D '{}/data' -m immediate stop", pg_ctl.display(), dir.display())
    } else {
        format!("'{}' -D '{}/data' -m immediate stop", pg_ctl.display(), dir.display())
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
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
