//! Carrying out a plan: taking the lock, loading a snapshot, recording and running
//! migrations, and reporting each step as it happens. Each transactional file runs as
//! `BEGIN`, the file, its history row, `COMMIT`, so it commits together with its record;
//! quick ones go several to a message (`pipeline`), so a run of small files costs a few
//! round trips; a file that cannot run in a transaction goes statement by statement.
//! Deciding what to do is `plan`'s job.

use std::time::{Duration, Instant};

use postgres::Client;

use crate::apply::history::{self, NewRow, Source};
use crate::apply::pipeline;
use crate::apply::plan::{body_warning, plan, Plan, PlanOptions};
use crate::apply::script::{self, Script};
use crate::error::{Error, Result};
use crate::meter::{Meter, Silent};
use crate::pg::connect::query_error;
use crate::project::layout::{Catalog, Migration};
use crate::project::settings::ConnectionSettings;
use crate::project::snapshot::SnapshotFile;

/// Builds what `catalog` holds into the empty database `client` is connected to (a
/// throwaway: verify-migrations' and check-drift's replays), quietly, as a fresh apply
/// would; with nothing to build, just dbkit's history tables. Returns how many
/// migrations ran. `database` names it in errors.
pub fn build(client: &mut Client, catalog: &Catalog, database: &str) -> Result<usize> {
    if catalog.snapshots.is_empty() && catalog.migrations.is_empty() {
        client
            .batch_execute(history::CREATE)
            .map_err(query_error("creating the dbkit history schema", database))?;
        return Ok(0);
    }
    let options = ApplyOptions {
        lock_timeout: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    Ok(apply(client, catalog, database, &options, &mut |_: &_| {})?.migrations_run())
}

/// Everything `apply` needs besides the connection and the files.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    pub plan: PlanOptions,
    /// Show what would happen and change nothing.
    pub dry_run: bool,
    /// How long to wait for another run's lock.
    pub lock_timeout: Duration,
    /// `lock_timeout` for the migrations' statements (`--ddl-lock-timeout`): a statement
    /// that waits longer for another session's lock fails instead of queueing everyone
    /// behind it. `None`: the server's setting.
    pub ddl_lock_timeout: Option<Duration>,
    /// Where to say why the run is waiting (for the migration lock, or for another
    /// session's lock a migration needs).
    pub notice: Option<fn(&str)>,
    /// The connection, to open a second session that watches for blocked migrations;
    /// `None`: not watched.
    pub watch: Option<ConnectionSettings>,
}

impl ApplyOptions {
    /// The `SET` statements every migration runs with.
    fn session_settings(&self) -> String {
        self.ddl_lock_timeout.map_or(String::new(), |t| {
            format!("SET lock_timeout = '{}ms'; ", t.as_millis())
        })
    }
}

/// One thing applying did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// An edited applied migration's new checksum was accepted.
    ChecksumAccepted {
        version: u64,
        file: String,
        old: String,
        new: String,
    },
    /// A snapshot was loaded (or, with `--baseline`, recorded as already there).
    Snapshot {
        version: String,
        file: String,
        baseline: bool,
        last_migration: Option<u64>,
        duration_ms: f64,
    },
    /// Migrations recorded without running (included in the snapshot, baseline, manual).
    Recorded { source: Source, versions: Vec<u64> },
    /// An applied migration's record moved to the file it was renamed to.
    Renamed {
        from_version: u64,
        from_file: String,
        version: u64,
        file: String,
    },
    /// A migration ran.
    Migration {
        version: u64,
        file: String,
        transaction: bool,
        /// Why it ran outside a transaction.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        duration_ms: f64,
    },
}

impl Step {
    fn snapshot(plan: &Plan, snapshot: &SnapshotFile, duration_ms: f64) -> Step {
        Step::Snapshot {
            version: snapshot.version.to_string(),
            file: snapshot.file.clone(),
            baseline: plan.snapshot_is_baseline,
            last_migration: snapshot.header.last_migration,
            duration_ms,
        }
    }

    fn migration(migration: &Migration, no_transaction: Option<String>, duration_ms: f64) -> Step {
        Step::Migration {
            version: migration.version(),
            file: migration.name().to_string(),
            transaction: no_transaction.is_none(),
            reason: no_transaction,
            duration_ms,
        }
    }
}

