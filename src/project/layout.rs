//! The database folder (`versions/`, `migrations/`, `seed/`, `sql/validation/`, ...) and
//! the catalog of what it holds: snapshots and migrations with their text and checksums.
//! Naming rules live in `migrations` and `snapshot`; this module puts them together.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::project::migrations::{self, MigrationFile};
use crate::project::snapshot::{self, SnapshotFile};
use crate::project::validation::{self, ValidationFile};

/// Where things are in a database folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The database folder itself (`database/` by default).
    pub root: PathBuf,
}

impl Layout {
    /// A layout rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// `versions/`: phase snapshots.
    pub fn versions(&self) -> PathBuf {
        self.root.join("versions")
    }

    /// `migrations/`: numbered migrations.
    pub fn migrations(&self) -> PathBuf {
        self.root.join("migrations")
    }

    /// `seed/reference/`: production lookup data.
    pub fn seed_reference(&self) -> PathBuf {
        self.root.join("seed").join("reference")
    }

    /// `seed/fixtures/`: test data.
    pub fn seed_fixtures(&self) -> PathBuf {
        self.root.join("seed").join("fixtures")
    }

    /// `sql/validation/`: integrity checks run after a schema is applied.
    pub fn validation(&self) -> PathBuf {
        self.root.join("sql").join("validation")
    }

    /// The project the folder belongs to (its parent), where `.dbkit/` and
    /// `SCHEMA_CHANGES.md` live.
    pub fn project_root(&self) -> PathBuf {
        let absolute = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        absolute
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    /// Reads the folder: snapshots, migrations with their text and checksums, validation
    /// checks, warnings. Every misnamed, duplicate or unreadable file is reported in one
    /// error.
    pub fn catalog(&self) -> Result<Catalog> {
        if !self.root.is_dir() {
            return Err(Error::MissingDir {
                path: self.root.clone(),
            });
        }
        // Every misnamed or duplicate file is found before any is reported, so one run
        // lists all there is to fix.
        let (snapshots, mut problems) = snapshot::scan(&self.versions())?;
        let (discovered, more) = migrations::scan(&self.migrations())?;
        problems.extend(more);
        let (validation, more) = validation::scan(&self.validation())?;
        problems.extend(more);
        Error::from_problems(&self.root, problems)?;
        let migrations = read_all(discovered.migrations)?;
        Ok(Catalog {
            root: self.root.clone(),
            snapshots,
            migrations,
            validation,
            warnings: discovered.warnings,
        })
    }

    /// The `.sql` files of a seed or validation folder, ordered by their leading number
    /// (then name), so `05_x.sql` follows `03_y.sql` and `10_z.sql` follows both.
    pub fn numbered_files(dir: &Path) -> Result<Vec<PathBuf>> {
        let mut files = sql_files(dir)?;
        files.sort_by_cached_key(|(name, _)| {
            let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
            (digits.parse::<u64>().unwrap_or(u64::MAX), name.clone())
        });
        Ok(files.into_iter().map(|(_, path)| path).collect())
    }
}

/// Reads and checksums migration files on every core: a no-op run over hundreds of
/// migrations spends most of its time here.
fn read_all(files: Vec<MigrationFile>) -> Result<Vec<Migration>> {
    let read = |file: MigrationFile| -> Result<Migration> {
        let text = migrations::read_sql(&file.path)?;
        let checksum = migrations::checksum(&text);
        Ok(Migration {
            file,
            text,
            checksum,
        })
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || files.len() < 64 {
        return files.into_iter().map(read).collect();
    }
    let chunk = files.len().div_ceil(threads);
    let mut chunks: Vec<Vec<MigrationFile>> = Vec::new();
    let mut files = files.into_iter().peekable();
    while files.peek().is_some() {
        chunks.push(files.by_ref().take(chunk).collect());
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || chunk.into_iter().map(read).collect::<Result<Vec<_>>>())
            })
            .collect();
        let mut all = Vec::new();
        for handle in handles {
            all.extend(handle.join().expect("reading files does not panic")?);
        }
        Ok(all)
    })
}

/// The `.sql` files directly in `dir` (not in sub-folders) as `(file name, path)`,
/// sorted by name; none when `dir` does not exist.
pub fn sql_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    let entries = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(1)
        .sort_by_file_name();
    for entry in entries {
        let entry = entry.map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_file() && name.to_ascii_lowercase().ends_with(".sql") {
            files.push((name, entry.into_path()));
        }
    }
    Ok(files)
}

/// A migration file with its text and checksum.
#[derive(Debug, Clone)]
pub struct Migration {
    pub file: MigrationFile,
    pub text: String,
    pub checksum: String,
}

impl Migration {
    /// The version.
    pub fn version(&self) -> u64 {
        self.file.version
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.file.file
    }
}

/// What a database folder holds.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub root: PathBuf,
    /// Oldest first.
    pub snapshots: Vec<SnapshotFile>,
    /// Ordered by version.
    pub migrations: Vec<Migration>,
    /// `sql/validation/` files in numbered order, with their checks.
    pub validation: Vec<ValidationFile>,
    /// Gaps in numbering and the like.
    pub warnings: Vec<String>,
}

impl Catalog {
    /// The newest snapshot, if any.
    pub fn newest_snapshot(&self) -> Option<&SnapshotFile> {
        self.snapshots.last()
    }

    /// The migration with this version, if its file exists.
    pub fn migration(&self, version: u64) -> Option<&Migration> {
        self.migrations
            .binary_search_by_key(&version, Migration::version)
            .ok()
            .map(|i| &self.migrations[i])
    }
}
