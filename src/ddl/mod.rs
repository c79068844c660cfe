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

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

pub use model::Schema;
pub use summary::{Direction, DownRef, FileSummary, RiskKind};

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
///
/// A migration with a down (a `.down.sql` file beside it or a `-- migrate:down` section)
/// is followed by its rollback's summary, read against the schema after the migration; a
/// down file given on its own is read against the schema after its up.
pub fn document(layout: &Layout, files: &[PathBuf]) -> Result<Documented> {
    let found = crate::project::migrations::discover(&layout.migrations())?;
    let files = &downs_after_their_ups(files, &found);
    let texts = files
        .iter()
        .map(|path| crate::project::migrations::read_sql(path).map(|text| (path, text)))
        .collect::<Result<Vec<_>>>()?;
    // Canonical paths once, not once per file: documenting 500 files would otherwise
    // resolve 250,000 paths.
    let canonical = |path: &PathBuf| path.canonicalize().ok();
    let ups: HashMap<PathBuf, u64> = found
        .migrations
        .iter()
        .filter_map(|m| Some((canonical(&m.path)?, m.version)))
        .collect();
    let downs: HashMap<PathBuf, u64> = found
        .downs
        .iter()
        .filter_map(|d| Some((canonical(&d.path)?, d.version)))
        .collect();
    let given: Vec<Option<PathBuf>> = files.iter().map(canonical).collect();
    let version_of = |c: &Option<PathBuf>| {
        let c = c.as_ref()?;
        ups.get(c).or_else(|| downs.get(c)).copied()
    };
    let first = given.iter().filter_map(version_of).min();
    let uses_downs = !found.downs.is_empty()
        || texts
            .iter()
            .any(|(_, text)| crate::project::migrations::has_down_section(text));
    let config = crate::project::config::read(&layout.project_root())?;
    let mut schema = baseline(layout, &found.migrations, first)?;
    schema.preferences = config.lint.preferences();
    let mut summaries = Vec::new();
    // The version whose up the model holds last, and the model before that up.
    let mut last_up: Option<(u64, Option<Schema>)> = None;
    for ((path, text), canon) in texts.iter().zip(&given) {
        let name = path.display().to_string();
        if let Some(&version) = canon.as_ref().and_then(|c| downs.get(c)) {
            // A down file on its own: the model must be the one after its up.
            let up = found.migrations.iter().find(|m| m.version == version);
            if last_up.as_ref().is_none_or(|(v, _)| *v != version) {
                let before = schema.clone();
                if let Some(up) = up {
                    let up_text = crate::project::migrations::read_sql(&up.path)?;
                    let up_text = crate::project::migrations::sections(&up_text).up;
                    analyze_text(&up.path.display().to_string(), &up_text, &mut schema)?;
                }
                last_up = Some((version, Some(before)));
            }
            let before = last_up.as_ref().and_then(|(_, b)| b.as_ref());
            let reverses = up.map(|m| m.path.display().to_string());
            summaries.push(rollback(&name, text, reverses, before, &schema)?);
            continue;
        }
        let version = canon.as_ref().and_then(|c| ups.get(c)).copied();
        // Most files have no down section: their text is analysed as it is, uncopied.
        let split = crate::project::migrations::has_down_section(text)
            .then(|| crate::project::migrations::sections(text));
        let up_text = split.as_ref().map_or(text.as_str(), |s| s.up.as_str());
        let down_section = split.as_ref().and_then(|s| s.down.as_deref());
        let down_line = split.as_ref().map_or(0, |s| s.down_line);
        let own_down = version.and_then(|v| found.downs.iter().find(|d| d.version == v));
        // A down file also given on the command line is documented where it stands.
        let down_file = own_down.filter(|d| !given.contains(&canonical(&d.path)));
        let has_down = down_section.is_some() || own_down.is_some();
        let before = has_down.then(|| schema.clone());
        let mut summary = analyze_text(&name, up_text, &mut schema)?;
        if uses_downs {
            summary.down = Some(match (down_section, own_down) {
                (Some(_), _) => Some(DownRef {
                    file: name.clone(),
                    line: down_line,
                }),
                (None, Some(d)) => Some(DownRef {
                    file: d.path.display().to_string(),
                    line: 1,
                }),
                (None, None) => None,
            });
        }
        summaries.push(summary);
        if let Some(down) = down_section {
            summaries.push(rollback(
                &name,
                down,
                Some(name.clone()),
                before.as_ref(),
                &schema,
            )?);
        } else if let Some(d) = down_file {
            let down = crate::project::migrations::read_sql(&d.path)?;
            let down_name = d.path.display().to_string();
            summaries.push(rollback(
                &down_name,
                &down,
                Some(name.clone()),
                before.as_ref(),
                &schema,
            )?);
        }
        last_up = version.map(|v| (v, before));
    }
    let touched = summaries
        .iter()
        .filter(|s| s.direction == Direction::Up)
        .flat_map(touched_tables)
        .collect();
    Ok(Documented {
        summaries,
        schema,
        touched,
        config,
    })
}

