//! Errors for people and for programs: the one rendering path every program uses.
//! Text goes to stderr as `error: ...` (the message and its causes, once), then where it
//! happened and what stays done, then `hint: ...` lines; JSON is `{"error", "hint"}` plus
//! the details of a failing statement. The exit code is the error's own
//! ([`Error::exit_code`]).

use std::io::{self, Write};

use colored::Colorize;

use crate::error::Error;

/// The hints for an error: the server's own, then dbkit's next step.
pub fn hints(error: &Error) -> Vec<String> {
    let mut hints = Vec::new();
    match error {
        Error::Statement { failure, .. } | Error::SeedFailed { failure, .. } => {
            hints.extend(failure.hint.clone());
        }
        Error::Interrupted {
            source: Some(source),
            ..
        } => {
            // The server's own hint only: dbkit's next step is the interrupt's.
            if let Error::Statement { failure, .. } | Error::SeedFailed { failure, .. } = &**source
            {
                hints.extend(failure.hint.clone());
            }
        }
        _ => {}
    }
    hints.extend(error.hint());
    if let Error::Guarded { action, .. } = error {
        if action.contains("fixtures") {
            hints.push("reference data alone is production-safe: `--reference-only`".into());
        }
    }
    hints
}

/// The error's message and its causes, each once: `postgres::Error` repeats its cause in
/// its own message, so a cause already shown is skipped.
pub fn chain(error: &Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    message
}

/// An error for people: the message, where it happened and what stays done, the hints.
pub fn text(w: &mut dyn Write, error: &Error) -> io::Result<()> {
    writeln!(w, "{} {}", "error:".red().bold(), chain(error))?;
    context(w, error)?;
    for hint in hints(error) {
        writeln!(w, "{} {hint}", "hint:".cyan().bold())?;
    }
    Ok(())
}

/// Where a failing statement ran and what this run had done before it.
fn context(w: &mut dyn Write, error: &Error) -> io::Result<()> {
    match error {
        Error::Statement {
            migration,
            database,
            applied_before,
            ..
        } => {
            let what = migration
                .as_deref()
                .map_or("snapshot".to_string(), |m| format!("migration `{m}`"));
            writeln!(w, "  in {what} on {database}")?;
            if !applied_before.is_empty() {
                writeln!(
                    w,
                    "  applied before it in this run: {}",
                    applied_before.join(", ")
                )?;
            }
        }
        Error::SeedFailed {
            database,
            loaded_before,
            ..
        } => {
            writeln!(w, "  on {database}")?;
            match loaded_before.as_slice() {
                [] => writeln!(w, "  nothing was loaded before it")?,
                files => writeln!(
                    w,
                    "  loaded before it, and still loaded: {}",
                    files.join(", ")
                )?,
            }
        }
        Error::Interrupted {
            source: Some(source),
            ..
        } => context(w, source)?,
        _ => {}
    }
    Ok(())
}

/// An error for programs: `{"error", "hint", "exit_code"}`, plus the failing statement
/// (`failure`) and what was done before it.
pub fn json(error: &Error) -> serde_json::Value {
    let mut value = serde_json::json!({
        "error": chain(error),
        "hint": hints(error),
        "exit_code": error.exit_code(),
    });
    details(&mut value, error);
    value
}

fn details(value: &mut serde_json::Value, error: &Error) {
    match error {
        Error::Statement {
            failure,
            migration,
            applied_before,
            statements_done,
            ..
        } => {
            value["failure"] = serde_json::json!(failure);
            value["migration"] = serde_json::json!(migration);
            value["applied_before"] = serde_json::json!(applied_before);
            value["statements_done"] = serde_json::json!(statements_done);
        }
        Error::SeedFailed {
            failure,
            database,
            loaded_before,
        } => {
            value["failure"] = serde_json::json!(failure);
            value["database"] = serde_json::json!(database);
            value["loaded_before"] = serde_json::json!(loaded_before);
        }
        Error::Interrupted {
            what,
            source,
            failed_version,
        } => {
            value["failed_version"] = serde_json::json!(failed_version);
            value["interrupted"] = serde_json::json!(what);
            if let Some(source) = source {
                details(value, source);
            }
        }
        _ => {}
    }
}
