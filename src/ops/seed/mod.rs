//! Loading seed data: `seed/reference/` (production lookup data), then `seed/fixtures/`
//! (test data), each folder in numbered order and each file in its own transaction. Runs
//! of plain statements go to the server as one message; `COPY ... FROM stdin` blocks
//! (pg_dump's data format) go through the COPY protocol. A failure is located by file,
//! line and column (for a bad COPY row, the row's own line) and leaves its file rolled
//! back. Also here: the check that a database's schema is applied before data goes in.
//!
//! A load holds dbkit's migration lock, so no migration or reset runs under it, and
//! checks under the lock that the schema is applied. Whether fixtures may touch a
//! database is `guard`'s decision, made by the caller; rendering is `report::seed`'s.

#![deny(clippy::print_stdout, clippy::print_stderr)]

mod file;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use postgres::Client;

use crate::error::{Error, Purpose, Result};
use crate::meter::{Meter, Shown};
use crate::project::layout::{Catalog, Layout};
use file::{Failed, Run, SeedFile, Step};

/// What to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Load `seed/reference/` only (production-safe); skip `seed/fixtures/`.
    pub reference_only: bool,
    /// How long to wait for another run's migration lock.
    pub lock_timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            reference_only: false,
            lock_timeout: crate::pg::lock::DEFAULT_TIMEOUT,
        }
    }
}

/// Which seed folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `seed/reference/`: lookup data, idempotent, safe for production.
    Reference,
    /// `seed/fixtures/`: test data, never for production.
    Fixtures,
}

impl Kind {
    /// The folder's name under `seed/`.
    pub fn folder(self) -> &'static str {
        match self {
            Kind::Reference => "reference",
            Kind::Fixtures => "fixtures",
        }
    }

    fn dir(self, layout: &Layout) -> PathBuf {
        match self {
            Kind::Reference => layout.seed_reference(),
            Kind::Fixtures => layout.seed_fixtures(),
        }
    }
}

/// What became of a seed folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FolderState {
    /// Its files are loaded (in a progress event: about to be).
    Loaded,
    /// The folder does not exist: nothing to load from it.
    Missing,
    /// The folder has no `.sql` files.
    Empty,
    /// Not asked for (`--reference-only` skips fixtures).
    Skipped,
}

/// A seed folder and its files, in load order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Folder {
    pub kind: Kind,
    pub dir: PathBuf,
    pub state: FolderState,
    /// The file names, in the order they load.
    pub files: Vec<String>,
}

/// A file loaded and committed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadedFile {
    pub kind: Kind,
    /// The file's path (under the database folder as given).
    pub file: PathBuf,
    /// The file name, e.g. `01_currencies.sql`.
    pub name: String,
    /// Statements run, each `COPY` counting as one.
    pub statements: usize,
    /// Rows inserted, updated, deleted or copied (rows a `SELECT` returns do not count).
    pub rows: u64,
    pub duration_ms: f64,
}

impl LoadedFile {
    /// `reference/01_currencies.sql`: how the file is named in messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind.folder(), self.name)
    }
}

/// A whole load.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    /// The database, password masked.
    pub database: String,
    pub reference_only: bool,
    pub folders: Vec<Folder>,
    pub files: Vec<LoadedFile>,
    /// Rows over all files.
    pub rows: u64,
    pub duration_ms: f64,
}

