//! `check-drift`: compare a live database with what its snapshot and migrations build
//! (or with another database), and close the gap either way: `--capture` writes the
//! drift as the next migration, `--repair` prints (and with `--apply` runs) the SQL that
//! takes the database back.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use colored::Colorize;
use dbkit::apply::history;
use dbkit::cli::{self, show, ConnectionArgs, DirArgs, Format, GuardArgs, LockArgs, OutputArgs};
use dbkit::drift::{self, capture, repair, replay, Compared, Db, Options, Report};
use dbkit::ops::guard::Requirement;
use dbkit::pg::compare::Scope;
use dbkit::pg::connect::{connect, ConnectOptions};
use dbkit::pg::dump::{PgDump, ServerVersion};
use dbkit::project::layout::Layout;
use dbkit::project::settings::ConnectionSettings;
use dbkit::report::{self, exit};
use dbkit::{Error, Result};

/// Compare the configured database with what its snapshot and applied migrations build
/// (replayed in a throwaway database), or with another database, and report every object
/// that differs, grouped by kind. Reads only, unless `--capture` (writes a migration
/// file) or `--repair --apply` (changes the database) is given.
#[derive(Debug, Parser)]
#[command(
    name = "check-drift",
    version,
    after_help = "Examples:
  check-drift                              # the database vs its snapshot + applied migrations
  check-drift --format json                # for CI: exit 0 no drift, 7 drift found
  check-drift --against postgres://app@staging/app   # two live databases
  check-drift --snapshots                  # every snapshot vs a replay of the migrations it claims
  check-drift --capture \"hotfix indexes\"   # the drift as the next migration, proven by a replay
  check-drift --repair > repair.sql        # the SQL that takes the database back to the files
  check-drift --repair --apply --yes       # run it (additive only unless --allow-destructive)"
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

    /// Compare with this database instead of the files (URL or conninfo); `--repair`
    /// then makes the configured database like this one.
    #[arg(long, value_name = "URL", conflicts_with_all = ["snapshots", "capture"])]
    against: Option<String>,
    /// Check every snapshot in `versions/`: its body against a replay of the migrations
    /// its header says it holds.
    #[arg(long, conflicts_with_all = ["capture", "repair"])]
    snapshots: bool,
    /// Write the next migration, named after this description, with the SQL that turns
    /// the files' schema into the database's, after proving it on a replay.
    #[arg(long, value_name = "DESCRIPTION", conflicts_with = "repair")]
    capture: Option<String>,
    /// Print the SQL that takes the database back to the files (or the `--against`
    /// database): additive statements, and drops and type changes only with
    /// `--allow-destructive`.
    #[arg(long)]
    repair: bool,
    /// With `--repair`: run it, under the migration lock, in one transaction that
    /// commits only if the database then matches.
    #[arg(long, requires = "repair")]
    apply: bool,
    /// With `--repair`: also drop what the files do not have and change column types
    /// (data may be lost; `--apply` then needs `--backup-first`). `DBKIT_ALLOW_DESTRUCTIVE=1`
    /// says the same (`0`, `false`, `no`, `off` or empty do not).
    #[arg(
        long,
        env = "DBKIT_ALLOW_DESTRUCTIVE",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    allow_destructive: bool,
    /// With `--repair --apply`: back up the database (plain SQL under `backups/`) first.
    #[arg(long, requires = "apply")]
    backup_first: bool,
    /// Compare owners and privileges too.
    #[arg(long)]
    privileges: bool,
    /// Replay the files even when a template of them is there (and keep none). Without
    /// it, a replay slower than a copy is kept as a template on a local server, and the
    /// next check copies it.
    #[arg(long, conflicts_with = "against")]
    no_template: bool,
    /// Only this schema (repeatable).
    #[arg(long = "schema", value_name = "NAME")]
    schemas: Vec<String>,
    /// Leave this schema out (repeatable).
    #[arg(long = "exclude-schema", value_name = "NAME")]
    exclude_schemas: Vec<String>,
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
    let scope = Scope {
        schemas: args.schemas.clone(),
        exclude_schemas: args.exclude_schemas.clone(),
        privileges: args.privileges,
    };
    if args.snapshots {
        return snapshots(args, &layout, &scope, started);
    }
    let mut target = args.connection.open(&layout)?;
    let database = target.settings.masked().to_string();
    let pg_dump = pg_dump(&mut target.client, &database)?;
    let options = Options {
        scope,
        pg_dump: Some(pg_dump),
        expected_is_throwaway: args.against.is_none(),
    };

    // The other side: another database, or the files replayed.
    let (other_settings, scratch, files) = match &args.against {
        Some(url) => (
            ConnectionSettings::parse(url, args.connection.os_user.as_deref())?,
            None,
            None,
        ),
        None => {
            let catalog = layout.catalog()?;
            let history = history::read(&mut target.client, &database)?
                .filter(|h| !h.is_empty())
                .ok_or_else(|| Error::DriftRefused {
                    reason: format!(
                        "{database} has no dbkit history, so the files cannot say what it should hold: build it with apply-schema, or record where it stands with `apply-schema --baseline VERSION`"
                    ),
                })?;
            let files = replay::files_of(&catalog, &history, &database)?;
            // The files built (or copied from the schema template they built before).
            let built = show::schema_database(
                &args.connection,
                &layout,
                &files.catalog,
                "drift",
                !args.no_template,
            )?;
            (
                built.scratch.settings.clone(),
                Some(built),
                Some((files, catalog, history)),
            )
        }
    };
    let other_shown = other_settings.masked().to_string();
    let mut other = connect(&other_settings, ConnectOptions::default())?;
    let mut compared = drift::compare(
        Db {
            client: &mut target.client,
            settings: &target.settings,
            shown: database.clone(),
        },
        Db {
            client: &mut other,
            settings: &other_settings,
            shown: other_shown.clone(),
        },
        &options,
    )?;
    let (compared_with, expected_label) = match &files {
        Some((files, _, _)) => (
            format!("the files ({})", files.shown),
            "the files".to_string(),
        ),
        None => (other_shown.clone(), other_shown.clone()),
    };
    let mut notes = files
        .as_ref()
        .map(|(f, _, _)| f.notes.clone())
        .unwrap_or_default();
    notes.append(&mut compared.notes);
    if let Some((files, _, _)) = &files {
        drift::last_touched(&mut compared.findings, &files.catalog);
    }
    let mut report = Report {
        database: database.clone(),
        compared_with,
        expected_label,
        database_label: "the database".into(),
        objects_compared: compared.items,
        findings: compared.findings.clone(),
        notes,
        duration_ms: 0.0,
        repair: None,
        captured: Vec::new(),
        replay: scratch.as_ref().map(|b| b.made()),
    };

    if let Some(description) = &args.capture {
        let (files, catalog, history) = files.as_ref().expect("capture compares with the files");
        if !compared.is_clean() {
            let request = capture::Request {
                layout: &layout,
                files,
                recorded: history
                    .migrations
                    .iter()
                    .map(|(v, r)| (*v, r.file.clone()))
                    .collect(),
                keeps_downs: !catalog.downs.is_empty(),
                description,
            };
            let captured = capture::capture(
                Db {
                    client: &mut target.client,
                    settings: &target.settings,
                    shown: database.clone(),
                },
                Db {
                    client: &mut other,
                    settings: &other_settings,
                    shown: other_shown.clone(),
                },
                (&compared, &options),
                &request,
                &mut |purpose| show::scratch_database(&args.connection, &layout, purpose),
            )?;
            captured.warnings.iter().for_each(|w| cli::warn(w));
            report.captured = captured
                .paths
                .into_iter()
                .map(|p| cli::relative_to_cwd(p).display().to_string())
                .collect();
        }
    } else if args.repair && !compared.is_clean() {
        report.repair = Some(repair(
            args,
            &layout,
            &mut target,
            (&mut other, &other_shown),
            &compared,
            &options,
            text,
        )?);
    }
    drop(other);
    // The files' side, only read, is kept as the next check's spare copy.
    if let Some(built) = scratch {
        built.finish();
    }
    report.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(finish(args, &report, files.is_some(), text))
}

