//! The backups folder's disk work: renaming without replacing, owner-only permissions,
//! flushing to disk and measuring a backup's size. What is written and why is the
//! caller's business.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// `rename` that fails with `AlreadyExists` instead of replacing the target.
#[cfg(target_os = "linux")]
pub(super) fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let status = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Elsewhere: check, then rename (a race between the two is possible, but only there).
#[cfg(not(target_os = "linux"))]
pub(super) fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.exists() {
        return Err(std::io::ErrorKind::AlreadyExists.into());
    }
    std::fs::rename(from, to)
}

/// Owner-only: 0600 for files, 0700 for a directory backup and 0600 for its files.
pub(super) fn restrict_permissions(path: &Path) -> Result<()> {
    let set = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(|source| {
            Error::Io {
                path: p.to_path_buf(),
                source,
            }
        })
    };
    if path.is_dir() {
        set(path, 0o700)?;
        for entry in walkdir::WalkDir::new(path).min_depth(1) {
            let entry = entry.map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e.into(),
            })?;
            set(
                entry.path(),
                if entry.file_type().is_dir() {
                    0o700
                } else {
                    0o600
                },
            )?;
        }
        Ok(())
    } else {
        set(path, 0o600)
    }
}

/// Flushes a file, or a folder and every file in it, to disk.
pub(super) fn sync_tree(path: &Path) -> Result<()> {
    if path.is_dir() {
        for entry in walkdir::WalkDir::new(path).min_depth(1) {
            let entry = entry.map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e.into(),
            })?;
            sync(entry.path())?;
        }
    }
    sync(path)
}

/// Flushes a file (or a folder's entries) to disk.
pub(super) fn sync(path: &Path) -> Result<()> {
    let open = File::open(path).and_then(|f| f.sync_all());
    open.map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

pub(super) fn size(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}
