//! Migration files: naming, discovery, ordering, checksums, the directives that decide
//! how a file runs (in a transaction or statement by statement), and the way back: a
//! `.down.sql` file beside its up file, or dbmate's `-- migrate:up` / `-- migrate:down`
//! sections in one file. It does not talk to the database; `apply` does that with what
//! this module finds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::sql::{Piece, Statement};

/// A migration file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    /// The integer value of the leading digits (`0007-x.sql` is 7).
    pub version: u64,
    /// The file name, e.g. `007_add_roles.sql`.
    pub file: String,
    /// The descriptive part of the name, e.g. `add_roles`.
    pub description: String,
    /// Full path.
    pub path: PathBuf,
}

/// A `.down.sql` file, paired with its up file by version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownFile {
    pub version: u64,
    /// The file name, e.g. `007_add_roles.down.sql`.
    pub file: String,
    pub path: PathBuf,
}

/// A file's text split by dbmate's section markers: `-- migrate:up` and `-- migrate:down`
/// lines. Each section keeps the file's line numbers (the other section's lines are
/// blanked), so errors point at the line a person opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sections {
    /// What applying runs: everything outside the down section.
    pub up: String,
    /// The down section, with the lines before it blanked; `None` without a
    /// `-- migrate:down` line.
    pub down: Option<String>,
    /// The line of the `-- migrate:down` marker.
    pub down_line: usize,
}

static SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*--\s*migrate:(up|down)\b").expect("valid regex"));

static DOWN_MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?im)^[ \t]*--[ \t]*migrate:down\b").expect("valid regex"));

/// Whether the text has a `-- migrate:down` line: one search, no copy.
pub fn has_down_section(text: &str) -> bool {
    DOWN_MARKER.is_match(text)
}

/// Splits a file at dbmate's markers. A file without a `-- migrate:down` line is all up
/// (its `up` is the text unchanged). Lines after `-- migrate:down` belong to the down
/// section until a `-- migrate:up` line, if one follows.
pub fn sections(text: &str) -> Sections {
    if !has_down_section(text) {
        return Sections {
            up: text.to_string(),
            down: None,
            down_line: 0,
        };
    }
    let mut in_down = false;
    let mut down_line = 0;
    let (mut up, mut down) = (String::with_capacity(text.len()), String::new());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if let Some(caps) = SECTION.captures(line) {
            in_down = caps[1].eq_ignore_ascii_case("down");
            if in_down && down_line == 0 {
                down_line = index + 1;
            }
        }
        let newline = if line.ends_with('\n') { "\n" } else { "" };
        if in_down {
            up.push_str(newline);
            down.push_str(line);
        } else {
            up.push_str(line);
            down.push_str(newline);
        }
    }
    if down_line == 0 {
        return Sections {
            up: text.to_string(),
            down: None,
            down_line: 0,
        };
    }
    Sections {
        up,
        down: Some(down),
        down_line,
    }
}

/// What discovery found in `migrations/`.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// Up migrations, ordered by version.
    pub migrations: Vec<MigrationFile>,
    /// Down files, ordered by version.
    pub downs: Vec<DownFile>,
    /// Things worth a warning: gaps in numbering, down files without an up file.
    pub warnings: Vec<String>,
}

/// Which way a file goes, from its `.up.sql`/`.down.sql` suffix (plain `.sql` is up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^v?(\d+)(?:[_.\-]+(.*?))?(\.up|\.down)?\.sql$").expect("valid regex")
});

/// Parses a migration file name into (version, description, direction); `None` when the
/// name carries no version.
pub fn parse_name(file: &str) -> Option<(u64, String, Direction)> {
    let caps = NAME.captures(file)?;
    let version = caps[1].parse().ok()?;
    let description = caps.get(2).map_or("", |m| m.as_str()).to_string();
    let direction = match caps.get(3).map(|m| m.as_str().to_ascii_lowercase()) {
        Some(ref d) if d == ".down" => Direction::Down,
        _ => Direction::Up,
    };
    Some((version, description, direction))
}