/// What [`load`] reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// The schema is applied and the lock held: loading from `seed_dir` starts.
    Start {
        seed_dir: &'a std::path::Path,
        database: &'a str,
    },
    /// A folder starts (or is missing, empty or skipped: then no file follows).
    Folder(&'a Folder),
    /// A file was loaded and committed.
    File(&'a LoadedFile),
}

/// Refuses a database without dbkit history, or with migrations of the folder pending,
/// edited since applied or failed part-way: seed files are written for the whole schema.
pub fn require_schema_applied(
    client: &mut Client,
    catalog: &Catalog,
    database: &str,
) -> Result<()> {
    crate::apply::status::require_up_to_date(client, catalog, database, Purpose::Seed)
}

/// Loads the catalog's reference data, then (unless `reference_only`) its fixtures.
/// Every file to load is read and split before the first one runs, so a file dbkit
/// cannot run stops the load before anything changes. Then, holding the migration lock
/// (waiting up to `lock_timeout` for it), checks that the schema is applied
/// ([`require_schema_applied`]) and loads. Stops at the first failure with
/// [`Error::SeedFailed`]; the files before it stay loaded. `progress` hears of each
/// folder and file, `meter` of the rows of the file loading now. Leaves the session's
/// settings as it found them.
pub fn load(
    client: &mut Client,
    catalog: &Catalog,
    options: &LoadOptions,
    database: &str,
    progress: &mut dyn FnMut(Progress<'_>),
    meter: &dyn Meter,
) -> Result<LoadReport> {
    let started = Instant::now();
    let (folders, files) = read(&Layout::new(&catalog.root), options)?;
    let steps = files
        .iter()
        .map(|file| file::steps(&file.path, &file.text))
        .collect::<Result<Vec<_>>>()?;
    let notice = crate::pg::interrupt::notice;
    let loaded =
        crate::pg::lock::held(client, database, options.lock_timeout, &notice, |client| {
            require_schema_applied(client, catalog, database)?;
            progress(Progress::Start {
                seed_dir: &catalog.root.join("seed"),
                database,
            });
            let loaded = run(client, &folders, &files, &steps, database, progress, meter)?;
            // A file's own `SET`s (pg_dump's data files empty `search_path`) outlive its
            // commit.
            client
                .batch_execute("RESET ALL")
                .map_err(crate::pg::connect::query_error(
                    "resetting session settings",
                    database,
                ))?;
            Ok(loaded)
        })?;
    Ok(LoadReport {
        database: database.to_string(),
        reference_only: options.reference_only,
        folders,
        rows: loaded.iter().map(|f| f.rows).sum(),
        files: loaded,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Runs the files, folder by folder, each in its own transaction.
fn run(
    client: &mut Client,
    folders: &[Folder],
    files: &[SeedFile],
    steps: &[Vec<Step<'_>>],
    database: &str,
    progress: &mut dyn FnMut(Progress<'_>),
    meter: &dyn Meter,
) -> Result<Vec<LoadedFile>> {
    let mut loaded: Vec<LoadedFile> = Vec::new();
    for folder in folders {
        progress(Progress::Folder(folder));
        let of_folder = files
            .iter()
            .zip(steps)
            .filter(|(f, _)| f.kind == folder.kind);
        for (file, steps) in of_folder {
            crate::pg::interrupt::check(|| {
                let done: Vec<String> = loaded.iter().map(LoadedFile::label).collect();
                match done.as_slice() {
                    [] => format!("stopped before `{}`; nothing was loaded", file.name),
                    _ => format!(
                        "stopped before `{}`; loaded before it, and still loaded: {}",
                        file.name,
                        done.join(", ")
                    ),
                }
            })?;
            let file_started = Instant::now();
            let shown = Shown::start(meter, &file.name, None);
            let run = Run {
                client: &mut *client,
                file,
                steps,
                database,
                meter,
            };
            let rows = run.all().map_err(|e| match e {
                Failed::Located(failure) => Error::SeedFailed {
                    failure,
                    database: database.to_string(),
                    loaded_before: loaded.iter().map(LoadedFile::label).collect(),
                },
                Failed::Other(e) => e,
            })?;
            drop(shown);
            loaded.push(LoadedFile {
                kind: file.kind,
                file: file.path.clone(),
                name: file.name.clone(),
                statements: steps.iter().map(Step::statements).sum(),
                rows,
                duration_ms: file_started.elapsed().as_secs_f64() * 1000.0,
            });
            progress(Progress::File(loaded.last().expect("just pushed")));
        }
    }
    Ok(loaded)
}

/// The folders to load and their files' text, in load order.
fn read(layout: &Layout, options: &LoadOptions) -> Result<(Vec<Folder>, Vec<SeedFile>)> {
    let mut folders = Vec::new();
    let mut files = Vec::new();
    for kind in [Kind::Reference, Kind::Fixtures] {
        let dir = kind.dir(layout);
        let paths = Layout::numbered_files(&dir)?;
        let state = match () {
            _ if kind == Kind::Fixtures && options.reference_only => FolderState::Skipped,
            _ if !dir.is_dir() => FolderState::Missing,
            _ if paths.is_empty() => FolderState::Empty,
            _ => FolderState::Loaded,
        };
        let mut names = Vec::new();
        if state == FolderState::Loaded {
            for path in paths {
                let text = crate::project::migrations::read_sql(&path)?;
                let name = path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                names.push(name.clone());
                files.push(SeedFile {
                    kind,
                    path,
                    name,
                    text,
                });
            }
        }
        folders.push(Folder {
            kind,
            dir,
            state,
            files: names,
        });
    }
    Ok((folders, files))
}
