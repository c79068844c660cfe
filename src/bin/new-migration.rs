//! `new-migration`: start the next numbered migration file (and its down), or move an
//! unapplied file to the next free number.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use colored::Colorize;
use dbkit::cli::{self, ConnectionArgs, DirArgs, Format, OutputArgs};
use dbkit::project::layout::Layout;
use dbkit::project::scaffold::{self, Move, Shape};
use dbkit::report::{self, exit};
use dbkit::{Error, Result};

/// Start a new migration: the next number in the folder's own style, a header comment
/// saying what goes where, never overwriting a file.
#[derive(Debug, Parser)]
#[command(
    name = "new-migration",
    version,
    after_help = "Examples:
  new-migration \"add user preferences\"          # database/migrations/013_add_user_preferences.sql
  new-migration \"add user preferences\" --down   # and 013_add_user_preferences.down.sql
  new-migration \"backfill\" --no-transaction     # with the marker line
  new-migration --renumber database/migrations/013_other_branch.sql   # two branches both added 013

The number is one above every file in the folder and, when a database is configured
(-D, DATABASE_URL) and answers, every migration its history records."
)]
struct Args {
    /// What the migration does, in words: it becomes the file name (ASCII, lower case).
    #[arg(
        value_name = "DESCRIPTION",
        required_unless_present = "renumber",
        conflicts_with = "renumber"
    )]
    description: Option<String>,
    /// Also start its down: `NNN_name.down.sql` beside it (in a folder of dbmate files,
    /// the `-- migrate:down` section is always there).
    #[arg(long, conflicts_with = "renumber")]
    down: bool,
    /// Mark the file (and its down) to run outside a transaction, for statements such as
    /// `CREATE INDEX CONCURRENTLY`.
    #[arg(long, conflicts_with = "renumber")]
    no_transaction: bool,
    /// Move this unapplied migration (and its down file) to the next free number.
    #[arg(long, value_name = "FILE")]
    renumber: Option<PathBuf>,
    /// Say what would be written or moved; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// What was done, for JSON.
#[derive(serde::Serialize)]
struct Outcome {
    version: u64,
    dry_run: bool,
    created: Vec<String>,
    renumbered: Vec<Renumbered>,
    /// The database whose history was read, when one was.
    history_from: Option<String>,
    warnings: Vec<String>,
}

#[derive(serde::Serialize)]
struct Renumbered {
    from: String,
    to: String,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    args.output.init_color();
    cli::conclude(run(&args), args.output.format)
}

fn run(args: &Args) -> Result<ExitCode> {
    let layout = Layout::new(&args.dir.dir);
    let folder = layout.migrations();
    let named = scaffold::files(&folder)?;
    let mut warnings = Vec::new();
    let (recorded, history_from) = recorded(&args.connection, &layout, &mut warnings);
    if let Some(database) = &history_from {
        warnings.extend(scaffold::ahead_of_folder(&named, &recorded, database));
    }
    let style = scaffold::style(&named)?;
    let version = scaffold::next_version(&style, &named, &recorded);
    let mut outcome = Outcome {
        version,
        dry_run: args.dry_run,
        created: Vec::new(),
        renumbered: Vec::new(),
        history_from,
        warnings,
    };
    match &args.renumber {
        Some(file) => renumber(args, file, &named, &recorded, &mut outcome)?,
        None => {
            let description = args.description.as_deref().unwrap_or_default();
            create(args, &folder, &style, description, &mut outcome)?;
        }
    }
    let text = args.output.format == Format::Text;
    if text {
        for warning in &outcome.warnings {
            cli::warn(warning);
        }
    }
    cli::print(|w| match text {
        true => print(w, args, &outcome),
        false => report::json(w, &outcome),
    });
    Ok(ExitCode::from(exit::OK))
}

/// The versions the configured database has recorded (version → file), when a database
/// is configured and answers; a database that does not answer is a warning, not an
/// error: numbering from the folder is still right for the folder. dbkit's own local
/// cluster is not started for this.
fn recorded(
    connection: &ConnectionArgs,
    layout: &Layout,
    warnings: &mut Vec<String>,
) -> (BTreeMap<u64, String>, Option<String>) {
    if connection.url().is_none() {
        return (BTreeMap::new(), None);
    }
    let mut quick = connection.clone();
    // Starting a file should not hang on a server that is down.
    quick.connect_timeout = quick.connect_timeout.or(Some(3));
    let read = quick.connect(layout).and_then(|mut target| {
        let database = target.settings.masked().to_string();
        let history = dbkit::apply::history::read(&mut target.client, &database)?;
        Ok((history, database))
    });
    match read {
        Ok((history, database)) => {
            let recorded = history
                .map(|h| h.migrations.into_iter().map(|(v, r)| (v, r.file)).collect())
                .unwrap_or_default();
            (recorded, Some(database))
        }
        Err(e) => {
            warnings.push(format!(
                "could not read the history of the configured database ({}): numbered from the folder only",
                cli::chain(&e)
            ));
            (BTreeMap::new(), None)
        }
    }
}

