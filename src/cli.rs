//! The programs' shared front end: the flags every program takes (connection, database
//! folder, output, the guard, the lock wait), reading `.env` files, switching colors,
//! choosing the database (a URL, or the local cluster when none is configured) and
//! printing errors with their hints; `show` runs the long work several programs share
//! with its progress shown. This is the binaries' side of the library: it reads the
//! environment and writes to the terminal, which the rest of the library never does.
#![allow(clippy::print_stderr)]

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::error::{Error, Result};
use crate::pg::cluster::{self, Cluster, Started};
use crate::pg::connect::ConnectOptions;
use crate::project::env;
use crate::project::layout::Layout;
use crate::project::settings::ConnectionSettings;

pub mod show;

/// Where the database is and how to reach it.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Database URL (`postgres://user:pass@host/db?sslmode=require`) or conninfo
    /// (`host=/run/postgresql dbname=app`). Falls back to DATABASE_URL, then
    /// SUPABASE_DB_URL (environment, else the project's `.env.local` or `.env`); with
    /// none, dbkit uses a local PostgreSQL it runs itself under `.dbkit/` in the project.
    #[arg(
        short = 'D',
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    #[arg(long, env = "SUPABASE_DB_URL", hide = true, hide_env_values = true)]
    pub supabase_db_url: Option<String>,

    /// Give up a connection attempt after this many seconds [default: the URL's
    /// `connect_timeout`, else 10].
    #[arg(long, value_name = "SECS")]
    pub connect_timeout: Option<u64>,

    /// Wait up to this many seconds for a server that is starting or not yet accepting
    /// connections.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub wait: u64,

    #[arg(long, env = "USER", hide = true, hide_env_values = true)]
    pub os_user: Option<String>,
}

/// Which database folder.
#[derive(Debug, Clone, Args)]
pub struct DirArgs {
    /// The database folder (snapshots in `versions/`, migrations in `migrations/`)
    /// [default: `database` in the current folder or the nearest parent that has one].
    #[arg(
        long,
        value_name = "PATH",
        default_value_os_t = default_dir(),
        hide_default_value = true,
        global = true
    )]
    pub dir: PathBuf,
}

/// The `database/` folder of the project the current folder is in (so a program run from
/// `database/migrations` finds it), else `database` (which then does not exist, and says
/// so).
fn default_dir() -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| env::project_root(&cwd, None))
        .map_or_else(
            || PathBuf::from(env::DATABASE_DIR),
            |root| relative_to_cwd(root.join(env::DATABASE_DIR)),
        )
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// When to color.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How long a program waits for dbkit's migration lock, which every program that changes
/// a schema or loads data into one takes (apply-schema, reset, create-phase-snapshot,
/// load-test-data).
#[derive(Debug, Clone, Args)]
pub struct LockArgs {
    /// Wait up to this many seconds for dbkit's migration lock while another run holds
    /// it (saying who holds it), then give up.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = crate::pg::lock::DEFAULT_TIMEOUT.as_secs()
    )]
    pub lock_timeout: u64,
}

impl LockArgs {
    /// The wait, as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.lock_timeout)
    }
}

/// The guard's refusals (see `ops::guard`): a database that is not on this machine or is
/// marked as production, unless named. For programs that never ask; [`GuardArgs`] adds
/// the question and `--yes`.
#[derive(Debug, Clone, Args)]
pub struct SafetyArgs {
    /// Go ahead on a database that is not on this machine, is marked as production or
    /// (reset) has no dbkit history, naming it: `--confirm-database app_staging`.
    #[arg(long, value_name = "NAME")]
    pub confirm_database: Option<String>,

    #[arg(long, env = "DBKIT_ENV", hide = true, hide_env_values = true)]
    pub environment: Option<String>,
}

