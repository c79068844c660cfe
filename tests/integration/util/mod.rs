//! Test support: one throwaway PostgreSQL per test binary (made with initdb/pg_ctl on a
//! Unix socket in a temp folder, stopped when the tests exit), one database per test, and
//! temp project folders in which the built binaries run with a clean environment.
//!
//! Without PostgreSQL server programs the tests skip, saying so; under CI (`CI` or
//! `DBKIT_REQUIRE_PG` set) a missing server is a failure, so CI never tests nothing.
#![allow(dead_code, clippy::print_stderr)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use dbkit::pg::cluster::{default_run_as, Cluster};
use dbkit::pg::tools::Finder;
use dbkit::project::settings::ConnectionSettings;

/// The shared server of this test binary.
pub struct Server {
    pub cluster: Cluster,
    /// 127.0.0.1 port with TLS required, when openssl was there to make a certificate.
    pub tls_port: Option<u16>,
    // Closing this pipe (at process exit) tells the reaper to stop the server.
    _reaper: Mutex<ChildStdin>,
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
        || std::env::var_os("DBKIT_REQUIRE_PG").is_some()
}

/// The server, or `None` when PostgreSQL is not installed (a skip outside CI).
pub fn server() -> Option<&'static Server> {
    SERVER
        .get_or_init(|| match start_server() {
            Ok(server) => Some(server),
            Err(why) if required() => panic!("PostgreSQL is required under CI: {why}"),
            Err(why) => {
                eprintln!("skipping PostgreSQL tests: {why}");
                None
            }
        })
        .as_ref()
}

/// Returns early from a test when there is no server (outside CI).
#[macro_export]
macro_rules! require_pg {
    () => {
        match $crate::util::server() {
            Some(server) => server,
            None => return,
        }
    };
}

fn start_server() -> Result<Server, String> {
    start(true, &[])
}

/// A server of its own, started with extra settings (`max_connections`, ...) that the
/// shared server must not have; it is stopped when the test binary exits. `None` when
/// PostgreSQL is not installed (a skip outside CI).
pub fn own_server(settings: &[(&str, &str)]) -> Option<&'static Server> {
    match start(false, settings) {
        Ok(server) => Some(Box::leak(Box::new(server))),
        Err(why) if required() => panic!("PostgreSQL is required under CI: {why}"),
        Err(why) => {
            eprintln!("skipping PostgreSQL tests: {why}");
            None
        }
    }
}

/// Starts a throwaway server (TCP with TLS too, when `tls` and openssl can make a
/// certificate) with `extra` settings after the usual ones.
fn start(tls: bool, extra: &[(&str, &str)]) -> Result<Server, String> {
    let bindir = Finder::new(std::env::var_os("PATH"))
        .server_bindir()
        .map_err(|e| e.to_string())?;
    let root = tempfile::Builder::new()
        .prefix("dbkit-test-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    make_reachable(&root);
    let tls_port = (tls && make_certificate(&root)).then(free_port);
    let mut settings = vec![("log_min_messages".to_string(), "warning".to_string())];
    if tls_port.is_some() {
        settings.extend([
            ("ssl".into(), "on".into()),
            (
                "ssl_cert_file".into(),
                root.join("server.crt").display().to_string(),
            ),
            (
                "ssl_key_file".into(),
                root.join("server.key").display().to_string(),
            ),
            ("listen_addresses".into(), "127.0.0.1".into()),
        ]);
    }
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let cluster = Cluster {
        dir: root.join("pg"),
        bindir,
        port: tls_port.unwrap_or(dbkit::pg::cluster::PORT),
        run_as: default_run_as(),
        throwaway: true,
        settings,
    };
    // The reaper outlives this process: when its stdin closes it stops the server and
    // removes the folder, whatever way the tests ended.
    let stop = format!(
        "read _; {} '{}' -D '{}' stop -m immediate >/dev/null 2>&1; rm -rf '{}'",
        cluster
            .run_as
            .as_ref()
            .map(|u| format!("runuser -u {u} --"))
            .unwrap_or_default(),
        cluster.bindir.join("pg_ctl").display(),
        cluster.data_dir().display(),
        root.display()
    );
    let reaper: Child = Command::new("sh")
        .args(["-c", &stop])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdin = reaper.stdin.expect("piped stdin");
    cluster
        .ensure_running()
        .map_err(|e| format!("{e}: {}", dbkit::cli::chain(&e)))?;
    if tls_port.is_some() {
        // TCP connections must use TLS: the tests prove sslmode=require really encrypts.
        let hba = cluster.data_dir().join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).unwrap_or_default();
        rules = format!(
            "hostnossl all all 127.0.0.1/32 reject\nhostssl all all 127.0.0.1/32 trust\n{rules}"
        );
        std::fs::write(&hba, rules).map_err(|e| e.to_string())?;
        let mut admin = connect_conninfo(&cluster.conninfo("postgres"));
        admin
            .batch_execute("SELECT pg_reload_conf()")
            .map_err(|e| e.to_string())?;
    }
    Ok(Server {
        cluster,
        tls_port,
        _reaper: Mutex::new(stdin),
    })
}

