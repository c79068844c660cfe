//! Where a database stands and what applying would do: compares the catalog (the files)
//! with the history (the database's record) and decides, without touching anything, which
//! snapshot to load, which migrations to record and which to run, or why to refuse. Pure
//! functions over data, so every rule here is tested without a server; `apply` carries
//! plans out.

use std::collections::BTreeSet;

use crate::apply::history::{History, Recorded, RunState, Source};
use crate::error::{ChangedMigration, Error, Result};
use crate::project::layout::{Catalog, Migration};
use crate::project::snapshot::{SnapshotFile, SnapshotVersion};

/// What the user asked for beyond "bring it up to date".
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--baseline`: on a database without history, where it stands (`12` or `v2.0`).
    pub baseline: Option<String>,
    /// `--accept-checksum`: applied migrations whose edited file is accepted.
    pub accept_checksums: Vec<u64>,
    /// `--mark-applied`: record these as applied without running them.
    pub mark_applied: Vec<u64>,
    /// `--retry-failed`: run a file that failed part-way again.
    pub retry_failed: bool,
    /// `--out-of-order`: run pending files older than the newest applied one.
    pub out_of_order: bool,
    /// `--target`: apply nothing above this migration version.
    pub target: Option<u64>,
}

impl PlanOptions {
    /// True when the user asked to record something (`--mark-applied`,
    /// `--accept-checksum`): such a run records and stops, and runs no migration.
    pub fn records_only(&self) -> bool {
        !self.mark_applied.is_empty() || !self.accept_checksums.is_empty()
    }
}

/// What applying will do, in order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The database has no history.
    pub fresh: bool,
    /// Checksum edits to accept.
    pub accept: Vec<ChangedMigration>,
    /// Failed rows to clear (for a retry or a manual record).
    pub forget_failed: Vec<u64>,
    /// Applied migrations whose file was renamed, to move to the new version:
    /// `(old version, old file, new version, new file)`.
    pub renames: Vec<(u64, String, u64, String)>,
    /// Snapshot to load (fresh database) or to record as the baseline.
    pub snapshot: Option<SnapshotFile>,
    /// True when `snapshot` is recorded, not loaded (`--baseline vX.Y`).
    pub snapshot_is_baseline: bool,
    /// Migrations recorded without running, with how.
    pub record: Vec<(u64, Source)>,
    /// Migrations to run, in order.
    pub run: Vec<u64>,
    /// Things worth a warning.
    pub warnings: Vec<String>,
    /// The run only records (`--mark-applied`, `--accept-checksum`); pending
    /// migrations are left for a later run.
    pub records_only: bool,
}

impl Plan {
    /// True when applying would change nothing.
    pub fn is_empty(&self) -> bool {
        self.accept.is_empty()
            && self.forget_failed.is_empty()
            && self.renames.is_empty()
            && self.snapshot.is_none()
            && self.record.is_empty()
            && self.run.is_empty()
    }
}

/// Decides what to apply. `objects` describes what a database without history already
/// holds (`None` when it is empty).
pub fn plan(
    catalog: &Catalog,
    history: Option<&History>,
    objects: Option<&str>,
    database: &str,
    options: &PlanOptions,
) -> Result<Plan> {
    for version in options.mark_applied.iter().chain(&options.accept_checksums) {
        if catalog.migration(*version).is_none() {
            return Err(Error::UnknownVersion {
                what: "migration",
                version: version.to_string(),
                dir: catalog.root.join("migrations"),
            });
        }
    }
    if options.records_only() {
        return match history.filter(|h| !h.is_empty()) {
            Some(history) => plan_records(catalog, history, options),
            None => Err(Error::Usage(format!(
                "`--mark-applied` and `--accept-checksum` record in a database that has dbkit history, and {database} has none; say where it stands with `--baseline VERSION` instead"
            ))),
        };
    }
    let plan = match history.filter(|h| !h.is_empty()) {
        None => plan_fresh(catalog, objects, database, options)?,
        Some(history) => plan_touched(catalog, history, options)?,
    };
    Ok(plan)
}

/// A run that only records: accepted checksums and migrations marked as applied, each
/// checked against the history, and nothing else (no snapshot, no migration runs).
fn plan_records(catalog: &Catalog, history: &History, options: &PlanOptions) -> Result<Plan> {
    let mut plan = Plan {
        records_only: true,
        ..Plan::default()
    };
    for &version in &options.accept_checksums {
        let migration = catalog.migration(version).expect("checked above");
        match history.migrations.get(&version) {
            None => {
                return Err(Error::Usage(format!(
                    "`--accept-checksum {version}`: `{}` is pending, not applied, so there is no recorded checksum to accept; apply-schema runs it as the file is now",
                    migration.name()
                )))
            }
            Some(recorded) if recorded.checksum == migration.checksum => {
                plan.warnings.push(format!(
                    "`--accept-checksum {version}`: `{}` is unchanged since it was applied; nothing to accept",
                    migration.name()
                ));
            }
            Some(recorded) => plan.accept.push(ChangedMigration {
                version,
                file: migration.name().to_string(),
                recorded: recorded.checksum.clone(),
                current: migration.checksum.clone(),
            }),
        }
    }
    let marked: BTreeSet<u64> = options.mark_applied.iter().copied().collect();
    let repeats = crate::apply::status::same_content(catalog, history);
    for version in marked {
        if let Some(old) = repeats.iter().find(|s| s.version == version && s.renamed) {
            let file = catalog.migration(version).expect("checked above").name();
            plan.renames.push((
                old.applied.version,
                old.applied.file.clone(),
                version,
                file.to_string(),
            ));
            continue;
        }
        match history.migrations.get(&version) {
            Some(recorded) if recorded.state == RunState::Applied => {
                plan.warnings.push(format!(
                    "`--mark-applied {version}`: `{}` is already recorded as applied; nothing to record",
                    recorded.file
                ));
            }
            Some(_) => {
                plan.forget_failed.push(version);
                plan.record.push((version, Source::Manual));
            }
            None => plan.record.push((version, Source::Manual)),
        }
    }
    Ok(plan)
}

fn within_target(options: &PlanOptions, version: u64) -> bool {
    options.target.is_none_or(|target| version <= target)
}

fn plan_fresh(
    catalog: &Catalog,
    objects: Option<&str>,
    database: &str,
    options: &PlanOptions,
) -> Result<Plan> {
    let mut plan = Plan {
        fresh: true,
        ..Plan::default()
    };
    let (snapshot, upto, source) = match &options.baseline {
        Some(given) => {
            let (snapshot, upto) = baseline_point(catalog, given)?;
            plan.snapshot_is_baseline = snapshot.is_some();
            (snapshot, upto, Source::Baseline)
        }
        None => {
            if let Some(found) = objects {
                return Err(Error::NotEmpty {
                    database: database.to_string(),
                    found: found.to_string(),
                });
            }
            let snapshot = newest_usable_snapshot(catalog, options);
            let upto = snapshot.as_ref().and_then(|s| s.header.last_migration);
            (snapshot, upto, Source::Snapshot)
        }
    };
    if snapshot.is_none() && catalog.migrations.is_empty() {
        return Err(Error::NothingToApply {
            dir: catalog.root.clone(),
        });
    }
    if let Some(chosen) = &snapshot {
        plan.warnings.extend(included_warnings(catalog, chosen));
    }
    for migration in &catalog.migrations {
        let version = migration.version();
        if upto.is_some_and(|upto| version <= upto) {
            plan.record.push((version, source));
        } else if within_target(options, version) {
            plan.run.push(version);
        }
    }
    plan.snapshot = snapshot;
    Ok(plan)
}

/// Where `--baseline` says the database stands: a snapshot (and the migrations it
/// includes) or a migration number.
fn baseline_point(catalog: &Catalog, given: &str) -> Result<(Option<SnapshotFile>, Option<u64>)> {
    if given.starts_with(['v', 'V']) {
        let version: SnapshotVersion = given.parse()?;
        let file = catalog
            .snapshots
            .iter()
            .find(|s| s.version == version)
            .ok_or_else(|| Error::UnknownVersion {
                what: "snapshot",
                version: given.to_string(),
                dir: catalog.root.join("versions"),
            })?;
        return Ok((Some(file.clone()), file.header.last_migration));
    }
    let upto: u64 = given.parse().map_err(|_| Error::BadVersion {
        given: given.to_string(),
    })?;
    Ok((None, Some(upto)))
}

/// The newest snapshot, or with `--target` the newest that includes nothing above it.
fn newest_usable_snapshot(catalog: &Catalog, options: &PlanOptions) -> Option<SnapshotFile> {
    catalog
        .snapshots
        .iter()
        .rev()
        .find(|file| match (options.target, file.header.last_migration) {
            (Some(target), Some(last)) => last <= target,
            _ => true,
        })
        .cloned()
}

/// What a fresh build of `catalog` would warn about (the snapshot it loads edited, or
/// the migrations it includes changed since it was cut), read from the files alone:
/// said also when the build is a copy of one made before.
pub fn fresh_warnings(catalog: &Catalog) -> Result<Vec<String>> {
    let mut plan = plan(catalog, None, None, "", &PlanOptions::default())?;
    if let Some(snapshot) = &plan.snapshot {
        let text = crate::project::migrations::read_sql(&snapshot.path)?;
        plan.warnings.extend(body_warning(snapshot, &text));
    }
    Ok(plan.warnings)
}

/// A warning when a snapshot's body was edited after it was generated (its text is
/// read only when it is loaded, so this is checked then).
pub fn body_warning(chosen: &SnapshotFile, text: &str) -> Option<String> {
    let recorded = chosen.header.get("Body Checksum")?;
    let actual = crate::project::migrations::checksum(text.get(chosen.header.body_start..)?);
    (recorded != actual).then(|| format!(
        "snapshot `{}` was edited after it was generated (body checksum {} in its header, {} now); snapshots are read-only",
        chosen.file,
        &recorded[..recorded.len().min(12)],
        &actual[..12]
    ))
}

/// A warning when migrations a snapshot includes changed after it was cut from them.
fn included_warnings(catalog: &Catalog, chosen: &SnapshotFile) -> Vec<String> {
    let mut warnings = Vec::new();
    let name = &chosen.file;
    if let (Some(recorded), Some(last)) = (
        chosen.header.get("Migrations Checksum"),
        chosen.header.last_migration,
    ) {
        let included = catalog
            .migrations
            .iter()
            .filter(|m| m.version() <= last)
            .map(|m| (&m.file, m.checksum.as_str()));
        let actual = crate::project::snapshot::migrations_checksum(included);
        if recorded != actual {
            warnings.push(format!(
                "the migrations up to {last} changed (or were removed) after snapshot `{name}` was cut from them; the snapshot holds the schema as it was then"
            ));
        }
    }
    warnings
}

fn plan_touched(catalog: &Catalog, history: &History, options: &PlanOptions) -> Result<Plan> {
    if options.baseline.is_some() {
        return Err(Error::Usage(
            "`--baseline` is for a database without dbkit history, and this one has history".into(),
        ));
    }
    let mut plan = Plan::default();
    let mut changed = Vec::new();
    for recorded in history.migrations.values() {
        if recorded.state != RunState::Applied && catalog.migration(recorded.version).is_none() {
            // Failed part-way, and its file is gone: neither a retry nor a record by
            // hand can name it, and it is not applied.
            return Err(Error::Refused(format!(
                "migration `{}` (version {}) failed part-way and its file is gone from `migrations/`; put the file back, then finish it with `--retry-failed` or `--mark-applied {}`",
                recorded.file, recorded.version, recorded.version
            )));
        }
        let Some(migration) = catalog.migration(recorded.version) else {
            if matches!(recorded.source, Source::Migration | Source::Manual) {
                plan.warnings.push(format!(
                    "applied migration `{}` (version {}) has no file in `migrations/`",
                    recorded.file, recorded.version
                ));
            }
            continue;
        };
        if recorded.state != RunState::Applied {
            plan_failed(&mut plan, recorded, options)?;
        } else if recorded.checksum != migration.checksum {
            let change = ChangedMigration {
                version: recorded.version,
                file: migration.name().to_string(),
                recorded: recorded.checksum.clone(),
                current: migration.checksum.clone(),
            };
            changed.push(change);
        }
    }
    if !changed.is_empty() {
        return Err(Error::ChecksumMismatch { changed });
    }
    let repeats = crate::apply::status::same_content(catalog, history);
    if !repeats.is_empty() {
        return Err(Error::Renamed {
            files: repeats
                .iter()
                .map(|s| {
                    let new = catalog.migration(s.version).expect("repeated files exist");
                    (
                        new.name().to_string(),
                        s.version,
                        s.applied.file.clone(),
                        s.renamed,
                    )
                })
                .collect(),
        });
    }
    let newest = history.migrations.keys().next_back().copied().unwrap_or(0);
    let pending: Vec<&Migration> = catalog
        .migrations
        .iter()
        .filter(|m| !history.migrations.contains_key(&m.version()))
        .filter(|m| within_target(options, m.version()))
        .collect();
    let late: Vec<String> = pending
        .iter()
        .filter(|m| m.version() < newest)
        .map(|m| m.name().to_string())
        .collect();
    if !late.is_empty() && !options.out_of_order {
        return Err(Error::OutOfOrder {
            files: late,
            newest,
        });
    }
    plan.run.extend(pending.iter().map(|m| m.version()));
    plan.run.sort_unstable();
    Ok(plan)
}

fn plan_failed(plan: &mut Plan, recorded: &Recorded, options: &PlanOptions) -> Result<()> {
    let version = recorded.version;
    if options.retry_failed {
        plan.forget_failed.push(version);
        plan.run.push(version);
    } else {
        return Err(Error::FailedEarlier {
            file: recorded.file.clone(),
            version,
            when: recorded
                .applied_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            statements_done: recorded.statements_done,
            line: recorded.error_line.unwrap_or(0),
            message: recorded.error.clone().unwrap_or_default(),
            cut_off: recorded.state == RunState::Running,
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use chrono::Utc;

    use super::*;
    use crate::apply::history::Recorded;
    use crate::project::migrations::MigrationFile;
    use crate::project::snapshot::{parse_header, SnapshotFile};

    fn migration(version: u64, text: &str) -> Migration {
        let file = format!("{version:03}_m{version}.sql");
        Migration {
            file: MigrationFile {
                version,
                description: format!("m{version}"),
                path: PathBuf::from("database/migrations").join(&file),
                file,
            },
            text: text.to_string(),
            checksum: crate::project::migrations::checksum(text),
            down_section: None,
        }
    }

    pub(crate) fn catalog(migrations: &[(u64, &str)], snapshot_upto: Option<u64>) -> Catalog {
        let snapshots = snapshot_upto
            .map(|upto| {
                let header = parse_header(&format!("-- Last Migration: {upto:03}_m{upto}.sql\n"));
                vec![SnapshotFile {
                    version: "v1.0".parse().expect("version"),
                    file: "v1.0_base.sql".into(),
                    path: PathBuf::from("database/versions/v1.0_base.sql"),
                    header,
                }]
            })
            .unwrap_or_default();
        Catalog {
            root: PathBuf::from("database"),
            snapshots,
            migrations: migrations.iter().map(|(v, t)| migration(*v, t)).collect(),
            downs: Vec::new(),
            validation: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn recorded(version: u64, text: &str, state: RunState) -> Recorded {
        Recorded {
            version,
            file: format!("{version:03}_m{version}.sql"),
            checksum: crate::project::migrations::checksum(text),
            source: Source::Migration,
            snapshot: None,
            state,
            applied_at: Utc::now(),
            applied_by: "me".into(),
            duration_ms: 1.0,
            statements_done: None,
            error: None,
            error_line: None,
        }
    }

    pub(crate) fn history(rows: &[(u64, &str, RunState)]) -> History {
        History {
            migrations: rows
                .iter()
                .map(|(v, t, s)| (*v, recorded(*v, t, *s)))
                .collect(),
            snapshots: Vec::new(),
        }
    }

    #[test]
    fn a_fresh_database_loads_the_snapshot_and_records_what_it_includes() {
        let catalog = catalog(&[(1, "a"), (2, "b"), (3, "c")], Some(2));
        let plan = plan(&catalog, None, None, "db", &PlanOptions::default()).expect("plans");
        assert!(plan.fresh);
        assert_eq!(plan.snapshot.map(|s| s.file), Some("v1.0_base.sql".into()));
        assert_eq!(plan.record, [(1, Source::Snapshot), (2, Source::Snapshot)]);
        assert_eq!(plan.run, [3]);
    }

    #[test]
    fn a_non_empty_database_without_history_is_refused() {
        let catalog = catalog(&[(1, "a")], None);
        let err = plan(
            &catalog,
            None,
            Some("1 table"),
            "db",
            &PlanOptions::default(),
        )
        .expect_err("refused");
        assert!(matches!(err, Error::NotEmpty { .. }));
    }

    #[test]
    fn record_only_flags_run_nothing() {
        let catalog = catalog(&[(1, "a"), (2, "b edited"), (3, "c")], None);
        let history = history(&[(1, "a", RunState::Applied), (2, "b", RunState::Applied)]);
        let options = PlanOptions {
            accept_checksums: vec![2],
            ..PlanOptions::default()
        };
        let plan = plan(&catalog, Some(&history), None, "db", &options).expect("plans");
        assert!(plan.records_only && plan.run.is_empty() && plan.snapshot.is_none());
        assert_eq!(plan.accept.len(), 1);
        // Accepting a pending file is a usage error, not a no-op that applies it.
        let options = PlanOptions {
            accept_checksums: vec![3],
            ..PlanOptions::default()
        };
        let err = super::plan(&catalog, Some(&history), None, "db", &options).expect_err("refused");
        assert!(matches!(err, Error::Usage(_)), "{err}");
        let options = PlanOptions {
            mark_applied: vec![3],
            ..PlanOptions::default()
        };
        let plan = super::plan(&catalog, Some(&history), None, "db", &options).expect("plans");
        assert_eq!(plan.record, [(3, Source::Manual)]);
        assert!(plan.run.is_empty());
    }

    #[test]
    fn record_only_flags_need_history() {
        let catalog = catalog(&[(1, "a")], None);
        let options = PlanOptions {
            mark_applied: vec![1],
            ..PlanOptions::default()
        };
        let err = plan(&catalog, None, None, "db", &options).expect_err("refused");
        assert!(matches!(err, Error::Usage(_)));
    }

    #[test]
    fn a_running_row_is_a_cut_off_file() {
        let catalog = catalog(&[(1, "a"), (2, "b")], None);
        let history = history(&[(1, "a", RunState::Applied), (2, "b", RunState::Running)]);
        let err = plan(
            &catalog,
            Some(&history),
            None,
            "db",
            &PlanOptions::default(),
        )
        .expect_err("refused");
        assert!(
            matches!(
                err,
                Error::FailedEarlier {
                    cut_off: true,
                    version: 2,
                    ..
                }
            ),
            "{err}"
        );
        let retry = PlanOptions {
            retry_failed: true,
            ..PlanOptions::default()
        };
        let plan = plan(&catalog, Some(&history), None, "db", &retry).expect("plans");
        assert_eq!((plan.forget_failed, plan.run), (vec![2], vec![2]));
    }

    #[test]
    fn a_renamed_file_is_refused_then_moved_by_mark_applied() {
        // 002 was applied as `b`; the folder now has `b` as 003 and no 002.
        let catalog = catalog(&[(1, "a"), (3, "b")], None);
        let history = history(&[(1, "a", RunState::Applied), (2, "b", RunState::Applied)]);
        let err = plan(
            &catalog,
            Some(&history),
            None,
            "db",
            &PlanOptions::default(),
        )
        .expect_err("refused");
        assert!(matches!(err, Error::Renamed { .. }), "{err}");
        let options = PlanOptions {
            mark_applied: vec![3],
            ..PlanOptions::default()
        };
        let plan = plan(&catalog, Some(&history), None, "db", &options).expect("plans");
        assert_eq!(
            plan.renames,
            [(2, "002_m2.sql".into(), 3, "003_m3.sql".into())]
        );
        assert!(plan.record.is_empty());
    }

    #[test]
    fn older_pending_files_are_refused_unless_out_of_order() {
        let catalog = catalog(&[(1, "a"), (2, "b"), (3, "c")], None);
        let history = history(&[(1, "a", RunState::Applied), (3, "c", RunState::Applied)]);
        let err = plan(
            &catalog,
            Some(&history),
            None,
            "db",
            &PlanOptions::default(),
        )
        .expect_err("refused");
        assert!(matches!(err, Error::OutOfOrder { .. }));
        let options = PlanOptions {
            out_of_order: true,
            ..PlanOptions::default()
        };
        assert_eq!(
            plan(&catalog, Some(&history), None, "db", &options)
                .expect("plans")
                .run,
            [2]
        );
    }
}
