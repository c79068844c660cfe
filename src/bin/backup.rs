//! `backup`: a complete pg_dump backup under `backups/`, never a partial one.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::{Parser, ValueEnum};
use dbkit::cli::{self, ColorChoice, ConnectionArgs, DirArgs, Format, OutputArgs};
use dbkit::ops::backup::{self, BackupOptions, Content};
use dbkit::pg::dump::{PgDump, ServerVersion};
use dbkit::project::layout::Layout;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Back up the database with pg_dump (schema and data by default).
#[derive(Debug, Parser)]
#[command(
    name = "backup",
    version,
    after_help = "Examples:
  backup                                  # backups/backup_YYYY-MM-DD_HH-MM-SS.sql (UTC)
  backup --format custom --keep 10        # pg_restore-able .dump; keep the newest 10
  backup --schema-only
  backup --table activities --table 'public.contract*'
  restore backups/backup_2026-11-22_10-00-00.sql --into scratch"
)]
struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,

    /// The backup's format, as in pg_dump: plain is SQL for psql; custom one archive
    /// for pg_restore (compressed); directory a folder for pg_restore.
    #[arg(long, short = 'F', value_enum, default_value = "plain")]
    format: BackupFormat,
    /// Print the result as JSON (`--format` is the backup's format here).
    #[arg(long)]
    json: bool,
    /// Color text output: auto colors only on a terminal and when NO_COLOR is unset.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    color: ColorChoice,
    #[arg(long, env = "NO_COLOR", hide = true, hide_env_values = true)]
    no_color: Option<String>,
    /// Compression level 0-9 (plain becomes `.sql.gz`; custom and directory are
    /// compressed by default).
    #[arg(long, short = 'Z', value_name = "LEVEL", value_parser = clap::value_parser!(u32).range(0..=9))]
    compress: Option<u32>,
    /// The schema only, no data.
    #[arg(long, conflicts_with = "data_only")]
    schema_only: bool,
    /// The data only, no schema.
    #[arg(long)]
    data_only: bool,
    /// Only this table (a pg_dump pattern; repeatable).
    #[arg(long, value_name = "TABLE")]
    table: Vec<String>,
    /// Keep only the newest N of this tool's backups in the folder (others are never
    /// touched), after the new one is written.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    keep: Option<u64>,
    /// The backups folder [default: `backups/` in the project].
    #[arg(long, value_name = "PATH")]
    out_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackupFormat {
    Plain,
    Custom,
    Directory,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    cli::install_interrupts();
    let output = OutputArgs {
        format: if args.json {
            Format::Json
        } else {
            Format::Text
        },
        color: args.color,
        no_color: args.no_color.clone(),
    };
    output.init_color();
    cli::conclude(run(&args, output.format), output.format)
}

fn run(args: &Args, output: Format) -> Result<ExitCode> {
    let layout = Layout::new(&args.dir.dir);
    let mut target = args.connection.open(&layout)?;
    let database = target.settings.masked().to_string();
    let server = ServerVersion::query(&mut target.client, &database)?;
    let pg_dump = PgDump::for_server(&cli::finder(), &server)?;
    let options = BackupOptions {
        dir: cli::relative_to_cwd(
            args.out_dir
                .clone()
                .unwrap_or_else(|| layout.project_root().join("backups")),
        ),
        format: match args.format {
            BackupFormat::Plain => backup::Format::Plain,
            BackupFormat::Custom => backup::Format::Custom,
            BackupFormat::Directory => backup::Format::Directory,
        },
        compress: args.compress,
        content: match (args.schema_only, args.data_only) {
            (true, _) => Content::SchemaOnly,
            (_, true) => Content::DataOnly,
            _ => Content::SchemaAndData,
        },
        tables: args.table.clone(),
        keep: args.keep.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        stamp: Utc::now().format("%Y-%m-%d_%H-%M-%S").to_string(),
    };
    let made = backup::create(&pg_dump, &target.settings, &options)?;
    cli::print(|w| match output {
        Format::Text => report::operations::backup(w, &made),
        Format::Json => report::json(w, &made),
    });
    Ok(ExitCode::from(exit::OK))
}
