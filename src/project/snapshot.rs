//! Phase snapshots: their versions (`v1.9 < v1.10 < v2.0`), their files in `versions/`,
//! and the header that says what a snapshot includes. It does not load or dump snapshots;
//! `apply` loads them.
//!
//! The header is the run of `-- Key: value` lines at the top of the file:
//! ```text
//! -- Schema Version: v2.0
//! -- Description: Phase 2 - Contract Parsing
//! -- Generated: 2026-11-22 10:00:00 UTC
//! -- DO NOT EDIT: this snapshot is read-only; change the schema with a new migration
//! -- Last Migration: 12 (012_add_audit_log.sql)
//! -- Migrations Checksum: <sha256 hex>
//! -- PostgreSQL Version: 15.18
//! -- dbkit Version: 0.1.0
//! -- Body Checksum: <sha256 hex>
//! ```
//! A snapshot with no `Last Migration` line (a hand-written baseline) includes no
//! migrations. The body is everything after the header.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::project::migrations::{hex, MigrationFile};

/// A snapshot version such as `v2.0`, ordered numerically by component.
///
/// ```
/// use dbkit::project::snapshot::SnapshotVersion;
/// let v = |s: &str| s.parse::<SnapshotVersion>().unwrap();
/// assert!(v("v1.9") < v("v1.10") && v("v1.10") < v("v2.0"));
/// assert_eq!(v("V2.0").to_string(), "v2.0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SnapshotVersion(Vec<u64>);

impl SnapshotVersion {
    /// The numeric components, `[2, 0]` for `v2.0`.
    pub fn components(&self) -> &[u64] {
        &self.0
    }
}

impl FromStr for SnapshotVersion {
    type Err = Error;

    /// Parses `v2`, `v2.0`, `v1.10.3` (the `v` may be upper-case or missing).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::BadVersion { given: s.into() };
        let digits = s.strip_prefix(['v', 'V']).unwrap_or(s);
        if digits.is_empty() {
            return Err(bad());
        }
        digits
            .split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                part.parse().map_err(|_| bad())
            })
            .collect::<Result<Vec<u64>>>()
            .map(SnapshotVersion)
    }
}

impl Ord for SnapshotVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        // v2 == v2.0: compare with missing components as zero, then by length.
        let len = self.0.len().max(other.0.len());
        (0..len)
            .map(|i| {
                let a = self.0.get(i).copied().unwrap_or(0);
                let b = other.0.get(i).copied().unwrap_or(0);
                a.cmp(&b)
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| self.0.len().cmp(&other.0.len()))
    }
}

impl PartialOrd for SnapshotVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SnapshotVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        write!(f, "v{}", parts.join("."))
    }
}

/// A snapshot file in `versions/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    pub version: SnapshotVersion,
    /// The file name, e.g. `v2.0_phase_2.sql`.
    pub file: String,
    pub path: PathBuf,
    /// Its header, read when the folder is read (`body_start` counts from the file's
    /// first byte, so it indexes the whole text too).
    pub header: Header,
}

static FILE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(v\d+(?:\.\d+)*)(?:[_\-].*)?\.sql$").expect("valid regex"));

/// Lists the snapshots in `dir`, oldest first. A `.sql` file not named `vX.Y_name.sql`
/// and two files of one version are errors naming the files, all of them in one error
/// (see [`scan`]).
pub fn discover(dir: &Path) -> Result<Vec<SnapshotFile>> {
    let (found, problems) = scan(dir)?;
    Error::from_problems(dir, problems)?;
    Ok(found)
}

/// Lists the snapshots in `dir` like [`discover`], returning every misnamed or
/// duplicate file as a problem instead of stopping at the first.
pub fn scan(dir: &Path) -> Result<(Vec<SnapshotFile>, Vec<Error>)> {
    let mut found: BTreeMap<SnapshotVersion, SnapshotFile> = BTreeMap::new();
    let mut problems = Vec::new();
    for (file, path) in crate::project::layout::sql_files(dir)? {
        let Some(caps) = FILE_NAME.captures(&file) else {
            problems.push(Error::BadSnapshotName { path });
            continue;
        };
        let version: SnapshotVersion = match caps[1].parse() {
            Ok(version) => version,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        if let Some(first) = found.get(&version) {
            problems.push(Error::DuplicateSnapshot {
                version: version.to_string(),
                first: first.file.clone(),
                second: file,
            });
            continue;
        }
        found.insert(
            version.clone(),
            SnapshotFile {
                version,
                file,
                header: read_header(&path)?,
                path,
            },
        );
    }
    Ok((found.into_values().collect(), problems))
}

/// The parsed header of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// Every `-- Key: value` line, keys as written.
    pub fields: Vec<(String, String)>,
    /// The last migration version the snapshot includes; `None` for none.
    pub last_migration: Option<u64>,
    /// Byte offset where the body starts.
    pub body_start: usize,
}