/// Prints the report (and the repair's SQL) and returns the exit code: 7 while drift
/// remains.
fn finish(args: &Args, report: &Report, files: bool, text: bool) -> ExitCode {
    let repaired = report
        .repair
        .as_ref()
        .is_some_and(|r| r.applied && r.left_out.is_empty() && r.unwritten.is_empty());
    let drift_left = !report.findings.is_empty() && report.captured.is_empty() && !repaired;
    if !text {
        cli::print(|w| report::json(w, report));
    } else if let Some(repair) = report.repair.as_ref().filter(|r| !r.applied) {
        // The SQL on stdout (to redirect), the report on stderr.
        let _ = report::drift::report(&mut std::io::stderr(), report);
        cli::print(|w| write!(w, "{}", repair.sql));
        if !repair.left_out.is_empty() {
            cli::warn(&format!(
                "{} destructive statement(s) left out (commented at the end): pass --allow-destructive to include them",
                repair.left_out.len()
            ));
        }
    } else {
        cli::print(|w| {
            report::drift::report(w, report)?;
            if let Some(repair) = &report.repair {
                writeln!(w, "Repaired: ran {} statement(s) in one transaction and checked the result before committing", repair.steps.len())?;
                if let Some(backup) = &repair.backup {
                    writeln!(w, "Backup taken first: {backup}")?;
                }
                if !repair.remaining.is_empty() {
                    writeln!(
                        w,
                        "Still different ({} left out as destructive: --allow-destructive; {} dbkit does not write):",
                        repair.left_out.len(),
                        repair.unwritten.len()
                    )?;
                    for finding in &repair.remaining {
                        writeln!(w, "  {}", drift::phrase(finding, "the files"))?;
                    }
                }
            }
            for file in &report.captured {
                writeln!(w, "{} wrote {file}", "✓".green())?;
            }
            if !report.captured.is_empty() {
                writeln!(w, "Proven: a replay of the files with it matches the database. The database already has the change, so record it there instead of running it: apply-schema --mark-applied {}", captured_version(&report.captured[0]))?;
            } else if drift_left && report.repair.is_none() && !args.repair {
                report::drift::next_steps(w, files)?;
            }
            Ok(())
        });
    }
    ExitCode::from(if drift_left { exit::DRIFT } else { exit::OK })
}

