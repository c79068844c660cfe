//! `load-test-data`: load reference data, then fixtures, into a database whose schema is
//! applied.

use std::process::ExitCode;

use clap::Parser;
use dbkit::cli::{self, show, ConnectionArgs, DirArgs, Format, LockArgs, OutputArgs, SafetyArgs};
use dbkit::ops::guard::Requirement;
use dbkit::ops::seed::LoadOptions;
use dbkit::project::layout::Layout;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Load `seed/reference/` then `seed/fixtures/`, each file in its own transaction, into
/// a database whose schema is up to date (holding the migration lock, so no migration
/// runs meanwhile). It never asks: fixtures only add rows, and production is refused.
#[derive(Debug, Parser)]
#[command(
    name = "load-test-data",
    version,
    after_help = "Examples:
  load-test-data                       # reference data, then fixtures
  load-test-data --reference-only      # lookup data only: allowed on any database
  load-test-data --format json         # every file's rows and time, for programs
  load-test-data --confirm-database demo   # fixtures into `demo`, marked as production"
)]
struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    safety: SafetyArgs,
    #[command(flatten)]
    lock: LockArgs,

    /// Load only the reference data (`seed/reference/`), which is production-safe.
    /// Without it, fixtures follow, and a database marked as production is refused.
    #[arg(long)]
    reference_only: bool,
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
    let mut target = args.connection.open(&layout)?;
    let database = target.settings.masked().to_string();
    if !args.reference_only {
        let action = "load fixtures into";
        args.safety
            .check(action, &mut target, Requirement::NotProduction)?;
    }
    let options = LoadOptions {
        reference_only: args.reference_only,
        lock_timeout: args.lock.timeout(),
    };
    let client = &mut target.client;
    let report = show::load_seed(client, &catalog, &options, &database, text)?;
    if !text {
        cli::print(|w| report::json(w, &report));
    }
    Ok(ExitCode::from(exit::OK))
}
