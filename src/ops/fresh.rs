//! Fresh seeded databases in milliseconds: the project's schema, reference data and
//! fixtures built once into a template database (`pg::template`), then cloned. The
//! template's key is a hash of everything a fresh build reads (the snapshots, the
//! migrations, the seed and validation files), dbkit's version and the server's major
//! version, so any change to a file gives a new key and a new build; the newest few
//! templates of a project are kept, its older ones dropped.
//!
//! A build runs in a throwaway database (`pg::scratch`: dropped when it fails or is
//! interrupted, swept after `kill -9`) and becomes the template only when the schema
//! applied, the seed data loaded and every validation check passed. The first clone of
//! a run is fingerprinted against the template's recorded fingerprint: a template
//! changed by hand is dropped and built again.
//!
//! A second kind of template holds the schema only (the snapshot and migrations as
//! `apply::run::build` leaves them, dbkit history included, no seed data): the
//! throwaway builds of check-drift and `create-phase-snapshot --from-migrations` are
//! copied from it ([`schema_scratch`]). Its key is a hash of the snapshot and
//! migrations alone, written `s` and 15 hex digits, and the newest few of each kind are
//! kept apart.

use std::time::Instant;

use postgres::Client;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::meter::Silent;
use crate::ops::seed::{self, LoadOptions};
use crate::pg::connect::{connect, ConnectOptions};
use crate::pg::scratch::Scratch;
use crate::pg::template;
use crate::project::layout::{Catalog, Layout};
use crate::project::settings::ConnectionSettings;

/// How many templates of a project are kept (the newest).
pub const KEEP: usize = 3;

/// What a copy of a template costs, about, on a server with default settings (the
/// database made, the old one dropped): `reset --reapply` copies a template whose build
/// took longer than this, and replays a project whose fresh build is quicker (unless a
/// spare copy is there or being made: renaming it into place is quicker still).
/// `DBKIT_TEMPLATE_MIN_MS` sets another threshold (0: always copy).
pub const COPY_MS: f64 = 200.0;

/// The threshold in use: `DBKIT_TEMPLATE_MIN_MS`, else [`COPY_MS`].
pub fn copy_threshold() -> f64 {
    std::env::var("DBKIT_TEMPLATE_MIN_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(COPY_MS)
}

/// A template ready to clone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ready {
    pub template: String,
    pub key: String,
    /// It was built by this call (else it was there).
    pub built: bool,
    pub build_ms: Option<f64>,
    /// Older templates dropped.
    pub dropped: Vec<String>,
    /// Validation checks that passed on it when it was built.
    pub checks: usize,
    /// How long its build took (now or when it was built).
    pub recorded_build_ms: f64,
    #[serde(skip)]
    fingerprint: String,
}

impl Ready {
    /// A copy of it is quicker than the fresh build it replaces.
    pub fn worth_copying(&self) -> bool {
        self.recorded_build_ms > copy_threshold()
    }
}

