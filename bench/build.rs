//! Embeds every sample payload (`events/payloads/<type>.json`) so that the
//! benchmarks, and `clerk-sync bench`, carry them: the family table names
//! the types, this names no file.

use std::{env, fs, path::PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = manifest_dir.join("../events/payloads");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut out = String::from("/// Every sample payload, by file stem.\npub static SAMPLES: &[(&str, &str)] = &[\n");
    for path in &files {
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name");
        let abs = fs::canonicalize(path).expect("canonical path");
        out.push_str(&format!("    ({stem:?}, include_str!({:?})),\n", abs.display().to_string()));
    }
    out.push_str("];\n");
    fs::write(PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("samples.rs"), out)
        .expect("write samples.rs");
}
