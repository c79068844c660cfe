//! Running one seed file: splitting it into batches of plain statements and
//! `COPY ... FROM stdin` blocks, sending them in one transaction (opened by the first
//! message, committed by the last), counting the rows they affect, and locating a
//! failure in the file: the server's position, the COPY row its context names, or,
//! for an error without either, the statement found by running the file again one
//! statement at a time in a transaction that is rolled back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use postgres::error::{DbError, ErrorPosition};
use postgres::{Client, SimpleQueryMessage};
use regex::Regex;

use super::Kind;
use crate::error::{Error, Result, StatementFailure};
use crate::meter::{Meter, Silent};
use crate::pg::connect::failure;
use crate::project::migrations::{run_mode, RunMode};
use crate::sql::{split, CopyData, Piece, Statement};

/// A seed file read from disk.
pub(super) struct SeedFile {
    pub kind: Kind,
    pub path: PathBuf,
    pub name: String,
    pub text: String,
}

/// One round trip's worth of a file.
#[derive(Debug)]
pub(super) enum Step<'t> {
    /// Consecutive statements, sent as one message: `text[start..end]`.
    Batch {
        start: usize,
        end: usize,
        statements: Vec<Statement<'t>>,
    },
    /// A `COPY ... FROM stdin` and its data.
    Copy {
        statement: Statement<'t>,
        data: CopyData<'t>,
    },
}

impl Step<'_> {
    pub fn statements(&self) -> usize {
        match self {
            Step::Batch { statements, .. } => statements.len(),
            Step::Copy { .. } => 1,
        }
    }
}

/// Splits a file into batches and COPY blocks. pg_dump's `\restrict` lines and a file's
/// own `BEGIN; ... COMMIT;` wrapper are left out (the file runs in dbkit's transaction);
/// other psql meta-commands and statements that cannot run in a transaction are refused.
pub(super) fn steps<'t>(path: &Path, text: &'t str) -> Result<Vec<Step<'t>>> {
    let pieces = split(text).map_err(|e| e.at(path))?;
    let wrapper = match run_mode(text, &pieces) {
        (RunMode::NoTransaction(reason), _) => {
            return Err(Error::SeedNotTransactional {
                path: path.to_path_buf(),
                reason,
            })
        }
        (RunMode::Transaction, wrapper) => wrapper,
    };
    let is_wrapper = |s: &Statement<'_>| {
        wrapper.is_some_and(|w| [w.begin, w.commit].contains(&(s.start, s.end)))
    };
    let mut steps = Vec::new();
    let mut batch: Vec<Statement<'t>> = Vec::new();
    let flush = |batch: &mut Vec<Statement<'t>>, steps: &mut Vec<Step<'t>>| {
        if let (Some(first), Some(last)) = (batch.first(), batch.last()) {
            steps.push(Step::Batch {
                start: first.start,
                end: last.end,
                statements: std::mem::take(batch),
            });
        }
    };
    let mut pieces = pieces.into_iter().peekable();
    while let Some(piece) = pieces.next() {
        match piece {
            Piece::Statement(s) if s.is_empty() => {}
            Piece::Statement(s) if is_wrapper(&s) => flush(&mut batch, &mut steps),
            Piece::Statement(s) => match pieces.next_if(|p| matches!(p, Piece::CopyData(_))) {
                Some(Piece::CopyData(data)) => {
                    flush(&mut batch, &mut steps);
                    steps.push(Step::Copy { statement: s, data });
                }
                _ => batch.push(s),
            },
            Piece::Meta(meta) if matches!(meta.name, "restrict" | "unrestrict") => {
                flush(&mut batch, &mut steps);
            }
            Piece::Meta(meta) => {
                return Err(Error::MetaCommand {
                    path: path.to_path_buf(),
                    line: meta.line,
                    command: meta.name.to_string(),
                })
            }
            // Only a `\copy` meta-command, refused above, leaves data without a statement.
            Piece::CopyData(_) => {}
        }
    }
    flush(&mut batch, &mut steps);
    Ok(steps)
}

/// Why a file failed: a located server error, or anything else (a lost connection).
pub(super) enum Failed {
    Located(Box<StatementFailure>),
    Other(Error),
}