/// Lists the migrations in `dir` (top level only), ordered by integer version.
///
/// Two up files with one version and a `.sql` file without a version are errors that name
/// the files, all of them in one error (see [`scan`]); a gap in numbering is a warning. A
/// missing folder means no migrations.
pub fn discover(dir: &Path) -> Result<Discovered> {
    let (found, problems) = scan(dir)?;
    Error::from_problems(dir, problems)?;
    Ok(found)
}

/// Lists the migrations in `dir` like [`discover`], returning the problems instead of
/// stopping at the first: every file that repeats an earlier file's version (named with
/// that file) and every `.sql` file without a version. Only an unreadable folder is an
/// error here.
pub fn scan(dir: &Path) -> Result<(Discovered, Vec<Error>)> {
    let mut found = Discovered::default();
    let mut problems = Vec::new();
    let mut ups: BTreeMap<u64, MigrationFile> = BTreeMap::new();
    for (file, path) in crate::project::layout::sql_files(dir)? {
        let Some((version, description, direction)) = parse_name(&file) else {
            problems.push(Error::UnversionedMigration { path });
            continue;
        };
        if direction == Direction::Down {
            if let Some(first) = found.downs.iter().find(|d| d.version == version) {
                problems.push(Error::DuplicateDown {
                    version,
                    first: first.file.clone(),
                    second: file,
                });
                continue;
            }
            found.downs.push(DownFile {
                version,
                file,
                path,
            });
            continue;
        }
        if let Some(first) = ups.get(&version) {
            problems.push(Error::DuplicateVersion {
                version,
                first: first.file.clone(),
                second: file,
            });
            continue;
        }
        let migration = MigrationFile {
            version,
            file,
            description,
            path,
        };
        ups.insert(version, migration);
    }
    found.migrations = ups.into_values().collect();
    found.downs.sort_by_key(|d| d.version);
    found.warnings = numbering_warnings(&found);
    Ok((found, problems))
}

/// Whether a version reads as a date (`20240101`, `2024010101`, `20240101120000`): teams
/// that number migrations by time leave gaps on purpose, so those are not warned about.
pub fn is_timestamp(version: u64) -> bool {
    let digits = version.to_string();
    digits.len() >= 8 && chrono::NaiveDate::parse_from_str(&digits[..8], "%Y%m%d").is_ok()
}

fn numbering_warnings(found: &Discovered) -> Vec<String> {
    let mut warnings = Vec::new();
    for pair in found.migrations.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.version > a.version + 1 && !is_timestamp(a.version) && !is_timestamp(b.version) {
            let missing = if b.version == a.version + 2 {
                format!("{}", a.version + 1)
            } else {
                format!("{}-{}", a.version + 1, b.version - 1)
            };
            warnings.push(format!(
                "gap in migration numbering: `{}` is followed by `{}` (no {missing})",
                a.file, b.file
            ));
        }
    }
    for down in &found.downs {
        if !found.migrations.iter().any(|m| m.version == down.version) {
            warnings.push(format!(
                "`{}` has no matching up migration",
                down.path.display()
            ));
        }
    }
    warnings
}

/// Reads a SQL file as UTF-8, naming the file and line on bad bytes.
pub fn read_sql(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..bad].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::NotUtf8 {
            path: path.to_path_buf(),
            line,
        }
    })
}

/// The checksum of a file's text: SHA-256 (hex) over the text with a BOM, line endings,
/// trailing spaces on each line and trailing blank lines ignored, so a checkout with other
/// line endings or an editor that trims whitespace does not count as an edit.
///
/// ```
/// use dbkit::project::migrations::checksum;
/// assert_eq!(checksum("CREATE TABLE a ();\n"), checksum("\u{feff}CREATE TABLE a ();  \r\n\r\n"));
/// assert_ne!(checksum("CREATE TABLE a ();\n"), checksum("CREATE TABLE b ();\n"));
/// ```
pub fn checksum(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut hasher = Sha256::new();
    let mut blank_run = 0usize;
    for line in text.split('\n') {
        let line = line.trim_end_matches([' ', '\t', '\r']);
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        for _ in 0..blank_run {
            hasher.update(b"\n");
        }
        blank_run = 0;
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    hex(&hasher.finalize())
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    // By table rather than `format!` per byte: a no-op run hashes every file.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// How a migration file runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "reason")]
pub enum RunMode {
    /// In one transaction together with its history row.
    Transaction,
    /// Statement by statement, each committing on its own, for the reason given.
    NoTransaction(String),
}

static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)^\s*--\s*(dbkit:no-transaction|postgres-migrations\s+disable-transaction|migrate:(?:up|down)\s+transaction:false)\b")
        .expect("valid regex")
});