/// The schema the whole folder builds: the newest snapshot, then every migration after
/// it documented (so a statement that is not SQL is found, with its file and line, as
/// [`Documented::syntax_error`]).
pub fn whole(layout: &Layout) -> Result<Documented> {
    let found = crate::project::migrations::discover(&layout.migrations())?;
    let newest = crate::project::snapshot::discover(&layout.versions())?
        .last()
        .map(|file| crate::project::migrations::read_sql(&file.path))
        .transpose()?
        .and_then(|text| crate::project::snapshot::parse_header(&text).last_migration);
    let after: Vec<PathBuf> = found
        .migrations
        .iter()
        .filter(|m| newest.is_none_or(|last| m.version > last))
        .map(|m| m.path.clone())
        .collect();
    document(layout, &after)
}

/// `files` with each down file that is given with its up moved to just after the up: a
/// shell sorts `005_x.down.sql` before `005_x.sql`, and a rollback read before its
/// migration would be read against the wrong schema.
fn downs_after_their_ups(
    files: &[PathBuf],
    found: &crate::project::migrations::Discovered,
) -> Vec<PathBuf> {
    if found.downs.is_empty() {
        return files.to_vec();
    }
    let canonical = |path: &PathBuf| path.canonicalize().ok();
    let given: HashMap<PathBuf, usize> = files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((canonical(f)?, i)))
        .collect();
    let given_index = |path: &PathBuf| canonical(path).and_then(|c| given.get(&c).copied());
    // Given up file's index → its given down file's index.
    let mut pairs: HashMap<usize, usize> = HashMap::new();
    for down in &found.downs {
        let Some(d) = given_index(&down.path) else {
            continue;
        };
        let up = found.migrations.iter().find(|m| m.version == down.version);
        if let Some(u) = up.and_then(|m| given_index(&m.path)) {
            pairs.insert(u, d);
        }
    }
    let moved: BTreeSet<usize> = pairs.values().copied().collect();
    let mut ordered = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        if moved.contains(&i) {
            continue;
        }
        ordered.push(file.clone());
        if let Some(&d) = pairs.get(&i) {
            ordered.push(files[d].clone());
        }
    }
    ordered
}

/// A down's summary, read against a copy of the model `after` its up (the model itself
/// stays as the migrations leave it). Data loss says what rolling back costs, and a down
/// that drops a table or column that existed `before` its up, so the up did not make it,
/// is called out.
fn rollback(
    file: &str,
    text: &str,
    reverses: Option<String>,
    before: Option<&Schema>,
    after: &Schema,
) -> Result<FileSummary> {
    let mut schema = after.clone();
    let mut summary = analyze_text(file, text, &mut schema)?;
    summary.direction = Direction::Down;
    for risk in summary
        .risks
        .iter_mut()
        .filter(|r| r.risk == RiskKind::DataLoss)
    {
        risk.reason = format!("rolling back loses data: {}", risk.reason);
    }
    if let Some(before) = before {
        let up = reverses.as_deref().unwrap_or("its up");
        let mut existed = Vec::new();
        for dropped in &summary.dropped_tables {
            if before.tables.contains_key(&dropped.object) {
                existed.push((format!("table `{}`", dropped.object), dropped.at.clone()));
            }
        }
        for dropped in &summary.dropped_columns {
            let known = dropped
                .object
                .rsplit_once('.')
                .is_some_and(|(table, column)| {
                    before
                        .tables
                        .get(table)
                        .is_some_and(|t| t.column(column).is_some())
                });
            if known {
                existed.push((format!("column `{}`", dropped.object), dropped.at.clone()));
            }
        }
        for (object, at) in existed {
            summary.warnings.push(summary::Warning {
                message: format!(
                    "the down drops {object}, which existed before `{up}`: rolling back destroys what the migration did not create"
                ),
                at,
            });
        }
    }
    summary.reverses = reverses;
    Ok(summary)
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
