//! Where a database stands: every snapshot and migration with its state (applied, from
//! snapshot, pending, modified, failed, running, missing file, renamed), when and how
//! long, and whether applying would refuse. This is the one answer to "is this database
//! up to date": `apply-schema --status`, create-phase-snapshot's check of its source,
//! load-test-data's schema check and `document-migration --pending` all ask it.
//! [`read`] gathers the facts from the database; [`status`] is a pure function of them.

use chrono::{DateTime, Utc};
use postgres::Client;

use crate::apply::history::{History, Recorded, RunState, Source};
use crate::error::{Error, Purpose, Result};
use crate::project::layout::{Catalog, Migration};

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
    /// Ran outside a transaction and failed part-way, or its run ended mid-file (killed,
    /// disconnected) without finishing.
    Failed,
    /// Running outside a transaction right now, in a live run that holds the lock.
    Running,
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
    /// Pending, with the content of an applied migration under another version: that
    /// migration renamed (its file gone) or copied; applying refuses to run it again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    pub applied_at: Option<DateTime<Utc>>,
    pub applied_by: Option<String>,
    pub duration_ms: Option<f64>,
    /// The snapshot it came (or, on a fresh database, would come) from.
    pub snapshot: Option<String>,
    pub checksum: Option<String>,
    /// The checksum recorded when it was applied, where it differs from the file's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_checksum: Option<String>,
    /// For a file run outside a transaction that did not finish: statements committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements_done: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl MigrationStatus {
    /// True when this line keeps applying from going ahead (or, for a missing file of a
    /// migration dbkit ran, means the folder no longer describes the database).
    pub fn needs_attention(&self) -> bool {
        matches!(
            self.state,
            State::Modified | State::Failed | State::MissingFile
        ) || self.out_of_order
            || self.renamed_from.is_some()
    }

    /// True when the database still has to run this file (pending, or failed part-way).
    pub fn to_apply(&self) -> bool {
        matches!(self.state, State::Pending | State::Failed | State::Running)
    }
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
    /// For a snapshot that includes migrations: whether `check-drift --snapshots`
    /// proved its body matches them (`versions/verified.json`). Nothing is refused
    /// either way; the status says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

/// Where a database stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub database: String,
    /// The database has dbkit history.
    pub initialized: bool,
    /// Without history: what the database already holds. apply-schema refuses such a
    /// database unless told where it stands (`--baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_empty: Option<String>,
    /// A run holding the migration lock now (pid, user, application, since when).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_run: Option<String>,
    pub snapshots: Vec<SnapshotStatus>,
    pub migrations: Vec<MigrationStatus>,
    /// Migrations still to apply: pending, or running now in a live run.
    pub pending: usize,
    /// Lines that need attention (modified, failed, missing file, renamed, out of
    /// order), plus one for a non-empty database without history: applying would
    /// refuse, or the folder no longer describes the database.
    pub problems: usize,
    pub warnings: Vec<String>,
}

impl Status {
    /// Everything applied and nothing wrong.
    pub fn up_to_date(&self) -> bool {
        !self.work_to_do() && self.problems == 0
    }

    /// Applying would do something: run pending migrations, or load a snapshot into a
    /// fresh database (even one whose folder has no migrations).
    pub fn work_to_do(&self) -> bool {
        self.pending > 0
            || self
                .snapshots
                .iter()
                .any(|s| s.state == SnapshotState::WouldLoad)
    }

    /// Migrations the database still has to run (pending or failed part-way), in order.
    pub fn to_apply(&self) -> impl Iterator<Item = &MigrationStatus> {
        self.migrations.iter().filter(|m| m.to_apply())
    }

