//! The text `create-phase-snapshot` prints: what was written, from where, how it was
//! verified, and what the lead does next (the old script's "next steps", made specific).

use std::io::{self, Write};
use std::path::Path;

use colored::Colorize;

use crate::phase::cut::Cut;

/// The snapshot's summary and the next steps. `diagrams` is the ER diagram folder, when
/// the project has one.
pub fn cut(w: &mut dyn Write, cut: &Cut, diagrams: Option<&Path>) -> io::Result<()> {
    writeln!(
        w,
        "{} snapshot {} → {} ({})",
        "✓".green().bold(),
        cut.version.bold(),
        cut.file.display(),
        size(cut.bytes)
    )?;
    writeln!(
        w,
        "  source:    {} (PostgreSQL {}, pg_dump {})",
        cut.database, cut.postgres_version, cut.pg_dump
    )?;
    let since = cut
        .previous
        .as_deref()
        .map_or(String::new(), |p| format!(" since {p}"));
    match &cut.last_migration {
        Some((version, file)) => writeln!(
            w,
            "  includes:  migrations up to {version} (`{file}`); {} new{since}",
            cut.migrations.len()
        )?,
        None => writeln!(w, "  includes:  no migrations")?,
    }
    writeln!(
        w,
        "  verified:  reloaded into {}: {} catalog items identical to the source",
        cut.verified_on, cut.items_compared
    )?;
    writeln!(
        w,
        "  changelog: entry {} added to {}",
        cut.version,
        cut.changelog.display()
    )?;
    writeln!(w, "  took {}", super::duration(cut.duration_ms))?;
    writeln!(w)?;
    writeln!(w, "{}", "Next steps:".bold())?;
    let mut n = 0;
    let mut next = |w: &mut dyn Write, text: String| {
        n += 1;
        writeln!(w, "  {n}. {text}")
    };
    next(
        w,
        format!(
            "Review `{}` and the new entry in `{}`.",
            cut.file.display(),
            cut.changelog.display()
        ),
    )?;
    if !cut.tables_changed.is_empty() {
        let place = diagrams.map_or("the ER diagram".to_string(), |d| {
            format!("the ER diagram in `{}`", d.display())
        });
        next(
            w,
            format!(
                "Update {place} for the tables changed{since}: {} (`document-migration --mermaid FILES` draws them).",
                cut.tables_changed.join(", ")
            ),
        )?;
    }
    next(
        w,
        format!(
            "Commit both: git add {} {}",
            cut.file.display(),
            cut.changelog.display()
        ),
    )?;
    next(
        w,
        format!(
            "New environments now start from {}: apply-schema loads it, then only later migrations.",
            cut.version
        ),
    )
}

fn size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}
