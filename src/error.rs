//! The library's one error type. Each variant carries what a user needs to act on it:
//! the file, the line, the migration, the database (password masked), the command and its
//! stderr. Messages are lower-case with names in backticks; the underlying error sits in
//! `#[source]` and is not repeated in the message. [`Error::hint`] gives the next step,
//! where there is one. Rendering is the binaries' business.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod connect;

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a failing statement was, where it is, and what the server said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatementFailure {
    /// File the statement came from.
    pub file: PathBuf,
    /// 1-based line of the error (the server's position when it gave one, else the
    /// statement's first line).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// SQLSTATE code.
    pub code: String,
    /// The server's primary message.
    pub message: String,
    /// The server's DETAIL, if any.
    pub detail: Option<String>,
    /// The server's HINT, if any.
    pub hint: Option<String>,
    /// The server's CONTEXT (e.g. the PL/pgSQL line), if any.
    pub context: Option<String>,
}

impl std::fmt::Display for StatementFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} (SQLSTATE {})",
            self.file.display(),
            self.line,
            self.column,
            self.message,
            self.code
        )?;
        if let Some(detail) = &self.detail {
            write!(f, "\n  detail: {detail}")?;
        }
        if let Some(context) = &self.context {
            write!(f, "\n  context: {}", context.replace('\n', "\n    "))?;
        }
        Ok(())
    }
}