    /// What keeps this database from being up to date, one line per kind, files named
    /// (the first five of each), for errors that refuse to work on it.
    pub fn problem_lines(&self) -> Vec<String> {
        if !self.initialized {
            let mut line = "it has no dbkit history (apply-schema has not run on it)".to_string();
            if let Some(found) = &self.not_empty {
                line += &format!(", yet it is not empty ({found})");
            }
            return vec![line];
        }
        type Picks = dyn Fn(&MigrationStatus) -> bool;
        let kinds: [(&str, &Picks); 7] = [
            ("pending", &|m| {
                m.state == State::Pending && m.renamed_from.is_none()
            }),
            (
                "renamed or copied (same content as an applied migration)",
                &|m| m.renamed_from.is_some(),
            ),
            ("changed since applied", &|m| m.state == State::Modified),
            ("failed part-way", &|m| m.state == State::Failed),
            ("running now", &|m| m.state == State::Running),
            ("applied but not in the folder", &|m| {
                m.state == State::MissingFile
            }),
            ("older than the newest applied one", &|m| m.out_of_order),
        ];
        kinds
            .iter()
            .filter_map(|(what, picks)| {
                let files: Vec<String> = self
                    .migrations
                    .iter()
                    .filter(|m| picks(m))
                    .map(|m| format!("`{}`", m.file))
                    .collect();
                list(&files).map(|listed| format!("{what}: {listed}"))
            })
            .collect()
    }
}

/// The first five, then how many more.
fn list(items: &[String]) -> Option<String> {
    let (shown, rest) = items.split_at(items.len().min(5));
    match (shown, rest.len()) {
        ([], _) => None,
        (_, 0) => Some(shown.join(", ")),
        (_, more) => Some(format!("{} and {more} more", shown.join(", "))),
    }
}

/// What the database says, besides the files: the input of [`status`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// dbkit's history; `None` (or empty) for a database dbkit has never touched.
    pub history: Option<&'a History>,
    /// Without history: what the database holds (`None` when empty).
    pub objects: Option<&'a str>,
    /// The run holding the migration lock now, if any.
    pub live_run: Option<&'a str>,
}

/// Reads what [`status`] needs from the database: history, and what it holds when it has
/// none, and who holds the migration lock when a file is recorded as running.
pub fn read(client: &mut Client, catalog: &Catalog, database: &str) -> Result<Status> {
    let history = crate::apply::history::read(client, database)?;
    let initialized = history.as_ref().is_some_and(|h| !h.is_empty());
    let objects = if initialized {
        None
    } else {
        crate::pg::inspect::existing_objects(client, database)?
    };
    let live_run = if history
        .as_ref()
        .is_some_and(|h| h.running().next().is_some())
    {
        crate::pg::lock::holder(client)
    } else {
        None
    };
    let facts = Facts {
        history: history.as_ref(),
        objects: objects.as_deref(),
        live_run: live_run.as_deref(),
    };
    Ok(status(catalog, &facts, database))
}

/// Refuses a database without history, or one that is not up to date with the folder,
/// for work that needs it to be (cutting a snapshot of it, loading seed data into it),
/// naming what is off.
pub fn require_up_to_date(
    client: &mut Client,
    catalog: &Catalog,
    database: &str,
    purpose: Purpose,
) -> Result<()> {
    let status = read(client, catalog, database)?;
    if status.initialized && status.up_to_date() {
        return Ok(());
    }
    Err(Error::NotUpToDate {
        database: database.to_string(),
        dir: catalog.root.clone(),
        problems: status.problem_lines(),
        purpose,
    })
}

/// A pending file with the content of an applied migration under another version.
#[derive(Debug, Clone, Copy)]
pub struct SameContent<'a> {
    /// The pending file's version.
    pub version: u64,
    /// The applied migration it repeats.
    pub applied: &'a Recorded,
    /// The applied migration's file is gone: the same file renamed (else a copy).
    pub renamed: bool,
}

/// Pending files whose content is an applied migration's under another version: the
/// same migration renamed (its old file gone) or copied (two branches that both added
/// it). Running such a file would apply the migration a second time. Files without a
/// statement (placeholders) are left out.
pub fn same_content<'a>(catalog: &'a Catalog, history: &'a History) -> Vec<SameContent<'a>> {
    let applied: Vec<&Recorded> = history
        .migrations
        .values()
        .filter(|r| r.state == RunState::Applied)
        .collect();
    catalog
        .migrations
        .iter()
        .filter(|m| !history.migrations.contains_key(&m.version()))
        .filter_map(|m| {
            let old = applied.iter().find(|r| r.checksum == m.checksum)?;
            has_statements(&m.text).then_some(SameContent {
                version: m.version(),
                applied: old,
                renamed: catalog.migration(old.version).is_none(),
            })
        })
        .collect()
}

