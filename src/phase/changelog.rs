//! `SCHEMA_CHANGES.md`, the changelog with one entry per phase snapshot: finding the
//! team's file (project root, or `database/` where the team keeps it there), telling
//! whether a version already has an entry, and writing an entry that lists exactly the
//! migrations a snapshot adds, each with a one-line summary of what it changed. It does
//! not write files (`phase` does, together with the snapshot).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::ddl::FileSummary;
use crate::project::layout::Layout;
use crate::project::snapshot::SnapshotVersion;

/// The changelog's file name.
pub const FILE: &str = "SCHEMA_CHANGES.md";

/// The title and preamble of a new changelog.
pub const PREAMBLE: &str = "# Schema changes

One entry per phase snapshot in `database/versions/`, newest last. `create-phase-snapshot`
appends an entry listing exactly the migrations the snapshot includes since the previous
one.
";

/// The team's changelog: the project root's if it exists, else the database folder's if
/// that exists, else the project root's (to be created).
pub fn locate(layout: &Layout) -> PathBuf {
    let root = layout.project_root().join(FILE);
    let beside = layout.root.join(FILE);
    if !root.exists() && beside.exists() {
        beside
    } else {
        root
    }
}

static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^##\s+\[?([vV]\d+(?:\.\d+)*)\b").expect("valid regex"));

/// Whether the changelog already has an entry (a `## v2.0 ...` heading) for `version`,
/// however its heading spells it (`V2.0`, `[v2.0]`).
pub fn has_entry(text: &str, version: &SnapshotVersion) -> bool {
    HEADING.captures_iter(text).any(|caps| {
        caps[1]
            .parse::<SnapshotVersion>()
            .is_ok_and(|found| &found == version)
    })
}

/// What an entry says.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub version: &'a SnapshotVersion,
    pub description: &'a str,
    /// `2026-11-22`.
    pub date: &'a str,
    /// The snapshot file, relative to the project root.
    pub snapshot: &'a Path,
    pub postgres_version: &'a str,
    /// The previous snapshot's version, if any.
    pub previous: Option<&'a SnapshotVersion>,
    /// The migrations since the previous snapshot, documented in order, with their
    /// file names.
    pub migrations: &'a [(String, FileSummary)],
}

/// The entry's Markdown, starting with its `##` heading and ending with a newline.
pub fn render(entry: &Entry<'_>) -> String {
    let description = entry
        .description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = format!(
        "## {} — {description} ({})\n\nSnapshot: `{}` (PostgreSQL {}).\n\n",
        entry.version,
        entry.date,
        entry.snapshot.display(),
        entry.postgres_version
    );
    let since = entry
        .previous
        .map_or(String::new(), |p| format!(" since {p}"));
    if entry.migrations.is_empty() {
        out += &format!("No migrations{since}.\n");
        return out;
    }
    out += &format!(
        "{} migration{}{since}:\n\n",
        entry.migrations.len(),
        if entry.migrations.len() == 1 { "" } else { "s" }
    );
    for (file, summary) in entry.migrations {
        out += &format!("- `{file}`: {}\n", one_line(summary));
    }
    out
}

/// The changelog with the entry appended: after one blank line, and with the title when
/// the changelog is new.
pub fn append(existing: Option<&str>, entry: &str) -> String {
    let mut text = existing.unwrap_or(PREAMBLE).trim_end().to_string();
    text += "\n\n";
    text += entry;
    text
}

