//! `verify-migrations`: prove in a throwaway database that each down undoes its up.

use std::process::ExitCode;

use clap::Parser;
use dbkit::apply::verify::{self, VerifyOptions};
use dbkit::cli::{self, ConnectionArgs, DirArgs, Format, OutputArgs};
use dbkit::ops::seed::{self, LoadOptions};
use dbkit::project::layout::Layout;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Prove that every down undoes its up: in a throwaway database built like a fresh
/// apply, each migration goes up, down and up again, and the catalog is compared after
/// each step. Nothing is changed in the configured database.
#[derive(Debug, Parser)]
#[command(
    name = "verify-migrations",
    version,
    after_help = "Examples:
  verify-migrations                 # every migration, in a throwaway database
  verify-migrations --from 10       # only from migration 10 (built up to it first)
  verify-migrations --with-data     # then down again from the newest, over the seed data
  verify-migrations --require-down --format json   # CI: a migration without a down fails too"
)]
struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Only migrations from this version on.
    #[arg(long, value_name = "VERSION")]
    from: Option<u64>,
    /// After the step-by-step pass, load the reference data and fixtures and walk down
    /// from the newest migration (down, up, down each), so a down that fails on real
    /// rows is found.
    #[arg(long)]
    with_data: bool,
    /// A migration without a down is a failure (exit 8), not a note.
    #[arg(long)]
    require_down: bool,
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
    let scratch = cli::show::scratch_database(&args.connection, &layout, "verify")?;
    let mut client = dbkit::pg::connect::connect(&scratch.settings, Default::default())?;
    let database = scratch.settings.masked().to_string();
    let count = catalog
        .migrations
        .iter()
        .filter(|m| args.from.is_none_or(|from| m.version() >= from))
        .count();
    let width = catalog
        .migrations
        .iter()
        .map(|m| m.name().len())
        .max()
        .unwrap_or(0);
    let mut step = |checked: &verify::Checked| {
        if text {
            cli::print(|w| report::verify::step(w, checked, width));
        }
    };
    let mut load = |client: &mut postgres::Client| {
        let options = LoadOptions::default();
        let meter = dbkit::meter::Silent;
        seed::load(client, &catalog, &options, &database, &mut |_| {}, &meter).map(|_| ())
    };
    let options = VerifyOptions {
        from: args.from,
        with_data: args.with_data.then_some(&mut load as verify::LoadData<'_>),
    };
    if text {
        cli::print(|w| report::verify::start(w, count));
    }
    let verified = verify::verify(&mut client, &catalog, &database, options, &mut step)?;
    drop(client);
    drop(scratch);
    let failed =
        verified.problems() > 0 || (args.require_down && !verified.without_down().is_empty());
    cli::print(|w| match text {
        true => report::verify::summary(w, &verified, args.require_down),
        false => report::json(w, &verified),
    });
    Ok(ExitCode::from(if failed {
        exit::NOT_REVERSIBLE
    } else {
        exit::OK
    }))
}