/// Receives each step as it completes, so a long run shows progress.
pub trait Progress {
    /// Called once per step, in order.
    fn step(&mut self, step: &Step);

    /// Where to show the file (or, outside a transaction, the statement) running now;
    /// a program's bar draws it once it has run a second. Shows nothing by default.
    fn meter(&self) -> &dyn Meter {
        &Silent
    }
}

impl<F: FnMut(&Step)> Progress for F {
    fn step(&mut self, step: &Step) {
        self(step)
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ApplyReport {
    pub database: String,
    pub dry_run: bool,
    /// The database had no history before this run.
    pub fresh: bool,
    pub steps: Vec<Step>,
    pub warnings: Vec<String>,
    pub duration_ms: f64,
}

impl ApplyReport {
    /// Migrations that ran (or would run).
    pub fn migrations_run(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Migration { .. }))
            .count()
    }

    /// True when the run changed (or would change) nothing.
    pub fn is_noop(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Brings the database up to date with the catalog (or, in a dry run, says how it would).
pub fn apply(
    client: &mut Client,
    catalog: &Catalog,
    database: &str,
    options: &ApplyOptions,
    progress: &mut dyn Progress,
) -> Result<ApplyReport> {
    let started = Instant::now();
    let mut report = ApplyReport {
        database: database.to_string(),
        dry_run: options.dry_run,
        ..ApplyReport::default()
    };
    // Plan without the lock first: a run with nothing to do never waits or writes. A
    // database that looks non-empty without history may be another run's work in
    // progress, so that verdict is only final under the lock.
    let unlocked = plan_now(client, catalog, database, &options.plan).map(|(plan, _)| plan);
    let notice = options.notice.unwrap_or(|_| {});
    let current = match unlocked {
        Ok(plan) if plan.is_empty() || options.dry_run => plan,
        // A file recorded as running may be another run's work in progress: only under
        // the lock is it known to be cut off.
        Err(e)
            if options.dry_run
                || !matches!(
                    e,
                    Error::NotEmpty { .. } | Error::FailedEarlier { cut_off: true, .. }
                ) =>
        {
            return Err(e)
        }
        _ => crate::pg::lock::held(client, database, options.lock_timeout, &notice, |client| {
            let outcome = (|| {
                let (plan, has_history) = plan_now(client, catalog, database, &options.plan)?;
                if !plan.is_empty() {
                    let (sql, what) = if has_history {
                        (history::UPGRADE, "upgrading the dbkit history tables")
                    } else {
                        (history::CREATE, "creating the dbkit history schema")
                    };
                    client
                        .batch_execute(sql)
                        .map_err(query_error(what, database))?;
                    let watcher = watcher(client, options, &plan);
                    let liveness = liveness(client);
                    let session = format!("{liveness}{}", options.session_settings());
                    let run = Run {
                        catalog,
                        database,
                        session: &session,
                        liveness: &liveness,
                        watcher: watcher.as_ref(),
                    };
                    execute(client, &run, &plan, &mut report, progress)?;
                }
                Ok(plan)
            })();
            flush_wal(client);
            outcome
        })?,
    };
    if options.dry_run {
        describe(catalog, &current, &mut report, progress)?;
    }
    report.fresh = current.fresh;
    report
        .warnings
        .splice(0..0, current.warnings.iter().cloned());
    report.duration_ms = ms(started.elapsed());
    Ok(report)
}

/// What every file of a run shares.
struct Run<'a> {
    catalog: &'a Catalog,
    database: &'a str,
    /// `SET` statements each migration starts with.
    session: &'a str,
    /// The part of `session` a snapshot load starts with too.
    liveness: &'a str,
    watcher: Option<&'a crate::pg::blocking::Watcher>,
}

/// On PostgreSQL 14 and later, a `SET` that makes the server check once a second that
/// this client is still there while a statement runs: if the run is killed (`kill -9`,
/// a lost connection), the server aborts the file's transaction instead of committing
/// it seconds later, and releases the migration lock.
pub(crate) fn liveness(client: &mut Client) -> String {
    let version: Option<i32> = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .ok()
        .map(|row| row.get(0));
    if version.is_some_and(|v| v >= 140_000) {
        "SET client_connection_check_interval = 1000; ".to_string()
    } else {
        String::new()
    }
}

/// A watcher for blocked migrations, when the plan runs any and the caller wants one.
fn watcher(
    client: &mut Client,
    options: &ApplyOptions,
    plan: &Plan,
) -> Option<crate::pg::blocking::Watcher> {
    let (settings, notice) = (options.watch.as_ref()?, options.notice?);
    if plan.run.is_empty() && plan.snapshot.is_none() {
        return None;
    }
    let pid: i32 = client
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .ok()?
        .get(0);
    Some(crate::pg::blocking::Watcher::start(settings, pid, notice))
}

/// The plan for the database as it is now, and whether its history tables exist.
/// Whether [`apply`] with these options would change the database, planned as `apply`
/// first plans (without the lock): what `--backup-first` asks before taking a backup.
pub fn would_change(
    client: &mut Client,
    catalog: &Catalog,
    database: &str,
    options: &PlanOptions,
) -> Result<bool> {
    plan_now(client, catalog, database, options).map(|(plan, _)| !plan.is_empty())
}

fn plan_now(
    client: &mut Client,
    catalog: &Catalog,
    database: &str,
    options: &PlanOptions,
) -> Result<(Plan, bool)> {
    let history = history::read(client, database)?;
    let objects = match &history {
        Some(h) if !h.is_empty() => None,
        _ => crate::pg::inspect::existing_objects(client, database)?,
    };
    let plan = plan(
        catalog,
        history.as_ref(),
        objects.as_deref(),
        database,
        options,
    )?;
    Ok((plan, history.is_some()))
}

/// Makes everything committed so far durable. Migrations commit with
/// `synchronous_commit = off` (the run does not wait for a disk flush per file); one
/// synchronous commit at the end flushes the write-ahead log up to it, and so every
/// earlier commit. A failure here is harmless: the server flushes on its own within
/// a fraction of a second.
fn flush_wal(client: &mut Client) {
    let _ = client.batch_execute("SELECT pg_catalog.txid_current()");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn emit(report: &mut ApplyReport, progress: &mut dyn Progress, step: Step) {
    progress.step(&step);
    report.steps.push(step);
}

fn emit_accepted(plan: &Plan, report: &mut ApplyReport, progress: &mut dyn Progress) {
    for (from_version, from_file, version, file) in &plan.renames {
        let step = Step::Renamed {
            from_version: *from_version,
            from_file: from_file.clone(),
            version: *version,
            file: file.clone(),
        };
        emit(report, progress, step);
    }
    for change in &plan.accept {
        let step = Step::ChecksumAccepted {
            version: change.version,
            file: change.file.clone(),
            old: change.recorded.clone(),
            new: change.current.clone(),
        };
        emit(report, progress, step);
    }
}

/// One step per way of recording (snapshot, baseline, manual), listing the versions.
fn emit_recorded(plan: &Plan, report: &mut ApplyReport, progress: &mut dyn Progress) {
    for source in [Source::Snapshot, Source::Baseline, Source::Manual] {
        let versions: Vec<u64> = plan
            .record
            .iter()
            .filter(|(_, s)| *s == source)
            .map(|(v, _)| *v)
            .collect();
        if !versions.is_empty() {
            emit(report, progress, Step::Recorded { source, versions });
        }
    }
}

fn execute(
    client: &mut Client,
    run: &Run<'_>,
    plan: &Plan,
    report: &mut ApplyReport,
    progress: &mut dyn Progress,
) -> Result<()> {
    let (catalog, database) = (run.catalog, run.database);
    let mut fixups = String::new();
    for change in &plan.accept {
        fixups += &history::accept_checksum_sql(
            change.version,
            &change.file,
            &change.recorded,
            &change.current,
        );
    }
    for version in &plan.forget_failed {
        fixups += &history::forget_sql(*version);
    }
    for (old, _, new, file) in &plan.renames {
        fixups += &history::rename_sql(*old, *new, file);
    }
    if !fixups.is_empty() {
        client
            .batch_execute(&format!("BEGIN;\n{fixups}COMMIT;"))
            .map_err(query_error("updating dbkit history", database))?;
    }
    emit_accepted(plan, report, progress);
    record_start(client, run, plan, report, progress)?;
    let mut sizer = pipeline::Sizer::default();
    let mut next = 0;
    while next < plan.run.len() {
        let migration = planned(catalog, plan.run[next]);
        crate::pg::interrupt::check(|| {
            format!(
                "stopped before `{}`{}",
                migration.name(),
                done_so_far(report)
            )
        })?;
        let blocks = next_blocks(run, catalog, &plan.run[next..], sizer.next());
        if blocks.len() < 2 {
            // A file that cannot run in a transaction, or one alone: sent as it is.
            if let Some(watcher) = run.watcher {
                watcher.set_current(migration.name());
            }
            run_one(client, run, migration, report, progress)?;
            next += 1;
            continue;
        }
        if let Some(watcher) = run.watcher {
            let names: Vec<(u64, &str)> = blocks
                .iter()
                .map(|b| (b.version, b.script.migration.unwrap_or_default()))
                .collect();
            watcher.set_batch(&names);
        }
        let started = std::time::Instant::now();
        let sent = pipeline::send(client, &blocks, progress.meter())
            .map_err(|e| with_applied(e, applied_files(report)))?;
        sizer.learn(blocks.len(), started.elapsed());
        for (block, took) in blocks.iter().zip(&sent.committed) {
            let migration = planned(catalog, block.version);
            emit(
                report,
                progress,
                Step::migration(migration, None, ms(*took)),
            );
        }
        if let Some(error) = sent.failure {
            return Err(with_applied(error, applied_files(report)));
        }
        next += blocks.len();
    }
    Ok(())
}

fn planned(catalog: &Catalog, version: u64) -> &Migration {
    catalog
        .migration(version)
        .expect("planned migrations exist")
}

/// Up to `most` transactional migrations from the start of `versions`, made ready to go
/// in one message (at most `pipeline::MAX_BYTES` of SQL). Stops before a file that
/// cannot run in a transaction or does not split: the caller runs that one alone,
/// which reports its error once the files before it are in.
fn next_blocks<'a>(
    run: &Run<'a>,
    catalog: &'a Catalog,
    versions: &[u64],
    most: usize,
) -> Vec<pipeline::Block<'a>> {
    let mut blocks = Vec::new();
    let mut bytes = 0;
    for &version in versions.iter().take(most) {
        let migration = planned(catalog, version);
        let prepared = match script::prepare(&migration.file.path, &migration.text) {
            Ok(prepared) => prepared,
            Err(_) => break,
        };
        if prepared.mode != crate::project::migrations::RunMode::Transaction
            || (!blocks.is_empty() && bytes + prepared.sendable.len() > pipeline::MAX_BYTES)
        {
            break;
        }
        bytes += prepared.sendable.len();
        let row = NewRow {
            version,
            file: migration.name(),
            checksum: &migration.checksum,
            source: Source::Migration,
            snapshot: None,
        };
        blocks.push(pipeline::Block {
            version,
            script: Script {
                path: &migration.file.path,
                text: &migration.text,
                migration: Some(migration.name()),
                database: run.database,
                settings: run.session,
            },
            prepared,
            record: history::insert_sql(&[row], pipeline::BLOCK_ELAPSED_MS),
        });
    }
    blocks
}