/// Every way a dbkit operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("cannot access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The database folder (or a required part of it) does not exist.
    #[error("database folder `{}` not found", path.display())]
    MissingDir { path: PathBuf },

    /// A file that should be UTF-8 text is not.
    #[error("`{}` is not valid UTF-8 (first bad byte on line {line})", path.display())]
    NotUtf8 { path: PathBuf, line: usize },

    /// Two migration files share one version.
    #[error("migration `{second}` duplicates version {version} (also `{first}`)")]
    DuplicateVersion {
        version: u64,
        first: String,
        second: String,
    },

    /// A `.sql` file in `migrations/` whose name carries no version number.
    /// A rollback that cannot go ahead, with every reason; nothing was changed.
    #[error("cannot roll back {database}: {}", problems.join("; "))]
    RollbackRefused {
        database: String,
        problems: Vec<String>,
        /// What to do next.
        next: String,
    },

    /// A down failed; the migrations rolled back before it in this run stay rolled back.
    #[error("rolling back `{file}` with `{down}` failed on {database}{}", if rolled_back.is_empty() { String::new() } else { format!(" (rolled back before it in this run: {})", rolled_back.join(", ")) })]
    RollbackFailed {
        version: u64,
        file: String,
        down: String,
        database: String,
        rolled_back: Vec<String>,
        #[source]
        source: Box<Error>,
    },

    /// Two ways back for one migration (two `.down.sql` files, or a file and a
    /// `-- migrate:down` section).
    #[error("down file `{second}` is a second down of version {version} (also `{first}`)")]
    DuplicateDown {
        version: u64,
        first: String,
        second: String,
    },

    #[error("migration file `{}` has no version number", path.display())]
    UnversionedMigration { path: PathBuf },

    /// A `.sql` file in `versions/` whose name is not `vX.Y_name.sql`.
    #[error("snapshot file `{}` is not named `vX.Y_name.sql`", path.display())]
    BadSnapshotName { path: PathBuf },

    /// Two snapshot files share one version.
    #[error("snapshot `{second}` duplicates version {version} (also `{first}`)")]
    DuplicateSnapshot {
        version: String,
        first: String,
        second: String,
    },

    /// A version given on the command line that is neither a migration nor a snapshot.
    #[error("`{given}` is not a version: use a migration number such as `12` or a snapshot version such as `v2.0`")]
    BadVersion { given: String },

    /// A file could not be split into statements.
    #[error("{}:{line}:{column}: {what}", path.display())]
    Split {
        path: PathBuf,
        line: usize,
        column: usize,
        what: String,
    },

    /// A statement that is not valid SQL (document-migration without `--keep-going`).
    #[error("{}:{line}:{column}: syntax error: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// A psql meta-command dbkit cannot run.
    #[error("{}:{line}: psql meta-command `\\{command}` is not supported", path.display())]
    MetaCommand {
        path: PathBuf,
        line: usize,
        command: String,
    },

    /// The connection settings could not be understood.
    #[error("invalid connection settings `{shown}`: {reason}")]
    BadConnection { shown: String, reason: String },

    /// A connection URL whose user name or password holds an unencoded `@`, `#`, `?` or
    /// `/`, so where it ends cannot be told. `shown` masks everything before the last `@`.
    #[error("cannot tell where the user name and password end in `{shown}`: one of them holds an unencoded `@`, `#`, `?` or `/`")]
    UrlNeedsEncoding { shown: String },

    /// Connecting failed.
    #[error("cannot connect to {database}")]
    Connect {
        database: String,
        #[source]
        source: postgres::Error,
    },

    /// A `.env` line that cannot be parsed. Its text is never shown: it may hold a
    /// password.
    #[error("{}:{line}: cannot parse this line{} (not shown, as it may hold a password)", path.display(), key.as_deref().map(|k| format!(" setting `{k}`")).unwrap_or_default())]
    EnvLine {
        path: PathBuf,
        line: usize,
        /// The variable the line sets, when it starts like `KEY=`.
        key: Option<String>,
    },

    /// `dbkit.toml` cannot be read as settings: bad TOML, an unknown key or rule name.
    #[error("{}:{line}: {message}", path.display())]
    Config {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// The TLS connector could not be built (e.g. an unreadable `sslrootcert`).
    #[error("cannot set up TLS for {database}: {reason}")]
    Tls { database: String, reason: String },

    /// A query dbkit itself issues failed.
    #[error("{what} failed on {database}")]
    Query {
        what: String,
        database: String,
        #[source]
        source: postgres::Error,
    },

    /// A statement of a migration, snapshot or validation file failed.
    #[error("{failure}")]
    Statement {
        failure: Box<StatementFailure>,
        /// The migration being applied, e.g. `003_roles.sql`; `None` for a snapshot.
        migration: Option<String>,
        /// The database, password masked.
        database: String,
        /// Files applied in this run before the failure.
        applied_before: Vec<String>,
        /// For a file run outside a transaction: statements that committed before the
        /// failing one and stay applied.
        statements_done: Option<usize>,
    },

    /// The database has objects but no dbkit history.
    #[error("{database} is not empty ({found}) and has no dbkit history")]
    NotEmpty { database: String, found: String },

    /// Applied migration files were edited.
    #[error("{} applied migration(s) changed since they were applied: {}", changed.len(), changed.iter().map(|c| format!("`{}` (recorded {}, now {})", c.file, short(&c.recorded), short(&c.current))).collect::<Vec<_>>().join(", "))]
    ChecksumMismatch { changed: Vec<ChangedMigration> },

    /// A migration run outside a transaction failed part-way in an earlier run, or that
    /// run ended in the middle of it (`cut_off`: killed, disconnected) without saying how.
    #[error("{}", failed_earlier(file, when, *statements_done, *line, message, *cut_off))]
    FailedEarlier {
        file: String,
        version: u64,
        when: String,
        /// Unknown for a down killed part-way (its statements are not counted).
        statements_done: Option<usize>,
        line: usize,
        message: String,
        cut_off: bool,
    },

    /// Pending files with the content of applied migrations under other versions:
    /// `(new file, its version, old file, the old file is gone)`.
    #[error("{}", files.iter().map(|(new, _, old, gone)| if *gone { format!("`{new}` has the same content as `{old}`, which was applied and whose file is gone: renamed from it?") } else { format!("`{new}` has the same content as `{old}`, which was applied: a copy of it?") }).collect::<Vec<_>>().join("; "))]
    Renamed {
        files: Vec<(String, u64, String, bool)>,
    },

    /// Pending migrations older than the newest applied one.
    #[error("migration(s) {} are older than the newest applied migration {newest}", files.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "))]
    OutOfOrder { files: Vec<String>, newest: u64 },

    /// Another run holds the migration lock.
    #[error("another dbkit run holds the migration lock on {database} (waited {}s{})", waited.as_secs(), holder.as_deref().map(|h| format!("; held by {h}")).unwrap_or_default())]
    LockTimeout {
        database: String,
        waited: Duration,
        holder: Option<String>,
    },

    /// A version named on the command line does not exist.
    #[error("no {what} with version `{version}` in `{}`", dir.display())]
    UnknownVersion {
        what: &'static str,
        version: String,
        dir: PathBuf,
    },

    /// The folder has neither snapshots nor migrations.
    #[error("nothing to apply: `{}` has no snapshots in `versions/` and no migrations in `migrations/`", dir.display())]
    NothingToApply { dir: PathBuf },

    /// A PostgreSQL program could not be found.
    #[error("`{tool}` not found (looked in {searched})")]
    MissingTool { tool: String, searched: String },

    /// Options that contradict each other or the database's state: the command line
    /// must change (exit code 2).
    #[error("{0}")]
    Usage(String),

    /// Input dbkit will not work with (an incomplete backup, a folder that is not a
    /// backup, a server it cannot verify on); the message says why.
    #[error("{0}")]
    Refused(String),

    /// A child process failed.
    #[error("`{command}` failed ({status}){}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Command {
        command: String,
        status: String,
        stderr: String,
    },

    /// A child process could not be started.
    #[error("cannot run `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    /// Every copy of a client program found is older than the server.
    #[error("`{tool}` is older than the server (PostgreSQL {server}); found {found}")]
    ToolTooOld {
        tool: String,
        found: String,
        server: String,
        server_major: u32,
    },

    /// A snapshot version that cannot be cut: it exists, or is not the newest.
    #[error("cannot create snapshot {version}: {reason}")]
    SnapshotRefused { version: String, reason: String },

    /// The database is not up to date with the migrations folder, and the work asked for
    /// (cutting a snapshot of it, loading seed data into it) needs it to be.
    #[error("{database} is not up to date with `{}`: {}", dir.display(), problems.join("; "))]
    NotUpToDate {
        database: String,
        dir: PathBuf,
        problems: Vec<String>,
        purpose: Purpose,
    },

    /// A new snapshot did not reproduce its source when loaded.
    #[error("snapshot {version} does not reproduce {database}: {}; the rejected snapshot is kept at `{}`", differences.join("; "), kept.display())]
    SnapshotMismatch {
        version: String,
        database: String,
        differences: Vec<String>,
        kept: PathBuf,
    },

    /// A new snapshot failed to load into a throwaway database.
    #[error("snapshot {version} does not load into an empty database (the rejected snapshot is kept at `{}`)", kept.display())]
    SnapshotDoesNotLoad {
        version: String,
        kept: PathBuf,
        #[source]
        source: Box<Error>,
    },

    /// The files did not build in a throwaway database (check-drift's replay,
    /// `create-phase-snapshot --from-migrations`): the build's own error is the source.
    #[error("the files do not build: replaying them into a throwaway database failed")]
    FilesDoNotBuild {
        #[source]
        source: Box<Error>,
    },

    /// A destructive development operation was refused for this database.
    #[error("refusing to {action} {database}: {reason}")]
    Guarded {
        action: String,
        database: String,
        dbname: String,
        reason: String,
    },

    /// The backup a program takes before changing a database (`--backup-first`)
    /// failed, so it changed nothing.
    #[error("the backup of {database} taken first failed, so nothing was changed")]
    BackupFirstFailed {
        database: String,
        #[source]
        source: Box<Error>,
    },

    /// A destructive operation refused on a database dbkit has no history in, which
    /// holds objects someone else may have made.
    #[error("refusing to {action} {database}: it has no dbkit history and holds {holds}")]
    Unmanaged {
        action: String,
        database: String,
        dbname: String,
        /// What it holds: schemas, tables, an estimate of their rows.
        holds: String,
    },

    /// `CREATE DATABASE` failed (no right to create databases, an encoding the locale
    /// does not allow, ...).
    #[error("cannot create database `{name}` on {database}")]
    CreateDatabase {
        database: String,
        name: String,
        #[source]
        source: postgres::Error,
    },

    /// A restore target that already holds objects.
    #[error("{database} is not empty ({found}); a restore needs an empty database")]
    RestoreTargetNotEmpty { database: String, found: String },

    /// Tables `restore --table` would restore into that already hold rows.
    #[error("{} in {database} already {} rows; `--table` restores only into empty tables unless told to replace", list(tables, "table"), if tables.len() == 1 { "holds" } else { "hold" })]
    RestoreTablesNotEmpty {
        database: String,
        tables: Vec<String>,
    },

    /// Tables `restore --table` named that the backup holds no rows of.
    #[error("backup `{}` holds no {}", path.display(), list(tables, "table"))]
    TableNotInBackup { path: PathBuf, tables: Vec<String> },

    /// The local cluster is in a state dbkit cannot use.
    #[error("local PostgreSQL under `{}`: {reason}", dir.display())]
    Cluster { dir: PathBuf, reason: String },

    /// The user interrupted the work (Ctrl-C, SIGTERM); `what` says what stopped and
    /// what state it leaves. `source` is an error that was not the interrupt's own doing.
    #[error("interrupted: {what}")]
    Interrupted {
        what: String,
        /// A migration left recorded as failed part-way (a file run outside a
        /// transaction), which the next run refuses until told what to do.
        failed_version: Option<u64>,
        #[source]
        source: Option<Box<Error>>,
    },

    /// A seed file holds a statement that cannot run inside a transaction.
    #[error("seed file `{}` cannot be loaded in one transaction: {reason}", path.display())]
    SeedNotTransactional { path: PathBuf, reason: String },

    /// A statement or `COPY` row of a seed file failed; that file was rolled back.
    #[error("{failure}")]
    SeedFailed {
        failure: Box<StatementFailure>,
        /// The database, password masked.
        database: String,
        /// Seed files loaded (and committed) in this run before the failing one, e.g.
        /// `reference/01_types.sql`.
        loaded_before: Vec<String>,
    },

    /// An `-- expect:` line of a validation check that is not in the grammar.
    #[error("{}:{line}: unknown expectation `{given}`", path.display())]
    BadExpectation {
        path: PathBuf,
        line: usize,
        given: String,
    },

    /// A draw.io file `er-diagram --update` cannot read or update; `line` is where.
    #[error("{}:{line}: {reason}", path.display())]
    Diagram {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// A template database was not made: what it would hold is not right.
    #[error("{reason}")]
    TemplateRefused { reason: String },

    /// check-drift cannot compare: the files cannot say what the database should hold.
    #[error("{reason}")]
    DriftRefused { reason: String },

    /// The SQL check-drift wrote does not do what it should: replayed, it leaves these
    /// differences. Nothing was written or changed.
    #[error("{what} does not close the drift{}: {}", if *rolled_back { " (rolled back: nothing was changed)" } else { "; nothing was written" }, differences.iter().map(|d| format!("\n  {d}")).collect::<String>())]
    DriftUnclosed {
        what: String,
        differences: Vec<String>,
        rolled_back: bool,
    },

    /// Several problems found in one pass over a folder (duplicate versions, files
    /// without a version, ...), one line each, so all of them can be fixed at once.
    #[error("{} problems in `{}`:{}", problems.len(), dir.display(), problems.iter().map(|p| format!("\n  {p}")).collect::<String>())]
    Problems { dir: PathBuf, problems: Vec<Error> },
}

