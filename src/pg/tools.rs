//! Finding PostgreSQL's programs (initdb, pg_ctl, pg_dump, psql, ...): on PATH, in
//! `pg_config --bindir`, then in the usual install folders, newest version first. It
//! only finds; running them is the caller's business (`cluster`, later `pgdump`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// Where to look for PostgreSQL programs.
#[derive(Debug, Clone)]
pub struct Finder {
    /// The PATH to search (passed in: the library does not read the environment).
    pub path: Option<OsString>,
    /// Install folders holding `<version>/bin` (or Homebrew's `postgresql@N/bin`).
    pub install_roots: Vec<PathBuf>,
    /// Install folders holding the programs directly.
    pub install_bins: Vec<PathBuf>,
}

impl Finder {
    /// A finder over this PATH value and the usual install folders.
    pub fn new(path: Option<OsString>) -> Self {
        Finder {
            path,
            install_roots: [
                "/usr/lib/postgresql",
                "/opt/homebrew/opt",
                "/usr/local/opt",
                "/usr/pgsql",
            ]
            .map(PathBuf::from)
            .to_vec(),
            install_bins: vec!["/usr/local/pgsql/bin".into()],
        }
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
        for root in &self.install_roots {
            dirs.extend(versioned_dirs(root));
        }
        dirs.extend(self.install_bins.iter().cloned());
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
                searched: self.searched(),
            })
    }

    /// Every copy of the program, in search order, with its version: for a client that
    /// must be at least as new as the server (`pg_dump`).
    pub fn find_all(&self, tool: &str) -> Vec<(PathBuf, Option<ToolVersion>)> {
        let mut seen = Vec::new();
        for path in self.candidates().iter().map(|d| d.join(tool)) {
            let real = path.canonicalize().unwrap_or_else(|_| path.clone());
            if is_executable(&path) && !seen.iter().any(|(p, _): &(PathBuf, _)| p == &real) {
                seen.push((real, path));
            }
        }
        seen.into_iter()
            .map(|(_, path)| {
                let version = ToolVersion::of(&path);
                (path, version)
            })
            .collect()
    }

    /// Where `find` looks, in words.
    fn searched(&self) -> String {
        match &self.path {
            Some(path) if self.install_roots.is_empty() && self.install_bins.is_empty() => {
                format!("`{}`", path.to_string_lossy())
            }
            _ => "PATH, `pg_config --bindir`, /usr/lib/postgresql/*/bin, Homebrew and /usr/local/pgsql/bin".into(),
        }
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

/// A PostgreSQL program's version, as it prints it (`pg_dump (PostgreSQL) 15.18 ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolVersion {
    /// `15` for 15.18 (the first number: dbkit does not support servers before 10).
    pub major: u32,
    /// `15.18`.
    pub full: String,
}

impl ToolVersion {
    /// Runs `program --version` and reads its answer.
    pub fn of(program: &Path) -> Option<ToolVersion> {
        let out = Command::new(program).arg("--version").output().ok()?;
        ToolVersion::parse(&String::from_utf8_lossy(&out.stdout))
    }

    /// Reads `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
    ///
    /// ```
    /// use dbkit::pg::tools::ToolVersion;
    /// let v = ToolVersion::parse("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)").unwrap();
    /// assert_eq!((v.major, v.full.as_str()), (15, "15.18"));
    /// ```
    pub fn parse(text: &str) -> Option<ToolVersion> {
        let full = text
            .split_whitespace()
            .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?
            .trim_end_matches(|c: char| !c.is_ascii_digit());
        let major: u32 = full.split('.').next()?.parse().ok()?;
        Some(ToolVersion {
            major,
            full: full.to_string(),
        })
    }

    /// The release series of a server's `server_version_num` (150018 is 15).
    pub fn server_major(version_num: u32) -> u32 {
        version_num / 10_000
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_server_says_what_to_install() {
        let empty = tempfile::tempdir().expect("temp dir");
        let finder = Finder {
            path: Some(empty.path().as_os_str().to_owned()),
            install_roots: vec![empty.path().to_path_buf()],
            install_bins: Vec::new(),
        };
        let error = finder.server_bindir().expect_err("nothing to find");
        assert!(
            error
                .to_string()
                .starts_with("`initdb` not found (looked in PATH"),
            "{error}"
        );
        let hint = error.hint().expect("a hint");
        assert!(
            hint.contains("apt-get install postgresql") && hint.contains("brew install"),
            "{hint}"
        );
    }

    #[test]
    fn finds_the_newest_installed_version_first() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("temp dir");
        for version in ["9", "15", "16"] {
            let bin = root.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).expect("folders");
            for tool in ["initdb", "pg_ctl"] {
                std::fs::write(bin.join(tool), "#!/bin/sh\n").expect("writes");
                std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
            }
        }
        let finder = Finder {
            path: None,
            install_roots: vec![root.path().to_path_buf()],
            install_bins: Vec::new(),
        };
        let bindir = finder.server_bindir().expect("found");
        assert!(bindir.ends_with("16/bin"), "{}", bindir.display());
    }
}
