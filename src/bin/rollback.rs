//! `rollback`: reverse the newest applied migrations with their down files.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dbkit::apply::rollback::{self, RollbackOptions, Selection};
use dbkit::cli::{self, ConnectionArgs, DirArgs, Format, GuardArgs, LockArgs, OutputArgs};
use dbkit::ops::guard::Requirement;
use dbkit::project::layout::Layout;
use dbkit::report::{self, exit, progress::Unit};
use dbkit::Result;

/// Roll back applied migrations, newest first, each with its down (`NNN_x.down.sql`
/// beside the file, or a `-- migrate:down` section in it).
#[derive(Debug, Parser)]
#[command(
    name = "rollback",
    version,
    after_help = "Examples:
  rollback                      # the newest applied migration (asks first)
  rollback --steps 3
  rollback --to 9               # everything above 9
  rollback --dry-run            # what would run; changes nothing
  rollback --yes --backup-first"
)]
struct Args {
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
    /// Roll back the newest N applied migrations [default: 1].
    #[arg(long, value_name = "N", conflicts_with = "to")]
    steps: Option<usize>,
    /// Roll back every applied migration above this version.
    #[arg(long, value_name = "VERSION")]
    to: Option<u64>,
    /// Check every down that would run and say what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Take a backup (plain SQL under `backups/`) before rolling back.
    #[arg(long)]
    backup_first: bool,
    /// `lock_timeout` for the downs' statements, in seconds.
    #[arg(long, value_name = "SECS", env = "DBKIT_DDL_LOCK_TIMEOUT")]
    ddl_lock_timeout: Option<f64>,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    cli::install_interrupts();
    args.output.init_color();
    cli::conclude(run(&args), args.output.format)
}

fn run(args: &Args) -> Result<ExitCode> {
    let text = args.output.format == Format::Text;
    let layout = Layout::new(&args.dir.dir);
    let catalog = layout.catalog()?;
    let guarded = !args.dry_run;
    if guarded {
        args.guard.precheck(
            "roll back",
            &args.connection,
            None,
            Requirement::LocalDevelopment,
        )?;
    }
    let mut target = args.connection.open(&layout)?;
    let database = target.settings.masked().to_string();
    let selection = Selection {
        steps: args.steps,
        to: args.to,
    };
    let history = dbkit::apply::history::read(&mut target.client, &database)?;
    let planned = rollback::plan(&catalog, history.as_ref(), &database, selection)?;
    if guarded && !planned.is_empty() {
        args.guard
            .check("roll back", &mut target, Requirement::LocalDevelopment)?;
        if !args
            .guard
            .confirm(&report::rollback::question(&database, &planned))?
        {
            eprintln!("rollback cancelled: nothing was changed");
            return Ok(ExitCode::from(exit::ERROR));
        }
    }
    let backup = match args.backup_first && guarded && !planned.is_empty() {
        true => Some(cli::show::backup_first(&mut target, &layout, text)?),
        false => None,
    };
    let options = RollbackOptions {
        selection,
        dry_run: args.dry_run,
        lock_timeout: args.lock.timeout(),
        ddl_lock_timeout: args.ddl_lock_timeout.map(Duration::from_secs_f64),
        agreed: Some(planned.iter().map(|p| p.version).collect()),
    };
    let width = planned.iter().map(|p| p.file.len()).max().unwrap_or(0);
    let mut step = |done: &rollback::RolledBack| {
        if text {
            cli::print(|w| report::rollback::step(w, done, args.dry_run, width));
        }
    };
    let bar = cli::progress_bar(Unit::Time);
    let done = rollback::rollback(
        &mut target.client,
        &catalog,
        &database,
        &options,
        &bar,
        &mut step,
    )?;
    cli::print(|w| match text {
        true => report::rollback::summary(w, &done),
        false => report::json(
            w,
            &serde_json::json!({ "rollback": done, "backup": backup }),
        ),
    });
    Ok(ExitCode::from(exit::OK))
}
