//! A PgBouncer of one's own in transaction pooling mode, in front of a
//! PostgreSQL server: for tests that must hold against a connection pooler
//! as deployments put one (PgBouncer, RDS Proxy) between the functions and
//! the database.
//!
//! - [`PgBouncerBuilder`] describes it: the server behind it, the pool size,
//!   extra `[pgbouncer]` settings.
//! - [`PgBouncerBuilder::start`] writes its configuration into a new
//!   temporary folder, runs `pgbouncer` in the foreground as a child process
//!   on a free port of 127.0.0.1 and waits until it answers the PostgreSQL
//!   protocol.
//! - [`PgBouncer`] is the running pooler: its port and URLs. Dropped, it
//!   stops the process (SIGTERM, then SIGKILL) and removes the folder; should
//!   this process end without dropping it (a `static`, a kill), a watcher
//!   does the same once the process has exited.
//!
//! The configuration: `pool_mode = transaction`; one wildcard database
//! (`* = host=… port=…`), so every database of the server, including ones
//! created after the start, is reachable under its own name with its own
//! pool of `pool_size` server connections (`default_pool_size` and
//! `max_db_connections`); `auth_type = trust` with one user in the
//! `auth_file` (`postgres` unless [`PgBouncerBuilder::user`] says otherwise);
//! TCP on 127.0.0.1 only, no Unix socket; `ignore_startup_parameters =
//! extra_float_digits`, so PgBouncer refuses the `options` startup parameter
//! as a production PgBouncer does. PgBouncer 1.18 (Debian 12's) keeps no
//! protocol-level prepared statements: a named statement prepared on one
//! server connection is unknown to the next. Nor does it reset a server
//! connection between clients in transaction mode (`server_reset_query` is
//! for session mode): a session-level `SET` or an SQL `PREPARE` one client
//! leaves behind is seen by the next client given that connection.
//!
//! PgBouncer refuses to run as root: as root it runs as [`SERVER_USER`]
//! through `runuser -u postgres --` and its folder is handed to that user; as
//! anyone else, directly. The log (PgBouncer's standard error, as it runs in
//! the foreground) is `pgbouncer.log` in the folder.

use std::{
    env, fs,
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use crate::{free_port, is_root, port_is_free, run_after_exit, Installation, SERVER_USER};

/// Where Debian's package puts the binary (`/usr/sbin` is not on every user's PATH).
const DEBIAN_BINARY: &str = "/usr/sbin/pgbouncer";

/// How many ports [`PgBouncerBuilder::start`] tries when the one it picked is taken meanwhile.
const START_ATTEMPTS: usize = 5;

/// How long a stop waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The files in a PgBouncer's folder, besides `pgbouncer.ini` and `pgbouncer.log`.
const AUTH_FILE: &str = "userlist.txt";
const PID_FILE: &str = "pgbouncer.pid";

/// How many lines of PgBouncer's log an error quotes.
const LOG_TAIL_LINES: usize = 20;

/// Every way starting PgBouncer fails. Each message says what to install or change.
#[derive(Debug, thiserror::Error)]
pub enum PgBouncerError {
    #[error(
        "pgbouncer was found neither on PATH nor at {DEBIAN_BINARY}: install it (Debian/Ubuntu: apt-get install \
         pgbouncer; macOS: brew install pgbouncer)"
    )]
    NotInstalled,

    #[error(
        "{what} cannot go into a PgBouncer configuration (it contains whitespace, a quote or a newline): {value:?}"
    )]
    BadValue { what: &'static str, value: String },

    /// Creating its folder, writing its files, handing them to the server's user, running it.
    #[error(transparent)]
    Setup(#[from] crate::Error),

    #[error("pgbouncer exited at start ({status}); its log ({}) ends with:\n{tail}", log.display())]
    Exited { status: String, log: PathBuf, tail: String },

    #[error(
        "pgbouncer on 127.0.0.1:{port} did not answer within {} s; its log ({}) ends with:\n{tail}",
        waited.as_secs(),
        log.display()
    )]
    NotReady { port: u16, waited: Duration, log: PathBuf, tail: String },
}

