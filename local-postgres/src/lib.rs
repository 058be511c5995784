//! A PostgreSQL cluster of one's own, from the server binaries installed on
//! the machine: `clerk-sync dev`'s local database, the test harness's
//! throwaway clusters and the benchmarks' durable one all start here.
//!
//! - [`Installation::find`] finds `initdb` and `pg_ctl`: `pg_config --bindir`,
//!   then `PATH`, then the newest `/usr/lib/postgresql/*/bin`.
//! - [`Builder`] describes a cluster (its folder, port, extra server settings,
//!   `pg_hba.conf`, TLS files) and [`Builder::start`] initializes it when the
//!   folder holds none, then starts it, or adopts a server already running on it.
//! - [`Cluster`] is the running server: its URL, stop and start again; dropped,
//!   it stops the server it started (and removes a temporary folder).
//!
//! As root, every server binary runs as the `postgres` user through
//! `runuser -u postgres --` (PostgreSQL refuses to run as root) and the
//! cluster's folder is handed to that user; as anyone else, directly.
//!
//! The cluster's folder holds `data/` (PGDATA), `sock/` (its Unix socket,
//! when the path is short enough for one) and `postgres.log`. The server
//! listens on 127.0.0.1 only and trusts every local connection: a
//! development and test server, never a production one.

pub mod pgbouncer;

pub use pgbouncer::{PgBouncer, PgBouncerBuilder, PgBouncerError};

