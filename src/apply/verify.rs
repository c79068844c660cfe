//! Proving reversibility (`verify-migrations`): in a throwaway database built like a
//! fresh apply up to the first migration checked, each migration in turn goes up, down
//! and up again, and the catalog is compared (the comparison create-phase-snapshot uses)
//! after the down with the one before the up, and after the second up with the first.
//! Step by step, never a chain up then down, which would hide a wrong down behind a
//! later one. With data, a second pass walks down from the newest migration over the
//! reference data and fixtures, so a down that fails on real rows is found too. The
//! throwaway database is the caller's (`pg::scratch`); this module only runs in it.

use std::time::{Duration, Instant};

use postgres::Client;
use serde::Serialize;

use crate::apply::history::{self, NewRow, Source};
use crate::apply::rollback::{run_down, Planned};
use crate::apply::script::{self, Script};
use crate::error::{Error, Result};
use crate::meter::Silent;
use crate::pg::compare::{self, Description, Difference, Scope};
use crate::project::layout::{Catalog, Migration};

/// Loads the reference data and fixtures into the database (`ops::seed`, which sits
/// beside this capability, so the caller hands it in).
pub type LoadData<'a> = &'a mut dyn FnMut(&mut Client) -> Result<()>;

/// What to verify.
#[derive(Default)]
pub struct VerifyOptions<'a> {
    /// Only migrations from this version on (the database is built up to it first).
    pub from: Option<u64>,
    /// Walk down again from the newest migration with the seed data loaded by this.
    pub with_data: Option<LoadData<'a>>,
}

/// How one migration fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Down restored the schema before the up, and up again rebuilt the same schema.
    Reversible,
    /// The migration has no down; it was applied and the next one checked.
    NoDown,
    /// The up itself failed; nothing after it could be checked.
    UpFailed { error: String },
    /// The down failed (and was undone, so the checks went on).
    DownFailed { error: String },
    /// After the down, the schema is not what it was before the up.
    DownDiffers { differences: Vec<Difference> },
    /// Up after the down failed.
    ReapplyFailed { error: String },
    /// Up after the down built another schema than the first up.
    ReapplyDiffers { differences: Vec<Difference> },
}

impl Outcome {
    /// True for a migration whose way back is proven wrong.
    pub fn is_problem(&self) -> bool {
        !matches!(self, Outcome::Reversible | Outcome::NoDown)
    }
}

/// One migration checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checked {
    pub version: u64,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down: Option<String>,
    /// `forward` (up, down, up on the schema alone) or `with_data` (down, up, down from
    /// the newest migration with the seed data loaded).
    pub pass: Pass,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub duration_ms: f64,
}

/// Which pass checked a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    Forward,
    WithData,
}

/// What verification found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// How the throwaway database was built before the first migration checked.
    pub built_from: String,
    pub checked: Vec<Checked>,
    /// Migrations in range that were not checked because an earlier one left the
    /// database in a state that proves nothing.
    pub not_checked: Vec<String>,
    pub duration_ms: f64,
}

impl VerifyReport {
    /// Migrations whose way back is proven wrong.
    pub fn problems(&self) -> usize {
        self.checked
            .iter()
            .filter(|c| c.outcome.is_problem())
            .count()
    }

    /// Migrations without a down.
    pub fn without_down(&self) -> Vec<&str> {
        let mut files: Vec<&str> = self
            .checked
            .iter()
            .filter(|c| c.outcome == Outcome::NoDown)
            .map(|c| c.file.as_str())
            .collect();
        files.dedup();
        files
    }
}

