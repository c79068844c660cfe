//! Running one SQL file (a migration, a snapshot) against the server, exactly once, with
//! its history record: in one transaction sent as one message, or statement by statement
//! when the file cannot run in a transaction. A failure is located by file, line and
//! column. What to run, and in which order, is decided elsewhere (`plan`, `apply`).

use std::path::Path;
use std::time::{Duration, Instant};

use postgres::Client;

use crate::apply::history::{self, NewRow};
use crate::error::{Error, Result};
use crate::pg::connect::failure;
use crate::project::migrations::{run_mode, RunMode};
use crate::sql::{split, Piece};

/// A file to run.
#[derive(Debug, Clone, Copy)]
pub struct Script<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    /// The migration's file name, for errors; `None` for a snapshot.
    pub migration: Option<&'a str>,
    /// The database, password masked, for errors.
    pub database: &'a str,
}

/// A file made ready to send: psql meta-commands pg_dump writes (`\restrict`,
/// `\unrestrict`), a BOM and a file's own `BEGIN`/`COMMIT` wrapper are blanked out with
/// spaces, so the server's error positions still count characters of the original file.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub sendable: String,
    /// Byte ranges of the statements to run one at a time, wrapper excluded.
    pub statements: Vec<(usize, usize)>,
    pub mode: RunMode,
}

/// Splits and checks a file, naming the file and line of anything dbkit cannot run.
pub fn prepare(path: &Path, text: &str) -> Result<Prepared> {
    let pieces = split(text).map_err(|e| e.at(path))?;
    let (mode, wrapper) = run_mode(text, &pieces);
    let mut blank: Vec<(usize, usize)> = Vec::new();
    if text.starts_with('\u{feff}') {
        blank.push((0, '\u{feff}'.len_utf8()));
    }
    let mut statements = Vec::new();
    for piece in &pieces {
        match piece {
            Piece::Meta(meta) if matches!(meta.name, "restrict" | "unrestrict") => {
                blank.push((meta.start, meta.end));
            }
            Piece::Meta(meta) => {
                return Err(Error::MetaCommand {
                    path: path.to_path_buf(),
                    line: meta.line,
                    command: meta.name.to_string(),
                })
            }
            Piece::CopyData(data) => {
                return Err(Error::Split {
                    path: path.to_path_buf(),
                    line: data.line,
                    column: 1,
                    what: "`COPY ... FROM stdin` data is for seed files; a migration or snapshot cannot carry it".into(),
                })
            }
            Piece::Statement(s) if s.is_empty() => {}
            Piece::Statement(s) => statements.push((s.start, s.end)),
        }
    }
    if let Some(w) = wrapper {
        blank.extend([w.begin, w.commit]);
        statements.retain(|&range| range != w.begin && range != w.commit);
    }
    Ok(Prepared {
        sendable: blank_out(text, &blank),
        statements,
        mode,
    })
}