impl Header {
    /// The value of a header key, compared case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

static FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^--\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$").expect("valid regex")
});

/// Reads only the header of a snapshot file: the leading comment lines, not the body,
/// which may be megabytes.
pub fn read_header(path: &Path) -> Result<Header> {
    use std::io::BufRead;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut prefix = Vec::new();
    loop {
        let before = prefix.len();
        if reader.read_until(b'\n', &mut prefix).map_err(io)? == 0 {
            break;
        }
        let line = &prefix[before..];
        let line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        if !line.starts_with(b"--") {
            prefix.truncate(before);
            break;
        }
    }
    let text = String::from_utf8_lossy(&prefix);
    Ok(parse_header(&text))
}

/// Reads the header at the top of a snapshot's text.
pub fn parse_header(text: &str) -> Header {
    let mut header = Header::default();
    let mut offset = usize::from(text.starts_with('\u{feff}')) * '\u{feff}'.len_utf8();
    for line in text[offset..].split_inclusive('\n') {
        let trimmed = line.trim_end();
        if !trimmed.starts_with("--") {
            break;
        }
        if let Some(caps) = FIELD.captures(trimmed) {
            header
                .fields
                .push((caps[1].to_string(), caps[2].to_string()));
        }
        offset += line.len();
    }
    header.body_start = offset;
    header.last_migration = header.get("Last Migration").and_then(|v| {
        let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    });
    header
}

/// The checksum of the migrations a snapshot includes, as written in its header: SHA-256
/// over `version<TAB>checksum<LF>` for each, in version order.
pub fn migrations_checksum<'a>(
    included: impl IntoIterator<Item = (&'a MigrationFile, &'a str)>,
) -> String {
    let mut hasher = Sha256::new();
    for (migration, checksum) in included {
        hasher.update(format!("{}\t{}\n", migration.version, checksum).as_bytes());
    }
    hex(&hasher.finalize())
}

/// What the header of a new snapshot says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHeader {
    pub version: SnapshotVersion,
    pub description: String,
    /// `2026-11-22 10:00:00 UTC`.
    pub generated: String,
    /// The last migration included, as `(version, file)`.
    pub last_migration: Option<(u64, String)>,
    pub migrations_checksum: String,
    pub postgres_version: String,
    pub dbkit_version: String,
}

/// The whole text of a snapshot: the header (with the body's checksum), a blank line,
/// then the body.
pub fn render(header: &NewHeader, body: &str) -> String {
    let separated_body = format!("\n{body}");
    let last = header
        .last_migration
        .as_ref()
        .map_or("none".to_string(), |(v, f)| format!("{v} ({f})"));
    // One line each: a description cannot end the header early or inject a field.
    let description = header
        .description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "-- Schema Version: {}\n-- Description: {description}\n-- Generated: {}\n-- DO NOT EDIT: this snapshot is read-only; change the schema with a new migration\n-- Last Migration: {last}\n-- Migrations Checksum: {}\n-- PostgreSQL Version: {}\n-- dbkit Version: {}\n-- Body Checksum: {}\n{separated_body}",
        header.version,
        header.generated,
        header.migrations_checksum,
        header.postgres_version,
        header.dbkit_version,
        crate::project::migrations::checksum(&separated_body),
    )
}

static DUMP_NOISE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:\\(?:un)?restrict [A-Za-z0-9]+|-- Dumped (?:from database|by pg_dump) version .*)$",
    )
    .expect("valid regex")
});

static EXTENSION_IN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^CREATE EXTENSION IF NOT EXISTS \S+ WITH SCHEMA ("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*);$"#,
    )
    .expect("valid regex")
});

