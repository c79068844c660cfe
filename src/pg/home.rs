//! Where a project's local cluster lives: `.dbkit/` in the project, unless dbkit runs as
//! root and the server's user (`postgres`) cannot enter the project folder, as with a
//! clone under `/root` or in a private temp folder. Then the cluster lives in a folder of
//! its own under a shared base (`/var/tmp`), named after the project's path so every run
//! for the project finds it again, owned by the server's user and closed to everyone
//! else. Running the cluster is `cluster`'s job.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::pg::cluster;

/// The cluster folder (absolute) for the project at `project_root`, run by `run_as`
/// (`None`: this process's own user, which can reach its own folders). `away_base` is
/// where a cluster that cannot live in the project goes.
pub fn cluster_home(
    project_root: &Path,
    run_as: Option<&str>,
    away_base: &Path,
) -> Result<PathBuf> {
    let root = std::path::absolute(project_root).unwrap_or_else(|_| project_root.to_path_buf());
    let inside = root.join(".dbkit");
    let Some(user) = run_as else {
        return Ok(inside);
    };
    if cluster::user_can(user, "-x", &root) {
        return Ok(inside);
    }
    let dir = away_base.join(away_name(&root));
    // Made here, 0700, rather than later: `mkdir` does not follow a link someone else
    // left under that guessable name, and the check below then sees what is there.
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(Error::Io { path: dir, source }),
    }
    check_owner(&dir, user)?;
    Ok(dir)
}

/// `dbkit-<project folder name>-<hash of its path>`: readable in a listing, and one
/// folder per project path.
fn away_name(root: &Path) -> String {
    let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let digest = Sha256::digest(canonical.to_string_lossy().as_bytes());
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let name: String = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    if name.is_empty() {
        format!("dbkit-{hash}")
    } else {
        format!("dbkit-{name}-{hash}")
    }
}

/// A folder under a shared base has a name anyone can guess: use it only when it is a
/// real folder (not a link) of root or the server's user.
fn check_owner(dir: &Path, user: &str) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(source) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let server_uid = cluster::user_ids(user).map(|(uid, _)| uid);
    if meta.file_type().is_dir() && (meta.uid() == 0 || Some(meta.uid()) == server_uid) {
        return Ok(());
    }
    Err(Error::Cluster {
        dir: dir.to_path_buf(),
        reason: format!(
            "it exists but is not a folder of root or `{user}`, so dbkit will not use it; remove it, or make the project folder searchable by `{user}` (chmod o+x on it and its parents)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_outside_the_project_is_named_after_it() {
        let a = away_name(Path::new("/srv/my app"));
        assert!(
            a.starts_with("dbkit-my_app-") && a.len() == "dbkit-my_app-".len() + 12,
            "{a}"
        );
        assert_ne!(a, away_name(Path::new("/srv/other/my app")));
        assert_eq!(away_name(Path::new("/")).len(), "dbkit-".len() + 12);
    }

    #[test]
    fn without_another_user_the_cluster_stays_in_the_project() {
        let home = cluster_home(Path::new("/srv/app"), None, Path::new("/var/tmp")).expect("home");
        assert_eq!(home, Path::new("/srv/app/.dbkit"));
    }
}