/// Replaces each character in the ranges with a space, keeping line breaks.
fn blank_out(text: &str, ranges: &[(usize, usize)]) -> String {
    if ranges.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    for (start, end) in sorted {
        out.push_str(&text[last..start]);
        out.extend(
            text[start..end]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' }),
        );
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// How a file ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Why it ran outside a transaction; `None` when it ran in one.
    pub no_transaction: Option<String>,
    pub duration: Duration,
}

/// Runs a file once. `record` gives the SQL that records it, given SQL for its duration
/// in milliseconds; it commits together with the file when the file runs in a
/// transaction. `failed_row`, for a file run statement by statement, is recorded as
/// failed when a statement fails after others have committed.
pub fn run(
    client: &mut Client,
    script: &Script<'_>,
    record: &dyn Fn(&str) -> String,
    failed_row: Option<&NewRow<'_>>,
) -> Result<Ran> {
    let prepared = prepare(script.path, script.text)?;
    let started = Instant::now();
    match &prepared.mode {
        RunMode::Transaction => {
            run_in_transaction(
                client,
                script,
                &prepared,
                &record(history::BATCH_ELAPSED_MS),
            )?;
            Ok(Ran {
                no_transaction: None,
                duration: started.elapsed(),
            })
        }
        RunMode::NoTransaction(reason) => {
            run_statements(client, script, &prepared, started, failed_row)?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let sql = record(&format!("{ms:.3}"));
            client
                .batch_execute(&format!("BEGIN;\n{sql}COMMIT;"))
                .map_err(crate::pg::connect::query_error(
                    "recording a migration in dbkit history",
                    script.database,
                ))?;
            Ok(Ran {
                no_transaction: Some(reason.clone()),
                duration: started.elapsed(),
            })
        }
    }
}

/// Session settings a file or a dump changed (pg_dump empties `search_path`) are reset
/// first, so every file starts from the connection's own settings whatever ran before.
/// Commits do not wait for a disk flush; `apply` makes the run durable at its end.
const PREFIX: &str = "BEGIN; RESET ALL; SET LOCAL synchronous_commit TO off;\n";

fn run_in_transaction(
    client: &mut Client,
    script: &Script<'_>,
    prepared: &Prepared,
    record: &str,
) -> Result<()> {
    let batch = format!("{PREFIX}{}\n;\n{record}COMMIT;", prepared.sendable);
    let Err(error) = client.batch_execute(&batch) else {
        return Ok(());
    };
    let _ = client.batch_execute("ROLLBACK");
    let positioned = error.as_db_error().is_some_and(|db| {
        db.position().is_some()
            && !matches!(
                db.position(),
                Some(postgres::error::ErrorPosition::Internal { .. })
            )
    });
    if positioned {
        return Err(statement_error(
            script,
            error,
            0,
            PREFIX.chars().count(),
            None,
        ));
    }
    // No position: find the failing statement by running them one at a time in a
    // transaction that is rolled back.
    Err(diagnose(client, script, prepared)
        .unwrap_or_else(|| statement_error(script, error, 0, usize::MAX, None)))
}

fn diagnose(client: &mut Client, script: &Script<'_>, prepared: &Prepared) -> Option<Error> {
    client.batch_execute("BEGIN; RESET ALL;").ok()?;
    let found = prepared.statements.iter().find_map(|&(start, end)| {
        client
            .batch_execute(&prepared.sendable[start..end])
            .err()
            .map(|e| statement_error(script, e, start, 0, None))
    });
    let _ = client.batch_execute("ROLLBACK");
    found
}

fn run_statements(
    client: &mut Client,
    script: &Script<'_>,
    prepared: &Prepared,
    started: Instant,
    failed_row: Option<&NewRow<'_>>,
) -> Result<()> {
    client
        .batch_execute("RESET ALL")
        .map_err(crate::pg::connect::query_error(
            "resetting session settings",
            script.database,
        ))?;
    for (done, &(start, end)) in prepared.statements.iter().enumerate() {
        let Err(error) = client.batch_execute(&prepared.sendable[start..end]) else {
            continue;
        };
        let error = statement_error(script, error, start, 0, Some(done));
        if let (Some(row), Error::Statement { failure, .. }) = (failed_row, &error) {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            history::record_failure(
                client,
                script.database,
                row,
                ms,
                done,
                &failure.message,
                failure.line,
            )?;
        }
        return Err(error);
    }
    Ok(())
}

/// `prefix_chars == usize::MAX` means the position is unusable: place the error at `base`.
fn statement_error(
    script: &Script<'_>,
    error: postgres::Error,
    base: usize,
    prefix_chars: usize,
    done: Option<usize>,
) -> Error {
    match error.as_db_error() {
        Some(db) => Error::Statement {
            failure: Box::new(failure(db, script.path, script.text, base, prefix_chars)),
            migration: script.migration.map(str::to_string),
            database: script.database.to_string(),
            applied_before: Vec::new(),
            statements_done: done,
        },
        None => Error::Query {
            what: format!("running `{}`", script.path.display()),
            database: script.database.to_string(),
            source: error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_meta_commands_bom_and_wrapper_keeping_positions() {
        let text =
            "\u{feff}\\restrict abc\nBEGIN;\nCREATE TABLE é (id int);\nCOMMIT;\n\\unrestrict abc\n";
        let prepared = prepare(Path::new("x.sql"), text).expect("prepares");
        assert_eq!(prepared.sendable.chars().count(), text.chars().count());
        assert_eq!(
            prepared.sendable.lines().nth(2),
            Some("CREATE TABLE é (id int);")
        );
        assert!(!prepared.sendable.contains("restrict") && !prepared.sendable.contains("BEGIN"));
        assert_eq!(prepared.statements.len(), 1);
        assert_eq!(prepared.mode, RunMode::Transaction);
    }

    #[test]
    fn refuses_other_meta_commands_with_their_line() {
        let err = prepare(Path::new("m.sql"), "SELECT 1;\n\\connect other\n").expect_err("refused");
        assert_eq!(
            err.to_string(),
            "m.sql:2: psql meta-command `\\connect` is not supported"
        );
    }
}
