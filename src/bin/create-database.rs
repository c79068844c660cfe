//! `create-database`: create the configured database when it does not exist.

use std::process::ExitCode;

use clap::Parser;
use dbkit::cli::{self, ConnectionArgs, DirArgs, Format, OutputArgs};
use dbkit::pg::create::CreateOptions;
use dbkit::project::layout::Layout;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Create the configured database when it does not exist, owned by the URL's user.
#[derive(Debug, Parser)]
#[command(
    name = "create-database",
    version,
    after_help = "It connects to the `postgres` database of the same server (or `template1`) with the
same credentials, and creates the database from template0. A database that exists is
left alone (exit 0).

Examples:
  create-database                                   # DATABASE_URL, from the environment or .env
  create-database -D postgres://app:secret@localhost/app
  create-database --encoding UTF8 --locale C.UTF-8
  apply-schema --create                             # create when missing, then apply"
)]
struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,
    #[command(flatten)]
    output: OutputArgs,

    /// The new database's encoding [default: the server's, template0's].
    #[arg(long, value_name = "NAME")]
    encoding: Option<String>,
    /// The new database's locale, for collation and character classes [default: the
    /// server's, template0's].
    #[arg(long, value_name = "NAME")]
    locale: Option<String>,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    cli::install_interrupts();
    args.output.init_color();
    cli::conclude(run(&args), args.output.format)
}

fn run(args: &Args) -> Result<ExitCode> {
    let options = CreateOptions {
        encoding: args.encoding.clone(),
        locale: args.locale.clone(),
    };
    let created = args
        .connection
        .create_database(&Layout::new(&args.dir.dir), &options)?;
    cli::print(|w| match args.output.format {
        Format::Text => report::operations::created_database(w, &created),
        Format::Json => report::json(w, &created),
    });
    Ok(ExitCode::from(exit::OK))
}