/// 8 hex digits of the project folder's path: its templates and test databases are
/// named with it, so one project's pruning or `--drop-all` never touches another's.
pub fn project_id(catalog: &Catalog) -> String {
    let root = std::fs::canonicalize(&catalog.root).unwrap_or_else(|_| catalog.root.clone());
    let digest = Sha256::digest(root.to_string_lossy().as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The start of the names of a project's test databases: `dbkit_test_<project>_`.
pub fn test_prefix(catalog: &Catalog) -> String {
    format!("dbkit_test_{}_", project_id(catalog))
}

/// What a template holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Schema, history, seed data, validated: what `reset --reapply` and
    /// `test-database` copy.
    Seeded,
    /// Schema and history only: what throwaway builds of the files copy.
    Schema,
}

impl Kind {
    /// The kind of the template `name` of a project (its key says it).
    fn of(name: &str) -> Kind {
        let key = name.rsplit('_').next().unwrap_or_default();
        match key.starts_with('s') {
            true => Kind::Schema,
            false => Kind::Seeded,
        }
    }
}

/// The key of what a fresh build of `catalog` holds on a server of `major` version.
pub fn key(catalog: &Catalog, major: u32) -> Result<String> {
    key_of(catalog, major, Kind::Seeded)
}

/// The key of a template of `kind` for `catalog` on a server of `major` version.
fn key_of(catalog: &Catalog, major: u32, kind: Kind) -> Result<String> {
    let layout = Layout::new(&catalog.root);
    let mut hash = Sha256::new();
    // The fingerprint's form is part of the key: a template fingerprinted another way
    // is built again rather than taken for one changed by hand.
    hash.update(format!(
        "dbkit {} postgres {major} fingerprint {}\n",
        env!("CARGO_PKG_VERSION"),
        template::FINGERPRINT_FORM
    ));
    for snapshot in &catalog.snapshots {
        let text = crate::project::migrations::read_sql(&snapshot.path)?;
        hash.update(format!(
            "snapshot {} {}\n",
            snapshot.file,
            crate::project::migrations::checksum(&text)
        ));
    }
    for migration in &catalog.migrations {
        hash.update(format!(
            "migration {} {}\n",
            migration.name(),
            migration.checksum
        ));
    }
    if kind == Kind::Schema {
        let digest = hash.finalize();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        return Ok(format!("s{}", &hex[1..]));
    }
    for (what, dir) in [
        ("reference", layout.seed_reference()),
        ("fixture", layout.seed_fixtures()),
    ] {
        if !dir.is_dir() {
            continue;
        }
        for path in Layout::numbered_files(&dir)? {
            let bytes = std::fs::read(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            hash.update(format!("{what} {name}\n"));
            hash.update(&bytes);
        }
    }
    for file in &catalog.validation {
        let name = file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        hash.update(format!("validation {name}\n"));
        hash.update(file.text.as_bytes());
    }
    let digest = hash.finalize();
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

/// The template for `catalog` on the server `admin` reaches (`server`), if it is there
/// (one whose record does not read is dropped: it is built again).
pub fn existing(
    admin: &mut Client,
    server: &ConnectionSettings,
    catalog: &Catalog,
    notice: fn(&str),
) -> Result<Option<Ready>> {
    let (name, key, found) = lookup(admin, server, catalog, Kind::Seeded, notice)?;
    Ok(found
        .into_iter()
        .find(|t| t.name == name)
        .map(|t| there(key, t)))
}

/// A template that is there, ready.
fn there(key: String, t: template::Template) -> Ready {
    Ready {
        template: t.name,
        key,
        built: false,
        build_ms: None,
        dropped: Vec::new(),
        checks: t.checks,
        recorded_build_ms: t.build_ms,
        fingerprint: t.fingerprint,
    }
}

/// The template's name and key for `catalog`, and the project's templates.
fn lookup(
    admin: &mut Client,
    server: &ConnectionSettings,
    catalog: &Catalog,
    kind: Kind,
    notice: fn(&str),
) -> Result<(String, String, Vec<template::Template>)> {
    let shown = server.masked().to_string();
    let version = crate::pg::dump::ServerVersion::query(admin, &shown)?;
    let key = key_of(catalog, version.major(), kind)?;
    let project = project_id(catalog);
    let name = template::name(&project, &key);
    let mut found = template::list(admin, &project, &shown)?;
    found.retain(|t| Kind::of(&t.name) == kind);
    if let Some(i) = found
        .iter()
        .position(|t| t.name == name && t.fingerprint.is_empty())
    {
        notice(&format!(
            "template `{name}` has no record of how it was built; building it again"
        ));
        template::drop(admin, &name, &shown)?;
        found.remove(i);
    }
    Ok((name, key, found))
}

/// The template for `catalog` on the server `admin` reaches (`server`), built when
/// there is none. `notice` hears what is done along the way.
pub fn ensure(
    admin: &mut Client,
    server: &ConnectionSettings,
    catalog: &Catalog,
    notice: fn(&str),
) -> Result<Ready> {
    let shown = server.masked().to_string();
    let (name, key, mut found) = lookup(admin, server, catalog, Kind::Seeded, notice)?;
    if let Some(i) = found.iter().position(|t| t.name == name) {
        return Ok(there(key, found.swap_remove(i)));
    }
    let project = project_id(catalog);
    let started = Instant::now();
    let (fingerprint, checks, build_ms) = match build(admin, server, catalog, &name, notice) {
        Ok(built) => built,
        // Another run built the same template meanwhile: theirs is as good.
        Err(e) if duplicate(&e) => {
            let theirs = template::list(admin, &project, &shown)?
                .into_iter()
                .find(|t| t.name == name);
            match theirs {
                Some(t) => (t.fingerprint, t.checks, t.build_ms),
                None => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    // The newest few stay; the new one is the newest.
    let dropped = prune(admin, &found, &shown);
    Ok(Ready {
        template: name,
        key,
        built: true,
        build_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
        dropped,
        checks,
        recorded_build_ms: build_ms,
        fingerprint,
    })
}

/// Drops a project's older templates of one kind (`found`, newest first, without the
/// new one) but the newest few; returns the names dropped.
fn prune(admin: &mut Client, found: &[template::Template], shown: &str) -> Vec<String> {
    let mut dropped = Vec::new();
    for old in found.iter().skip(KEEP - 1) {
        if template::drop(admin, &old.name, shown).is_ok() {
            dropped.push(old.name.clone());
            // Its spare copy goes with it (there is one only when no run holds it).
            let spare = old.name.replacen(template::PREFIX, SPARE_PREFIX, 1);
            if database_exists(admin, &spare, shown).unwrap_or(false) {
                let _ = crate::pg::scratch::drop_database(admin, &spare, shown);
            }
        }
    }
    dropped
}

/// Drops the templates of `catalog`'s project and their spare copies (of both kinds)
/// on the server `admin` is connected to, after waiting for a background run still
/// making one; returns their names. `shown` names the server in errors.
pub fn drop_templates(admin: &mut Client, catalog: &Catalog, shown: &str) -> Result<Vec<String>> {
    let project = project_id(catalog);
    let rows = admin
        .query(
            "SELECT datname::text, datistemplate FROM pg_database
              WHERE starts_with(datname::text, $1) OR starts_with(datname::text, $2)
              ORDER BY 1",
            &[
                &format!("{}{project}_", template::PREFIX),
                &format!("{SPARE_PREFIX}{project}_"),
            ],
        )
        .map_err(crate::pg::connect::query_error(
            "listing the project's templates",
            shown,
        ))?;
    let mut dropped = Vec::new();
    for row in rows {
        let (name, is_template): (String, bool) = (row.get(0), row.get(1));
        // A background run making this spare holds its lock: let it finish first.
        if name.starts_with(SPARE_PREFIX) {
            wait_for_background(admin, name.trim_end_matches("_new"), shown, |_| {})?;
        }
        match is_template {
            true => template::drop(admin, &name, shown)?,
            false => crate::pg::scratch::drop_database(admin, &name, shown)?,
        }
        dropped.push(name);
    }
    Ok(dropped)
}

/// Whether an error is PostgreSQL's "database already exists".
fn duplicate(error: &Error) -> bool {
    matches!(error, Error::Query { source, .. }
        if source.code() == Some(&postgres::error::SqlState::DUPLICATE_DATABASE))
}

/// Builds the template `name`: schema, seed data, validation, in a throwaway database
/// that is renamed into place only when all of it succeeded. Returns its fingerprint,
/// how many checks passed and how long the build took.
fn build(
    admin: &mut Client,
    server: &ConnectionSettings,
    catalog: &Catalog,
    name: &str,
    notice: fn(&str),
) -> Result<(String, usize, f64)> {
    let started = Instant::now();
    let shown = server.masked().to_string();
    let scratch = Scratch::create(admin, server, "tplbuild", None, notice)?;
    let database = scratch.settings.masked().to_string();
    let fingerprint = {
        let mut client = connect(&scratch.settings, ConnectOptions::default())?;
        crate::apply::run::build(&mut client, catalog, &database)?;
        let options = LoadOptions::default();
        seed::load(
            &mut client,
            catalog,
            &options,
            &database,
            &mut |_| {},
            &Silent,
        )?;
        let checked = crate::apply::validate::run(&mut client, catalog, &database)?;
        if checked.failed() > 0 {
            return Err(Error::TemplateRefused {
                reason: format!(
                    "{} validation check(s) failed on the seeded database, so it is not kept as a template (`reset --yes --reapply` shows which)",
                    checked.failed()
                ),
            });
        }
        (
            template::fingerprint(&mut client, &database)?,
            checked.checks.len(),
        )
    };
    let built = scratch.keep();
    let build_ms = started.elapsed().as_secs_f64() * 1000.0;
    template::promote(
        admin,
        &built,
        name,
        (&fingerprint.0, fingerprint.1, build_ms),
        &shown,
    )
    .inspect_err(|_| {
        let _ = crate::pg::scratch::drop_database(admin, &built, &shown);
    })?;
    Ok((fingerprint.0, fingerprint.1, build_ms))
}

/// What a throwaway build of the files may do with schema templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Templates {
    /// Build from the files; copy none, keep none (`--no-template`).
    Off,
    /// Copy one (or its spare) that is there; keep none, and no spare (a server not on
    /// this machine, production).
    Copy,
    /// Copy one that is there, else keep the build as one when it was slower than a
    /// copy; and leave the database used as the next run's spare.
    Keep,
}

/// How a throwaway build of the files was made: replayed, copied from the schema
/// template an earlier build of the same files left, or that template's spare copy put
/// in place.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Made {
    /// The template copied, or the one kept from this build for the next run.
    pub template: Option<String>,
    /// It holds a copy of the template (else the files were built).
    pub copied: bool,
    /// The copy was the spare one an earlier run left, renamed into place.
    pub spare: bool,
    pub ms: f64,
}

/// A throwaway database holding what the files build, and how it was made. Dropped
/// when it goes out of scope; [`Built::finish`] keeps it as the next run's spare copy.
pub struct Built {
    pub scratch: Scratch,
    made: Made,
    /// Where it goes back when the run is done with it: the spare's name.
    back: Option<String>,
}

impl Built {
    /// How it was made, for a report.
    pub fn made(&self) -> Made {
        self.made.clone()
    }

    /// Done with it (the run only read it): when there is no spare copy, it becomes the
    /// spare the next run renames into place, closed to connections; else it is
    /// dropped. No session may be left on it. Nothing is kept after an interrupt. The
    /// next run checks the spare's fingerprint before it uses it.
    pub fn finish(self) {
        let Some(spare) = &self.back else {
            return;
        };
        if crate::pg::interrupt::requested() {
            return;
        }
        let scratch = &self.scratch;
        let Ok(mut admin) = connect(scratch.admin(), ConnectOptions::default()) else {
            return;
        };
        let kept = admin.batch_execute(&format!(
            "BEGIN; ALTER DATABASE {n} WITH ALLOW_CONNECTIONS false; ALTER DATABASE {n} RENAME TO {s}; COMMIT",
            n = crate::sql::quote_ident(scratch.name()),
            s = crate::sql::quote_ident(spare),
        ));
        match kept {
            Ok(()) => {
                let _ = self.scratch.keep();
            }
            // Another run left one first (or a session is still on it): this one goes.
            Err(_) => {
                let _ = admin.batch_execute("ROLLBACK");
            }
        }
    }
}

/// A throwaway database for `purpose` holding what `catalog`'s snapshot and migrations
/// build (schema and dbkit history, as `apply::run::build` leaves them; no seed data),
/// on the server `admin` reaches (`server`). Unless `templates` is off: the spare copy
/// of the project's schema template renamed into place when there is one, else a copy
/// of the template when its copy has the fingerprint it recorded; else built from the
/// files, and when `templates` says keep and the build took longer than a copy does
/// ([`copy_threshold`]), a copy of the build is kept as the template for next time. A
/// template that does not match (changed by hand) is dropped and the files built.
/// [`Built::finish`] leaves the database as the next run's spare.
pub fn schema_scratch(
    admin: &mut Client,
    server: &ConnectionSettings,
    catalog: &Catalog,
    purpose: &str,
    templates: Templates,
    notice: fn(&str),
) -> Result<Built> {
    let started = Instant::now();
    let shown = server.masked().to_string();
    let elapsed = || started.elapsed().as_secs_f64() * 1000.0;
    let (name, key, found) = match templates {
        Templates::Off => Default::default(),
        _ => lookup(admin, server, catalog, Kind::Schema, notice)?,
    };
    let spare = spare_name(&project_id(catalog), &key);
    let made = |scratch, copied, spare_taken, ms| Built {
        scratch,
        made: Made {
            template: Some(name.clone()),
            copied,
            spare: spare_taken,
            ms,
        },
        back: (templates == Templates::Keep).then(|| spare.clone()),
    };
    if let Some(t) = found.iter().find(|t| t.name == name) {
        if let Some(taken) = Scratch::adopt(admin, server, purpose, &spare, notice)? {
            if template::fingerprint_at(&taken.settings)? == t.fingerprint {
                return Ok(made(taken, true, true, elapsed()));
            }
            notice(&format!(
                "the spare copy `{spare}` was changed by hand (its catalog no longer matches the template's); dropping it"
            ));
        }
        let copy = Scratch::create_from(admin, server, purpose, None, &name, notice)?;
        if template::fingerprint_at(&copy.settings)? == t.fingerprint {
            return Ok(made(copy, true, false, elapsed()));
        }
        notice(&format!(
            "template `{name}` was changed by hand (its catalog no longer matches what was built); building from the files"
        ));
        drop(copy);
        template::drop(admin, &name, &shown)?;
    }
    let scratch = Scratch::create(admin, server, purpose, None, notice)?;
    let fingerprint = {
        let database = scratch.settings.masked().to_string();
        let mut client = connect(&scratch.settings, ConnectOptions::default())?;
        crate::apply::run::build(&mut client, catalog, &database).map_err(|e| {
            match crate::pg::interrupt::requested() {
                true => e,
                false => Error::FilesDoNotBuild {
                    source: Box::new(e),
                },
            }
        })?;
        template::fingerprint(&mut client, &database)?
    };
    let build_ms = elapsed();
    if templates == Templates::Keep && build_ms > copy_threshold() {
        match keep_copy(
            admin,
            server,
            &scratch,
            &name,
            &fingerprint,
            build_ms,
            notice,
        ) {
            Ok(()) => {
                prune(admin, &found, &shown);
                return Ok(made(scratch, false, false, build_ms));
            }
            Err(e) => notice(&format!(
                "no template kept for the next run: {}",
                crate::report::error::chain(&e)
            )),
        }
    }
    Ok(Built {
        scratch,
        made: Made {
            template: None,
            copied: false,
            spare: false,
            ms: build_ms,
        },
        back: None,
    })
}

/// Copies the throwaway `built` (no session on it) into the template `name`, recording
/// `fingerprint`. Another run that made the same template meanwhile is as good.
fn keep_copy(
    admin: &mut Client,
    server: &ConnectionSettings,
    built: &Scratch,
    name: &str,
    fingerprint: &str,
    build_ms: f64,
    notice: fn(&str),
) -> Result<()> {
    let shown = server.masked().to_string();
    let copy = Scratch::create_from(admin, server, "tplbuild", None, built.name(), notice)?;
    let copy = copy.keep();
    template::promote(admin, &copy, name, (fingerprint, 0, build_ms), &shown).or_else(|e| {
        let _ = crate::pg::scratch::drop_database(admin, &copy, &shown);
        match duplicate(&e) {
            true => Ok(()),
            false => Err(e),
        }
    })
}

/// Creates database `target` from the template; with `check`, fingerprints the copy
/// and, when it does not match what the template recorded (it was changed by hand),
/// drops both, builds the template again and copies that. Returns whether the
/// template had to be rebuilt.
pub fn clone(
    admin: &mut Client,
    server: &ConnectionSettings,
    catalog: &Catalog,
    ready: &mut Ready,
    target: &str,
    check: bool,
    notice: fn(&str),
) -> Result<bool> {
    let shown = server.masked().to_string();
    template::clone(admin, &ready.template, target, None, &shown)?;
    if !check {
        return Ok(false);
    }
    if template::fingerprint_at(&server.with_dbname(target))? == ready.fingerprint {
        return Ok(false);
    }
    notice(&format!(
        "template `{}` was changed by hand (its catalog no longer matches what was built); building it again",
        ready.template
    ));
    crate::pg::scratch::drop_database(admin, target, &shown)?;
    template::drop(admin, &ready.template, &shown)?;
    let rebuilt = build(admin, server, catalog, &ready.template, notice)?;
    (ready.fingerprint, ready.checks, ready.recorded_build_ms) = rebuilt;
    ready.built = true;
    template::clone(admin, &ready.template, target, None, &shown)?;
    Ok(true)
}

/// How many copies [`clone_all`] makes at once: copies overlap their disk flushes (1.5-2x
/// quicker than one after another on this project's 2-core machine), and more than a
/// few only queue on the disk.
pub const CLONE_WORKERS: usize = 4;

/// Makes a database of each of `names` as a copy of the template, on up to `workers`
/// connections to `server` at once. Stops at the first failure or interrupt; returns
/// the names made (in the order of `names`) and the error that stopped it.
pub fn clone_all(
    server: &ConnectionSettings,
    ready: &Ready,
    names: &[String],
    workers: usize,
) -> (Vec<String>, Option<Error>) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let shown = server.masked().to_string();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let made = Mutex::new(Vec::new());
    let failed = Mutex::new(None);
    let fail = |e: Error| {
        stop.store(true, Ordering::SeqCst);
        failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(e);
    };
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, names.len().max(1)) {
            scope.spawn(|| {
                let mut admin = match connect(server, ConnectOptions::default()) {
                    Ok(admin) => admin,
                    Err(e) => return fail(e),
                };
                while !stop.load(Ordering::SeqCst) && !crate::pg::interrupt::requested() {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(name) = names.get(i) else { return };
                    match template::clone(&mut admin, &ready.template, name, None, &shown) {
                        Ok(()) => made
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((i, name.clone())),
                        Err(e) => return fail(e),
                    }
                }
            });
        }
    });
    let mut made = made.into_inner().unwrap_or_else(|p| p.into_inner());
    made.sort();
    let made = made.into_iter().map(|(_, name)| name).collect();
    (made, failed.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// What replacing a database by a copy of the template did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replaced {
    pub template: String,
    /// The template was built by this run (`None`: it was there).
    pub build_ms: Option<f64>,
    /// The database's own sessions that were closed (`pid user application`).
    pub closed: Vec<String>,
    pub clone_ms: f64,
    /// Validation checks that passed on the template when it was built.
    pub checks: usize,
    /// The spare copy made in the background was renamed into place (else a copy was
    /// made now).
    pub spare: bool,
    /// What the replaced database is called now, until the background run drops it.
    pub old: String,
}

/// Why a database cannot be replaced by a copy (the replay path is taken instead).
pub fn obstacle(client: &mut Client, schemas: &[String], database: &str) -> Result<Option<String>> {
    let row = client
        .query_one(
            "SELECT (SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user),
                    (SELECT pg_has_role(current_user, datdba, 'MEMBER') FROM pg_database WHERE datname = current_database()),
                    (SELECT string_agg(format('%I', n.nspname), ', ' ORDER BY n.nspname)
                       FROM pg_namespace n
                      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'dbkit') AND n.nspname !~ '^pg_'
                        AND n.nspname <> ALL ($1::text[])
                        AND (EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid)
                             OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = n.oid)
                             OR EXISTS (SELECT 1 FROM pg_type t WHERE t.typnamespace = n.oid AND t.typtype <> 'c'))),
                    (SELECT string_agg(format('%I', e.extname), ', ' ORDER BY e.extname)
                       FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                      WHERE e.extname <> 'plpgsql' AND n.nspname <> ALL ($1::text[]))",
            &[&schemas],
        )
        .map_err(crate::pg::connect::query_error("looking at what the database holds", database))?;
    let (may_create, owns): (Option<bool>, Option<bool>) = (row.get(0), row.get(1));
    let schemas_held: Option<String> = row.get(2);
    let extensions: Option<String> = row.get(3);
    Ok(if may_create != Some(true) {
        Some("this role may not create databases".into())
    } else if owns != Some(true) {
        Some("this role does not own the database".into())
    } else if let Some(held) = schemas_held {
        Some(format!(
            "it holds schemas a reset does not drop ({held}), which a copy would lose"
        ))
    } else {
        extensions.map(|e| format!("it has extensions outside the schemas a reset drops ({e}), which a copy would lose"))
    })
}

