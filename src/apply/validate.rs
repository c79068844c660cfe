//! Running the integrity checks of `sql/validation/*.sql` after a schema is applied, and
//! judging each. A check passes when it returns what its `-- expect:` line says (the
//! grammar is `project::validation`'s); without one, a query returning one row of one
//! numeric column is a count that must be 0 (or NULL, as `sum` over no rows gives), and
//! any other query returns the offending rows, so no rows means it passed (dbt's
//! convention). Checks run in a transaction that is rolled back, so a check can never
//! change the database, and each starts from the connection's own session settings,
//! whatever a snapshot or a migration left behind. Reading the files is
//! `project::validation`'s job.

use std::path::PathBuf;

use postgres::types::Type;
use postgres::{Client, SimpleQueryMessage};

use crate::error::{Result, StatementFailure};
use crate::pg::connect::query_error;
use crate::project::layout::Catalog;
use crate::project::validation::{CheckQuery, Expect, ValidationFile};

/// Offending rows shown per failed check.
const SAMPLE_ROWS: usize = 5;

/// One check's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub file: PathBuf,
    pub line: usize,
    pub description: String,
    /// What the check had to return: its `-- expect:` line; without one, `0` for a
    /// count, `no rows` otherwise.
    pub expect: Expect,
    /// How many rows the query returned.
    pub rows: u64,
    /// The value of a result of one row and one column (`None` for SQL NULL); absent
    /// for any other result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Option<String>>,
    /// The first few rows as `column=value` pairs.
    pub sample: Vec<Vec<(String, String)>>,
    /// The query itself failed.
    pub error: Option<StatementFailure>,
    /// The query ran and returned what was expected.
    pub passed: bool,
}

impl Check {
    /// What a failed check returned against what it expected, e.g. `orphans = 3,
    /// expected 0` or `9 row(s)`; `None` when it passed or the query failed.
    pub fn shortfall(&self) -> Option<String> {
        if self.passed || self.error.is_some() {
            return None;
        }
        let rows = match self.rows {
            0 => "no rows".to_string(),
            n => format!("{n} row(s)"),
        };
        Some(match &self.expect {
            Expect::NoRows => rows,
            Expect::Rows => format!("{rows}, expected at least one"),
            Expect::RowCount(n) => format!("{rows}, expected {n}"),
            Expect::Value(expected) => match (&self.value, self.sample.first()) {
                (Some(value), Some(row)) => format!(
                    "{} = {}, expected {expected}",
                    row[0].0,
                    value.as_deref().unwrap_or("NULL")
                ),
                (_, Some(row)) if self.rows == 1 => {
                    format!("{} columns, expected one value {expected}", row.len())
                }
                _ => format!("{rows}, expected one value {expected}"),
            },
        })
    }
}

/// Every check's outcome.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ValidationReport {
    pub checks: Vec<Check>,
}

impl ValidationReport {
    /// Checks that did not pass.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| !c.passed).count()
    }
}

/// Runs every check of the catalog's validation files, in order.
pub fn run(client: &mut Client, catalog: &Catalog, database: &str) -> Result<ValidationReport> {
    let mut report = ValidationReport::default();
    for file in &catalog.validation {
        for query in &file.checks {
            crate::pg::interrupt::check(|| {
                format!(
                    "stopped during validation, before the check at `{}:{}`; the schema was applied, {} check(s) ran",
                    file.path.display(),
                    query.line,
                    report.checks.len()
                )
            })?;
            report
                .checks
                .push(run_check(client, file, query, database)?);
        }
    }
    Ok(report)
}

/// Opens the check's transaction and a cursor over its query. Each check starts from the
/// connection's own settings, whatever ran before on this session: a pg_dump snapshot
/// empties `search_path` for the rest of the session, and a `SET ROLE` or `SET SESSION
/// AUTHORIZATION` would run the checks as someone else. RESET goes back to what the
/// session started with (the connection's `options`, the role's and the database's
/// settings); `RESET ALL` leaves the role alone, hence the first two. Done inside the
/// transaction, so the rollback leaves the session as the check found it.
const OPEN: &str = "BEGIN READ ONLY; RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL;\nDECLARE dbkit_check NO SCROLL CURSOR FOR ";