/// Opens the file's transaction and resets what an earlier file may have set.
const BEGIN: &str = "BEGIN; RESET ALL;\n";
/// `BEGIN`'s statements, whose results come first.
const BEGIN_STATEMENTS: usize = 2;
/// Ends a batch that ends the file; the `;` closes a last statement written without one.
const COMMIT: &str = "\n;\nCOMMIT;";

/// One file being loaded.
pub(super) struct Run<'r, 't> {
    pub client: &'r mut Client,
    pub file: &'r SeedFile,
    pub steps: &'r [Step<'t>],
    pub database: &'r str,
    /// Hears of the rows as they are sent (COPY) or affected (a batch).
    pub meter: &'r dyn Meter,
}

impl Run<'_, '_> {
    /// Runs the file in one transaction; returns the rows it affected. The transaction
    /// is opened by the first message and committed by the last, so a file of plain
    /// statements costs one round trip.
    pub fn all(mut self) -> Result<u64, Failed> {
        let mut rows = 0;
        for (index, step) in self.steps.iter().enumerate() {
            let (first, last) = (index == 0, index + 1 == self.steps.len());
            let done = match step {
                Step::Batch {
                    start,
                    end,
                    statements,
                } => self.batch(*start, *end, statements, first, last),
                Step::Copy { statement, data } => self.copy_step(statement, data, first, last),
            };
            match done {
                Ok(n) => {
                    rows += n;
                    if matches!(step, Step::Batch { .. }) {
                        self.meter.advance(n);
                    }
                }
                Err(error) => {
                    let _ = self.client.batch_execute("ROLLBACK");
                    return Err(self.locate(error, index));
                }
            }
        }
        Ok(rows)
    }

