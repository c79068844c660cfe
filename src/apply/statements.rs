//! Running a file statement by statement, for files that cannot run in a transaction
//! (`CREATE INDEX CONCURRENTLY`, `VACUUM`, a top-level `COMMIT`, a marker line): each
//! statement commits on its own, so the file's history row is written before the first
//! one (`running`), kept current as statements commit, and replaced by the failure or
//! the final record. What stays applied after a failure or an interrupt is always known
//! and said. Running a whole file in one transaction is `script`'s job.

use std::time::Instant;

use postgres::Client;

use crate::apply::history::{self, NewRow};
use crate::apply::script::{first_line, prepare, statement_error, Control, Prepared, Script};
use crate::error::{Error, Result};
use crate::meter::{Meter, Shown};

/// Runs a file statement by statement. With `row` (a migration), the file is recorded
/// as running before its first statement, the count of committed statements is kept up
/// to date, and a failure is recorded in place of that row; a failure inside the file's
/// own `BEGIN ... COMMIT` block rolls the block back first, so the real error is
/// reported and recorded.
pub(super) fn run(
    client: &mut Client,
    script: &Script<'_>,
    prepared: &Prepared,
    started: Instant,
    row: Option<&NewRow<'_>>,
    meter: &dyn Meter,
) -> Result<()> {
    let start_sql = row.map_or(String::new(), history::running_sql);
    client
        .batch_execute(&format!("RESET ALL; {}\n{start_sql}", script.settings))
        .map_err(crate::pg::connect::query_error(
            "recording the start of a migration run outside a transaction",
            script.database,
        ))?;
    // Statements that committed and stay applied, and where an open block began.
    let mut committed = 0;
    let mut block: Option<usize> = None;
    for (index, &(start, end)) in prepared.statements.iter().enumerate() {
        let what = format!(
            "{} (statement {} of {}): {}",
            script.name(),
            index + 1,
            prepared.statements.len(),
            first_line(&prepared.sendable[start..end])
        );
        let shown = Shown::start(meter, &what, None);
        let outcome = if crate::pg::interrupt::requested() {
            Err(None)
        } else {
            client
                .batch_execute(&prepared.sendable[start..end])
                .map_err(Some)
        };
        drop(shown);
        match outcome {
            Ok(()) => {
                match prepared.control[index] {
                    Some(Control::Begin) => block = block.or(Some(index)),
                    Some(Control::End) => block = None,
                    None => {}
                }
                if block.is_none() {
                    committed = index + 1;
                    if let Some(row) = row {
                        count_progress(client, script, row, started, committed)?;
                    }
                }
            }
            Err(error) => {
                // A transaction the file opened is aborted: end it, or nothing else (not
                // even the failure's record) can run on this session. Outside one, the
                // server only warns.
                let _ = client.batch_execute("ROLLBACK");
                let error = match error {
                    Some(error) => statement_error(script, error, start, 0, Some(committed)),
                    None => interrupted_before(script, start, committed),
                };
                if let Some(row) = row {
                    let (message, line) = match &error {
                        Error::Statement { failure, .. } => (failure.message.clone(), failure.line),
                        _ => (
                            "interrupted".to_string(),
                            crate::sql::line_col(script.text, start).0,
                        ),
                    };
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    let message = if crate::pg::interrupt::requested() {
                        format!("interrupted: {message}")
                    } else {
                        message
                    };
                    // The statement's error is the one to report: if recording it fails
                    // too, the `running` row stays, which status shows as a file cut off.
                    let _ = history::record_failure(
                        client,
                        script.database,
                        row,
                        ms,
                        committed,
                        &message,
                        line,
                    );
                }
                let error = crate::pg::interrupt::explain(error, || {
                    let begin = block.map(|b| {
                        let (s, _) = prepared.statements[b];
                        crate::sql::line_col(script.text, s).0
                    });
                    stopped_outside_transaction(script, committed, begin)
                });
                return Err(match (error, row) {
                    (Error::Interrupted { what, source, .. }, Some(row)) => Error::Interrupted {
                        what,
                        source,
                        failed_version: Some(row.version),
                    },
                    (error, _) => error,
                });
            }
        }
    }
    Ok(())
}

/// Records how many statements of a running file committed. A cancel that hits this
/// bookkeeping (the interrupt came just as the statement finished) records the file as
/// failed with that count, as if it had hit the next statement.
fn count_progress(
    client: &mut Client,
    script: &Script<'_>,
    row: &NewRow<'_>,
    started: Instant,
    committed: usize,
) -> Result<()> {
    let Err(error) = client.batch_execute(&history::progress_sql(row.version, committed)) else {
        return Ok(());
    };
    if !crate::pg::interrupt::requested() {
        return Err(crate::pg::connect::query_error(
            "counting the statements a migration has run",
            script.database,
        )(error));
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let line = prepared_line(script, committed);
    let _ = history::record_failure(
        client,
        script.database,
        row,
        ms,
        committed,
        "interrupted",
        line,
    );
    Err(Error::Interrupted {
        what: stopped_outside_transaction(script, committed, None),
        failed_version: Some(row.version),
        source: None,
    })
}

/// The line of the statement after the first `committed` ones (where a rerun starts).
fn prepared_line(script: &Script<'_>, committed: usize) -> usize {
    prepare(script.path, script.text)
        .ok()
        .and_then(|p| p.statements.get(committed).map(|&(s, _)| s))
        .map_or(0, |start| crate::sql::line_col(script.text, start).0)
}

/// The error for an interrupt that came between two statements of a file run outside a
/// transaction.
fn interrupted_before(script: &Script<'_>, start: usize, committed: usize) -> Error {
    let line = crate::sql::line_col(script.text, start).0;
    Error::Interrupted {
        failed_version: None,
        what: format!(
            "{} (stopped before the statement on line {line})",
            stopped_outside_transaction(script, committed, None)
        ),
        source: None,
    }
}

fn stopped_outside_transaction(
    script: &Script<'_>,
    committed: usize,
    block_line: Option<usize>,
) -> String {
    let name = script.name();
    let block = block_line.map_or(String::new(), |line| {
        format!(", its open `BEGIN` block (line {line}) was rolled back")
    });
    format!(
        "`{name}` runs outside a transaction: {committed} statement(s) committed and stay applied{block}; it is recorded as failed"
    )
}
