//! Running one SQL file (a migration, a snapshot) against the server, exactly once, with
//! its history record: in one transaction sent as one message, or (through
//! `statements`) statement by statement when the file cannot run in a transaction. A
//! failure is located by file, line and column. What to run, and in which order, is
//! decided elsewhere (`plan`, `run`).

use std::path::Path;
use std::time::{Duration, Instant};

use postgres::Client;

use crate::apply::history::{self, NewRow};
use crate::error::{Error, Result};
use crate::meter::{Meter, Shown, Silent};
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
    /// Session settings the file runs with, as `SET` statements (`SET lock_timeout =
    /// '5s';`), applied after the session is reset and before the file's own.
    pub settings: &'a str,
}

impl Script<'_> {
    /// How messages name the file: the migration's file name, else the path.
    pub fn name(&self) -> String {
        self.migration
            .map_or_else(|| self.path.display().to_string(), str::to_string)
    }
}

/// A file made ready to send: psql meta-commands pg_dump writes (`\restrict`,
/// `\unrestrict`), a BOM and a file's own `BEGIN`/`COMMIT` wrapper are blanked out with
/// spaces, so the server's error positions still count characters of the original file.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub sendable: String,
    /// Byte ranges of the statements to run one at a time, wrapper excluded.
    pub statements: Vec<(usize, usize)>,
    /// For each statement, whether it opens or closes a transaction block of the file's
    /// own (which matters only when the file runs statement by statement).
    pub control: Vec<Option<Control>>,
    pub mode: RunMode,
}

/// A statement that opens or closes a transaction block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `BEGIN`, `START TRANSACTION`.
    Begin,
    /// `COMMIT`, `END`, `ROLLBACK`, `ABORT` (not `... PREPARED`, which ends no block).
    End,
}

fn control(statement: &crate::sql::Statement<'_>) -> Option<Control> {
    let words = statement.leading_keywords(8);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    control_of(&words)
}

