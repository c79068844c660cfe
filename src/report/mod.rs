//! Rendering results for people (text, colored when the caller enabled colors) and for
//! programs (JSON). Renderers write into any `std::io::Write`, so every output can be
//! tested by rendering into a `Vec<u8>`. Colors are switched on or off once by the
//! binary (`colored::control`); this module only asks for them.

use std::io::{self, Write};

use colored::Colorize;

use crate::apply::history::Source;
use crate::apply::run::{ApplyReport, Step};
use crate::apply::status::{SnapshotState, State, Status};
use crate::apply::validate::ValidationReport;

/// Process exit codes, documented in the README.
pub mod exit {
    /// Success; with `--status`, up to date.
    pub const OK: u8 = 0;
    /// An error.
    pub const ERROR: u8 = 1;
    /// Bad command-line usage.
    pub const USAGE: u8 = 2;
    /// `--status`: migrations are pending (and nothing is wrong).
    pub const PENDING: u8 = 3;
    /// `--status`: modified, failed or out-of-order migrations need attention.
    pub const ATTENTION: u8 = 4;
    /// The schema was applied but validation checks found problems.
    pub const VALIDATION: u8 = 5;
    /// `document-migration --deny`: a denied risk was found.
    pub const RISK: u8 = 6;
    /// `verify-migrations`: a down does not undo its up (or fails, or, with
    /// `--require-down`, is missing).
    pub const NOT_REVERSIBLE: u8 = 8;
    /// `check-drift`: the database differs from the files (or the other database).
    pub const DRIFT: u8 = 7;
}

/// Milliseconds as people read them: `850 ms`, `1.24 s`, `2 min 5 s`.
pub fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        let secs = (ms / 1000.0).round() as u64;
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

