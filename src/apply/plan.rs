//! Where a database stands and what applying would do: compares the catalog (the files)
//! with the history (the database's record) and decides, without touching anything, which
//! snapshot to load, which migrations to record and which to run, or why to refuse. Pure
//! functions over data, so every rule here is tested without a server; `apply` carries
//! plans out.

use std::collections::BTreeSet;

use crate::apply::history::{History, Recorded, Source};
use crate::error::{ChangedMigration, Error, Result};
use crate::project::layout::{Catalog, Migration};
use crate::project::snapshot::{parse_header, Header, SnapshotFile, SnapshotVersion};

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

/// A snapshot chosen for loading or baselining, with its header.
#[derive(Debug, Clone)]
pub struct ChosenSnapshot {
    pub file: SnapshotFile,
    pub header: Header,
    pub text: String,
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
    /// Snapshot to load (fresh database) or to record as the baseline.
    pub snapshot: Option<ChosenSnapshot>,
    /// True when `snapshot` is recorded, not loaded (`--baseline vX.Y`).
    pub snapshot_is_baseline: bool,
    /// Migrations recorded without running, with how.
    pub record: Vec<(u64, Source)>,
    /// Migrations to run, in order.
    pub run: Vec<u64>,
    /// Things worth a warning.
    pub warnings: Vec<String>,
}

impl Plan {
    /// True when applying would change nothing.
    pub fn is_empty(&self) -> bool {
        self.accept.is_empty()
            && self.forget_failed.is_empty()
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
    let mut plan = match history.filter(|h| !h.is_empty()) {
        None => plan_fresh(catalog, objects, database, options)?,
        Some(history) => plan_touched(catalog, history, options)?,
    };
    let marked: BTreeSet<u64> = options.mark_applied.iter().copied().collect();
    for version in &marked {
        if catalog.migration(*version).is_none() {
            return Err(Error::UnknownVersion {
                what: "migration",
                version: version.to_string(),
                dir: catalog.root.join("migrations"),
            });
        }
    }
    let (manual, run): (Vec<u64>, Vec<u64>) = plan.run.iter().partition(|v| marked.contains(v));
    plan.record
        .extend(manual.into_iter().map(|v| (v, Source::Manual)));
    plan.run = run;
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
            let snapshot = newest_usable_snapshot(catalog, options)?;
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
        plan.warnings.extend(snapshot_warnings(catalog, chosen));
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
fn baseline_point(catalog: &Catalog, given: &str) -> Result<(Option<ChosenSnapshot>, Option<u64>)> {
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
        let chosen = choose(file)?;
        let upto = chosen.header.last_migration;
        return Ok((Some(chosen), upto));
    }
    let upto: u64 = given.parse().map_err(|_| Error::BadVersion {
        given: given.to_string(),
    })?;
    Ok((None, Some(upto)))
}

fn choose(file: &SnapshotFile) -> Result<ChosenSnapshot> {
    let text = crate::project::migrations::read_sql(&file.path)?;
    Ok(ChosenSnapshot {
        file: file.clone(),
        header: parse_header(&text),
        text,
    })
}

/// The newest snapshot, or with `--target` the newest that includes nothing above it.
fn newest_usable_snapshot(
    catalog: &Catalog,
    options: &PlanOptions,
) -> Result<Option<ChosenSnapshot>> {
    for file in catalog.snapshots.iter().rev() {
        let chosen = choose(file)?;
        let fits = match (options.target, chosen.header.last_migration) {
            (Some(target), Some(last)) => last <= target,
            _ => true,
        };
        if fits {
            return Ok(Some(chosen));
        }
    }
    Ok(None)
}

/// Warnings about a snapshot's header: an edited body, or included migrations whose files
/// changed since it was cut.
pub fn snapshot_warnings(catalog: &Catalog, chosen: &ChosenSnapshot) -> Vec<String> {
    let mut warnings = Vec::new();
    let name = &chosen.file.file;
    if let Some(recorded) = chosen.header.get("Body Checksum") {
        let actual = crate::project::migrations::checksum(&chosen.text[chosen.header.body_start..]);
        if recorded != actual {
            warnings.push(format!(
                "snapshot `{name}` was edited after it was generated (body checksum {} in its header, {} now); snapshots are read-only",
                &recorded[..recorded.len().min(12)],
                &actual[..12]
            ));
        }
    }
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
        let Some(migration) = catalog.migration(recorded.version) else {
            if matches!(recorded.source, Source::Migration | Source::Manual) {
                plan.warnings.push(format!(
                    "applied migration `{}` (version {}) has no file in `migrations/`",
                    recorded.file, recorded.version
                ));
            }
            continue;
        };
        if !recorded.succeeded {
            plan_failed(&mut plan, recorded, options)?;
        } else if recorded.checksum != migration.checksum {
            let change = ChangedMigration {
                version: recorded.version,
                file: migration.name().to_string(),
                recorded: recorded.checksum.clone(),
                current: migration.checksum.clone(),
            };
            if options.accept_checksums.contains(&recorded.version) {
                plan.accept.push(change);
            } else {
                changed.push(change);
            }
        }
    }
    if !changed.is_empty() {
        return Err(Error::ChecksumMismatch { changed });
    }
    for version in &options.accept_checksums {
        if !plan.accept.iter().any(|c| c.version == *version) {
            plan.warnings.push(format!(
                "`--accept-checksum {version}`: migration {version} is not an applied migration with a changed file; nothing to accept"
            ));
        }
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
    } else if options.mark_applied.contains(&version) {
        plan.forget_failed.push(version);
        plan.record.push((version, Source::Manual));
    } else {
        return Err(Error::FailedEarlier {
            file: recorded.file.clone(),
            version,
            when: recorded
                .applied_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            statements_done: recorded.statements_done.unwrap_or(0),
            line: recorded.error_line.unwrap_or(0),
            message: recorded.error.clone().unwrap_or_default(),
        });
    }
    Ok(())
}
