//! Writes the pgbench scripts made from the library's statements into a
//! folder: `cargo run -p clerk-sync-bench --bin pgbench-scripts -- DIR`.

use std::{fs, path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: pgbench-scripts DIR");
        return ExitCode::from(2);
    };
    if let Err(e) = fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let scripts = clerk_sync_bench::pgbench::scripts().into_iter().map(|(name, script)| (name.to_string(), script));
    for (name, script) in scripts.chain(clerk_sync_bench::pgbench::routine_scripts()) {
        let path = dir.join(format!("{name}.sql"));
        if let Err(e) = fs::write(&path, script) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}", path.display());
    }
    ExitCode::SUCCESS
}
