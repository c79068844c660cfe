//! `apply-schema`: bring a database up to date with the database folder.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dbkit::apply::plan::PlanOptions;
use dbkit::apply::run::ApplyOptions;
use dbkit::apply::status;
use dbkit::cli::{self, show, ConnectionArgs, DirArgs, Format, LockArgs, OutputArgs};
use dbkit::project::layout::Layout;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Load the newest snapshot into a fresh database, then apply pending migrations.
#[derive(Debug, Parser)]
#[command(
    name = "apply-schema",
    version,
    after_help = "Examples:
  apply-schema                                  # local PostgreSQL under .dbkit/ (no DATABASE_URL)
  apply-schema -D postgres://app@db.example.com/app?sslmode=require
  apply-schema --status --format json           # exit 3 when migrations are pending
  apply-schema --dry-run                        # what would run; changes nothing"
)]
struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,
    #[command(flatten)]
    output: OutputArgs,

    /// Show every snapshot and migration with its state, and change nothing. Exit code 0
    /// when up to date, 3 when migrations are pending, 4 when some need attention.
    #[arg(long, conflicts_with = "dry_run")]
    status: bool,
    /// Show what would be loaded, recorded and applied, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// On a non-empty database without dbkit history: where it stands, a migration
    /// number (`12`) or a snapshot (`v2.0`). Those are recorded as applied; later
    /// migrations run.
    #[arg(long, value_name = "VERSION")]
    baseline: Option<String>,
    /// Apply nothing above this migration version (validation is then skipped unless
    /// `--validate` is given: its checks are written for the whole schema).
    #[arg(long, value_name = "VERSION")]
    target: Option<u64>,
    /// Accept the edit of an applied migration (recorded with the old checksum), and stop:
    /// the edit itself is not run, and nothing else is applied.
    #[arg(long, value_name = "VERSION")]
    accept_checksum: Vec<u64>,
    /// Record a migration as applied without running it (e.g. finished by hand), and
    /// stop: nothing else is applied.
    #[arg(long, value_name = "VERSION")]
    mark_applied: Vec<u64>,
    /// Run again a file that failed part-way outside a transaction.
    #[arg(long)]
    retry_failed: bool,
    /// Apply pending migrations older than the newest applied one.
    #[arg(long)]
    out_of_order: bool,
    #[command(flatten)]
    lock: LockArgs,
    /// Give up on a migration statement that waits this long for another session's lock
    /// (sets `lock_timeout` for the migrations), instead of queueing every query on the
    /// table behind it. Off unless given.
    #[arg(long, value_name = "SECS", env = "DBKIT_DDL_LOCK_TIMEOUT")]
    ddl_lock_timeout: Option<f64>,
    /// Skip `sql/validation/*.sql` after applying.
    #[arg(long, conflicts_with = "validate")]
    no_validate: bool,
    /// Run `sql/validation/*.sql` even when nothing was applied.
    #[arg(long)]
    validate: bool,
    /// Mark the database as this environment (`production`, `staging`, ...; `""`
    /// removes the mark), stored in the database as `dbkit.environment`. reset,
    /// restore --replace and fixture loading refuse a database marked `production`.
    /// Records the mark and stops: nothing is applied.
    #[arg(long, value_name = "NAME")]
    mark_environment: Option<String>,
    /// Back up the database (plain SQL, schema and data, under `backups/`) before
    /// applying anything; skipped when nothing is pending. A failed backup applies
    /// nothing.
    #[arg(long, conflicts_with = "status")]
    backup_first: bool,
    /// Create the database first when it does not exist, as `create-database` does.
    #[arg(long, conflicts_with_all = ["status", "dry_run"])]
    create: bool,
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
    if args.create {
        let created = args
            .connection
            .create_database(&layout, &Default::default())?;
        if text && created.created {
            cli::print(|w| report::operations::created_database(w, &created));
        }
    }
    let (catalog, target) = if args.connection.url().is_some() {
        // Connecting takes as long as reading hundreds of files: do both at once.
        std::thread::scope(|scope| {
            let connecting = scope.spawn(|| args.connection.connect(&layout));
            let catalog = layout.catalog();
            (
                catalog,
                connecting.join().expect("connecting does not panic"),
            )
        })
    } else {
        // The local cluster is only started for a folder that reads cleanly.
        let catalog = layout.catalog()?;
        (Ok(catalog), args.connection.connect(&layout))
    };
    let catalog = catalog?;
    catalog.warnings.iter().for_each(|w| cli::warn(w));
    let mut target = target?;
    if let Some(note) = &target.local {
        eprintln!("{note}");
    }
    let database = target.settings.masked().to_string();
    if args.status {
        let status = status::read(&mut target.client, &catalog, &database)?;
        cli::print(|w| {
            if text {
                report::status(w, &status)
            } else {
                report::json(w, &status)
            }
        });
        let code = match (status.problems, status.work_to_do()) {
            (0, false) => exit::OK,
            (0, true) => exit::PENDING,
            _ => exit::ATTENTION,
        };
        return Ok(ExitCode::from(code));
    }
    let records_only = !args.mark_applied.is_empty() || !args.accept_checksum.is_empty();
    if let Some(environment) = &args.mark_environment {
        if !args.dry_run {
            dbkit::ops::guard::mark(&mut target.client, &target.settings, environment)?;
        }
        if text {
            let verb = if args.dry_run { "Would mark" } else { "Marked" };
            cli::print(|w| match environment.as_str() {
                "" if args.dry_run => {
                    writeln!(w, "Would remove the environment mark of {database}")
                }
                "" => writeln!(w, "Removed the environment mark of {database}"),
                name => writeln!(w, "{verb} {database} as `{name}`"),
            });
        }
        if !records_only {
            if text {
                cli::print(|w| {
                    writeln!(
                        w,
                        "Nothing was applied (`--mark-environment` only records the mark)."
                    )
                });
            }
            return Ok(ExitCode::from(exit::OK));
        }
    }
    if text {
        let verb = match (args.dry_run, records_only) {
            (true, _) => "Checking",
            (false, true) => "Recording in",
            (false, false) => "Applying",
        };
        cli::print(|w| writeln!(w, "{verb} `{}` → {database}", layout.root.display()));
    }
    let options = ApplyOptions {
        plan: PlanOptions {
            baseline: args.baseline.clone(),
            accept_checksums: args.accept_checksum.clone(),
            mark_applied: args.mark_applied.clone(),
            retry_failed: args.retry_failed,
            out_of_order: args.out_of_order,
            target: args.target,
        },
        dry_run: args.dry_run,
        lock_timeout: args.lock.timeout(),
        ddl_lock_timeout: args.ddl_lock_timeout.map(Duration::from_secs_f64),
        notice: Some(cli::notice),
        watch: Some(target.settings.clone()),
    };
    let backup = if args.backup_first {
        let first = dbkit::ops::backup::First {
            finder: &cli::finder(),
            dir: cli::relative_to_cwd(layout.project_root().join("backups")),
            created: chrono::Utc::now(),
            meter: &cli::progress_bar(dbkit::report::progress::Unit::Bytes),
        };
        let first = dbkit::ops::backup::before_apply(
            &mut target.client,
            &target.settings,
            &catalog,
            &options.plan,
            args.dry_run,
            &first,
        )?;
        first.warnings().iter().for_each(|w| cli::warn(w));
        if text {
            cli::print(|w| report::backup::first(w, &first));
        }
        Some(first)
    } else {
        None
    };
    let report = show::apply(&mut target.client, &catalog, &database, &options, text)?;
    let validate = !args.dry_run
        && !records_only
        && !args.no_validate
        && (args.validate || (!report.is_noop() && args.target.is_none()));
    let validation = if validate {
        Some(show::validate(
            &mut target.client,
            &catalog,
            &database,
            text,
        )?)
    } else {
        None
    };
    cli::print(|w| match text {
        true => report::apply_summary(w, &report),
        false => report::json(
            w,
            &serde_json::json!({ "apply": report, "validation": validation, "backup": backup }),
        ),
    });
    Ok(show::checked(validation.as_ref()))
}