/// Replaces database `target` (on the server `admin` reaches through `server`, not
/// connected to `target`) by a copy of the template: the spare copy a background run
/// made when there is one (waiting for one being made), else a copy made now beside
/// it. Then the target's own local sessions are closed (any other session stops it,
/// and nothing is changed), and in one transaction the target is renamed aside and the
/// copy renamed into its place, with the target's owner, connection limit, settings,
/// grants and comment. The old database is left for [`background`] to drop: `old` in
/// what is returned.
pub fn replace(
    admin: &mut Client,
    server: &ConnectionSettings,
    catalog: &Catalog,
    ready: Ready,
    target: &str,
    notice: fn(&str),
) -> Result<Replaced> {
    let shown = server.masked().to_string();
    let kept = properties(admin, target, &shown)?;
    let started = Instant::now();
    let project = project_id(catalog);
    let spare = spare_name(&project, &ready.key);
    wait_for_background(admin, &spare, &shown, notice)?;
    let spared = database_exists(admin, &spare, &shown)?;
    let copy = if spared {
        None
    } else {
        let copy = Scratch::create_from(
            admin,
            server,
            "swap",
            Some(&kept.owner),
            &ready.template,
            notice,
        )?;
        // The copy holds what the template held when it was built.
        if template::fingerprint_at(&copy.settings)? != ready.fingerprint {
            drop(copy);
            notice(&format!(
                "template `{}` was changed by hand (its catalog no longer matches what was built); building it again",
                ready.template
            ));
            template::drop(admin, &ready.template, &shown)?;
            let again = ensure(admin, server, catalog, notice)?;
            return replace(admin, server, catalog, again, target, notice);
        }
        Some(copy)
    };
    let closed = close_own_sessions(admin, target, &shown)?;
    let old = old_name(&project);
    let fresh = match &copy {
        Some(copy) => copy.settings.dbname().to_string(),
        None => spare.clone(),
    };
    let swapped = swap(admin, target, &fresh, &old, &kept, &shown);
    if let Err(e) = swapped {
        let _ = admin.batch_execute("ROLLBACK");
        return Err(e);
    }
    if let Some(copy) = copy {
        copy.keep();
    }
    Ok(Replaced {
        template: ready.template,
        build_ms: ready.build_ms,
        closed,
        clone_ms: started.elapsed().as_secs_f64() * 1000.0,
        checks: ready.checks,
        spare: spared,
        old,
    })
}

