//! Rolling back: choosing which applied migrations to reverse (`--steps`, `--to`),
//! refusing before anything runs when one of them cannot be reversed (no down, recorded
//! from a snapshot or a baseline, edited since it ran, failed part-way), and running
//! each down like an up (`run`): in one transaction with its history change, or
//! statement by statement when it must, newest first. Deciding is pure and tested without
//! a server; the history tables are `history`'s.

use serde::Serialize;

use crate::apply::history::{History, Recorded, RunState, Source};
use crate::error::{Error, Result};
use crate::project::layout::{Catalog, Down, Migration};

mod run;

pub(crate) use run::run_down;
pub use run::{rollback, RollbackOptions, RollbackReport, RolledBack};

/// Which migrations to roll back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    /// The newest `n` applied migrations (1 when neither field is set).
    pub steps: Option<usize>,
    /// Every applied migration above this version.
    pub to: Option<u64>,
}

/// One migration a rollback reverses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub version: u64,
    pub file: String,
    /// The down that runs: `007_x.down.sql`, or the file with its `-- migrate:down` line.
    pub down: String,
    pub applied_at: chrono::DateTime<chrono::Utc>,
    pub applied_by: String,
}

/// Decides what to roll back, newest first, or refuses naming every reason. `history`
/// is `None` when the database has no dbkit history.
pub fn plan(
    catalog: &Catalog,
    history: Option<&History>,
    database: &str,
    selection: Selection,
) -> Result<Vec<Planned>> {
    let Some(history) = history.filter(|h| !h.migrations.is_empty()) else {
        return Err(refused(
            database,
            vec!["it has no migrations recorded in dbkit history".into()],
            "rollback reverses migrations apply-schema ran; `apply-schema --status` shows where the database stands".into(),
        ));
    };
    let chosen = choose(history, selection, database)?;
    let mut problems = Vec::new();
    let mut without_down = Vec::new();
    let mut planned = Vec::new();
    for recorded in chosen {
        match check(catalog, recorded) {
            Err(Problem::NoDown(file)) => without_down.push(file),
            Err(Problem::Other(problem)) => problems.push(problem),
            Ok((migration, down)) => planned.push(Planned {
                version: migration.version(),
                file: migration.name().to_string(),
                down: down.shown(),
                applied_at: recorded.applied_at,
                applied_by: recorded.applied_by.clone(),
            }),
        }
    }
    if !without_down.is_empty() {
        problems.insert(0, no_down(&without_down));
    }
    if problems.is_empty() {
        return Ok(planned);
    }
    let next = next_step(&problems, &without_down);
    Err(refused(database, problems, next))
}

/// The recorded migrations the selection names, newest first.
fn choose<'h>(
    history: &'h History,
    selection: Selection,
    database: &str,
) -> Result<Vec<&'h Recorded>> {
    let newest_first = history.migrations.values().rev();
    let chosen: Vec<&Recorded> = match (selection.to, selection.steps) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "give `--steps N` or `--to VERSION`, not both".into(),
            ))
        }
        (Some(to), None) => newest_first.take_while(|r| r.version > to).collect(),
        (None, steps) => {
            let steps = steps.unwrap_or(1);
            if steps == 0 {
                return Err(Error::Usage("`--steps` takes a number above 0".into()));
            }
            newest_first.take(steps).collect()
        }
    };
    let recorded = history.migrations.len();
    if let Some(steps) = selection.steps.filter(|&n| n > recorded) {
        return Err(refused(
            database,
            vec![format!(
                "`--steps {steps}` asks for more migrations than the {recorded} recorded"
            )],
            "`apply-schema --status` lists what is recorded; nothing was changed".into(),
        ));
    }
    Ok(chosen)
}

/// Why one migration cannot be rolled back.
enum Problem {
    NoDown(String),
    Other(String),
}

/// The migration's file and down, when it can be rolled back.
fn check<'c>(
    catalog: &'c Catalog,
    recorded: &Recorded,
) -> std::result::Result<(&'c Migration, &'c Down), Problem> {
    let file = &recorded.file;
    match recorded.state {
        RunState::Applied => {}
        RunState::Failed | RunState::Running => {
            return Err(Problem::Other(format!(
                "`{file}` did not finish (recorded `{}`): settle it first with apply-schema (`--retry-failed` or `--mark-applied {}`)",
                if recorded.state == RunState::Failed { "failed" } else { "running" },
                recorded.version
            )))
        }
    }
    match recorded.source {
        Source::Snapshot | Source::Baseline => {
            let how = if recorded.source == Source::Snapshot {
                "came with snapshot"
            } else {
                "is part of the baseline"
            };
            let snapshot = recorded.snapshot.as_deref().unwrap_or("the baseline");
            return Err(Problem::Other(format!(
                "`{file}` {how} `{snapshot}`: the snapshot holds it, so there is no run of it to reverse"
            )));
        }
        Source::Migration | Source::Manual => {}
    }
    let Some(migration) = catalog.migration(recorded.version) else {
        return Err(Problem::Other(format!(
            "`{file}` is recorded as applied but its file is gone from `migrations/`"
        )));
    };
    if migration.checksum != recorded.checksum {
        return Err(Problem::Other(format!(
            "`{}` was edited after it was applied (recorded checksum {}, now {}): its down may not match what ran",
            migration.name(),
            &recorded.checksum[..12.min(recorded.checksum.len())],
            &migration.checksum[..12]
        )));
    }
    match catalog.down(recorded.version) {
        Some(down) => Ok((migration, down)),
        None => Err(Problem::NoDown(migration.name().to_string())),
    }
}

fn no_down(files: &[String]) -> String {
    let names: Vec<String> = files.iter().map(|f| format!("`{f}`")).collect();
    format!(
        "{} {} no down: {}",
        names.len(),
        if names.len() == 1 {
            "migration has"
        } else {
            "migrations have"
        },
        names.join(", ")
    )
}

fn next_step(problems: &[String], without_down: &[String]) -> String {
    if let Some(first) = without_down.first() {
        let down = first
            .strip_suffix(".up.sql")
            .or_else(|| first.strip_suffix(".sql"))
            .map_or_else(|| format!("{first}.down"), str::to_string);
        return format!(
            "write the way back beside each file (`{down}.down.sql`, or a `-- migrate:down` section in the file) and run rollback again; nothing was changed"
        );
    }
    if problems.iter().any(|p| p.contains("the snapshot holds it")) {
        return "rolling back below a snapshot means building again from an older one: on a development database, check out the files as they were and `reset --yes --reapply`; nothing was changed".into();
    }
    if problems.iter().any(|p| p.contains("was edited")) {
        return "restore the file as it was applied (`git log -p` shows it), or accept the edit first with `apply-schema --accept-checksum VERSION`; nothing was changed".into();
    }
    "nothing was changed".into()
}

fn refused(database: &str, problems: Vec<String>, next: String) -> Error {
    Error::RollbackRefused {
        database: database.to_string(),
        problems,
        next,
    }
}

#[cfg(test)]
mod tests;
