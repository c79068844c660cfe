//! `er-diagram`: the schema the files build (or a live database has), as an ER diagram:
//! Mermaid, Graphviz, or a draw.io file that `--update` keeps up to date by hand layout.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use dbkit::cli::{self, ConnectionArgs, DirArgs};
use dbkit::ddl;
use dbkit::ddl::model::Schema;
use dbkit::project::layout::Layout;
use dbkit::report::erd::{self, Focus};
use dbkit::report::{drawio, exit};
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
  er-diagram --update database/diagrams/schema.drawio   # keep every position
  er-diagram --views --format dot                # views too, dashed
  er-diagram -o database/diagrams/er.mmd"
)]
struct Args {
    /// Mermaid (`erDiagram`, which GitHub renders; the default), Graphviz `dot`, or a
    /// draw.io file.
    #[arg(long, value_enum)]
    format: Option<DiagramFormat>,
    /// Bring this draw.io file up to date with the schema, keeping every shape's
    /// position and style and everything dbkit did not draw; new tables are placed
    /// beside the diagram and listed. Creates the file when it does not exist.
    #[arg(long, value_name = "FILE", conflicts_with = "output")]
    update: Option<PathBuf>,
    /// With `--update`: grey out and mark tables the schema no longer has instead of
    /// removing them.
    #[arg(long, requires = "update")]
    keep_dropped: bool,
    /// Draw views too (dashed, with an edge to each table they read).
    #[arg(long)]
    views: bool,
    /// Mermaid: write one diagram even when it is more than GitHub renders (by default
    /// it is split into one diagram per schema or connected group, as Markdown).
    #[arg(long)]
    no_split: bool,
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
    let mut unread = 0;
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
        unread = warn_unread(&documented);
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
    let views = if args.views {
        erd::views(schema, &focus, &tables)
    } else {
        Vec::new()
    };
    let format = match (args.format, &args.update) {
        (None | Some(DiagramFormat::Drawio), Some(_)) => DiagramFormat::Drawio,
        (Some(other), Some(_)) => {
            return Err(Error::Usage(format!(
                "`--update` updates a draw.io file; it cannot be used with `--format {}`",
                other
                    .to_possible_value()
                    .map_or_else(String::new, |v| v.get_name().to_string())
            )));
        }
        (format, None) => format.unwrap_or(DiagramFormat::Mermaid),
    };
    let io = |source| Error::Io {
        path: PathBuf::from("-"),
        source,
    };
    let entities = drawio::entities(&tables, &views);
    let shown = |extra: &mut dyn Iterator<Item = String>| -> BTreeSet<String> {
        tables
            .iter()
            .map(|t| t.name.clone())
            .chain(views.iter().map(|v| v.name.clone()))
            .chain(extra)
            .collect()
    };
    if let Some(path) = &args.update {
        // Edges to every table the schema has: one this run does not draw may be in
        // the file, left alone, and still be pointed at.
        let everything = shown(&mut schema.tables.keys().cloned());
        let edges = drawio::edges(&tables, &views, &everything);
        // A table missing because its statement could not be read is greyed, not
        // removed with its hand layout.
        if unread > 0 && !args.keep_dropped {
            eprintln!("  (with statements unread, tables the files no longer build are greyed, as with `--keep-dropped`, not removed)");
        }
        return update(
            path,
            schema,
            &entities,
            &edges,
            args.keep_dropped || unread > 0,
        );
    }
    let mut text = Vec::new();
    let mut note = None;
    match format {
        DiagramFormat::Mermaid => {
            note = erd::mermaid(&mut text, schema, &tables, &views, !args.no_split).map_err(io)?;
        }
        DiagramFormat::Dot => erd::dot(&mut text, schema, &tables, &views).map_err(io)?,
        DiagramFormat::Drawio => {
            let edges = drawio::edges(&tables, &views, &shown(&mut std::iter::empty()));
            drawio::write(&mut text, &entities, &edges).map_err(io)?;
        }
    }
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    match &args.output {
        Some(path) => {
            if format == DiagramFormat::Drawio && path.exists() {
                return Err(Error::Refused(format!(
                    "`{}` exists and may hold a hand-made layout: `er-diagram --update {}` brings it up to date and keeps it (move the file away first to draw a new one)",
                    path.display(),
                    path.display()
                )));
            }
            write_file(path, &text)?;
            eprintln!("wrote {} ({})", path.display(), counted(&tables, &views));
        }
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is the reader's choice, not an error.
            let _ = out.write_all(&text).and_then(|()| out.flush());
        }
    }
    Ok(ExitCode::from(exit::OK))
}