/// What a migration changed, in one line: new tables, new columns on existing tables,
/// new relationships, drops and renames; other kinds of change are counted.
pub fn one_line(summary: &FileSummary) -> String {
    let mut parts = Vec::new();
    let mut list = |label: (&str, &str), items: Vec<String>| {
        let label = if items.len() == 1 { label.0 } else { label.1 };
        if !items.is_empty() {
            parts.push(format!("{label} {}", ticked(&items)));
        }
    };
    list(
        ("new table", "new tables"),
        summary.new_tables.iter().map(|t| t.table.clone()).collect(),
    );
    list(
        ("new column", "new columns"),
        summary
            .new_columns
            .iter()
            .map(|c| format!("{}.{}", c.table, c.column.name))
            .collect(),
    );
    list(
        ("new relationship", "new relationships"),
        summary
            .relationships
            .iter()
            .map(|r| {
                format!(
                    "{}({}) → {}",
                    r.table,
                    r.columns.join(", "),
                    r.references_table
                )
            })
            .collect(),
    );
    list(
        ("dropped table", "dropped tables"),
        summary
            .dropped_tables
            .iter()
            .map(|d| d.object.clone())
            .collect(),
    );
    list(
        ("dropped column", "dropped columns"),
        summary
            .dropped_columns
            .iter()
            .map(|d| d.object.clone())
            .collect(),
    );
    list(
        ("renamed", "renamed"),
        summary
            .renamed_tables
            .iter()
            .chain(&summary.renamed_columns)
            .map(|r| match &r.table {
                Some(table) => format!("{table}.{} → {}", r.from, r.to),
                None => format!("{} → {}", r.from, r.to),
            })
            .collect(),
    );
    let counted = [
        (summary.changed_columns.len(), "column change"),
        (summary.constraints.len(), "constraint"),
        (summary.indexes.len(), "index"),
        (summary.types.len(), "type"),
        (summary.views.len(), "view"),
        (summary.functions.len(), "function"),
        (summary.triggers.len(), "trigger"),
        (summary.policies.len(), "policy"),
        (summary.data.len(), "table with data changes"),
    ];
    let counts: Vec<String> = counted
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {}", plural(what, *n)))
        .collect();
    if !counts.is_empty() {
        parts.push(counts.join(", "));
    }
    if parts.is_empty() {
        return format!(
            "no schema changes found ({} statement{})",
            summary.statements,
            if summary.statements == 1 { "" } else { "s" }
        );
    }
    parts.join("; ")
}

fn ticked(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(what: &str, n: usize) -> String {
    if n == 1 {
        return what.to_string();
    }
    match what {
        "index" => "indexes".into(),
        "policy" => "policies".into(),
        "table with data changes" => "tables with data changes".into(),
        other => format!("{other}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> SnapshotVersion {
        s.parse().expect("version")
    }

    #[test]
    fn finds_entries_by_version_value() {
        let text = "# Schema changes\n\n## v1.0 — Phase 1 (2026-09-01)\n\n## [v1.10] — x\n";
        assert!(has_entry(text, &v("v1.0")));
        assert!(has_entry(text, &v("v1.10")));
        assert!(!has_entry(text, &v("v1.1")));
        assert!(!has_entry(text, &v("v2.0")));
        assert!(
            !has_entry(
                "## 1. Intro
",
                &v("v1")
            ),
            "a numbered heading is not an entry"
        );
    }

    #[test]
    fn an_entry_lists_each_migration_in_one_line() {
        let summary = crate::ddl::analyze_text(
            "002.sql",
            "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a(id));\nCREATE INDEX b_a ON b (a_id);",
            &mut crate::ddl::Schema::default(),
        )
        .expect("analyses");
        let empty = FileSummary {
            statements: 1,
            ..FileSummary::default()
        };
        let version = v("v2.0");
        let previous = v("v1.0");
        let migrations = vec![
            ("002_b.sql".to_string(), summary),
            ("003_x.sql".to_string(), empty),
        ];
        let entry = Entry {
            version: &version,
            description: "Phase 2 -  Parsing",
            date: "2026-11-22",
            snapshot: Path::new("database/versions/v2.0_phase_2_parsing.sql"),
            postgres_version: "15.18",
            previous: Some(&previous),
            migrations: &migrations,
        };
        assert_eq!(
            render(&entry),
            "## v2.0 — Phase 2 - Parsing (2026-11-22)\n\nSnapshot: `database/versions/v2.0_phase_2_parsing.sql` (PostgreSQL 15.18).\n\n2 migrations since v1.0:\n\n- `002_b.sql`: new table `b`; new relationship `b(a_id) → a`; 1 index\n- `003_x.sql`: no schema changes found (1 statement)\n"
        );
        let appended = append(None, "## v2.0\n");
        assert!(appended.starts_with("# Schema changes\n"));
        assert!(appended.ends_with("one.\n\n## v2.0\n"), "{appended}");
        assert_eq!(
            append(Some("# Log\n\n\n"), "## v2.0\n"),
            "# Log\n\n## v2.0\n"
        );
    }
}
