//! Cutting a phase snapshot: refusing what cannot be cut before touching anything,
//! checking the source is exactly as the migrations folder says, dumping and normalizing
//! its schema, proving the snapshot rebuilds the source in a throwaway database, and
//! writing the snapshot and its changelog entry together (both or neither). Dumping is
//! `pgdump`'s job, the header's format `snapshot`'s, comparing `compare`'s, the
//! throwaway database `scratch`'s and the entry's wording `changelog`'s.

use std::path::{Path, PathBuf};
use std::time::Instant;

use postgres::Client;

use crate::apply::chunked;
use crate::apply::script::Script;
use crate::error::{Error, Purpose, Result};
use crate::pg::compare::{self, Scope};
use crate::pg::connect::{connect, ConnectOptions};
use crate::pg::dump::{DumpOptions, PgDump, ServerVersion};
use crate::pg::scratch::Scratch;
use crate::pg::tools::Finder;
use crate::phase::changelog;
use crate::project::layout::{Catalog, Layout};
use crate::project::settings::ConnectionSettings;
use crate::project::snapshot::{self, NewHeader, SnapshotFile, SnapshotVersion};

/// A snapshot the folder allows: checked before anything is read from a database.
#[derive(Debug, Clone)]
pub struct Request {
    pub version: SnapshotVersion,
    pub description: String,
    /// Where the snapshot goes: `versions/v2.0_phase_2.sql`.
    pub path: PathBuf,
    /// The changelog the entry goes to.
    pub changelog: PathBuf,
    /// The newest snapshot so far, and the last migration it includes.
    pub previous: Option<(SnapshotFile, Option<u64>)>,
}

