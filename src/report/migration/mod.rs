//! What a migration changes, for people: the text summary a developer reads in a terminal
//! and the Markdown a pull-request comment shows, both from [`FileSummary`] values. The
//! two share one list of sections, so they always carry the same facts; JSON is the
//! summaries serialized (`report::json`). This file holds the sections and the two
//! renderers; `entries` formats each kind of entry. Analysing SQL is `ddl`'s job and the
//! ER diagram is `report::mermaid`'s.

use std::collections::HashSet;
use std::io::{self, Write};

use colored::Colorize;

use crate::ddl::summary::{At, Direction, DownRef, FileSummary, NewColumnRef};

/// The closing hint, for a file that changes tables or relationships.
const DIAGRAM_HINT: &str = "Update the ER diagram with these changes: `er-diagram --update database/diagrams/schema.drawio` (it keeps the layout)";

/// Writes the summaries as text, one after another, with a blank line between them.
pub fn text(w: &mut dyn Write, summaries: &[FileSummary]) -> io::Result<()> {
    for (i, summary) in summaries.iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        text_one(w, summary)?;
    }
    Ok(())
}

/// Writes the summaries as Markdown for a pull-request comment, one block per file.
pub fn markdown(w: &mut dyn Write, summaries: &[FileSummary]) -> io::Result<()> {
    for (i, summary) in summaries.iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        markdown_one(w, summary)?;
    }
    Ok(())
}

fn text_one(w: &mut dyn Write, summary: &FileSummary) -> io::Result<()> {
    let title = match summary.direction {
        Direction::Up => format!("📋 Migration Summary: {}", summary.file),
        Direction::Down => format!("⏪ Rollback Summary: {}", summary.file),
    };
    writeln!(w, "{}\n{}", title.bold(), "=".repeat(32))?;
    if let Some(up) = &summary.reverses {
        writeln!(w, "Reverses {up}, read against the schema after it.")?;
    }
    for section in sections(summary, Flavor::Text) {
        let title = format!("{}{}:", section.emoji, section.title);
        writeln!(w, "{}", title.bold())?;
        if section.empty {
            writeln!(w, "  {}", "(none)".dimmed())?;
        }
        for entry in section.entries {
            match &entry.place {
                Place::Lead(at) => writeln!(w, "  - {}:{}  {}", at.file, at.line, entry.text)?,
                Place::Line(line) => writeln!(w, "  - {}  {}", entry.text, LineNumber(*line))?,
                Place::None => writeln!(w, "  - {}", entry.text)?,
            }
        }
    }
    writeln!(w, "{}", statements(summary).dimmed())?;
    match &summary.down {
        Some(Some(down)) => writeln!(w, "↩️  Down: {}", down_place(down))?,
        Some(None) => writeln!(w, "↩️  Down: none (rollback cannot reverse this migration)")?,
        None => {}
    }
    if changes_diagram(summary) {
        writeln!(w, "💡 {DIAGRAM_HINT}")?;
    }
    Ok(())
}

/// A down file, or the line of a `-- migrate:down` section in the migration itself.
fn down_place(down: &DownRef) -> String {
    if down.line > 1 {
        format!("{}:{}", down.file, down.line)
    } else {
        down.file.clone()
    }
}

// Blank lines go before headings, so blocks join without doubled or trailing ones.
fn markdown_one(w: &mut dyn Write, summary: &FileSummary) -> io::Result<()> {
    let f = Flavor::Markdown;
    match summary.direction {
        Direction::Up => writeln!(w, "### Migration: {}\n", f.code(&summary.file))?,
        Direction::Down => writeln!(w, "### Rollback: {}\n", f.code(&summary.file))?,
    }
    if let Some(up) = &summary.reverses {
        writeln!(
            w,
            "Reverses {}, read against the schema after it.",
            f.code(up)
        )?;
    }
    writeln!(w, "{}.", statements(summary))?;
    match &summary.down {
        Some(Some(down)) => writeln!(w, "Down: {}.", f.code(&down_place(down)))?,
        Some(None) => writeln!(w, "Down: none (rollback cannot reverse this migration).")?,
        None => {}
    }
    for section in sections(summary, f) {
        writeln!(w, "\n#### {}\n", section.heading())?;
        if section.empty {
            writeln!(w, "_none_")?;
        } else if section.columns {
            column_table(w, summary)?;
        } else {
            markdown_list(w, section.entries)?;
        }
    }
    if changes_diagram(summary) {
        writeln!(w, "\n> 💡 {DIAGRAM_HINT}.")?;
    }
    Ok(())
}