fn make_reachable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
}

fn make_certificate(root: &Path) -> bool {
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(root.join("server.key"))
        .arg("-out")
        .arg(root.join("server.crt"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        if let Some(user) = default_run_as() {
            let _ = Command::new("chown")
                .arg(&user)
                .arg(root.join("server.key"))
                .arg(root.join("server.crt"))
                .status();
        }
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            root.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        );
    }
    ok
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Connects with a conninfo string.
pub fn connect_conninfo(conninfo: &str) -> postgres::Client {
    let settings = ConnectionSettings::parse(conninfo, None).expect("valid conninfo");
    dbkit::pg::connect::connect(&settings, dbkit::pg::connect::ConnectOptions::default())
        .expect("connects")
}

/// A database of its own for one test.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub server: &'static Server,
}

impl TestDb {
    /// Creates an empty database named after the test.
    pub fn new(server: &'static Server, test: &str) -> TestDb {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!(
            "t_{}_{n}",
            test.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(40)
                .collect::<String>()
        );
        let mut admin = connect_conninfo(&server.cluster.conninfo("postgres"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("creates the test database");
        TestDb {
            url: server.cluster.conninfo(&name),
            name,
            server,
        }
    }

    /// A new connection.
    pub fn client(&self) -> postgres::Client {
        connect_conninfo(&self.url)
    }

    /// The first column of every row of a query, as text.
    pub fn column(&self, sql: &str) -> Vec<String> {
        self.client()
            .simple_query(sql)
            .expect("query runs")
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => {
                    Some(row.get(0).unwrap_or("NULL").to_string())
                }
                _ => None,
            })
            .collect()
    }

    /// One value.
    pub fn value(&self, sql: &str) -> String {
        self.column(sql).into_iter().next().expect("one row")
    }

    /// Tables in a schema, sorted.
    pub fn tables(&self, schema: &str) -> Vec<String> {
        self.column(&format!(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p') ORDER BY 1"
        ))
    }

    /// `version:source` for every history row.
    pub fn history(&self) -> Vec<String> {
        if self.value("SELECT to_regclass('dbkit.schema_history') IS NULL") == "t" {
            return Vec::new();
        }
        self.column("SELECT version || ':' || source || ':' || status FROM dbkit.schema_history ORDER BY version")
    }

    /// A fingerprint of the whole schema (every relation, column, constraint, index,
    /// function, type), to prove a failed run changed nothing.
    pub fn fingerprint(&self) -> String {
        let history = if self.value("SELECT to_regclass('dbkit.schema_history') IS NULL") == "t" {
            ""
        } else {
            "UNION ALL SELECT 'row:' || version || ':' || checksum || ':' || status FROM dbkit.schema_history"
        };
        self.column(&format!(
            "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
               SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS x FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
               UNION ALL SELECT attrelid::regclass || '.' || attname || ':' || format_type(atttypid, atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE attnum > 0 AND NOT attisdropped AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
               UNION ALL SELECT conrelid::regclass || ':' || conname || ':' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
               UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p WHERE pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
               {history}
             ) s"
        ))
        .join("\n")
    }
}

/// The repository's example `database/` folder.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("database")
}

/// The shared corpora (`../shared/corpora/NAME`), if present.
pub fn corpus(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("shared")
        .join("corpora")
        .join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    if required() {
        panic!("corpus `{}` is missing under CI", dir.display());
    }
    eprintln!("skipping: corpus `{}` not found", dir.display());
    None
}

