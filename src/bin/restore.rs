//! `restore`: load a backup with psql or pg_restore into an empty (or new) database.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use dbkit::cli::{self, ConnectionArgs, DirArgs, Format, GuardArgs, OutputArgs, Target};
use dbkit::error::Error;
use dbkit::ops::guard::Requirement;
use dbkit::ops::restore::{self, Restored};
use dbkit::pg::connect::{connect, ConnectOptions};
use dbkit::pg::dump::ServerVersion;
use dbkit::project::layout::Layout;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Load a backup (plain SQL, .sql.gz, custom or directory format) into the database.
#[derive(Debug, Parser)]
#[command(
    name = "restore",
    version,
    after_help = "Examples:
  restore backups/backup_2026-11-22_10-00-00.sql --into scratch   # a new database beside the configured one
  restore backups/backup_2026-11-22_10-00-00.dump                 # into the configured database (must be empty)
  restore backups/backup_2026-11-22_10-00-00.sql --replace        # replace a non-empty one (asks)"
)]
struct Args {
    /// The backup: a `.sql`, `.sql.gz` or `.dump` file, or a directory-format folder.
    backup: PathBuf,

    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    guard: GuardArgs,

    /// Restore into this database on the same server, creating it when missing.
    #[arg(long, value_name = "NAME")]
    into: Option<String>,
    /// Replace a non-empty target: restore into a side database, then swap it in, so a
    /// failed restore changes nothing (development databases only: the same guard as
    /// reset; asks unless `--yes`).
    #[arg(long)]
    replace: bool,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    cli::install_interrupts();
    args.output.init_color();
    cli::conclude(run(&args), args.output.format)
}

fn run(args: &Args) -> Result<ExitCode> {
    let started = Instant::now();
    let kind = dbkit::ops::backup::kind(&args.backup)?;
    let layout = Layout::new(&args.dir.dir);
    if args.replace {
        args.guard.precheck(
            "replace",
            &args.connection,
            args.into.as_deref(),
            Requirement::LocalDevelopment,
        )?;
    }
    let mut configured = args.connection.open(&layout)?;
    let mut created = false;
    let mut target = match &args.into {
        Some(name) if name != configured.settings.dbname() => {
            let shown = configured.settings.masked().to_string();
            created = restore::create_database(&mut configured.client, &shown, name)?;
            let settings = configured.settings.with_dbname(name);
            let client = connect(&settings, ConnectOptions::default())?;
            Target {
                settings,
                client,
                local: None,
            }
        }
        _ => configured,
    };
    let database = target.settings.masked().to_string();
    if let Some(found) = restore::existing(&mut target.client, &database)? {
        if !args.replace {
            return Err(Error::RestoreTargetNotEmpty { database, found });
        }
        args.guard
            .check("replace", &mut target, Requirement::LocalDevelopment)?;
        let question = format!("Replace {database} (it holds {found}) with the backup?");
        if !args.guard.confirm(&question)? {
            eprintln!("restore cancelled: nothing was changed");
            return Ok(ExitCode::from(exit::ERROR));
        }
        let server = ServerVersion::query(&mut target.client, &database)?;
        replace(target, |side| {
            restore::run(&cli::finder(), &server, side, &args.backup).map(drop)
        })?;
        let restored = Restored {
            path: args.backup.clone(),
            kind,
            database,
            created,
            replaced: true,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        return finish(args, &restored);
    }
    let server = ServerVersion::query(&mut target.client, &database)?;
    if let Err(error) = restore::run(&cli::finder(), &server, &target.settings, &args.backup) {
        if created {
            // The database this run created for the restore goes with the failed restore.
            drop(target);
            drop_created(args, &layout);
        }
        return Err(error);
    }
    let restored = Restored {
        path: args.backup.clone(),
        kind,
        database,
        created,
        replaced: false,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    finish(args, &restored)
}

fn finish(args: &Args, restored: &Restored) -> Result<ExitCode> {
    cli::print(|w| match args.output.format {
        Format::Text => report::operations::restored(w, restored),
        Format::Json => report::json(w, restored),
    });
    Ok(ExitCode::from(exit::OK))
}

/// Restores into a side database and, only when that worked, puts it in the target's
/// place (same owner and database settings); a failed restore leaves the target as it
/// was. Works from the server's maintenance database.
fn replace(
    target: Target,
    load: impl FnOnce(&dbkit::project::settings::ConnectionSettings) -> Result<()>,
) -> Result<()> {
    let Target {
        settings, client, ..
    } = target;
    drop(client);
    let name = settings.dbname().to_string();
    let maintenance = ["postgres", "template1"]
        .iter()
        .find(|db| **db != name)
        .map(|db| settings.with_dbname(db))
        .expect("two names differ");
    let mut admin = connect(&maintenance, ConnectOptions::default())?;
    restore::replace_database(&mut admin, maintenance.masked(), &settings, load)
}

/// Drops the database `--into` created (best effort: the error that matters is the
/// restore's).
fn drop_created(args: &Args, layout: &Layout) {
    let (Some(name), Ok(mut configured)) = (&args.into, args.connection.connect(layout)) else {
        return;
    };
    let quoted = dbkit::sql::quote_ident(name);
    let _ = configured
        .client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}"));
}
