//! A local PostgreSQL made with `initdb` and run with `pg_ctl`, listening only on a Unix
//! socket in a folder of its own: the zero-configuration default (`.dbkit/` in the
//! project, or the folder `home` picks) and the throwaway servers the tests use. When
//! dbkit runs as root it runs the server as the `postgres` user, since PostgreSQL refuses
//! to run as root; that user may not be able to enter the caller's folders, so the
//! programs get absolute paths and run from `/`. Finding the programs is `tools`'s job;
//! connecting is `connect`'s.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The default port: only part of the socket's name when there is no TCP listener, so it
/// cannot clash with another server.
pub const PORT: u16 = 5432;

/// Settings for a cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The folder that holds everything (`.dbkit/`).
    pub dir: PathBuf,
    /// The folder of `initdb` and `pg_ctl`.
    pub bindir: PathBuf,
    /// The port (the socket's name, and the TCP port if `settings` enable TCP).
    pub port: u16,
    /// The user to run the server as (`postgres` when dbkit runs as root).
    pub run_as: Option<String>,
    /// Trade durability for speed (fsync off): for throwaway test servers.
    pub throwaway: bool,
    /// More server settings (`-c name=value`), applied after dbkit's own.
    pub settings: Vec<(String, String)>,
}

/// What a cluster is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    NotCreated,
    Stopped,
    Running,
}

/// What `ensure_running` had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Started {
    /// It was already running.
    Reused,
    /// It existed and was started.
    Started,
    /// It was created and started.
    Created,
}

/// The user the server should run as: `postgres` when this process is root.
pub fn default_run_as() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    (unsafe { libc::geteuid() } == 0).then(|| "postgres".to_string())
}

impl Cluster {
    /// The data folder (absolute).
    pub fn data_dir(&self) -> PathBuf {
        absolute(&self.dir).join("data")
    }

    /// The server log (absolute).
    pub fn log_file(&self) -> PathBuf {
        absolute(&self.dir).join("postgresql.log")
    }

    /// The socket folder: `<dir>/run`, or a short folder under `/tmp` when that path is
    /// too long for a Unix socket name (about 100 bytes).
    pub fn socket_dir(&self) -> PathBuf {
        let preferred = absolute(&self.dir).join("run");
        if preferred.as_os_str().len() + ".s.PGSQL.5432".len() < 100 {
            return preferred;
        }
        let digest = crate::project::migrations::checksum(&preferred.to_string_lossy());
        PathBuf::from(format!("/tmp/dbkit-{}", &digest[..12]))
    }

    /// A conninfo string for a database of this cluster.
    pub fn conninfo(&self, dbname: &str) -> String {
        format!(
            "host='{}' port={} user=postgres dbname='{dbname}'",
            self.socket_dir().display(),
            self.port
        )
    }

    /// Whether the cluster exists and runs.
    pub fn state(&self) -> Result<ClusterState> {
        if !self.data_dir().join("PG_VERSION").is_file() {
            return Ok(ClusterState::NotCreated);
        }
        let out = self
            .pg_ctl(&["status"])
            .output()
            .map_err(|source| Error::Spawn {
                command: "pg_ctl status".into(),
                source,
            })?;
        Ok(if out.status.success() {
            ClusterState::Running
        } else {
            ClusterState::Stopped
        })
    }

    /// Creates the cluster if needed and starts it if it is not running.
    pub fn ensure_running(&self) -> Result<Started> {
        let started = match self.state()? {
            ClusterState::Running => return Ok(Started::Reused),
            ClusterState::Stopped => Started::Started,
            ClusterState::NotCreated => {
                self.create()?;
                Started::Created
            }
        };
        self.prepare_dir(&self.socket_dir())?;
        let mut options = format!(
            "-k '{}' -c listen_addresses='' -p {}",
            self.socket_dir().display(),
            self.port
        );
        if self.throwaway {
            options += " -c fsync=off -c full_page_writes=off -c max_connections=200";
        }
        for (name, value) in &self.settings {
            options += &format!(" -c {name}='{value}'");
        }
        let log = self.log_file().display().to_string();
        run(
            self.pg_ctl(&["start", "-w", "-t", "120", "-l", &log, "-o", &options]),
            "pg_ctl start",
        )?;
        Ok(started)
    }

