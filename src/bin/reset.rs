//! `reset`: drop and recreate a development database's schemas; with `--reapply`, the
//! whole dev loop (reset, apply-schema, load-test-data).

use std::process::ExitCode;

use clap::Parser;
use dbkit::cli::{self, show, ConnectionArgs, DirArgs, Format, GuardArgs, LockArgs, OutputArgs};
use dbkit::ops::guard::{self, Requirement};
use dbkit::ops::{fresh, reset};
use dbkit::project::layout::Layout;
use dbkit::report::{self, exit};
use dbkit::Result;

/// Drop the application schemas and dbkit's history, so the database is as new.
#[derive(Debug, Parser)]
#[command(
    name = "reset",
    version,
    after_help = "Examples:
  reset                                   # asks first; local, non-production databases only
  reset --yes --reapply                   # the dev loop: reset, apply the schema, load test data
  reset --backup-first
  reset --schema public --schema storage
  reset -D postgres://app@staging.example.com/app --confirm-database app"
)]
struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    dir: DirArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    guard: GuardArgs,
    #[command(flatten)]
    lock: LockArgs,

    /// An application schema to drop (repeatable, or `DBKIT_SCHEMAS=a,b`); `public` is
    /// recreated empty, others are left for the migrations to create.
    #[arg(
        long = "schema",
        value_name = "NAME",
        env = "DBKIT_SCHEMAS",
        value_delimiter = ',',
        default_value = "public"
    )]
    schemas: Vec<String>,
    /// Take a backup (plain SQL under `backups/`) before dropping anything.
    #[arg(long)]
    backup_first: bool,
    /// Then apply the schema, load the test data and run the validation checks: the
    /// whole dev loop (exit 5 when a check fails). Where it can, the database is
    /// replaced by a copy of a template built once per content of the database folder
    /// (see the README); the first run builds it.
    #[arg(long)]
    reapply: bool,
    /// With `--reapply`: replay everything instead of copying the template (and make
    /// no copy in the background).
    #[arg(long, requires = "reapply")]
    no_template: bool,
    /// The work a reset leaves for after it has answered (see `fresh::background`):
    /// run by reset itself, detached.
    #[arg(long, hide = true)]
    background: bool,
    /// With `--background`: the replaced database to drop.
    #[arg(long, hide = true, requires = "background")]
    old: Option<String>,
}

fn main() -> ExitCode {
    cli::load_env_files();
    let args = Args::parse();
    cli::install_interrupts();
    args.output.init_color();
    if args.background {
        return background(&args);
    }
    cli::conclude(run(&args), args.output.format)
}

/// `--background`: drops the replaced database and makes the spare copy the next reset
/// puts in place. Says "ready" on stdout once it holds the spare's lock (the reset that
/// started it waits for that, so a reset right after it waits for the copy); prints
/// nothing else: no one reads it.
fn background(args: &Args) -> ExitCode {
    let work = || -> Result<()> {
        let layout = Layout::new(&args.dir.dir);
        let catalog = layout.catalog()?;
        // The target itself is not connected to: it is the user's now.
        let target = args.connection.settings(&layout)?;
        let (mut admin, via) = dbkit::pg::create::maintenance(&target, Default::default())?;
        let server = target.with_dbname(&via);
        let mut ready = || {
            use std::io::Write;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "ready").and_then(|()| out.flush());
        };
        fresh::background(
            &mut admin,
            &server,
            &catalog,
            args.old.as_deref(),
            &mut ready,
            |_| {},
        )
    };
    match work() {
        Ok(()) => ExitCode::from(exit::OK),
        Err(_) => ExitCode::from(exit::ERROR),
    }
}

