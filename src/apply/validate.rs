//! Integrity checks in `sql/validation/*.sql`, run after a schema is applied. The
//! convention (dbt's): each query returns the offending rows, so no rows means the check
//! passed. A `-- check: description` comment before a query names it. Checks run in a
//! transaction that is rolled back, so a check can never change the database.

use std::path::{Path, PathBuf};

use postgres::{Client, SimpleQueryMessage};

use crate::error::{Result, StatementFailure};
use crate::pg::connect::query_error;
use crate::project::layout::Layout;
use crate::sql::{split, Piece};

/// Offending rows shown per failed check.
const SAMPLE_ROWS: usize = 5;

/// One check's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub file: PathBuf,
    pub line: usize,
    pub description: String,
    /// How many rows the query returned (0 = passed).
    pub rows: u64,
    /// The first few offending rows as `column=value` pairs.
    pub sample: Vec<Vec<(String, String)>>,
    /// The query itself failed.
    pub error: Option<StatementFailure>,
}

impl Check {
    /// No rows and no error.
    pub fn passed(&self) -> bool {
        self.rows == 0 && self.error.is_none()
    }
}

/// Every check's outcome.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ValidationReport {
    pub checks: Vec<Check>,
}

impl ValidationReport {
    /// Checks that found rows or failed.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| !c.passed()).count()
    }
}

/// Runs every validation file of the layout, in numbered order.
pub fn run(client: &mut Client, layout: &Layout, database: &str) -> Result<ValidationReport> {
    let mut report = ValidationReport::default();
    for path in Layout::numbered_files(&layout.validation())? {
        let text = crate::project::migrations::read_sql(&path)?;
        let pieces = split(&text).map_err(|e| e.at(&path))?;
        let mut previous_end = 0;
        for piece in &pieces {
            let Piece::Statement(statement) = piece else {
                continue;
            };
            if statement.is_empty() {
                continue;
            }
            let description = describe(&text[previous_end..statement.start])
                .unwrap_or_else(|| first_line(statement.text));
            previous_end = statement.end;
            let check = run_check(
                client,
                &path,
                &text,
                statement.start,
                statement.text,
                database,
            )?;
            report.checks.push(Check {
                line: statement.line,
                description,
                ..check
            });
        }
    }
    Ok(report)
}

/// The `-- check:` comment closest before a query.
fn describe(between: &str) -> Option<String> {
    between
        .lines()
        .rev()
        .find_map(|l| {
            l.trim()
                .strip_prefix("--")
                .map(str::trim)
                .and_then(|c| c.strip_prefix("check:"))
        })
        .map(|d| d.trim().to_string())
}

fn first_line(statement: &str) -> String {
    let line = statement.lines().next().unwrap_or("").trim();
    if line.chars().count() > 60 {
        format!("{}...", line.chars().take(57).collect::<String>())
    } else {
        line.to_string()
    }
}

fn run_check(
    client: &mut Client,
    path: &Path,
    text: &str,
    start: usize,
    statement: &str,
    database: &str,
) -> Result<Check> {
    let mut check = Check {
        file: path.to_path_buf(),
        line: 0,
        description: String::new(),
        rows: 0,
        sample: Vec::new(),
        error: None,
    };
    let body = statement.trim_end().trim_end_matches(';');
    // A cursor counts every row but fetches only a sample, however many rows a broken
    // check returns.
    let batch = format!(
        "BEGIN READ ONLY;\nDECLARE dbkit_check NO SCROLL CURSOR FOR {body}\n;\nFETCH {SAMPLE_ROWS} FROM dbkit_check;\nMOVE FORWARD ALL IN dbkit_check;"
    );
    let prefix = "BEGIN READ ONLY;\nDECLARE dbkit_check NO SCROLL CURSOR FOR "
        .chars()
        .count();
    let outcome = client.simple_query(&batch);
    let _ = client.batch_execute("ROLLBACK");
    match outcome {
        Ok(messages) => {
            let mut fetched = 0u64;
            let mut counts = Vec::new();
            for message in messages {
                match message {
                    SimpleQueryMessage::Row(row) => {
                        fetched += 1;
                        check.sample.push(
                            row.columns()
                                .iter()
                                .enumerate()
                                .map(|(i, c)| {
                                    (
                                        c.name().to_string(),
                                        row.get(i).unwrap_or("NULL").to_string(),
                                    )
                                })
                                .collect(),
                        );
                    }
                    SimpleQueryMessage::CommandComplete(n) => counts.push(n),
                    _ => {}
                }
            }
            // The last command is the MOVE, whose count is the rows after the sample.
            check.rows = fetched + counts.last().copied().unwrap_or(0);
        }
        Err(error) => match error.as_db_error() {
            Some(db) => {
                check.error = Some(crate::pg::connect::failure(db, path, text, start, prefix))
            }
            None => {
                return Err(query_error(
                    &format!("running `{}`", path.display()),
                    database,
                )(error))
            }
        },
    }
    Ok(check)
}
