//! `create-phase-snapshot`: cut a verified, deterministic phase snapshot and its
//! `SCHEMA_CHANGES.md` entry.

use std::process::ExitCode;

use chrono::Utc;
use clap::Parser;
use dbkit::cli::{self, ConnectionArgs, DirArgs, Format, LockArgs, OutputArgs};
use dbkit::ops::fresh;
use dbkit::pg::connect::{connect, ConnectOptions};
use dbkit::pg::dump::DumpOptions;
use dbkit::phase::cut::{self, CutOptions};
use dbkit::project::layout::Layout;
use dbkit::project::settings::ConnectionSettings;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Dump the schema into `versions/VERSION_name.sql` with a header, verify it rebuilds
/// the source, and add the `SCHEMA_CHANGES.md` entry.
#[derive(Debug, Parser)]
#[command(
    name = "create-phase-snapshot",
    version,
    after_help = "Examples:
  create-phase-snapshot v2.0 \"Phase 2 - Contract Parsing\"      # from the database (local without DATABASE_URL)
  create-phase-snapshot v2.0 \"Phase 2\" --from-migrations      # build from the files in a throwaway database
  create-phase-snapshot v2.0 \"Phase 2\" --schema public --name phase_2
  create-phase-snapshot v2.0 \"Phase 2\" --format json"
)]
struct Args {
    /// The snapshot's version, greater than the newest snapshot's: `v2.0`.
    #[arg(value_name = "VERSION")]
    snapshot_version: String,
    /// What the phase delivered, for the header and the changelog: "Phase 2 - Contract
    /// Parsing".
    description: String,

    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    lock: LockArgs,

    /// The file name after the version [default: a slug of the description, as in
    /// `v2.0_phase_2_contract_parsing.sql`].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Build the schema from the newest snapshot and the migrations in a throwaway
    /// database of the local PostgreSQL, and snapshot that: no server needed.
    #[arg(long)]
    from_migrations: bool,
    /// With `--from-migrations`: apply the migrations even when a template of them is
    /// there (and keep none). Without it, a build slower than a copy is kept as a
    /// template in the local PostgreSQL, and the next build from the same files copies it.
    #[arg(long, requires = "from_migrations")]
    no_template: bool,
    /// Dump only this schema (repeatable; names, not patterns) [default: every schema
    /// but the system's and dbkit's].
    #[arg(
        long = "schema",
        value_name = "NAME",
        env = "DBKIT_SCHEMAS",
        value_delimiter = ','
    )]
    schemas: Vec<String>,
    /// Leave this schema out (repeatable).
    #[arg(long = "exclude-schema", value_name = "NAME", value_delimiter = ',')]
    exclude_schemas: Vec<String>,
    /// Keep `ALTER ... OWNER TO` statements (left out by default: roles differ between
    /// environments).
    #[arg(long)]
    keep_owners: bool,
    /// Keep `GRANT`/`REVOKE` statements.
    #[arg(long)]
    keep_privileges: bool,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    cli::install_interrupts();
    args.output.init_color();
    cli::conclude(run(&args), args.output.format)
}

fn run(args: &Args) -> Result<ExitCode> {
    let layout = Layout::new(&args.dir.dir);
    let catalog = layout.catalog()?;
    catalog.warnings.iter().for_each(|w| cli::warn(w));
    let request = cut::check(
        &layout,
        &catalog,
        &args.snapshot_version,
        &args.description,
        args.name.as_deref(),
    )?;
    let now = Utc::now();
    let options = CutOptions {
        dump: DumpOptions {
            schemas: args.schemas.clone(),
            exclude_schemas: args.exclude_schemas.clone(),
            owners: args.keep_owners,
            privileges: args.keep_privileges,
        },
        generated: now.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        date: now.format("%Y-%m-%d").to_string(),
        finder: cli::finder(),
        lock_timeout: args.lock.timeout(),
    };
    let local_server = || -> Result<ConnectionSettings> {
        let cluster = cli::project_cluster(&layout)?;
        cluster.ensure_running()?;
        ConnectionSettings::parse(&cluster.conninfo("postgres"), None)
    };
    let mut built = None;
    let cut = if args.from_migrations {
        // Build: the newest snapshot plus the migrations after it, as apply-schema would.
        // Copied from the schema template of these files when an earlier run kept one.
        let server = local_server()?;
        let mut admin = connect(&server, ConnectOptions::default())?;
        // What a fresh build warns about (an edited snapshot, migrations changed since it
        // was cut), said whether the build is made now or copied.
        dbkit::apply::plan::fresh_warnings(&catalog)?
            .iter()
            .for_each(|w| cli::warn(w));
        let templates = match args.no_template {
            true => fresh::Templates::Off,
            false => fresh::Templates::Keep,
        };
        let build = fresh::schema_scratch(
            &mut admin,
            &server,
            &catalog,
            "build",
            templates,
            cli::notice,
        )?;
        let mut client = connect(&build.scratch.settings, ConnectOptions::default())?;
        let cut = cut::cut(
            &catalog,
            &request,
            &mut client,
            &build.scratch.settings,
            &options,
            &local_server,
        )?;
        built = Some(build.made());
        // Only read by the cut: kept as the next build's spare copy.
        drop(client);
        build.finish();
        cut
    } else {
        let mut target = args.connection.open(&layout)?;
        cut::cut(
            &catalog,
            &request,
            &mut target.client,
            &target.settings,
            &options,
            &local_server,
        )?
    };
    let mut cut = cut;
    cut.file = cli::relative_to_cwd(cut.file);
    cut.changelog = cli::relative_to_cwd(cut.changelog);
    let diagrams = layout.root.join("diagrams");
    cli::print(|w| match args.output.format {
        Format::Text => report::phase::cut(w, &cut, diagrams.is_dir().then_some(&*diagrams)),
        Format::Json => {
            let mut json = serde_json::to_value(&cut).unwrap_or_default();
            if let (Some(made), Some(object)) = (&built, json.as_object_mut()) {
                object.insert("built".into(), serde_json::json!(made));
            }
            report::json(w, &json)
        }
    });
    Ok(ExitCode::from(exit::OK))
}
