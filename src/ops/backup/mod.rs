//! Backups: taking one with `pg_dump` so that no partial file ever carries a final name,
//! naming it `backup_<database>_<UTC stamp>` with its format's extension and describing
//! it in a sidecar (`sidecar`), showing how much pg_dump has written while it runs,
//! pruning the older backups of the same database and content (`folder`), and
//! recognizing a backup's format for restoring (`recognize`). Running the restore is
//! `restore`'s job; choosing pg_dump is `pgdump`'s.

mod disk;
mod first;
mod folder;
mod recognize;
mod sidecar;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::meter::Meter;
use crate::pg::dump::{PgDump, ServerVersion};
use crate::project::settings::ConnectionSettings;

pub use first::{before_apply, take_first, BackupFirst, First};
pub use folder::{list, Listed, Listing, Unattributed, GITIGNORE};
pub use recognize::{kind, plain_is_complete, Kind};
pub use sidecar::{file_safe, Origin, Server, Sidecar};

/// How a backup is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// SQL text for psql (`.sql`, or `.sql.gz` when compressed).
    Plain,
    /// pg_dump's archive for pg_restore (`.dump`), compressed by default.
    Custom,
    /// A folder of one file per table for pg_restore (no extension).
    Directory,
}

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    #[default]
    SchemaAndData,
    SchemaOnly,
    DataOnly,
}

/// What to back up, and where.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// The backups folder (created when missing: see [`folder::ensure`]).
    pub dir: PathBuf,
    pub format: Format,
    /// pg_dump's compression level, 0-9.
    pub compress: Option<u32>,
    pub content: Content,
    /// pg_dump table patterns (`activities`, `public.contract*`); empty for all.
    pub tables: Vec<String>,
    /// Keep only the newest N backups of this database with this content, format and
    /// table selection (the new one included); nothing else in `dir` is touched.
    pub keep: Option<usize>,
    /// When the backup is taken: its name holds it to the second (UTC), its sidecar
    /// in full.
    pub created: DateTime<Utc>,
}

/// A finished backup.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backup {
    pub path: PathBuf,
    /// The sidecar describing it (`<path>.json`).
    pub sidecar: PathBuf,
    pub format: Format,
    pub content: Content,
    pub tables: Vec<String>,
    pub bytes: u64,
    pub created: DateTime<Utc>,
    pub duration_ms: f64,
    /// Older backups of the same database and content removed by `keep`.
    pub pruned: Vec<PathBuf>,
    /// What `keep` left alone because dbkit cannot tell whose it is (no sidecar, ...).
    pub not_attributed: Vec<Unattributed>,
    /// The database, password masked.
    pub database: String,
    /// dbkit created the backups folder (owner-only, with a `.gitignore` of `*`).
    pub folder_created: bool,
    /// Things worth a warning (a data backup in a folder git does not ignore).
    pub warnings: Vec<String>,
}

/// What a backup would do (`--dry-run`): nothing is written or removed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub dry_run: bool,
    /// The name it would have now (a backup taken in the same second may push it to
    /// `_2`).
    pub path: PathBuf,
    pub format: Format,
    pub content: Content,
    pub tables: Vec<String>,
    /// The database, password masked.
    pub database: String,
    /// What `keep` would remove.
    pub pruned: Vec<PathBuf>,
    pub not_attributed: Vec<Unattributed>,
    /// The backups folder does not exist and would be created.
    pub folder_created: bool,
    pub warnings: Vec<String>,
}

