//! Carrying out a rollback under dbkit's migration lock: the plan is made again under the
//! lock (another run may have applied something since the user was asked), then each
//! down runs newest first. A transactional down goes to the server as one message with
//! its history change (the migration's row leaves `schema_history`, an audit row goes to
//! `rollbacks`), so it is undone whole or not at all. A down that cannot run in a
//! transaction marks its migration `failed` before its first statement and clears the
//! mark only when it finishes, so a run cut off part-way leaves a truthful trace that
//! apply-schema refuses to build on.

use std::time::{Duration, Instant};

use postgres::Client;
use serde::Serialize;

use super::{plan, Planned, Selection};
use crate::apply::history;
use crate::apply::script::{self, Script};
use crate::error::{Error, Result};
use crate::meter::Meter;
use crate::pg::connect::query_error;
use crate::project::layout::{Catalog, Down};
use crate::project::migrations::RunMode;
use crate::sql::quote_literal as literal;

/// How to roll back.
#[derive(Debug, Clone, Default)]
pub struct RollbackOptions {
    pub selection: Selection,
    /// Show what would run and change nothing.
    pub dry_run: bool,
    /// How long to wait for another run's lock.
    pub lock_timeout: Duration,
    /// `lock_timeout` for the downs' statements (`--ddl-lock-timeout`).
    pub ddl_lock_timeout: Option<Duration>,
    /// The plan the user agreed to: the run refuses when the plan made under the lock
    /// differs (someone applied or rolled back in between). `None`: not checked.
    pub agreed: Option<Vec<u64>>,
}

/// One migration rolled back (or, in a dry run, that would be).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolledBack {
    pub version: u64,
    pub file: String,
    pub down: String,
    pub transaction: bool,
    /// Why the down ran outside a transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: f64,
}

/// What a rollback did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RollbackReport {
    pub database: String,
    pub dry_run: bool,
    /// Newest first, in the order they ran.
    pub rolled_back: Vec<RolledBack>,
    /// The newest migration still applied afterwards, if any.
    pub now_at: Option<String>,
    pub duration_ms: f64,
}

/// Rolls back what `options.selection` names (or, in a dry run, checks every down and
/// says what would run). `step` hears each migration as it is rolled back.
pub fn rollback(
    client: &mut Client,
    catalog: &Catalog,
    database: &str,
    options: &RollbackOptions,
    meter: &dyn Meter,
    step: &mut dyn FnMut(&RolledBack),
) -> Result<RollbackReport> {
    let started = Instant::now();
    let mut report = RollbackReport {
        database: database.to_string(),
        dry_run: options.dry_run,
        ..RollbackReport::default()
    };
    if options.dry_run {
        let history = history::read(client, database)?;
        for planned in plan(catalog, history.as_ref(), database, options.selection)? {
            let down = catalog.down(planned.version).expect("planned downs exist");
            let mode = script::prepare(&down.path, &down.text)?.mode;
            let done = rolled_back(&planned, &mode, 0.0);
            step(&done);
            report.rolled_back.push(done);
        }
    } else {
        crate::pg::lock::held(
            client,
            database,
            options.lock_timeout,
            &crate::pg::interrupt::notice,
            |client| locked(client, catalog, database, options, meter, step, &mut report),
        )?;
    }
    let history = history::read(client, database)?;
    report.now_at = history.and_then(|h| {
        let gone: Vec<u64> = report.rolled_back.iter().map(|r| r.version).collect();
        h.migrations
            .values()
            .rev()
            .find(|r| !gone.contains(&r.version))
            .map(|r| r.file.clone())
    });
    report.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(report)
}

fn rolled_back(planned: &Planned, mode: &RunMode, duration_ms: f64) -> RolledBack {
    let reason = match mode {
        RunMode::Transaction => None,
        RunMode::NoTransaction(reason) => Some(reason.clone()),
    };
    RolledBack {
        version: planned.version,
        file: planned.file.clone(),
        down: planned.down.clone(),
        transaction: reason.is_none(),
        reason,
        duration_ms,
    }
}

fn locked(
    client: &mut Client,
    catalog: &Catalog,
    database: &str,
    options: &RollbackOptions,
    meter: &dyn Meter,
    step: &mut dyn FnMut(&RolledBack),
    report: &mut RollbackReport,
) -> Result<()> {
    let history = history::read(client, database)?;
    let planned = plan(catalog, history.as_ref(), database, options.selection)?;
    if let Some(agreed) = &options.agreed {
        let now: Vec<u64> = planned.iter().map(|p| p.version).collect();
        if &now != agreed {
            return Err(Error::Refused(format!(
                "{database} changed while dbkit waited for the migration lock (another run applied or rolled back migrations): nothing was rolled back; run rollback again to see the new plan"
            )));
        }
    }
    client
        .batch_execute(history::ROLLBACKS)
        .map_err(query_error(
            "creating dbkit's rollback audit table",
            database,
        ))?;
    // As for an up: a killed run's down is aborted by the server, not committed later.
    let mut settings = crate::apply::run::liveness(client);
    if let Some(t) = options.ddl_lock_timeout {
        settings += &format!("SET lock_timeout = '{}ms'; ", t.as_millis());
    }
    for planned in &planned {
        crate::pg::interrupt::check(|| {
            format!(
                "stopped before rolling back `{}`{}",
                planned.file,
                so_far(report)
            )
        })?;
        let down = catalog.down(planned.version).expect("planned downs exist");
        let done = run_down(client, database, planned, down, &settings, meter)
            .map_err(|e| failed(e, planned, report, database))?;
        step(&done);
        report.rolled_back.push(done);
    }
    Ok(())
}

