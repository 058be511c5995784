//! `clerk-sync`: the clerk-sync command-line tool.
//!
//! - `migrate`: applies pending schema migrations.
//! - `sign`: signs a Clerk payload and wraps it in a Lambda Function URL
//!   request event, for `cargo lambda invoke`.
//! - `send`: POSTs payloads with fresh svix headers.
//! - `dev`: runs every function locally against PostgreSQL.
//! - `token`: mints a development session token for `dev`'s API routes.
//! - `replay`, `rotate-keys`, `status`, `prune`: operator work on the database.
//! - `reconcile`, `reconcile-changes`: the mirror brought to Clerk's Backend
//!   API (backfill and repair), and what a run changed.
//! - `bench` (cargo feature `bench`): the per-event latency benchmark.

#[cfg(feature = "bench")]
mod bench;
mod database;
mod dev;
mod devdir;
mod error;
mod event;
mod families;
mod migrate;
mod ops;
mod reconcile;
mod runtime;
mod send;
mod sign;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::Failure;

#[derive(Debug, Parser)]
#[command(name = "clerk-sync", version, about = "clerk-sync: keep PostgreSQL in step with Clerk webhooks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Migrate(migrate::MigrateArgs),
    Sign(sign::SignArgs),
    Send(send::SendArgs),
    Dev(dev::DevArgs),
    Token(token::TokenArgs),
    Replay(ops::ReplayArgs),
    RotateKeys(ops::RotateKeysArgs),
    Status(ops::StatusArgs),
    Prune(ops::PruneArgs),
    Reconcile(reconcile::ReconcileArgs),
    ReconcileChanges(reconcile::ReconcileChangesArgs),
    #[cfg(feature = "bench")]
    Bench(bench::LatencyArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Migrate(args) => exit(migrate::run(args)),
        Command::Sign(args) => exit(sign::run(args)),
        Command::Send(args) => exit(send::run(args)),
        Command::Dev(args) => exit(dev::run(args)),
        Command::Token(args) => exit(token::run(args)),
        Command::Replay(args) => exit(ops::replay(args)),
        Command::RotateKeys(args) => exit(ops::rotate_keys(args)),
        Command::Status(args) => exit(ops::status(args)),
        Command::Prune(args) => exit(ops::prune(args)),
        Command::Reconcile(args) => exit(reconcile::run(args)),
        Command::ReconcileChanges(args) => exit(reconcile::changes(args)),
        #[cfg(feature = "bench")]
        Command::Bench(args) => exit(bench::run(args)),
    }
}

/// The one place a command's result becomes the exit code: a failure is
/// printed on standard error, with its causes and, when there is one, a hint.
fn exit<E: Failure>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.one_line() => {
            eprintln!("error: {}", error::single_line(&e, e.hint().as_deref()));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {}", error::report(&e));
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}