impl SafetyArgs {
    /// Refuses `action` on the target unless it meets `requirement` (or was named).
    pub fn check(
        &self,
        action: &str,
        target: &mut Target,
        requirement: crate::ops::guard::Requirement,
    ) -> Result<()> {
        let mark = crate::ops::guard::database_mark(&mut target.client, target.settings.masked())?;
        crate::ops::guard::check(
            action,
            &target.settings,
            requirement,
            mark.as_deref(),
            self.environment.as_deref(),
            self.confirm_database.as_deref(),
        )
    }

    /// The checks that need no connection (the host, `DBKIT_ENV`), made before
    /// connecting, so a remote database is never even reached. `dbname` is the database
    /// acted on when it is not the configured one (`restore --into`).
    pub fn precheck(
        &self,
        action: &str,
        connection: &ConnectionArgs,
        dbname: Option<&str>,
        requirement: crate::ops::guard::Requirement,
    ) -> Result<()> {
        let Some(url) = connection.url() else {
            return Ok(()); // the local cluster is on this machine
        };
        let mut settings = ConnectionSettings::parse(url, connection.os_user.as_deref())?;
        if let Some(name) = dbname {
            settings = settings.with_dbname(name);
        }
        crate::ops::guard::check(
            action,
            &settings,
            requirement,
            None,
            self.environment.as_deref(),
            self.confirm_database.as_deref(),
        )
    }
}

/// The guard on destructive development operations: [`SafetyArgs`]'s refusals, then a
/// question before acting, which `--yes` answers.
#[derive(Debug, Clone, Args)]
pub struct GuardArgs {
    #[command(flatten)]
    pub safety: SafetyArgs,

    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// A guard is its refusals plus the question: `guard.check(..)` and
/// `guard.confirm_database` read through to them, as they did before `--yes` was split
/// off for programs that never ask.
impl std::ops::Deref for GuardArgs {
    type Target = SafetyArgs;

    fn deref(&self) -> &SafetyArgs {
        &self.safety
    }
}

impl GuardArgs {
    /// Asks `question` on the terminal unless `--yes`; refuses without `--yes` when
    /// stdin is not a terminal. Returns whether to go ahead.
    pub fn confirm(&self, question: &str) -> Result<bool> {
        if self.yes {
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(format!(
                "{question}: stdin is not a terminal, so dbkit cannot ask; pass `--yes` to go ahead"
            )));
        }
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        crate::pg::interrupt::prompting(true);
        let read = std::io::stdin().read_line(&mut answer);
        crate::pg::interrupt::prompting(false);
        read.map_err(|source| Error::Io {
            path: PathBuf::from("<stdin>"),
            source,
        })?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }
}

/// How to show results.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format: text for people, JSON for programs (stable; see the README).
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub format: Format,

    /// Color text output: auto colors only on a terminal and when NO_COLOR is unset.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        value_name = "WHEN",
        global = true
    )]
    pub color: ColorChoice,

    #[arg(long, env = "NO_COLOR", hide = true, hide_env_values = true)]
    pub no_color: Option<String>,
}

impl OutputArgs {
    /// Switches colors on or off for the whole process.
    pub fn init_color(&self) {
        let on = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                self.format == Format::Text
                    && std::io::stdout().is_terminal()
                    && self.no_color.as_deref().is_none_or(str::is_empty)
            }
        };
        colored::control::set_override(on);
    }
}

/// Reads the project's `.env.local` then `.env` into the environment (values already set
/// win). Call before parsing arguments, so `env = "DATABASE_URL"` sees them.
///
/// The project root is the parent of `--dir` when it is given (found by a look at the
/// raw arguments, since clap has not run yet), else the nearest of the current folder
/// and its parents that holds `database/`, else the current folder. Parent folders are
/// never searched: a `.env` at a monorepo's root or in the home folder is someone
/// else's. A missing file is silent and an unreadable one a warning; a line that cannot
/// be parsed ends the program (exit 1) naming the file and line but not showing the
/// line, since it may hold a password.
pub fn load_env_files() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let root =
        env::project_root(&cwd, raw_flag(&args, "--dir").as_deref().map(Path::new)).unwrap_or(cwd);
    for name in env::ENV_FILES {
        match env::read_env_file(&relative_to_cwd(root.join(name))) {
            Ok(vars) => {
                for (key, value) in vars.into_iter().flatten() {
                    if std::env::var_os(&key).is_none() {
                        std::env::set_var(key, value);
                    }
                }
            }
            Err(e @ Error::Io { .. }) => warn(&format!("{}; going on without it", chain(&e))),
            Err(e) => {
                let json = raw_flag(&args, "--format").is_some_and(|f| f == "json");
                let code = e.exit_code();
                fail(e, if json { Format::Json } else { Format::Text });
                std::process::exit(i32::from(code));
            }
        }
    }
}