fn has_statements(text: &str) -> bool {
    crate::sql::split(text).is_ok_and(|pieces| {
        pieces
            .iter()
            .any(|p| matches!(p, crate::sql::Piece::Statement(s) if !s.is_empty()))
    })
}

/// Compares the folder with what the database says.
pub fn status(catalog: &Catalog, facts: &Facts<'_>, database: &str) -> Status {
    let empty = History::default();
    let history = facts.history.unwrap_or(&empty);
    let initialized = !history.is_empty();
    let would_load = (!initialized).then(|| catalog.newest_snapshot()).flatten();
    let would_include = would_load.and_then(|s| s.header.last_migration);
    let proven = crate::project::snapshot::verified(&catalog.root.join("versions"));
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
                last_migration: file.header.last_migration,
                loaded_at: load.map(|l| l.loaded_at),
                duration_ms: load.map(|l| l.duration_ms),
                verified: file
                    .header
                    .last_migration
                    .map(|_| crate::project::snapshot::is_verified(&proven, file)),
            }
        })
        .collect();
    let newest = history
        .migrations
        .values()
        .filter(|r| r.state == RunState::Applied)
        .map(|r| r.version)
        .next_back()
        .unwrap_or(0);
    let repeats = same_content(catalog, history);
    let mut migrations: Vec<MigrationStatus> = catalog
        .migrations
        .iter()
        .map(|m| {
            let recorded = history.migrations.get(&m.version());
            let mut line = line(m, recorded, facts.live_run.is_some());
            line.out_of_order = line.state == State::Pending && initialized && m.version() < newest;
            line.renamed_from = repeats
                .iter()
                .find(|s| s.version == m.version())
                .map(|s| s.applied.file.clone());
            if recorded.is_none() && would_include.is_some_and(|last| m.version() <= last) {
                line.snapshot = would_load.map(|s| s.file.clone());
            }
            line
        })
        .collect();
    migrations.extend(
        history
            .migrations
            .values()
            .filter(|r| catalog.migration(r.version).is_none())
            .map(missing),
    );
    migrations.sort_by_key(|m| m.version);
    let pending = migrations
        .iter()
        .filter(|m| {
            (m.state == State::Pending && m.renamed_from.is_none()) || m.state == State::Running
        })
        .count();
    let problems = migrations.iter().filter(|m| m.needs_attention()).count()
        + usize::from(!initialized && facts.objects.is_some());
    Status {
        database: database.to_string(),
        initialized,
        not_empty: facts.objects.filter(|_| !initialized).map(str::to_string),
        live_run: facts.live_run.map(str::to_string),
        snapshots,
        migrations,
        pending,
        problems,
        warnings: catalog.warnings.clone(),
    }
}

/// A file's line, from its record (if any).
fn line(m: &Migration, recorded: Option<&Recorded>, live_run: bool) -> MigrationStatus {
    let state = match recorded {
        None => State::Pending,
        Some(r) if r.state == RunState::Running && live_run => State::Running,
        Some(r) if r.state != RunState::Applied => State::Failed,
        Some(r) if r.checksum != m.checksum => State::Modified,
        Some(r) => match r.source {
            Source::Migration => State::Applied,
            Source::Snapshot => State::FromSnapshot,
            Source::Baseline => State::Baseline,
            Source::Manual => State::Manual,
        },
    };
    let error = recorded.and_then(|r| match (r.state, &r.error) {
        (RunState::Running, _) if state == State::Failed => {
            Some("its run ended part-way (killed or disconnected) without finishing it".to_string())
        }
        (_, error) => error.clone(),
    });
    MigrationStatus {
        version: m.version(),
        file: m.name().to_string(),
        state,
        out_of_order: false,
        renamed_from: None,
        applied_at: recorded.map(|r| r.applied_at),
        applied_by: recorded.map(|r| r.applied_by.clone()),
        duration_ms: recorded.map(|r| r.duration_ms),
        snapshot: recorded.and_then(|r| r.snapshot.clone()),
        checksum: Some(m.checksum.clone()),
        recorded_checksum: recorded
            .filter(|r| r.checksum != m.checksum)
            .map(|r| r.checksum.clone()),
        statements_done: recorded
            .filter(|r| r.state != RunState::Applied)
            .and_then(|r| r.statements_done),
        error,
    }
}

