//! The text `rollback` prints: the plan it asks about, each migration as it is rolled
//! back (or, in a dry run, would be), and the closing line saying where the database
//! now stands.

use std::io::{self, Write};

use colored::Colorize;

use crate::apply::rollback::{Planned, RollbackReport, RolledBack};

/// The question before rolling back: `Roll back app: 012_x.sql, 011_y.sql (newest
/// first)?`.
pub fn question(database: &str, planned: &[Planned]) -> String {
    let files: Vec<&str> = planned.iter().map(|p| p.file.as_str()).collect();
    let order = if files.len() > 1 {
        " (newest first)"
    } else {
        ""
    };
    format!("Roll back {database}: {}{order}?", files.join(", "))
}

/// `  ↩ 012_x.sql  ← 012_x.down.sql  12 ms  (no transaction: ...)`.
pub fn step(w: &mut dyn Write, done: &RolledBack, dry_run: bool, width: usize) -> io::Result<()> {
    let mark = if dry_run { "→".cyan() } else { "↩".green() };
    let timing = if dry_run {
        String::new()
    } else {
        format!("  {}", super::duration(done.duration_ms).dimmed())
    };
    let how = done
        .reason
        .as_ref()
        .map(|r| format!("  {}", format!("(no transaction: {r})").dimmed()))
        .unwrap_or_default();
    let line = format!(
        "  {mark} {:<width$}  ← {}{timing}{how}",
        done.file, done.down
    );
    writeln!(w, "{}", line.trim_end())
}

/// The closing line.
pub fn summary(w: &mut dyn Write, report: &RollbackReport) -> io::Result<()> {
    let n = report.rolled_back.len();
    let noun = if n == 1 { "migration" } else { "migrations" };
    let now = report.now_at.as_ref().map_or_else(
        || "no migration is applied".to_string(),
        |file| format!("the newest applied is {file}"),
    );
    if n == 0 {
        return writeln!(w, "{} nothing to roll back", "Done:".green().bold());
    }
    if report.dry_run {
        return writeln!(
            w,
            "{} would roll back {n} {noun}, then {now}; nothing was changed",
            "Dry run:".cyan().bold()
        );
    }
    writeln!(
        w,
        "{} rolled back {n} {noun} in {}; {now}",
        "Done:".green().bold(),
        super::duration(report.duration_ms)
    )
}