/// The value of `--flag VALUE` or `--flag=VALUE` in raw arguments (before `--`).
fn raw_flag(args: &[OsString], flag: &str) -> Option<OsString> {
    let prefix = format!("{flag}=");
    let mut args = args.iter().take_while(|a| *a != "--");
    while let Some(arg) = args.next() {
        if arg == flag {
            return args.next().cloned();
        }
        if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix(&prefix)) {
            return Some(OsString::from(value));
        }
    }
    None
}

/// Prints a warning on stderr.
pub fn warn(message: &str) {
    use colored::Colorize;
    crate::report::progress::suspended(|| {
        eprintln!("{} {message}", "warning:".yellow().bold());
    });
}

/// The database the programs use instead of the local cluster, when one is configured
/// (`DATABASE_URL`, else `SUPABASE_DB_URL`, from the environment or the project's `.env`
/// files): the variable, and the URL with its password masked (or the variable alone
/// when the URL does not parse).
pub fn configured_database() -> Option<(&'static str, Option<String>)> {
    ["DATABASE_URL", "SUPABASE_DB_URL"]
        .into_iter()
        .find_map(|name| {
            let url = std::env::var(name).ok().filter(|u| !u.trim().is_empty())?;
            let masked = ConnectionSettings::parse(&url, None)
                .ok()
                .map(|s| s.masked().to_string());
            Some((name, masked))
        })
}

/// The database to work on, connected.
pub struct Target {
    pub settings: ConnectionSettings,
    pub client: postgres::Client,
    /// Set when dbkit chose its local cluster: what it did, for one line of output.
    pub local: Option<String>,
}

/// The name of the database dbkit creates in its local cluster.
pub const LOCAL_DATABASE: &str = "dbkit";

impl ConnectionArgs {
    fn options(&self, settings: &ConnectionSettings) -> ConnectOptions {
        let from_url = settings.config.get_connect_timeout().copied();
        ConnectOptions {
            timeout: self
                .connect_timeout
                .map(|secs| Duration::from_secs(secs.max(1)))
                .or(from_url)
                .unwrap_or(Duration::from_secs(10)),
            wait: Duration::from_secs(self.wait),
        }
    }

    /// The configured URL (`-D`, DATABASE_URL, SUPABASE_DB_URL), if any.
    pub fn url(&self) -> Option<&str> {
        self.database_url
            .as_deref()
            .or(self.supabase_db_url.as_deref())
            .filter(|u| !u.trim().is_empty())
    }

    /// Connects to the configured database, or to the local cluster when none is
    /// configured (starting it, and creating it on first use).
    pub fn connect(&self, layout: &Layout) -> Result<Target> {
        let url = self.url();
        let (settings, local) = match url {
            Some(url) => (
                ConnectionSettings::parse(url, self.os_user.as_deref())?,
                None,
            ),
            None => {
                let (settings, note) = local_cluster(layout)?;
                (settings, Some(note))
            }
        };
        let options = self.options(&settings);
        let mut settings = settings;
        // Child programs (pg_dump, psql) read the timeout from the settings too.
        settings.config.connect_timeout(options.timeout);
        let client = crate::pg::connect::connect(&settings, options)?;
        Ok(Target {
            settings,
            client,
            local,
        })
    }
}