fn captured_version(path: &str) -> String {
    let name = std::path::Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    dbkit::project::migrations::parse_name(&name)
        .map(|(v, _, _)| v.to_string())
        .unwrap_or(name)
}

/// pg_dump for the server, for the comparison of kinds dbkit does not model.
fn pg_dump(client: &mut postgres::Client, database: &str) -> Result<PgDump> {
    let server = ServerVersion::query(client, database)?;
    PgDump::for_server(&cli::finder(), &server)
}

/// `--repair`: the script from the database to the expected side; with `--apply`, run
/// behind the guard, the question and (with destructive steps) the backup.
fn repair(
    args: &Args,
    layout: &Layout,
    target: &mut cli::Target,
    expected: (&mut postgres::Client, &str),
    compared: &Compared,
    options: &Options,
    text: bool,
) -> Result<drift::Repair> {
    let database = target.settings.masked().to_string();
    let (expected_client, expected_shown) = expected;
    let live_facts = drift::facts::read(&mut target.client, &database)?;
    let expected_facts = drift::facts::read(expected_client, expected_shown)?;
    let mut planned = repair::plan(
        compared,
        &live_facts,
        &expected_facts,
        args.allow_destructive,
        &database,
    );
    if !args.apply {
        return Ok(planned);
    }
    let destructive = repair::destructive(&planned);
    if destructive > 0 && !args.backup_first {
        return Err(Error::Usage(format!(
            "the repair of {database} drops or retypes {destructive} object(s); with --allow-destructive, --apply needs --backup-first too, so what it drops can be restored"
        )));
    }
    args.guard
        .precheck("repair", &args.connection, None, Requirement::NotProduction)?;
    args.guard
        .check("repair", target, Requirement::NotProduction)?;
    if planned.steps.is_empty() {
        return Ok(planned);
    }
    let question = format!(
        "Repair {database}: run {} statement(s)?",
        planned.steps.len()
    );
    if !args.guard.confirm(&question)? {
        return Err(Error::Usage("repair cancelled: nothing was changed".into()));
    }
    if args.backup_first {
        let made = show::backup_first(target, layout, text)?;
        planned.backup = Some(made.path.display().to_string());
    }
    let remaining = repair::run(
        &mut target.client,
        &database,
        (args.lock.timeout(), &cli::notice),
        &planned,
        compared,
        &options.scope,
        repair::Expected {
            client: expected_client,
            shown: expected_shown,
            throwaway: options.expected_is_throwaway,
        },
    )?;
    planned.applied = true;
    planned.remaining = remaining;
    Ok(planned)
}

/// `--snapshots`: every snapshot proven against the migrations it claims (see
/// `drift::snapshots`), shown.
fn snapshots(args: &Args, layout: &Layout, scope: &Scope, started: Instant) -> Result<ExitCode> {
    let text = args.output.format == Format::Text;
    let catalog = layout.catalog()?;
    if catalog.snapshots.is_empty() {
        return Err(Error::DriftRefused {
            reason: format!(
                "`{}` holds no snapshots to check",
                layout.versions().display()
            ),
        });
    }
    let checked = drift::snapshots::check(&catalog, scope, &cli::finder(), &mut |purpose| {
        show::scratch_database(&args.connection, layout, purpose)
    })?;
    let differs = checked.iter().any(|c| c.status == "differs");
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    if text {
        let record =
            cli::relative_to_cwd(layout.versions().join(dbkit::project::snapshot::VERIFIED));
        cli::print(|w| report::drift::snapshots(w, &checked, duration_ms, &record));
    } else {
        cli::print(|w| {
            report::json(
                w,
                &serde_json::json!({ "snapshots": checked, "duration_ms": duration_ms }),
            )
        });
    }
    Ok(ExitCode::from(if differs { exit::DRIFT } else { exit::OK }))
}
