//! `document-migration`: what migrations change, for reviewers, ER diagrams and CI.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use colored::Colorize;
use dbkit::apply::status;
use dbkit::cli::{self, ColorChoice, ConnectionArgs, DirArgs, Format, OutputArgs};
use dbkit::ddl::{self, Documented, FileSummary, RiskKind};
use dbkit::project::layout::Layout;
use dbkit::report::{self, comment, exit, mermaid, migration};
use dbkit::Result;

/// Say what migrations change: new and modified tables, columns, relationships, indexes,
/// types, ... and the risky operations among them.
#[derive(Debug, Parser)]
#[command(
    name = "document-migration",
    version,
    after_help = "Examples:
  document-migration database/migrations/002_add_contract_pii_mapping.sql
  document-migration database/migrations/00{5..8}_*.sql    # several files, in order
  document-migration --pending                             # files the database has not applied
  document-migration --format markdown FILE > pr-comment.md
  document-migration --format github --deny all FILE       # risks as annotations in a workflow
  document-migration --mermaid FILE                        # ER fragment of the tables touched
  document-migration --deny data-loss,table-rewrite FILE   # exit 6 when CI should stop"
)]
struct Args {
    /// Migration files to document, in the order given.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Document the migrations the database has not applied yet, in version order (all
    /// of them when it has no dbkit history).
    #[arg(long, conflicts_with = "files")]
    pending: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,
    /// Output format: text for people, Markdown for a pull-request comment, GitHub
    /// workflow annotations on the risks' lines, JSON for programs (stable; see the
    /// README).
    #[arg(long, value_enum, default_value = "text")]
    format: DocFormat,
    /// Also draw a Mermaid `erDiagram` of the tables touched and their neighbours.
    #[arg(long)]
    mermaid: bool,
    /// Exit with code 6 when one of these risks is found (and not silenced by a
    /// `-- dbkit:allow RISK` comment): names separated by commas, or `all` [default:
    /// `deny` under `[lint]` in the project's `dbkit.toml`].
    #[arg(long, value_name = "RISK", value_delimiter = ',', value_parser = risk_names())]
    deny: Vec<String>,
    /// Document the files even when a statement is a syntax error (listed under "Syntax
    /// Errors"), rather than stopping with an error.
    #[arg(long)]
    keep_going: bool,
    /// Color text output: auto colors only on a terminal and when NO_COLOR is unset.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    color: ColorChoice,
    #[arg(long, env = "NO_COLOR", hide = true, hide_env_values = true)]
    no_color: Option<String>,
}

/// The output formats of this program: the shared ones plus Markdown and GitHub
/// annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DocFormat {
    Text,
    Markdown,
    Github,
    Json,
}

fn risk_names() -> PossibleValuesParser {
    let names = RiskKind::ALL.map(RiskKind::name);
    PossibleValuesParser::new(names.into_iter().chain(["all"]))
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    if args.files.is_empty() && !args.pending {
        Args::command()
            .error(
                ErrorKind::MissingRequiredArgument,
                "pass the migration files to document, or `--pending` for those the database has not applied",
            )
            .exit();
    }
    // Errors are JSON only in JSON mode; Markdown and its colors follow the text rules
    // (the Markdown renderer never colors).
    let format = match args.format {
        DocFormat::Json => Format::Json,
        DocFormat::Text | DocFormat::Markdown | DocFormat::Github => Format::Text,
    };
    let output = OutputArgs {
        format,
        color: args.color,
        no_color: args.no_color.clone(),
    };
    output.init_color();
    run(&args).unwrap_or_else(|e| cli::fail(e, format))
}