/// The line of a recorded migration whose file is gone. A migration recorded from a
/// snapshot or a baseline may be pruned from the folder once a snapshot holds it, so
/// only those dbkit ran or was told were run by hand count as missing.
fn missing(recorded: &Recorded) -> MigrationStatus {
    let state = match (recorded.state, recorded.source) {
        (RunState::Failed | RunState::Running, _) => State::Failed,
        (_, Source::Snapshot) => State::FromSnapshot,
        (_, Source::Baseline) => State::Baseline,
        (_, Source::Migration | Source::Manual) => State::MissingFile,
    };
    MigrationStatus {
        version: recorded.version,
        file: recorded.file.clone(),
        state,
        out_of_order: false,
        renamed_from: None,
        applied_at: Some(recorded.applied_at),
        applied_by: Some(recorded.applied_by.clone()),
        duration_ms: Some(recorded.duration_ms),
        snapshot: recorded.snapshot.clone(),
        checksum: None,
        recorded_checksum: Some(recorded.checksum.clone()),
        statements_done: None,
        error: recorded.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::apply::plan::tests::{catalog, history};

    fn of(catalog: &Catalog, history: &History, live_run: Option<&str>) -> Status {
        let facts = Facts {
            history: Some(history),
            objects: None,
            live_run,
        };
        status(catalog, &facts, "db")
    }

    #[test]
    fn a_missing_file_of_an_applied_migration_needs_attention() {
        let status = of(
            &catalog(&[(1, "a")], None),
            &history(&[(1, "a", RunState::Applied), (2, "b", RunState::Applied)]),
            None,
        );
        assert_eq!(status.migrations[1].state, State::MissingFile);
        assert_eq!((status.pending, status.problems), (0, 1));
        assert!(!status.up_to_date());
    }

    #[test]
    fn a_running_file_is_running_while_a_run_holds_the_lock_and_failed_after() {
        let catalog = catalog(&[(1, "a")], None);
        let history = history(&[(1, "a", RunState::Running)]);
        let live = of(&catalog, &history, Some("pid 7"));
        assert_eq!(live.migrations[0].state, State::Running);
        assert_eq!((live.pending, live.problems), (1, 0));
        let gone = of(&catalog, &history, None);
        assert_eq!(gone.migrations[0].state, State::Failed);
        assert_eq!(gone.problems, 1);
        assert!(gone.migrations[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("ended part-way")));
        assert_eq!(gone.to_apply().count(), 1);
    }

    #[test]
    fn a_renamed_file_is_a_problem_not_pending_work() {
        let status = of(
            &catalog(&[(1, "a"), (3, "b")], None),
            &history(&[(1, "a", RunState::Applied), (2, "b", RunState::Applied)]),
            None,
        );
        let renamed = &status.migrations[2];
        assert_eq!(renamed.renamed_from.as_deref(), Some("002_m2.sql"));
        assert_eq!((status.pending, status.problems), (0, 2));
        assert!(status
            .problem_lines()
            .iter()
            .any(|l| l.starts_with("renamed")));
    }

    #[test]
    fn a_non_empty_database_without_history_is_a_problem() {
        let facts = Facts {
            history: None,
            objects: Some("1 table in `public`"),
            live_run: None,
        };
        let status = status(&catalog(&[(1, "a")], None), &facts, "db");
        assert_eq!(status.problems, 1);
        assert!(status.problem_lines()[0].contains("not empty"));
    }

    #[test]
    fn lists_at_most_five() {
        let items: Vec<String> = (1..=7).map(|i| i.to_string()).collect();
        assert_eq!(list(&items).as_deref(), Some("1, 2, 3, 4, 5 and 2 more"));
        assert_eq!(list(&items[..2]).as_deref(), Some("1, 2"));
        assert_eq!(list(&[]), None);
    }
}
