//! What migrations change: each statement is split out by `sql`, parsed with sqlparser
//! (PostgreSQL dialect) and turned into entries of a [`FileSummary`], against a model of
//! the schema as it stood before the file (the newest snapshot at or below it plus the
//! migrations before it), so a new table is told from a modified one and a rename is a
//! rename. Statements the parser cannot read are classified by their leading keywords,
//! never dropped. Risks are flagged with file and line. It does not touch a database and
//! does not render: `report::migration` and `report::mermaid` do.

mod analyze;
mod fallback;
mod lint;
pub mod model;
mod names;
mod objects;
mod parse;
mod quick;
mod risk;
pub mod summary;
mod tables;
mod types;

use std::collections::BTreeSet;
use std::path::PathBuf;

pub use model::Schema;
pub use summary::{FileSummary, RiskKind};

use crate::error::Result;
use crate::project::layout::Layout;
use crate::project::migrations::MigrationFile;

/// The summaries of some files, and the model after the last of them.
#[derive(Debug, Clone)]
pub struct Documented {
    pub summaries: Vec<FileSummary>,
    pub schema: Schema,
    /// Tables the files create or change, for the ER fragment.
    pub touched: BTreeSet<String>,
    /// The project's `dbkit.toml` (its preference rules were run on the files).
    pub config: crate::project::config::Config,
}

impl Documented {
    /// The first statement of the files that is a syntax error, as an error.
    pub fn syntax_error(&self) -> Option<crate::error::Error> {
        let summary = self
            .summaries
            .iter()
            .find(|s| !s.syntax_errors.is_empty())?;
        let first = &summary.syntax_errors[0];
        Some(crate::error::Error::Syntax {
            path: PathBuf::from(&summary.file),
            line: first.at.line,
            column: first.column,
            message: first.message.clone(),
        })
    }
}

/// Analyzes one file's text against `schema`, updating it. `file` is the name shown in
/// the summary (and in errors).
pub fn analyze_text(file: &str, text: &str, schema: &mut Schema) -> Result<FileSummary> {
    analyze::analyze(file, text, schema).map_err(|e| e.at(file))
}

/// Documents `files` in order. The model starts from the newest snapshot whose migrations
/// all come before the first file, plus the migrations between that snapshot and the
/// first file; files outside `migrations/` are documented against the whole folder, and
/// without a database folder against an empty model. Only those files are read, so a
/// broken later migration does not stop the documenting of an earlier one.
pub fn document(layout: &Layout, files: &[PathBuf]) -> Result<Documented> {
    let texts = files
        .iter()
        .map(|path| crate::project::migrations::read_sql(path).map(|text| (path, text)))
        .collect::<Result<Vec<_>>>()?;
    let migrations = crate::project::migrations::discover(&layout.migrations())?.migrations;
    // Canonical paths once, not once per file: documenting 500 files would otherwise
    // resolve 250,000 paths.
    let versions: std::collections::HashMap<PathBuf, u64> = migrations
        .iter()
        .filter_map(|m| Some((m.path.canonicalize().ok()?, m.version)))
        .collect();
    let first = files
        .iter()
        .filter_map(|f| versions.get(&f.canonicalize().ok()?).copied())
        .min();
    let config = crate::project::config::read(&layout.project_root())?;
    let mut schema = baseline(layout, &migrations, first)?;
    schema.preferences = config.lint.preferences();
    let mut summaries = Vec::new();
    for (path, text) in &texts {
        summaries.push(analyze_text(
            &path.display().to_string(),
            text,
            &mut schema,
        )?);
    }
    let touched = summaries.iter().flat_map(touched_tables).collect();
    Ok(Documented {
        summaries,
        schema,
        touched,
        config,
    })
}

/// The model before migration `before` (or after everything when `None`).
fn baseline(layout: &Layout, migrations: &[MigrationFile], before: Option<u64>) -> Result<Schema> {
    let mut schema = Schema::default();
    let limit = before.unwrap_or(u64::MAX);
    // The last migration the baseline includes; version 0 is a migration like any other.
    let mut from: Option<u64> = None;
    for file in crate::project::snapshot::discover(&layout.versions())?
        .iter()
        .rev()
    {
        let text = crate::project::migrations::read_sql(&file.path)?;
        let header = crate::project::snapshot::parse_header(&text);
        if header.last_migration.is_none_or(|last| last < limit) {
            analyze_text(&file.path.display().to_string(), &text, &mut schema)?;
            from = header.last_migration;
            break;
        }
    }
    for migration in migrations
        .iter()
        .filter(|m| from.is_none_or(|last| m.version > last) && m.version < limit)
    {
        // The schema before a file is what the earlier files' up parts built.
        let text = crate::project::migrations::read_sql(&migration.path)?;
        let up = crate::project::migrations::sections(&text).up;
        analyze_text(&migration.path.display().to_string(), &up, &mut schema)?;
    }
    Ok(schema)
}

/// Tables a summary creates or changes.
pub fn touched_tables(summary: &FileSummary) -> Vec<String> {
    let mut tables: Vec<String> = summary.new_tables.iter().map(|t| t.table.clone()).collect();
    tables.extend(summary.modified_tables.iter().map(|t| t.table.clone()));
    tables.extend(summary.relationships.iter().map(|r| r.table.clone()));
    tables
}
