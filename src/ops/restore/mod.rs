//! Restoring a backup: the whole of it into an empty database (the configured one, or a
//! new one beside it), in place of a non-empty one (`--replace`, through a side database
//! that is swapped in only when the load worked), or the rows of chosen tables
//! (`--table`, from custom and directory archives). Every load runs in one transaction
//! and stops at the first error, so a failed restore leaves the target as it was.
//!
//! What a restore overwrites passes the development guard and a question first (asked
//! through [`Guard::confirm`]). Running the clients with progress is `load`'s job, the
//! side database `replace`'s, choosing tables `tables`'s; recognizing backups is
//! `backup`'s, and throwaway databases are `pg::scratch`'s.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use postgres::Client;

use crate::error::{Error, Result};
use crate::meter::Meter;
use crate::ops::backup::Kind;
use crate::ops::guard::{self, Requirement};
use crate::pg::connect::{connect, query_error, ConnectOptions};
use crate::pg::dump::ServerVersion;
use crate::pg::tools::Finder;
use crate::project::settings::ConnectionSettings;

mod load;
mod replace;
mod tables;

/// What to restore, and where.
#[derive(Debug, Clone)]
pub struct Request {
    /// The backup: a `.sql`, `.sql.gz` or `.dump` file, or a directory-format folder.
    pub backup: PathBuf,
    /// A database on the same server to restore into (created when missing) instead of
    /// the configured one.
    pub into: Option<String>,
    /// Replace what the target holds (the whole database, or the chosen tables' rows).
    pub replace: bool,
    /// Restore only these tables' rows (`name` or `schema.name`) into the configured
    /// database.
    pub tables: Vec<String>,
    /// How long `--replace` of a whole database waits for dbkit's migration lock on it.
    pub lock_timeout: Duration,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            backup: PathBuf::new(),
            into: None,
            replace: false,
            tables: Vec::new(),
            lock_timeout: crate::pg::lock::DEFAULT_TIMEOUT,
        }
    }
}

/// Who may be overwritten: the guard's inputs and the question to ask.
pub struct Guard<'a> {
    /// `DBKIT_ENV`'s value.
    pub environment: Option<&'a str>,
    /// The database the user named with `--confirm-database`.
    pub confirmed: Option<&'a str>,
    /// Asks whether to go ahead (the program's prompt, or `--yes`).
    pub confirm: &'a mut dyn FnMut(&str) -> Result<bool>,
}

/// Where the programs are and who hears about the work.
pub struct Context<'a> {
    pub finder: &'a Finder,
    /// Bytes of the backup read.
    pub meter: &'a dyn Meter,
    /// Hears what was done along the way (leftover throwaway databases dropped).
    pub notice: fn(&str),
}

/// A finished restore.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    pub path: PathBuf,
    pub kind: Kind,
    pub database: String,
    /// The database was created (`--into`).
    pub created: bool,
    /// The database, or the chosen tables' rows, were replaced.
    pub replaced: bool,
    /// The tables whose rows were restored (`schema.name`); empty for a whole backup.
    pub tables: Vec<String>,
    pub duration_ms: f64,
}

/// How a restore ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Restored(Restored),
    /// The user said no at the question: nothing was changed.
    Cancelled,
}

/// Restores `request.backup` as asked. `configured` is the configured database and
/// `client` a connection to it.
pub fn restore(
    configured: &ConnectionSettings,
    client: Client,
    request: &Request,
    guard: Guard<'_>,
    context: &Context<'_>,
) -> Result<Outcome> {
    let started = Instant::now();
    let kind = crate::ops::backup::kind(&request.backup)?;
    let done = |database: String, created, replaced, tables| Restored {
        path: request.backup.clone(),
        kind,
        database,
        created,
        replaced,
        tables,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    if !request.tables.is_empty() {
        let Some((database, replaced, tables)) =
            tables::restore(configured, client, request, kind, guard, context)?
        else {
            return Ok(Outcome::Cancelled);
        };
        return Ok(Outcome::Restored(done(database, false, replaced, tables)));
    }
    let mut client = client;
    let (target, mut client, created) = match &request.into {
        Some(name) if name != configured.dbname() => {
            let created = replace::create_database(&mut client, configured.masked(), name)?;
            drop(client);
            let target = configured.with_dbname(name);
            let client = connect(&target, ConnectOptions::default())?;
            (target, client, created)
        }
        _ => (configured.clone(), client, false),
    };
    let database = target.masked().to_string();
    let server = ServerVersion::query(&mut client, &database)?;
    if let Some(found) = existing(&mut client, &database)? {
        if !request.replace {
            return Err(Error::RestoreTargetNotEmpty { database, found });
        }
        // A whole database dbkit did not build may be someone else's, as for reset.
        guard::check_managed("replace", &mut client, &target, &[], guard.confirmed)?;
        let question = format!("Replace {database} (it holds {found}) with the backup?");
        if !approve(guard, &mut client, &target, &question)? {
            return Ok(Outcome::Cancelled);
        }
        drop(client);
        replace::replace_database(&target, request.lock_timeout, context.notice, |side| {
            load::run(context, &server, side, &request.backup, kind)
        })?;
        return Ok(Outcome::Restored(done(database, created, true, Vec::new())));
    }
    drop(client);
    if let Err(error) = load::run(context, &server, &target, &request.backup, kind) {
        if created {
            // The database this run created for the restore goes with the failed restore.
            replace::drop_created(configured, target.dbname());
        }
        return Err(crate::pg::interrupt::explain(error, || {
            let dropped = if created {
                " and the database made for it dropped"
            } else {
                ""
            };
            format!("stopped restoring; the load was rolled back{dropped}")
        }));
    }
    Ok(Outcome::Restored(done(
        database,
        created,
        false,
        Vec::new(),
    )))
}

/// Passes the development guard for overwriting what `target` holds (a development
/// database on this machine unless it was named), then asks `question`; returns the
/// answer.
fn approve(
    guard: Guard<'_>,
    client: &mut Client,
    target: &ConnectionSettings,
    question: &str,
) -> Result<bool> {
    pass_guard(
        &guard,
        client,
        target,
        "replace",
        Requirement::LocalDevelopment,
    )?;
    (guard.confirm)(question)
}

/// The guard alone, without a question: `requirement` met, or the database named.
fn pass_guard(
    guard: &Guard<'_>,
    client: &mut Client,
    target: &ConnectionSettings,
    action: &str,
    requirement: Requirement,
) -> Result<()> {
    let mark = guard::database_mark(client, target.masked())?;
    guard::check(
        action,
        target,
        requirement,
        mark.as_deref(),
        guard.environment,
        guard.confirmed,
    )
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