/// Why a statement cannot run inside a transaction block, if it cannot.
fn non_transactional(statement: &Statement<'_>) -> Option<String> {
    let words = statement.leading_keywords(4);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let line = statement.line;
    let reason = match w.as_slice() {
        ["CREATE", "INDEX", "CONCURRENTLY", ..]
        | ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"]
        | ["DROP", "INDEX", "CONCURRENTLY", ..] => "`INDEX CONCURRENTLY`",
        ["REINDEX", ..]
            if statement
                .code()
                .to_ascii_uppercase()
                .contains("CONCURRENTLY") =>
        {
            "`REINDEX CONCURRENTLY`"
        }
        ["ALTER", "TABLE", ..]
            if statement
                .code()
                .to_ascii_uppercase()
                .contains("DETACH PARTITION")
                && statement
                    .code()
                    .to_ascii_uppercase()
                    .contains("CONCURRENTLY") =>
        {
            "`DETACH PARTITION CONCURRENTLY`"
        }
        ["VACUUM", ..] => "`VACUUM`",
        ["ALTER", "SYSTEM", ..] => "`ALTER SYSTEM`",
        ["CREATE", "DATABASE", ..] | ["DROP", "DATABASE", ..] => "`CREATE/DROP DATABASE`",
        ["CREATE", "TABLESPACE", ..] | ["DROP", "TABLESPACE", ..] => "`CREATE/DROP TABLESPACE`",
        ["COMMIT" | "END" | "ROLLBACK" | "ABORT", ..] => "a top-level `COMMIT`/`ROLLBACK`",
        ["DO", ..] | ["CALL", ..] if body_controls_transaction(statement) => {
            "`COMMIT`/`ROLLBACK` inside a `DO` block"
        }
        _ => return None,
    };
    Some(format!("{reason} on line {line}"))
}

static TXN_IN_BODY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(^|;|\bTHEN\b|\bELSE\b|\bLOOP\b|\bBEGIN\b)\s*(COMMIT|ROLLBACK)\s*(;|AND\b|$)")
        .expect("valid regex")
});

fn body_controls_transaction(statement: &Statement<'_>) -> bool {
    statement.dollar_bodies().iter().any(|body| {
        let code: String = body
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        TXN_IN_BODY.is_match(&code)
    })
}

/// Decides how a file runs: a `-- dbkit:no-transaction` (or `-- postgres-migrations
/// disable-transaction`, or dbmate's `-- migrate:up transaction:false`) line, or a statement that cannot run in a transaction block,
/// makes it run statement by statement. A file wrapped in one `BEGIN; ... COMMIT;` pair
/// is not such a file: `wrapper` reports the pair so the caller can absorb it into its
/// own transaction.
pub fn run_mode(text: &str, pieces: &[Piece<'_>]) -> (RunMode, Option<Wrapper>) {
    if let Some(m) = MARKER.find(text) {
        let line = text[..m.start()].matches('\n').count() + 1;
        let marker = m.as_str().trim().trim_start_matches('-').trim();
        return (
            RunMode::NoTransaction(format!("marked `-- {marker}` on line {line}")),
            None,
        );
    }
    let statements: Vec<&Statement<'_>> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Statement(s) if !s.is_empty() => Some(s),
            _ => None,
        })
        .collect();
    let wrapper = transaction_wrapper(&statements);
    let inner = match wrapper {
        Some(_) => &statements[1..statements.len() - 1],
        None => &statements[..],
    };
    for statement in inner {
        if let Some(reason) = non_transactional(statement) {
            return (RunMode::NoTransaction(reason), None);
        }
    }
    (RunMode::Transaction, wrapper)
}

