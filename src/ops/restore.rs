//! Loading a backup into a database with the right client: `psql` for SQL text (gzip
//! included, decompressed on the way), `pg_restore` for custom and directory archives.
//! Both run in one transaction and stop at the first error, so a failed restore leaves
//! the target as it was. Choosing the target and guarding it is the binary's job;
//! recognizing backups is `backup`'s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use postgres::Client;

use crate::error::{Error, Result};
use crate::ops::backup::Kind;
use crate::pg::connect::query_error;
use crate::pg::dump::{client_command, client_for_server, ServerVersion};
use crate::pg::tools::Finder;
use crate::project::settings::ConnectionSettings;

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
    let kind = crate::ops::backup::kind(path)?;
    // psql commits whatever it has read when its input ends, so a plain backup cut short
    // (or a gzip that does not decompress to its end) is refused before psql starts.
    if matches!(kind, Kind::Plain | Kind::PlainGzip)
        && !crate::ops::backup::plain_is_complete(path, kind == Kind::PlainGzip)?
    {
        return Err(Error::Refused(format!(
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
    let out = crate::pg::interrupt::wait(child).map_err(|source| Error::Spawn {
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
            &[&crate::apply::history::SCHEMA],
        )
        .map_err(query_error(
            "checking whether the database is empty",
            database,
        ))?
        .get::<_, bool>(0);
    let objects = crate::pg::inspect::existing_objects(client, database)?;
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

/// Puts a freshly loaded copy in the place of the database `target` names: creates a
/// side database (same owner, from template0), runs `load` into it, and only when that
/// worked drops the target (ending its sessions), renames the side database to the
/// target's name and gives it the target's database settings (such as a
/// `dbkit.environment` mark). When `load` fails the side database is dropped and the
/// target is untouched. `client` must be connected to another database of the server.
pub fn replace_database(
    client: &mut Client,
    database: &str,
    target: &ConnectionSettings,
    load: impl FnOnce(&ConnectionSettings) -> Result<()>,
) -> Result<()> {
    let name = target.dbname();
    let row = client
        .query_one(
            "SELECT pg_get_userbyid(d.datdba)::text,
                    coalesce((SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0), '{}')
               FROM pg_database d WHERE d.datname = $1",
            &[&name],
        )
        .map_err(query_error(&format!("looking up database `{name}`"), database))?;
    let (owner, settings): (String, Vec<String>) = (row.get(0), row.get(1));
    let side = format!(
        "{}_dbkit_restore_{}",
        name.chars().take(30).collect::<String>(),
        std::process::id()
    );
    client
        .batch_execute(&format!(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0",
            quote(&side),
            quote(&owner)
        ))
        .map_err(query_error(
            &format!("creating database `{side}`"),
            database,
        ))?;
    if let Err(error) = load(&target.with_dbname(&side)) {
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote(&side)));
        return Err(error);
    }
    let drop = format!("DROP DATABASE {}", quote(name));
    client
        .batch_execute(&format!("{drop} WITH (FORCE)"))
        .or_else(|_| client.batch_execute(&drop))
        .map_err(query_error(
            &format!("dropping database `{name}`"),
            database,
        ))?;
    let mut swap = format!(
        "ALTER DATABASE {} RENAME TO {};\n",
        quote(&side),
        quote(name)
    );
    for setting in &settings {
        let Some((key, value)) = setting.split_once('=') else {
            continue;
        };
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            continue;
        }
        // search_path is stored as SQL list syntax; every other value as plain text.
        let value = if key == "search_path" {
            value.to_string()
        } else {
            crate::sql::quote_literal(value)
        };
        swap += &format!("ALTER DATABASE {} SET {key} = {value};\n", quote(name));
    }
    client.batch_execute(&swap).map_err(query_error(
        &format!("putting the restored copy in place of `{name}`"),
        database,
    ))
}

use crate::sql::quote_ident as quote;