/// Starts `reset --background` detached (its own process group, so the terminal's
/// Ctrl-C is not its), and waits up to 5 s for it to hold the spare's lock. Returns
/// whether it started.
fn spawn_background(args: &Args, old: Option<&str>) -> bool {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let Ok(exe) = std::env::current_exe() else {
        return false;
    };
    let mut command = Command::new(exe);
    command.arg("--background").arg("--dir").arg(&args.dir.dir);
    if let Some(old) = old {
        command.arg("--old").arg(old);
    }
    if let Some(url) = args.connection.url() {
        command.env("DATABASE_URL", url);
    }
    if let Some(secs) = args.connection.connect_timeout {
        command.arg("--connect-timeout").arg(secs.to_string());
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let Ok(mut child) = command.spawn() else {
        return false;
    };
    let Some(stdout) = child.stdout.take() else {
        return false;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(std::time::Duration::from_secs(5))
        .is_ok_and(|line| line.trim() == "ready")
}

fn run(args: &Args) -> Result<ExitCode> {
    let text = args.output.format == Format::Text;
    let layout = Layout::new(&args.dir.dir);
    // A folder that does not read is found before anything is dropped.
    let catalog = if args.reapply {
        Some(layout.catalog()?)
    } else {
        None
    };
    args.guard.precheck(
        "reset",
        &args.connection,
        None,
        Requirement::LocalDevelopment,
    )?;
    let mut target = args.connection.open(&layout)?;
    let database = target.settings.masked().to_string();
    args.guard
        .check("reset", &mut target, Requirement::LocalDevelopment)?;
    guard::check_managed(
        "reset",
        &mut target.client,
        &target.settings,
        &args.schemas,
        args.guard.confirm_database.as_deref(),
    )?;
    let plan = reset::plan(&mut target.client, &database, &args.schemas)?;
    let question = format!("Reset {database}: drop {}?", plan.describe());
    if !args.guard.confirm(&question)? {
        eprintln!("reset cancelled: nothing was changed");
        return Ok(ExitCode::from(exit::ERROR));
    }
    let backup = match args.backup_first {
        true => Some(show::backup_first(&mut target, &layout, text)?),
        false => None,
    };
    // Whether a copy of the template could have replaced the database: then a replay
    // leaves a spare copy made in the background for the next reset.
    let mut copyable = false;
    if let (Some(catalog), false) = (&catalog, args.no_template) {
        match fresh::obstacle(&mut target.client, &args.schemas, &database)? {
            None => {
                let (mut admin, via) =
                    dbkit::pg::create::maintenance(&target.settings, Default::default())?;
                let server = target.settings.with_dbname(&via);
                let mut found = fresh::existing(&mut admin, &server, catalog, cli::notice)?;
                if found.is_none()
                    && fresh::await_background(&mut admin, &server, catalog, cli::notice)?
                {
                    found = fresh::existing(&mut admin, &server, catalog, cli::notice)?;
                }
                if let Some(ready) = found {
                    if ready.worth_copying()
                        || fresh::spare_coming(&mut admin, catalog, &ready, &server)?
                    {
                        let dbname = target.settings.dbname().to_string();
                        drop(target);
                        return from_template(
                            args,
                            (admin, server),
                            catalog,
                            ready,
                            (&database, &dbname, &plan, backup),
                            text,
                        );
                    }
                    cli::notice(&format!(
                        "replaying: a fresh build takes {} here, less than copying the template does (`DBKIT_TEMPLATE_MIN_MS` sets when a copy is worth it)",
                        report::duration(ready.recorded_build_ms)
                    ));
                }
                copyable = true;
            }
            Some(why) => cli::notice(&format!("replaying instead of copying the template: {why}")),
        }
    }
    let started = std::time::Instant::now();
    let done = reset::reset(&mut target.client, &database, &plan, args.lock.timeout())?;
    if text {
        cli::print(|w| report::operations::reset(w, &database, &plan, &done));
    }
    let rebuilt = match &catalog {
        Some(catalog) => Some(show::rebuild(
            &mut target,
            catalog,
            args.lock.timeout(),
            text,
        )?),
        None => None,
    };
    let replay_ms = started.elapsed().as_secs_f64() * 1000.0;
    // A copy is made in the background, so the next reset puts it in place.
    let mut background = false;
    if let (true, Some(r)) = (copyable, &rebuilt) {
        if r.validation.failed() == 0 {
            background = spawn_background(args, None);
            if text && background {
                cli::print(|w| {
                    writeln!(
                        w,
                        "A copy of this database is being made in the background: the next `reset --reapply` puts it in place instead of replaying ({} now)",
                        report::duration(replay_ms)
                    )
                });
            }
        }
    }
    if !text {
        let (apply, load, validation) = match &rebuilt {
            Some(r) => (Some(&r.apply), Some(&r.load), Some(&r.validation)),
            None => (None, None, None),
        };
        cli::print(|w| {
            report::json(
                w,
                &serde_json::json!({
                    "database": database,
                    "reset": plan,
                    "dropped": done,
                    "backup": backup,
                    "apply": apply,
                    "load": load,
                    "validation": validation,
                    "background_copy": background,
                }),
            )
        });
    }
    Ok(show::checked(rebuilt.as_ref().map(|r| &r.validation)))
}

/// `--reapply` by copying the template: the database dropped and a copy of the
/// template (schema, reference data, fixtures, checks passed) put in its place.
fn from_template(
    args: &Args,
    (mut admin, server): (
        postgres::Client,
        dbkit::project::settings::ConnectionSettings,
    ),
    catalog: &dbkit::project::layout::Catalog,
    ready: fresh::Ready,
    (database, dbname, plan, backup): (
        &str,
        &str,
        &reset::ResetPlan,
        Option<dbkit::ops::backup::Backup>,
    ),
    text: bool,
) -> Result<ExitCode> {
    let replaced = fresh::replace(&mut admin, &server, catalog, ready, dbname, cli::notice)?;
    drop(admin);
    let background = spawn_background(args, Some(&replaced.old));
    if text {
        cli::print(|w| report::operations::from_template(w, database, &replaced));
    } else {
        cli::print(|w| {
            report::json(
                w,
                &serde_json::json!({
                    "database": database,
                    "reset": plan,
                    "backup": backup,
                    "template": replaced,
                    "background_copy": background,
                }),
            )
        });
    }
    Ok(ExitCode::from(exit::OK))
}