use std::{
    ffi::OsStr,
    fs, io,
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// The user the server runs as when started by root, and the superuser `initdb` creates.
pub const SERVER_USER: &str = "postgres";

/// How many ports [`Builder::start`] tries when the one it picked is taken meanwhile.
const START_ATTEMPTS: usize = 5;

/// Every way finding, initializing, starting or stopping a cluster fails.
/// Each message says what to install, remove or change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl) were found through pg_config --bindir, PATH or \
         /usr/lib/postgresql/*/bin: install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install \
         postgresql)"
    )]
    NotInstalled,

    #[error("cannot create {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },

    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },

    #[error(
        "{} exists but is not a PostgreSQL data directory (no PG_VERSION): remove it, or keep the cluster in \
         another folder",
        path.display()
    )]
    NotADataDir { path: PathBuf },

    #[error(
        "the {SERVER_USER} user cannot write to {} (PostgreSQL refuses to run as root, so it runs as \
         {SERVER_USER}, and a parent folder is closed to that user): use a folder under /tmp, or run as a \
         normal user",
        path.display()
    )]
    Unreachable { path: PathBuf },

    #[error("{what} contains a quote, which pg_ctl cannot pass on to the server: {value}")]
    Quote { what: &'static str, value: String },

    #[error("cannot run {what}: {source}")]
    Spawn { what: String, source: io::Error },

    #[error("{what} failed: {output}{hint}")]
    Failed { what: String, output: String, hint: String },

    #[error(
        "PostgreSQL on 127.0.0.1:{port} accepted no connection within {} s; see {} for the server's own log",
        waited.as_secs(),
        log.display()
    )]
    NotReady { port: u16, waited: Duration, log: PathBuf },
}

// ---------------------------------------------------------------------------
// The installation

/// The installed server binaries, and who runs them.
#[derive(Debug, Clone)]
pub struct Installation {
    bin: PathBuf,
    as_root: bool,
}

impl Installation {
    /// The folder holding `initdb` and `pg_ctl`: `pg_config --bindir`, then
    /// `PATH`, then the newest `/usr/lib/postgresql/*/bin`.
    pub fn find() -> Result<Self, Error> {
        let bin = find_bin_dir().ok_or(Error::NotInstalled)?;
        Ok(Self { bin, as_root: is_root() })
    }

    /// Whether the server binaries are installed (no error to report).
    pub fn is_installed() -> bool {
        find_bin_dir().is_some()
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// A program of the installation, e.g. `pg_dump`.
    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// Whether the binaries run as [`SERVER_USER`] through `runuser` (this process is root).
    pub fn runs_through_runuser(&self) -> bool {
        self.as_root
    }

    /// `program` (a path, or a name on PATH), run as the server's user, standard input closed.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", SERVER_USER, "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.stdin(Stdio::null());
        command
    }

    /// Gives `path` (recursively) to the server's user when running as root; nothing otherwise.
    pub fn hand_over(&self, path: &Path) -> Result<(), Error> {
        if !self.as_root {
            return Ok(());
        }
        let mut chown = Command::new("chown");
        chown.arg("-R").arg(format!("{SERVER_USER}:{SERVER_USER}")).arg(path);
        run(chown, &format!("chown -R {SERVER_USER}:{SERVER_USER} (PostgreSQL runs as the {SERVER_USER} user)"), "")
            .map(drop)
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let from_path = std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|dir| has_server(dir)));
    let from_debian = fs::read_dir("/usr/lib/postgresql").ok().and_then(|entries| {
        let mut dirs: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .collect();
        dirs.sort();
        dirs.into_iter().rev().map(|(_, dir)| dir).find(|dir| has_server(dir))
    });
    [from_pg_config, from_path, from_debian].into_iter().flatten().find(|dir| has_server(dir))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

// ---------------------------------------------------------------------------
// Ports

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> io::Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).map(|a| a.port())
}

/// Whether `port` on 127.0.0.1 can be bound right now.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

// ---------------------------------------------------------------------------
// Describing a cluster

/// A cluster to start: its folder and how the server runs.
#[derive(Debug, Clone)]
pub struct Builder {
    dir: PathBuf,
    port: Option<u16>,
    settings: Vec<(String, String)>,
    hba: Option<String>,
    tls: Option<(PathBuf, PathBuf)>,
    temporary: bool,
    ready_timeout: Duration,
}

impl Builder {
    /// A cluster kept in `dir`: reused when it holds one, initialized otherwise; left in place.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            port: None,
            settings: Vec::new(),
            hba: None,
            tls: None,
            temporary: false,
            ready_timeout: Duration::from_secs(60),
        }
    }

    /// A cluster in a new folder `<temp dir>/<prefix>-<unique>`, removed once it is stopped.
    pub fn temporary(prefix: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
        let unique = format!("{}-{nanos:x}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut builder = Self::new(std::env::temp_dir().join(format!("{prefix}-{unique}")));
        builder.temporary = true;
        builder
    }

    /// The cluster's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The port to try first [default: a free one]. Should it be taken by
    /// the time the server starts, another free port is used.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// A server setting, passed as `-c name=value` (e.g. `fsync`, `off`).
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// The whole `pg_hba.conf`, written after `initdb` [default: initdb's, trusting local connections].
    pub fn hba(mut self, text: impl Into<String>) -> Self {
        self.hba = Some(text.into());
        self
    }

    /// Serve TLS with this certificate and key (PEM files): `ssl = on`, and
    /// the key made private to the server's user, as PostgreSQL demands.
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }

    /// How long to wait for the server to accept connections [default: 60 s].
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Initializes the cluster when the folder has none, then starts it,
    /// unless a server already runs on it (then it is adopted, and left running on drop).
    pub fn start(self) -> Result<Cluster, Error> {
        let install = Installation::find()?;
        for (what, value) in [("the cluster's folder", self.dir.display().to_string())]
            .into_iter()
            .chain(self.settings.iter().map(|(k, v)| ("a server setting", format!("{k}={v}"))))
        {
            if value.contains(['\'', '"']) {
                return Err(Error::Quote { what, value });
            }
        }
        let dir = self.dir.clone();
        for path in [dir.clone(), dir.join("sock")] {
            fs::create_dir_all(&path).map_err(|source| Error::CreateDir { path: path.clone(), source })?;
        }
        let mut cluster = Cluster {
            install,
            dir,
            port: 0,
            version: String::new(),
            state: State::Started,
            running_here: false,
            remove_dir: self.temporary,
            detached: false,
            settings: self.settings.clone(),
            ready_timeout: self.ready_timeout,
        };
        if let Some((cert, key)) = &self.tls {
            cluster.settings.push(("ssl".into(), "on".into()));
            cluster.settings.push(("ssl_cert_file".into(), cert.display().to_string()));
            cluster.settings.push(("ssl_key_file".into(), key.display().to_string()));
            make_private(key)?;
        }
        if cluster.install.as_root {
            cluster.install.hand_over(&cluster.dir)?;
            if let Some((cert, key)) = &self.tls {
                cluster.install.hand_over(cert)?;
                cluster.install.hand_over(key)?;
            }
            let mut probe = cluster.install.command("test");
            probe.arg("-w").arg(&cluster.dir).stdout(Stdio::null()).stderr(Stdio::null());
            if !probe.status().is_ok_and(|s| s.success()) {
                return Err(Error::Unreachable { path: cluster.dir.clone() });
            }
        }
        let data = cluster.data_dir();
        match fs::read_to_string(data.join("PG_VERSION")) {
            Ok(version) => cluster.version = version.trim().to_string(),
            Err(_) => {
                if fs::read_dir(&data).map(|mut d| d.next().is_some()).unwrap_or(false) {
                    return Err(Error::NotADataDir { path: data });
                }
                cluster.initdb()?;
                cluster.state = State::InitializedAndStarted;
            }
        }
        if let Some(hba) = &self.hba {
            let path = data.join("pg_hba.conf");
            fs::write(&path, hba).map_err(|source| Error::Write { path: path.clone(), source })?;
            cluster.install.hand_over(&path)?;
        }
        if let Some(port) = cluster.running_port() {
            cluster.port = port;
            cluster.state = State::AlreadyRunning;
            return Ok(cluster);
        }
        let mut port = match self.port {
            Some(port) => port,
            None => free_port().map_err(|source| Error::Spawn { what: "bind a free port".into(), source })?,
        };
        let mut attempt = 1;
        loop {
            match cluster.start_on(port) {
                Ok(()) => break,
                // The port was taken meanwhile (another test process, another server): another one.
                Err(_) if attempt < START_ATTEMPTS && !port_is_free(port) => {
                    attempt += 1;
                    port = free_port().map_err(|source| Error::Spawn { what: "bind a free port".into(), source })?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(cluster)
    }
}

/// Owner-only, as PostgreSQL demands of a key file.
fn make_private(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|source| Error::Write { path: path.to_path_buf(), source })?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

// ---------------------------------------------------------------------------
// The running cluster

/// What [`Builder::start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A new cluster: `initdb`, then started.
    InitializedAndStarted,
    /// The folder's cluster, started.
    Started,
    /// A server was already running on the folder: adopted, and left running when dropped.
    AlreadyRunning,
}