impl ConnectionArgs {
    /// Which database the configured target is, without connecting or starting
    /// anything: for work that only needs to know whose files to look at (`backup
    /// --list`, `backup --dry-run`).
    pub fn settings(&self, layout: &Layout) -> Result<ConnectionSettings> {
        match self.url() {
            Some(url) => ConnectionSettings::parse(url, self.os_user.as_deref()),
            None => {
                ConnectionSettings::parse(&project_cluster(layout)?.conninfo(LOCAL_DATABASE), None)
            }
        }
    }

    /// Like [`ConnectionArgs::connect`], and says on stderr when dbkit chose its local
    /// cluster (no URL configured) and what it did to it.
    pub fn open(&self, layout: &Layout) -> Result<Target> {
        let target = self.connect(layout)?;
        if let Some(note) = &target.local {
            eprintln!("{note}");
        }
        Ok(target)
    }
}

impl ConnectionArgs {
    /// Creates the configured database when it does not exist (see `pg::create`); with
    /// no URL configured, the local cluster's database (starting the cluster).
    pub fn create_database(
        &self,
        layout: &Layout,
        options: &crate::pg::create::CreateOptions,
    ) -> Result<crate::pg::create::Created> {
        let mut settings = match self.url() {
            Some(url) => ConnectionSettings::parse(url, self.os_user.as_deref())?,
            None => {
                let cluster = project_cluster(layout)?;
                cluster.ensure_running()?;
                ConnectionSettings::parse(&cluster.conninfo(LOCAL_DATABASE), None)?
            }
        };
        let connect = self.options(&settings);
        settings.config.connect_timeout(connect.timeout);
        crate::pg::create::ensure(&settings, options, connect)
    }
}

/// The project's local cluster, running, with its database created.
pub fn local_cluster(layout: &Layout) -> Result<(ConnectionSettings, String)> {
    let cluster = project_cluster(layout)?;
    let started = cluster.ensure_running()?;
    let settings = ConnectionSettings::parse(&cluster.conninfo(LOCAL_DATABASE), None)?;
    cluster::ensure_database(&settings, LOCAL_DATABASE)?;
    let what = match started {
        Started::Created => "created and started",
        Started::Started => "started",
        Started::Reused => "running",
    };
    let note = format!(
        "No DATABASE_URL set: using the local PostgreSQL in {} ({what}), database `{LOCAL_DATABASE}`",
        cluster_place(&cluster, layout)
    );
    Ok((settings, note))
}

/// The project's cluster: under `.dbkit/` in the project that holds the database folder,
/// or, when dbkit runs as root and the server's user cannot enter the project, in a
/// folder of its own under `/var/tmp` (see `pg::home`).
pub fn project_cluster(layout: &Layout) -> Result<Cluster> {
    let bindir = finder().server_bindir()?;
    let run_as = cluster::default_run_as();
    let base = Path::new("/var/tmp");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = crate::pg::home::cluster_home(&layout.project_root(), run_as.as_deref(), &base)?;
    Ok(Cluster {
        dir,
        bindir,
        port: cluster::PORT,
        run_as,
        throwaway: false,
        settings: Vec::new(),
    })
}

/// Where the project's cluster is, for people: `` `.dbkit` `` when it is in the current
/// folder, and why when it is outside the project.
pub fn cluster_place(cluster: &Cluster, layout: &Layout) -> String {
    let shown = format!("`{}`", relative_to_cwd(cluster.dir.clone()).display());
    let root = layout.project_root();
    match &cluster.run_as {
        Some(user) if !cluster.dir.starts_with(&root) => format!(
            "{shown} (outside the project, because user `{user}`, who runs the server, cannot enter `{}`)",
            root.display()
        ),
        _ => shown,
    }
}

