//! The long work apply-schema, reset and load-test-data share, run with its progress
//! shown the one way: each step's line on stdout as it completes (text output), a bar on
//! stderr for a file, statement or seed file that runs longer than a second (on a
//! terminal only), warnings on stderr, and the closing lines.

use std::process::ExitCode;

use crate::apply::run::{self, ApplyOptions, ApplyReport, Step};
use crate::apply::validate::{self, ValidationReport};
use crate::error::Result;
use crate::ops::seed::{self, LoadOptions, LoadReport};
use crate::project::layout::Catalog;
use crate::report::progress::{Bar, Meter, Unit};
use crate::report::{self, exit};

/// Prints each step as it completes, and shows the file or statement running now.
struct Steps {
    text: bool,
    dry_run: bool,
    width: usize,
    bar: Bar,
}

impl run::Progress for Steps {
    fn step(&mut self, step: &Step) {
        if self.text {
            super::print(|w| report::step(w, step, self.dry_run, self.width));
        }
    }

    fn meter(&self) -> &dyn Meter {
        &self.bar
    }
}

/// Applies the catalog (see [`run::apply`]), printing each step as it completes when
/// `text`, and the warnings on stderr. The closing summary is the caller's to print:
/// apply-schema puts the validation checks before it.
pub fn apply(
    client: &mut postgres::Client,
    catalog: &Catalog,
    database: &str,
    options: &ApplyOptions,
    text: bool,
) -> Result<ApplyReport> {
    let mut steps = Steps {
        text,
        dry_run: options.dry_run,
        width: report::step_width(&catalog.migrations),
        bar: super::progress_bar(Unit::Time),
    };
    let report = run::apply(client, catalog, database, options, &mut steps)?;
    report.warnings.iter().for_each(|w| super::warn(w));
    Ok(report)
}

/// Runs the validation checks, printing them when `text`.
pub fn validate(
    client: &mut postgres::Client,
    catalog: &Catalog,
    database: &str,
    text: bool,
) -> Result<ValidationReport> {
    let checked = validate::run(client, catalog, database)?;
    if text {
        super::print(|w| report::validation(w, &checked));
    }
    Ok(checked)
}

/// Loads the seed data (see [`seed::load`]), printing when `text` where it loads from
/// (once the schema is found applied), each folder and file as it loads and the closing
/// line; a bar counts the rows of the file loading now.
pub fn load_seed(
    client: &mut postgres::Client,
    catalog: &Catalog,
    options: &LoadOptions,
    database: &str,
    text: bool,
) -> Result<LoadReport> {
    let mut width = 0;
    let mut progress = |event: seed::Progress<'_>| {
        if text {
            super::print(|w| report::seed::progress(w, &event, &mut width));
        }
    };
    let bar = super::progress_bar(Unit::Rows);
    let loaded = seed::load(client, catalog, options, database, &mut progress, &bar)?;
    if text {
        super::print(|w| report::seed::summary(w, &loaded));
    }
    Ok(loaded)
}

/// What the dev loop after a reset did.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    pub apply: ApplyReport,
    pub load: LoadReport,
    pub validation: ValidationReport,
}

/// The dev loop after a reset (`reset --reapply`): applies the schema, loads the seed
/// data and runs the validation checks, now that there is data for them to check,
/// showing each as apply-schema and load-test-data do.
pub fn rebuild(
    target: &mut super::Target,
    catalog: &Catalog,
    lock_timeout: std::time::Duration,
    text: bool,
) -> Result<Rebuilt> {
    let database = target.settings.masked().to_string();
    let options = ApplyOptions {
        lock_timeout,
        notice: Some(super::notice),
        watch: Some(target.settings.clone()),
        ..ApplyOptions::default()
    };
    let client = &mut target.client;
    let apply = self::apply(client, catalog, &database, &options, text)?;
    if text {
        super::print(|w| report::apply_summary(w, &apply));
    }
    let options = LoadOptions {
        lock_timeout,
        ..LoadOptions::default()
    };
    let load = load_seed(client, catalog, &options, &database, text)?;
    let validation = validate(client, catalog, &database, text)?;
    Ok(Rebuilt {
        apply,
        load,
        validation,
    })
}

/// The exit code of a run that ran the validation checks (or not): 5 when one failed.
pub fn checked(validation: Option<&ValidationReport>) -> ExitCode {
    let failed = validation.is_some_and(|v| v.failed() > 0);
    ExitCode::from(if failed { exit::VALIDATION } else { exit::OK })
}

