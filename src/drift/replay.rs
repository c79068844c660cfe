//! What the files say a database holds, built for real: the snapshot its history says
//! it was loaded from, then exactly the migrations its history records as applied, run
//! into a throwaway database (`pg::scratch`) by the same code that applies them
//! (`apply::run`), or copied from the schema template those files built before
//! (`ops::fresh::schema_scratch`). Pending migrations are not replayed (the database
//! does not have them yet); a migration recorded as failed part-way, or whose file is
//! gone, stops the check with the reason, since no replay could say what the database
//! should hold.

use crate::apply::history::{History, RunState, Source};
use crate::error::{Error, Result};
use crate::project::layout::Catalog;

/// The files a database's history points at, and what is worth saying about them.
#[derive(Debug, Clone)]
pub struct Files {
    /// The folder cut down to the snapshot and migrations the database has.
    pub catalog: Catalog,
    /// `snapshot v1.0_baseline.sql + 12 migrations (001-012)`.
    pub shown: String,
    /// Edited applied files, pending migrations.
    pub notes: Vec<String>,
    /// The newest migration the database has, for `--capture`'s number.
    pub last: Option<u64>,
}

/// The snapshot and migrations `history` records, from `catalog`. `database` names the
/// database in errors.
pub fn files_of(catalog: &Catalog, history: &History, database: &str) -> Result<Files> {
    let refuse = |reason: String| Error::DriftRefused { reason };
    let mut notes = Vec::new();
    let snapshot = match history.snapshots.last() {
        None => None,
        Some(load) => {
            let found = catalog
                .snapshots
                .iter()
                .find(|s| s.file == load.file || s.version.to_string() == load.version);
            match found {
                Some(file) => {
                    let now = crate::project::migrations::read_sql(&file.path)?;
                    if crate::project::migrations::checksum(&now) != load.checksum {
                        notes.push(format!(
                            "snapshot `{}` was edited after {database} was built from it; the files' side is the file as it is now",
                            file.file
                        ));
                    }
                    Some(file.clone())
                }
                None => {
                    return Err(refuse(format!(
                        "{database} was built from snapshot `{}`, which is not in `{}` any more, so the files cannot say what it should hold",
                        load.file,
                        catalog.root.join("versions").display()
                    )))
                }
            }
        }
    };
    let mut migrations = Vec::new();
    for recorded in history.migrations.values() {
        if recorded.state != RunState::Applied {
            return Err(refuse(format!(
                "migration `{}` is recorded as {} in {database}: finish or undo it first (apply-schema --status says how)",
                recorded.file,
                match recorded.state {
                    RunState::Failed => "failed part-way",
                    _ => "still running",
                }
            )));
        }
        if recorded.source == Source::Snapshot {
            continue;
        }
        let Some(migration) = catalog.migration(recorded.version) else {
            return Err(refuse(format!(
                "migration `{}` is applied to {database} but its file is not in the migrations folder, so the files cannot say what it did",
                recorded.file
            )));
        };
        if migration.checksum != recorded.checksum {
            notes.push(format!(
                "`{}` was edited after it was applied; the files' side is the file as it is now",
                migration.name()
            ));
        }
        migrations.push(migration.clone());
    }
    let pending = catalog
        .migrations
        .iter()
        .filter(|m| !history.migrations.contains_key(&m.version()))
        .count();
    if pending > 0 {
        notes.push(format!(
            "{pending} migration(s) in the folder are not applied to {database} and are not part of the comparison (apply-schema --status lists them)"
        ));
    }
    let last = history.migrations.keys().next_back().copied();
    let shown = describe_files(snapshot.as_ref().map(|s| s.file.as_str()), &migrations);
    let mut cut = catalog.clone();
    cut.snapshots = snapshot.into_iter().collect();
    cut.migrations = migrations;
    cut.downs.clear();
    cut.validation.clear();
    cut.warnings.clear();
    Ok(Files {
        catalog: cut,
        shown,
        notes,
        last,
    })
}

/// `snapshot v1.0_baseline.sql + 12 migrations (001-012)`.
pub fn describe_files(
    snapshot: Option<&str>,
    migrations: &[crate::project::layout::Migration],
) -> String {
    let migrations = match (migrations.first(), migrations.last()) {
        (Some(first), Some(last)) if migrations.len() > 1 => format!(
            "{} migrations ({} to {})",
            migrations.len(),
            first.name(),
            last.name()
        ),
        (Some(only), _) => format!("1 migration ({})", only.name()),
        _ => "no migrations".to_string(),
    };
    match snapshot {
        Some(file) => format!("snapshot {file} + {migrations}"),
        None => migrations,
    }
}