/// Entries as a bullet list; lines only where they lead (the reviewer has the diff).
fn markdown_list(w: &mut dyn Write, entries: impl Iterator<Item = Entry>) -> io::Result<()> {
    for entry in entries {
        match &entry.place {
            Place::Lead(at) => writeln!(w, "- `{}:{}` {}", at.file, at.line, entry.text)?,
            Place::Line(_) | Place::None => writeln!(w, "- {}", entry.text)?,
        }
    }
    Ok(())
}

/// New columns as a Markdown table: column | type | null | default | key.
fn column_table(w: &mut dyn Write, summary: &FileSummary) -> io::Result<()> {
    let f = Flavor::Markdown;
    writeln!(w, "| column | type | null | default | key |")?;
    writeln!(w, "|---|---|---|---|---|")?;
    let foreign: HashSet<(&str, &str)> = summary
        .relationships
        .iter()
        .flat_map(|r| r.columns.iter().map(|c| (r.table.as_str(), c.as_str())))
        .collect();
    for c in &summary.all_new_columns() {
        let col = c.column;
        let default = match (&col.generated, &col.default) {
            (Some(generated), _) => f.code(&generated_clause(generated)),
            (None, Some(default)) => f.code(default),
            (None, None) => String::new(),
        };
        let cells = [
            f.code(&format!("{}.{}", c.table, col.name)),
            f.code(&col.data_type),
            (if col.nullable { "null" } else { "not null" }).to_string(),
            default,
            keys(c, &foreign).join(", "),
        ];
        let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        writeln!(w, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

/// `PK`, `UK`, `FK` for a new column; `foreign` holds the `(table, column)` pairs that
/// are in a foreign key (found once per file, not once per column).
fn keys(c: &NewColumnRef<'_>, foreign: &HashSet<(&str, &str)>) -> Vec<&'static str> {
    let foreign =
        c.column.references.is_some() || foreign.contains(&(c.table, c.column.name.as_str()));
    [
        (c.column.primary_key, "PK"),
        (c.column.unique, "UK"),
        (foreign, "FK"),
    ]
    .into_iter()
    .filter_map(|(on, key)| on.then_some(key))
    .collect()
}

fn statements(summary: &FileSummary) -> String {
    let n = summary.statements;
    let errors = summary.syntax_errors.len();
    let skipped = summary.statements.saturating_sub(summary.analysed + errors);
    let syntax = format!("{errors} syntax error{}", plural(errors));
    let analysed = match (skipped, errors) {
        (0, 0) => "all analysed".to_string(),
        (n, 0) => format!("{n} not analysed"),
        (0, _) => syntax,
        (n, _) => format!("{n} not analysed, {syntax}"),
    };
    format!("{n} statement{}, {analysed}", plural(n))
}

/// True when the file changes what an ER diagram shows: tables, columns, relationships.
fn changes_diagram(s: &FileSummary) -> bool {
    // A rollback returns the diagram to what it was.
    s.direction == Direction::Up
        && !(s.new_tables.is_empty()
            && s.modified_tables.is_empty()
            && s.new_columns.is_empty()
            && s.relationships.is_empty()
            && s.dropped_tables.is_empty()
            && s.dropped_columns.is_empty()
            && s.renamed_tables.is_empty()
            && s.renamed_columns.is_empty()
            && s.changed_columns.is_empty())
}

/// Text or Markdown: Markdown puts names and SQL in code spans and never colors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Text,
    Markdown,
}

impl Flavor {
    /// A name or a piece of SQL: as is in text, a code span in Markdown.
    fn code(self, s: &str) -> String {
        match self {
            Flavor::Text => s.to_string(),
            Flavor::Markdown if s.contains('`') => format!("`` {s} ``"),
            Flavor::Markdown => format!("`{s}`"),
        }
    }

    /// [`Flavor::code`] of a string made for it, kept as is in text.
    fn code_owned(self, s: String) -> String {
        match self {
            Flavor::Text => s,
            Flavor::Markdown => self.code(&s),
        }
    }
}

/// A section of the summary: its emoji (with the spacing the terminal needs), its
/// title and its entries.
/// A section, its entries made one at a time as they are written: a large dump's
/// sections would otherwise all sit in memory at once.
struct Section<'a> {
    emoji: &'static str,
    /// Title case, as the text shows it (`New Tables`); Markdown uses sentence case.
    title: &'static str,
    /// One of the four sections that print `(none)` when empty.
    seed: bool,
    /// New columns: a table in Markdown.
    columns: bool,
    empty: bool,
    entries: Box<dyn Iterator<Item = Entry> + 'a>,
}

impl Section<'_> {
    /// The Markdown heading: `New tables`.
    fn heading(&self) -> String {
        match self.title.split_once(' ') {
            Some((first, rest)) => format!("{first} {}", rest.to_lowercase()),
            None => self.title.to_string(),
        }
    }
}

/// One line of a section.
struct Entry {
    text: String,
    place: Place,
}

/// Where an entry comes from, and how prominently to say so.
enum Place {
    /// `file:line` first: a risk or a statement to look at.
    Lead(At),
    /// The line, dimmed after the entry (text only; the file is in the heading).
    Line(usize),
    None,
}

/// `line 12`, dimmed when colors are on. Formatted straight into the output otherwise:
/// a large dump has a hundred thousand of them.
struct LineNumber(usize);

impl std::fmt::Display for LineNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if colored::control::SHOULD_COLORIZE.should_colorize() {
            write!(f, "{}", format!("line {}", self.0).dimmed())
        } else {
            write!(f, "line {}", self.0)
        }
    }
}