/// Backs up `target` into a new file (or folder) in `options.dir`, with its sidecar.
/// pg_dump writes into a hidden folder of this run's own in the same folder, readable by
/// the owner only, while `meter` follows how much it has written; the result is renamed
/// to its final name only when pg_dump succeeded and the output is complete, and the
/// hidden folder is removed whatever happens.
pub fn create(
    pg_dump: &PgDump,
    target: &ConnectionSettings,
    server: &ServerVersion,
    options: &BackupOptions,
    meter: &dyn Meter,
) -> Result<Backup> {
    let started = Instant::now();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let folder_created = folder::ensure(&options.dir)?;
    // A hidden container of this run's own (unique, owner-only, removed with everything
    // in it when dropped): concurrent backups never share or delete each other's files.
    let container = tempfile::Builder::new()
        .prefix(".backup_")
        .suffix(".partial")
        .tempdir_in(&options.dir)
        .map_err(io(&options.dir))?;
    let temp = container.path().join("backup");
    let mut command = pg_dump.command(target);
    command.args(arguments(options));
    if options.format == Format::Directory {
        command.arg(format!("--file={}", temp.display()));
        command.stdout(Stdio::null());
    } else {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io(&temp))?;
        command.stdout(Stdio::from(file));
    }
    let origin = Origin::of(target);
    let what = format!("backing up `{}`", origin.database);
    let out = dump(command.stderr(Stdio::piped()), &temp, meter, &what).map_err(|source| {
        Error::Spawn {
            command: "pg_dump".into(),
            source,
        }
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("pg_dump {}", arguments(options).join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    recognize::check_complete(&temp, options.format, gzip(options))?;
    disk::restrict_permissions(&temp)?;
    disk::sync_tree(&temp)?;
    let bytes = disk::size(&temp);
    let (path, sidecar) = place(
        container.path(),
        &temp,
        &options.dir,
        &base_name(&origin, options.created),
        extension(options),
        |file| Sidecar::new(&origin, &server.text, options, file, bytes),
    )?;
    disk::sync(&options.dir)?;
    drop(container);
    let pruned = match options.keep {
        Some(keep) => folder::prune(&options.dir, &sidecar, keep, false, options.created)?,
        None => folder::Pruned::default(),
    };
    Ok(Backup {
        sidecar: options.dir.join(Sidecar::name_for(&sidecar.file)),
        warnings: folder::git_warning(&options.dir, &sidecar.file, options.content)
            .into_iter()
            .collect(),
        path,
        format: options.format,
        content: options.content,
        tables: options.tables.clone(),
        bytes,
        created: options.created,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        pruned: pruned.removed,
        not_attributed: pruned.not_attributed,
        database: target.masked().to_string(),
        folder_created,
    })
}

/// What [`create`] would write and what its `keep` would remove, changing nothing.
pub fn preview(target: &ConnectionSettings, options: &BackupOptions) -> Result<Preview> {
    let origin = Origin::of(target);
    let base = base_name(&origin, options.created);
    let ext = extension(options);
    let name = (1..1000)
        .map(|n| candidate(&base, n, ext))
        .find(|name| {
            !options.dir.join(name).exists() && !options.dir.join(Sidecar::name_for(name)).exists()
        })
        .unwrap_or_else(|| candidate(&base, 1, ext));
    let sidecar = Sidecar::new(&origin, "", options, name.clone(), 0);
    let pruned = match options.keep {
        Some(keep) => folder::prune(&options.dir, &sidecar, keep, true, options.created)?,
        None => folder::Pruned::default(),
    };
    let folder_created = !options.dir.is_dir();
    let warnings = if folder_created {
        Vec::new() // it would be created with a `.gitignore` of `*`
    } else {
        folder::git_warning(&options.dir, &name, options.content)
            .into_iter()
            .collect()
    };
    Ok(Preview {
        dry_run: true,
        path: options.dir.join(&name),
        format: options.format,
        content: options.content,
        tables: options.tables.clone(),
        database: target.masked().to_string(),
        pruned: pruned.removed,
        not_attributed: pruned.not_attributed,
        folder_created,
        warnings,
    })
}

/// Runs pg_dump to completion (signalled on an interrupt) while a second thread tells
/// `meter` how far the output at `output` has grown.
fn dump(
    command: &mut Command,
    output: &Path,
    meter: &dyn Meter,
    what: &str,
) -> std::io::Result<Output> {
    meter.start(what, None);
    let (done, finished) = mpsc::channel::<()>();
    let out = std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut seen = 0;
            while let Err(RecvTimeoutError::Timeout) =
                finished.recv_timeout(Duration::from_millis(100))
            {
                let now = disk::size(output);
                if now > seen {
                    meter.advance(now - seen);
                    seen = now;
                }
            }
        });
        let out = crate::pg::interrupt::output(command);
        drop(done);
        out
    });
    meter.finish();
    out
}

