//! Rendering a seed load (`load-test-data`): one line per folder and per file as they
//! load, the closing summary, and a failure with where it stopped and what stayed loaded.
//! JSON is the [`LoadReport`] itself (keys documented in the README).

use std::io::{self, Write};
use std::path::Path;

use colored::Colorize;

use super::duration;
use crate::error::Error;
use crate::ops::seed::{Folder, FolderState, Kind, LoadReport, LoadedFile, Progress};

/// The first line: what loads into which database.
fn header(w: &mut dyn Write, seed_dir: &Path, database: &str) -> io::Result<()> {
    writeln!(w, "Loading `{}` → {database}", seed_dir.display())
}

/// One progress event. `width` keeps the longest file name so far, so the counts line
/// up (across folders too, unless a later folder has longer names).
pub fn progress(w: &mut dyn Write, event: &Progress<'_>, width: &mut usize) -> io::Result<()> {
    match event {
        Progress::Start { seed_dir, database } => header(w, seed_dir, database),
        Progress::Folder(folder) => {
            let longest = folder.files.iter().map(String::len).max().unwrap_or(0);
            *width = (*width).max(longest.min(60));
            self::folder(w, folder)
        }
        Progress::File(file) => self::file(w, file, *width),
    }
}

fn title(kind: Kind) -> &'static str {
    match kind {
        Kind::Reference => "Reference data",
        Kind::Fixtures => "Fixtures",
    }
}

fn folder(w: &mut dyn Write, folder: &Folder) -> io::Result<()> {
    let dir = folder.dir.display();
    let title = title(folder.kind).bold();
    match folder.state {
        FolderState::Loaded => writeln!(
            w,
            "{title} ({dir}, {} file{}):",
            folder.files.len(),
            plural(folder.files.len())
        ),
        FolderState::Missing => writeln!(
            w,
            "{title}: {}",
            format!("none (`{dir}` not found)").dimmed()
        ),
        FolderState::Empty => writeln!(
            w,
            "{title}: {}",
            format!("none (no .sql files in `{dir}`)").dimmed()
        ),
        FolderState::Skipped => {
            writeln!(w, "{title}: {}", "skipped (--reference-only)".dimmed())
        }
    }
}

fn file(w: &mut dyn Write, file: &LoadedFile, width: usize) -> io::Result<()> {
    let rows = format!("{} row{}", file.rows, plural(file.rows as usize));
    writeln!(
        w,
        "  {} {:<width$}  {rows:>12}  {}",
        "✓".green(),
        file.name,
        format!("{:>8}", duration(file.duration_ms)).dimmed()
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The closing line.
pub fn summary(w: &mut dyn Write, report: &LoadReport) -> io::Result<()> {
    if report.files.is_empty() {
        return writeln!(
            w,
            "{} no seed files to load",
            "Nothing to do:".green().bold()
        );
    }
    let count = |kind| report.files.iter().filter(|f| f.kind == kind).count();
    let (reference, fixtures) = (count(Kind::Reference), count(Kind::Fixtures));
    let what = match (reference, fixtures) {
        (r, 0) => format!("{r} reference file{}", plural(r)),
        (0, f) => format!("{f} fixture file{}", plural(f)),
        (r, f) => format!("{r} reference and {f} fixture files"),
    };
    writeln!(
        w,
        "{} loaded {what}, {} row{} in {}",
        "Done:".green().bold(),
        report.rows,
        plural(report.rows as usize),
        duration(report.duration_ms)
    )
}

/// The progress line of a file that failed and was rolled back (nothing for other
/// errors).
pub fn failed_file(w: &mut dyn Write, error: &Error) -> io::Result<()> {
    let Error::SeedFailed { failure, .. } = error else {
        return Ok(());
    };
    let name = failure.file.file_name().map_or_else(
        || failure.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    writeln!(w, "  {} {name}  {}", "✗".red(), "rolled back".red())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::error::StatementFailure;

    fn render(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
        colored::control::set_override(false);
        let mut out = Vec::new();
        f(&mut out).expect("renders");
        String::from_utf8(out).expect("utf-8")
    }

    fn loaded(kind: Kind, name: &str, rows: u64) -> LoadedFile {
        LoadedFile {
            kind,
            file: PathBuf::from(format!("database/seed/{}/{name}", kind.folder())),
            name: name.into(),
            statements: 2,
            rows,
            duration_ms: 3.2,
        }
    }

    #[test]
    fn lines_up_a_folder_and_sums_up() {
        let folder = Folder {
            kind: Kind::Reference,
            dir: PathBuf::from("database/seed/reference"),
            state: FolderState::Loaded,
            files: vec!["01_types.sql".into(), "02_currencies_long.sql".into()],
        };
        let skipped = Folder {
            kind: Kind::Fixtures,
            dir: PathBuf::from("database/seed/fixtures"),
            state: FolderState::Skipped,
            files: Vec::new(),
        };
        let files = [
            loaded(Kind::Reference, "01_types.sql", 1),
            loaded(Kind::Reference, "02_currencies_long.sql", 17),
        ];
        let text = render(|w| {
            let mut width = 0;
            progress(w, &Progress::Folder(&folder), &mut width)?;
            for file in &files {
                progress(w, &Progress::File(file), &mut width)?;
            }
            progress(w, &Progress::Folder(&skipped), &mut width)?;
            summary(
                w,
                &LoadReport {
                    database: "db".into(),
                    reference_only: true,
                    folders: vec![folder.clone(), skipped.clone()],
                    rows: 18,
                    files: files.to_vec(),
                    duration_ms: 12.0,
                },
            )
        });
        assert_eq!(
            text,
            "Reference data (database/seed/reference, 2 files):\n  \
             ✓ 01_types.sql                   1 row      3 ms\n  \
             ✓ 02_currencies_long.sql       17 rows      3 ms\n\
             Fixtures: skipped (--reference-only)\n\
             Done: loaded 2 reference files, 18 rows in 12 ms\n"
        );
    }

    #[test]
    fn a_failure_says_what_stayed_loaded_and_why() {
        let error = Error::SeedFailed {
            failure: Box::new(StatementFailure {
                file: PathBuf::from("database/seed/fixtures/02_b.sql"),
                line: 4,
                column: 1,
                code: "23503".into(),
                message:
                    "insert or update on table \"b\" violates foreign key constraint \"b_a_fkey\""
                        .into(),
                detail: Some("Key (a_id)=(9) is not present in table \"a\".".into()),
                hint: None,
                context: None,
            }),
            database: "host=/tmp dbname=dev".into(),
            loaded_before: vec!["reference/01_a.sql".into()],
        };
        let text =
            render(|w| failed_file(w, &error).and_then(|()| crate::report::error::text(w, &error)));
        assert!(text.starts_with("  ✗ 02_b.sql  rolled back\nerror: database/seed/fixtures/02_b.sql:4:1: insert or update"), "{text}");
        assert!(text.contains("\n  detail: Key (a_id)=(9)"), "{text}");
        assert!(
            text.contains("\n  loaded before it, and still loaded: reference/01_a.sql\n"),
            "{text}"
        );
        assert!(text.contains("hint: a row this file refers to is not loaded: the referenced rows must be loaded by an earlier file"), "{text}");
        let json = crate::report::error::json(&error);
        assert_eq!(json["failure"]["line"], 4);
        assert_eq!(json["loaded_before"][0], "reference/01_a.sql");
    }
}
