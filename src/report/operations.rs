//! The text the daily-operation programs print: `restore`, `reset` and `create-database`
//! (`backup`'s is in [`super::backup`]).

use std::io::{self, Write};

use colored::Colorize;

use crate::ops::reset::{ResetDone, ResetPlan};
use crate::ops::restore::Restored;
use crate::pg::create::Created;

pub use super::backup::backup;

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

/// `✓ reset postgres://...: dropped `public` (14 relations), `dbkit` (3 relations) in 1
/// transaction; `public` recreated empty`.
pub fn reset(
    w: &mut dyn Write,
    database: &str,
    plan: &ResetPlan,
    done: &ResetDone,
) -> io::Result<()> {
    let public = plan.schemas.iter().any(|s| s.name == "public");
    let transactions = match done.transactions {
        1 => "1 transaction".to_string(),
        n => format!("{n} transactions"),
    };
    writeln!(
        w,
        "{} reset {database}: dropped {} in {transactions}{}",
        "✓".green().bold(),
        plan.describe(),
        if public {
            "; `public` recreated empty"
        } else {
            ""
        }
    )
}

/// `✓ created database `app` (owner `app`, UTF8, from template0) on postgres://...`, or
/// that it already exists.
pub fn created_database(w: &mut dyn Write, created: &Created) -> io::Result<()> {
    if created.created {
        writeln!(
            w,
            "{} created database `{}` (owner `{}`, encoding {}, from template0) on {}",
            "✓".green().bold(),
            created.name,
            created.owner,
            created.encoding,
            created.database
        )
    } else {
        writeln!(
            w,
            "database `{}` already exists (owner `{}`, encoding {}) on {}: nothing to do",
            created.name, created.owner, created.encoding, created.database
        )
    }
}

/// `1.2 MB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// `reset --reapply` by copying the template.
pub fn from_template(
    w: &mut dyn Write,
    database: &str,
    replaced: &crate::ops::fresh::Replaced,
) -> io::Result<()> {
    let how = match (replaced.spare, replaced.build_ms) {
        (true, _) => "its spare copy, made in the background".to_string(),
        (false, Some(ms)) => format!("built now in {}", super::duration(ms)),
        (false, None) => "already built".to_string(),
    };
    for session in &replaced.closed {
        writeln!(w, "  closed your session on it: {session}")?;
    }
    // A project without validation files has no checks to speak of.
    if replaced.checks > 0 {
        writeln!(
            w,
            "  {} checks passed (on the template, when it was built)",
            replaced.checks
        )?;
    }
    writeln!(
        w,
        "{} Reset {database} from template `{}` ({how}) in {}: the schema, reference data and fixtures as a replay builds them",
        "✓".green(),
        replaced.template,
        super::duration(replaced.clone_ms)
    )
}