/// In one transaction: `target` renamed to `old`, `fresh` renamed to `target` and given
/// `target`'s properties; either all of it happens or none.
fn swap(
    admin: &mut Client,
    target: &str,
    fresh: &str,
    old: &str,
    kept: &Properties,
    shown: &str,
) -> Result<()> {
    let name = crate::sql::quote_ident(target);
    let sql = format!(
        "BEGIN;
         ALTER DATABASE {name} RENAME TO {old};
         ALTER DATABASE {fresh} RENAME TO {name};
         ALTER DATABASE {name} OWNER TO {owner};
         ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true;",
        old = crate::sql::quote_ident(old),
        fresh = crate::sql::quote_ident(fresh),
        owner = crate::sql::quote_ident(&kept.owner),
    );
    admin
        .batch_execute(&sql)
        .map_err(crate::pg::connect::query_error(
            &format!("putting the fresh copy in the place of `{target}` (nothing was changed)"),
            shown,
        ))?;
    restore_properties(admin, target, kept, shown)?;
    admin
        .batch_execute("COMMIT")
        .map_err(crate::pg::connect::query_error(
            &format!("putting the fresh copy in the place of `{target}` (nothing was changed)"),
            shown,
        ))
}

/// The spare copy of a project's template: made in the background after a reset, so
/// the next reset only renames it into place.
pub const SPARE_PREFIX: &str = "dbkit_spare_";
/// A database a reset replaced, renamed aside for the background run to drop.
pub const OLD_PREFIX: &str = "dbkit_old_";
/// The application name of the background run's session.
pub const BACKGROUND_APP: &str = "dbkit spare maker";

