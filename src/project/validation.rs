//! The validation files in `sql/validation/`: each query, the name a `-- check:` line
//! gives it, and what an `-- expect:` line says it should return. This module reads and
//! checks the files; running the queries and judging them is `apply::validate`'s job.
//!
//! The grammar of an `-- expect:` line (case-insensitive), in the comment lines before
//! a query:
//!
//! | line | the query passes when it returns |
//! |---|---|
//! | `-- expect: no rows` | no rows (the rule for a check without the line) |
//! | `-- expect: rows` | at least one row |
//! | `-- expect: 3 rows`, `-- expect: 1 row` | exactly that many rows |
//! | `-- expect: 0`, `-- expect: -2.5` | one row of one column equal to that number (NULL counts as 0) |

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::project::layout::Layout;
use crate::sql::{split, Piece};

/// What a check's query should return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No rows: the query returns the offending rows.
    NoRows,
    /// At least one row.
    Rows,
    /// Exactly this many rows.
    RowCount(u64),
    /// One row of one column whose value is this number (as written); NULL counts as 0.
    Value(String),
}

impl Expect {
    /// Reads what follows `expect:`; `None` when it is not in the grammar.
    pub fn parse(given: &str) -> Option<Expect> {
        let words: Vec<String> = given
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["no", "rows"] => Some(Expect::NoRows),
            ["rows"] => Some(Expect::Rows),
            [n, "row" | "rows"] => match n.parse::<u64>().ok()? {
                0 => Some(Expect::NoRows),
                n => Some(Expect::RowCount(n)),
            },
            [value] if is_number(value) => Some(Expect::Value((*value).to_string())),
            _ => None,
        }
    }
}

/// A plain decimal number: an optional sign, digits, optionally a point and digits.
fn is_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// Written back in the grammar of the `-- expect:` line.
impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::NoRows => f.write_str("no rows"),
            Expect::Rows => f.write_str("rows"),
            Expect::RowCount(1) => f.write_str("1 row"),
            Expect::RowCount(n) => write!(f, "{n} rows"),
            Expect::Value(value) => f.write_str(value),
        }
    }
}

impl serde::Serialize for Expect {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One check: a query of a validation file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckQuery {
    /// Byte range of the query in its file's text.
    pub start: usize,
    pub end: usize,
    /// 1-based line where the query starts.
    pub line: usize,
    /// The `-- check:` name, or the query's first line.
    pub description: String,
    /// The `-- expect:` line; `None` leaves it to the result (see `apply::validate`).
    pub expect: Option<Expect>,
}

/// A validation file and its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationFile {
    pub path: PathBuf,
    pub text: String,
    pub checks: Vec<CheckQuery>,
}

/// Reads every file of `dir` in numbered order, returning the problems (unreadable or
/// unsplittable files, unknown `-- expect:` lines) instead of stopping at the first.
pub fn scan(dir: &Path) -> Result<(Vec<ValidationFile>, Vec<Error>)> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in Layout::numbered_files(dir)? {
        let text = match crate::project::migrations::read_sql(&path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        match checks(&path, &text) {
            Ok(checks) => files.push(ValidationFile { path, text, checks }),
            Err(mut found) => problems.append(&mut found),
        }
    }
    Ok((files, problems))
}

fn checks(path: &Path, text: &str) -> Result<Vec<CheckQuery>, Vec<Error>> {
    let pieces = split(text).map_err(|e| vec![e.at(path)])?;
    let mut checks = Vec::new();
    let mut problems = Vec::new();
    let mut previous_end = 0;
    for piece in &pieces {
        let Piece::Statement(statement) = piece else {
            continue;
        };
        if statement.is_empty() {
            continue;
        }
        let comments = Comments {
            text,
            start: previous_end,
            end: statement.start,
        };
        previous_end = statement.end;
        let expect = match comments.last("expect") {
            None => None,
            Some((line, given)) => match Expect::parse(given) {
                Some(expect) => Some(expect),
                None => {
                    problems.push(Error::BadExpectation {
                        path: path.to_path_buf(),
                        line,
                        given: given.to_string(),
                    });
                    None
                }
            },
        };
        checks.push(CheckQuery {
            start: statement.start,
            end: statement.end,
            line: statement.line,
            description: comments
                .last("check")
                .map(|(_, d)| d.to_string())
                .unwrap_or_else(|| first_line(statement.text)),
            expect,
        });
    }
    if problems.is_empty() {
        Ok(checks)
    } else {
        Err(problems)
    }
}

