//! `clerk-sync dev`'s folder (`target/clerk-sync-dev` in the workspace
//! unless `--data-dir`/`CLERK_SYNC_DEV_DIR` names another) and the files it
//! keeps there for the other commands: the URL of its database while it runs
//! (read by the database commands when DATABASE_URL is unset) and its session
//! key (read by `clerk-sync token`). A leaf, so those commands need not
//! depend on `dev`.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// While dev runs: the URL of its database, for the other commands (removed at exit).
pub const DATABASE_URL_FILE: &str = "database-url";

/// The nearest folder at or above `start` whose Cargo.toml declares a
/// workspace; else the nearest with a Cargo.toml; else `start`.
pub fn workspace_root(start: &Path) -> PathBuf {
    let manifests = || start.ancestors().filter(|dir| dir.join("Cargo.toml").is_file());
    manifests()
        .find(|dir| {
            fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .or_else(|| manifests().next())
        .unwrap_or(start)
        .to_path_buf()
}

/// dev's folder: `given` (`--data-dir`, `CLERK_SYNC_DEV_DIR`) or
/// `target/clerk-sync-dev` in the workspace, absolute.
pub fn dev_dir(given: Option<&Path>) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let dir =
        given.map(Path::to_path_buf).unwrap_or_else(|| workspace_root(&cwd).join("target").join("clerk-sync-dev"));
    if dir.is_absolute() {
        dir
    } else {
        cwd.join(dir)
    }
}

/// The database of a `clerk-sync dev` running on `dir`, and the file that names it.
pub fn running_database(dir: &Path) -> Option<(String, PathBuf)> {
    let file = dir.join(DATABASE_URL_FILE);
    let url = fs::read_to_string(&file).ok()?.trim().to_string();
    (!url.is_empty()).then_some((url, file))
}

/// The database URL file, removed when dropped (dev stops, whatever the reason).
pub struct DatabaseUrlFile(PathBuf);

impl DatabaseUrlFile {
    /// Owner-only: the URL may hold a password.
    pub fn write(dir: &Path, url: &str) -> io::Result<Self> {
        let path = dir.join(DATABASE_URL_FILE);
        write_file(&path, format!("{url}\n").as_bytes(), true)?;
        Ok(Self(path))
    }
}

impl Drop for DatabaseUrlFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Creates `path`; a private file is readable by its owner only.
pub fn write_file(path: &Path, bytes: &[u8], private: bool) -> io::Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.flush()
}

/// `path` relative to the current directory when inside it.
pub fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_workspace_root_from_a_member() {
        let root = workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(root.join("events").join("seed").is_dir(), "{}", root.display());
        let elsewhere = std::env::temp_dir().join(format!("clerk-sync-no-workspace-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&elsewhere).expect("mkdir");
        assert_eq!(workspace_root(&elsewhere), elsewhere);
        let _ = fs::remove_dir_all(&elsewhere);
    }
}