/// Runs one migration in a message of its own (statement by statement when it cannot
/// run in a transaction).
fn run_one(
    client: &mut Client,
    run: &Run<'_>,
    migration: &Migration,
    report: &mut ApplyReport,
    progress: &mut dyn Progress,
) -> Result<()> {
    let script = Script {
        path: &migration.file.path,
        text: &migration.text,
        migration: Some(migration.name()),
        database: run.database,
        settings: run.session,
    };
    let row = NewRow {
        version: migration.version(),
        file: migration.name(),
        checksum: &migration.checksum,
        source: Source::Migration,
        snapshot: None,
    };
    let record = |duration: &str| history::insert_sql(std::slice::from_ref(&row), duration);
    let ran = script::run_metered(client, &script, &record, Some(&row), progress.meter())
        .map_err(|e| with_applied(e, applied_files(report)))?;
    emit(
        report,
        progress,
        Step::migration(migration, ran.no_transaction, ms(ran.duration)),
    );
    Ok(())
}

/// Loads or records the snapshot and records the migrations the plan records.
fn record_start(
    client: &mut Client,
    run: &Run<'_>,
    plan: &Plan,
    report: &mut ApplyReport,
    progress: &mut dyn Progress,
) -> Result<()> {
    let (catalog, database) = (run.catalog, run.database);
    let rows: Vec<NewRow<'_>> = plan
        .record
        .iter()
        .map(|(version, source)| {
            let migration = catalog
                .migration(*version)
                .expect("recorded migrations exist");
            NewRow {
                version: *version,
                file: migration.name(),
                checksum: &migration.checksum,
                source: *source,
                snapshot: plan
                    .snapshot
                    .as_ref()
                    .filter(|_| *source != Source::Manual)
                    .map(|s| s.file.as_str()),
            }
        })
        .collect();
    if let Some(snapshot) = &plan.snapshot {
        let full = crate::project::migrations::read_sql(&snapshot.path)?;
        let (source, text) = if plan.snapshot_is_baseline {
            (Source::Baseline, "")
        } else {
            report.warnings.extend(body_warning(snapshot, &full));
            (Source::Snapshot, full.as_str())
        };
        let checksum = crate::project::migrations::checksum(&full);
        let version = snapshot.version.to_string();
        let record = |duration: &str| {
            history::snapshot_sql(&version, &snapshot.file, &checksum, source, duration)
                + &history::insert_sql(&rows, "0")
        };
        if let Some(watcher) = run.watcher {
            watcher.set_current(&snapshot.file);
        }
        let script = Script {
            path: &snapshot.path,
            text,
            migration: None,
            database,
            settings: run.liveness,
        };
        let duration = if plan.snapshot_is_baseline {
            script::run_metered(client, &script, &record, None, progress.meter())?.duration
        } else {
            // The database is empty: a load that fails after committing part of a large
            // snapshot empties it again.
            let undo = crate::apply::chunked::Undo::Empty;
            crate::apply::chunked::load(client, &script, &record, progress.meter(), undo)?.duration
        };
        emit(
            report,
            progress,
            Step::snapshot(plan, snapshot, ms(duration)),
        );
    } else if !rows.is_empty() {
        let sql = history::insert_sql(&rows, "0");
        client
            .batch_execute(&format!("BEGIN;\n{sql}COMMIT;"))
            .map_err(query_error(
                "recording migrations in dbkit history",
                database,
            ))?;
    }
    emit_recorded(plan, report, progress);
    Ok(())
}

