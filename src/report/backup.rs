//! The text `backup` prints: a finished backup (path, what it holds, size, time, what
//! `--keep` pruned and left alone), what a dry run would do, the list of a database's
//! backups, and what `--backup-first` did before applying.

use std::io::{self, Write};
use std::path::Path;

use colored::Colorize;

use crate::ops::backup::{Backup, BackupFirst, Content, Format, Listing, Preview, Unattributed};

use super::operations::size;

/// `✓ backup of postgres://... → backups/backup_app_2026-11-22_10-00-00Z.sql (SQL, schema
/// and data, 1.2 MB, 340 ms)`, then what `--keep` did.
pub fn backup(w: &mut dyn Write, backup: &Backup) -> io::Result<()> {
    writeln!(
        w,
        "{} backup of {} → {} ({}, {}, {})",
        "✓".green().bold(),
        backup.database,
        backup.path.display(),
        holds(backup.format, backup.content, &backup.tables, &backup.path),
        size(backup.bytes),
        super::duration(backup.duration_ms)
    )?;
    if backup.folder_created {
        folder_line(w, &backup.path, "created")?;
    }
    for path in &backup.pruned {
        writeln!(w, "  pruned {}", path.display())?;
    }
    not_pruned(w, &backup.not_attributed)
}

/// `Dry run: would back up ... → path (...); nothing was written`, then what `--keep`
/// would remove.
pub fn preview(w: &mut dyn Write, preview: &Preview) -> io::Result<()> {
    writeln!(
        w,
        "{} would back up {} → {} ({}); nothing was written",
        "Dry run:".cyan().bold(),
        preview.database,
        preview.path.display(),
        holds(
            preview.format,
            preview.content,
            &preview.tables,
            &preview.path
        ),
    )?;
    if preview.folder_created {
        folder_line(w, &preview.path, "would create")?;
    }
    for path in &preview.pruned {
        writeln!(w, "  would prune {}", path.display())?;
    }
    not_pruned(w, &preview.not_attributed)
}

/// What `--backup-first` did, as a line of apply-schema's output.
pub fn first(w: &mut dyn Write, first: &BackupFirst) -> io::Result<()> {
    match first {
        BackupFirst::Taken(made) => {
            writeln!(
                w,
                "  {} backed up first → {} ({}, {})",
                "✓".green(),
                made.path.display(),
                size(made.bytes),
                super::duration(made.duration_ms)
            )?;
            if made.folder_created {
                folder_line(w, &made.path, "created")?;
            }
            Ok(())
        }
        BackupFirst::NothingPending => {
            writeln!(w, "  {} no backup first: nothing is pending", "→".cyan())
        }
        BackupFirst::DryRun => writeln!(
            w,
            "  {} would back up first (a dry run takes no backup)",
            "→".cyan()
        ),
    }
}

/// A database's backups, newest first, one line each, then one line on the rest of the
/// folder.
pub fn listing(w: &mut dyn Write, listing: &Listing) -> io::Result<()> {
    let dir = listing.dir.display();
    if listing.backups.is_empty() {
        writeln!(w, "No backups of {} in `{dir}`.", listing.origin)?;
    } else {
        writeln!(w, "Backups of {} in `{dir}`, newest first:", listing.origin)?;
    }
    let width = listing
        .backups
        .iter()
        .map(|b| b.sidecar.file.len())
        .max()
        .unwrap_or(0);
    for listed in &listing.backups {
        let b = &listed.sidecar;
        writeln!(
            w,
            "  {:<width$}  {:>9}  {:<10}  {}",
            b.file,
            size(b.bytes),
            age(listed.age_seconds),
            holds(b.format, b.content, &b.tables, &listed.path),
        )?;
    }
    match rest(listing) {
        Some(line) => writeln!(w, "{}", line.dimmed()),
        None => Ok(()),
    }
}

/// One line on what else the folder holds (other databases' backups, entries dbkit
/// cannot attribute), or nothing.
pub fn rest(listing: &Listing) -> Option<String> {
    let mut parts = Vec::new();
    if listing.others > 0 {
        parts.push(format!(
            "{} backup{} of other databases or servers",
            listing.others,
            plural(listing.others)
        ));
    }
    let unattributed = &listing.not_attributed;
    if !unattributed.is_empty() {
        parts.push(format!(
            "{} entr{} dbkit cannot attribute (never pruned): {}",
            unattributed.len(),
            if unattributed.len() == 1 { "y" } else { "ies" },
            names(unattributed)
        ));
    }
    (!parts.is_empty())
        .then(|| format!("Also in `{}`: {}.", listing.dir.display(), parts.join("; ")))
}

/// `SQL, schema and data`, `custom archive, data only, tables activities`.
fn holds(format: Format, content: Content, tables: &[String], path: &Path) -> String {
    let format = match format {
        Format::Plain if path.extension().is_some_and(|e| e == "gz") => "SQL (gzip)",
        Format::Plain => "SQL",
        Format::Custom => "custom archive",
        Format::Directory => "directory archive",
    };
    let content = match content {
        Content::SchemaAndData => "schema and data",
        Content::SchemaOnly => "schema only",
        Content::DataOnly => "data only",
    };
    match tables {
        [] => format!("{format}, {content}"),
        tables => format!("{format}, {content}, tables {}", tables.join(", ")),
    }
}

/// `  created `backups/` (owner-only; its .gitignore of `*` keeps it out of git)`.
fn folder_line(w: &mut dyn Write, backup: &Path, verb: &str) -> io::Result<()> {
    let dir = backup.parent().unwrap_or(Path::new("."));
    writeln!(
        w,
        "  {verb} `{}` (owner-only; its `.gitignore` of `*` keeps it out of git)",
        dir.display()
    )
}

fn not_pruned(w: &mut dyn Write, unattributed: &[Unattributed]) -> io::Result<()> {
    if unattributed.is_empty() {
        return Ok(());
    }
    writeln!(
        w,
        "  not pruned: {} entr{} dbkit cannot attribute to a database: {}",
        unattributed.len(),
        if unattributed.len() == 1 { "y" } else { "ies" },
        names(unattributed)
    )
}

/// `a.sql (no sidecar), b.sql (no sidecar), ... and 3 more`.
fn names(unattributed: &[Unattributed]) -> String {
    const SHOWN: usize = 5;
    let mut text = unattributed
        .iter()
        .take(SHOWN)
        .map(|u| {
            let name = u.path.file_name().unwrap_or(u.path.as_os_str());
            format!("`{}` ({})", name.to_string_lossy(), u.reason)
        })
        .collect::<Vec<_>>()
        .join(", ");
    if unattributed.len() > SHOWN {
        text.push_str(&format!(" and {} more", unattributed.len() - SHOWN));
    }
    text
}

/// `just now`, `42 s ago`, `5 min ago`, `3 h ago`, `12 d ago`.
pub fn age(seconds: i64) -> String {
    match seconds {
        s if s < 5 => "just now".into(),
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(0), "just now");
        assert_eq!(age(42), "42 s ago");
        assert_eq!(age(300), "5 min ago");
        assert_eq!(age(3 * 3600 + 5), "3 h ago");
        assert_eq!(age(12 * 86_400), "12 d ago");
    }
}
