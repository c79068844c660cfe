//! Which applied migration last touched a drifted object: document-migration's analysis
//! (`ddl`) of the files the database has, searched newest first for the object's name
//! (else the snapshot, when the files have the object at all). Names are compared
//! without schema, quotes or case, as the analysis keeps them; a migration the analysis cannot read (a `DO` block) says
//! nothing, so the answer is "where the model can tell", never a guess.

use std::collections::BTreeSet;

use crate::ddl::{Direction, FileSummary};
use crate::drift::{Change, Finding};
use crate::project::layout::{Catalog, Layout};

/// Fills in `last_touched` for each finding from the migrations in `catalog`. A folder
/// the analysis cannot read leaves them empty.
pub fn last_touched(findings: &mut [Finding], catalog: &Catalog) {
    if findings.is_empty() || catalog.migrations.is_empty() {
        return;
    }
    let layout = Layout::new(catalog.root.clone());
    let paths: Vec<_> = catalog
        .migrations
        .iter()
        .map(|m| m.file.path.clone())
        .collect();
    let Ok(documented) = crate::ddl::document(&layout, &paths) else {
        return;
    };
    let touched: Vec<(String, BTreeSet<String>)> = documented
        .summaries
        .iter()
        .filter(|s| s.direction == Direction::Up)
        .map(|s| (file_name(&s.file), names(s)))
        .collect();
    let snapshot = catalog.snapshots.last().map(|s| s.file.clone());
    // Only the object's own name counts: its table's last migration may not have
    // touched it. Something the files have that no migration names came from the
    // snapshot; something only the database has was never in the files.
    for finding in findings.iter_mut().filter(|f| f.modelled) {
        if finding.change == Change::Extra {
            continue;
        }
        let own = lookup(finding);
        let found = own.and_then(|name| {
            touched
                .iter()
                .rev()
                .find(|(_, names)| names.contains(&name))
        });
        finding.last_touched = found
            .map(|(file, _)| file.clone())
            .or_else(|| snapshot.clone());
    }
}

fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

/// A name as the analysis keeps it: the last identifier, unquoted, lower case, without
/// an argument list.
fn bare(name: &str) -> String {
    let name = name.split('(').next().unwrap_or(name);
    let last = crate::pg::reprint::split_name(name)
        .pop()
        .unwrap_or_default();
    last.trim_matches('"').replace("\"\"", "\"").to_lowercase()
}

/// The finding's own name as the analysis keeps it (a column as `table.column`).
fn lookup(finding: &Finding) -> Option<String> {
    let name = finding.name.as_str();
    match finding.kind.as_str() {
        "column" => {
            let (table, own) = crate::drift::script::split_last(name);
            Some(format!("{}.{}", bare(&table), bare(&own)))
        }
        "constraint" | "trigger" | "policy" => {
            Some(bare(&crate::drift::script::split_last(name).1))
        }
        "comment" => Some(format!(
            "comment:{}",
            bare(name.rsplit(' ').next().unwrap_or(name))
        )),
        "owner" | "privilege" => {
            let object = name.rsplit_once(" to ").map_or(name, |(o, _)| o);
            Some(bare(object.rsplit(' ').next().unwrap_or(object)))
        }
        _ => Some(bare(name)),
    }
}

/// Every name a migration's summary mentions.
fn names(s: &FileSummary) -> BTreeSet<String> {
    let mut all: Vec<String> = Vec::new();
    all.extend(s.new_tables.iter().map(|t| t.table.clone()));
    all.extend(s.modified_tables.iter().map(|t| t.table.clone()));
    all.extend(s.new_columns.iter().map(|c| c.table.clone()));
    all.extend(s.relationships.iter().map(|r| r.table.clone()));
    all.extend(s.dropped_tables.iter().map(|d| d.object.clone()));
    all.extend(s.dropped_columns.iter().map(|d| d.object.clone()));
    all.extend(s.renamed_tables.iter().map(|r| r.to.clone()));
    all.extend(s.renamed_columns.iter().filter_map(|r| r.table.clone()));
    all.extend(s.changed_columns.iter().map(|c| c.table.clone()));
    all.extend(s.constraints.iter().map(|c| c.table.clone()));
    all.extend(s.constraints.iter().filter_map(|c| c.name.clone()));
    all.extend(s.indexes.iter().filter_map(|i| i.name.clone()));
    all.extend(s.indexes.iter().map(|i| i.table.clone()));
    all.extend(s.types.iter().map(|t| t.name.clone()));
    for objects in [
        &s.views,
        &s.functions,
        &s.triggers,
        &s.policies,
        &s.extensions,
        &s.schemas,
        &s.sequences,
    ] {
        all.extend(objects.iter().map(|o| o.name.clone()));
    }
    let mut names: BTreeSet<String> = all
        .iter()
        .map(|n| n.rsplit(' ').next().unwrap_or(n))
        .map(bare)
        .filter(|n| !n.is_empty())
        .collect();
    // Comments by what they are on (`comment:contract`), apart from the objects.
    names.extend(s.comments.iter().map(|c| {
        format!(
            "comment:{}",
            bare(c.name.rsplit(' ').next().unwrap_or(&c.name))
        )
    }));
    // Columns by table: `contract.amount`.
    let pair = |table: &str, column: &str| format!("{}.{}", bare(table), bare(column));
    names.extend(s.new_columns.iter().map(|c| pair(&c.table, &c.column.name)));
    names.extend(s.changed_columns.iter().map(|c| pair(&c.table, &c.column)));
    for table in &s.new_tables {
        names.extend(table.columns.iter().map(|c| pair(&table.table, &c.name)));
    }
    names
}