/// Where to find PostgreSQL's programs: only in `DBKIT_PG_BINDIR` when it is set (to
/// pick one of several installed versions), else on PATH and in the usual places.
pub fn finder() -> crate::pg::tools::Finder {
    match std::env::var_os("DBKIT_PG_BINDIR").filter(|d| !d.is_empty()) {
        Some(dir) => crate::pg::tools::Finder {
            path: Some(dir),
            install_roots: Vec::new(),
            install_bins: Vec::new(),
        },
        None => crate::pg::tools::Finder::new(
            std::env::var_os("PATH").or_else(|| Some(OsString::from("/usr/bin:/bin"))),
        ),
    }
}

/// The path relative to the current folder when it is inside it, for people to read.
pub fn relative_to_cwd(path: PathBuf) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(PathBuf::from))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
}

/// Prints an error (its cause chain once, where it happened, then hints) on stderr, and
/// in JSON mode `{"error", "hint", ...}` on stdout too; returns the error's exit code.
pub fn fail(error: Error, format: Format) -> ExitCode {
    // Work stopped by an interrupt fails in whatever way it was stopped; say so, and
    // exit 130 as shells expect.
    let error = crate::pg::interrupt::explain(error, || {
        "stopped by the user; what was running was rolled back".to_string()
    });
    let error = &error;
    if format == Format::Text && matches!(error, Error::SeedFailed { .. }) {
        // The load's progress lines are on stdout: close them with the rolled-back file.
        print(|w| crate::report::seed::failed_file(w, error));
    }
    let _ = crate::report::error::text(&mut std::io::stderr().lock(), error);
    if format == Format::Json {
        print(|w| crate::report::json(w, &crate::report::error::json(error)));
    }
    ExitCode::from(error.exit_code())
}

/// The exit code of a program's run: an error's own (rendered by [`fail`]), or the
/// success code, unless an interrupt came after the work was done: then 130, saying
/// that everything shown was finished, so a script knows the stop it asked for came too
/// late to matter.
pub fn conclude(outcome: Result<ExitCode>, format: Format) -> ExitCode {
    match outcome {
        Err(error) => fail(error, format),
        Ok(_) if crate::pg::interrupt::requested() => {
            notice("the interrupt came after the last step had finished: everything shown above was done");
            ExitCode::from(crate::pg::interrupt::EXIT_CODE)
        }
        Ok(code) => code,
    }
}

/// The error and its causes, each once (see [`crate::report::error::chain`]).
pub fn chain(error: &Error) -> String {
    crate::report::error::chain(error)
}

/// A progress bar for long work: drawn on stderr when it is a terminal, nothing in a
/// pipe or a log file.
pub fn progress_bar(unit: crate::report::progress::Unit) -> crate::report::progress::Bar {
    use std::io::IsTerminal;
    crate::report::progress::Bar::new(unit, std::io::stderr().is_terminal())
}

/// Prints a notice about waiting or stopping on stderr (a program's notice sink), on a
/// line of its own when a progress bar is drawn.
pub fn notice(message: &str) {
    use colored::Colorize;
    crate::report::progress::suspended(|| {
        eprintln!("{} {message}", "note:".cyan().bold());
    });
}

/// Listens for Ctrl-C and SIGTERM: the first cancels the running statement and stops the
/// work (exit 130), the second exits at once. Every program that runs SQL calls this.
pub fn install_interrupts() {
    crate::pg::interrupt::install(notice);
}

/// Set once stdout cannot be written (the reader went away, `| head`; a full disk).
static STDOUT_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes to stdout. When the reader went away (`| head`) or stdout fails otherwise,
/// output stops but the work goes on: a run must not die half-way through a migration
/// because nobody reads its progress, and its exit code stays the work's own.
pub fn print(render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
    use std::sync::atomic::Ordering;
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    // Standard output is line-buffered: a report of many lines would cost a write per
    // line. Each call renders one unit (a report, a progress line), so buffer it whole.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    if let Err(e) = render(&mut out).and_then(|()| out.flush()) {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            warn(&format!("cannot write output ({e}); going on without it"));
        }
    }
}