// ---------------------------------------------------------------------------
// Describing a PgBouncer

/// A PgBouncer to start in front of one PostgreSQL server.
#[derive(Debug, Clone)]
pub struct PgBouncerBuilder {
    server_host: String,
    server_port: u16,
    pool_size: u16,
    max_client_conn: u32,
    user: String,
    password: Option<String>,
    settings: Vec<(String, String)>,
    ready_timeout: Duration,
}

impl PgBouncerBuilder {
    /// Transaction pooling in front of the server at `server_host:server_port`
    /// (a host name, an address, or a Unix socket folder starting with `/`).
    pub fn new(server_host: &str, server_port: u16) -> Self {
        Self {
            server_host: server_host.to_string(),
            server_port,
            pool_size: 2,
            max_client_conn: 1000,
            user: SERVER_USER.to_string(),
            password: None,
            settings: Vec::new(),
            ready_timeout: Duration::from_secs(10),
        }
    }

    /// Server connections per database (`default_pool_size`, and
    /// `max_db_connections`, so no reserve pool adds any) [default: 2, at least 1].
    pub fn pool_size(mut self, size: u16) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Client connections PgBouncer accepts in all (`max_client_conn`) [default: 1000].
    pub fn max_client_conn(mut self, max: u32) -> Self {
        self.max_client_conn = max.max(1);
        self
    }

    /// The one user clients connect as, and PgBouncer logs into the server as
    /// [default: `postgres`, no password]. Clients are trusted; `password`, when
    /// given, is what PgBouncer presents to the server.
    pub fn user(mut self, name: &str, password: Option<&str>) -> Self {
        self.user = name.to_string();
        self.password = password.map(str::to_string);
        self
    }

