//! `local-db`: manage the local PostgreSQL dbkit runs under `.dbkit/` (or, when the
//! server's user cannot enter the project, in a folder of its own under `/var/tmp`) when
//! no DATABASE_URL is configured. It reads the project's `.env` files as every program
//! does: they may set `DBKIT_PG_BINDIR` (which PostgreSQL runs the cluster), and when
//! they (or the environment) set a DATABASE_URL it says that the other programs use
//! that database, not this server.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dbkit::cli::{self, DirArgs, Format, OutputArgs, LOCAL_DATABASE};
use dbkit::pg::cluster::ClusterState;
use dbkit::project::layout::Layout;
use dbkit::report::exit;
use dbkit::Result;

/// Manage the local PostgreSQL under `.dbkit/` (Unix socket only, trust auth).
#[derive(Debug, Parser)]
#[command(
    name = "local-db",
    version,
    after_help = "Examples:
  local-db start             # create on first use, start, print the connection string
  psql \"$(local-db url)\"     # connect with psql
  local-db status --format json
  local-db stop"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    dir: DirArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create (first time) and start the server, and create the `dbkit` database.
    Start,
    /// Stop the server (fast shutdown).
    Stop,
    /// Say whether the server exists and runs; exit 3 when it is not running.
    Status,
    /// Print the connection string of the `dbkit` database.
    Url,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    args.output.init_color();
    run(&args).unwrap_or_else(|e| cli::fail(e, args.output.format))
}

fn run(args: &Args) -> Result<ExitCode> {
    let layout = Layout::new(&args.dir.dir);
    let cluster = cli::project_cluster(&layout)?;
    let url = cluster.conninfo(LOCAL_DATABASE);
    let place = cli::cluster_place(&cluster, &layout);
    let elsewhere = cli::configured_database();
    if let Some((variable, url)) = &elsewhere {
        let url = url.as_deref().map_or(String::new(), |u| format!(" ({u})"));
        cli::notice(&format!(
            "{variable} is set{url}: the other programs use that database, not this local server"
        ));
    }
    let (state, message) = match args.command {
        Command::Start => {
            let (_, note) = cli::local_cluster(&layout)?;
            (ClusterState::Running, note)
        }
        Command::Stop => {
            let was_running = cluster.stop()?;
            let note = if was_running {
                "stopped"
            } else {
                "was not running"
            };
            (
                cluster.state()?,
                format!("local PostgreSQL in {place} {note}"),
            )
        }
        Command::Status => {
            let state = cluster.state()?;
            let words = match state {
                ClusterState::Running => "running",
                ClusterState::Stopped => "stopped (`local-db start` starts it)",
                ClusterState::NotCreated => "not created yet (`local-db start` creates it)",
            };
            (state, format!("local PostgreSQL in {place}: {words}"))
        }
        Command::Url => (cluster.state()?, String::new()),
    };
    cli::print(|w| match args.output.format {
        Format::Json => dbkit::report::json(
            w,
            &serde_json::json!({
                "state": state,
                "url": url,
                "dir": cli::relative_to_cwd(cluster.dir.clone()),
                "in_use": elsewhere.is_none(),
            }),
        ),
        Format::Text if message.is_empty() => writeln!(w, "{url}"),
        Format::Text => writeln!(w, "{message}\n{url}"),
    });
    let stopped = matches!(args.command, Command::Status) && state != ClusterState::Running;
    Ok(ExitCode::from(if stopped {
        exit::PENDING
    } else {
        exit::OK
    }))
}
