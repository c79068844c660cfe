//! Finding PostgreSQL's programs (initdb, pg_ctl, pg_dump, psql, ...): on PATH, in
//! `pg_config --bindir`, then in the usual install folders, newest version first. It
//! only finds; running them is the caller's business (`cluster`, later `pgdump`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// Where to look for PostgreSQL programs.
#[derive(Debug, Clone, Default)]
pub struct Finder {
    /// The PATH to search (passed in: the library does not read the environment).
    pub path: Option<OsString>,
}

impl Finder {
    /// A finder over this PATH value.
    pub fn new(path: Option<OsString>) -> Self {
        Finder { path }
    }

    /// Folders searched, in order, for `tool`.
    fn candidates(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .path
            .as_ref()
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        if let Some(pg_config) = self.on_path("pg_config") {
            if let Ok(out) = Command::new(pg_config).arg("--bindir").output() {
                let bindir = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if out.status.success() && !bindir.is_empty() {
                    dirs.push(bindir.into());
                }
            }
        }
        for pattern in [
            "/usr/lib/postgresql",
            "/opt/homebrew/opt",
            "/usr/local/opt",
            "/usr/pgsql",
        ] {
            dirs.extend(versioned_dirs(Path::new(pattern)));
        }
        dirs.push("/usr/local/pgsql/bin".into());
        dirs
    }

    fn on_path(&self, tool: &str) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        std::env::split_paths(path)
            .map(|d| d.join(tool))
            .find(|p| is_executable(p))
    }

    /// The program's path, or an error that says where dbkit looked and what to install.
    pub fn find(&self, tool: &str) -> Result<PathBuf> {
        let dirs = self.candidates();
        dirs.iter()
            .map(|d| d.join(tool))
            .find(|p| is_executable(p))
            .ok_or_else(|| Error::MissingTool {
                tool: tool.to_string(),
                searched: "PATH, `pg_config --bindir`, /usr/lib/postgresql/*/bin, Homebrew and /usr/local/pgsql/bin".into(),
            })
    }

    /// The folder holding the server programs (`initdb` and `pg_ctl` side by side).
    pub fn server_bindir(&self) -> Result<PathBuf> {
        let initdb = self.find("initdb")?;
        let dir = initdb
            .canonicalize()
            .unwrap_or(initdb)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if is_executable(&dir.join("pg_ctl")) {
            Ok(dir)
        } else {
            Err(Error::MissingTool {
                tool: "pg_ctl".into(),
                searched: format!("`{}` (beside initdb)", dir.display()),
            })
        }
    }
}

/// `<root>/<version>/bin` folders (and Homebrew's `postgresql@16/bin`), newest first.
fn versioned_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let digits: String = name
                .trim_start_matches("postgresql@")
                .trim_start_matches("postgresql")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let bin = e.path().join("bin");
            digits
                .parse()
                .ok()
                .filter(|_| bin.is_dir())
                .map(|v| (v, bin))
        })
        .collect();
    found.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    found.into_iter().map(|(_, p)| p).collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
