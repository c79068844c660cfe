//! The backups folder: what is in it (backups attributed by their sidecars, and
//! everything dbkit cannot attribute), pruning the older backups of one database and
//! content, creating the folder so that git ignores it, and warning when a data backup
//! lands in a git repository that does not ignore it. Writing a backup is the module's
//! parent's job; what a sidecar says is `sidecar`'s.

use std::collections::BTreeSet;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

use super::disk;
use super::sidecar::{Origin, Sidecar};
use super::Content;

/// A backup dbkit can attribute: its sidecar names it and its size matches.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub path: PathBuf,
    #[serde(flatten)]
    pub sidecar: Sidecar,
    /// Seconds since it was taken.
    pub age_seconds: i64,
}

/// An entry of the backups folder dbkit cannot attribute, and so never prunes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Unattributed {
    pub path: PathBuf,
    /// Why: `no sidecar`, `unreadable sidecar: ...`, ...
    pub reason: String,
}

/// One database's backups in a folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listing {
    pub dir: PathBuf,
    /// `app` on `host:port`, for people.
    pub origin: String,
    /// This database's backups, newest first.
    pub backups: Vec<Listed>,
    /// Backups of other databases or servers in the folder (attributed to them).
    pub others: usize,
    /// Entries dbkit cannot attribute.
    pub not_attributed: Vec<Unattributed>,
}

/// What is in `dir`: the backups dbkit can attribute (newest first) and the entries it
/// cannot. Hidden entries (a run's `.backup_*.partial` folder, `.gitignore`) and
/// sidecars whose backup is gone are neither. A missing folder is empty.
pub fn scan(dir: &Path, now: DateTime<Utc>) -> Result<(Vec<Listed>, Vec<Unattributed>)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(source) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let names: BTreeSet<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    let (mut listed, mut unattributed) = (Vec::new(), Vec::new());
    let mut not_attributed = |path: PathBuf, reason: String| {
        unattributed.push(Unattributed { path, reason });
    };
    for name in &names {
        let path = dir.join(name);
        if let Some(described) = name.strip_suffix(".json") {
            // A sidecar is read with its backup; one whose backup is gone is dbkit's own
            // leftover, and any other JSON file someone else's.
            if !names.contains(described) && Sidecar::read(&path).is_err() {
                not_attributed(path, "no sidecar".into());
            }
            continue;
        }
        let sidecar_name = Sidecar::name_for(name);
        if !names.contains(&sidecar_name) {
            not_attributed(path, "no sidecar".into());
            continue;
        }
        match Sidecar::read(&dir.join(&sidecar_name)) {
            Err(why) => not_attributed(path, format!("unreadable sidecar: {why}")),
            Ok(sidecar) if sidecar.file != *name => {
                not_attributed(path, format!("its sidecar describes `{}`", sidecar.file))
            }
            Ok(sidecar) => match disk::size(&path) {
                bytes if bytes != sidecar.bytes => not_attributed(
                    path,
                    format!(
                        "it holds {bytes} bytes, its sidecar says {} (changed since?)",
                        sidecar.bytes
                    ),
                ),
                _ => listed.push(Listed {
                    age_seconds: (now - sidecar.created).num_seconds().max(0),
                    path,
                    sidecar,
                }),
            },
        }
    }
    listed.sort_by(|a, b| {
        (b.sidecar.created, &b.sidecar.file).cmp(&(a.sidecar.created, &a.sidecar.file))
    });
    Ok((listed, unattributed))
}

/// The backups of `origin` in `dir`, newest first, with what else the folder holds.
pub fn list(dir: &Path, origin: &Origin, now: DateTime<Utc>) -> Result<Listing> {
    let (listed, not_attributed) = scan(dir, now)?;
    let (backups, others): (Vec<Listed>, Vec<Listed>) =
        listed.into_iter().partition(|l| l.sidecar.is_of(origin));
    Ok(Listing {
        dir: dir.to_path_buf(),
        origin: origin.describe(),
        backups,
        others: others.len(),
        not_attributed,
    })
}