/// `--backup-first` of a program that changes a database (reset, rollback): a backup of
/// schema and data as plain SQL under the project's `backups/`, with its line printed
/// when `text`. A failed backup stops the program before it changes anything.
pub fn backup_first(
    target: &mut super::Target,
    layout: &crate::project::layout::Layout,
    text: bool,
) -> Result<crate::ops::backup::Backup> {
    let first = crate::ops::backup::First {
        finder: &super::finder(),
        dir: super::relative_to_cwd(layout.project_root().join("backups")),
        created: chrono::Utc::now(),
        meter: &super::progress_bar(Unit::Bytes),
    };
    let made = crate::ops::backup::take_first(&mut target.client, &target.settings, &first)?;
    made.warnings.iter().for_each(|w| super::warn(w));
    if text {
        super::print(|w| report::operations::backup(w, &made));
    }
    Ok(made)
}

/// A throwaway database for `purpose` (`verify`, `build`): on the configured database's
/// server when one is configured and this role may create databases there, else in the
/// project's local PostgreSQL (started if need be), saying so.
pub fn scratch_database(
    connection: &super::ConnectionArgs,
    layout: &crate::project::layout::Layout,
    purpose: &str,
) -> Result<crate::pg::scratch::Scratch> {
    use crate::pg::scratch::Scratch;
    on_scratch_server(connection, layout, &mut |admin, server| {
        Scratch::create(admin, server, purpose, None, super::notice)
    })
}

/// A throwaway database for `purpose` holding what `catalog`'s snapshot and migrations
/// build (schema and history), on the server [`scratch_database`] picks: copied from
/// the project's schema template when there is one (unless `use_templates` is false),
/// else built. A build slower than a copy is kept as the template for next time only on
/// a server on this machine, and not when `DBKIT_ENV` says production: a template is a
/// database that stays.
pub fn schema_database(
    connection: &super::ConnectionArgs,
    layout: &crate::project::layout::Layout,
    catalog: &crate::project::layout::Catalog,
    purpose: &str,
    use_templates: bool,
) -> Result<crate::ops::fresh::Built> {
    use crate::ops::fresh::{schema_scratch, Templates};
    let production = std::env::var(crate::ops::guard::ENV_VAR)
        .is_ok_and(|mark| crate::ops::guard::is_production(&mark));
    on_scratch_server(connection, layout, &mut |admin, server| {
        let templates = match (use_templates, server.is_local() && !production) {
            (false, _) => Templates::Off,
            (true, false) => Templates::Copy,
            (true, true) => Templates::Keep,
        };
        schema_scratch(admin, server, catalog, purpose, templates, super::notice)
    })
}

/// Runs `make` with a connection to the server throwaway databases go on: the
/// configured database's when one is configured and this role may create databases
/// there (`make` failing for want of the privilege says it), else the project's local
/// PostgreSQL (started if need be), saying so.
fn on_scratch_server<T>(
    connection: &super::ConnectionArgs,
    layout: &crate::project::layout::Layout,
    make: &mut dyn FnMut(
        &mut postgres::Client,
        &crate::project::settings::ConnectionSettings,
    ) -> Result<T>,
) -> Result<T> {
    use crate::pg::connect::{connect, ConnectOptions};
    use crate::project::settings::ConnectionSettings;
    type Make<'a, T> = dyn FnMut(&mut postgres::Client, &ConnectionSettings) -> Result<T> + 'a;
    let local = |make: &mut Make<'_, T>| -> Result<T> {
        let cluster = super::project_cluster(layout)?;
        cluster.ensure_running()?;
        let server = ConnectionSettings::parse(&cluster.conninfo("postgres"), None)?;
        let mut admin = connect(&server, ConnectOptions::default())?;
        make(&mut admin, &server)
    };
    let Some(url) = connection.url() else {
        return local(make);
    };
    let server = ConnectionSettings::parse(url, connection.os_user.as_deref())?;
    let mut admin = connect(&server, ConnectOptions::default())?;
    match make(&mut admin, &server) {
        Err(crate::Error::Query { source, .. })
            if source.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
        {
            super::notice(&format!(
                "this role may not create databases on {}; using the local PostgreSQL for the throwaway database",
                server.masked()
            ));
            local(make)
        }
        other => other,
    }
}