fn create(
    args: &Args,
    folder: &Path,
    style: &scaffold::Style,
    description: &str,
    outcome: &mut Outcome,
) -> Result<()> {
    let slug = scaffold::slug(description, style.word)?;
    let shape = Shape {
        down: args.down || style.up_suffix,
        no_transaction: args.no_transaction,
    };
    let version = outcome.version;
    let (up, down) = scaffold::names(style, version, &slug, shape.down);
    let up_path = folder.join(&up);
    let down_path = down.as_ref().map(|d| folder.join(d));
    let number = scaffold::number(style, version);
    let up_text = scaffold::up_text(&number, style, description.trim(), down.as_deref(), shape);
    let down_text = scaffold::down_text(&up, shape);
    let shown = |p: &Path| cli::relative_to_cwd(p.to_path_buf()).display().to_string();
    if !args.dry_run {
        if !folder.is_dir() {
            std::fs::create_dir_all(folder).map_err(|source| Error::Io {
                path: folder.to_path_buf(),
                source,
            })?;
        }
        // Both names are checked before either is written, so a refusal writes nothing.
        if let Some(taken) = std::iter::once(&up_path)
            .chain(&down_path)
            .find(|p| p.exists())
        {
            return Err(Error::Refused(format!(
                "`{}` already exists: new-migration never overwrites a file",
                shown(taken)
            )));
        }
        scaffold::create(&up_path, &up_text)?;
        if let Some(path) = &down_path {
            if let Err(e) = scaffold::create(path, &down_text) {
                let _ = std::fs::remove_file(&up_path);
                return Err(e);
            }
        }
    }
    outcome.created.push(shown(&up_path));
    outcome.created.extend(down_path.as_deref().map(shown));
    Ok(())
}

fn renumber(
    args: &Args,
    file: &Path,
    named: &[scaffold::Named],
    recorded: &BTreeMap<u64, String>,
    outcome: &mut Outcome,
) -> Result<()> {
    // The next free number among the other files: a file alone at the top stays put.
    let current = scaffold::renumber_moves(named, file, 0)?;
    let others: Vec<scaffold::Named> = named
        .iter()
        .filter(|n| !current.iter().any(|m| m.from == n.path))
        .cloned()
        .collect();
    let style = scaffold::style(named)?;
    let version = scaffold::next_version(&style, &others, recorded);
    let own = named
        .iter()
        .find(|n| n.path == current[0].from)
        .map(|n| n.version);
    let up_name = name_of(&current[0].from);
    if own == Some(version) || own.is_some_and(|v| v > version) {
        outcome.version = own.unwrap_or(version);
        outcome.warnings.push(format!(
            "`{up_name}` already has the highest number and shares it with no other file: nothing to move"
        ));
        return Ok(());
    }
    outcome.version = version;
    let moves = scaffold::renumber_moves(named, file, version)?;
    if let Some((version, _)) = recorded.iter().find(|(_, f)| **f == up_name) {
        let database = outcome.history_from.as_deref().unwrap_or("the database");
        return Err(Error::Refused(format!(
            "`{up_name}` is applied on {database} (recorded as migration {version}): renumbering it would make apply-schema run it again there. Renumber the other file with that number instead"
        )));
    }
    if outcome.history_from.is_none() && args.connection.url().is_none() {
        outcome.warnings.push(format!(
            "no database is configured, so nothing checked that `{up_name}` is unapplied: renumber only a file no database has run"
        ));
    }
    if !args.dry_run {
        scaffold::apply_moves(&moves)?;
    }
    let shown = |p: &Path| cli::relative_to_cwd(p.to_path_buf()).display().to_string();
    outcome.renumbered = moves
        .iter()
        .map(|Move { from, to }| Renumbered {
            from: shown(from),
            to: shown(to),
        })
        .collect();
    Ok(())
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn print(w: &mut dyn std::io::Write, args: &Args, outcome: &Outcome) -> std::io::Result<()> {
    let verb = if args.dry_run {
        "Would create"
    } else {
        "Created"
    };
    for file in &outcome.created {
        writeln!(w, "{} {file}", verb.green().bold())?;
    }
    let verb = if args.dry_run { "Would move" } else { "Moved" };
    for moved in &outcome.renumbered {
        writeln!(w, "{} {} → {}", verb.green().bold(), moved.from, moved.to)?;
    }
    if args.dry_run {
        return writeln!(w, "Dry run: nothing was written.");
    }
    if let Some(up) = outcome.created.first() {
        let down = outcome.created.len() > 1 || up_has_sections(up);
        writeln!(
            w,
            "Next: write the SQL, then `document-migration {up}`{}.",
            if down {
                format!(" and `verify-migrations --from {}`", outcome.version)
            } else {
                String::new()
            }
        )?;
    }
    Ok(())
}

fn up_has_sections(path: &str) -> bool {
    std::fs::read_to_string(path)
        .map(|t| dbkit::project::migrations::sections(&t).down.is_some())
        .unwrap_or(false)
}
