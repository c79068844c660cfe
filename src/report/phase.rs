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
        next(
            w,
            format!(
                "Update the ER diagram for the tables changed{since}: {}: {}.",
                cut.tables_changed.join(", "),
                diagram_commands(diagrams)
            ),
        )?;
    }
    next(
        w,
        format!(
            "Prove it holds what its migrations build (it was dumped from a database, which may have drifted): check-drift --snapshots, which records it in `{}`.",
            cut.file.with_file_name(crate::project::snapshot::VERIFIED).display()
        ),
    )?;
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

/// The commands that bring the diagrams in `diagrams` up to date: `--update` for each
/// draw.io file there, `-o` for a Graphviz or Mermaid file dbkit draws whole, else the
/// command that draws a first draw.io file.
fn diagram_commands(diagrams: Option<&Path>) -> String {
    let dir = diagrams.map_or_else(
        || Path::new("database/diagrams").to_path_buf(),
        Path::to_path_buf,
    );
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut commands: Vec<String> = Vec::new();
    for file in &files {
        let shown = file.display();
        match file.extension().and_then(|e| e.to_str()) {
            Some("drawio") => commands.push(format!("`er-diagram --update {shown}`")),
            Some("dot") => commands.push(format!("`er-diagram --format dot > {shown}`")),
            _ => {}
        }
    }
    if commands.is_empty() {
        commands.push(format!(
            "`er-diagram --format drawio -o {}`",
            dir.join("schema.drawio").display()
        ));
    }
    commands.join(" and ")
}
