//! `reset`: drop and recreate a development database's schemas; with `--reapply`, the
//! whole dev loop (reset, apply-schema, load-test-data).

use std::process::ExitCode;

use clap::Parser;
use dbkit::cli::{self, show, ConnectionArgs, DirArgs, Format, GuardArgs, LockArgs, OutputArgs};
use dbkit::ops::guard::{self, Requirement};
use dbkit::ops::{fresh, reset};
use dbkit::project::layout::Layout;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Drop the application schemas and dbkit's history, so the database is as new.
#[derive(Debug, Parser)]
#[command(
    name = "reset",
    version,
    after_help = "Examples:
  reset                                   # asks first; local, non-production databases only
  reset --yes --reapply                   # the dev loop: reset, apply the schema, load test data
  reset --backup-first
  reset --schema public --schema storage
  reset -D postgres://app@staging.example.com/app --confirm-database app"
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

    /// An application schema to drop (repeatable, or `DBKIT_SCHEMAS=a,b`); `public` is
    /// recreated empty, others are left for the migrations to create.
    #[arg(
        long = "schema",
        value_name = "NAME",
        env = "DBKIT_SCHEMAS",
        value_delimiter = ',',
        default_value = "public"
    )]
    schemas: Vec<String>,
    /// Take a backup (plain SQL under `backups/`) before dropping anything.
    #[arg(long)]
    backup_first: bool,
    /// Then apply the schema, load the test data and run the validation checks: the
    /// whole dev loop (exit 5 when a check fails). Where it can, the database is
    /// replaced by a copy of a template built once per content of the database folder
    /// (see the README); the first run builds it.
    #[arg(long)]
    reapply: bool,
    /// With `--reapply`: replay everything instead of copying the template.
    #[arg(long, requires = "reapply")]
    no_template: bool,
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
    // A folder that does not read is found before anything is dropped.
    let catalog = if args.reapply {
        Some(layout.catalog()?)
    } else {
        None
    };
    args.guard.precheck(
        "reset",
        &args.connection,
        None,
        Requirement::LocalDevelopment,
    )?;
    let mut target = args.connection.open(&layout)?;
    let database = target.settings.masked().to_string();
    args.guard
        .check("reset", &mut target, Requirement::LocalDevelopment)?;
    guard::check_managed(
        "reset",
        &mut target.client,
        &target.settings,
        &args.schemas,
        args.guard.confirm_database.as_deref(),
    )?;
    let plan = reset::plan(&mut target.client, &database, &args.schemas)?;
    let question = format!("Reset {database}: drop {}?", plan.describe());
    if !args.guard.confirm(&question)? {
        eprintln!("reset cancelled: nothing was changed");
        return Ok(ExitCode::from(exit::ERROR));
    }
    let backup = match args.backup_first {
        true => Some(show::backup_first(&mut target, &layout, text)?),
        false => None,
    };
    // Where a copy of the template may replace the database: the server connection to
    // copy it with, and to keep one after a slow replay.
    let mut copier = None;
    if let (Some(catalog), false) = (&catalog, args.no_template) {
        match fresh::obstacle(&mut target.client, &args.schemas, &database)? {
            None => {
                let (mut admin, via) =
                    dbkit::pg::create::maintenance(&target.settings, Default::default())?;
                let server = target.settings.with_dbname(&via);
                if let Some(ready) = fresh::existing(&mut admin, &server, catalog, cli::notice)? {
                    if ready.worth_copying() {
                        let dbname = target.settings.dbname().to_string();
                        drop(target);
                        return from_template(
                            (admin, server),
                            catalog,
                            ready,
                            (&database, &dbname, &plan, backup),
                            text,
                        );
                    }
                    cli::notice(&format!(
                        "replaying: a fresh build takes {} here, less than copying the template does (`DBKIT_TEMPLATE_MIN_MS` sets when a copy is worth it)",
                        report::duration(ready.recorded_build_ms)
                    ));
                }
                copier = Some((admin, server));
            }
            Some(why) => cli::notice(&format!("replaying instead of copying the template: {why}")),
        }
    }
    let started = std::time::Instant::now();
    let done = reset::reset(&mut target.client, &database, &plan, args.lock.timeout())?;
    if text {
        cli::print(|w| report::operations::reset(w, &database, &plan, &done));
    }
    let rebuilt = match &catalog {
        Some(catalog) => Some(show::rebuild(
            &mut target,
            catalog,
            args.lock.timeout(),
            text,
        )?),
        None => None,
    };
    let replay_ms = started.elapsed().as_secs_f64() * 1000.0;
    // A replay slower than a copy: a template is built, so the next reset copies it.
    let mut kept = None;
    if let (Some((mut admin, server)), Some(catalog), Some(r)) = (copier, &catalog, &rebuilt) {
        if r.validation.failed() == 0 && replay_ms > fresh::copy_threshold() {
            kept = fresh::keep_as_template(&mut admin, &server, catalog, cli::notice)?;
            if let (true, Some(name)) = (text, &kept) {
                cli::print(|w| {
                    writeln!(
                        w,
                        "Built template `{name}`: the next `reset --reapply` copies it instead of replaying ({} now)",
                        report::duration(replay_ms)
                    )
                });
            }
        }
    }
    if !text {
        let (apply, load, validation) = match &rebuilt {
            Some(r) => (Some(&r.apply), Some(&r.load), Some(&r.validation)),
            None => (None, None, None),
        };
        cli::print(|w| {
            report::json(
                w,
                &serde_json::json!({
                    "database": database,
                    "reset": plan,
                    "dropped": done,
                    "backup": backup,
                    "apply": apply,
                    "load": load,
                    "validation": validation,
                    "kept_template": kept,
                }),
            )
        });
    }
    Ok(show::checked(rebuilt.as_ref().map(|r| &r.validation)))
}

/// `--reapply` by copying the template: the database dropped and a copy of the
/// template (schema, reference data, fixtures, checks passed) put in its place.
fn from_template(
    (mut admin, server): (
        postgres::Client,
        dbkit::project::settings::ConnectionSettings,
    ),
    catalog: &dbkit::project::layout::Catalog,
    ready: fresh::Ready,
    (database, dbname, plan, backup): (
        &str,
        &str,
        &reset::ResetPlan,
        Option<dbkit::ops::backup::Backup>,
    ),
    text: bool,
) -> Result<ExitCode> {
    let replaced = fresh::replace(&mut admin, &server, catalog, ready, dbname, cli::notice)?;
    if text {
        cli::print(|w| report::operations::from_template(w, database, &replaced));
    } else {
        cli::print(|w| {
            report::json(
                w,
                &serde_json::json!({
                    "database": database,
                    "reset": plan,
                    "backup": backup,
                    "template": replaced,
                }),
            )
        });
    }
    Ok(ExitCode::from(exit::OK))
}