/// pg_dump's arguments (never the connection: that is in its environment).
fn arguments(options: &BackupOptions) -> Vec<String> {
    let mut args = vec![match options.format {
        Format::Plain => "--format=plain".to_string(),
        Format::Custom => "--format=custom".to_string(),
        Format::Directory => "--format=directory".to_string(),
    }];
    if let Some(level) = options.compress {
        args.push(format!("--compress={level}"));
    }
    match options.content {
        Content::SchemaAndData => {}
        Content::SchemaOnly => args.push("--schema-only".into()),
        Content::DataOnly => args.push("--data-only".into()),
    }
    args.extend(options.tables.iter().map(|t| format!("--table={t}")));
    args
}

fn gzip(options: &BackupOptions) -> bool {
    options.format == Format::Plain && options.compress.is_some_and(|level| level > 0)
}

fn extension(options: &BackupOptions) -> &'static str {
    match options.format {
        Format::Plain if gzip(options) => ".sql.gz",
        Format::Plain => ".sql",
        Format::Custom => ".dump",
        Format::Directory => "",
    }
}

/// `backup_app_2026-11-22_10-00-00Z`: the database and the UTC second.
fn base_name(origin: &Origin, created: DateTime<Utc>) -> String {
    format!(
        "backup_{}_{}",
        file_safe(&origin.database),
        created.format("%Y-%m-%d_%H-%M-%SZ")
    )
}

/// The `n`th name for a backup: `<base><ext>`, then `<base>_2<ext>`, ...
fn candidate(base: &str, n: u32, ext: &str) -> String {
    match n {
        1 => format!("{base}{ext}"),
        n => format!("{base}_{n}{ext}"),
    }
}

/// Moves the finished backup at `temp` to the first free name and its sidecar (made by
/// `describe` for that name) beside it. The sidecar goes first and claims the name, the
/// backup follows; neither rename replaces anything, so runs in one second each get
/// names of their own, and a backup never stands in the folder without its sidecar.
fn place(
    container: &Path,
    temp: &Path,
    dir: &Path,
    base: &str,
    ext: &str,
    describe: impl Fn(String) -> Sidecar,
) -> Result<(PathBuf, Sidecar)> {
    let staged = container.join("sidecar.json");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    for n in 1..1000 {
        let name = candidate(base, n, ext);
        let sidecar = describe(name.clone());
        write_private(&staged, &sidecar.to_bytes()).map_err(io(&staged))?;
        let sidecar_path = dir.join(Sidecar::name_for(&name));
        match disk::rename_noreplace(&staged, &sidecar_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(io(&sidecar_path)(source)),
        }
        let path = dir.join(&name);
        match disk::rename_noreplace(temp, &path) {
            Ok(()) => return Ok((path, sidecar)),
            Err(e) => {
                // The name is someone else's after all: give back the sidecar just placed.
                let _ = std::fs::remove_file(&sidecar_path);
                if e.kind() != std::io::ErrorKind::AlreadyExists {
                    return Err(io(&path)(e));
                }
            }
        }
    }
    Err(Error::Refused(format!(
        "too many backups named `{base}*` in `{}`",
        dir.display()
    )))
}

/// Writes a small owner-only file and flushes it to disk.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arguments_follow_the_format() {
        let options = BackupOptions {
            dir: PathBuf::from("backups"),
            format: Format::Plain,
            compress: None,
            content: Content::DataOnly,
            tables: vec!["activities".into()],
            keep: None,
            created: "2026-11-22T10:00:00.5Z".parse().expect("time"),
        };
        assert_eq!(extension(&options), ".sql");
        assert_eq!(
            arguments(&options),
            ["--format=plain", "--data-only", "--table=activities"]
        );
        let origin = Origin {
            database: "my app".into(),
            host: "localhost".into(),
            port: 5432,
        };
        let base = base_name(&origin, options.created);
        assert_eq!(base, "backup_my-app_2026-11-22_10-00-00Z");
        assert_eq!(
            candidate(&base, 2, ".sql"),
            "backup_my-app_2026-11-22_10-00-00Z_2.sql"
        );
        let custom = BackupOptions {
            format: Format::Custom,
            compress: Some(9),
            content: Content::SchemaAndData,
            tables: Vec::new(),
            ..options.clone()
        };
        assert_eq!(extension(&custom), ".dump");
        assert_eq!(arguments(&custom), ["--format=custom", "--compress=9"]);
        let gz = BackupOptions {
            compress: Some(6),
            ..options
        };
        assert_eq!(extension(&gz), ".sql.gz");
    }
}