fn run(args: &Args) -> Result<ExitCode> {
    let layout = Layout::new(&args.dir.dir);
    let files = if args.pending {
        let (files, database) = pending(&args.connection, &layout)?;
        if files.is_empty() {
            cli::print(|w| match args.format {
                DocFormat::Json => report::json(
                    w,
                    &JsonOutput {
                        files: &[],
                        mermaid: None,
                    },
                ),
                _ => writeln!(w, "No pending migrations on {database}."),
            });
            return Ok(ExitCode::from(exit::OK));
        }
        files
    } else {
        args.files.clone()
    };
    let documented = ddl::document(&layout, &files)?;
    if let Some(error) = documented.syntax_error().filter(|_| !args.keep_going) {
        return Err(error);
    }
    let deny = if args.deny.is_empty() {
        &documented.config.lint.deny
    } else {
        &args.deny
    };
    cli::print(|w| render(w, args, deny, &documented));
    let denied = denied(deny, &documented);
    // The process ends next: freeing a large dump's model and summaries one allocation
    // at a time would only add to the run time.
    std::mem::forget(documented);
    if denied.is_empty() {
        return Ok(ExitCode::from(exit::OK));
    }
    eprintln!(
        "{} denied risks found: {}",
        "error:".red().bold(),
        denied.into_iter().collect::<Vec<_>>().join(", ")
    );
    Ok(ExitCode::from(exit::RISK))
}

fn render(
    w: &mut dyn std::io::Write,
    args: &Args,
    deny: &[String],
    documented: &Documented,
) -> std::io::Result<()> {
    let (schema, touched) = (&documented.schema, &documented.touched);
    match args.format {
        DocFormat::Text => {
            migration::text(w, &documented.summaries)?;
            if args.mermaid {
                writeln!(w)?;
                mermaid::diagram(w, schema, touched)?;
            }
            Ok(())
        }
        DocFormat::Markdown => {
            let diagram = if args.mermaid {
                let mut diagram = Vec::new();
                mermaid::markdown(&mut diagram, schema, touched)?;
                Some(String::from_utf8_lossy(&diagram).into_owned())
            } else {
                None
            };
            let limit = comment::GITHUB_COMMENT_LIMIT;
            comment::markdown(w, &documented.summaries, diagram.as_deref(), limit)
        }
        // Annotations are all a workflow reads here; a diagram would only be log noise.
        DocFormat::Github => {
            let all = deny.iter().any(|name| name == "all");
            report::github::annotations(w, &documented.summaries, |risk| {
                all || deny.iter().any(|name| name == risk.name())
            })
        }
        DocFormat::Json => {
            let mermaid = if args.mermaid {
                let mut diagram = Vec::new();
                mermaid::diagram(&mut diagram, schema, touched)?;
                Some(String::from_utf8_lossy(&diagram).into_owned())
            } else {
                None
            };
            let files = &documented.summaries;
            // serde_json writes token by token: into a buffer of a known type each token is
            // a copy rather than a call through `dyn Write` (a dump's JSON has millions).
            let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
            serde_json::to_writer_pretty(&mut w, &JsonOutput { files, mermaid })?;
            writeln!(w)?;
            w.flush()
        }
    }
}

/// `--format json`: the summaries in field order, and the diagram with `--mermaid`.
#[derive(serde::Serialize)]
struct JsonOutput<'a> {
    files: &'a [FileSummary],
    #[serde(skip_serializing_if = "Option::is_none")]
    mermaid: Option<String>,
}

/// The catalog's migrations whose version the database has not recorded, in version
/// order, and the database as shown to people.
fn pending(connection: &ConnectionArgs, layout: &Layout) -> Result<(Vec<PathBuf>, String)> {
    let catalog = layout.catalog()?;
    let mut target = connection.connect(layout)?;
    if let Some(note) = &target.local {
        eprintln!("{note}");
    }
    let database = target.settings.masked().to_string();
    let status = status::read(&mut target.client, &catalog, &database)?;
    // Not applied, or failed part-way outside a transaction: both still to come.
    let files = status
        .to_apply()
        .filter_map(|m| catalog.migration(m.version))
        .map(|m| m.file.path.clone())
        .collect();
    Ok((files, database))
}

/// The names of the denied risks found (not allowed in the file), each once.
fn denied(deny: &[String], documented: &Documented) -> BTreeSet<&'static str> {
    let all = deny.iter().any(|name| name == "all");
    documented
        .summaries
        .iter()
        .flat_map(|s| &s.risks)
        .filter(|r| !r.allowed && (all || deny.iter().any(|name| name == r.risk.name())))
        .map(|r| r.risk.name())
        .collect()
}
