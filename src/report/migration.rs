//! What a migration changes, for people: the text summary a developer reads in a terminal
//! and the Markdown a pull-request comment shows, both from [`FileSummary`] values. The
//! two share one list of sections, so they always carry the same facts; JSON is the
//! summaries serialized (`report::json`). Analysing SQL is `ddl`'s job and the ER
//! diagram is `report::mermaid`'s.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{self, Write};

use colored::Colorize;

use crate::ddl::summary::{
    At, ChangedColumn, ColumnDef, Constraint, DataChange, Dropped, FileSummary, Index,
    ModifiedTable, NewColumnRef, NewTable, NotAnalysed, ObjectChange, Relationship, Renamed, Risk,
    SyntaxError, TypeChange, Warning,
};

/// The closing hint, for a file that changes tables or relationships.
const DIAGRAM_HINT: &str = "Update the ER diagram with these changes";

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
    let title = format!("📋 Migration Summary: {}", summary.file);
    writeln!(w, "{}\n{}", title.bold(), "=".repeat(32))?;
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
    if changes_diagram(summary) {
        writeln!(w, "💡 {DIAGRAM_HINT}")?;
    }
    Ok(())
}

// Blank lines go before headings, so blocks join without doubled or trailing ones.
fn markdown_one(w: &mut dyn Write, summary: &FileSummary) -> io::Result<()> {
    let f = Flavor::Markdown;
    writeln!(w, "### Migration: {}\n", f.code(&summary.file))?;
    writeln!(w, "{}.", statements(summary))?;
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
    !(s.new_tables.is_empty()
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

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn new_table(t: &NewTable, f: Flavor) -> Entry {
    let mut about = Vec::new();
    if !t.columns.is_empty() || t.partition_of.is_none() {
        let n = t.columns.len();
        about.push(format!("{n} column{}", plural(n)));
    }
    if let Some(by) = &t.partition_by {
        about.push(format!("partitioned by {}", f.code(by)));
    }
    if let Some(of) = &t.partition_of {
        about.push(format!("partition of {}", f.code(of)));
    }
    Entry {
        text: format!("{} ({})", f.code(&t.table), about.join(", ")),
        place: at_line(&t.at),
    }
}

fn modified(t: &ModifiedTable, f: Flavor) -> Entry {
    Entry {
        text: format!("{}: {}", f.code(&t.table), t.changes.join("; ")),
        place: at_line(&t.at),
    }
}

fn new_column(c: &NewColumnRef<'_>, f: Flavor) -> Entry {
    let mut text = format!("{}.", c.table);
    column(&mut text, c.column);
    Entry {
        text: f.code_owned(text),
        place: at_line(c.at),
    }
}

/// `name TYPE [NOT NULL] [DEFAULT x] [PRIMARY KEY] [UNIQUE] [GENERATED ...]`, appended
/// to `text` (one string per column: a large dump has tens of thousands).
fn column(text: &mut String, c: &ColumnDef) {
    text.push_str(&c.name);
    text.push(' ');
    text.push_str(&sql_type(&c.data_type));
    if !c.nullable {
        text.push_str(" NOT NULL");
    }
    if let Some(default) = &c.default {
        text.push_str(" DEFAULT ");
        text.push_str(default);
    }
    if c.primary_key {
        text.push_str(" PRIMARY KEY");
    }
    if c.unique {
        text.push_str(" UNIQUE");
    }
    if let Some(generated) = &c.generated {
        text.push(' ');
        text.push_str(&generated_clause(generated));
    }
}

/// The analyzer gives the whole clause (`GENERATED BY DEFAULT AS IDENTITY`,
/// `GENERATED ALWAYS AS (a + b) STORED`); a bare expression is made one.
fn generated_clause(generated: &str) -> String {
    if generated.to_uppercase().starts_with("GENERATED") {
        generated.to_string()
    } else {
        format!("GENERATED ALWAYS AS ({generated}) STORED")
    }
}

/// PostgreSQL's own types, whose names read as keywords and print upper-case; other
/// types (enums, domains, extensions' types) keep the case they were written in.
#[rustfmt::skip]
const BUILTIN_TYPES: &[&str] = &[
    "bigint", "bigserial", "bit", "bit varying", "bool", "boolean", "box", "bpchar", "bytea",
    "char", "character", "character varying", "cidr", "circle", "date", "daterange",
    "decimal", "double precision", "float", "float4", "float8", "inet", "int", "int2",
    "int4", "int4range", "int8", "int8range", "integer", "interval", "json", "jsonb", "line",
    "lseg", "macaddr", "macaddr8", "money", "name", "numeric", "numrange", "oid", "path",
    "point", "polygon", "real", "regclass", "serial", "serial2", "serial4", "serial8",
    "smallint", "smallserial", "text", "time", "timestamp", "timestamptz", "timetz",
    "tsquery", "tsrange", "tstzrange", "tsvector", "uuid", "varbit", "varchar", "xml",
];

/// The type as the summary shows it: built-in types upper-cased (`BYTEA`, `VARCHAR(50)`).
fn sql_type(t: &str) -> Cow<'_, str> {
    let base = t.split(['(', '[']).next().unwrap_or(t).trim();
    let base = base
        .strip_suffix(" with time zone")
        .or_else(|| base.strip_suffix(" without time zone"))
        .unwrap_or(base);
    if BUILTIN_TYPES.contains(&base) {
        Cow::Owned(t.to_uppercase())
    } else {
        Cow::Borrowed(t)
    }
}

fn relationship(r: &Relationship, f: Flavor) -> Entry {
    let parent = format!(
        "{}({})",
        r.references_table,
        r.references_columns.join(", ")
    );
    let child = match r.columns.as_slice() {
        [one] => format!("{}.{one}", r.table),
        many => format!("{}({})", r.table, many.join(", ")),
    };
    let mut about = Vec::new();
    if let Some(action) = &r.on_delete {
        about.push(format!("ON DELETE {}", action.to_uppercase()));
    }
    if let Some(action) = &r.on_update {
        about.push(format!("ON UPDATE {}", action.to_uppercase()));
    }
    if r.not_valid {
        about.push("NOT VALID".into());
    }
    if let Some(name) = &r.name {
        about.push(format!("constraint {}", f.code(name)));
    }
    let about = if about.is_empty() {
        String::new()
    } else {
        format!(" ({})", about.join(", "))
    };
    Entry {
        text: format!("{} ← {}{about}", f.code(&parent), f.code(&child)),
        place: at_line(&r.at),
    }
}

fn dropped(d: &Dropped, f: Flavor) -> Entry {
    let cascade = if d.cascade { " (CASCADE)" } else { "" };
    Entry {
        text: format!("{}{cascade}", f.code(&d.object)),
        place: at_line(&d.at),
    }
}

fn renamed(r: &Renamed, f: Flavor) -> Entry {
    let from = match &r.table {
        Some(table) => format!("{table}.{}", r.from),
        None => r.from.clone(),
    };
    Entry {
        text: format!("{} → {}", f.code(&from), f.code(&r.to)),
        place: at_line(&r.at),
    }
}

fn changed(c: &ChangedColumn, f: Flavor) -> Entry {
    Entry {
        text: format!(
            "{}: {}",
            f.code(&format!("{}.{}", c.table, c.column)),
            c.change
        ),
        place: at_line(&c.at),
    }
}

fn constraint(c: &Constraint, f: Flavor) -> Entry {
    let verb = if c.dropped { "drop" } else { "add" };
    let name = c.name.as_deref().map(quoted_if_needed).unwrap_or_default();
    let what = [name.as_str(), c.definition.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let what = if what.is_empty() {
        String::new()
    } else {
        format!(" {}", f.code(&what))
    };
    Entry {
        text: format!("{}: {verb} {}{what}", f.code(&c.table), c.kind),
        place: at_line(&c.at),
    }
}

/// A name as SQL would write it: quoted when PostgreSQL would not read it back as is
/// (a space, capitals), so it does not run into the definition that follows.
fn quoted_if_needed(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Like the SQL: `unique name on table using gin (columns) where ..., concurrently`.
fn index(i: &Index, f: Flavor) -> Entry {
    let mut text = match (i.dropped, i.unique) {
        (true, _) => "drop ".to_string(),
        (false, true) => "unique ".to_string(),
        (false, false) => String::new(),
    };
    text.push_str(&f.code(i.name.as_deref().unwrap_or("(unnamed)")));
    if !i.table.is_empty() {
        let method = i
            .method
            .as_ref()
            .map(|m| format!(" using {m}"))
            .unwrap_or_default();
        let columns = i.columns.join(", ");
        text.push_str(&format!(
            " on {}",
            f.code(&format!("{}{method} ({columns})", i.table))
        ));
    }
    if let Some(predicate) = &i.predicate {
        text.push_str(&format!(" where {}", f.code(predicate)));
    }
    if i.concurrently {
        text.push_str(", concurrently");
    }
    Entry {
        text,
        place: at_line(&i.at),
    }
}

fn type_change(t: &TypeChange, f: Flavor) -> Entry {
    let mut text = format!("{}: {} {}", f.code(&t.name), t.kind, t.action);
    if !t.values.is_empty() {
        let values: Vec<String> = t.values.iter().map(|v| f.code(&format!("'{v}'"))).collect();
        text.push_str(&format!(" {}", values.join(", ")));
    }
    if let Some(detail) = &t.detail {
        text.push_str(&format!(" ({})", f.code(detail)));
    }
    Entry {
        text,
        place: at_line(&t.at),
    }
}

fn object(o: &ObjectChange, f: Flavor) -> Entry {
    let detail = o
        .detail
        .as_ref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    Entry {
        text: format!("{}: {}{detail}", f.code(&o.name), o.action),
        place: at_line(&o.at),
    }
}

fn data(d: &DataChange, f: Flavor) -> Entry {
    let counts: Vec<String> = [
        (d.inserts, "insert", "inserts"),
        (d.updates, "update", "updates"),
        (d.deletes, "delete", "deletes"),
        (d.copies, "copy", "copies"),
    ]
    .into_iter()
    .filter(|(n, ..)| *n > 0)
    .map(|(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
    .collect();
    Entry {
        text: format!("{}: {}", f.code(&d.table), counts.join(", ")),
        place: d
            .lines
            .first()
            .map_or(Place::None, |&line| Place::Line(line)),
    }
}

fn not_analysed(n: &NotAnalysed, _: Flavor) -> Entry {
    let note = n
        .note
        .as_ref()
        .map(|note| format!(" ({note})"))
        .unwrap_or_default();
    Entry {
        text: format!("{}{note}", n.kind),
        place: Place::Lead(n.at.clone()),
    }
}

fn syntax_error(e: &SyntaxError, _: Flavor) -> Entry {
    Entry {
        text: format!("column {}: {}", e.column, e.message),
        place: Place::Lead(e.at.clone()),
    }
}

fn warning(w: &Warning, _: Flavor) -> Entry {
    Entry {
        text: w.message.clone(),
        place: Place::Lead(w.at.clone()),
    }
}

fn risk(r: &Risk, f: Flavor) -> Entry {
    let name = r.risk.name();
    let text = match (f, r.allowed) {
        (Flavor::Text, false) => format!("{} {}", format!("[{name}]").yellow().bold(), r.reason),
        (Flavor::Text, true) => format!("{}", format!("[{name}] {} (allowed)", r.reason).dimmed()),
        (Flavor::Markdown, false) => format!("**{name}**: {}", r.reason),
        (Flavor::Markdown, true) => format!("**{name}** (allowed): {}", r.reason),
    };
    Entry {
        text,
        place: Place::Lead(r.at.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::summary::RiskKind;

    fn at(line: usize) -> At {
        At {
            file: "database/migrations/013_everything.sql".into(),
            line,
        }
    }

    fn column(name: &str, data_type: &str, nullable: bool) -> ColumnDef {
        ColumnDef::new(name, data_type, nullable)
    }

    fn object(name: &str, action: &str, detail: Option<&str>, line: usize) -> ObjectChange {
        ObjectChange {
            name: name.into(),
            action: action.into(),
            detail: detail.map(str::to_string),
            at: at(line),
        }
    }

    fn render(summaries: &[FileSummary], flavor: Flavor) -> String {
        colored::control::set_override(false);
        let mut out = Vec::new();
        match flavor {
            Flavor::Text => text(&mut out, summaries).unwrap(),
            Flavor::Markdown => markdown(&mut out, summaries).unwrap(),
        }
        String::from_utf8(out).unwrap()
    }

    /// The tables, columns and keys of a file that creates one table and changes another.
    fn structure(s: &mut FileSummary) {
        let id = ColumnDef {
            generated: Some("GENERATED BY DEFAULT AS IDENTITY".into()),
            primary_key: true,
            ..column("id", "bigint", false)
        };
        let contract_id = ColumnDef {
            references: Some("contract(id)".into()),
            ..column("contract_id", "bigint", false)
        };
        let key_version = ColumnDef {
            default: Some("1".into()),
            ..column("key_version", "integer", false)
        };
        let columns = vec![
            id,
            contract_id,
            column("encrypted_mapping", "bytea", false),
            key_version,
            ColumnDef {
                generated: Some("lower(note)".into()),
                ..column("note_key", "varchar(50)", true)
            },
        ];
        s.new_tables = vec![
            NewTable {
                table: "contract_pii_mapping".into(),
                columns: columns.into_iter().map(std::sync::Arc::new).collect(),
                partition_by: None,
                partition_of: None,
                at: at(6),
            },
            NewTable {
                table: "activities".into(),
                columns: vec![column("occurred_at", "timestamp with time zone", false).into()],
                partition_by: Some("RANGE (occurred_at)".into()),
                partition_of: None,
                at: at(14),
            },
            NewTable {
                table: "activities_2024_01".into(),
                columns: Vec::new(),
                partition_by: None,
                partition_of: Some(
                    "activities FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')".into(),
                ),
                at: at(18),
            },
        ];
        s.new_columns.push(crate::ddl::summary::NewColumn {
            table: "app_user".into(),
            column: ColumnDef {
                default: Some("'en'::text".into()),
                unique: true,
                ..column("locale", "public.locale_code", false)
            },
            existing_table: true,
            at: at(21),
        });
        s.modified_tables = vec![ModifiedTable {
            table: "app_user".into(),
            changes: vec![
                "add column locale".into(),
                "rename column name to full_name".into(),
            ],
            at: at(21),
        }];
        s.relationships = vec![
            Relationship {
                table: "contract_pii_mapping".into(),
                columns: vec!["contract_id".into()],
                references_table: "contract".into(),
                references_columns: vec!["id".into()],
                on_delete: Some("cascade".into()),
                on_update: None,
                name: None,
                not_valid: false,
                at: at(8),
            },
            Relationship {
                table: "contract_party".into(),
                columns: vec!["contract_id".into(), "party_id".into()],
                references_table: "party".into(),
                references_columns: vec!["contract_id".into(), "id".into()],
                on_delete: None,
                on_update: Some("cascade".into()),
                name: Some("contract_party_party_fk".into()),
                not_valid: true,
                at: at(24),
            },
        ];
    }

    /// Drops, renames and column changes.
    fn changes(s: &mut FileSummary) {
        s.dropped_tables = vec![Dropped {
            object: "legacy_import".into(),
            cascade: true,
            at: at(30),
        }];
        s.dropped_columns = vec![Dropped {
            object: "contract.value_old".into(),
            cascade: false,
            at: at(31),
        }];
        s.renamed_tables = vec![Renamed {
            table: None,
            from: "contract_clauses".into(),
            to: "contract_clause".into(),
            at: at(32),
        }];
        s.renamed_columns = vec![Renamed {
            table: Some("app_user".into()),
            from: "name".into(),
            to: "full_name".into(),
            at: at(33),
        }];
        s.changed_columns = vec![ChangedColumn {
            table: "contract".into(),
            column: "reference".into(),
            change: "type text → varchar(50)".into(),
            at: at(34),
        }];
    }

    /// Constraints, indexes and types.
    fn keys_and_types(s: &mut FileSummary) {
        s.constraints = vec![
            Constraint {
                table: "contract".into(),
                name: Some("contract_dates_chk".into()),
                kind: "check".into(),
                definition: "CHECK (end_date >= start_date)".into(),
                dropped: false,
                at: at(36),
            },
            Constraint {
                table: "contract".into(),
                name: Some("contract_reference_key".into()),
                kind: "unique".into(),
                definition: String::new(),
                dropped: true,
                at: at(37),
            },
        ];
        s.indexes = vec![
            Index {
                name: Some("contract_pii_mapping_contract_key_idx".into()),
                table: "contract_pii_mapping".into(),
                columns: vec!["contract_id".into(), "key_version".into()],
                unique: true,
                concurrently: false,
                method: None,
                predicate: None,
                dropped: false,
                at: at(40),
            },
            Index {
                name: Some("contract_search_idx".into()),
                table: "contract".into(),
                columns: vec!["search".into()],
                unique: false,
                concurrently: true,
                method: Some("gin".into()),
                predicate: Some("deleted_at IS NULL".into()),
                dropped: false,
                at: at(42),
            },
            Index {
                name: Some("contract_old_idx".into()),
                table: String::new(),
                columns: Vec::new(),
                unique: false,
                concurrently: false,
                method: None,
                predicate: None,
                dropped: true,
                at: at(44),
            },
        ];
        s.types = vec![
            TypeChange {
                name: "contract_status".into(),
                kind: "enum".into(),
                action: "value added".into(),
                values: vec!["under_review".into()],
                detail: Some("before 'active'".into()),
                at: at(46),
            },
            TypeChange {
                name: "locale_code".into(),
                kind: "domain".into(),
                action: "created".into(),
                values: Vec::new(),
                detail: Some("text".into()),
                at: at(47),
            },
        ];
    }

    /// Views, functions and the other objects.
    fn objects(s: &mut FileSummary) {
        s.views = vec![object("contract_overview", "replaced", None, 50)];
        s.functions = vec![object(
            "log_contract_status()",
            "created",
            Some("plpgsql"),
            52,
        )];
        s.triggers = vec![object(
            "contract_status_activity",
            "created",
            Some("on contract"),
            60,
        )];
        s.policies = vec![
            object("contract", "row-level security enabled", None, 62),
            object("contract_owner", "created", Some("on contract"), 63),
        ];
        s.extensions = vec![object("pg_trgm", "created", None, 1)];
        s.schemas = vec![object("audit", "created", None, 2)];
        s.sequences = vec![object("invoice_number_seq", "created", None, 3)];
        s.comments = vec![object(
            "contract_pii_mapping.encrypted_mapping",
            "commented",
            None,
            65,
        )];
        s.grants = vec![object(
            "contract_overview",
            "granted",
            Some("SELECT to reporting"),
            66,
        )];
    }

    /// Data, statements not analysed and risks.
    fn closing(s: &mut FileSummary) {
        s.data = vec![
            DataChange {
                table: "activities".into(),
                inserts: 17,
                updates: 1,
                lines: vec![70, 71],
                file: "database/migrations/013_everything.sql".into(),
                ..DataChange::default()
            },
            DataChange {
                table: "currency".into(),
                copies: 1,
                deletes: 2,
                lines: vec![90],
                file: "database/migrations/013_everything.sql".into(),
                ..DataChange::default()
            },
        ];
        s.not_analysed = vec![
            NotAnalysed {
                kind: "DO block".into(),
                note: Some("contains DDL: ALTER TABLE".into()),
                at: at(95),
            },
            NotAnalysed {
                kind: "ALTER SEQUENCE".into(),
                note: None,
                at: at(99),
            },
        ];
        s.risks = vec![
            Risk {
                risk: RiskKind::DataLoss,
                reason: "drops table `legacy_import` and its rows".into(),
                allowed: false,
                at: at(30),
            },
            Risk {
                risk: RiskKind::TableRewrite,
                reason: "changing the type of `contract.reference` rewrites the table".into(),
                allowed: true,
                at: at(34),
            },
        ];
    }

    fn everything() -> FileSummary {
        let mut s = FileSummary {
            file: "database/migrations/013_everything.sql".into(),
            statements: 40,
            analysed: 38,
            ..FileSummary::default()
        };
        structure(&mut s);
        changes(&mut s);
        keys_and_types(&mut s);
        objects(&mut s);
        closing(&mut s);
        s
    }

    /// A file with none of the seed sections: indexes and data statements.
    fn seedless() -> FileSummary {
        let mut s = FileSummary {
            file: "012_add_concurrent_search_indexes.sql".into(),
            statements: 2,
            analysed: 2,
            ..FileSummary::default()
        };
        keys_and_types(&mut s);
        closing(&mut s);
        s.indexes.truncate(2);
        s.constraints.clear();
        s.types.clear();
        s.not_analysed.clear();
        s.risks.clear();
        s
    }

    #[test]
    fn text_with_every_section() {
        insta::assert_snapshot!("text_every_section", render(&[everything()], Flavor::Text));
    }

    #[test]
    fn text_with_empty_seed_sections() {
        insta::assert_snapshot!("text_empty_seed", render(&[seedless()], Flavor::Text));
    }

    #[test]
    fn markdown_with_every_section() {
        let out = render(&[everything()], Flavor::Markdown);
        insta::assert_snapshot!("markdown_every_section", out);
    }

    #[test]
    fn markdown_of_several_files() {
        let second = FileSummary {
            file: "013_more_indexes.sql".into(),
            ..seedless()
        };
        let out = render(&[seedless(), second], Flavor::Markdown);
        insta::assert_snapshot!("markdown_several_files", out);
    }

    #[test]
    fn built_in_types_are_upper_cased_and_others_kept() {
        assert_eq!(sql_type("varchar(50)"), "VARCHAR(50)");
        assert_eq!(
            sql_type("timestamp(3) with time zone"),
            "TIMESTAMP(3) WITH TIME ZONE"
        );
        assert_eq!(sql_type("text[]"), "TEXT[]");
        assert_eq!(sql_type("public.contract_status"), "public.contract_status");
        assert_eq!(sql_type("citext"), "citext");
    }

    #[test]
    fn markdown_code_spans_survive_backticks() {
        assert_eq!(Flavor::Markdown.code("a`b"), "`` a`b ``");
        assert_eq!(Flavor::Text.code("a`b"), "a`b");
    }
}