fn at_line(at: &At) -> Place {
    Place::Line(at.line)
}

/// A section printed only when it has entries.
fn optional<'a>(
    emoji: &'static str,
    title: &'static str,
    (empty, entries): Entries<'a>,
) -> Section<'a> {
    Section {
        emoji,
        title,
        seed: false,
        columns: false,
        empty,
        entries,
    }
}

/// A section printed even when empty.
fn seed<'a>(emoji: &'static str, title: &'static str, entries: Entries<'a>) -> Section<'a> {
    Section {
        seed: true,
        ..optional(emoji, title, entries)
    }
}

/// Whether a section is empty, and its entries, made on demand.
type Entries<'a> = (bool, Box<dyn Iterator<Item = Entry> + 'a>);

fn entries<'a, T>(
    items: &'a [T],
    f: Flavor,
    one: impl Fn(&T, Flavor) -> Entry + 'a,
) -> Entries<'a> {
    (
        items.is_empty(),
        Box::new(items.iter().map(move |item| one(item, f))),
    )
}

/// Every section, in the order they print.
// Kept as a table, one section a line: rustfmt would spread it over 150 lines.
#[rustfmt::skip]
fn sections(s: &FileSummary, f: Flavor) -> Vec<Section<'_>> {
    let all_new = s.all_new_columns();
    let new_columns: Entries<'_> = (all_new.is_empty(), Box::new(all_new.into_iter().map(move |c| new_column(&c, f))));
    let columns = Section {
        columns: true,
        ..seed("➕ ", "New Columns", new_columns)
    };
    let mut all = vec![
        seed("🆕 ", "New Tables", entries(&s.new_tables, f, new_table)),
        seed("✏️  ", "Modified Tables", entries(&s.modified_tables, f, modified)),
        columns,
        seed("🔗 ", "New Relationships", entries(&s.relationships, f, relationship)),
        optional("🗑️  ", "Dropped Tables", entries(&s.dropped_tables, f, dropped)),
        optional("➖ ", "Dropped Columns", entries(&s.dropped_columns, f, dropped)),
        optional("🏷️  ", "Renamed Tables", entries(&s.renamed_tables, f, renamed)),
        optional("🏷️  ", "Renamed Columns", entries(&s.renamed_columns, f, renamed)),
        optional("🔄 ", "Changed Columns", entries(&s.changed_columns, f, changed)),
        optional("🔒 ", "Constraints", entries(&s.constraints, f, constraint)),
        optional("📇 ", "Indexes", entries(&s.indexes, f, index)),
        optional("🧩 ", "Types", entries(&s.types, f, type_change)),
        optional("👁️  ", "Views", entries(&s.views, f, object)),
        optional("⚙️  ", "Functions", entries(&s.functions, f, object)),
        optional("⚡ ", "Triggers", entries(&s.triggers, f, object)),
        optional("🛡️  ", "Policies", entries(&s.policies, f, object)),
        optional("🔌 ", "Extensions", entries(&s.extensions, f, object)),
        optional("📁 ", "Schemas", entries(&s.schemas, f, object)),
        optional("🔢 ", "Sequences", entries(&s.sequences, f, object)),
        optional("💬 ", "Comments", entries(&s.comments, f, object)),
        optional("🔑 ", "Grants", entries(&s.grants, f, object)),
        optional("📊 ", "Data", entries(&s.data, f, data)),
        optional("❓ ", "Not Analysed", entries(&s.not_analysed, f, not_analysed)),
        optional("❌ ", "Syntax Errors", entries(&s.syntax_errors, f, syntax_error)),
        optional("❗ ", "Warnings", entries(&s.warnings, f, warning)),
        optional("⚠️  ", "Risks", entries(&s.risks, f, risk)),
    ];
    all.retain(|section| section.seed || !section.empty);
    all
}

mod entries;
#[cfg(test)]
mod tests;

use entries::*;
