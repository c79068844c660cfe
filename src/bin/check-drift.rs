//! `check-drift`: compare a live database with what its snapshot and migrations build
//! (or with another database), and close the gap either way: `--capture` writes the
//! drift as the next migration, `--repair` prints (and with `--apply` runs) the SQL that
//! takes the database back.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use colored::Colorize;
use dbkit::apply::history;
use dbkit::cli::{self, show, ConnectionArgs, DirArgs, Format, GuardArgs, LockArgs, OutputArgs};
use dbkit::drift::{self, replay, Compared, Db, Options, Report};
use dbkit::ops::guard::Requirement;
use dbkit::pg::compare::Scope;
use dbkit::pg::connect::{connect, query_error, ConnectOptions};
use dbkit::pg::dump::{PgDump, ServerVersion};
use dbkit::project::layout::{Catalog, Layout, Migration};
use dbkit::project::scaffold;
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
    let mut options = Options {
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
            let scratch = show::scratch_database(&args.connection, &layout, "drift")?;
            (
                scratch.settings.clone(),
                Some(scratch),
                Some((files, catalog, history)),
            )
        }
    };
    let other_shown = other_settings.masked().to_string();
    let mut other = connect(&other_settings, ConnectOptions::default())?;
    if let Some((files, _, _)) = &files {
        replay::build(&mut other, &files.catalog, &other_shown)?;
    }
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
    };

    if let Some(description) = &args.capture {
        let (files, catalog, history) = files.as_ref().expect("capture compares with the files");
        if !compared.is_clean() {
            options.expected_is_throwaway = true;
            let captured = capture(
                args,
                &layout,
                &mut target,
                (&mut other, &other_shown),
                (&compared, &options),
                (files, catalog, history),
                description,
            )?;
            report.captured = captured;
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
    drop(scratch);
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

/// `--capture`: the script from the replay to the database, named as the next
/// migration, proven on a second replay (and its down, when the folder keeps downs,
/// proven to undo it), then written. Nothing is written unless both proofs hold.
fn capture(
    args: &Args,
    layout: &Layout,
    target: &mut cli::Target,
    replayed: (&mut postgres::Client, &str),
    (compared, options): (&Compared, &Options),
    (files, catalog, history): (&replay::Files, &Catalog, &history::History),
    description: &str,
) -> Result<Vec<String>> {
    let database = target.settings.masked().to_string();
    let (replay_client, replay_shown) = replayed;
    let live_facts = drift::facts::read(&mut target.client, &database)?;
    let replay_facts = drift::facts::read(replay_client, replay_shown)?;
    let up = drift::script(compared, &live_facts, &replay_facts, true);
    unclosed("the captured migration", &up.unwritten)?;
    let folder = layout.migrations();
    let named = scaffold::files(&folder)?;
    let style = scaffold::style(&named)?;
    let recorded: BTreeMap<u64, String> = history
        .migrations
        .iter()
        .map(|(v, r)| (*v, r.file.clone()))
        .collect();
    let version = scaffold::next_version(&style, &named, &recorded);
    let slug = scaffold::slug(description, style.word)?;
    let keeps_downs = !catalog.downs.is_empty();
    let (up_name, down_name) = scaffold::names(&style, version, &slug, keeps_downs);
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let header = vec![
        format!("{}: {}", up_name, description.trim()),
        format!("Captured by check-drift from {database} on {now}."),
        "The database already has this change: record it there with".to_string(),
        format!("`apply-schema --mark-applied {version}`; other databases apply it as usual."),
    ];
    let up_text = with_risks(layout, files, &up_name, &up.text(&header, false));

    // The down: the other direction, destructive steps included.
    let down = down_name.as_ref().map(|name| {
        let script = drift::script(compared, &live_facts, &replay_facts, false);
        let header = vec![format!(
            "{name}: undoes {up_name} (written by check-drift --capture)"
        )];
        (name.clone(), script.text(&header, false), script.unwritten)
    });

    // Proof: the files' replay plus the new file is the database.
    let scratch = show::scratch_database(&args.connection, layout, "capture")?;
    let proof_shown = scratch.settings.masked().to_string();
    let mut proof = connect(&scratch.settings, ConnectOptions::default())?;
    let mut with_it = files.catalog.clone();
    with_it.migrations.push(Migration {
        file: dbkit::project::migrations::MigrationFile {
            version,
            file: up_name.clone(),
            description: slug.clone(),
            path: folder.join(&up_name),
        },
        checksum: dbkit::project::migrations::checksum(&up_text),
        text: up_text.clone(),
        down_section: None,
    });
    if let Err(e) = replay::build(&mut proof, &with_it, &proof_shown) {
        let kept = keep_rejected(&up_name, &up_text);
        return Err(Error::DriftUnclosed {
            what: "the captured migration".into(),
            differences: vec![format!(
                "it fails on a replay of the files: {}{kept}",
                cli::chain(&e)
            )],
            rolled_back: false,
        });
    }
    let again = drift::compare(
        Db {
            client: &mut target.client,
            settings: &target.settings,
            shown: database.clone(),
        },
        Db {
            client: &mut proof,
            settings: &scratch.settings,
            shown: proof_shown.clone(),
        },
        options,
    )?;
    let left: Vec<String> = again
        .findings
        .iter()
        .map(|f| drift::phrase(f, "the replay"))
        .collect();
    if !left.is_empty() {
        let mut left = left;
        left.push(format!(
            "(after a replay of the files and it){}",
            keep_rejected(&up_name, &up_text)
        ));
        return Err(Error::DriftUnclosed {
            what: "the captured migration".into(),
            differences: left,
            rolled_back: false,
        });
    }
    // The down must take the proof back to the replay.
    let down = match down {
        Some((name, text, unwritten)) if unwritten.is_empty() => {
            let undone = proof
                .batch_execute(&format!("BEGIN;\n{text}\nCOMMIT;"))
                .map_err(query_error(
                    &format!("running the captured down {name}"),
                    &proof_shown,
                ));
            let proven = undone.and_then(|()| {
                let before = drift::describe(replay_client, &options.scope, replay_shown)?;
                let after = drift::describe(&mut proof, &options.scope, &proof_shown)?;
                Ok(before == after)
            });
            match proven {
                Ok(true) => Some((name, text)),
                Ok(false) => {
                    cli::warn(&format!("the down check-drift wrote does not undo {up_name} exactly, so it was not written: write {name} by hand"));
                    None
                }
                Err(e) => {
                    cli::warn(&format!("the down check-drift wrote failed on a replay ({}), so it was not written: write {name} by hand", cli::chain(&e)));
                    None
                }
            }
        }
        Some((name, _, unwritten)) => {
            let what: Vec<String> = unwritten
                .iter()
                .map(|u| format!("{} `{}`: {}", u.kind, u.name, u.reason))
                .collect();
            cli::warn(&format!(
                "part of the way back cannot be written by dbkit ({}), so {name} was not written: write it by hand",
                what.join("; ")
            ));
            None
        }
        None => None,
    };
    drop(proof);
    drop(scratch);
    let mut written = Vec::new();
    let up_path = folder.join(&up_name);
    scaffold::create(&up_path, &up_text)?;
    written.push(cli::relative_to_cwd(up_path).display().to_string());
    if let Some((name, text)) = down {
        let path = folder.join(&name);
        scaffold::create(&path, &text)?;
        written.push(cli::relative_to_cwd(path).display().to_string());
    }
    Ok(written)
}

/// Keeps a captured migration that failed its proof where the user can read it (the
/// system's temporary folder, never the migrations folder); the words to say so.
fn keep_rejected(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("check-drift-rejected-{name}"));
    match std::fs::write(&path, text) {
        Ok(()) => format!("; the SQL it wrote is kept in {}", path.display()),
        Err(_) => String::new(),
    }
}

/// The script's text with document-migration's risks as comments above the statements
/// they are about.
fn with_risks(layout: &Layout, files: &replay::Files, name: &str, text: &str) -> String {
    let paths: Vec<_> = files
        .catalog
        .migrations
        .iter()
        .map(|m| m.file.path.clone())
        .collect();
    let Ok(documented) = dbkit::ddl::document(layout, &paths) else {
        return text.to_string();
    };
    let mut schema = documented.schema;
    let Ok(summary) = dbkit::ddl::analyze_text(name, text, &mut schema) else {
        return text.to_string();
    };
    let mut at: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for risk in summary.risks.iter().filter(|r| !r.allowed) {
        let kind = serde_json::to_value(risk.risk)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        at.entry(risk.at.line)
            .or_default()
            .push(format!("-- risk ({kind}): {}", risk.reason));
    }
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(risks) = at.get(&(i + 1)) {
            for risk in risks.iter().collect::<BTreeSet<_>>() {
                out.push_str(risk);
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn unclosed(what: &str, unwritten: &[drift::script::Unwritten]) -> Result<()> {
    if unwritten.is_empty() {
        return Ok(());
    }
    Err(Error::DriftUnclosed {
        what: what.into(),
        differences: unwritten
            .iter()
            .map(|u| format!("{} `{}`: {}", u.kind, u.name, u.reason))
            .collect(),
        rolled_back: false,
    })
}

/// `--repair`: the script from the database to the expected side; with `--apply`, run
/// under the guard, the migration lock and one transaction, which commits only when
/// the database then differs by nothing but what was left out.
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
    let mut script = drift::script(compared, &live_facts, &expected_facts, false);
    let left_out = match args.allow_destructive {
        true => Vec::new(),
        false => script.without_destructive(),
    };
    let header = vec![
        format!("Repair of {database}: brings it back to what it is compared with."),
        format!(
            "Written by check-drift on {}.",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
        ),
    ];
    let mut sql = script.text(&header, true);
    for step in &left_out {
        sql.push_str(&format!(
            "-- left out (destructive; --allow-destructive): {}\n",
            step.sql.replace('\n', " ")
        ));
    }
    let mut repair = drift::Repair {
        steps: script.steps.clone(),
        left_out,
        unwritten: script.unwritten.clone(),
        sql,
        applied: false,
        backup: None,
        remaining: Vec::new(),
    };
    if !args.apply {
        return Ok(repair);
    }
    let destructive = script.steps.iter().any(|s| s.destructive);
    if destructive && !args.backup_first {
        return Err(Error::Usage(format!(
            "the repair of {database} drops or retypes {} object(s); with --allow-destructive, --apply needs --backup-first too, so what it drops can be restored",
            script.steps.iter().filter(|s| s.destructive).count()
        )));
    }
    args.guard
        .precheck("repair", &args.connection, None, Requirement::NotProduction)?;
    args.guard
        .check("repair", target, Requirement::NotProduction)?;
    if script.steps.is_empty() {
        return Ok(repair);
    }
    let question = format!(
        "Repair {database}: run {} statement(s)?",
        script.steps.len()
    );
    if !args.guard.confirm(&question)? {
        return Err(Error::Usage("repair cancelled: nothing was changed".into()));
    }
    if args.backup_first {
        let made = show::backup_first(target, layout, text)?;
        repair.backup = Some(made.path.display().to_string());
    }
    let allowed: BTreeSet<(String, String)> = repair
        .left_out
        .iter()
        .map(|s| (s.kind.clone(), s.name.clone()))
        .chain(
            repair
                .unwritten
                .iter()
                .map(|u| (u.kind.clone(), u.name.clone())),
        )
        .collect();
    // What the repair claims to close, and what was there before it.
    let claimed: BTreeSet<(String, String)> = script
        .steps
        .iter()
        .map(|s| (s.kind.clone(), s.name.clone()))
        .collect();
    let before: BTreeSet<(String, String, drift::Change)> = compared
        .findings
        .iter()
        .map(|f| (f.kind.clone(), f.name.clone(), f.change))
        .collect();
    let steps = script.steps.clone();
    let scope = options.scope.clone();
    let throwaway = options.expected_is_throwaway;
    let remaining = dbkit::pg::lock::held(
        &mut target.client,
        &database,
        args.lock.timeout(),
        &cli::notice,
        |client| {
            let mut tx = client
                .transaction()
                .map_err(query_error("starting the repair", &database))?;
            if steps
                .iter()
                .any(|s| s.kind == "function" || s.kind == "procedure")
            {
                tx.batch_execute("SET LOCAL check_function_bodies = off")
                    .map_err(query_error("starting the repair", &database))?;
            }
            for step in &steps {
                dbkit::pg::interrupt::check(|| {
                    "stopped during the repair; it was rolled back, nothing was changed".to_string()
                })?;
                tx.batch_execute(&step.sql).map_err(query_error(
                    &format!("the repair statement `{}`", first_line(&step.sql)),
                    &database,
                ))?;
            }
            let left = drift::recheck(
                &mut tx,
                &scope,
                &database,
                compared,
                expected_client,
                expected_shown,
                throwaway,
            )?;
            // A difference the repair made, or one it claims to close and did not, undoes
            // it; one it left alone (left out, not written, or going with something
            // left out, like a table's own sequence) stays and is reported.
            let unexpected: Vec<String> = left
                .iter()
                .filter(|f| {
                    let key = (f.kind.clone(), f.name.clone());
                    !before.contains(&(f.kind.clone(), f.name.clone(), f.change))
                        || (claimed.contains(&key) && !allowed.contains(&key))
                })
                .map(|f| drift::phrase(f, "the files"))
                .collect();
            if !unexpected.is_empty() {
                tx.rollback()
                    .map_err(query_error("rolling back the repair", &database))?;
                return Err(Error::DriftUnclosed {
                    what: "the repair".into(),
                    differences: unexpected,
                    rolled_back: true,
                });
            }
            tx.commit()
                .map_err(query_error("committing the repair", &database))?;
            Ok(left)
        },
    )?;
    repair.applied = true;
    repair.remaining = remaining;
    Ok(repair)
}

fn first_line(sql: &str) -> String {
    let line = sql.lines().next().unwrap_or_default();
    match line.char_indices().nth(100) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

/// `--snapshots`: each snapshot that includes migrations is loaded into one throwaway
/// database, and the snapshot before it (or nothing) plus the migrations it claims are
/// replayed into another; the two are compared. A proven snapshot is recorded in
/// `versions/verified.json` (apply-schema --status names the ones never proven).
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
    let mut checked = Vec::new();
    let mut record = Vec::new();
    let mut differs = false;
    let mut base: Option<&dbkit::project::snapshot::SnapshotFile> = None;
    for snapshot in &catalog.snapshots {
        let last = snapshot.header.last_migration;
        let since = base.and_then(|b| b.header.last_migration);
        let mut result = SnapshotCheck {
            file: snapshot.file.clone(),
            status: "baseline",
            compared_with: String::new(),
            findings: Vec::new(),
            notes: Vec::new(),
        };
        if let Some(warning) = std::fs::read_to_string(&snapshot.path)
            .ok()
            .and_then(|t| dbkit::apply::plan::body_warning(snapshot, &t))
        {
            result.notes.push(warning);
        }
        let Some(last) = last else {
            result.compared_with = "nothing: it includes no migrations (a baseline)".into();
            checked.push(result);
            base = Some(snapshot);
            continue;
        };
        let claimed: Vec<Migration> = catalog
            .migrations
            .iter()
            .filter(|m| m.version() <= last && since.is_none_or(|s| m.version() > s))
            .cloned()
            .collect();
        let mut replayed = catalog.clone();
        replayed.snapshots = base.into_iter().cloned().collect();
        replayed.migrations = claimed;
        replayed.downs.clear();
        replayed.validation.clear();
        result.compared_with =
            replay::describe_files(base.map(|b| b.file.as_str()), &replayed.migrations);
        if replayed.migrations.is_empty() && catalog.migrations.iter().all(|m| m.version() > last) {
            result.status = "cannot_verify";
            result.notes.push(format!(
                "it includes migrations up to {last}, and none of them is in the migrations folder"
            ));
            checked.push(result);
            base = Some(snapshot);
            continue;
        }
        let mut loaded = catalog.clone();
        loaded.snapshots = vec![snapshot.clone()];
        loaded.migrations.clear();
        loaded.downs.clear();
        loaded.validation.clear();
        let one = show::scratch_database(&args.connection, layout, "snapshot")?;
        let two = show::scratch_database(&args.connection, layout, "replay")?;
        let (one_shown, two_shown) = (
            one.settings.masked().to_string(),
            two.settings.masked().to_string(),
        );
        let mut a = connect(&one.settings, ConnectOptions::default())?;
        let mut b = connect(&two.settings, ConnectOptions::default())?;
        replay::build(&mut a, &loaded, &one_shown)?;
        replay::build(&mut b, &replayed, &two_shown)?;
        let options = Options {
            scope: scope.clone(),
            pg_dump: Some(pg_dump(&mut a, &one_shown)?),
            expected_is_throwaway: true,
        };
        let compared = drift::compare(
            Db {
                client: &mut a,
                settings: &one.settings,
                shown: snapshot.file.clone(),
            },
            Db {
                client: &mut b,
                settings: &two.settings,
                shown: "the replay".into(),
            },
            &options,
        )?;
        result.notes.extend(compared.notes.iter().cloned());
        let checksum = std::fs::read_to_string(&snapshot.path)
            .ok()
            .map(|t| dbkit::project::migrations::checksum(&t));
        if compared.is_clean() {
            result.status = "verified";
            record.push((snapshot.file.clone(), checksum));
        } else {
            result.status = "differs";
            differs = true;
            result.findings = compared.findings;
            record.push((snapshot.file.clone(), None));
        }
        checked.push(result);
        base = Some(snapshot);
    }
    dbkit::project::snapshot::record_verified(&layout.versions(), &record)?;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    if text {
        cli::print(|w| {
            for c in &checked {
                let (mark, words) = match c.status {
                    "verified" => ("✓".green(), format!("matches {}", c.compared_with)),
                    "differs" => (
                        "✗".red().bold(),
                        format!("differs from {}", c.compared_with),
                    ),
                    "cannot_verify" => ("?".yellow(), "cannot be checked".to_string()),
                    _ => ("·".dimmed(), format!("compared with {}", c.compared_with)),
                };
                writeln!(w, "  {mark} {}  {words}", c.file.bold())?;
                if !c.findings.is_empty() {
                    let report = Report {
                        database: c.file.clone(),
                        compared_with: c.compared_with.clone(),
                        expected_label: "the migrations".into(),
                        database_label: "the snapshot".into(),
                        objects_compared: 0,
                        findings: c.findings.clone(),
                        notes: Vec::new(),
                        duration_ms: 0.0,
                        repair: None,
                        captured: Vec::new(),
                    };
                    report::drift::findings(w, &report)?;
                }
                for note in &c.notes {
                    writeln!(w, "      {} {note}", "·".dimmed())?;
                }
            }
            writeln!(
                w,
                "\n{} snapshot(s) checked in {}; proven ones are recorded in {} (commit it)",
                checked.len(),
                report::duration(duration_ms),
                cli::relative_to_cwd(layout.versions().join(dbkit::project::snapshot::VERIFIED))
                    .display()
            )
        });
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

/// One snapshot's check.
#[derive(Debug, serde::Serialize)]
struct SnapshotCheck {
    file: String,
    /// `verified`, `differs`, `baseline` (includes no migrations), `cannot_verify`.
    status: &'static str,
    compared_with: String,
    findings: Vec<drift::Finding>,
    notes: Vec<String>,
}