/// Verifies the catalog's migrations in `client`'s database, which must be empty (a
/// throwaway); `database` names it in errors. `step` hears each migration as it is done.
pub fn verify(
    client: &mut Client,
    catalog: &Catalog,
    database: &str,
    options: VerifyOptions<'_>,
    step: &mut dyn FnMut(&Checked),
) -> Result<VerifyReport> {
    let started = Instant::now();
    let from = options
        .from
        .or_else(|| catalog.migrations.first().map(Migration::version))
        .unwrap_or(0);
    let mut report = VerifyReport {
        built_from: build(client, catalog, database, from)?,
        ..VerifyReport::default()
    };
    let range: Vec<&Migration> = catalog
        .migrations
        .iter()
        .filter(|m| m.version() >= from)
        .collect();
    let mut states = vec![describe(client, database)?];
    for (index, migration) in range.iter().enumerate() {
        interrupted(&report)?;
        let (checked, after) = forward(client, catalog, migration, &states[index], database)?;
        step(&checked);
        let stop = matches!(
            checked.outcome,
            Outcome::UpFailed { .. }
                | Outcome::DownDiffers { .. }
                | Outcome::ReapplyFailed { .. }
                | Outcome::ReapplyDiffers { .. }
        ) || (matches!(checked.outcome, Outcome::DownFailed { .. }) && after.is_none());
        report.checked.push(checked);
        match after {
            Some(after) if !stop => states.push(after),
            _ => {
                report.not_checked = range[index + 1..]
                    .iter()
                    .map(|m| m.name().to_string())
                    .collect();
                break;
            }
        }
    }
    if let Some(load) = options.with_data {
        if report.problems() == 0 && report.not_checked.is_empty() {
            load(client)?;
            with_data(
                client,
                catalog,
                database,
                &range,
                &states,
                &mut report,
                step,
            )?;
        }
    }
    report.duration_ms = ms(started.elapsed());
    Ok(report)
}

/// Builds the database as a fresh apply would, up to (not including) `from`: from the
/// newest snapshot that includes no migration at or above it, then the migrations
/// before it. Returns how, in words.
fn build(client: &mut Client, catalog: &Catalog, database: &str, from: u64) -> Result<String> {
    let base = catalog
        .snapshots
        .iter()
        .rev()
        .find(|s| s.header.last_migration.is_none_or(|last| last < from));
    let mut before = catalog.clone();
    before.snapshots = base.into_iter().cloned().collect();
    before.migrations.retain(|m| m.version() < from);
    let applied = crate::apply::run::build(client, &before, database)?;
    let snapshot = base.map_or("an empty database".to_string(), |s| {
        format!("snapshot {}", s.file)
    });
    Ok(match applied {
        0 => snapshot,
        n => format!("{snapshot} and {n} migration(s) before {from}"),
    })
}

/// Up, down, up for one migration; the outcome, and the schema after it when known.
fn forward(
    client: &mut Client,
    catalog: &Catalog,
    migration: &Migration,
    before: &Description,
    database: &str,
) -> Result<(Checked, Option<Description>)> {
    let started = Instant::now();
    let down = catalog.down(migration.version());
    let checked = Checked {
        version: migration.version(),
        file: migration.name().to_string(),
        down: down.map(|d| d.shown()),
        pass: Pass::Forward,
        outcome: Outcome::Reversible,
        duration_ms: 0.0,
    };
    let done = |mut checked: Checked, outcome, after| {
        checked.outcome = outcome;
        checked.duration_ms = ms(started.elapsed());
        Ok((checked, after))
    };
    if let Err(e) = up(client, migration, database) {
        return done(checked, Outcome::UpFailed { error: failure(e)? }, None);
    }
    let after_up = describe(client, database)?;
    if down.is_none() {
        return done(checked, Outcome::NoDown, Some(after_up));
    }
    if let Err(e) = down_of(client, catalog, migration, database) {
        // A down in a transaction that failed was undone: the schema is the up's.
        let known = transactional(catalog, migration).then_some(after_up);
        return done(checked, Outcome::DownFailed { error: failure(e)? }, known);
    }
    let differences = compared(client, before, database)?;
    if !differences.is_empty() {
        return done(checked, Outcome::DownDiffers { differences }, None);
    }
    if let Err(e) = up(client, migration, database) {
        return done(checked, Outcome::ReapplyFailed { error: failure(e)? }, None);
    }
    let differences = compared(client, &after_up, database)?;
    if !differences.is_empty() {
        return done(checked, Outcome::ReapplyDiffers { differences }, None);
    }
    done(checked, Outcome::Reversible, Some(after_up))
}

