//! `test-database`: fresh seeded databases for a test run, cloned from a template that
//! is built once per content of the database folder.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use dbkit::cli::{self, ConnectionArgs, DirArgs, Format, OutputArgs, SafetyArgs};
use dbkit::ops::fresh;
use dbkit::ops::guard::Requirement;
use dbkit::project::layout::Layout;
use dbkit::project::settings::url_with_dbname;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Make fresh databases holding the schema, reference data and fixtures, for tests:
/// the first run builds a template database (`dbkit_tpl_<project>_<key>`, built again
/// whenever a file changes); every database after that is a copy of it, made in
/// milliseconds.
/// Prints one connection string per line. Local, non-production servers only.
#[derive(Debug, Parser)]
#[command(
    name = "test-database",
    version,
    after_help = "Examples:
  test-database                      # one fresh seeded database; prints its URL
  test-database --count 8            # eight, for a parallel test run
  test-database --count 8 --format json
  test-database --drop-all           # drops this project's test databases
  test-database --drop-all --templates   # and its templates and their spare copies"
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
    /// How many databases to make.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    count: u32,
    /// Drop this project's test databases on the server instead (every run's); the
    /// templates stay, to make the next ones fast.
    #[arg(long, conflicts_with = "count")]
    drop_all: bool,
    /// With `--drop-all`: also drop the project's templates and their spare copies
    /// (seeded ones, and the schema ones check-drift and create-phase-snapshot keep),
    /// to give the disk back; the next run builds what it needs again.
    #[arg(long, requires = "drop_all")]
    templates: bool,
}

/// One database made.
#[derive(Debug, serde::Serialize)]
struct Made {
    name: String,
    url: String,
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
    let text = args.output.format == Format::Text;
    let layout = Layout::new(&args.dir.dir);
    args.safety.precheck(
        "test-database",
        &args.connection,
        None,
        Requirement::LocalDevelopment,
    )?;
    let catalog = layout.catalog()?;
    let prefix = fresh::test_prefix(&catalog);
    let mut target = args.connection.open(&layout)?;
    let database = target.settings.masked().to_string();
    args.safety
        .check("test-database", &mut target, Requirement::LocalDevelopment)?;
    let url = |name: &str| -> Result<String> {
        Ok(match args.connection.url() {
            Some(url) => url_with_dbname(url, name),
            None => cli::project_cluster(&layout)?.conninfo(name),
        })
    };
    if args.drop_all {
        let dropped = drop_all(&mut target.client, &prefix, &database)?;
        let templates = match args.templates {
            true => fresh::drop_templates(&mut target.client, &catalog, &database)?,
            false => Vec::new(),
        };
        match text {
            true => cli::print(|w| {
                write!(w, "Dropped {} test database(s)", dropped.len())?;
                if args.templates {
                    write!(w, " and {} template(s) and spare copies", templates.len())?;
                }
                writeln!(w, " on {database}")
            }),
            false => cli::print(|w| {
                report::json(
                    w,
                    &serde_json::json!({ "dropped": dropped, "templates_dropped": templates }),
                )
            }),
        }
        return Ok(ExitCode::from(exit::OK));
    }
    let mut ready = fresh::ensure(&mut target.client, &target.settings, &catalog, cli::notice)?;
    let cloning = Instant::now();
    let names: Vec<String> = (0..args.count)
        .map(|i| format!("{prefix}{}_{i}", std::process::id()))
        .collect();
    let stopped = |made: usize| {
        format!(
            "stopped after {made} of {} test database(s); they stay (test-database --drop-all drops them)",
            args.count
        )
    };
    // The first copy is fingerprinted (a template changed by hand is built again); the
    // rest are made several at once.
    dbkit::pg::interrupt::check(|| stopped(0))?;
    fresh::clone(
        &mut target.client,
        &target.settings,
        &catalog,
        &mut ready,
        &names[0],
        true,
        cli::notice,
    )?;
    let (rest, failed) =
        fresh::clone_all(&target.settings, &ready, &names[1..], fresh::CLONE_WORKERS);
    let made: Vec<Made> = std::iter::once(names[0].clone())
        .chain(rest)
        .map(|name| {
            Ok(Made {
                url: url(&name)?,
                name,
            })
        })
        .collect::<Result<_>>()?;
    // Stopped by an interrupt, the copy it cancelled is not the error.
    dbkit::pg::interrupt::check(|| stopped(made.len()))?;
    if let Some(e) = failed {
        return Err(e);
    }
    let clone_ms = cloning.elapsed().as_secs_f64() * 1000.0;
    let total_ms = started.elapsed().as_secs_f64() * 1000.0;
    if text {
        cli::print(|w| {
            for m in &made {
                writeln!(w, "{}", m.url)?;
            }
            Ok(())
        });
        let how = match ready.build_ms {
            Some(ms) => format!("built now in {}", report::duration(ms)),
            None => "already built".to_string(),
        };
        eprintln!(
            "{} test database(s) from template `{}` ({how}) in {} ({:.1} ms each); drop them with `test-database --drop-all`",
            made.len(),
            ready.template,
            report::duration(total_ms),
            clone_ms / made.len() as f64
        );
    } else {
        cli::print(|w| {
            report::json(
                w,
                &serde_json::json!({
                    "template": ready,
                    "databases": made,
                    "clone_ms": clone_ms,
                    "ms_per_database": clone_ms / made.len() as f64,
                    "duration_ms": total_ms,
                }),
            )
        });
    }
    Ok(ExitCode::from(exit::OK))
}

/// Drops the project's test databases (their names start with `prefix`) that this
/// role may drop; returns their names.
fn drop_all(client: &mut postgres::Client, prefix: &str, database: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT datname::text FROM pg_database
              WHERE starts_with(datname::text, $1) AND pg_has_role(current_user, datdba, 'MEMBER')
              ORDER BY 1",
            &[&prefix],
        )
        .map_err(dbkit::pg::connect::query_error(
            "listing test databases",
            database,
        ))?;
    let mut dropped = Vec::new();
    for name in rows.iter().map(|r| r.get::<_, String>(0)) {
        dbkit::pg::scratch::drop_database(client, &name, database)?;
        dropped.push(name);
    }
    Ok(dropped)
}
