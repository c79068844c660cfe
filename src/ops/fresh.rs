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

/// How many templates of a server are kept (the newest).
pub const KEEP: usize = 3;

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
    #[serde(skip)]
    fingerprint: String,
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

/// The key of what a fresh build of `catalog` holds on a server of `major` version.
pub fn key(catalog: &Catalog, major: u32) -> Result<String> {
    let layout = Layout::new(&catalog.root);
    let mut hash = Sha256::new();
    hash.update(format!(
        "dbkit {} postgres {major}\n",
        env!("CARGO_PKG_VERSION")
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
            hash.update(format!("{what} {}\n", path.display()));
            hash.update(&bytes);
        }
    }
    for file in &catalog.validation {
        hash.update(format!("validation {}\n", file.path.display()));
        hash.update(file.text.as_bytes());
    }
    let digest = hash.finalize();
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
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
    let version = crate::pg::dump::ServerVersion::query(admin, &shown)?;
    let key = key(catalog, version.major())?;
    let project = project_id(catalog);
    let name = template::name(&project, &key);
    let found = template::list(admin, &project, &shown)?;
    if let Some(t) = found.iter().find(|t| t.name == name) {
        return Ok(Ready {
            template: name,
            key,
            built: false,
            build_ms: None,
            dropped: Vec::new(),
            fingerprint: t.fingerprint.clone(),
        });
    }
    let started = Instant::now();
    let fingerprint = match build(admin, server, catalog, &name, notice) {
        Ok(fingerprint) => fingerprint,
        // Another run built the same template meanwhile: theirs is as good.
        Err(e) if duplicate(&e) => {
            let theirs = template::list(admin, &project, &shown)?
                .into_iter()
                .find(|t| t.name == name);
            match theirs {
                Some(t) => t.fingerprint,
                None => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    // The newest few stay; the new one is the newest.
    let mut dropped = Vec::new();
    for old in found.iter().skip(KEEP - 1) {
        if template::drop(admin, &old.name, &shown).is_ok() {
            dropped.push(old.name.clone());
        }
    }
    Ok(Ready {
        template: name,
        key,
        built: true,
        build_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
        dropped,
        fingerprint,
    })
}

/// Whether an error is PostgreSQL's "database already exists".
fn duplicate(error: &Error) -> bool {
    matches!(error, Error::Query { source, .. }
        if source.code() == Some(&postgres::error::SqlState::DUPLICATE_DATABASE))
}

/// Builds the template `name`: schema, seed data, validation, in a throwaway database
/// that is renamed into place only when all of it succeeded. Returns its fingerprint.
fn build(
    admin: &mut Client,
    server: &ConnectionSettings,
    catalog: &Catalog,
    name: &str,
    notice: fn(&str),
) -> Result<String> {
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
        template::fingerprint(&mut client, &database)?
    };
    let built = scratch.keep();
    template::promote(admin, &built, name, &fingerprint, &shown).inspect_err(|_| {
        let _ = crate::pg::scratch::drop_database(admin, &built, &shown);
    })?;
    Ok(fingerprint)
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
    let copy = server.with_dbname(target);
    let seen = {
        let mut client = connect(&copy, ConnectOptions::default())?;
        template::fingerprint(&mut client, copy.masked())?
    };
    if seen == ready.fingerprint {
        return Ok(false);
    }
    notice(&format!(
        "template `{}` was changed by hand (its catalog no longer matches what was built); building it again",
        ready.template
    ));
    crate::pg::scratch::drop_database(admin, target, &shown)?;
    template::drop(admin, &ready.template, &shown)?;
    ready.fingerprint = build(admin, server, catalog, &ready.template, notice)?;
    ready.built = true;
    template::clone(admin, &ready.template, target, None, &shown)?;
    Ok(true)
}
