//! `backup`: a complete pg_dump backup under `backups/`, never a partial one; its list;
//! what `--keep` would prune.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::error::{ContextKind, ContextValue};
use clap::{Parser, ValueEnum};
use dbkit::cli::{self, ConnectionArgs, DirArgs, Format, OutputArgs};
use dbkit::ops::backup::{self, BackupOptions, Content, Origin};
use dbkit::pg::dump::{PgDump, ServerVersion};
use dbkit::project::layout::Layout;
use dbkit::report::progress::Unit;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Back up the database with pg_dump (schema and data by default).
#[derive(Debug, Parser)]
#[command(
    name = "backup",
    version,
    after_help = "Examples:
  backup                                  # backups/backup_<db>_YYYY-MM-DD_HH-MM-SSZ.sql (UTC)
  backup -F custom --keep 10              # pg_restore-able .dump; keep this database's newest 10
  backup --keep 10 --dry-run              # what would be written and pruned; changes nothing
  backup --list                           # this database's backups, newest first
  backup --schema-only
  backup --table activities --table 'public.contract*'
  restore backups/backup_app_2026-11-22_10-00-00Z.sql --into scratch"
)]
struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[arg(long, hide = true)]
    json: bool,

    /// The backup's format, as pg_dump's `-F`: plain is SQL for psql; custom one
    /// archive for pg_restore (compressed); directory a folder for pg_restore.
    #[arg(
        long,
        short = 'F',
        value_enum,
        default_value = "plain",
        value_name = "FORMAT"
    )]
    dump_format: DumpFormat,
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
    /// Keep only the newest N backups of this database with the same content, format and
    /// tables (the new one included). Files without a dbkit sidecar, and other
    /// databases' backups, are never removed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    keep: Option<u64>,
    /// Show what would be written and what `--keep` would prune; take no backup, write
    /// and remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// List this database's backups in the folder, newest first, with size, content,
    /// format and age; change nothing.
    #[arg(long, conflicts_with_all = ["keep", "dry_run", "schema_only", "data_only", "table", "compress"])]
    list: bool,
    /// The backups folder [default: `backups/` in the project].
    #[arg(long, value_name = "PATH")]
    out_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DumpFormat {
    Plain,
    Custom,
    Directory,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let mut args = parse();
    cli::install_interrupts();
    if args.json {
        args.output.format = Format::Json;
    }
    args.output.init_color();
    cli::conclude(run(&args), args.output.format)
}

/// The arguments; `--format custom` (pg_dump's spelling, which was backup's before
/// `--format` meant the output everywhere) gets a tip naming `--dump-format`.
fn parse() -> Args {
    Args::try_parse().unwrap_or_else(|mut error| {
        let on_format = matches!(
            error.get(ContextKind::InvalidArg),
            Some(ContextValue::String(arg)) if arg.starts_with("--format")
        );
        if let (true, Some(ContextValue::String(value))) =
            (on_format, error.get(ContextKind::InvalidValue))
        {
            if DumpFormat::from_str(value, true).is_ok() {
                let tip = format!("`--format` is the output (text or json); the backup's format is `--dump-format {value}` (or `-F {value}`)");
                error.insert(
                    ContextKind::Suggested,
                    ContextValue::StyledStrs(vec![tip.into()]),
                );
            }
        }
        error.exit()
    })
}

fn run(args: &Args) -> Result<ExitCode> {
    let text = args.output.format == Format::Text;
    let layout = Layout::new(&args.dir.dir);
    let dir = cli::relative_to_cwd(
        args.out_dir
            .clone()
            .unwrap_or_else(|| layout.project_root().join("backups")),
    );
    if args.list {
        let settings = args.connection.settings(&layout)?;
        let listing = backup::list(&dir, &Origin::of(&settings), Utc::now())?;
        cli::print(|w| match text {
            true => report::backup::listing(w, &listing),
            false => report::json(w, &listing.backups),
        });
        if let Some(rest) = report::backup::rest(&listing).filter(|_| !text) {
            cli::notice(&rest);
        }
        return Ok(ExitCode::from(exit::OK));
    }
    let options = BackupOptions {
        dir,
        format: match args.dump_format {
            DumpFormat::Plain => backup::Format::Plain,
            DumpFormat::Custom => backup::Format::Custom,
            DumpFormat::Directory => backup::Format::Directory,
        },
        compress: args.compress,
        content: match (args.schema_only, args.data_only) {
            (true, _) => Content::SchemaOnly,
            (_, true) => Content::DataOnly,
            _ => Content::SchemaAndData,
        },
        tables: args.table.clone(),
        keep: args.keep.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        created: Utc::now(),
    };
    if args.dry_run {
        let preview = backup::preview(&args.connection.settings(&layout)?, &options)?;
        preview.warnings.iter().for_each(|w| cli::warn(w));
        cli::print(|w| match text {
            true => report::backup::preview(w, &preview),
            false => report::json(w, &preview),
        });
        return Ok(ExitCode::from(exit::OK));
    }
    let mut target = args.connection.open(&layout)?;
    let database = target.settings.masked().to_string();
    let server = ServerVersion::query(&mut target.client, &database)?;
    let pg_dump = PgDump::for_server(&cli::finder(), &server)?;
    let meter = cli::progress_bar(Unit::Bytes);
    let made = backup::create(&pg_dump, &target.settings, &server, &options, &meter)?;
    made.warnings.iter().for_each(|w| cli::warn(w));
    cli::print(|w| match text {
        true => report::backup::backup(w, &made),
        false => report::json(w, &made),
    });
    Ok(ExitCode::from(exit::OK))
}