fn run_check(
    client: &mut Client,
    file: &ValidationFile,
    query: &CheckQuery,
    database: &str,
) -> Result<Check> {
    let mut check = Check {
        file: file.path.clone(),
        line: query.line,
        description: query.description.clone(),
        expect: query.expect.clone().unwrap_or(Expect::NoRows),
        rows: 0,
        value: None,
        sample: Vec::new(),
        error: None,
        passed: false,
    };
    let body = file.text[query.start..query.end]
        .trim_end()
        .trim_end_matches(';');
    // A cursor counts every row but fetches only a sample, however many rows a broken
    // check returns.
    let batch = format!(
        "{OPEN}{body}\n;\nFETCH {SAMPLE_ROWS} FROM dbkit_check;\nMOVE FORWARD ALL IN dbkit_check;"
    );
    let outcome = client.simple_query(&batch).map(|messages| {
        fetched(&mut check, messages);
        if query.expect.is_none() && check.value.is_some() && is_numeric(client, body) {
            check.expect = Expect::Value("0".into());
        }
    });
    let _ = client.batch_execute("ROLLBACK");
    if let Err(error) = outcome {
        let Some(db) = error.as_db_error() else {
            return Err(query_error(
                &format!("running `{}`", file.path.display()),
                database,
            )(error));
        };
        let failure = crate::pg::connect::failure(
            db,
            &file.path,
            &file.text,
            query.start,
            OPEN.chars().count(),
        );
        check.error = Some(failure);
        return Ok(check);
    }
    check.passed = judge(&check);
    Ok(check)
}

/// Takes the sample, the row count and a single value from the batch's messages.
fn fetched(check: &mut Check, messages: Vec<SimpleQueryMessage>) {
    let mut fetched = 0u64;
    let mut counts = Vec::new();
    let mut single = None;
    for message in messages {
        match message {
            SimpleQueryMessage::Row(row) => {
                fetched += 1;
                if row.columns().len() == 1 {
                    single = Some(row.get(0).map(str::to_string));
                }
                check.sample.push(
                    row.columns()
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let value = row.get(i).unwrap_or("NULL");
                            (c.name().to_string(), value.to_string())
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
    if check.rows == 1 {
        check.value = single;
    }
}

/// Whether the query's one column is a computed number (a count or a sum), from the
/// statement's description; the simple protocol only gives column names. A column read
/// straight from a table (`SELECT id FROM t WHERE ...`) is an offending row, not a count,
/// whatever its value.
fn is_numeric(client: &mut Client, body: &str) -> bool {
    client.prepare(body).is_ok_and(|statement| {
        statement.columns().len() == 1
            && statement.columns()[0].table_oid().is_none()
            && [
                Type::INT2,
                Type::INT4,
                Type::INT8,
                Type::NUMERIC,
                Type::FLOAT4,
                Type::FLOAT8,
            ]
            .contains(statement.columns()[0].type_())
    })
}

fn judge(check: &Check) -> bool {
    match &check.expect {
        Expect::NoRows => check.rows == 0,
        Expect::Rows => check.rows > 0,
        Expect::RowCount(n) => check.rows == *n,
        Expect::Value(expected) => check
            .value
            .as_ref()
            .is_some_and(|value| same_number(value.as_deref().unwrap_or("0"), expected)),
    }
}

/// Whether two numbers written as text are equal: `0`, `0.00` and `-0` are; as are
/// `1e+20` and `100000000000000000000` (compared as floats, the way PostgreSQL writes
/// large `double precision` values).
fn same_number(a: &str, b: &str) -> bool {
    match (canonical(a), canonical(b)) {
        (Some(a), Some(b)) => a == b,
        _ => matches!(
            (a.trim().parse::<f64>(), b.trim().parse::<f64>()),
            (Ok(x), Ok(y)) if x == y
        ),
    }
}

/// A plain decimal without leading or trailing zeros, `-` only on non-zero values.
fn canonical(text: &str) -> Option<String> {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let magnitude = match (whole, fraction) {
        ("", "") => return Some("0".into()),
        ("", f) => format!("0.{f}"),
        (w, "") => w.to_string(),
        (w, f) => format!("{w}.{f}"),
    };
    Some(if negative {
        format!("-{magnitude}")
    } else {
        magnitude
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        for (a, b) in [
            ("0", "0"),
            ("0.00", "0"),
            ("-0", "0"),
            ("+7", "7"),
            ("007.50", "7.5"),
            ("-5.00", "-5"),
            ("1e+20", "100000000000000000000"),
            ("12345678901234567890123", "12345678901234567890123.000"),
        ] {
            assert!(same_number(a, b), "{a} = {b}");
        }
        for (a, b) in [
            ("1", "0"),
            ("-5", "5"),
            ("0.1", "0.01"),
            ("12345678901234567890123", "12345678901234567890124"),
            ("NaN", "NaN"),
            ("x", "0"),
        ] {
            assert!(!same_number(a, b), "{a} != {b}");
        }
    }
}