fn versions(list: &[u64]) -> String {
    match list {
        [] => String::new(),
        [one] => one.to_string(),
        [first, .., last] if list.windows(2).all(|w| w[1] == w[0] + 1) => format!("{first}-{last}"),
        _ => list
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The width file names are padded to in step lines: the longest migration name, up to
/// 60 characters.
pub fn step_width(migrations: &[crate::project::layout::Migration]) -> usize {
    migrations
        .iter()
        .map(|m| m.name().len())
        .max()
        .unwrap_or(0)
        .min(60)
}

/// One line for a step, as it completes; file names are padded to `width` so durations
/// line up.
pub fn step(w: &mut dyn Write, step: &Step, dry_run: bool, width: usize) -> io::Result<()> {
    let mark = if dry_run { "→".cyan() } else { "✓".green() };
    match step {
        Step::ChecksumAccepted { file, old, new, .. } => writeln!(
            w,
            "  {mark} accepted the edit of {file} (checksum {} → {}); {}",
            &old[..12.min(old.len())],
            &new[..12.min(new.len())],
            "the edit itself was NOT run: put schema changes in a new migration".yellow()
        ),
        Step::Renamed {
            from_file, file, ..
        } => writeln!(
            w,
            "  {mark} recorded {file} as applied: it is {from_file} renamed (same content, not run again)"
        ),
        Step::Snapshot {
            file,
            baseline: true,
            ..
        } => {
            writeln!(
                w,
                "  {mark} snapshot {file} recorded as the baseline (not loaded)"
            )
        }
        Step::Snapshot {
            file,
            last_migration,
            duration_ms,
            ..
        } => {
            let includes = last_migration.map_or("no migrations".to_string(), |v| {
                format!("migrations up to {v}")
            });
            let verb = if dry_run { "load" } else { "loaded" };
            writeln!(
                w,
                "  {mark} snapshot {} {verb} (includes {includes}){}",
                file.bold(),
                timing(*duration_ms, dry_run)
            )
        }
        Step::Recorded {
            source,
            versions: list,
        } => {
            let why = match source {
                Source::Snapshot => "included in the snapshot",
                Source::Baseline => "baseline",
                Source::Manual => "marked applied by hand",
                Source::Migration => "applied",
            };
            let verb = if dry_run { "record" } else { "recorded" };
            writeln!(
                w,
                "  {mark} {verb} {} migration(s) as applied ({why}): {}",
                list.len(),
                versions(list)
            )
        }
        Step::Migration {
            file,
            reason,
            duration_ms,
            ..
        } => {
            let how = reason
                .as_ref()
                .map(|r| format!("  {}", format!("(no transaction: {r})").dimmed()))
                .unwrap_or_default();
            let line = format!(
                "  {mark} {file:<width$}{}{how}",
                timing(*duration_ms, dry_run)
            );
            writeln!(w, "{}", line.trim_end())
        }
    }
}

fn timing(ms: f64, dry_run: bool) -> String {
    if dry_run {
        String::new()
    } else {
        format!("  {}", format!("{:>8}", duration(ms)).dimmed())
    }
}

/// The closing summary of a run.
pub fn apply_summary(w: &mut dyn Write, report: &ApplyReport) -> io::Result<()> {
    let run = report.migrations_run();
    let snapshot = report.steps.iter().find_map(|s| match s {
        Step::Snapshot {
            version,
            baseline: false,
            ..
        } => Some(version.clone()),
        _ => None,
    });
    if report.dry_run {
        if report.is_noop() {
            return writeln!(
                w,
                "{} nothing to apply; dry run, nothing was changed",
                "Up to date:".green().bold()
            );
        }
        return writeln!(
            w,
            "{} {}; nothing was changed",
            "Dry run:".cyan().bold(),
            plan_words(snapshot, run, true)
        );
    }
    if report.is_noop() {
        return writeln!(
            w,
            "{} nothing to apply ({})",
            "Up to date:".green().bold(),
            duration(report.duration_ms)
        );
    }
    if run == 0 && snapshot.is_none() {
        return writeln!(
            w,
            "{} recorded only; no migration was run ({})",
            "Done:".green().bold(),
            duration(report.duration_ms)
        );
    }
    writeln!(
        w,
        "{} {} in {}",
        "Done:".green().bold(),
        plan_words(snapshot, run, false),
        duration(report.duration_ms)
    )
}

fn plan_words(snapshot: Option<String>, run: usize, future: bool) -> String {
    let (load, apply) = if future {
        ("would load", "apply")
    } else {
        ("loaded", "applied")
    };
    let migrations = format!("{run} migration{}", if run == 1 { "" } else { "s" });
    match snapshot {
        Some(v) => format!("{load} snapshot {v} and {apply} {migrations}"),
        None if future => format!("would apply {migrations}"),
        None => format!("applied {migrations}"),
    }
}

/// Validation results: one line per check, with a sample of offending rows.
pub fn validation(w: &mut dyn Write, report: &ValidationReport) -> io::Result<()> {
    if report.checks.is_empty() {
        return Ok(());
    }
    writeln!(w, "Validation:")?;
    for check in &report.checks {
        let place = format!("{}:{}", check.file.display(), check.line);
        if check.passed {
            writeln!(
                w,
                "  {} {}  {}",
                "✓".green(),
                check.description,
                place.dimmed()
            )?;
            continue;
        }
        if let Some(error) = &check.error {
            writeln!(
                w,
                "  {} {}  {}\n      {}",
                "✗".red(),
                check.description,
                place.dimmed(),
                error.message
            )?;
            continue;
        }
        writeln!(
            w,
            "  {} {} — {}  {}",
            "✗".red(),
            check.description,
            check.shortfall().unwrap_or_default(),
            place.dimmed()
        )?;
        // A single value is already in the line above.
        let rows = if check.value.is_some() {
            &[][..]
        } else {
            &check.sample[..]
        };
        for row in rows {
            let cells: Vec<String> = row.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(w, "      {}", cells.join("  "))?;
        }
    }
    let failed = report.failed();
    if failed == 0 {
        writeln!(w, "  {} checks passed", report.checks.len())
    } else {
        writeln!(
            w,
            "  {}",
            format!("{failed} of {} checks failed", report.checks.len())
                .red()
                .bold()
        )
    }
}

/// The status as a table of snapshots and migrations.
pub fn status(w: &mut dyn Write, status: &Status) -> io::Result<()> {
    writeln!(w, "Database: {}", status.database)?;
    match (&status.not_empty, status.initialized) {
        (Some(found), false) => writeln!(
            w,
            "{}",
            format!(
                "No dbkit history, but not empty ({found}): apply-schema would refuse it. If its schema matches a snapshot or migration, say so with `apply-schema --baseline VERSION`."
            )
            .red()
        )?,
        (None, false) => writeln!(
            w,
            "{}",
            "No dbkit history: apply-schema would build this database from scratch.".yellow()
        )?,
        _ => {}
    }
    if let Some(run) = &status.live_run {
        writeln!(
            w,
            "{}",
            format!("A run is applying migrations now: {run}").cyan()
        )?;
    }
    if !status.snapshots.is_empty() {
        writeln!(w, "Snapshots:")?;
    }
    for s in &status.snapshots {
        let state = match s.state {
            SnapshotState::Loaded => format!("loaded {}", when(s.loaded_at, s.duration_ms)).cyan(),
            SnapshotState::Baseline => format!("baseline {}", when(s.loaded_at, None)).cyan(),
            SnapshotState::WouldLoad => "would load".yellow(),
            SnapshotState::NotUsed => "not used".dimmed(),
        };
        let proof = match s.verified {
            Some(false) => format!(
                "  {}",
                "never verified against its migrations (check-drift --snapshots)".yellow()
            ),
            _ => String::new(),
        };
        writeln!(w, "  {:<8} {:<44} {state}{proof}", s.version, s.file)?;
    }
    if !status.migrations.is_empty() {
        writeln!(w, "Migrations:")?;
    }
    let width = status
        .migrations
        .iter()
        .map(|m| m.file.len())
        .max()
        .unwrap_or(0)
        .min(60);
    for m in &status.migrations {
        let label = match m.state {
            State::Applied => format!("applied {}", when(m.applied_at, m.duration_ms)).green(),
            State::FromSnapshot => {
                format!("from snapshot {}", m.snapshot.as_deref().unwrap_or("")).cyan()
            }
            State::Baseline => "baseline".cyan(),
            State::Manual => format!("marked applied {}", when(m.applied_at, None)).cyan(),
            State::Pending if m.out_of_order => "pending, out of order".red(),
            State::Pending => "pending".yellow(),
            State::Modified => format!(
                "modified (recorded {}, now {})",
                short(m.recorded_checksum.as_deref()),
                short(m.checksum.as_deref())
            )
            .red(),
            State::Failed => format!(
                "failed part-way{}: {}",
                m.statements_done
                    .map_or(String::new(), |n| format!(" after {n} statement(s)")),
                m.error.as_deref().unwrap_or("")
            )
            .red(),
            State::Running => format!(
                "running now ({} statement(s) done)",
                m.statements_done.unwrap_or(0)
            )
            .cyan(),
            State::MissingFile => "applied, file missing from the folder".red(),
        };
        let label = match &m.renamed_from {
            Some(old) => {
                format!("pending — same content as the applied {old} (renamed or copied?)").red()
            }
            None => label,
        };
        writeln!(w, "  {:>5}  {:<width$}  {label}", m.version, m.file)?;
    }
    let applied = status
        .migrations
        .iter()
        .filter(|m| !matches!(m.state, State::Pending | State::Failed | State::Running))
        .count();
    let summary = format!(
        "{applied} applied, {} pending, {} need attention",
        status.pending, status.problems
    );
    let summary = if status.problems > 0 {
        summary.red().bold()
    } else if status.pending > 0 {
        summary.yellow().bold()
    } else {
        summary.green().bold()
    };
    writeln!(w, "{summary}")
}

fn short(checksum: Option<&str>) -> &str {
    checksum.map_or("-", |c| &c[..12.min(c.len())])
}

fn when(at: Option<chrono::DateTime<chrono::Utc>>, ms: Option<f64>) -> String {
    let at = at
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    match ms {
        Some(ms) => format!("{at} ({})", duration(ms)),
        None => at,
    }
}

/// Writes a value as pretty JSON followed by a newline.
pub fn json(w: &mut dyn Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value)?;
    writeln!(w)
}

pub mod backup;
pub mod comment;
pub mod drawio;
pub mod drift;
pub mod erd;
pub mod error;
pub mod github;
pub mod mermaid;
pub mod migration;
pub mod operations;
pub mod phase;
pub mod progress;
pub mod rollback;
pub mod seed;
pub mod verify;