/// `words`: a statement's leading keywords, upper case.
fn control_of(words: &[&str]) -> Option<Control> {
    let rest = words.get(1..).unwrap_or_default();
    // `ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT] s` and `... AND CHAIN` keep the
    // transaction open; `... PREPARED` acts on another, prepared, transaction.
    let chains = rest.windows(2).any(|w| w == ["AND", "CHAIN"]);
    let to_savepoint = rest.iter().take(2).any(|w| *w == "TO");
    match words.first().copied() {
        Some("BEGIN") => match rest.first().copied() {
            None | Some("WORK" | "TRANSACTION" | "ISOLATION" | "READ" | "NOT" | "DEFERRABLE") => {
                Some(Control::Begin)
            }
            _ => None,
        },
        Some("START") if rest.first() == Some(&"TRANSACTION") => Some(Control::Begin),
        Some("COMMIT" | "END" | "ROLLBACK" | "ABORT")
            if !chains && !to_savepoint && rest.first() != Some(&"PREPARED") =>
        {
            Some(Control::End)
        }
        _ => None,
    }
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
    let mut controls = Vec::new();
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
            Piece::Statement(s) => {
                statements.push((s.start, s.end));
                controls.push(control(s));
            }
        }
    }
    if let Some(w) = wrapper {
        blank.extend([w.begin, w.commit]);
        let keep: Vec<bool> = statements
            .iter()
            .map(|&range| range != w.begin && range != w.commit)
            .collect();
        let mut keep_iter = keep.iter();
        statements.retain(|_| *keep_iter.next().unwrap_or(&true));
        let mut keep_iter = keep.iter();
        controls.retain(|_| *keep_iter.next().unwrap_or(&true));
    }
    Ok(Prepared {
        sendable: blank_out(text, &blank),
        statements,
        control: controls,
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
    run_metered(client, script, record, failed_row, &Silent)
}

/// [`run`], showing on `meter` what runs: the file, or each statement of a file run
/// statement by statement.
pub fn run_metered(
    client: &mut Client,
    script: &Script<'_>,
    record: &dyn Fn(&str) -> String,
    failed_row: Option<&NewRow<'_>>,
    meter: &dyn Meter,
) -> Result<Ran> {
    let prepared = prepare(script.path, script.text)?;
    let started = Instant::now();
    match &prepared.mode {
        RunMode::Transaction => {
            let _shown = Shown::start(meter, &running_file(script, &prepared), None);
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
            crate::apply::statements::run(client, script, &prepared, started, failed_row, meter)?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let finish = failed_row.map_or(String::new(), |row| {
                history::finish_running_sql(row.version)
            });
            let sql = format!("BEGIN;\n{finish}{}COMMIT;", record(&format!("{ms:.3}")));
            let recorded = client.batch_execute(&sql).or_else(|error| {
                // Every statement committed: a cancel that hit this record must not leave
                // a finished file looking cut off. A cancel is one-shot, so once more.
                let _ = client.batch_execute("ROLLBACK");
                if crate::pg::interrupt::requested() {
                    client.batch_execute(&sql)
                } else {
                    Err(error)
                }
            });
            recorded.map_err(crate::pg::connect::query_error(
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

/// What a meter shows for a file sent whole: its name, how many statements it holds and
/// the first line of the first (which one runs now, the server does not say).
fn running_file(script: &Script<'_>, prepared: &Prepared) -> String {
    let first = prepared.statements.first().map_or("", |&(start, end)| {
        first_line(&prepared.sendable[start..end])
    });
    match prepared.statements.len() {
        1 => format!("{}: {first}", script.name()),
        n => format!("{} ({n} statements): {first}", script.name()),
    }
}

/// The first line of a statement that is not blank or a comment, cut to 60 characters.
pub(super) fn first_line(statement: &str) -> &str {
    let line = statement
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .unwrap_or("");
    match line.char_indices().nth(60) {
        Some((cut, _)) => &line[..cut],
        None => line,
    }
}

/// Session settings a file or a dump changed (pg_dump empties `search_path`) are reset
/// first, so every file starts from the connection's own settings whatever ran before.
/// Commits do not wait for a disk flush; `apply` makes the run durable at its end.
pub(super) fn prefix(script: &Script<'_>) -> String {
    format!(
        "BEGIN; RESET ALL; {}SET LOCAL synchronous_commit TO off;\n",
        script.settings
    )
}

fn run_in_transaction(
    client: &mut Client,
    script: &Script<'_>,
    prepared: &Prepared,
    record: &str,
) -> Result<()> {
    let prefix = prefix(script);
    let batch = format!("{prefix}{}\n;\n{record}COMMIT;", prepared.sendable);
    // An interrupt during the client-side work before this (reading, splitting) found
    // the server idle: its cancel request did nothing, so stop here.
    crate::pg::interrupt::check(|| {
        format!(
            "stopped before `{}` was sent; nothing of it ran",
            script.name()
        )
    })?;
    let Err(error) = client.batch_execute(&batch) else {
        return Ok(());
    };
    let _ = client.batch_execute("ROLLBACK");
    Err(located_error(
        client,
        script,
        prepared,
        error,
        prefix.chars().count(),
    ))
}

/// The error of a file that failed in its transaction (rolled back since), located by
/// file, line and column: `prefix_chars` is how many characters of the message came
/// before the file's text. An error the server gave no position for is found by running
/// the file's statements one at a time in a transaction that is rolled back; after an
/// interrupt it says the file was rolled back.
pub(super) fn located_error(
    client: &mut Client,
    script: &Script<'_>,
    prepared: &Prepared,
    error: postgres::Error,
    prefix_chars: usize,
) -> Error {
    if crate::pg::interrupt::requested() {
        let name = script.name();
        return crate::pg::interrupt::explain(
            statement_error(script, error, 0, usize::MAX, None),
            || format!("`{name}` was rolled back; nothing of it stays applied"),
        );
    }
    let positioned = error.as_db_error().is_some_and(|db| {
        db.position().is_some()
            && !matches!(
                db.position(),
                Some(postgres::error::ErrorPosition::Internal { .. })
            )
    });
    if positioned {
        return statement_error(script, error, 0, prefix_chars, None);
    }
    diagnose(client, script, prepared)
        .unwrap_or_else(|| statement_error(script, error, 0, usize::MAX, None))
}

fn diagnose(client: &mut Client, script: &Script<'_>, prepared: &Prepared) -> Option<Error> {
    client
        .batch_execute(&format!("BEGIN; RESET ALL; {}", script.settings))
        .ok()?;
    let found = prepared.statements.iter().find_map(|&(start, end)| {
        client
            .batch_execute(&prepared.sendable[start..end])
            .err()
            .map(|e| statement_error(script, e, start, 0, None))
    });
    let _ = client.batch_execute("ROLLBACK");
    found
}

/// `prefix_chars == usize::MAX` means the position is unusable: place the error at `base`.
pub(super) fn statement_error(
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
    fn tells_statements_that_open_or_close_a_block() {
        let cases: [(&[&str], Option<Control>); 12] = [
            (&["BEGIN"], Some(Control::Begin)),
            (&["BEGIN", "ISOLATION", "LEVEL"], Some(Control::Begin)),
            (&["START", "TRANSACTION"], Some(Control::Begin)),
            (&["COMMIT"], Some(Control::End)),
            (&["END"], Some(Control::End)),
            (&["ROLLBACK", "WORK"], Some(Control::End)),
            (&["COMMIT", "AND", "NO", "CHAIN"], Some(Control::End)),
            (&["COMMIT", "AND", "CHAIN"], None),
            (&["ROLLBACK", "TO", "SAVEPOINT", "S"], None),
            (&["ROLLBACK", "TRANSACTION", "TO", "S"], None),
            (&["COMMIT", "PREPARED"], None),
            (&["SAVEPOINT", "S"], None),
        ];
        for (words, expected) in cases {
            assert_eq!(control_of(words), expected, "{words:?}");
        }
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
