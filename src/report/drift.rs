//! The text check-drift prints: what was compared, the findings grouped by object kind
//! (only in the database, only in the files, different with both definitions or a line
//! diff), the notes, a count and the next step.

use std::io::{self, Write};

use colored::Colorize;

use crate::drift::snapshots::SnapshotCheck;
use crate::drift::{Change, Finding, Report, GROUPS};

/// The whole report.
pub fn report(w: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(
        w,
        "Compared {} with {}: {} objects in {}",
        report.database.bold(),
        report.compared_with,
        report.objects_compared,
        super::duration(report.duration_ms)
    )?;
    findings(w, report)?;
    if !report.notes.is_empty() {
        writeln!(w, "\n{}", "notes".bold())?;
        for note in &report.notes {
            writeln!(w, "  {} {note}", "·".dimmed())?;
        }
    }
    writeln!(w)?;
    if report.findings.is_empty() {
        return writeln!(w, "{} no drift", "✓".green().bold());
    }
    let (extra, missing, different) = (
        report.count(Change::Extra),
        report.count(Change::Missing),
        report.count(Change::Different),
    );
    writeln!(
        w,
        "{} {} difference(s): {extra} only in {}, {missing} only in {}, {different} different",
        "✗".red().bold(),
        report.findings.len(),
        report.database_label,
        report.expected_label
    )
}

/// The findings, grouped by kind.
pub fn findings(w: &mut dyn Write, report: &Report) -> io::Result<()> {
    for group in GROUPS {
        let found: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.group == *group)
            .collect();
        if found.is_empty() {
            continue;
        }
        writeln!(w, "\n{}", group.bold())?;
        for finding in found {
            one(w, finding, &report.database_label, &report.expected_label)?;
        }
    }
    Ok(())
}

/// The next steps after a report with drift.
pub fn next_steps(w: &mut dyn Write, files: bool) -> io::Result<()> {
    if files {
        writeln!(
            w,
            "Next: `check-drift --capture \"what changed\"` writes it as the next migration; `check-drift --repair` prints the SQL that takes the database back to the files"
        )
    } else {
        writeln!(
            w,
            "Next: `check-drift --against URL --repair` prints the SQL that makes the database like the other one"
        )
    }
}

fn one(
    w: &mut dyn Write,
    f: &Finding,
    database_label: &str,
    expected_label: &str,
) -> io::Result<()> {
    let (mark, words) = match f.change {
        Change::Extra => ("+".green(), format!("only in {database_label}")),
        Change::Missing => ("-".red(), format!("only in {expected_label}")),
        Change::Different => ("~".yellow(), "different".to_string()),
    };
    let kind = if f.modelled {
        f.kind.clone()
    } else {
        format!("{} (compared from pg_dump)", f.kind)
    };
    let touched = f
        .last_touched
        .as_ref()
        .map(|m| format!(", last touched by {m}").dimmed().to_string())
        .unwrap_or_default();
    writeln!(w, "  {mark} {kind} {}  {words}{touched}", f.name.bold())?;
    if let Some(detail) = &f.detail {
        writeln!(w, "      {detail}")?;
    }
    match (&f.database, &f.expected) {
        (Some(one), None) | (None, Some(one)) => definition(w, one),
        (Some(database), Some(expected)) if f.detail.is_none() => {
            side_by_side(w, database, expected, database_label, expected_label)
        }
        _ => Ok(()),
    }
}

/// A definition, up to a few lines.
fn definition(w: &mut dyn Write, text: &str) -> io::Result<()> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for line in lines.iter().take(4) {
        writeln!(w, "      {}", cut(line.trim_end()).dimmed())?;
    }
    if lines.len() > 4 {
        writeln!(
            w,
            "      {}",
            format!("... {} more lines", lines.len() - 4).dimmed()
        )?;
    }
    Ok(())
}

/// Both definitions: one line each when they are short, else the lines that differ.
fn side_by_side(
    w: &mut dyn Write,
    database: &str,
    expected: &str,
    database_label: &str,
    label: &str,
) -> io::Result<()> {
    let short = |s: &str| !s.contains('\n') && s.len() <= 160;
    if short(database) && short(expected) {
        let ours = database_label.trim_start_matches("the ");
        let theirs = label.strip_prefix("the ").unwrap_or("other");
        let width = ours.len().max(theirs.len());
        writeln!(w, "      {ours:<width$}: {}", database.green())?;
        return writeln!(w, "      {theirs:<width$}: {}", expected.red());
    }
    let diff = similar::TextDiff::from_lines(expected, database);
    for group in diff.grouped_ops(1) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let line = cut(change.value().trim_end_matches('\n'));
                match change.tag() {
                    similar::ChangeTag::Delete => {
                        writeln!(w, "      {} {}", "-".red(), line.red())?
                    }
                    similar::ChangeTag::Insert => {
                        writeln!(w, "      {} {}", "+".green(), line.green())?
                    }
                    similar::ChangeTag::Equal => writeln!(w, "        {}", line.dimmed())?,
                }
            }
        }
    }
    writeln!(
        w,
        "      {}",
        format!("(- {label}, + the database)").dimmed()
    )
}

fn cut(line: &str) -> String {
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

/// `--snapshots`: a line per snapshot, its findings under it, and where the proven ones
/// are recorded.
pub fn snapshots(
    w: &mut dyn Write,
    checked: &[SnapshotCheck],
    duration_ms: f64,
    record: &std::path::Path,
) -> io::Result<()> {
    for c in checked {
        let (mark, words) = match c.status {
            "verified" => ("✓".green(), format!("matches {}", c.compared_with)),
            "differs" => (
                "✗".red().bold(),
                format!("differs from {}", c.compared_with),
            ),
            "cannot_verify" => ("?".yellow(), "cannot be checked".to_string()),
            _ => ("·".dimmed(), format!("compared with {}", c.compared_with)),
        };
        writeln!(w, "  {mark} {}  {words}", c.file.bold())?;
        if !c.findings.is_empty() {
            let report = Report {
                database: c.file.clone(),
                compared_with: c.compared_with.clone(),
                expected_label: "the migrations".into(),
                database_label: "the snapshot".into(),
                objects_compared: 0,
                findings: c.findings.clone(),
                notes: Vec::new(),
                duration_ms: 0.0,
                repair: None,
                captured: Vec::new(),
                replay: None,
            };
            findings(w, &report)?;
        }
        for note in &c.notes {
            writeln!(w, "      {} {note}", "·".dimmed())?;
        }
    }
    writeln!(
        w,
        "\n{} snapshot(s) checked in {}; proven ones are recorded in {} (commit it)",
        checked.len(),
        super::duration(duration_ms),
        record.display()
    )
}