    /// A `[pgbouncer]` setting, added or replacing the one this builder
    /// writes (e.g. `ignore_startup_parameters`, `extra_float_digits,options`).
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.settings.retain(|(n, _)| *n != name);
        self.settings.push((name, value.into()));
        self
    }

    /// How long to wait for PgBouncer to answer [default: 10 s].
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Writes the configuration into a new temporary folder, starts
    /// PgBouncer on a free port and waits until it answers.
    pub fn start(self) -> Result<PgBouncer, PgBouncerError> {
        let binary = PgBouncer::binary().ok_or(PgBouncerError::NotInstalled)?;
        self.check()?;
        let runner = Installation { bin: PathBuf::new(), as_root: is_root() };
        let dir = unique_temp_dir();
        fs::create_dir_all(&dir).map_err(|source| crate::Error::CreateDir { path: dir.clone(), source })?;
        // From here on the folder is ours: removed on every failure below.
        let mut bouncer = PgBouncer {
            child: None,
            dir,
            port: 0,
            pid: 0,
            user: self.user.clone(),
            pool_size: self.pool_size,
            server: (self.server_host.clone(), self.server_port),
        };
        let escape = |s: &str| s.replace('"', "\"\"");
        write(
            &bouncer.auth_file(),
            &format!("\"{}\" \"{}\"\n", escape(&self.user), escape(self.password.as_deref().unwrap_or(""))),
        )?;
        let mut port = free_port().map_err(|source| crate::Error::Spawn { what: "bind a free port".into(), source })?;
        let mut attempt = 1;
        loop {
            write(&bouncer.config_file(), &self.config(&bouncer.dir, port))?;
            // Truncated for each attempt: the log tells of this attempt only.
            write(&bouncer.log_file(), "")?;
            if runner.as_root {
                runner.hand_over(&bouncer.dir)?;
                let mut probe = runner.command("test");
                probe.arg("-w").arg(&bouncer.dir).stdout(Stdio::null()).stderr(Stdio::null());
                if !probe.status().is_ok_and(|s| s.success()) {
                    return Err(crate::Error::Unreachable { path: bouncer.dir.clone() }.into());
                }
            }
            match bouncer.run(&runner, &binary, port, self.ready_timeout) {
                Ok(()) => break,
                // The port was taken meanwhile (another test, another pooler): another one.
                Err(PgBouncerError::Exited { .. }) if attempt < START_ATTEMPTS && !port_is_free(port) => {
                    attempt += 1;
                    port = free_port()
                        .map_err(|source| crate::Error::Spawn { what: "bind a free port".into(), source })?;
                }
                Err(e) => return Err(e),
            }
        }
        // However this process ends: the watcher stops a PgBouncer still
        // running (its pidfile is there) and removes the folder. After a
        // drop there is no folder, so it does nothing.
        let dir = bouncer.dir.display();
        let pidfile = bouncer.pid_file();
        let pidfile = pidfile.display();
        run_after_exit(&format!(
            "if [ -f '{pidfile}' ]; then kill -TERM \"$(cat '{pidfile}')\" 2>/dev/null; sleep 0.5; fi; \
             [ -d '{dir}' ] && rm -rf '{dir}'"
        ));
        Ok(bouncer)
    }

    /// Every value that goes into the configuration files or a watcher's shell command.
    fn check(&self) -> Result<(), PgBouncerError> {
        let unsafe_in = |value: &str, extra: &[char]| {
            value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control() || extra.contains(&c))
        };
        if unsafe_in(&self.server_host, &['\'', '"', '=']) {
            return Err(PgBouncerError::BadValue { what: "the server host", value: self.server_host.clone() });
        }
        if unsafe_in(&self.user, &[]) {
            return Err(PgBouncerError::BadValue { what: "the user name", value: self.user.clone() });
        }
        if self.password.as_deref().is_some_and(|p| p.chars().any(|c| c.is_control())) {
            return Err(PgBouncerError::BadValue { what: "the password", value: "(hidden)".into() });
        }
        for (name, value) in &self.settings {
            if unsafe_in(name, &['=', '[', ']']) || value.contains(['\n', '\r']) {
                return Err(PgBouncerError::BadValue { what: "a setting", value: format!("{name} = {value}") });
            }
        }
        let dir = env::temp_dir();
        if dir.to_string_lossy().contains(['\'', '\n', '\r']) {
            return Err(PgBouncerError::BadValue { what: "the temporary folder", value: dir.display().to_string() });
        }
        Ok(())
    }

    /// `pgbouncer.ini` for a PgBouncer kept in `dir`, listening on `port`.
    fn config(&self, dir: &Path, port: u16) -> String {
        let path = |name: &str| dir.join(name).display().to_string();
        let pool_size = self.pool_size.to_string();
        let mut settings: Vec<(String, String)> = [
            ("pool_mode", "transaction".to_string()),
            ("listen_addr", "127.0.0.1".to_string()),
            ("listen_port", port.to_string()),
            // Empty: no Unix socket (TCP only, and no clash over /tmp/.s.PGSQL.<port>).
            ("unix_socket_dir", String::new()),
            ("auth_type", "trust".to_string()),
            ("auth_file", path(AUTH_FILE)),
            ("default_pool_size", pool_size.clone()),
            ("min_pool_size", "0".to_string()),
            ("reserve_pool_size", "0".to_string()),
            ("max_db_connections", pool_size),
            ("max_client_conn", self.max_client_conn.to_string()),
            // Not `options`: PgBouncer refuses it, as in production.
            ("ignore_startup_parameters", "extra_float_digits".to_string()),
            ("pidfile", path(PID_FILE)),
            ("server_login_retry", "1".to_string()),
            ("server_connect_timeout", "5".to_string()),
            ("query_wait_timeout", "30".to_string()),
            ("log_connections", "0".to_string()),
            ("log_disconnections", "0".to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .filter(|(name, _)| !self.settings.iter().any(|(n, _)| n == name))
        .collect();
        settings.extend(self.settings.iter().cloned());
        let mut text = format!(
            "; Written by local-postgres: transaction pooling in front of {}:{}.\n\n[databases]\n\
             * = host={} port={}\n\n[pgbouncer]\n",
            self.server_host, self.server_port, self.server_host, self.server_port
        );
        for (name, value) in settings {
            text.push_str(&format!("{name} = {value}\n"));
        }
        text
    }
}

fn unique_temp_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let unique = format!("{}-{nanos:x}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    env::temp_dir().join(format!("pgbouncer-{unique}"))
}

fn write(path: &Path, text: &str) -> Result<(), crate::Error> {
    fs::write(path, text).map_err(|source| crate::Error::Write { path: path.to_path_buf(), source })
}

// ---------------------------------------------------------------------------
// The running PgBouncer

/// A running PgBouncer. Dropped, it stops the process (SIGTERM, then SIGKILL
/// after 5 s) and removes its folder.
#[derive(Debug)]
pub struct PgBouncer {
    /// `pgbouncer`, or `runuser` running it: `None` once stopped.
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    /// PgBouncer's own process (under `runuser`, the child's child).
    pid: u32,
    user: String,
    pool_size: u16,
    server: (String, u16),
}

impl PgBouncer {
    /// The `pgbouncer` program: on PATH, or Debian's `/usr/sbin/pgbouncer`.
    pub fn binary() -> Option<PathBuf> {
        let on_path = env::var_os("PATH")
            .and_then(|path| env::split_paths(&path).map(|dir| dir.join("pgbouncer")).find(|p| p.is_file()));
        on_path.or_else(|| Some(PathBuf::from(DEBIAN_BINARY)).filter(|p| p.is_file()))
    }

    /// Whether `pgbouncer` is installed (no error to report).
    pub fn is_installed() -> bool {
        Self::binary().is_some()
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://<user>@127.0.0.1:<port>/<database>`: `database` on the
    /// server, through the pooler.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{}@127.0.0.1:{}/{database}", self.user, self.port)
    }

    /// PgBouncer's process id (0 once stopped).
    pub fn pid(&self) -> u32 {
        if self.child.is_some() {
            self.pid
        } else {
            0
        }
    }

    /// Server connections per database.
    pub fn pool_size(&self) -> u16 {
        self.pool_size
    }

    /// The server behind it: host and port.
    pub fn server(&self) -> (&str, u16) {
        (&self.server.0, self.server.1)
    }

    /// Its folder: `pgbouncer.ini`, `userlist.txt`, `pgbouncer.log`, `pgbouncer.pid`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join("pgbouncer.ini")
    }

    /// PgBouncer's log (its standard error).
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("pgbouncer.log")
    }

    /// The log's text so far, e.g. for a test's failure message.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    fn auth_file(&self) -> PathBuf {
        self.dir.join(AUTH_FILE)
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join(PID_FILE)
    }

    /// Stops PgBouncer: SIGTERM (PgBouncer's immediate shutdown: every client
    /// and server connection is closed), then SIGKILL after 5 s. The folder stays.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        signal("TERM", self.pid);
        let started = Instant::now();
        while started.elapsed() < STOP_GRACE {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        signal("KILL", self.pid);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Runs PgBouncer on `port` and waits until it answers; stopped again on failure.
    fn run(
        &mut self,
        runner: &Installation,
        binary: &Path,
        port: u16,
        timeout: Duration,
    ) -> Result<(), PgBouncerError> {
        let log = fs::OpenOptions::new()
            .append(true)
            .open(self.log_file())
            .map_err(|source| crate::Error::Write { path: self.log_file(), source })?;
        let mut command = runner.command(binary);
        command.current_dir(&self.dir).arg(self.config_file()).stdout(Stdio::null()).stderr(log);
        let child =
            command.spawn().map_err(|source| crate::Error::Spawn { what: format!("{}", binary.display()), source })?;
        self.pid = child.id();
        self.port = port;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(PgBouncerError::Exited {
                    status: status.to_string(),
                    log: self.log_file(),
                    tail: self.tail(),
                });
            }
            // Its own pid once it has written it (under runuser the child is runuser).
            let pid = fs::read_to_string(self.pid_file()).ok().and_then(|p| p.trim().parse().ok());
            if let Some(pid) = pid {
                self.pid = pid;
                if answers(port) {
                    return Ok(());
                }
            }
            if started.elapsed() > timeout {
                let error = PgBouncerError::NotReady { port, waited: timeout, log: self.log_file(), tail: self.tail() };
                self.stop();
                return Err(error);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last lines of the log.
    fn tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        if tail.trim().is_empty() {
            "(nothing)".to_string()
        } else {
            tail
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Whether a PostgreSQL protocol speaker listens on `port`: it answers an
/// SSLRequest with `N` (or `S`). Touches no server behind a pooler.
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    // Length 8, then the SSLRequest code 80877103.
    let request = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let mut answer = [0u8; 1];
    stream.write_all(&request).is_ok() && stream.read_exact(&mut answer).is_ok() && matches!(&answer, b"N" | b"S")
}

/// `kill -s <signal> <pid>`; a process already gone is no error.
fn signal(name: &str, pid: u32) {
    if pid == 0 {
        return;
    }
    let _ = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_pools_transactions_through_a_wildcard_database() {
        let builder = PgBouncerBuilder::new("127.0.0.1", 5432).pool_size(3).setting("query_wait_timeout", "5");
        let config = builder.config(Path::new("/tmp/pgb"), 6543);
        for line in [
            "* = host=127.0.0.1 port=5432",
            "pool_mode = transaction",
            "listen_port = 6543",
            "default_pool_size = 3",
            "max_db_connections = 3",
            "unix_socket_dir = \n",
            "ignore_startup_parameters = extra_float_digits\n",
            "auth_file = /tmp/pgb/userlist.txt",
        ] {
            assert!(config.contains(line), "{line:?} in:\n{config}");
        }
        assert_eq!(config.matches("query_wait_timeout").count(), 1, "a setting replaces the default:\n{config}");
        assert!(config.contains("query_wait_timeout = 5\n"));
    }

    #[test]
    fn values_that_would_break_the_files_are_refused() {
        let bad = [
            PgBouncerBuilder::new("host name", 5432),
            PgBouncerBuilder::new("h'", 5432),
            PgBouncerBuilder::new("h", 5432).user("a b", None),
            PgBouncerBuilder::new("h", 5432).setting("x", "1\nauth_type = any"),
        ];
        for builder in bad {
            assert!(matches!(builder.check(), Err(PgBouncerError::BadValue { .. })), "{builder:?}");
        }
        assert!(PgBouncerBuilder::new("/var/run/postgresql", 5432).check().is_ok());
    }

    #[test]
    fn a_pgbouncer_answers_and_is_gone_once_dropped() {
        if !PgBouncer::is_installed() {
            panic!("{}", PgBouncerError::NotInstalled);
        }
        // No server behind it: PgBouncer starts and answers all the same.
        let bouncer = PgBouncerBuilder::new("127.0.0.1", free_port().expect("a free port"))
            .pool_size(1)
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(answers(bouncer.port()));
        assert!(bouncer.pid() > 0);
        assert_eq!(bouncer.url("db"), format!("postgres://postgres@127.0.0.1:{}/db", bouncer.port()));
        let (dir, port) = (bouncer.dir().to_path_buf(), bouncer.port());
        drop(bouncer);
        assert!(!dir.exists(), "the folder is removed");
        assert!(!answers(port), "stopped");
    }

    #[test]
    fn a_failed_start_quotes_the_log_and_leaves_nothing_behind() {
        if !PgBouncer::is_installed() {
            panic!("{}", PgBouncerError::NotInstalled);
        }
        let error = PgBouncerBuilder::new("127.0.0.1", 5432)
            .setting("no_such_setting", "1")
            .start()
            .expect_err("an unknown setting");
        let PgBouncerError::Exited { log, tail, .. } = &error else { panic!("{error}") };
        assert!(tail.contains("no_such_setting"), "{error}");
        assert!(!log.parent().expect("a folder").exists(), "the folder is removed");
    }
}