/// The byte ranges of a file's own `BEGIN;` and closing `COMMIT;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wrapper {
    pub begin: (usize, usize),
    pub commit: (usize, usize),
}

fn transaction_wrapper(statements: &[&Statement<'_>]) -> Option<Wrapper> {
    let (first, last) = (statements.first()?, statements.last()?);
    if statements.len() < 2 {
        return None;
    }
    let opens = matches!(
        first.leading_keywords(2).as_slice(),
        [w] | [w, _] if w == "BEGIN"
    ) || first.leading_keywords(2) == ["START", "TRANSACTION"];
    let closes = matches!(
        last.leading_keywords(1).first().map(String::as_str),
        Some("COMMIT" | "END")
    );
    (opens && closes).then_some(Wrapper {
        begin: (first.start, first.end),
        commit: (last.start, last.end),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_naming_style() {
        let cases = [
            ("007_x.sql", 7, "x", Direction::Up),
            ("0007-x.sql", 7, "x", Direction::Up),
            ("00010-x.sql", 10, "x", Direction::Up),
            (
                "V0001.Initial_Schema.up.sql",
                1,
                "Initial_Schema",
                Direction::Up,
            ),
            (
                "V0001.Initial_Schema.down.sql",
                1,
                "Initial_Schema",
                Direction::Down,
            ),
            ("V2__flyway_style.sql", 2, "flyway_style", Direction::Up),
            ("12.sql", 12, "", Direction::Up),
            ("003_add.users.sql", 3, "add.users", Direction::Up),
        ];
        for (file, version, description, direction) in cases {
            assert_eq!(
                parse_name(file),
                Some((version, description.to_string(), direction)),
                "{file}"
            );
        }
        assert_eq!(parse_name("schema.sql"), None);
        assert_eq!(parse_name("add_users_001.sql"), None);
    }

    #[test]
    fn timestamps_are_not_sequence_numbers() {
        assert!(is_timestamp(20240101120000));
        assert!(is_timestamp(202401011200));
        assert!(is_timestamp(20240229));
        assert!(!is_timestamp(20230229), "no such day");
        assert!(!is_timestamp(3));
        assert!(!is_timestamp(1000));
        assert!(!is_timestamp(12345678));
    }

    #[test]
    fn scan_lists_every_duplicate_and_unversioned_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        for file in [
            "001_a.sql",
            "01_a_again.sql",
            "1-a-third.sql",
            "002_b.sql",
            "notes.sql",
            "zz_later.sql",
        ] {
            std::fs::write(dir.path().join(file), "SELECT 1;").expect("writes");
        }
        let (found, problems) = scan(dir.path()).expect("scans");
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "migration `01_a_again.sql` duplicates version 1 (also `001_a.sql`)",
                "migration `1-a-third.sql` duplicates version 1 (also `001_a.sql`)",
                format!(
                    "migration file `{}` has no version number",
                    dir.path().join("notes.sql").display()
                )
                .as_str(),
                format!(
                    "migration file `{}` has no version number",
                    dir.path().join("zz_later.sql").display()
                )
                .as_str(),
            ]
        );
        assert_eq!(found.migrations.len(), 2);
        let err = discover(dir.path()).expect_err("refused");
        assert!(
            err.to_string().starts_with(&format!(
                "4 problems in `{}`:\n  migration `01_a_again.sql`",
                dir.path().display()
            )),
            "{err}"
        );
    }

    #[test]
    fn checksum_ignores_line_endings_trailing_space_and_bom() {
        let base = checksum("CREATE TABLE a (id int);\n\nSELECT 1;\n");
        assert_eq!(
            base,
            checksum("\u{feff}CREATE TABLE a (id int);  \r\n\r\nSELECT 1;\t\r\n\n\n")
        );
        assert_eq!(base, checksum("CREATE TABLE a (id int);\n\nSELECT 1;"));
        assert_ne!(base, checksum("CREATE TABLE a (id bigint);\n\nSELECT 1;\n"));
        assert_ne!(base, checksum("CREATE TABLE a (id int);\nSELECT 1;\n"));
        assert_ne!(base, checksum("  CREATE TABLE a (id int);\n\nSELECT 1;\n"));
    }

    fn mode(text: &str) -> RunMode {
        let pieces = crate::sql::split(text).expect("splits");
        run_mode(text, &pieces).0
    }

    #[test]
    fn detects_files_that_cannot_run_in_a_transaction() {
        assert_eq!(mode("CREATE TABLE a (id int);"), RunMode::Transaction);
        for (text, why) in [
            ("CREATE INDEX CONCURRENTLY i ON a (id);", "CONCURRENTLY"),
            (
                "create unique index concurrently i on a (id);",
                "CONCURRENTLY",
            ),
            ("DROP INDEX CONCURRENTLY IF EXISTS i;", "CONCURRENTLY"),
            ("VACUUM ANALYZE a;", "VACUUM"),
            ("ALTER SYSTEM SET work_mem = '8MB';", "ALTER SYSTEM"),
            ("CREATE DATABASE x;", "DATABASE"),
            ("DO $$ BEGIN UPDATE a SET id = 1; COMMIT; END $$;", "DO"),
            ("SELECT 1;\nCOMMIT;\nSELECT 2;", "top-level"),
            ("-- dbkit:no-transaction\nSELECT 1;", "marked"),
            (
                "-- postgres-migrations disable-transaction\nSELECT 1;",
                "marked",
            ),
        ] {
            match mode(text) {
                RunMode::NoTransaction(reason) => assert!(reason.contains(why), "{text}: {reason}"),
                RunMode::Transaction => panic!("{text} should not run in a transaction"),
            }
        }
    }

    #[test]
    fn a_wrapped_file_runs_in_a_transaction_with_the_wrapper_absorbed() {
        let text = "-- wrapped\nBEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n";
        let pieces = crate::sql::split(text).expect("splits");
        let (mode, wrapper) = run_mode(text, &pieces);
        assert_eq!(mode, RunMode::Transaction);
        let w = wrapper.expect("wrapper found");
        assert_eq!(&text[w.begin.0..w.begin.1], "BEGIN;");
        assert_eq!(&text[w.commit.0..w.commit.1], "COMMIT;");
        // A comment mentioning COMMIT inside a DO body is not transaction control.
        assert_eq!(
            mode_of("DO $$ BEGIN -- no COMMIT here\n PERFORM 1; END $$;"),
            RunMode::Transaction
        );
    }

    fn mode_of(text: &str) -> RunMode {
        mode(text)
    }

    #[test]
    fn splits_dbmate_sections_keeping_line_numbers() {
        let text = "-- migrate:up\nCREATE TABLE a (id int);\n\n-- migrate:down\nDROP TABLE a;\n";
        let s = sections(text);
        assert_eq!(s.up, "-- migrate:up\nCREATE TABLE a (id int);\n\n\n\n");
        assert_eq!(
            s.down.as_deref(),
            Some("\n\n\n-- migrate:down\nDROP TABLE a;\n")
        );
        assert_eq!(s.down_line, 4);
        let plain = sections("CREATE TABLE a (id int);");
        assert_eq!(
            (plain.up.as_str(), plain.down),
            ("CREATE TABLE a (id int);", None)
        );
        // Editing only the down section is not an edit of what was applied.
        let edited = sections(
            "-- migrate:up\nCREATE TABLE a (id int);\n\n-- migrate:down\nDROP TABLE IF EXISTS a;\n",
        );
        assert_eq!(checksum(&edited.up), checksum(&s.up));
        assert!(matches!(
            mode("-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON a (id);"),
            RunMode::NoTransaction(_)
        ));
    }

    #[test]
    fn two_down_files_for_one_version_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        for file in ["001_a.sql", "001_a.down.sql", "1_a.down.sql"] {
            std::fs::write(dir.path().join(file), "SELECT 1;").expect("writes");
        }
        let (found, problems) = scan(dir.path()).expect("scans");
        assert_eq!(found.downs.len(), 1);
        assert_eq!(
            problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["down file `1_a.down.sql` is a second down of version 1 (also `001_a.down.sql`)"]
        );
    }
}
