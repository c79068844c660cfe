//! `--backup-first`: a full backup of a database taken before a program changes it
//! (`apply-schema --backup-first`), and only when it will change it. A backup that fails
//! stops the program before it changes anything. Taking the backup is `create`'s job;
//! deciding what applying would do is `apply`'s.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use postgres::Client;

use crate::apply::plan::PlanOptions;
use crate::error::{Error, Result};
use crate::meter::Meter;
use crate::pg::dump::{PgDump, ServerVersion};
use crate::pg::tools::Finder;
use crate::project::layout::Catalog;
use crate::project::settings::ConnectionSettings;

use super::{create, Backup, BackupOptions, Content, Format};

/// Where and how to take a backup first.
pub struct First<'a> {
    /// Where to find pg_dump.
    pub finder: &'a Finder,
    /// The backups folder.
    pub dir: PathBuf,
    pub created: DateTime<Utc>,
    pub meter: &'a dyn Meter,
}

/// What `--backup-first` did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BackupFirst {
    /// A backup was taken.
    Taken(Backup),
    /// Nothing is pending, so nothing will change: no backup was taken.
    NothingPending,
    /// Something is pending, but a dry run changes nothing: no backup was taken.
    DryRun,
}

impl BackupFirst {
    /// The backup's warnings (a data backup in a folder git does not ignore), if taken.
    pub fn warnings(&self) -> &[String] {
        match self {
            BackupFirst::Taken(made) => &made.warnings,
            _ => &[],
        }
    }
}

/// Before applying: a backup of `target` when applying with `plan` would change it (in
/// a dry run, only says that it would). A failed backup is
/// [`Error::BackupFirstFailed`], and the caller stops before applying anything.
pub fn before_apply(
    client: &mut Client,
    target: &ConnectionSettings,
    catalog: &Catalog,
    plan: &PlanOptions,
    dry_run: bool,
    first: &First<'_>,
) -> Result<BackupFirst> {
    let database = target.masked();
    if !crate::apply::run::would_change(client, catalog, database, plan)? {
        return Ok(BackupFirst::NothingPending);
    }
    if dry_run {
        return Ok(BackupFirst::DryRun);
    }
    take_first(client, target, first).map(BackupFirst::Taken)
}

/// A backup of schema and data as plain SQL into `first.dir`, with pg_dump chosen for
/// the server; a failure is [`Error::BackupFirstFailed`].
pub fn take_first(
    client: &mut Client,
    target: &ConnectionSettings,
    first: &First<'_>,
) -> Result<Backup> {
    let database = target.masked();
    let taken = (|| {
        let server = ServerVersion::query(client, database)?;
        let pg_dump = PgDump::for_server(first.finder, &server)?;
        let options = BackupOptions {
            dir: first.dir.clone(),
            format: Format::Plain,
            compress: None,
            content: Content::SchemaAndData,
            tables: Vec::new(),
            keep: None,
            created: first.created,
        };
        create(&pg_dump, target, &server, &options, first.meter)
    })();
    taken.map_err(|source| Error::BackupFirstFailed {
        database: database.to_string(),
        source: Box::new(source),
    })
}