/// What needed an up-to-date database, for the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// create-phase-snapshot's source.
    Snapshot,
    /// load-test-data's target.
    Seed,
}

/// An applied migration whose file no longer matches its recorded checksum.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangedMigration {
    pub version: u64,
    pub file: String,
    pub recorded: String,
    pub current: String,
}

fn failed_earlier(
    file: &str,
    when: &str,
    done: Option<usize>,
    line: usize,
    message: &str,
    cut_off: bool,
) -> String {
    // A down that ran outside a transaction (its message says so) leaves the migration
    // half rolled back, not half applied.
    if message.starts_with("rollback with `") {
        return match done {
            Some(done) => format!("migration `{file}` is half rolled back: {done} statement(s) of its down committed, then line {line}: {message}"),
            None => format!("migration `{file}` is half rolled back: {message} (killed or disconnected), and how many of its statements committed is not known"),
        };
    }
    let done = done.unwrap_or(0);
    if cut_off {
        format!("migration `{file}` was started on {when} outside a transaction and its run ended part-way (killed or disconnected): {done} statement(s) committed and stay applied")
    } else {
        format!("migration `{file}` failed part-way on {when}: {done} statement(s) committed, then line {line}: {message}")
    }
}

/// `` table `a` `` or `` tables `a`, `b` ``.
fn list(names: &[String], noun: &str) -> String {
    let plural = if names.len() == 1 { "" } else { "s" };
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("{noun}{plural} {}", names.join(", "))
}