    /// Stops the server (fast shutdown). Returns false when it was not running.
    pub fn stop(&self) -> Result<bool> {
        if self.state()? != ClusterState::Running {
            return Ok(false);
        }
        run(self.pg_ctl(&["stop", "-w", "-m", "fast"]), "pg_ctl stop")?;
        Ok(true)
    }

    fn create(&self) -> Result<()> {
        for path in ["'", "\""] {
            if self.dir.to_string_lossy().contains(path) {
                return Err(self.error("the folder's path may not contain quotes".into()));
            }
        }
        self.prepare_dir(&self.dir)?;
        // The folder holds the socket of a superuser with trust authentication: only the
        // server's user (and root) may enter it.
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).map_err(
            |source| Error::Io {
                path: self.dir.clone(),
                source,
            },
        )?;
        let data = self.data_dir().display().to_string();
        let mut args = vec![
            "-D",
            &data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ];
        if self.throwaway {
            args.push("--no-sync");
        }
        run(self.command("initdb", &args), "initdb")
    }

    /// Makes a folder the server's user owns, and checks that user can reach it.
    fn prepare_dir(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let Some(user) = &self.run_as else {
            return Ok(());
        };
        let (uid, gid) = user_ids(user).ok_or_else(|| {
            self.error(format!(
                "user `{user}` does not exist; create it or run dbkit as an ordinary user"
            ))
        })?;
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if user_can(user, "-w", dir) {
            Ok(())
        } else {
            Err(self.error(format!(
                "user `{user}` cannot reach `{}`: its parent folders must be searchable by that user (chmod o+x), or run dbkit as an ordinary user",
                dir.display()
            )))
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let data = self.data_dir().display().to_string();
        let mut all = vec!["-D", data.as_str()];
        all.extend_from_slice(args);
        self.command("pg_ctl", &all)
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bindir.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.args(args);
        if self.run_as.is_some() {
            // The server's user may not be allowed into the caller's current folder.
            command.current_dir("/");
        }
        // The server must not inherit the caller's client settings.
        for var in ["PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGOPTIONS"] {
            command.env_remove(var);
        }
        command
    }

    fn error(&self, reason: String) -> Error {
        Error::Cluster {
            dir: self.dir.clone(),
            reason,
        }
    }
}

/// Runs a command, turning a failure into an error with its status and trimmed stderr.
pub fn run(mut command: Command, name: &str) -> Result<()> {
    let out = command.output().map_err(|source| Error::Spawn {
        command: name.to_string(),
        source,
    })?;
    if out.status.success() {
        return Ok(());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Err(Error::Command {
        command: name.to_string(),
        status: out.status.to_string(),
        stderr: stderr
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Whether `user` passes `test FLAG path` (`-x`: can enter the folder, which needs every
/// parent folder searchable too; `-w`: can write in it).
pub(crate) fn user_can(user: &str, flag: &str, path: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", user, "--", "test", flag])
        .arg(path)
        .current_dir("/")
        .status()
        .is_ok_and(|s| s.success())
}

/// The user and group ids of a user name.
pub(crate) fn user_ids(user: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(user).ok()?;
    // SAFETY: getpwnam takes a valid C string; the result is read before any other call
    // that could overwrite its static buffer.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: entry is non-null and points at getpwnam's static passwd record.
    let entry = unsafe { &*entry };
    Some((entry.pw_uid, entry.pw_gid))
}

/// Creates a database in the server `settings` points at, if it does not exist.
pub fn ensure_database(
    settings: &crate::project::settings::ConnectionSettings,
    name: &str,
) -> Result<bool> {
    let admin = settings.with_dbname("postgres");
    let mut client =
        crate::pg::connect::connect(&admin, crate::pg::connect::ConnectOptions::default())?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(crate::pg::connect::query_error(
            "looking up the database",
            admin.masked(),
        ))?
        .is_some();
    if !exists {
        let quoted = crate::sql::quote_ident(name);
        client
            .batch_execute(&format!("CREATE DATABASE {quoted}"))
            .map_err(crate::pg::connect::query_error(
                "creating the database",
                admin.masked(),
            ))?;
    }
    Ok(!exists)
}
