//! `restore`: load a backup with psql or pg_restore into an empty (or new) database, in
//! place of a non-empty one, or the rows of chosen tables.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dbkit::cli::{self, ConnectionArgs, DirArgs, Format, GuardArgs, LockArgs, OutputArgs};
use dbkit::ops::guard::Requirement;
use dbkit::ops::restore::{self, Context, Guard, Outcome, Request};
use dbkit::project::layout::Layout;
use dbkit::report::progress::Unit;
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
  restore backups/backup_2026-11-22_10-00-00.sql --replace        # replace a non-empty one (asks)
  restore backups/backup_2026-11-22_10-00-00.dump --table contract --table audit.log"
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
    #[command(flatten)]
    lock: LockArgs,

    /// Restore into this database on the same server, creating it when missing.
    #[arg(long, value_name = "NAME", conflicts_with = "tables")]
    into: Option<String>,
    /// Replace a non-empty target: restore into a side database, then swap it in, so a
    /// failed restore changes nothing; with `--table`, replace those tables' rows
    /// (development databases only: the same guard as reset; asks unless `--yes`).
    #[arg(long)]
    replace: bool,
    /// Restore only this table's rows (repeatable; `name` or `schema.name`) from a
    /// custom or directory backup into the configured database's existing table, which
    /// must be empty unless `--replace`.
    #[arg(long = "table", value_name = "NAME")]
    tables: Vec<String>,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    cli::install_interrupts();
    args.output.init_color();
    cli::conclude(run(&args), args.output.format)
}

fn run(args: &Args) -> Result<ExitCode> {
    if args.replace {
        args.guard.precheck(
            "replace",
            &args.connection,
            args.into.as_deref(),
            Requirement::LocalDevelopment,
        )?;
    }
    let target = args.connection.open(&Layout::new(&args.dir.dir))?;
    let request = Request {
        backup: args.backup.clone(),
        into: args.into.clone(),
        replace: args.replace,
        tables: args.tables.clone(),
        lock_timeout: args.lock.timeout(),
    };
    let mut confirm = |question: &str| args.guard.confirm(question);
    let guard = Guard {
        environment: args.guard.environment.as_deref(),
        confirmed: args.guard.confirm_database.as_deref(),
        confirm: &mut confirm,
    };
    let bar = cli::progress_bar(Unit::Bytes);
    let context = Context {
        finder: &cli::finder(),
        meter: &bar,
        notice: cli::notice,
    };
    match restore::restore(&target.settings, target.client, &request, guard, &context)? {
        Outcome::Cancelled => {
            eprintln!("restore cancelled: nothing was changed");
            Ok(ExitCode::from(exit::ERROR))
        }
        Outcome::Restored(restored) => {
            cli::print(|w| match args.output.format {
                Format::Text => report::operations::restored(w, &restored),
                Format::Json => report::json(w, &restored),
            });
            Ok(ExitCode::from(exit::OK))
        }
    }
}