fn short(checksum: &str) -> &str {
    &checksum[..checksum.len().min(12)]
}

impl Error {
    /// The process exit code for this error (see the README's table): 2 for bad usage,
    /// 130 for an interrupt, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            // A version named on the command line that the folder does not have.
            Error::Usage(_) | Error::UnknownVersion { .. } | Error::BadVersion { .. } => 2,
            Error::Interrupted { .. } => crate::pg::interrupt::EXIT_CODE,
            Error::BackupFirstFailed { source, .. } => source.exit_code(),
            _ => 1,
        }
    }

    /// Nothing when there are no problems, the problem itself when there is one, and
    /// [`Error::Problems`] under `dir` when there are more.
    pub fn from_problems(dir: &Path, mut problems: Vec<Error>) -> Result<()> {
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(Error::Problems {
                dir: dir.to_path_buf(),
                problems,
            }),
        }
    }

    /// The next step for the user, where there is one.
    pub fn hint(&self) -> Option<String> {
        const OUT_OF_LOCKS: &str = "\"out of shared memory\" here means the server's lock table is full: one transaction (or one statement, such as a foreign key on a table with thousands of partitions) needs more locks than `max_locks_per_transaction` × `max_connections` hold; raise `max_locks_per_transaction` (it takes a server restart) and run again";
        let hint = match self {
            Error::DriftRefused { .. } => {
                "`check-drift --against URL` compares two databases without the files".into()
            }
            Error::DriftUnclosed { .. } => {
                "the differences above are what dbkit cannot write yet; write those statements by hand (the report shows both definitions)".into()
            }
            Error::Diagram { path, .. } => format!(
                "the file was left as it was; to draw a new one instead, move it away and run `er-diagram --format drawio -o {}`",
                path.display()
            ),
            Error::MissingDir { .. } => {
                "run from the project root, or pass `--dir PATH` to the database folder".into()
            }
            Error::DuplicateVersion { .. } => {
                "a version is used by exactly one migration: `new-migration --renumber FILE` moves the one no database has applied to the next free number".into()
            }
            Error::RollbackRefused { next, .. } => next.clone(),
            Error::RollbackFailed {
                version,
                file,
                source,
                ..
            } if committed(source).is_some() => {
                let n = committed(source).unwrap_or_default();
                format!(
                "this down runs outside a transaction and {n} of its statement(s) committed, so `{file}` is half rolled back and recorded as failed: finish the down by hand and `apply-schema --retry-failed` applies it again, or undo those statements and `apply-schema --mark-applied {version}` records it as applied"
            )
            }
            Error::RollbackFailed { file, .. } => format!(
                "the failing down was undone, so `{file}` stays applied; fix the down and run rollback again"
            ),
            Error::DuplicateDown { .. } => {
                "a migration has one way back: keep one `.down.sql` file (or one `-- migrate:down` section) per version".into()
            }
            Error::UnversionedMigration { .. } => {
                "prefix the file name with its version, e.g. `013_add_index.sql`, or move it out of `migrations/`".into()
            }
            Error::Connect { database, source } => connect::hint(database, source),
            Error::UrlNeedsEncoding { .. } => connect::ENCODE_HINT.into(),
            Error::Syntax { .. } => {
                "fix the statement, or pass `--keep-going` to list syntax errors and document the rest".into()
            }
            Error::BadConnection { .. } => {
                "write a URL as `postgres://USER:PASSWORD@HOST:5432/DBNAME?sslmode=require` (percent-encode `@`, `#`, `?`, `/` and `%` in the password: `@` is `%40`) or a conninfo string as `host=HOST dbname=DBNAME user=USER`".into()
            }
            Error::Config { .. } => {
                "`dbkit.toml` takes `[lint]` with `enable = [...]` (preference rules) and `deny = [...]` (risk names or \"all\"); see the README".into()
            }
            Error::EnvLine { .. } => {
                "write each line as `KEY=value`; quote a value that holds spaces (`KEY='a b'`), close every quote, and start comments with `#`".into()
            }
            Error::Statement {
                statements_done: Some(n),
                ..
            } => format!(
                "this file runs outside a transaction and {n} statement(s) before the failing one stay applied; fix the file or the database, then rerun with `--retry-failed`, or record it as done by hand with `--mark-applied VERSION`"
            ),
            Error::Statement { failure, .. } if failure.code == "53200" => {
                format!("the file was rolled back; {OUT_OF_LOCKS}")
            }
            Error::Statement { failure, .. } if failure.code == "55P03" => {
                "another session held a lock this migration needs (the notes above name it), and `lock_timeout` ran out; the file was rolled back: run apply-schema again once that session is done, or give it longer with `--ddl-lock-timeout SECS`".into()
            }
            Error::Statement { .. } => {
                "the failing file was rolled back; fix it and run apply-schema again".into()
            }
            Error::NotEmpty { .. } => {
                "if its schema matches a snapshot or migration, say so with `--baseline VERSION` (e.g. `--baseline v1.0` or `--baseline 12`); otherwise point at an empty database".into()
            }
            Error::ChecksumMismatch { changed } => format!(
                "applied migrations must not be edited: restore the files, or put the change in a new migration; to accept the edit, rerun with {}",
                changed.iter().map(|c| format!("`--accept-checksum {}`", c.version)).collect::<Vec<_>>().join(" ")
            ),
            Error::FailedEarlier {
                version, message, ..
            } if message.starts_with("rollback with `") => format!(
                "compare the schema with the down file: either finish the down by hand and `--retry-failed` applies the migration again, or undo what the down did and `--mark-applied {version}` records the migration as applied"
            ),
            Error::FailedEarlier { version, .. } => format!(
                "finish or undo the file's work by hand, then rerun with `--retry-failed` to run the whole file again, or `--mark-applied {version}` to record it as done"
            ),
            Error::Renamed { files } => format!(
                "applying it would run the migration a second time: if it is the same migration, record it with {} (a renamed file's history moves to the new number), or give the file its old name back (remove a copy)",
                files.iter().map(|(_, v, _, _)| format!("`--mark-applied {v}`")).collect::<Vec<_>>().join(" ")
            ),
            Error::OutOfOrder { .. } => {
                "renumber the files after the newest applied migration, or pass `--out-of-order` to apply them anyway".into()
            }
            Error::LockTimeout { .. } => {
                "wait for the other run to finish, or raise `--lock-timeout SECS`".into()
            }
            Error::MissingTool { .. } => {
                "install the PostgreSQL server packages (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql@16`), or put their `bin` folder on PATH (or in DBKIT_PG_BINDIR)".into()
            }
            Error::NothingToApply { .. } => {
                "add a snapshot (`versions/v1.0_baseline.sql`) or a migration (`migrations/001_init.sql`)".into()
            }
            Error::ToolTooOld { tool, server_major, .. } => format!(
                "install the PostgreSQL {server_major} client (Debian/Ubuntu: `apt-get install postgresql-client-{server_major}`; macOS: `brew install postgresql@{server_major}`) or put a newer `{tool}` first on PATH"
            ),
            Error::NotUpToDate {
                purpose: Purpose::Snapshot,
                ..
            } => {
                "run apply-schema first (a snapshot must hold exactly the migrations it names), or build the schema from the files alone with `--from-migrations`".into()
            }
            Error::NotUpToDate {
                purpose: Purpose::Seed,
                ..
            } => {
                "run apply-schema first (`apply-schema --status` shows where the database stands), then load the seed data again".into()
            }
            Error::SnapshotMismatch { .. } => {
                "nothing was written; objects pg_dump leaves out (an invalid index from a failed CONCURRENTLY build, objects in schemas not dumped) cause this: fix the database or pick the schemas with `--schema`".into()
            }
            Error::Guarded { dbname, .. } => format!(
                "this is for development databases; if you really mean this one, pass `--confirm-database {dbname}`"
            ),
            Error::BackupFirstFailed { source, .. } => source.hint().unwrap_or_else(|| {
                "fix what stopped the backup and run again, or run without `--backup-first`"
                    .into()
            }),
            Error::Unmanaged { action, dbname, .. } => format!(
                "dbkit did not build this database's schema, so its data may be someone else's: check that this is the database you meant; to {action} it anyway, pass `--confirm-database {dbname}`"
            ),
            Error::CreateDatabase { name, source, .. } => {
                use postgres::error::SqlState;
                let quoted = crate::sql::quote_ident(name);
                match source.code() {
                    Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => format!(
                        "this user may not create databases: ask the server's administrator to run `CREATE DATABASE {quoted} OWNER <this user>` or to grant it CREATEDB, or connect as a user who may"
                    ),
                    Some(code) if *code == SqlState::INVALID_PARAMETER_VALUE => {
                        "give an encoding the locale allows, or a locale with it (`--encoding UTF8 --locale C.UTF-8`); without either, the server's defaults are used".into()
                    }
                    _ => return None,
                }
            }
            Error::RestoreTargetNotEmpty { .. } => {
                "restore into a new database with `--into NAME`, or pass `--replace` to drop and recreate this one (development databases only)".into()
            }
            Error::RestoreTablesNotEmpty { .. } => {
                "pass `--replace` to replace their rows with the backup's, in one transaction (their definitions and every other table stay as they are; development databases only, asks unless `--yes`)".into()
            }
            Error::TableNotInBackup { path, .. } => format!(
                "`pg_restore -l {}` lists what it holds (rows are its `TABLE DATA` lines; a schema-only backup has none); name a table as `schema.table` or as `table` when one schema has it",
                path.display()
            ),
            Error::SnapshotDoesNotLoad { source, .. }
                if matches!(&**source, Error::Statement { failure, .. } if failure.code == "53200") =>
            {
                format!("nothing was written; {OUT_OF_LOCKS}")
            }
            Error::SnapshotDoesNotLoad { .. } => {
                "nothing was written; a dump that leaves out a schema the others depend on (`--schema`, `--exclude-schema`) causes this".into()
            }
            Error::FilesDoNotBuild { source } => match source.hint() {
                Some(theirs) if !theirs.contains("apply-schema") => format!("nothing was changed and the throwaway database is dropped; {theirs}"),
                _ => "fix the file named above; the database was not touched, and the throwaway database is dropped".into(),
            },
            Error::MetaCommand { .. } => {
                "dbkit runs SQL only; apart from `\\restrict`/`\\unrestrict` (written by pg_dump), remove psql meta-commands from the file".into()
            }
            Error::SeedNotTransactional { .. } => {
                "each seed file loads in one transaction, so a failure leaves nothing of it behind; move that statement to a migration".into()
            }
            Error::SeedFailed { failure, .. } => seed_hint(&failure.code),
            Error::Interrupted {
                failed_version: Some(version),
                ..
            } => format!(
                "the next run refuses this file until you say how to go on: finish or undo its remaining statements by hand and record it with `--mark-applied {version}`, or make it safe to rerun and use `--retry-failed`"
            ),
            Error::Interrupted { source: Some(source), .. }
                if matches!(**source, Error::SeedFailed { .. }) =>
            {
                "the files loaded before it stay loaded, and loading starts again from the first file: on a development database, `reset --yes --reapply` gives a fresh seeded one".into()
            }
            Error::Interrupted { .. } => {
                "nothing is left half-done beyond what the message says; run the same command again when you are ready".into()
            }
            Error::BadExpectation { .. } => {
                "write `-- expect: no rows` (the default), `-- expect: rows` (at least one), `-- expect: 3 rows` (exactly that many) or `-- expect: 0` (one value equal to that number)".into()
            }
            Error::Problems { problems, .. } => {
                let mut hints: Vec<String> = Vec::new();
                for hint in problems.iter().filter_map(Error::hint) {
                    if !hints.contains(&hint) {
                        hints.push(hint);
                    }
                }
                if hints.is_empty() {
                    return None;
                }
                // One line per kind of problem, indented like the problems themselves.
                hints.join("\n  ")
            }
            _ => return None,
        };
        Some(hint)
    }
}

