//! A real PgBouncer (transaction pooling, `local-postgres`'s) in front of a
//! test server, for tests that must hold through a connection pooler.
//!
//! Each call starts a PgBouncer of its own on a free port; dropped, it stops.
//! Its one wildcard database reaches every database of the server, so a
//! [`crate::TestDb`] created before or after the start is reachable as
//! `bouncer.url(&db.name)`, with `pool_size` server connections of its own.

use local_postgres::pgbouncer::{PgBouncer, PgBouncerBuilder, PgBouncerError};
use percent_encoding::percent_decode_str;

const MISSING: &str = "pgbouncer is not installed, and these tests run through a real one: install it \
(Debian/Ubuntu: apt-get install pgbouncer, which puts it at /usr/sbin/pgbouncer; macOS: brew install pgbouncer)";

/// A PgBouncer in front of the tests' shared server ([`crate::server_url`]),
/// `pool_size` server connections per database; panics saying what to
/// install when `pgbouncer` is missing.
pub fn start(pool_size: u16) -> PgBouncer {
    let server = Server::parse(crate::server_url());
    build(PgBouncerBuilder::new(&server.host, server.port).user(&server.user, server.password.as_deref()), pool_size)
}

/// A PgBouncer in front of another server, e.g. an [`crate::OwnCluster`]
/// (`"127.0.0.1"`, `cluster.port()`), as the `postgres` user.
pub fn start_in_front_of(host: &str, port: u16, pool_size: u16) -> PgBouncer {
    build(PgBouncerBuilder::new(host, port), pool_size)
}

fn build(builder: PgBouncerBuilder, pool_size: u16) -> PgBouncer {
    if !PgBouncer::is_installed() {
        panic!("{MISSING}");
    }
    builder.pool_size(pool_size).start().unwrap_or_else(|e| match e {
        PgBouncerError::NotInstalled => panic!("{MISSING}"),
        e => panic!("could not start PgBouncer: {e}"),
    })
}

/// Where a connection string points: what PgBouncer needs to reach the server.
#[derive(Debug, PartialEq)]
struct Server {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
}

impl Server {
    /// A `postgres://` URL or a `key=value` string; what is missing is
    /// libpq's default (127.0.0.1 over TCP, 5432, `postgres`).
    fn parse(url: &str) -> Self {
        let mut server = Self { host: "127.0.0.1".into(), port: 5432, user: "postgres".into(), password: None };
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let port = |s: &str| s.parse().unwrap_or_else(|_| panic!("the test server's port is not a number: {url}"));
        if let Some((_, rest)) = url.split_once("://") {
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let (userinfo, hostport) = match authority.rsplit_once('@') {
                Some((userinfo, hostport)) => (Some(userinfo), hostport),
                None => (None, authority),
            };
            if let Some(userinfo) = userinfo {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (userinfo, None),
                };
                if !user.is_empty() {
                    server.user = decode(user);
                }
                server.password = password.map(decode);
            }
            // The first host of a list; [::1]:5432 for IPv6.
            let hostport = hostport.split(',').next().unwrap_or_default();
            let (host, port_text) = match hostport.strip_prefix('[').and_then(|h| h.split_once(']')) {
                Some((host, rest)) => (host, rest.strip_prefix(':')),
                None => match hostport.rsplit_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (hostport, None),
                },
            };
            if !host.is_empty() {
                server.host = decode(host);
            }
            if let Some(text) = port_text.filter(|p| !p.is_empty()) {
                server.port = port(text);
            }
        } else {
            for pair in url.split_whitespace() {
                match pair.split_once('=') {
                    Some(("host", host)) => server.host = host.to_string(),
                    Some(("port", text)) => server.port = port(text),
                    Some(("user", user)) => server.user = user.to_string(),
                    Some(("password", password)) => server.password = Some(password.to_string()),
                    _ => {}
                }
            }
        }
        server
    }
}

#[cfg(test)]
mod tests {
    use super::Server;

    fn server(host: &str, port: u16, user: &str, password: Option<&str>) -> Server {
        Server { host: host.into(), port, user: user.into(), password: password.map(str::to_string) }
    }

    #[test]
    fn reads_where_the_server_is() {
        assert_eq!(
            Server::parse("postgres://postgres@127.0.0.1:33311/postgres"),
            server("127.0.0.1", 33311, "postgres", None)
        );
        assert_eq!(
            Server::parse("postgresql://app:p%40ss@db.local/x?sslmode=disable"),
            server("db.local", 5432, "app", Some("p@ss"))
        );
        assert_eq!(Server::parse("postgres://[::1]:6000"), server("::1", 6000, "postgres", None));
        assert_eq!(Server::parse("host=h port=7 user=u dbname=d"), server("h", 7, "u", None));
    }
}
