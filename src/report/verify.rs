//! The text `verify-migrations` prints: where the throwaway database was built from,
//! one line per migration checked (with the differing objects under a down that does not
//! undo its up), and the verdict.

use std::io::{self, Write};

use colored::Colorize;

use crate::apply::verify::{Checked, Outcome, Pass, VerifyReport};
use crate::pg::compare::{Change, Difference};

/// The opening line.
pub fn start(w: &mut dyn Write, count: usize) -> io::Result<()> {
    writeln!(w, "Verifying {count} migration(s) in a throwaway database:")
}

/// One migration's line, and what differs under it.
pub fn step(w: &mut dyn Write, checked: &Checked, width: usize) -> io::Result<()> {
    let file = format!("{:<width$}", checked.file);
    let time = super::duration(checked.duration_ms).dimmed();
    let steps = match checked.pass {
        Pass::Forward => "up → down → up",
        Pass::WithData => "down → up → down, with data",
    };
    match &checked.outcome {
        Outcome::Reversible => writeln!(w, "  {} {file}  {steps}  {time}", "✓".green()),
        Outcome::NoDown => writeln!(w, "  {} {file}  {}", "-".dimmed(), "no down".yellow()),
        Outcome::UpFailed { error } => failed(w, &file, "the up failed", error),
        Outcome::DownFailed { error } => failed(w, &file, "the down failed", error),
        Outcome::ReapplyFailed { error } => failed(
            w,
            &file,
            "the up failed when run again after the down",
            error,
        ),
        Outcome::DownDiffers { differences } => {
            writeln!(
                w,
                "  {} {file}  {}",
                "✗".red().bold(),
                "the down does not restore the schema before the up:".red()
            )?;
            differing(w, differences, "before the up", "after the down")
        }
        Outcome::ReapplyDiffers { differences } => {
            writeln!(
                w,
                "  {} {file}  {}",
                "✗".red().bold(),
                "up after the down builds another schema than the first up:".red()
            )?;
            differing(w, differences, "after the first up", "after the second up")
        }
    }
}

fn failed(w: &mut dyn Write, file: &str, what: &str, error: &str) -> io::Result<()> {
    writeln!(
        w,
        "  {} {file}  {}",
        "✗".red().bold(),
        format!("{what}:").red()
    )?;
    for line in error.lines() {
        writeln!(w, "      {line}")?;
    }
    Ok(())
}

fn differing(
    w: &mut dyn Write,
    differences: &[Difference],
    then: &str,
    now: &str,
) -> io::Result<()> {
    for d in differences {
        let (kind, name) = (&d.kind, &d.name);
        match &d.change {
            Change::Missing { definition } => {
                writeln!(w, "      {kind} `{name}` is gone ({then}: `{definition}`)")?
            }
            Change::Extra { definition } => writeln!(
                w,
                "      {kind} `{name}` is left behind ({now}: `{definition}`)"
            )?,
            Change::Changed { source, copy } => {
                writeln!(w, "      {kind} `{name}` differs")?;
                writeln!(w, "        {then}: `{source}`")?;
                writeln!(w, "        {now}: `{copy}`")?;
            }
        }
    }
    Ok(())
}

/// The verdict.
pub fn summary(w: &mut dyn Write, report: &VerifyReport, require_down: bool) -> io::Result<()> {
    if !report.not_checked.is_empty() {
        writeln!(
            w,
            "  {} not checked after that: {}",
            "·".dimmed(),
            report.not_checked.join(", ")
        )?;
    }
    let forward: Vec<&Checked> = report
        .checked
        .iter()
        .filter(|c| c.pass == Pass::Forward)
        .collect();
    // A migration is counted once: one whose down passed without data but failed over
    // the seed data is not reversible.
    let mut wrong: Vec<String> = Vec::new();
    for c in report.checked.iter().filter(|c| c.outcome.is_problem()) {
        let file = format!("`{}`", c.file);
        if !wrong.contains(&file) {
            wrong.push(file);
        }
    }
    let reversible = forward
        .iter()
        .filter(|c| c.outcome == Outcome::Reversible && !wrong.contains(&format!("`{}`", c.file)))
        .count();
    let without = report.without_down();
    let mut parts = vec![format!("{reversible} reversible")];
    if !without.is_empty() {
        parts.push(format!("{} without a down", without.len()));
    }
    let time = format!(
        "{}; built from {}",
        super::duration(report.duration_ms),
        report.built_from
    );
    if !wrong.is_empty() {
        parts.push(format!(
            "{} not reversible: {}",
            wrong.len(),
            wrong.join(", ")
        ));
        return writeln!(
            w,
            "{} {} ({time})",
            "Not reversible:".red().bold(),
            parts.join(", ")
        );
    }
    if require_down && !without.is_empty() {
        return writeln!(
            w,
            "{} {} ({time}); `--require-down` needs one for each",
            "Missing downs:".red().bold(),
            parts.join(", ")
        );
    }
    writeln!(
        w,
        "{} {} ({time})",
        "Reversible:".green().bold(),
        parts.join(", ")
    )
}