/// pg_dump's output made the same for the same schema, and loadable into an empty
/// database: no `\restrict`/`\unrestrict` lines (their key is random on every run, and
/// only psql understands them), no pg_dump or server version lines (the header records
/// the server's version), each removed line's following blank line gone with it, and
/// exactly one newline at the end. A dump of chosen schemas creates `public`, which
/// every database has, and installs extensions into schemas it does not create: those
/// get `IF NOT EXISTS` and a `CREATE SCHEMA IF NOT EXISTS` before them. Lines are
/// otherwise kept byte for byte: a function body's whitespace is part of the function.
pub fn normalize_dump(dump: &str) -> String {
    let mut out = String::with_capacity(dump.len());
    let mut skip_blank = false;
    let created: Vec<&str> = dump
        .lines()
        .filter_map(|l| l.strip_prefix("CREATE SCHEMA ")?.strip_suffix(';'))
        .collect();
    for line in dump.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        if DUMP_NOISE.is_match(content) {
            skip_blank = true;
            continue;
        }
        if content == "CREATE SCHEMA public;" {
            out.push_str("CREATE SCHEMA IF NOT EXISTS public;\n");
            skip_blank = false;
            continue;
        }
        if let Some(caps) = EXTENSION_IN.captures(content) {
            if !created.contains(&&caps[1]) {
                out.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};\n", &caps[1]));
            }
        }
        if skip_blank && content.is_empty() {
            continue;
        }
        skip_blank = false;
        out.push_str(line);
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

/// The record of snapshots `check-drift --snapshots` proved: `versions/verified.json`,
/// one entry per snapshot file with the checksum of the text it proved, kept in the
/// repository so every clone knows (an edit of the snapshot makes it unproven again).
pub const VERIFIED: &str = "verified.json";