/// Runs one down with its history change (also what verify-migrations runs).
pub(crate) fn run_down(
    client: &mut Client,
    database: &str,
    planned: &Planned,
    down: &Down,
    settings: &str,
    meter: &dyn Meter,
) -> Result<RolledBack> {
    let script = Script {
        path: &down.path,
        text: &down.text,
        migration: Some(&down.file),
        database,
        settings,
    };
    let mode = script::prepare(&down.path, &down.text)?.mode;
    let record = |duration: &str| record_sql(planned.version, down, duration);
    if mode == RunMode::Transaction {
        let ran = script::run_metered(client, &script, &record, None, meter)?;
        return Ok(rolled_back(planned, &mode, ms(ran.duration)));
    }
    // Outside a transaction, statements commit one by one: until the last has run, the
    // migration is neither applied nor rolled back, and its row says so.
    client
        .batch_execute(&mark_sql(planned.version, down, None, None))
        .map_err(query_error("recording the start of a rollback", database))?;
    match script::run_metered(client, &script, &record, None, meter) {
        Ok(ran) => Ok(rolled_back(planned, &mode, ms(ran.duration))),
        Err(error) => {
            let statement = match &error {
                Error::Interrupted {
                    source: Some(source),
                    ..
                } => &**source,
                other => other,
            };
            let (done, line) = match statement {
                Error::Statement {
                    statements_done,
                    failure,
                    ..
                } => (
                    *statements_done,
                    Some((failure.line, failure.message.as_str())),
                ),
                _ => (None, None),
            };
            // Nothing committed: the migration is still wholly applied.
            let sql = if done == Some(0) {
                restore_sql(planned.version)
            } else {
                mark_sql(planned.version, down, done, line)
            };
            let _ = client.batch_execute(&sql);
            Err(error)
        }
    }
}

/// History change of a finished down: the audit row, then the migration's row goes.
fn record_sql(version: u64, down: &Down, duration: &str) -> String {
    format!(
        "INSERT INTO dbkit.rollbacks (version, file, checksum, source, applied_at, applied_by, down_file, down_checksum, duration_ms, dbkit_version)
         SELECT version, file, checksum, source, applied_at, applied_by, {}, {}, {duration}, '{}' FROM dbkit.schema_history WHERE version = {version};
         DELETE FROM dbkit.schema_history WHERE version = {version};\n",
        literal(&down.file),
        literal(&down.checksum),
        env!("CARGO_PKG_VERSION"),
    )
}

/// Marks a migration whose down runs (or ran part-way) outside a transaction. While it
/// runs, how many statements committed is unknown (`NULL`): a down killed part-way says
/// so rather than a count it does not have.
fn mark_sql(
    version: u64,
    down: &Down,
    done: Option<usize>,
    failure: Option<(usize, &str)>,
) -> String {
    let line = failure.map(|(line, _)| line);
    let error = if let Some((_, message)) = failure {
        format!("rollback with `{}` failed part-way: {message}", down.file)
    } else {
        format!(
            "rollback with `{}` started outside a transaction and did not finish",
            down.file
        )
    };
    format!(
        "UPDATE dbkit.schema_history SET status = 'failed', statements_done = {}, error = {}, error_line = {} WHERE version = {version}",
        done.map_or("NULL".to_string(), |n| n.to_string()),
        literal(&error),
        line.map_or("NULL".to_string(), |l| l.to_string())
    )
}

fn restore_sql(version: u64) -> String {
    format!(
        "UPDATE dbkit.schema_history SET status = 'applied', statements_done = NULL, error = NULL, error_line = NULL WHERE version = {version}"
    )
}

/// The error for a down that failed or was stopped, with what this run rolled back
/// before it.
fn failed(error: Error, planned: &Planned, report: &RollbackReport, database: &str) -> Error {
    let before: Vec<String> = report.rolled_back.iter().map(|r| r.file.clone()).collect();
    if crate::pg::interrupt::requested() {
        let what = match &error {
            Error::Interrupted { what, .. } if what.contains("outside a transaction") => {
                what.clone()
            }
            _ => format!(
                "`{}` was not rolled back: its down's transaction was undone, so it stays applied",
                planned.file
            ),
        };
        let what = format!("{what}{}", so_far(report));
        return match crate::pg::interrupt::explain(error, || what.clone()) {
            Error::Interrupted {
                source,
                failed_version,
                ..
            } => Error::Interrupted {
                what,
                source,
                failed_version,
            },
            other => other,
        };
    }
    Error::RollbackFailed {
        version: planned.version,
        file: planned.file.clone(),
        down: planned.down.clone(),
        database: database.to_string(),
        rolled_back: before,
        source: Box::new(error),
    }
}

/// "; rolled back before it in this run: a, b", or "; nothing was rolled back".
fn so_far(report: &RollbackReport) -> String {
    if report.rolled_back.is_empty() {
        "; nothing was rolled back in this run".to_string()
    } else {
        let files: Vec<&str> = report.rolled_back.iter().map(|r| r.file.as_str()).collect();
        format!("; rolled back before it in this run: {}", files.join(", "))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