    fn batch(
        &mut self,
        start: usize,
        end: usize,
        statements: &[Statement<'_>],
        first: bool,
        last: bool,
    ) -> Result<u64, StepError> {
        let prefix = if first { BEGIN } else { "" };
        let suffix = if last { COMMIT } else { "" };
        let sql = format!("{prefix}{}{suffix}", &self.file.text[start..end]);
        let messages = self.client.simple_query(&sql).map_err(|error| StepError {
            error,
            prefix_chars: prefix.chars().count(),
        })?;
        let skip = if first { BEGIN_STATEMENTS } else { 0 };
        Ok(rows_affected(&messages, statements, skip))
    }

    fn copy_step(
        &mut self,
        statement: &Statement<'_>,
        data: &CopyData<'_>,
        first: bool,
        last: bool,
    ) -> Result<u64, StepError> {
        let plain = |error| StepError {
            error,
            prefix_chars: 0,
        };
        if first {
            self.client.batch_execute(BEGIN).map_err(plain)?;
        }
        let rows = copy_in(self.client, statement.text, data.text, self.meter).map_err(plain)?;
        if last {
            self.client.batch_execute("COMMIT").map_err(plain)?;
        }
        Ok(rows)
    }

    /// Where the failing step's error is in the file.
    fn locate(&mut self, failed: StepError, index: usize) -> Failed {
        let Some(db) = failed.error.as_db_error() else {
            return Failed::Other(Error::Query {
                what: format!("loading `{}`", self.file.path.display()),
                database: self.database.to_string(),
                source: failed.error,
            });
        };
        let located = match &self.steps[index] {
            Step::Copy { statement, data } => self.copy_failure(db, statement, data),
            Step::Batch { start, .. } if positioned(db) => {
                self.failure(db, *start, failed.prefix_chars)
            }
            Step::Batch {
                start, statements, ..
            } => match statements.len() {
                1 => self.failure(db, *start, usize::MAX),
                // Cancelled: running the file again to find the statement would run
                // what the user just stopped.
                _ if crate::pg::interrupt::requested() => self.failure(db, *start, usize::MAX),
                _ => match self.diagnose(index) {
                    Some(found) => found,
                    None => self.failure(db, *start, usize::MAX),
                },
            },
        };
        Failed::Located(Box::new(located))
    }

    fn failure(&self, db: &DbError, base: usize, prefix_chars: usize) -> StatementFailure {
        failure(db, &self.file.path, &self.file.text, base, prefix_chars)
    }

    /// A COPY error points at the data row the server names (`COPY t, line 3, ...` in
    /// its context), else at the COPY statement.
    fn copy_failure(
        &self,
        db: &DbError,
        statement: &Statement<'_>,
        data: &CopyData<'_>,
    ) -> StatementFailure {
        if positioned(db) {
            return self.failure(db, statement.start, 0);
        }
        let row = db.where_().and_then(copy_line).and_then(|n| {
            let before: usize = data
                .text
                .split_inclusive('\n')
                .take(n - 1)
                .map(str::len)
                .sum();
            (before < data.text.len()).then_some(data.start + before)
        });
        self.failure(db, row.unwrap_or(statement.start), usize::MAX)
    }

    /// A batch failed without a position (a foreign key, a unique key): runs the file
    /// again up to that batch one statement at a time, in a transaction rolled back, to
    /// find the statement. `None` when nothing fails this way (e.g. a deferred check).
    fn diagnose(&mut self, failing: usize) -> Option<StatementFailure> {
        self.client.batch_execute(BEGIN).ok()?;
        let found = self.steps[..=failing].iter().find_map(|step| match step {
            Step::Copy { statement, data } => {
                let error = copy_in(self.client, statement.text, data.text, &Silent).err()?;
                Some(self.copy_failure(error.as_db_error()?, statement, data))
            }
            Step::Batch { statements, .. } => statements.iter().find_map(|s| {
                let error = self.client.batch_execute(s.text).err()?;
                Some(self.failure(error.as_db_error()?, s.start, 0))
            }),
        });
        let _ = self.client.batch_execute("ROLLBACK");
        found
    }
}

/// A step's error, and how many characters of dbkit's own text preceded the file's in
/// what was sent.
struct StepError {
    error: postgres::Error,
    prefix_chars: usize,
}

/// The server gave a position in the query text.
fn positioned(db: &DbError) -> bool {
    matches!(db.position(), Some(ErrorPosition::Original(_)))
}

static COPY_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^COPY .+?, line (\d+)").expect("valid regex"));

/// The data line a COPY error's context names (1 = the first data line).
fn copy_line(context: &str) -> Option<usize> {
    let n: usize = COPY_LINE.captures(context)?.get(1)?.as_str().parse().ok()?;
    (n >= 1).then_some(n)
}

/// How much COPY data goes to the server between two counts of its rows.
const COPY_PIECE: usize = 256 * 1024;

/// Sends a COPY's data through the COPY protocol, telling `meter` the rows as they go;
/// returns the rows copied.
fn copy_in(
    client: &mut Client,
    statement: &str,
    data: &str,
    meter: &dyn Meter,
) -> Result<u64, postgres::Error> {
    let mut writer = client.copy_in(statement)?;
    for (piece, rows) in pieces(data, COPY_PIECE) {
        if let Err(e) = writer.write_all(piece.as_bytes()) {
            // The writer wraps the server's error in an io::Error; when it is not there,
            // finishing reports it.
            if let Some(Ok(error)) = e
                .into_inner()
                .map(|inner| inner.downcast::<postgres::Error>())
            {
                return Err(*error);
            }
            break;
        }
        meter.advance(rows);
    }
    writer.finish()
}

/// COPY data in pieces of about `size` bytes that end at a line break (but the last),
/// each with its count of lines: its rows, since COPY's text format escapes line breaks
/// inside values.
fn pieces(data: &str, size: usize) -> impl Iterator<Item = (&str, u64)> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        // A `\n` byte is never part of a longer UTF-8 character: cutting after one is
        // cutting between characters.
        let cut = rest
            .as_bytes()
            .iter()
            .skip(size)
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |at| size + at + 1);
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        let breaks = piece.bytes().filter(|&b| b == b'\n').count() as u64;
        Some((piece, breaks + u64::from(!piece.ends_with('\n'))))
    })
}