/// What `--keep` removed (or, in a dry run, would remove) and left alone.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    pub removed: Vec<PathBuf>,
    pub not_attributed: Vec<Unattributed>,
}

/// Removes all but the newest `keep` backups of the same database, server, content,
/// format and table selection as `new` (which counts as one of them and is never
/// removed, placed or not). Entries dbkit cannot attribute are never removed: they are
/// returned, so the caller can say so. A backup goes before its sidecar, so a stop
/// between the two leaves a sidecar without a backup, never a backup without one.
pub fn prune(
    dir: &Path,
    new: &Sidecar,
    keep: usize,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Pruned> {
    let (listed, not_attributed) = scan(dir, now)?;
    let same = listed.into_iter().filter(|l| {
        l.sidecar.file != new.file
            && l.sidecar.database == new.database
            && l.sidecar.server.host == new.server.host
            && l.sidecar.server.port == new.server.port
            && l.sidecar.same_kind(new)
    });
    let mut removed = Vec::new();
    for old in same.skip(keep.saturating_sub(1)) {
        if !dry_run {
            remove(&old.path)?;
            remove(&dir.join(Sidecar::name_for(&old.sidecar.file)))?;
        }
        removed.push(old.path);
    }
    Ok(Pruned {
        removed,
        not_attributed,
    })
}

fn remove(path: &Path) -> Result<()> {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// What dbkit writes in a backups folder it creates: git then ignores everything in it,
/// this file included, so no backup is ever committed by mistake.
pub const GITIGNORE: &str =
    "# Created by dbkit with this folder: backups hold data, so git ignores all of it.\n*\n";

/// Makes sure `dir` exists; when dbkit creates it, it is owner-only (0700) and holds a
/// `.gitignore` of `*`. Returns whether it was created. An existing folder is left as
/// it is.
pub fn ensure(dir: &Path) -> Result<bool> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    if dir.is_dir() {
        return Ok(false);
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {
            return Ok(false)
        }
        other => other.map_err(io(dir))?,
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    let ignore = dir.join(".gitignore");
    std::fs::write(&ignore, GITIGNORE).map_err(io(&ignore))?;
    Ok(true)
}

/// A warning when a data backup named `name` in `dir` is inside a git repository that
/// does not ignore it, with the `.gitignore` line that would. Without git, outside a
/// repository, or for a schema-only backup: nothing to say.
pub fn git_warning(dir: &Path, name: &str, content: Content) -> Option<String> {
    if content == Content::SchemaOnly {
        return None;
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
    };
    // check-ignore exits 0 when ignored, 1 when not, 128 outside a repository.
    let checked = git(&["check-ignore", "-q", "--", name])?;
    if checked.status.code() != Some(1) {
        return None;
    }
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    let inside = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| {
            let top = std::fs::canonicalize(&top).ok()?;
            d.strip_prefix(&top).ok().map(Path::to_path_buf)
        })
        .filter(|rel| !rel.as_os_str().is_empty());
    let fix = match inside {
        Some(rel) => format!(
            "add the line `/{}/` to `{}`",
            rel.display(),
            top.join(".gitignore").display()
        ),
        None => format!("add a `.gitignore` holding `*` to `{}`", dir.display()),
    };
    Some(format!(
        "the backups folder `{}` is inside the git repository `{}`, which does not ignore it: this backup holds data and could be committed by mistake; {fix}",
        dir.display(),
        top.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::backup::sidecar::{Server, LAYOUT};
    use crate::ops::backup::Format;

    fn sidecar(file: &str, database: &str, content: Content, minute: u32) -> Sidecar {
        Sidecar {
            dbkit_backup: LAYOUT,
            file: file.into(),
            database: database.into(),
            server: Server {
                host: "/run/postgresql".into(),
                port: 5432,
                version: "16.4".into(),
            },
            content,
            tables: Vec::new(),
            format: Format::Plain,
            compress: None,
            created: "2026-11-22T10:00:00Z"
                .parse::<DateTime<Utc>>()
                .expect("time")
                + chrono::Duration::minutes(i64::from(minute)),
            bytes: 1,
            dbkit_version: "0".into(),
        }
    }

    fn write(dir: &Path, sidecar: &Sidecar) {
        std::fs::write(dir.join(&sidecar.file), "x").expect("writes");
        std::fs::write(
            dir.join(Sidecar::name_for(&sidecar.file)),
            sidecar.to_bytes(),
        )
        .expect("writes");
    }

    #[test]
    fn pruning_touches_only_the_same_database_and_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = Utc::now();
        let mine: Vec<Sidecar> = (0..4)
            .map(|m| {
                sidecar(
                    &format!("backup_app_{m}.sql"),
                    "app",
                    Content::SchemaAndData,
                    m,
                )
            })
            .collect();
        let schema = sidecar("backup_app_s.sql", "app", Content::SchemaOnly, 0);
        let other = sidecar("backup_shop_0.sql", "shop", Content::SchemaAndData, 0);
        for s in mine.iter().chain([&schema, &other]) {
            write(dir.path(), s);
        }
        std::fs::write(dir.path().join("backup_2020-01-01_10-00-00.sql"), "old").expect("w");
        std::fs::write(dir.path().join("notes.json"), "{}").expect("w");
        std::fs::write(dir.path().join("changed.sql"), "xx").expect("w");
        let changed = sidecar("changed.sql", "app", Content::SchemaAndData, 0);
        std::fs::write(dir.path().join("changed.sql.json"), changed.to_bytes()).expect("w");
        std::fs::write(dir.path().join(".gitignore"), GITIGNORE).expect("w");

        let newest = sidecar("backup_app_9.sql", "app", Content::SchemaAndData, 9);
        let preview = prune(dir.path(), &newest, 2, true, now).expect("plans");
        assert_eq!(
            preview.removed,
            ["backup_app_2.sql", "backup_app_1.sql", "backup_app_0.sql"]
                .map(|n| dir.path().join(n))
        );
        assert!(
            dir.path().join("backup_app_0.sql").exists(),
            "a dry run removes nothing"
        );
        let mut reasons: Vec<String> = preview
            .not_attributed
            .iter()
            .map(|u| {
                format!(
                    "{}: {}",
                    u.path.file_name().unwrap().to_string_lossy(),
                    u.reason
                )
            })
            .collect();
        reasons.sort();
        assert_eq!(
            reasons,
            [
                "backup_2020-01-01_10-00-00.sql: no sidecar",
                "changed.sql: it holds 2 bytes, its sidecar says 1 (changed since?)",
                "notes.json: no sidecar",
            ]
        );

        write(dir.path(), &newest);
        let done = prune(dir.path(), &newest, 2, false, now).expect("prunes");
        assert_eq!(done.removed.len(), 3);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("reads")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".gitignore",
                "backup_2020-01-01_10-00-00.sql",
                "backup_app_3.sql",
                "backup_app_3.sql.json",
                "backup_app_9.sql",
                "backup_app_9.sql.json",
                "backup_app_s.sql",
                "backup_app_s.sql.json",
                "backup_shop_0.sql",
                "backup_shop_0.sql.json",
                "changed.sql",
                "changed.sql.json",
                "notes.json",
            ]
        );
        let origin = Origin {
            database: "app".into(),
            host: "/run/postgresql".into(),
            port: 5432,
        };
        let listing = list(dir.path(), &origin, now).expect("lists");
        let names: Vec<&str> = listing
            .backups
            .iter()
            .map(|l| l.sidecar.file.as_str())
            .collect();
        assert_eq!(
            names,
            ["backup_app_9.sql", "backup_app_3.sql", "backup_app_s.sql"]
        );
        assert_eq!(listing.others, 1);
        assert_eq!(listing.not_attributed.len(), 3);
    }

    #[test]
    fn a_created_folder_is_private_and_ignored_by_git() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("a").join("backups");
        assert!(ensure(&dir).expect("creates"));
        assert!(!ensure(&dir).expect("exists"));
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(
            std::fs::read_to_string(dir.join(".gitignore")).expect("reads"),
            GITIGNORE
        );
    }
}