/// `--update FILE`: the file brought up to date (written only when something changed),
/// or drawn new when it does not exist; what changed goes to standard error.
fn update(
    path: &Path,
    schema: &Schema,
    entities: &[drawio::Entity],
    edges: &[drawio::Edge],
    keep_dropped: bool,
) -> Result<ExitCode> {
    let read = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let Some(old) = read else {
        let drawn: BTreeSet<String> = entities.iter().map(|e| e.name.clone()).collect();
        let edges: Vec<drawio::Edge> = edges
            .iter()
            .filter(|e| entities.iter().any(|n| n.id == e.to))
            .cloned()
            .collect();
        let mut text = Vec::new();
        drawio::write(&mut text, entities, &edges).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        write_file(path, &text)?;
        eprintln!(
            "{} did not exist: wrote a new diagram ({} shape{})",
            path.display(),
            drawn.len(),
            if drawn.len() == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::from(exit::OK));
    };
    let mut exists: BTreeSet<String> = schema.tables.keys().map(|t| drawio::table_id(t)).collect();
    exists.extend(schema.views.iter().map(|v| drawio::view_id(v)));
    let (text, changes) =
        drawio::update::update(&old, path, entities, edges, &exists, keep_dropped)?;
    if changes.is_empty() {
        eprintln!(
            "{} is up to date ({} shapes checked)",
            path.display(),
            entities.len()
        );
        return Ok(ExitCode::from(exit::OK));
    }
    write_file(path, text.as_bytes())?;
    eprintln!("updated {}:", path.display());
    for (name, x, y) in &changes.added {
        eprintln!("  added    {name} (at x={x}, y={y}: move it where it belongs)");
    }
    for name in &changes.changed {
        eprintln!("  changed  {name}");
    }
    for name in &changes.dropped {
        if keep_dropped {
            eprintln!(
                "  dropped  {name} (kept, greyed and marked: delete it in draw.io when done)"
            );
        } else {
            eprintln!("  removed  {name}");
        }
    }
    let edges = [
        (changes.edges_added, "added"),
        (changes.edges_changed, "changed"),
        (changes.edges_removed, "removed"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect::<Vec<_>>();
    if !edges.is_empty() {
        eprintln!("  edges    {}", edges.join(", "));
    }
    Ok(ExitCode::from(exit::OK))
}

/// Says on standard error which statements that may shape the diagram (tables, views,
/// DO blocks with DDL) the reader could not read, so a table missing from the diagram is
/// never a surprise.
fn warn_unread(documented: &ddl::Documented) -> usize {
    let unread: Vec<String> = documented
        .summaries
        .iter()
        .flat_map(|s| s.not_analysed.iter())
        .filter(|n| {
            let shapes = |text: &str| text.contains("TABLE") || text.contains("VIEW");
            shapes(&n.kind)
                || n.note
                    .as_deref()
                    .is_some_and(|note| note.starts_with("contains DDL") && shapes(note))
        })
        .map(|n| {
            format!(
                "{}:{}: {}{}",
                n.at.file,
                n.at.line,
                n.kind,
                n.note
                    .as_deref()
                    .map_or_else(String::new, |note| format!(" ({note})"))
            )
        })
        .collect();
    if unread.is_empty() {
        return 0;
    }
    eprintln!(
        "warning: {} statement{} that may change tables or views could not be read, so the diagram may miss what {}:",
        unread.len(),
        if unread.len() == 1 { "" } else { "s" },
        if unread.len() == 1 { "it does" } else { "they do" }
    );
    for line in unread.iter().take(10) {
        eprintln!("  {line}");
    }
    if unread.len() > 10 {
        eprintln!("  ... and {} more", unread.len() - 10);
    }
    eprintln!("  (`er-diagram --from-database` draws what the server built)");
    unread.len()
}

/// Writes `text` to `path` through a temporary file beside it, so an interrupt leaves
/// the old file or the new one, never half of one.
fn write_file(path: &Path, text: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map_or_else(|| "diagram".into(), |n| n.to_string_lossy().into_owned());
    let temporary = path.with_file_name(format!(".{name}.dbkit-tmp"));
    // `-o database/diagrams/schema.drawio` in a project that has no diagrams folder yet.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(&temporary, text).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        io(e)
    })
}

/// `12 tables` or `12 tables, 1 view`.
fn counted(tables: &[&dbkit::ddl::model::Table], views: &[erd::View]) -> String {
    let mut out = format!(
        "{} table{}",
        tables.len(),
        if tables.len() == 1 { "" } else { "s" }
    );
    if !views.is_empty() {
        out.push_str(&format!(
            ", {} view{}",
            views.len(),
            if views.len() == 1 { "" } else { "s" }
        ));
    }
    out
}
