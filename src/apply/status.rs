//! Where a database stands: every snapshot and migration with its state (applied, from
//! snapshot, pending, modified, failed, missing file), when and how long. Computed from
//! the catalog and the history alone; rendering is `report`'s job.

use chrono::{DateTime, Utc};

use crate::apply::history::{History, Source};
use crate::project::layout::Catalog;
use crate::project::snapshot::parse_header;

/// A migration's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// dbkit ran it.
    Applied,
    /// Recorded from a loaded snapshot.
    FromSnapshot,
    /// Recorded by `--baseline`.
    Baseline,
    /// Recorded by `--mark-applied`.
    Manual,
    /// Not applied yet.
    Pending,
    /// Applied, but the file changed since.
    Modified,
    /// Ran outside a transaction and failed part-way.
    Failed,
    /// Recorded as applied, but the file is gone.
    MissingFile,
}

/// One migration's line in the status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub version: u64,
    pub file: String,
    pub state: State,
    /// Pending but older than the newest applied migration.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub out_of_order: bool,
    pub applied_at: Option<DateTime<Utc>>,
    pub applied_by: Option<String>,
    pub duration_ms: Option<f64>,
    /// The snapshot it came (or, on a fresh database, would come) from.
    pub snapshot: Option<String>,
    pub checksum: Option<String>,
    /// The checksum recorded when it was applied, where it differs from the file's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_checksum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A snapshot's state for this database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotState {
    /// This database was built from it.
    Loaded,
    /// Recorded with `--baseline`.
    Baseline,
    /// A fresh database would be built from it.
    WouldLoad,
    /// Not used by this database.
    NotUsed,
}

/// One snapshot's line in the status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotStatus {
    pub version: String,
    pub file: String,
    pub state: SnapshotState,
    pub last_migration: Option<u64>,
    pub loaded_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<f64>,
}

/// Where a database stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub database: String,
    /// The database has dbkit history.
    pub initialized: bool,
    pub snapshots: Vec<SnapshotStatus>,
    pub migrations: Vec<MigrationStatus>,
    pub pending: usize,
    /// Modified, failed, or out-of-order migrations: applying would refuse.
    pub problems: usize,
    pub warnings: Vec<String>,
}

impl Status {
    /// Everything applied and nothing wrong.
    pub fn up_to_date(&self) -> bool {
        self.pending == 0 && self.problems == 0
    }
}

/// Compares the folder with the history. `history` is `None` (or empty) for a database
/// dbkit has never touched.
pub fn status(catalog: &Catalog, history: Option<&History>, database: &str) -> Status {
    let empty = History::default();
    let history = history.unwrap_or(&empty);
    let initialized = !history.is_empty();
    let would_load = (!initialized).then(|| catalog.newest_snapshot()).flatten();
    let would_include = would_load
        .and_then(|s| crate::project::migrations::read_sql(&s.path).ok())
        .and_then(|text| parse_header(&text).last_migration);
    let snapshots = catalog
        .snapshots
        .iter()
        .map(|file| {
            let load = history.snapshots.iter().rev().find(|l| l.file == file.file);
            let state = match load {
                Some(l) if l.source == Source::Baseline => SnapshotState::Baseline,
                Some(_) => SnapshotState::Loaded,
                None if would_load == Some(file) => SnapshotState::WouldLoad,
                None => SnapshotState::NotUsed,
            };
            SnapshotStatus {
                version: file.version.to_string(),
                file: file.file.clone(),
                state,
                last_migration: crate::project::migrations::read_sql(&file.path)
                    .ok()
                    .and_then(|t| parse_header(&t).last_migration),
                loaded_at: load.map(|l| l.loaded_at),
                duration_ms: load.map(|l| l.duration_ms),
            }
        })
        .collect();
    let newest = history.migrations.keys().next_back().copied().unwrap_or(0);
    let mut migrations: Vec<MigrationStatus> = catalog
        .migrations
        .iter()
        .map(|m| {
            let recorded = history.migrations.get(&m.version());
            let state = match recorded {
                None => State::Pending,
                Some(r) if !r.succeeded => State::Failed,
                Some(r) if r.checksum != m.checksum => State::Modified,
                Some(r) => match r.source {
                    Source::Migration => State::Applied,
                    Source::Snapshot => State::FromSnapshot,
                    Source::Baseline => State::Baseline,
                    Source::Manual => State::Manual,
                },
            };
            let in_snapshot = would_include.is_some_and(|last| m.version() <= last);
            MigrationStatus {
                version: m.version(),
                file: m.name().to_string(),
                state,
                out_of_order: state == State::Pending && initialized && m.version() < newest,
                applied_at: recorded.map(|r| r.applied_at),
                applied_by: recorded.map(|r| r.applied_by.clone()),
                duration_ms: recorded.map(|r| r.duration_ms),
                snapshot: recorded.and_then(|r| r.snapshot.clone()).or_else(|| {
                    in_snapshot
                        .then(|| would_load.map(|s| s.file.clone()))
                        .flatten()
                }),
                checksum: Some(m.checksum.clone()),
                recorded_checksum: recorded
                    .filter(|r| r.checksum != m.checksum)
                    .map(|r| r.checksum.clone()),
                error: recorded.and_then(|r| r.error.clone()),
            }
        })
        .collect();
    for recorded in history.migrations.values() {
        if catalog.migration(recorded.version).is_none() {
            migrations.push(MigrationStatus {
                version: recorded.version,
                file: recorded.file.clone(),
                state: State::MissingFile,
                out_of_order: false,
                applied_at: Some(recorded.applied_at),
                applied_by: Some(recorded.applied_by.clone()),
                duration_ms: Some(recorded.duration_ms),
                snapshot: recorded.snapshot.clone(),
                checksum: None,
                recorded_checksum: Some(recorded.checksum.clone()),
                error: recorded.error.clone(),
            });
        }
    }
    migrations.sort_by_key(|m| m.version);
    let pending = migrations
        .iter()
        .filter(|m| m.state == State::Pending)
        .count();
    let problems = migrations
        .iter()
        .filter(|m| matches!(m.state, State::Modified | State::Failed) || m.out_of_order)
        .count();
    Status {
        database: database.to_string(),
        initialized,
        snapshots,
        migrations,
        pending,
        problems,
        warnings: catalog.warnings.clone(),
    }
}
