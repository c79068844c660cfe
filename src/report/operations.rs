//! The text the daily-operation programs print: `restore` and `reset` (`backup`'s is in
//! [`super::backup`]).

use std::io::{self, Write};

use colored::Colorize;

use crate::ops::reset::ResetPlan;
use crate::ops::restore::Restored;

pub use super::backup::backup;

/// `✓ restored backups/x.sql into postgres://...`.
pub fn restored(w: &mut dyn Write, restored: &Restored) -> io::Result<()> {
    let how = if restored.replaced {
        " (replaced)"
    } else if restored.created {
        " (created)"
    } else {
        ""
    };
    writeln!(
        w,
        "{} restored {} into {}{how} in {}",
        "✓".green().bold(),
        restored.path.display(),
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
