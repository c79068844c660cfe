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
        let migrations = read_all(discovered.migrations)?;
        let downs = downs(&migrations, discovered.downs, &mut problems)?;
        Error::from_problems(&self.root, problems)?;
        Ok(Catalog {
            root: self.root.clone(),
            snapshots,
            migrations,
            downs,
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

/// The way back of each migration that has one: its `.down.sql` file, or its
/// `-- migrate:down` section. A version with both, or a down file whose up file is
/// missing (warned about by discovery), adds no down; the first is a problem.
fn downs(
    migrations: &[Migration],
    files: Vec<migrations::DownFile>,
    problems: &mut Vec<Error>,
) -> Result<Vec<Down>> {
    let mut downs: Vec<Down> = migrations
        .iter()
        .filter_map(|m| {
            let section = m.down_section.as_ref()?;
            Some(Down {
                version: m.version(),
                file: m.name().to_string(),
                path: m.file.path.clone(),
                checksum: migrations::checksum(&section.0),
                text: section.0.clone(),
                line: section.1,
            })
        })
        .collect();
    for file in files {
        if migrations
            .binary_search_by_key(&file.version, Migration::version)
            .is_err()
        {
            continue;
        }
        if let Some(section) = downs.iter().find(|d| d.version == file.version) {
            problems.push(Error::DuplicateDown {
                version: file.version,
                first: format!("{} (its `-- migrate:down` section)", section.file),
                second: file.file,
            });
            continue;
        }
        let text = migrations::read_sql(&file.path)?;
        downs.push(Down {
            version: file.version,
            checksum: migrations::checksum(&text),
            file: file.file,
            path: file.path,
            text,
            line: 1,
        });
    }
    downs.sort_by_key(|d| d.version);
    Ok(downs)
}

/// Reads and checksums migration files on every core: a no-op run over hundreds of
/// migrations spends most of its time here. A file with dbmate's sections runs (and is
/// checksummed as) its up section only, so mending its down is not an edit of what ran.
fn read_all(files: Vec<MigrationFile>) -> Result<Vec<Migration>> {
    let read = |file: MigrationFile| -> Result<Migration> {
        let full = migrations::read_sql(&file.path)?;
        let (text, down_section) = if full.contains("migrate:") {
            let sections = migrations::sections(&full);
            let down = sections.down.map(|d| (d, sections.down_line));
            (sections.up, down)
        } else {
            (full, None)
        };
        let checksum = migrations::checksum(&text);
        Ok(Migration {
            file,
            text,
            checksum,
            down_section,
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
    /// What applying runs: the whole file, or its up section (other lines blanked).
    pub text: String,
    pub checksum: String,
    /// A `-- migrate:down` section in the file, and its marker's line.
    pub down_section: Option<(String, usize)>,
}

/// The way back of one migration: what `rollback` runs and `verify-migrations` proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    pub version: u64,
    /// The file it is in (`007_x.down.sql`, or the up file for a `-- migrate:down`
    /// section).
    pub file: String,
    pub path: PathBuf,
    /// The SQL, with the lines before a section blanked so line numbers are the file's.
    pub text: String,
    pub checksum: String,
    /// The first line: 1 for a down file, the marker's line for a section.
    pub line: usize,
}

impl Down {
    /// How messages name it: `007_x.down.sql`, or `007_x.sql (-- migrate:down, line 9)`.
    pub fn shown(&self) -> String {
        if self.line > 1 {
            format!("{} (`-- migrate:down`, line {})", self.file, self.line)
        } else {
            self.file.clone()
        }
    }
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
    /// The downs of the migrations that have one, ordered by version.
    pub downs: Vec<Down>,
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

    /// The down of the migration with this version, if it has one.
    pub fn down(&self, version: u64) -> Option<&Down> {
        self.downs
            .binary_search_by_key(&version, |d| d.version)
            .ok()
            .map(|i| &self.downs[i])
    }
}