fn applied_files(report: &ApplyReport) -> Vec<String> {
    report
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Migration { file, .. }
            | Step::Snapshot {
                file,
                baseline: false,
                ..
            } => Some(file.clone()),
            _ => None,
        })
        .collect()
}

/// "; applied before it in this run: a, b", or nothing when nothing was.
fn done_so_far(report: &ApplyReport) -> String {
    let applied = applied_files(report);
    if applied.is_empty() {
        "; nothing was applied in this run".to_string()
    } else {
        format!("; applied before it in this run: {}", applied.join(", "))
    }
}

fn with_applied(error: Error, applied: Vec<String>) -> Error {
    match error {
        Error::Interrupted {
            what,
            source,
            failed_version,
        } => Error::Interrupted {
            failed_version,
            what: if applied.is_empty() {
                what
            } else {
                format!(
                    "{what}; applied before it in this run: {}",
                    applied.join(", ")
                )
            },
            source: source.map(|s| Box::new(with_applied(*s, applied))),
        },
        Error::Statement {
            failure,
            migration,
            database,
            statements_done,
            ..
        } => Error::Statement {
            failure,
            migration,
            database,
            applied_before: applied,
            statements_done,
        },
        other => other,
    }
}

/// A dry run: the steps the plan would take, with files checked (split, meta-commands,
/// transaction mode) but nothing sent.
fn describe(
    catalog: &Catalog,
    plan: &Plan,
    report: &mut ApplyReport,
    progress: &mut dyn Progress,
) -> Result<()> {
    emit_accepted(plan, report, progress);
    if let Some(snapshot) = &plan.snapshot {
        if !plan.snapshot_is_baseline {
            let text = crate::project::migrations::read_sql(&snapshot.path)?;
            report.warnings.extend(body_warning(snapshot, &text));
            script::prepare(&snapshot.path, &text)?;
        }
        emit(report, progress, Step::snapshot(plan, snapshot, 0.0));
    }
    emit_recorded(plan, report, progress);
    for version in &plan.run {
        let migration = catalog
            .migration(*version)
            .expect("planned migrations exist");
        let prepared = script::prepare(&migration.file.path, &migration.text)?;
        let reason = match prepared.mode {
            crate::project::migrations::RunMode::Transaction => None,
            crate::project::migrations::RunMode::NoTransaction(reason) => Some(reason),
        };
        emit(report, progress, Step::migration(migration, reason, 0.0));
    }
    Ok(())
}