/// A temp project folder with a `database/` folder inside.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// An empty project (an empty `database/` folder).
    pub fn empty() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("dbkit-project-")
            .tempdir()
            .expect("temp dir");
        make_reachable(dir.path());
        std::fs::create_dir_all(dir.path().join("database")).expect("database folder");
        Project { dir }
    }

    /// A project holding a copy of the example `database/` folder.
    pub fn example() -> Project {
        let project = Project::empty();
        copy_tree(&example_dir(), &project.database());
        project
    }

    /// The project's database folder.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("database")
    }

    /// Writes a file under the database folder.
    pub fn write(&self, relative: &str, text: &str) -> &Self {
        let path = self.database().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("folders");
        std::fs::write(path, text).expect("writes");
        self
    }

    /// Removes a file under the database folder.
    pub fn remove(&self, relative: &str) {
        std::fs::remove_file(self.database().join(relative)).expect("removes");
    }

    /// Reads a file under the database folder.
    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.database().join(relative)).expect("reads")
    }

    /// A command for one of the built programs, in the project folder, with a clean
    /// environment (no DATABASE_URL, no PG* variables).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(bin(program));
        command.env_clear();
        for keep in ["PATH", "HOME", "LANG"] {
            if let Some(value) = std::env::var_os(keep) {
                command.env(keep, value);
            }
        }
        command.current_dir(self.dir.path());
        command
    }

    /// Runs `apply-schema` against a database with extra arguments.
    pub fn apply(&self, db: &TestDb, args: &[&str]) -> Run {
        let mut command = self.command("apply-schema");
        command.args(["-D", &db.url]).args(args);
        Run::of(command)
    }
}

/// The path of a built program.
pub fn bin(program: &str) -> PathBuf {
    match program {
        "apply-schema" => env!("CARGO_BIN_EXE_apply-schema").into(),
        "local-db" => env!("CARGO_BIN_EXE_local-db").into(),
        "document-migration" => env!("CARGO_BIN_EXE_document-migration").into(),
        "create-phase-snapshot" => env!("CARGO_BIN_EXE_create-phase-snapshot").into(),
        "backup" => env!("CARGO_BIN_EXE_backup").into(),
        "restore" => env!("CARGO_BIN_EXE_restore").into(),
        "reset" => env!("CARGO_BIN_EXE_reset").into(),
        "load-test-data" => env!("CARGO_BIN_EXE_load-test-data").into(),
        "create-database" => env!("CARGO_BIN_EXE_create-database").into(),
        // Cargo builds every program before the tests run, all in one folder.
        other => {
            let path = Path::new(env!("CARGO_BIN_EXE_apply-schema")).with_file_name(other);
            assert!(path.exists(), "unknown program {other}");
            path
        }
    }
}

/// A finished program run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Waits for a started program (its stdout and stderr piped) to exit, at most
    /// `limit`: past it the program is killed and the test fails. Returns the run and how
    /// long the wait took.
    pub fn finish_within(
        mut child: Child,
        limit: std::time::Duration,
    ) -> (Run, std::time::Duration) {
        use std::io::Read;
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waits") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                panic!("the program did not end within {limit:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let (mut stdout, mut stderr) = (String::new(), String::new());
        for (pipe, text) in [
            (
                child.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
                &mut stdout,
            ),
            (
                child.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
                &mut stderr,
            ),
        ] {
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(text);
            }
        }
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        };
        (run, started.elapsed())
    }

    /// Runs a command to completion.
    pub fn of(mut command: Command) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().expect("program runs");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Panics with the output unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the run succeeded.
    pub fn success(self) -> Run {
        self.expect_code(0)
    }

    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walks");
        let target = to.join(entry.path().strip_prefix(from).expect("inside"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("folder");
        } else {
            std::fs::copy(entry.path(), &target).expect("copies");
        }
    }
}

/// Replaces run-to-run noise (durations, timestamps, temp paths, database names) with
/// placeholders for snapshot tests.
pub fn redact(text: &str, db: &TestDb, project: &Project) -> String {
    let mut out = text.replace(&db.url, "[URL]");
    out = out.replace(&project.dir.path().display().to_string(), "[PROJECT]");
    out = out.replace(
        &db.server.cluster.socket_dir().display().to_string(),
        "[SOCKET]",
    );
    out = out.replace(&db.name, "[DB]");
    let patterns = [
        (r" +\d+(\.\d+)? (ms|s)\b", " [TIME]"),
        (r"\d+(\.\d+)? (ms|s)\b", "[TIME]"),
        (r"\d+ min \d+ s", "[TIME]"),
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "[WHEN]"),
        (r"pid \d+", "pid [PID]"),
        (r"port=\d+", "port=[PORT]"),
    ];
    for (pattern, with) in patterns {
        out = regex::Regex::new(pattern)
            .expect("valid")
            .replace_all(&out, with)
            .into_owned();
    }
    out
}

/// Writes a line to a writer (for building SQL files in tests).
pub fn lines(parts: &[&str]) -> String {
    let mut out = Vec::new();
    for part in parts {
        writeln!(out, "{part}").expect("writes");
    }
    String::from_utf8(out).expect("utf-8")
}