/// A cluster and its server. Dropped, it stops the server it started and
/// removes a temporary folder (see [`Cluster::stop_at_exit`] for one kept in a static).
#[derive(Debug)]
pub struct Cluster {
    install: Installation,
    dir: PathBuf,
    port: u16,
    version: String,
    state: State,
    /// A server this value started is running: stopped on drop.
    running_here: bool,
    remove_dir: bool,
    /// [`Cluster::stop_at_exit`] took over: drop does nothing.
    detached: bool,
    settings: Vec<(String, String)>,
    ready_timeout: Duration,
}

impl Cluster {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// PGDATA.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server's own log.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The major version (`PG_VERSION`), e.g. `15`.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn installation(&self) -> &Installation {
        &self.install
    }

    /// Whether this value started the server that runs (and so stops it).
    pub fn started_here(&self) -> bool {
        self.running_here
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SERVER_USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// The port of the server running on this cluster's data, if one is.
    pub fn running_port(&self) -> Option<u16> {
        let mut status = self.install.command(self.install.binary("pg_ctl"));
        status.current_dir(&self.dir).arg("-D").arg(self.data_dir()).arg("status");
        if !status.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()) {
            return None;
        }
        // postmaster.pid: pid, data directory, start time, port, …
        let pid_file = fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    /// Starts the server again on its port, with its settings, after [`Cluster::stop`].
    pub fn start(&mut self) -> Result<(), Error> {
        if self.running_here {
            return Ok(());
        }
        self.start_on(self.port)
    }

    /// Stops the server (fast: open connections are closed), when this value started it.
    pub fn stop(&mut self) -> Result<(), Error> {
        if !self.running_here {
            return Ok(());
        }
        self.running_here = false;
        let mut pg_ctl = self.pg_ctl();
        pg_ctl.args(["-m", "fast", "-w", "-t", "60", "stop"]);
        let output = pg_ctl.output().map_err(|source| Error::Spawn { what: "pg_ctl stop".into(), source })?;
        // Not running (any more) is what was wanted.
        if output.status.success() || self.running_port().is_none() {
            Ok(())
        } else {
            Err(Error::Failed { what: "pg_ctl stop".into(), output: command_text(&output), hint: String::new() })
        }
    }

    /// Stops and starts the server: every connection dies, the port stays.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.stop()?;
        self.start()
    }

    /// For a cluster kept for the whole process (a `static`, never dropped):
    /// a watcher stops the server and removes a temporary folder once this
    /// process has exited, however it ends. Drop then does nothing.
    pub fn stop_at_exit(&mut self) {
        self.detached = true;
        let quote = |path: &Path| format!("'{}'", path.display());
        let runuser = if self.install.as_root { format!("runuser -u {SERVER_USER} -- ") } else { String::new() };
        let stop = format!(
            "{runuser}{} -D {} -m immediate stop",
            quote(&self.install.binary("pg_ctl")),
            quote(&self.data_dir())
        );
        let remove = if self.remove_dir { format!("; rm -rf {}", quote(&self.dir)) } else { String::new() };
        run_after_exit(&format!("{stop} >/dev/null 2>&1{remove}"));
    }

    fn pg_ctl(&self) -> Command {
        let mut command = self.install.command(self.install.binary("pg_ctl"));
        command.current_dir(&self.dir).arg("-D").arg(self.data_dir());
        command
    }

    fn initdb(&mut self) -> Result<(), Error> {
        let data = self.data_dir();
        let mut initdb = self.install.command(self.install.binary("initdb"));
        initdb.current_dir(&self.dir).arg("-D").arg(&data);
        initdb.args(["-U", SERVER_USER, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions", "--no-sync"]);
        run(initdb, "initdb", &format!(" (remove {} to start over)", self.dir.display()))?;
        self.version = fs::read_to_string(data.join("PG_VERSION")).map(|v| v.trim().to_string()).unwrap_or_default();
        Ok(())
    }

    fn start_on(&mut self, port: u16) -> Result<(), Error> {
        let sock = self.dir.join("sock");
        // A Unix socket path is limited to 107 bytes: beyond it, TCP only.
        let socket_dir = if sock.as_os_str().len() + "/.s.PGSQL.65535".len() <= 107 {
            sock.display().to_string()
        } else {
            String::new()
        };
        let mut options = format!("-p {port} -k '{socket_dir}' -c listen_addresses=127.0.0.1");
        for (name, value) in &self.settings {
            options.push_str(&format!(" -c '{name}={value}'"));
        }
        let mut pg_ctl = self.pg_ctl();
        pg_ctl.arg("-l").arg(self.log_file());
        pg_ctl.args(["-w", "-t", &self.ready_timeout.as_secs().max(1).to_string(), "-o", &options, "start"]);
        // From here on a server may be up, even if pg_ctl reports failure.
        self.running_here = true;
        self.port = port;
        let hint = format!("; see {} for the server's own log", self.log_file().display());
        if let Err(e) = run(pg_ctl, "pg_ctl start", &hint).and_then(|_| self.wait_ready()) {
            let _ = self.stop();
            return Err(e);
        }
        Ok(())
    }

    /// Waits until the server accepts TCP connections (pg_ctl -w has, almost always, already).
    fn wait_ready(&self) -> Result<(), Error> {
        let started = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            if started.elapsed() > self.ready_timeout {
                return Err(Error::NotReady { port: self.port, waited: self.ready_timeout, log: self.log_file() });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        if let Err(e) = self.stop() {
            eprintln!("warning: {e}");
        }
        if self.remove_dir && self.running_port().is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs a command; a non-zero exit is an error carrying its output and `hint`.
fn run(mut command: Command, what: &str, hint: &str) -> Result<Output, Error> {
    let output = command.output().map_err(|source| Error::Spawn { what: what.to_string(), source })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::Failed { what: what.to_string(), output: command_text(&output), hint: hint.to_string() })
    }
}

fn command_text(output: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let text = text.trim();
    if text.is_empty() {
        format!("exit status {}", output.status)
    } else {
        text.to_string()
    }
}

/// Runs the shell `command` once this process has exited, however it ends
/// (a panic, a kill): for servers a test process starts and must not leave
/// behind.
pub fn run_after_exit(command: &str) {
    let script = format!("while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; {command}", pid = std::process::id());
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_cluster_starts_restarts_and_is_removed_on_drop() {
        if !Installation::is_installed() {
            panic!("{}", Error::NotInstalled);
        }
        let mut cluster = Builder::temporary("local-postgres-test").setting("fsync", "off").start().expect("starts");
        assert_eq!(cluster.state(), State::InitializedAndStarted);
        assert!(!cluster.version().is_empty());
        let port = cluster.port();
        assert_eq!(cluster.running_port(), Some(port));
        let shown = Command::new(cluster.installation().binary("psql"))
            .args(["-X", "-A", "-t", "-c", "SHOW fsync", &cluster.url("postgres")])
            .output()
            .expect("psql runs");
        assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), "off", "{}", command_text(&shown));

        cluster.restart().expect("restarts");
        assert_eq!(cluster.running_port(), Some(port), "on the same port");

        // A second value on the same folder adopts the running server and leaves it running.
        let second = Builder::new(cluster.dir()).start().expect("adopts it");
        assert_eq!((second.state(), second.port()), (State::AlreadyRunning, port));
        drop(second);
        assert_eq!(cluster.running_port(), Some(port));

        let dir = cluster.dir().to_path_buf();
        drop(cluster);
        assert!(!dir.exists(), "the temporary folder is removed");
    }

    #[test]
    fn a_folder_that_is_not_a_cluster_is_refused() {
        if !Installation::is_installed() {
            panic!("{}", Error::NotInstalled);
        }
        let builder = Builder::temporary("local-postgres-not-data");
        let data = builder.dir().join("data");
        fs::create_dir_all(&data).expect("mkdir");
        fs::write(data.join("notes.txt"), "mine").expect("write");
        let dir = builder.dir().to_path_buf();
        assert!(matches!(builder.start(), Err(Error::NotADataDir { .. })));
        let _ = fs::remove_dir_all(dir);
        let quoted = Builder::temporary("local-postgres-quote").setting("application_name", "it's");
        assert!(matches!(quoted.start(), Err(Error::Quote { .. })));
    }

    #[test]
    fn free_ports_are_free() {
        let port = free_port().expect("a free port");
        assert!(port_is_free(port));
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("bind");
        assert!(!port_is_free(port));
        drop(held);
    }
}
