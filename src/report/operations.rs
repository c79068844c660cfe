//! The text the daily-operation programs print: `backup` (path, size, time, what was
//! pruned), `restore` and `reset`.

use std::io::{self, Write};

use colored::Colorize;

use crate::ops::backup::{Backup, Content, Format};
use crate::ops::reset::ResetPlan;
use crate::ops::restore::Restored;

/// `✓ backup → backups/backup_2026-11-22_10-00-00.sql (1.2 MB, 340 ms)`.
pub fn backup(w: &mut dyn Write, backup: &Backup) -> io::Result<()> {
    let what = match (backup.format, backup.content) {
        (Format::Plain, Content::SchemaAndData) => "SQL, schema and data",
        (Format::Plain, Content::SchemaOnly) => "SQL, schema only",
        (Format::Plain, Content::DataOnly) => "SQL, data only",
        (Format::Custom, _) => "custom archive",
        (Format::Directory, _) => "directory archive",
    };
    writeln!(
        w,
        "{} backup of {} → {} ({what}, {}, {})",
        "✓".green().bold(),
        backup.database,
        backup.path.display(),
        size(backup.bytes),
        super::duration(backup.duration_ms)
    )?;
    for path in &backup.pruned {
        writeln!(w, "  pruned {}", path.display())?;
    }
    Ok(())
}

/// `✓ restored backups/x.sql into postgres://...`, or with `--table`
/// `` ✓ restored the rows of `public.contract` from backups/x.dump into postgres://... ``.
pub fn restored(w: &mut dyn Write, restored: &Restored) -> io::Result<()> {
    let how = if restored.replaced {
        " (replaced)"
    } else if restored.created {
        " (created)"
    } else {
        ""
    };
    let what = if restored.tables.is_empty() {
        restored.path.display().to_string()
    } else {
        let tables: Vec<String> = restored.tables.iter().map(|t| format!("`{t}`")).collect();
        format!(
            "the rows of {} from {}",
            tables.join(", "),
            restored.path.display()
        )
    };
    writeln!(
        w,
        "{} restored {what} into {}{how} in {}",
        "✓".green().bold(),
        restored.database,
        super::duration(restored.duration_ms)
    )
}

/// `✓ reset postgres://...: dropped `public` (14 relations), `dbkit` (3 relations)`.
pub fn reset(w: &mut dyn Write, database: &str, plan: &ResetPlan) -> io::Result<()> {
    let public = plan.schemas.iter().any(|s| s.name == "public");
    writeln!(
        w,
        "{} reset {database}: dropped {}{}",
        "✓".green().bold(),
        plan.describe(),
        if public {
            "; `public` recreated empty"
        } else {
            ""
        }
    )
}

/// `1.2 MB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}