/// The next step after a seed file failed, by the server's SQLSTATE.
fn seed_hint(code: &str) -> String {
    let why = match code {
        // foreign_key_violation
        "23503" => "a row this file refers to is not loaded: the referenced rows must be loaded by an earlier file (reference data loads before fixtures, each folder in numbered order), so add them to an earlier file or renumber the files",
        // unique_violation
        "23505" => "these rows are already there: fixtures load once into a fresh database, and reference data should be idempotent (`ON CONFLICT DO NOTHING`)",
        _ => "fix the file",
    };
    format!("{why}; this file was rolled back, the files loaded before it stay loaded")
}

/// How many statements of a no-transaction file committed before it failed, when some did.
fn committed(error: &Error) -> Option<usize> {
    match error {
        Error::Statement {
            statements_done: Some(n),
            ..
        } if *n > 0 => Some(*n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_shared_memory_names_the_lock_setting() {
        let statement = || Error::Statement {
            failure: Box::new(StatementFailure {
                file: "v1.0.sql".into(),
                line: 1,
                column: 1,
                code: "53200".into(),
                message: "out of shared memory".into(),
                detail: None,
                hint: None,
                context: None,
            }),
            migration: None,
            database: "db".into(),
            applied_before: Vec::new(),
            statements_done: None,
        };
        let load = Error::SnapshotDoesNotLoad {
            version: "v1.0".into(),
            kept: "v1.0.sql".into(),
            source: Box::new(statement()),
        };
        for error in [statement(), load] {
            let hint = error.hint().expect("a hint");
            assert!(hint.contains("max_locks_per_transaction"), "{hint}");
            assert!(!hint.contains("schema"), "{hint}");
        }
    }
}