/// `dbkit_spare_<project>_<key>`.
pub fn spare_name(project: &str, key: &str) -> String {
    format!("{SPARE_PREFIX}{project}_{key}")
}

/// `dbkit_old_<project>_<pid>_<microseconds>`: unique, and this project's.
fn old_name(project: &str) -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() % 1_000_000_000_000);
    format!("{OLD_PREFIX}{project}_{}_{micros}", std::process::id())
}

fn database_exists(admin: &mut Client, name: &str, shown: &str) -> Result<bool> {
    Ok(admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(crate::pg::connect::query_error(
            "looking for the spare copy",
            shown,
        ))?
        .is_some())
}

/// Whether the spare copy of `ready` is there, or being made: then it is taken (or
/// waited for) rather than replaying.
pub fn spare_coming(
    admin: &mut Client,
    catalog: &Catalog,
    ready: &Ready,
    server: &ConnectionSettings,
) -> Result<bool> {
    let shown = server.masked().to_string();
    let spare = spare_name(&project_id(catalog), &ready.key);
    if database_exists(admin, &spare, &shown)? {
        return Ok(true);
    }
    held(admin, &spare, &shown)
}

/// Waits for a background run still making the template and spare copy of `catalog`
/// (the reset before this one started it); returns whether there was one.
pub fn await_background(
    admin: &mut Client,
    server: &ConnectionSettings,
    catalog: &Catalog,
    notice: fn(&str),
) -> Result<bool> {
    let shown = server.masked().to_string();
    let version = crate::pg::dump::ServerVersion::query(admin, &shown)?;
    let spare = spare_name(&project_id(catalog), &key(catalog, version.major())?);
    wait_for_background(admin, &spare, &shown, notice)
}

