//! `--snapshots`: each snapshot that includes migrations, loaded into one throwaway
//! database, against the snapshot before it (or nothing) plus the migrations it claims,
//! replayed into another. A snapshot whose body does not hold what its header claims, or
//! that was edited, differs. Proven ones are recorded in `versions/verified.json`
//! (`project::snapshot`), which `apply-schema --status` reads.

use serde::Serialize;

use crate::drift::{compare, replay, Db, Finding, Options};
use crate::error::Result;
use crate::pg::compare::Scope;
use crate::pg::connect::{connect, ConnectOptions};
use crate::pg::dump::{PgDump, ServerVersion};
use crate::pg::scratch::Scratch;
use crate::pg::tools::Finder;
use crate::project::layout::{Catalog, Migration};
use crate::project::snapshot::SnapshotFile;

/// One snapshot's check.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotCheck {
    pub file: String,
    /// `verified`, `differs`, `baseline` (includes no migrations), `cannot_verify`.
    pub status: &'static str,
    /// `snapshot v1.0_baseline.sql + 12 migrations (...)`.
    pub compared_with: String,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

/// Checks every snapshot of `catalog` and records the proven ones (and forgets the
/// ones that no longer are). `throwaway` makes the databases the checks run in.
pub fn check(
    catalog: &Catalog,
    scope: &Scope,
    finder: &Finder,
    throwaway: &mut dyn FnMut(&str) -> Result<Scratch>,
) -> Result<Vec<SnapshotCheck>> {
    let mut checked = Vec::new();
    let mut record = Vec::new();
    let mut base: Option<&SnapshotFile> = None;
    for snapshot in &catalog.snapshots {
        let result = one(catalog, snapshot, base, scope, finder, throwaway)?;
        let checksum = std::fs::read_to_string(&snapshot.path)
            .ok()
            .map(|t| crate::project::migrations::checksum(&t));
        match result.status {
            "verified" => record.push((snapshot.file.clone(), checksum)),
            "differs" => record.push((snapshot.file.clone(), None)),
            _ => {}
        }
        checked.push(result);
        base = Some(snapshot);
    }
    crate::project::snapshot::record_verified(&catalog.root.join("versions"), &record)?;
    Ok(checked)
}

fn one(
    catalog: &Catalog,
    snapshot: &SnapshotFile,
    base: Option<&SnapshotFile>,
    scope: &Scope,
    finder: &Finder,
    throwaway: &mut dyn FnMut(&str) -> Result<Scratch>,
) -> Result<SnapshotCheck> {
    let mut result = SnapshotCheck {
        file: snapshot.file.clone(),
        status: "baseline",
        compared_with: String::new(),
        findings: Vec::new(),
        notes: Vec::new(),
    };
    if let Some(warning) = std::fs::read_to_string(&snapshot.path)
        .ok()
        .and_then(|t| crate::apply::plan::body_warning(snapshot, &t))
    {
        result.notes.push(warning);
    }
    let Some(last) = snapshot.header.last_migration else {
        result.compared_with = "nothing: it includes no migrations (a baseline)".into();
        return Ok(result);
    };
    let since = base.and_then(|b| b.header.last_migration);
    let claimed: Vec<Migration> = catalog
        .migrations
        .iter()
        .filter(|m| m.version() <= last && since.is_none_or(|s| m.version() > s))
        .cloned()
        .collect();
    let only = |snapshots: Vec<SnapshotFile>, migrations: Vec<Migration>| {
        let mut cut = catalog.clone();
        cut.snapshots = snapshots;
        cut.migrations = migrations;
        cut.downs.clear();
        cut.validation.clear();
        cut
    };
    let replayed = only(base.into_iter().cloned().collect(), claimed);
    result.compared_with =
        replay::describe_files(base.map(|b| b.file.as_str()), &replayed.migrations);
    if replayed.migrations.is_empty() && catalog.migrations.iter().all(|m| m.version() > last) {
        result.status = "cannot_verify";
        result.notes.push(format!(
            "it includes migrations up to {last}, and none of them is in the migrations folder"
        ));
        return Ok(result);
    }
    let loaded = only(vec![snapshot.clone()], Vec::new());
    let (one, two) = (throwaway("snapshot")?, throwaway("replay")?);
    let (one_shown, two_shown) = (
        one.settings.masked().to_string(),
        two.settings.masked().to_string(),
    );
    let mut a = connect(&one.settings, ConnectOptions::default())?;
    let mut b = connect(&two.settings, ConnectOptions::default())?;
    crate::apply::run::build(&mut a, &loaded, &one_shown)?;
    crate::apply::run::build(&mut b, &replayed, &two_shown)?;
    let server = ServerVersion::query(&mut a, &one_shown)?;
    let options = Options {
        scope: scope.clone(),
        pg_dump: Some(PgDump::for_server(finder, &server)?),
        expected_is_throwaway: true,
    };
    let compared = compare(
        Db {
            client: &mut a,
            settings: &one.settings,
            shown: snapshot.file.clone(),
        },
        Db {
            client: &mut b,
            settings: &two.settings,
            shown: "the replay".into(),
        },
        &options,
    )?;
    result.notes.extend(compared.notes.iter().cloned());
    if compared.is_clean() {
        result.status = "verified";
    } else {
        result.status = "differs";
        result.findings = compared.findings;
    }
    Ok(result)
}
