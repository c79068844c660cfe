//! `er-diagram`: the schema the files build, as an ER diagram (Mermaid or Graphviz).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use dbkit::cli::{self, ConnectionArgs, DirArgs};
use dbkit::ddl;
use dbkit::project::layout::Layout;
use dbkit::report::erd::{self, Focus};
use dbkit::report::{exit, mermaid};
use dbkit::{Error, Result};

/// Draw the schema the snapshot and migrations build: tables with their columns and
/// keys, foreign keys as crow's-foot edges, partitions folded into their parent. No
/// database is needed.
#[derive(Debug, Parser)]
#[command(
    name = "er-diagram",
    version,
    after_help = "Examples:
  er-diagram                                     # Mermaid of the whole schema
  er-diagram --format dot | dot -Tsvg > er.svg   # Graphviz
  er-diagram --around contract --depth 1         # a table and its neighbours
  er-diagram --schema billing                    # one schema
  er-diagram --from-database                     # the configured live database
  er-diagram --format drawio -o database/diagrams/schema.drawio
  er-diagram -o database/diagrams/er.mmd"
)]
struct Args {
    /// Mermaid (`erDiagram`, which GitHub renders), Graphviz `dot`, or a draw.io file.
    #[arg(long, value_enum, default_value = "mermaid")]
    format: DiagramFormat,
    /// Only the tables of this schema (repeatable).
    #[arg(long = "schema", value_name = "NAME")]
    schemas: Vec<String>,
    /// Only this table and the tables within `--depth` foreign keys of it.
    #[arg(long, value_name = "TABLE")]
    around: Option<String>,
    /// How many foreign keys away from `--around` to draw.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "around")]
    depth: usize,
    /// Draw the configured live database's tables instead of the files' (`-D`,
    /// DATABASE_URL, else the local PostgreSQL).
    #[arg(long)]
    from_database: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Write the diagram to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    dir: DirArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiagramFormat {
    Mermaid,
    Dot,
    /// An uncompressed draw.io file (open it in draw.io or diagrams.net).
    Drawio,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    cli::conclude(run(&args), cli::Format::Text)
}

fn run(args: &Args) -> Result<ExitCode> {
    let layout = Layout::new(&args.dir.dir);
    let (schema, source) = if args.from_database {
        let mut target = args.connection.open(&layout)?;
        let database = target.settings.masked().to_string();
        let schema = dbkit::pg::model::read(&mut target.client, &database)?;
        (schema, database)
    } else {
        if !layout.migrations().is_dir() && !layout.versions().is_dir() {
            return Err(Error::MissingDir {
                path: args.dir.dir.clone(),
            });
        }
        let documented = ddl::whole(&layout)?;
        if let Some(error) = documented.syntax_error() {
            return Err(error);
        }
        let source = format!("the files in `{}`", args.dir.dir.display());
        (documented.schema, source)
    };
    let schema = &schema;
    let focus = Focus {
        schemas: args.schemas.clone(),
        around: args.around.clone(),
        depth: args.depth,
    };
    let Some(tables) = erd::tables(schema, &focus) else {
        let around = args.around.as_deref().unwrap_or_default();
        return Err(Error::Usage(format!(
            "{source} {} no table `{around}`{}",
            if args.from_database { "has" } else { "build" },
            if focus.schemas.is_empty() {
                String::new()
            } else {
                format!(" in schema {}", focus.schemas.join(", "))
            }
        )));
    };
    let mut text = Vec::new();
    match args.format {
        DiagramFormat::Mermaid => mermaid::of_tables(&mut text, schema, &tables),
        DiagramFormat::Dot => erd::dot(&mut text, schema, &tables),
        DiagramFormat::Drawio => dbkit::report::drawio::write(&mut text, &tables, schema),
    }
    .map_err(|source| Error::Io {
        path: PathBuf::from("-"),
        source,
    })?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            eprintln!(
                "wrote {} ({} table{})",
                path.display(),
                tables.len(),
                if tables.len() == 1 { "" } else { "s" }
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is the reader's choice, not an error.
            let _ = out.write_all(&text).and_then(|()| out.flush());
        }
    }
    Ok(ExitCode::from(exit::OK))
}