/// The proven snapshots of a `versions/` folder: file name to checksum. A folder
/// without the record, or a record that does not read, proves nothing.
pub fn verified(versions: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(versions.join(VERIFIED))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Whether a snapshot file is proven as it is now.
pub fn is_verified(record: &BTreeMap<String, String>, snapshot: &SnapshotFile) -> bool {
    record.get(&snapshot.file).is_some_and(|recorded| {
        crate::project::migrations::read_sql(&snapshot.path)
            .is_ok_and(|text| crate::project::migrations::checksum(&text) == *recorded)
    })
}

/// Records snapshot files as proven (or no longer, for `None`), written atomically with
/// the entries in name order, so a run that proves nothing new changes no byte.
pub fn record_verified(versions: &Path, results: &[(String, Option<String>)]) -> Result<()> {
    let mut record = verified(versions);
    for (file, checksum) in results {
        match checksum {
            Some(sum) => record.insert(file.clone(), sum.clone()),
            None => record.remove(file),
        };
    }
    let path = versions.join(VERIFIED);
    if record.is_empty() && !path.exists() {
        return Ok(());
    }
    let text = serde_json::to_string_pretty(&record).unwrap_or_default() + "\n";
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let mut temporary = tempfile::NamedTempFile::new_in(versions).map_err(io)?;
    std::io::Write::write_all(&mut temporary, text.as_bytes()).map_err(io)?;
    temporary.persist(&path).map_err(|e| io(e.error))?;
    Ok(())
}

/// A file-name slug of a description: `Phase 2 - Contract Parsing` gives
/// `phase_2_contract_parsing`.
pub fn slug(description: &str) -> String {
    let mut slug = String::new();
    for c in description.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    slug.trim_end_matches('_').to_string()
}

/// The file name of a new snapshot: `v2.0_phase_2_contract_parsing.sql`.
pub fn file_name(version: &SnapshotVersion, name: &str) -> String {
    if name.is_empty() {
        format!("{version}.sql")
    } else {
        format!("{version}_{name}.sql")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_lists_every_misnamed_and_duplicate_snapshot() {
        let dir = tempfile::tempdir().expect("temp dir");
        for file in [
            "v1.0_a.sql",
            "v1.0-again.sql",
            "base.sql",
            "v2_b.sql",
            "z.sql",
        ] {
            std::fs::write(dir.path().join(file), "SELECT 1;").expect("writes");
        }
        let (found, problems) = scan(dir.path()).expect("scans");
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("base.sql"), "{lines:?}");
        assert_eq!(
            lines[1],
            "snapshot `v1.0_a.sql` duplicates version v1.0 (also `v1.0-again.sql`)"
        );
        assert!(lines[2].contains("z.sql"), "{lines:?}");
        assert_eq!(found.len(), 2);
    }

    fn v(s: &str) -> SnapshotVersion {
        s.parse().expect("version parses")
    }

    #[test]
    fn versions_order_numerically() {
        assert!(v("v1.9") < v("v1.10"));
        assert!(v("v1.10") < v("v2.0"));
        assert!(v("v2") < v("v2.0.1"));
        assert_eq!(v("V2.0").to_string(), "v2.0");
        for bad in ["v", "1..2", "v1.x", "", "v1."] {
            assert!(bad.parse::<SnapshotVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn normalizing_removes_random_keys_and_versions_only() {
        let dump = "--\n-- PostgreSQL database dump\n--\n\n\\restrict Ab12Cd\n\n-- Dumped from database version 15.18 (Debian)\n-- Dumped by pg_dump version 15.18\n\nSET x = 0;\n\nCREATE FUNCTION f() RETURNS int AS $$\nselect 1;  \n\n\n$$;\n\n\\unrestrict Ab12Cd\n\n\n";
        assert_eq!(
            normalize_dump(dump),
            "--\n-- PostgreSQL database dump\n--\n\nSET x = 0;\n\nCREATE FUNCTION f() RETURNS int AS $$\nselect 1;  \n\n\n$$;\n"
        );
    }

    #[test]
    fn a_dump_of_chosen_schemas_loads_into_an_empty_database() {
        let dump = "CREATE SCHEMA public;\n\nCREATE SCHEMA app;\n\nCREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;\n\nCREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA app;\n";
        assert_eq!(
            normalize_dump(dump),
            "CREATE SCHEMA IF NOT EXISTS public;\n\nCREATE SCHEMA app;\n\nCREATE SCHEMA IF NOT EXISTS extensions;\nCREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;\n\nCREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA app;\n"
        );
    }

    #[test]
    fn a_rendered_header_reads_back_and_checks_its_body() {
        let header = NewHeader {
            version: v("v2.0"),
            description: "Phase 2 -\nContract Parsing".into(),
            generated: "2026-11-22 10:00:00 UTC".into(),
            last_migration: Some((12, "012_x.sql".into())),
            migrations_checksum: "ab".repeat(32),
            postgres_version: "15.18".into(),
            dbkit_version: "0.1.0".into(),
        };
        let text = render(&header, "--\n-- dump\n--\n\nCREATE TABLE a ();\n");
        let parsed = parse_header(&text);
        assert_eq!(
            parsed.get("Description"),
            Some("Phase 2 - Contract Parsing")
        );
        assert_eq!(parsed.last_migration, Some(12));
        assert_eq!(parsed.get("PostgreSQL Version"), Some("15.18"));
        let body = &text[parsed.body_start..];
        assert!(body.starts_with("\n--\n-- dump"), "{body}");
        assert_eq!(
            parsed.get("Body Checksum"),
            Some(crate::project::migrations::checksum(body).as_str())
        );
        assert_eq!(
            slug("Phase 2 - Contract Parsing"),
            "phase_2_contract_parsing"
        );
        assert_eq!(slug("  Ünïcode & more!! "), "n_code_more");
        assert_eq!(file_name(&v("v2.0"), "x"), "v2.0_x.sql");
    }

    #[test]
    fn reads_a_header_and_finds_the_body() {
        let text = "-- Schema Version: v2.0\n-- Description: Phase 2 - Parsing: more\n-- DO NOT EDIT: generated\n-- Last Migration: 12 (012_x.sql)\n\nCREATE TABLE a ();\n";
        let header = parse_header(text);
        assert_eq!(header.get("schema version"), Some("v2.0"));
        assert_eq!(header.get("Description"), Some("Phase 2 - Parsing: more"));
        assert_eq!(header.last_migration, Some(12));
        assert_eq!(&text[header.body_start..], "\nCREATE TABLE a ();\n");
        assert_eq!(parse_header("CREATE TABLE a ();").last_migration, None);
        assert_eq!(
            parse_header("-- Last Migration: none\n").last_migration,
            None
        );
    }
}
