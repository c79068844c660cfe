//! Backups: taking one with `pg_dump` so that no partial file ever carries a final name,
//! naming it `backup_YYYY-MM-DD_HH-MM-SS` with its format's extension, pruning this
//! tool's own older backups, and recognizing a backup's format for restoring
//! (`recognize`); renaming, permissions and flushing are `disk`'s. Running the restore
//! is `restore`'s job; choosing pg_dump is `pgdump`'s.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Instant;

use regex::Regex;

use crate::error::{Error, Result};
use crate::pg::dump::PgDump;
use crate::project::settings::ConnectionSettings;

mod disk;
mod recognize;

pub use recognize::{kind, plain_is_complete, Kind};

/// How a backup is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
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
    /// The backups folder (created when missing).
    pub dir: PathBuf,
    pub format: Format,
    /// pg_dump's compression level, 0-9.
    pub compress: Option<u32>,
    pub content: Content,
    /// pg_dump table patterns (`activities`, `public.contract*`); empty for all.
    pub tables: Vec<String>,
    /// Keep only the newest N of this tool's backups in `dir`, after the new one exists.
    pub keep: Option<usize>,
    /// `2026-11-22_10-00-00`: the UTC time in the file name.
    pub stamp: String,
}

/// A finished backup.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backup {
    pub path: PathBuf,
    pub format: Format,
    pub content: Content,
    pub bytes: u64,
    pub duration_ms: f64,
    /// Older backups removed by `keep`.
    pub pruned: Vec<PathBuf>,
    pub database: String,
}

/// Backs up `target` into a new file (or folder) in `options.dir`. pg_dump writes into a
/// hidden folder of this run's own in the same folder, readable by the owner only; the
/// result is renamed to its final name only when pg_dump succeeded and the output is
/// complete, and the hidden folder is removed whatever happens.
pub fn create(
    pg_dump: &PgDump,
    target: &ConnectionSettings,
    options: &BackupOptions,
) -> Result<Backup> {
    let started = Instant::now();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(&options.dir).map_err(io(&options.dir))?;
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
    let out = crate::pg::interrupt::output(command.stderr(Stdio::piped())).map_err(|source| {
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
    recognize::check_complete(
        &temp,
        options.format,
        options.compress.is_some_and(|l| l > 0),
    )?;
    disk::restrict_permissions(&temp)?;
    disk::sync_tree(&temp)?;
    let final_path = place(&temp, &options.dir, &options.stamp, extension(options))?;
    disk::sync(&options.dir)?;
    drop(container);
    let bytes = disk::size(&final_path);
    let pruned = match options.keep {
        Some(keep) => prune(&options.dir, keep)?,
        None => Vec::new(),
    };
    Ok(Backup {
        path: final_path,
        format: options.format,
        content: options.content,
        bytes,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        pruned,
        database: target.masked().to_string(),
    })
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

fn extension(options: &BackupOptions) -> &'static str {
    match (options.format, options.compress) {
        (Format::Plain, Some(level)) if level > 0 => ".sql.gz",
        (Format::Plain, _) => ".sql",
        (Format::Custom, _) => ".dump",
        (Format::Directory, _) => "",
    }
}

/// Moves the finished backup to `backup_<stamp><ext>`, or `backup_<stamp>_2<ext>`, ...
/// when a backup of that second exists. The rename never replaces anything, so two
/// runs in one second each get a name of their own.
fn place(temp: &Path, dir: &Path, stamp: &str, ext: &str) -> Result<PathBuf> {
    for n in 1..1000 {
        let candidate = match n {
            1 => dir.join(format!("backup_{stamp}{ext}")),
            n => dir.join(format!("backup_{stamp}_{n}{ext}")),
        };
        match disk::rename_noreplace(temp, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(Error::Io {
                    path: candidate,
                    source,
                })
            }
        }
    }
    Err(Error::Refused(format!(
        "too many backups named `backup_{stamp}*`"
    )))
}

static OWN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^backup_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(?:_\d+)?(?:\.sql|\.sql\.gz|\.dump)?$")
        .expect("valid regex")
});

/// This tool's backups in `dir` (by their names), newest first.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut found: Vec<(String, u32, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !OWN.is_match(&name) {
                return None;
            }
            let stamp = name[7..26].to_string();
            let n = name[26..]
                .strip_prefix('_')
                .and_then(|rest| rest.split('.').next())
                .and_then(|d| d.parse().ok())
                .unwrap_or(1);
            Some((stamp, n, e.path()))
        })
        .collect();
    found.sort_by(|a, b| (&b.0, b.1).cmp(&(&a.0, a.1)));
    Ok(found.into_iter().map(|(_, _, path)| path).collect())
}

/// Removes all but the newest `keep` of this tool's backups in `dir`; returns what it
/// removed. Files that are not named as this tool names backups are never touched.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for path in list(dir)?.into_iter().skip(keep) {
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        removed.push(path);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_newest_and_touches_only_own_backups() {
        let dir = tempfile::tempdir().expect("temp dir");
        let names = [
            "backup_2026-11-20_10-00-00.sql",
            "backup_2026-11-21_10-00-00.dump",
            "backup_2026-11-21_10-00-00_2.sql.gz",
            "backup_2026-11-22_09-00-00.sql",
            "my_backup.sql",
            "backup_latest.sql",
            ".backup_2026-11-22_10-00-00.sql.partial",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), "x").expect("writes");
        }
        std::fs::create_dir(dir.path().join("backup_2026-11-19_10-00-00")).expect("dir");
        let listed: Vec<String> = list(dir.path())
            .expect("lists")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            listed,
            [
                "backup_2026-11-22_09-00-00.sql",
                "backup_2026-11-21_10-00-00_2.sql.gz",
                "backup_2026-11-21_10-00-00.dump",
                "backup_2026-11-20_10-00-00.sql",
                "backup_2026-11-19_10-00-00",
            ]
        );
        let removed = prune(dir.path(), 2).expect("prunes");
        assert_eq!(removed.len(), 3);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("reads")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".backup_2026-11-22_10-00-00.sql.partial",
                "backup_2026-11-21_10-00-00_2.sql.gz",
                "backup_2026-11-22_09-00-00.sql",
                "backup_latest.sql",
                "my_backup.sql",
            ]
        );
    }

    #[test]
    fn names_and_arguments_follow_the_format() {
        let options = BackupOptions {
            dir: PathBuf::from("backups"),
            format: Format::Plain,
            compress: None,
            content: Content::DataOnly,
            tables: vec!["activities".into()],
            keep: None,
            stamp: "2026-11-22_10-00-00".into(),
        };
        assert_eq!(extension(&options), ".sql");
        assert_eq!(
            arguments(&options),
            ["--format=plain", "--data-only", "--table=activities"]
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