/// The advisory lock a background run holds while it makes `spare` (in the
/// maintenance database both connect to).
fn spare_lock(spare: &str) -> (i32, i32) {
    let digest = Sha256::digest(spare.as_bytes());
    (
        0x6462_6b73, // "dbks"
        i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]),
    )
}

/// Whether a background run holds the lock of `spare` now (it is making it): tried
/// without waiting, and let go at once when it was free.
fn held(admin: &mut Client, spare: &str, shown: &str) -> Result<bool> {
    let (class, key) = spare_lock(spare);
    let failed = || crate::pg::connect::query_error("looking for the spare copy", shown);
    let free: bool = admin
        .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&class, &key])
        .map_err(failed())?
        .get(0);
    if free {
        admin
            .execute("SELECT pg_advisory_unlock($1, $2)", &[&class, &key])
            .map_err(failed())?;
    }
    Ok(!free)
}

/// Waits (up to 60 s) for a background run still making `spare`: the copy it is making
/// is nearer than any other. Returns whether there was one.
fn wait_for_background(
    admin: &mut Client,
    spare: &str,
    shown: &str,
    notice: fn(&str),
) -> Result<bool> {
    if !held(admin, spare, shown)? {
        return Ok(false);
    }
    notice("waiting for the spare copy the last reset is making in the background");
    let (class, key) = spare_lock(spare);
    let failed = || crate::pg::connect::query_error("waiting for the spare copy", shown);
    admin
        .batch_execute("SET lock_timeout = '60s'")
        .map_err(failed())?;
    let waited = admin.execute("SELECT pg_advisory_lock($1, $2)", &[&class, &key]);
    let _ = admin.batch_execute("RESET lock_timeout");
    if waited.is_err() {
        notice("the spare copy is still not ready after 60 s: copying the template instead");
        return Ok(true);
    }
    admin
        .execute("SELECT pg_advisory_unlock($1, $2)", &[&class, &key])
        .map_err(failed())?;
    Ok(true)
}

