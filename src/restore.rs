//! Loading a backup into a database with the right client: `psql` for SQL text (gzip
//! included, decompressed on the way), `pg_restore` for custom and directory archives.
//! Both run in one transaction and stop at the first error, so a failed restore leaves
//! the target as it was. Choosing the target and guarding it is the binary's job;
//! recognizing backups is `backup`'s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use postgres::Client;

use crate::backup::Kind;
use crate::config::ConnectionSettings;
use crate::db::query_error;
use crate::error::{Error, Result};
use crate::pgdump::{client_command, client_for_server, ServerVersion};
use crate::pgtools::Finder;

/// A finished restore.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    pub path: PathBuf,
    pub kind: Kind,
    pub database: String,
    /// The database was created (`--into`) or dropped and created (`--replace`).
    pub created: bool,
    pub replaced: bool,
    pub duration_ms: f64,
}

/// Loads the backup at `path` into `target`.
pub fn run(
    finder: &Finder,
    server: &ServerVersion,
    target: &ConnectionSettings,
    path: &Path,
) -> Result<Kind> {
    let kind = crate::backup::kind(path)?;
    // psql commits whatever it has read when its input ends, so a plain backup cut short
    // (or a gzip that does not decompress to its end) is refused before psql starts.
    if matches!(kind, Kind::Plain | Kind::PlainGzip)
        && !crate::backup::plain_is_complete(path, kind == Kind::PlainGzip)?
    {
        return Err(Error::Usage(format!(
            "`{}` is not a complete pg_dump backup: it does not end with pg_dump's completion line (cut short?); nothing was restored",
            path.display()
        )));
    }
    let (command, name) = match kind {
        Kind::Plain | Kind::PlainGzip => {
            let (psql, _) = client_for_server(finder, "psql", server)?;
            let mut command = client_command(&psql, target);
            command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]);
            if kind == Kind::Plain {
                command.arg("-f").arg(path);
            }
            (command, "psql")
        }
        Kind::Custom | Kind::Directory => {
            let (pg_restore, _) = client_for_server(finder, "pg_restore", server)?;
            let mut command = client_command(&pg_restore, target);
            // The database name goes in as a conninfo fragment so no name can be read as
            // one; host, user and password come from the environment.
            command
                .args(["--exit-on-error", "--single-transaction"])
                .arg(format!(
                    "--dbname=dbname='{}'",
                    target.dbname().replace('\\', "\\\\").replace('\'', "\\'")
                ))
                .arg(path);
            (command, "pg_restore")
        }
    };
    finish(command, name, kind, path)?;
    Ok(kind)
}

/// Runs the client, feeding a gzip backup through its stdin; a failure carries the
/// client's exit status and stderr (psql names the line that failed).
fn finish(mut command: Command, name: &str, kind: Kind, path: &Path) -> Result<()> {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    if kind == Kind::PlainGzip {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        command: name.to_string(),
        source,
    })?;
    let feeding = child.stdin.take().map(|mut stdin| {
        let path = path.to_path_buf();
        std::thread::spawn(move || -> std::io::Result<()> {
            let file = std::fs::File::open(&path)?;
            let mut decoder = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
            std::io::copy(&mut decoder, &mut stdin)?;
            stdin.flush()
        })
    });
    let out = child.wait_with_output().map_err(|source| Error::Spawn {
        command: name.to_string(),
        source,
    })?;
    let fed = feeding.map(|t| {
        t.join()
            .unwrap_or_else(|_| Err(std::io::Error::other("panicked")))
    });
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{name} {}", path.display()),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    if let Some(Err(source)) = fed {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

/// What a restore target holds: `None` when it is empty enough to restore into (no
/// objects of its own and no dbkit history).
pub fn existing(client: &mut Client, database: &str) -> Result<Option<String>> {
    let history = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&crate::history::SCHEMA],
        )
        .map_err(query_error(
            "checking whether the database is empty",
            database,
        ))?
        .get::<_, bool>(0);
    let objects = crate::inspect::existing_objects(client, database)?;
    Ok(match (objects, history) {
        (Some(found), true) => Some(format!("{found}, dbkit history")),
        (Some(found), false) => Some(found),
        (None, true) => Some("dbkit history".into()),
        (None, false) => None,
    })
}

/// Creates database `name` on the server `client` is connected to, unless it exists;
/// returns whether it created it.
pub fn create_database(client: &mut Client, database: &str, name: &str) -> Result<bool> {
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(query_error("looking up the database", database))?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE template0",
                quote(name)
            ))
            .map_err(query_error(
                &format!("creating database `{name}`"),
                database,
            ))?;
    }
    Ok(!exists)
}

/// Drops database `name` (ending its sessions) and creates it again, empty, with the
/// same owner. `client` must be connected to another database of the server.
pub fn recreate_database(client: &mut Client, database: &str, name: &str) -> Result<()> {
    let owner: String = client
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .map_err(query_error(
            &format!("looking up database `{name}`"),
            database,
        ))?
        .get(0);
    let drop = format!("DROP DATABASE {}", quote(name));
    let dropped = client
        .batch_execute(&format!("{drop} WITH (FORCE)"))
        .or_else(|_| client.batch_execute(&drop));
    dropped.map_err(query_error(
        &format!("dropping database `{name}`"),
        database,
    ))?;
    client
        .batch_execute(&format!(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0",
            quote(name),
            quote(&owner)
        ))
        .map_err(query_error(
            &format!("creating database `{name}`"),
            database,
        ))
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