/// Checks a new snapshot against the folder: a malformed version, one that exists or is
/// not above the newest snapshot, a bad `--name`, or a changelog that already has an
/// entry for the version are refused.
pub fn check(
    layout: &Layout,
    catalog: &Catalog,
    version: &str,
    description: &str,
    name: Option<&str>,
) -> Result<Request> {
    let parsed: SnapshotVersion = version.parse().map_err(|_| Error::SnapshotRefused {
        version: version.to_string(),
        reason: "a snapshot version looks like `v2.0` (numbers separated by dots)".into(),
    })?;
    let refuse = |reason: String| Error::SnapshotRefused {
        version: parsed.to_string(),
        reason,
    };
    if description.trim().is_empty() {
        return Err(refuse("the description is empty".into()));
    }
    if let Some(same) = catalog.snapshots.iter().find(|s| s.version == parsed) {
        return Err(refuse(format!("`{}` already exists", same.path.display())));
    }
    if let Some(newest) = catalog.newest_snapshot().filter(|s| s.version > parsed) {
        return Err(refuse(format!(
            "it is not newer than the newest snapshot {} (`{}`)",
            newest.version, newest.file
        )));
    }
    let slug = match name {
        Some(name) if valid_name(name) => name.to_string(),
        Some(name) => {
            return Err(refuse(format!(
                "`--name {name}` may hold only letters, digits, `_` and `-`"
            )))
        }
        None => snapshot::slug(description),
    };
    let path = layout.versions().join(snapshot::file_name(&parsed, &slug));
    if path.exists() {
        return Err(refuse(format!("`{}` already exists", path.display())));
    }
    let changelog = changelog::locate(layout);
    if let Ok(text) = std::fs::read_to_string(&changelog) {
        if changelog::has_entry(&text, &parsed) {
            return Err(refuse(format!(
                "`{}` already has an entry for it",
                changelog.display()
            )));
        }
    }
    let previous = match catalog.newest_snapshot() {
        Some(file) => {
            let text = crate::project::migrations::read_sql(&file.path)?;
            Some((file.clone(), snapshot::parse_header(&text).last_migration))
        }
        None => None,
    };
    Ok(Request {
        version: parsed,
        description: description.split_whitespace().collect::<Vec<_>>().join(" "),
        path,
        changelog,
        previous,
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What the source must be and how to dump it.
#[derive(Debug, Clone)]
pub struct CutOptions {
    pub dump: DumpOptions,
    /// When the snapshot is made: `2026-11-22 10:00:00 UTC`, and its date for the
    /// changelog.
    pub generated: String,
    pub date: String,
    /// Where to find pg_dump.
    pub finder: Finder,
    /// How long to wait for the source's migration lock.
    pub lock_timeout: std::time::Duration,
}

/// A server to verify on when the source's server does not let this role create a
/// database.
pub type Fallback<'a> = &'a dyn Fn() -> Result<ConnectionSettings>;

/// What cutting did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cut {
    pub version: String,
    pub file: PathBuf,
    pub changelog: PathBuf,
    /// The source, password masked.
    pub database: String,
    pub last_migration: Option<(u64, String)>,
    /// The migrations since the previous snapshot, in order.
    pub migrations: Vec<String>,
    pub previous: Option<String>,
    /// Tables the new migrations create or change, for the ER diagram.
    pub tables_changed: Vec<String>,
    pub postgres_version: String,
    pub pg_dump: String,
    pub bytes: usize,
    /// Catalog items compared between the source and the reloaded snapshot.
    pub items_compared: usize,
    /// Where the snapshot was reloaded to verify it, in words.
    pub verified_on: String,
    pub duration_ms: f64,
}

/// Cuts the snapshot `request` describes from `source`, which must be up to date with
/// the catalog. Writes the snapshot and the changelog entry only when the snapshot
/// reloads into a throwaway database with the same catalog as the source. Holds dbkit's
/// migration lock on the source throughout, so no apply-schema changes it between the
/// check and the dump.
pub fn cut(
    catalog: &Catalog,
    request: &Request,
    source: &mut Client,
    settings: &ConnectionSettings,
    options: &CutOptions,
    fallback: Fallback<'_>,
) -> Result<Cut> {
    let database = settings.masked().to_string();
    crate::pg::lock::held(
        source,
        &database,
        options.lock_timeout,
        &crate::pg::interrupt::notice,
        |source| cut_locked(catalog, request, source, settings, options, fallback),
    )
}

fn cut_locked(
    catalog: &Catalog,
    request: &Request,
    source: &mut Client,
    settings: &ConnectionSettings,
    options: &CutOptions,
    fallback: Fallback<'_>,
) -> Result<Cut> {
    let started = Instant::now();
    let database = settings.masked().to_string();
    require_up_to_date(catalog, source, &database)?;
    let server = ServerVersion::query(source, &database)?;
    let pg_dump = PgDump::for_server(&options.finder, &server)?;
    let body = snapshot::normalize_dump(&pg_dump.schema(settings, &options.dump)?);
    let last_migration = catalog
        .migrations
        .last()
        .map(|m| (m.version(), m.name().to_string()));
    let header = NewHeader {
        version: request.version.clone(),
        description: request.description.clone(),
        generated: options.generated.clone(),
        last_migration: last_migration.clone(),
        migrations_checksum: snapshot::migrations_checksum(
            catalog
                .migrations
                .iter()
                .map(|m| (&m.file, m.checksum.as_str())),
        ),
        postgres_version: server.text.clone(),
        dbkit_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let text = snapshot::render(&header, &body);
    let scope = Scope {
        schemas: options.dump.schemas.clone(),
        exclude_schemas: options.dump.exclude_schemas.clone(),
        privileges: false,
    };
    let (items_compared, verified_on) = verify(request, &text, source, settings, &scope, fallback)?;
    // Version 0 is a migration like any other: "none included" is `None`, not 0.
    let since = request.previous.as_ref().and_then(|(_, last)| *last);
    let new: Vec<_> = catalog
        .migrations
        .iter()
        .filter(|m| since.is_none_or(|last| m.version() > last))
        .collect();
    let paths: Vec<PathBuf> = new.iter().map(|m| m.file.path.clone()).collect();
    let documented = crate::ddl::document(&catalog_layout(catalog), &paths)?;
    // What changed is what the migrations did; their rollbacks are not part of it.
    let ups = documented
        .summaries
        .into_iter()
        .filter(|s| s.direction == crate::ddl::Direction::Up);
    let summaries: Vec<(String, crate::ddl::FileSummary)> =
        new.iter().map(|m| m.name().to_string()).zip(ups).collect();
    let project_root = request
        .changelog
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let shown_path = relative(&request.path, &project_root);
    let entry = changelog::render(&changelog::Entry {
        version: &request.version,
        description: &request.description,
        date: &options.date,
        snapshot: &shown_path,
        postgres_version: &server.text,
        previous: request.previous.as_ref().map(|(s, _)| &s.version),
        migrations: &summaries,
    });
    // Verifying and documenting are client-side work a cancel request cannot stop.
    crate::pg::interrupt::check(|| {
        format!(
            "stopped before writing snapshot {}; nothing was written",
            request.version
        )
    })?;
    write_both(request, &text, &entry)?;
    Ok(Cut {
        version: request.version.to_string(),
        file: request.path.clone(),
        changelog: request.changelog.clone(),
        database,
        last_migration,
        migrations: summaries.into_iter().map(|(file, _)| file).collect(),
        previous: request
            .previous
            .as_ref()
            .map(|(s, _)| s.version.to_string()),
        tables_changed: documented.touched.into_iter().collect(),
        postgres_version: server.text,
        pg_dump: format!("{} ({})", pg_dump.version.full, pg_dump.path.display()),
        bytes: text.len(),
        items_compared,
        verified_on,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// The layout a catalog was read from (its migrations' folder's parent).
fn catalog_layout(catalog: &Catalog) -> Layout {
    Layout::new(catalog.root.clone())
}

fn relative(path: &Path, root: &Path) -> PathBuf {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    absolute(path)
        .strip_prefix(absolute(root))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Refuses a source without history, or whose history differs from the folder: a
/// snapshot must hold exactly the migrations its header names.
fn require_up_to_date(catalog: &Catalog, source: &mut Client, database: &str) -> Result<()> {
    crate::apply::status::require_up_to_date(source, catalog, database, Purpose::Snapshot)
}

/// Loads the snapshot into a throwaway database (on the source's server, else on the
/// fallback) the way apply-schema loads it, and compares catalogs. Returns how many
/// items matched and where.
fn verify(
    request: &Request,
    text: &str,
    source: &mut Client,
    settings: &ConnectionSettings,
    scope: &Scope,
    fallback: Fallback<'_>,
) -> Result<(usize, String)> {
    let database = settings.masked().to_string();
    let mut same_server = true;
    let notice = crate::pg::interrupt::notice;
    let scratch = match Scratch::create(source, settings, "verify", None, notice) {
        Ok(scratch) => scratch,
        Err(Error::Query { source: e, .. })
            if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
        {
            same_server = false;
            let server = fallback()?;
            let mut admin = connect(&server, ConnectOptions::default())?;
            // Definitions print differently across major versions: verifying on another
            // major would report differences that are not there.
            let (theirs, ours) = (
                ServerVersion::query(&mut admin, server.masked())?,
                ServerVersion::query(source, &database)?,
            );
            if theirs.major() != ours.major() {
                return Err(Error::Refused(format!(
                    "this role may not create a database on {database} to verify the snapshot in, and the local PostgreSQL is version {} where the source is {}; grant CREATEDB to the role, or install PostgreSQL {} locally (DBKIT_PG_BINDIR picks it)",
                    theirs.text, ours.text, ours.major()
                )));
            }
            Scratch::create(&mut admin, &server, "verify", None, notice)?
        }
        Err(e) => return Err(e),
    };
    let shown = scratch.settings.masked().to_string();
    let place = if same_server {
        "a throwaway database on the source's server"
    } else {
        "a throwaway database in the local PostgreSQL"
    };
    // The candidate goes to a temporary file first, so that an error's file and line
    // point at text the user can open; it is kept when verification fails.
    let candidate = candidate_file(&request.version, text)?;
    let outcome = (|| {
        let mut copy = connect(&scratch.settings, ConnectOptions::default())?;
        let script = Script {
            path: candidate.path(),
            text,
            migration: None,
            database: &shown,
            settings: "",
        };
        // The throwaway is dropped whatever happens: a failed load needs no undoing.
        let meter = crate::meter::Silent;
        let undo = chunked::Undo::Nothing;
        chunked::load(&mut copy, &script, &|_| String::new(), &meter, undo).map_err(|e| {
            Error::SnapshotDoesNotLoad {
                version: request.version.to_string(),
                kept: candidate.path().to_path_buf(),
                source: Box::new(e),
            }
        })?;
        let expected = compare::describe(source, scope, &database)?;
        let mut actual = compare::describe(&mut copy, scope, &shown)?;
        // A reload reprints some expressions differently while they mean the same.
        crate::pg::reprint::settle(&mut copy, &expected, &mut actual, &shown)?;
        let differences = compare::differences(&expected, &actual, "snapshot");
        if !differences.is_empty() {
            return Err(Error::SnapshotMismatch {
                version: request.version.to_string(),
                database: database.clone(),
                differences,
                kept: candidate.path().to_path_buf(),
            });
        }
        Ok(expected.len())
    })();
    match outcome {
        Ok(items) => Ok((items, place.to_string())),
        // Stopped by the user, the candidate proved nothing either way: it is not kept.
        Err(e) if crate::pg::interrupt::requested() => {
            let what = format!(
                "stopped while verifying snapshot {}; nothing was written",
                request.version
            );
            Err(match unwrap_load(e) {
                Error::Interrupted { .. } => Error::Interrupted {
                    what,
                    failed_version: None,
                    source: None,
                },
                other => crate::pg::interrupt::explain(other, || what),
            })
        }
        Err(e) => {
            let _ = candidate.keep();
            Err(e)
        }
    }
}

/// The load's own error, without the "does not load" verdict an interrupt makes untrue.
fn unwrap_load(error: Error) -> Error {
    match error {
        Error::SnapshotDoesNotLoad { source, .. } => *source,
        other => other,
    }
}

/// The candidate snapshot in the system's temporary folder.
fn candidate_file(version: &SnapshotVersion, text: &str) -> Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let dir = std::env::temp_dir();
    let io = |source| Error::Io {
        path: dir.clone(),
        source,
    };
    let mut file = tempfile::Builder::new()
        .prefix(&format!("dbkit-snapshot-{version}-"))
        .suffix(".sql")
        .tempfile()
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(file)
}

/// Writes the snapshot and the changelog so that either both land or neither does: both
/// are written to temporary files beside their targets first, then renamed; if the
/// second rename fails, the first is undone.
fn write_both(request: &Request, snapshot_text: &str, entry: &str) -> Result<()> {
    use std::io::Write;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| Error::Io { path, source }
    };
    let existing = match std::fs::read_to_string(&request.changelog) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&request.changelog)(e)),
    };
    let changelog_text = changelog::append(existing.as_deref(), entry);
    let temp = |target: &Path, text: &str| -> Result<tempfile::NamedTempFile> {
        let dir = target.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut file = tempfile::Builder::new()
            .prefix(".dbkit-")
            .suffix(".tmp")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)
            .map_err(io(dir))?;
        file.write_all(text.as_bytes()).map_err(io(target))?;
        file.as_file().sync_all().map_err(io(target))?;
        Ok(file)
    };
    let snapshot_file = temp(&request.path, snapshot_text)?;
    let changelog_file = temp(&request.changelog, &changelog_text)?;
    if let Ok(meta) = std::fs::metadata(&request.changelog) {
        let _ = std::fs::set_permissions(changelog_file.path(), meta.permissions());
    }
    snapshot_file
        .persist_noclobber(&request.path)
        .map_err(|e| io(&request.path)(e.error))?;
    if let Err(e) = changelog_file.persist(&request.changelog) {
        let _ = std::fs::remove_file(&request.path);
        return Err(io(&request.changelog)(e.error));
    }
    // The renames are durable once their folders are flushed.
    for target in [&request.path, &request.changelog] {
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|f| f.sync_all())
                .map_err(io(dir))?;
        }
    }
    Ok(())
}