/// The work a reset leaves for after it has answered, run by a detached process: builds
/// the template when there is none (in a throwaway, as `test-database` does) and makes
/// the spare copy the next reset renames into place (copied from the template,
/// fingerprinted, closed to connections, then renamed to its name, so a half-made spare
/// is never taken), holding the spare's advisory lock meanwhile (`ready` is called once
/// it holds it); then drops `old`, any database of this project left aside earlier
/// that no one is on, and the spares of the project's other keys.
pub fn background(
    admin: &mut Client,
    server: &ConnectionSettings,
    catalog: &Catalog,
    old: Option<&str>,
    ready: &mut dyn FnMut(),
    notice: fn(&str),
) -> Result<()> {
    let shown = server.masked().to_string();
    let failed = |what: &str| crate::pg::connect::query_error(what, &shown);
    admin
        .batch_execute(&format!("SET application_name = '{BACKGROUND_APP}'"))
        .map_err(failed("naming the background session"))?;
    let version = crate::pg::dump::ServerVersion::query(admin, &shown)?;
    let project = project_id(catalog);
    let spare = spare_name(&project, &key(catalog, version.major())?);
    let (class, lock) = spare_lock(&spare);
    admin
        .execute("SELECT pg_advisory_lock($1, $2)", &[&class, &lock])
        .map_err(failed("taking the spare copy's lock"))?;
    ready();
    if !database_exists(admin, &spare, &shown)? {
        let mut made = ensure(admin, server, catalog, notice)?;
        let making = format!("{spare}_new");
        if database_exists(admin, &making, &shown)? {
            crate::pg::scratch::drop_database(admin, &making, &shown)?;
        }
        clone(admin, server, catalog, &mut made, &making, true, notice)?;
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {making} WITH ALLOW_CONNECTIONS false; ALTER DATABASE {making} RENAME TO {spare}",
                making = crate::sql::quote_ident(&making),
                spare = crate::sql::quote_ident(&spare),
            ))
            .map_err(failed("putting the spare copy in place"))?;
    }
    // The spare is there: a reset waiting for it goes on while the rest is dropped.
    admin
        .execute("SELECT pg_advisory_unlock($1, $2)", &[&class, &lock])
        .map_err(failed("releasing the spare copy's lock"))?;
    let leftovers = admin
        .query(
            "SELECT datname::text FROM pg_database d
              WHERE (starts_with(datname, $1) OR datname = $2
                     OR (starts_with(datname, $3) AND NOT starts_with(datname, $3 || 's')
                         AND datname <> $4 AND datname <> $4 || '_new'))
                AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
            &[
                &format!("{OLD_PREFIX}{project}_"),
                &old.unwrap_or_default(),
                &format!("{SPARE_PREFIX}{project}_"),
                &spare,
            ],
        )
        .map_err(failed("looking for databases left aside"))?;
    for row in leftovers {
        let name: String = row.get(0);
        let _ = crate::pg::scratch::drop_database(admin, &name, &shown);
    }
    Ok(())
}

/// A database's own properties, which a new database does not have.
struct Properties {
    owner: String,
    connection_limit: i32,
    /// `GRANT` statements of its ACL; `None` for the default ACL.
    grants: Option<Vec<String>>,
    comment: Option<String>,
    /// `(role or "", "name=value")`.
    settings: Vec<(String, String)>,
}

