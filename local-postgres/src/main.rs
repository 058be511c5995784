//! `local-postgres [--set NAME=VALUE]… -- COMMAND [ARG]…`
//!
//! Starts a throwaway PostgreSQL cluster (server defaults, so commits are
//! durable, plus each `--set`), runs COMMAND with `TEST_DATABASE_URL` naming
//! its `postgres` database, then stops the cluster and removes it. Exits
//! with COMMAND's status. `scripts/bench.sh` runs the durable-commit latency
//! benchmark this way.

use std::process::{Command, ExitCode};

const USAGE: &str = "usage: local-postgres [--set NAME=VALUE]... -- COMMAND [ARG]...";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut builder = local_postgres::Builder::temporary("local-postgres");
    let mut command = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--set" => match args.next().as_deref().and_then(|s| s.split_once('=')) {
                Some((name, value)) => builder = builder.setting(name, value),
                None => return usage("--set takes NAME=VALUE, e.g. --set fsync=on"),
            },
            "--" => {
                command.extend(args.by_ref());
                break;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unexpected argument {other:?}")),
        }
    }
    let Some((program, rest)) = command.split_first() else {
        return usage("no COMMAND after --");
    };
    let cluster = match builder.start() {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = cluster.url("postgres");
    eprintln!("local-postgres: PostgreSQL {} at {url}", cluster.version());
    let status = Command::new(program).args(rest).env("TEST_DATABASE_URL", &url).status();
    drop(cluster);
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: cannot run {program}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n{USAGE}");
    ExitCode::from(2)
}