/// From the newest migration down, with the seed data loaded: down (compared with the
/// schema the forward pass saw before the up), up (compared with after), down again.
fn with_data(
    client: &mut Client,
    catalog: &Catalog,
    database: &str,
    range: &[&Migration],
    states: &[Description],
    report: &mut VerifyReport,
    step: &mut dyn FnMut(&Checked),
) -> Result<()> {
    for (index, migration) in range.iter().enumerate().rev() {
        interrupted(report)?;
        let Some(down) = catalog.down(migration.version()) else {
            // Without a way back, nothing below it can be reached.
            report.not_checked = range[..index]
                .iter()
                .map(|m| m.name().to_string())
                .collect();
            break;
        };
        let started = Instant::now();
        let outcome = data_step(
            client,
            catalog,
            migration,
            &states[index],
            &states[index + 1],
            database,
        )?;
        let stop = outcome != Outcome::Reversible;
        let checked = Checked {
            version: migration.version(),
            file: migration.name().to_string(),
            down: Some(down.shown()),
            pass: Pass::WithData,
            outcome,
            duration_ms: ms(started.elapsed()),
        };
        step(&checked);
        report.checked.push(checked);
        if stop {
            report.not_checked = range[..index]
                .iter()
                .map(|m| m.name().to_string())
                .collect();
            break;
        }
    }
    Ok(())
}

fn data_step(
    client: &mut Client,
    catalog: &Catalog,
    migration: &Migration,
    before: &Description,
    after: &Description,
    database: &str,
) -> Result<Outcome> {
    if let Err(e) = down_of(client, catalog, migration, database) {
        return Ok(Outcome::DownFailed { error: failure(e)? });
    }
    let differences = compared(client, before, database)?;
    if !differences.is_empty() {
        return Ok(Outcome::DownDiffers { differences });
    }
    if let Err(e) = up(client, migration, database) {
        return Ok(Outcome::ReapplyFailed { error: failure(e)? });
    }
    let differences = compared(client, after, database)?;
    if !differences.is_empty() {
        return Ok(Outcome::ReapplyDiffers { differences });
    }
    Ok(match down_of(client, catalog, migration, database) {
        Ok(()) => Outcome::Reversible,
        Err(e) => Outcome::DownFailed { error: failure(e)? },
    })
}

/// Runs a migration's up with its history row, as apply-schema does.
fn up(client: &mut Client, migration: &Migration, database: &str) -> Result<()> {
    let script = Script {
        path: &migration.file.path,
        text: &migration.text,
        migration: Some(migration.name()),
        database,
        settings: "",
    };
    let row = NewRow {
        version: migration.version(),
        file: migration.name(),
        checksum: &migration.checksum,
        source: Source::Migration,
        snapshot: None,
    };
    let record = |duration: &str| history::insert_sql(std::slice::from_ref(&row), duration);
    script::run(client, &script, &record, Some(&row)).map(|_| ())
}

/// Runs a migration's down as rollback does.
fn down_of(
    client: &mut Client,
    catalog: &Catalog,
    migration: &Migration,
    database: &str,
) -> Result<()> {
    let down = catalog
        .down(migration.version())
        .expect("checked to have a down");
    let planned = Planned {
        version: migration.version(),
        file: migration.name().to_string(),
        down: down.shown(),
        applied_at: chrono::DateTime::default(),
        applied_by: String::new(),
    };
    client
        .batch_execute(history::ROLLBACKS)
        .map_err(crate::pg::connect::query_error(
            "creating dbkit's rollback audit table",
            database,
        ))?;
    run_down(client, database, &planned, down, "", &Silent).map(|_| ())
}

fn transactional(catalog: &Catalog, migration: &Migration) -> bool {
    catalog.down(migration.version()).is_some_and(|d| {
        script::prepare(&d.path, &d.text)
            .is_ok_and(|p| p.mode == crate::project::migrations::RunMode::Transaction)
    })
}

fn describe(client: &mut Client, database: &str) -> Result<Description> {
    compare::describe(client, &Scope::default(), database)
}

/// The schema now against `expected`, expressions the server reprints settled.
fn compared(
    client: &mut Client,
    expected: &Description,
    database: &str,
) -> Result<Vec<Difference>> {
    let mut now = describe(client, database)?;
    crate::pg::reprint::settle(client, expected, &mut now, database)?;
    Ok(compare::diff(expected, &now))
}

/// A migration's failure as the text to report; an interrupt stops the verification.
fn failure(error: Error) -> Result<String> {
    if crate::pg::interrupt::requested() {
        return Err(crate::pg::interrupt::explain(error, || {
            "stopped while verifying; the throwaway database is dropped".to_string()
        }));
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    Ok(message)
}

fn interrupted(report: &VerifyReport) -> Result<()> {
    crate::pg::interrupt::check(|| {
        format!(
            "stopped after checking {} migration(s); the throwaway database is dropped",
            report.checked.len()
        )
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