fn properties(client: &mut Client, target: &str, shown: &str) -> Result<Properties> {
    let failed = || crate::pg::connect::query_error("reading the database's settings", shown);
    let row = client
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text, datconnlimit,
                    CASE WHEN d.datacl IS NOT NULL THEN
                    coalesce((SELECT array_agg(format('GRANT %s ON DATABASE %I TO %s%s', a.privilege_type, d.datname,
                                   CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                                   CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))
                                FROM aclexplode(d.datacl) a WHERE a.grantee <> d.datdba), '{}') END,
                    shobj_description(d.oid, 'pg_database')
               FROM pg_database d WHERE d.datname = $1",
            &[&target],
        )
        .map_err(failed())?;
    let settings = client
        .query(
            "SELECT coalesce(r.rolname::text, ''), c
               FROM pg_db_role_setting s
               JOIN pg_database d ON d.oid = s.setdatabase
               LEFT JOIN pg_roles r ON r.oid = s.setrole
              CROSS JOIN LATERAL unnest(s.setconfig) c
              WHERE d.datname = $1",
            &[&target],
        )
        .map_err(failed())?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(Properties {
        owner: row.get(0),
        connection_limit: row.get(1),
        grants: row.get(2),
        comment: row.get(3),
        settings,
    })
}

fn restore_properties(
    client: &mut Client,
    target: &str,
    kept: &Properties,
    shown: &str,
) -> Result<()> {
    let name = crate::sql::quote_ident(target);
    let mut sql = Vec::new();
    if kept.connection_limit != -1 {
        sql.push(format!(
            "ALTER DATABASE {name} CONNECTION LIMIT {}",
            kept.connection_limit
        ));
    }
    if let Some(grants) = &kept.grants {
        // The database's own ACL, exactly: what PUBLIC had by default may have been
        // revoked.
        sql.push(format!("REVOKE ALL ON DATABASE {name} FROM PUBLIC"));
        sql.extend(grants.iter().cloned());
    }
    if let Some(comment) = &kept.comment {
        sql.push(format!(
            "COMMENT ON DATABASE {name} IS {}",
            crate::sql::quote_literal(comment)
        ));
    }
    for (role, setting) in &kept.settings {
        let Some((key, value)) = setting.split_once('=') else {
            continue;
        };
        // List settings are stored as their list; others as one value.
        let value = match key {
            "search_path"
            | "temp_tablespaces"
            | "session_preload_libraries"
            | "local_preload_libraries" => value.to_string(),
            _ => crate::sql::quote_literal(value),
        };
        let on = match role.is_empty() {
            true => format!("ALTER DATABASE {name}"),
            false => format!(
                "ALTER ROLE {} IN DATABASE {name}",
                crate::sql::quote_ident(role)
            ),
        };
        sql.push(format!("{on} SET {key} = {value}"));
    }
    for statement in sql {
        client
            .batch_execute(&statement)
            .map_err(crate::pg::connect::query_error(
                &format!("giving the fresh database its settings back (`{statement}`)"),
                shown,
            ))?;
    }
    Ok(())
}

/// Closes the sessions on `target` that are this user's own, from this machine; any
/// other session is an error that names it (nothing is closed then).
fn close_own_sessions(client: &mut Client, target: &str, shown: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT pid, usename::text, coalesce(application_name, ''),
                    usename = current_user AND (client_addr IS NULL OR host(client_addr) IN ('127.0.0.1', '::1'))
               FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&target],
        )
        .map_err(crate::pg::connect::query_error("looking for sessions on the database", shown))?;
    let describe = |r: &postgres::Row| {
        format!(
            "pid {} ({}, {})",
            r.get::<_, i32>(0),
            r.get::<_, String>(1),
            {
                let app: String = r.get(2);
                if app.is_empty() {
                    "no application name".to_string()
                } else {
                    app
                }
            }
        )
    };
    let locked: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
              WHERE l.locktype = 'advisory' AND d.datname = $1 AND l.granted",
            &[&target],
        )
        .map_err(crate::pg::connect::query_error(
            "looking for runs holding the migration lock",
            shown,
        ))?
        .get(0);
    if locked > 0 {
        return Err(Error::TemplateRefused {
            reason: format!(
                "a dbkit run holds the migration lock on `{target}` (apply-schema or load-test-data): let it finish and run again (nothing was changed)"
            ),
        });
    }
    let others: Vec<String> = rows
        .iter()
        .filter(|r| !r.get::<_, bool>(3))
        .map(describe)
        .collect();
    if !others.is_empty() {
        return Err(Error::TemplateRefused {
            reason: format!(
                "`{target}` has sessions that are not this user's own on this machine: {}; close them and run again (nothing was changed)",
                others.join(", ")
            ),
        });
    }
    let mut closed = Vec::new();
    for row in &rows {
        let pid: i32 = row.get(0);
        client
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .map_err(crate::pg::connect::query_error(
                "closing a session on the database",
                shown,
            ))?;
        closed.push(describe(row));
    }
    // Wait for the closed sessions to be gone (a terminated backend takes a moment).
    for _ in 0..50 {
        let left: i64 = client
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&target])
            .map_err(crate::pg::connect::query_error("looking for sessions on the database", shown))?
            .get(0);
        if left == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(closed)
}