/// The text between the previous query and this one: its comment lines.
struct Comments<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

impl<'a> Comments<'a> {
    /// The `-- key: value` line closest before the query, as (line number, value).
    fn last(&self, key: &str) -> Option<(usize, &'a str)> {
        let between = &self.text[self.start..self.end];
        let mut offset = self.start;
        let mut found = None;
        for line in between.split_inclusive('\n') {
            if let Some(value) = directive(line, key) {
                found = Some((offset, value));
            }
            offset += line.len();
        }
        found.map(|(at, value)| (self.text[..at].matches('\n').count() + 1, value))
    }
}

/// The value of a `-- key: value` comment line, the key compared case-insensitively.
fn directive<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let comment = line.trim().strip_prefix("--")?.trim_start();
    let head = comment.get(..key.len())?;
    let rest = comment[key.len()..].strip_prefix(':')?;
    head.eq_ignore_ascii_case(key).then(|| rest.trim())
}

fn first_line(statement: &str) -> String {
    let line = statement.lines().next().unwrap_or("").trim();
    if line.chars().count() > 60 {
        format!("{}...", line.chars().take(57).collect::<String>())
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_expect_grammar() {
        let cases = [
            ("no rows", Some(Expect::NoRows)),
            ("No  Rows", Some(Expect::NoRows)),
            ("0 rows", Some(Expect::NoRows)),
            ("rows", Some(Expect::Rows)),
            ("1 row", Some(Expect::RowCount(1))),
            ("12 rows", Some(Expect::RowCount(12))),
            ("0", Some(Expect::Value("0".into()))),
            ("-2.50", Some(Expect::Value("-2.50".into()))),
            ("+7", Some(Expect::Value("+7".into()))),
            ("", None),
            ("lots", None),
            ("1.", None),
            (".5", None),
            ("some rows", None),
            ("'active'", None),
            ("1e3", None),
        ];
        for (given, expected) in cases {
            assert_eq!(Expect::parse(given), expected, "{given:?}");
        }
        assert_eq!(Expect::RowCount(1).to_string(), "1 row");
        assert_eq!(Expect::RowCount(3).to_string(), "3 rows");
    }

    #[test]
    fn names_and_expectations_come_from_the_comments_before_each_query() {
        let text = "-- file header\n\n-- check: first\n-- EXPECT: 2\nSELECT count(*) FROM a;\n\nSELECT 1\n  WHERE false;\n-- expect: rows\n-- check: third\nSELECT * FROM b;\n";
        let checks = checks(Path::new("v.sql"), text).expect("reads");
        let summary: Vec<(usize, &str, Option<Expect>)> = checks
            .iter()
            .map(|c| (c.line, c.description.as_str(), c.expect.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                (5, "first", Some(Expect::Value("2".into()))),
                (7, "SELECT 1", None),
                (11, "third", Some(Expect::Rows)),
            ]
        );
        assert_eq!(&text[checks[2].start..checks[2].end], "SELECT * FROM b;");
    }

    #[test]
    fn every_unknown_expectation_is_named_with_its_line() {
        let text = "-- expect: lots\nSELECT 1;\n-- expect: 0\nSELECT 0;\n-- expect:\nSELECT 2;\n";
        let problems = checks(Path::new("v.sql"), text).expect_err("refused");
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "v.sql:1: unknown expectation `lots`",
                "v.sql:5: unknown expectation ``"
            ]
        );
    }
}