/// Rows a batch inserted, updated, deleted (or wrote, e.g. `CREATE TABLE AS`): each
/// statement's count, except a query's returned rows. `skip` results of dbkit's own
/// statements come first; the server sends one result per non-empty statement.
fn rows_affected(
    messages: &[SimpleQueryMessage],
    statements: &[Statement<'_>],
    skip: usize,
) -> u64 {
    let mut results = Vec::new();
    let mut returned_rows = false;
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(_) => returned_rows = true,
            SimpleQueryMessage::CommandComplete(n) => {
                results.push((*n, returned_rows));
                returned_rows = false;
            }
            _ => {}
        }
    }
    results
        .into_iter()
        .skip(skip)
        .zip(statements)
        .filter(|((_, returned_rows), statement)| !returned_rows || writes(statement))
        .map(|((n, _), _)| n)
        .sum()
}

/// `INSERT ... RETURNING` and the like return rows and also write them.
fn writes(statement: &Statement<'_>) -> bool {
    matches!(
        statement.leading_keywords(1).first().map(String::as_str),
        Some("INSERT" | "UPDATE" | "DELETE" | "MERGE")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> Vec<String> {
        steps(Path::new("s.sql"), text)
            .expect("splits")
            .iter()
            .map(|step| match step {
                Step::Batch {
                    start,
                    end,
                    statements,
                } => {
                    format!("batch {} {:?}", statements.len(), &text[*start..*end])
                }
                Step::Copy { statement, data } => {
                    format!(
                        "copy {:?} {:?} line {}",
                        statement.text, data.text, data.line
                    )
                }
            })
            .collect()
    }

    #[test]
    fn batches_statements_between_copy_blocks() {
        let text = "\\restrict k\nINSERT INTO a VALUES (1);\n-- c\nUPDATE a SET x = 2;\n\
                    COPY a (x) FROM stdin;\n1\n2\n\\.\n;\nSELECT 1\n\\unrestrict k\n";
        assert_eq!(
            shape(text),
            [
                "batch 2 \"INSERT INTO a VALUES (1);\\n-- c\\nUPDATE a SET x = 2;\"",
                "copy \"COPY a (x) FROM stdin;\" \"1\\n2\\n\" line 6",
                "batch 1 \"SELECT 1\"",
            ]
        );
    }

    #[test]
    fn absorbs_a_transaction_wrapper_and_refuses_what_cannot_run_in_one() {
        let text = "BEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;\n";
        assert_eq!(shape(text), ["batch 1 \"INSERT INTO a VALUES (1);\""]);
        assert!(shape("").is_empty());
        let error = steps(Path::new("s.sql"), "VACUUM a;\n").expect_err("refused");
        assert!(
            matches!(error, Error::SeedNotTransactional { .. }),
            "{error}"
        );
        let error = steps(
            Path::new("s.sql"),
            "SELECT 1;\n\\copy a from stdin\n1\n\\.\n",
        )
        .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "s.sql:2: psql meta-command `\\copy` is not supported"
        );
    }

    #[test]
    fn cuts_copy_data_at_line_breaks_and_counts_its_rows() {
        let data = "1\tone\n2\ttwo\n3\tthree\n4\té\n";
        let cut: Vec<(&str, u64)> = pieces(data, 8).collect();
        assert_eq!(cut, [("1\tone\n2\ttwo\n", 2), ("3\tthree\n4\té\n", 2)]);
        assert_eq!(
            pieces("ééé\nx\n", 1).collect::<Vec<_>>(),
            [("ééé\n", 1), ("x\n", 1)]
        );
        assert_eq!(pieces(data, 1 << 20).collect::<Vec<_>>(), [(data, 4)]);
        assert_eq!(
            pieces("1\n2", 1).collect::<Vec<_>>(),
            [("1\n", 1), ("2", 1)]
        );
        assert_eq!(pieces("", 8).count(), 0);
    }

    #[test]
    fn reads_the_copy_line_from_the_context() {
        assert_eq!(copy_line("COPY t, line 3, column id: \"x\""), Some(3));
        assert_eq!(
            copy_line("PL/pgSQL function f() line 2 at RAISE\nCOPY \"a, b\", line 12: \"...\""),
            Some(12)
        );
        assert_eq!(copy_line("SQL statement \"SELECT 1\""), None);
    }
}
