//! Embeds every `migrations/*.sql` file into the library, in file-name order,
//! so each binary carries the schema it was built against.

use std::{env, fs, path::PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = manifest_dir.join("../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();

    let mut out = String::from(
        "/// Every migration file, in the order it is applied.\npub static MIGRATIONS: &[Migration] = &[\n",
    );
    let mut last_version = 0;
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name");
        let version: i64 = stem
            .split_once('_')
            .and_then(|(v, _)| v.parse().ok())
            .unwrap_or_else(|| panic!("migration {stem}: name must be <number>_<description>.sql"));
        assert!(version > last_version, "migration {stem}: versions must be unique and increasing");
        last_version = version;
        let abs = fs::canonicalize(path).expect("canonical path");
        out.push_str(&format!(
            "    Migration {{ version: {version}, name: {stem:?}, sql: include_str!({:?}) }},\n",
            abs.display().to_string()
        ));
    }
    out.push_str("];\n");
    let out_file = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("migrations.rs");
    fs::write(out_file, out).expect("write migrations.rs");
}
