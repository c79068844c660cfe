//! The programs agree with each other: one `--lock-timeout` wherever the migration lock
//! is taken, `--yes` only where a program asks, `.env` read by every program, progress
//! drawn on a terminal and nothing extra in a pipe, and `scripts/` wrappers that say
//! when they build. Every test that runs SQL asserts on what the database holds.

use crate::util;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use dbkit::apply::run::{self, ApplyOptions, Step};
use dbkit::ops::seed::{self, LoadOptions};
use dbkit::project::layout::Layout;
use dbkit::report::progress::Meter;
use util::{Project, Run, TestDb};

fn run(project: &Project, program: &str, args: &[&str]) -> Run {
    let mut command = project.command(program);
    command.args(args).stdin(Stdio::null());
    Run::of(command)
}

/// The lines of `--help` that describe `flag`, up to the next flag.
fn help_of(program: &str, flag: &str) -> String {
    let help = run(&Project::empty(), program, &["--help"])
        .success()
        .stdout;
    let mut lines = help.lines().skip_while(|l| !l.contains(flag));
    let first = lines.next().unwrap_or_default().to_string();
    let rest = lines.take_while(|l| !l.trim_start().starts_with('-') && !l.trim().is_empty());
    let text: Vec<String> = std::iter::once(first)
        .chain(rest.map(str::to_string))
        .collect();
    // The column the text starts at depends on the program's other flags.
    text.join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn lock_timeout_is_one_flag_and_yes_is_only_where_a_program_asks() {
    let programs = [
        "apply-schema",
        "reset",
        "create-phase-snapshot",
        "load-test-data",
        "check-drift",
    ];
    let expected = help_of("apply-schema", "--lock-timeout");
    assert!(
        expected.starts_with(
            "--lock-timeout <SECS> Wait up to this many seconds for dbkit's migration lock"
        ) && expected.ends_with("[default: 60]"),
        "{expected}"
    );
    for program in programs {
        assert_eq!(help_of(program, "--lock-timeout"), expected, "{program}");
    }
    for asks in ["reset", "restore", "check-drift"] {
        assert!(help_of(asks, "--yes").contains("Do not ask"), "{asks}");
    }
    let help = run(&Project::empty(), "load-test-data", &["--help"])
        .success()
        .stdout;
    assert!(!help.contains("--yes") && !help.contains("-y,"), "{help}");
    assert!(help.contains("--confirm-database"), "{help}");
    let refused = run(&Project::empty(), "load-test-data", &["--yes"]).expect_code(2);
    assert!(
        refused.stderr.contains("unexpected argument '--yes'"),
        "{}",
        refused.stderr
    );
}

/// A database with the example schema applied, and a session holding the migration
/// lock as another run would.
fn locked(test: &str) -> Option<(TestDb, Project, postgres::Client)> {
    let server = util::server()?;
    let db = TestDb::new(server, test);
    let project = Project::example();
    project.apply(&db, &[]).success();
    let mut holder = db.client();
    holder
        .batch_execute(&format!(
            "SET application_name = 'teammate-run'; SELECT pg_advisory_lock({})",
            dbkit::pg::lock::KEY
        ))
        .expect("takes the lock");
    Some((db, project, holder))
}

/// Runs a program against `db`, checking it gave up on the lock after about `--lock-timeout 1`
/// (the old fixed waits were 10 and 60 seconds), saying who holds it.
fn gives_up_on_the_lock(project: &Project, db: &TestDb, program: &str, args: &[&str]) {
    let started = Instant::now();
    let mut all = vec!["-D", &db.url, "--lock-timeout", "1"];
    all.extend(args);
    let refused = run(project, program, &all).expect_code(1);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{program} waited {:?}",
        started.elapsed()
    );
    assert!(
        refused
            .stderr
            .contains("another dbkit run holds the migration lock")
            && refused.stderr.contains("application `teammate-run`")
            && refused.stderr.contains("raise `--lock-timeout SECS`"),
        "{program}: {}",
        refused.stderr
    );
}

#[test]
fn reset_snapshot_and_seed_loading_honour_lock_timeout() {
    let Some((db, project, holder)) = locked("lock_timeouts") else {
        return;
    };
    let tables = db.tables("public");
    gives_up_on_the_lock(&project, &db, "reset", &["--yes"]);
    assert_eq!(db.tables("public"), tables, "reset dropped tables");
    gives_up_on_the_lock(&project, &db, "load-test-data", &[]);
    assert_eq!(db.value("SELECT count(*) FROM public.currency"), "0");
    gives_up_on_the_lock(&project, &db, "create-phase-snapshot", &["v9.0", "Phase 9"]);
    let versions = std::fs::read_dir(project.database().join("versions")).expect("versions");
    assert!(
        !versions
            .flatten()
            .any(|f| f.file_name().to_string_lossy().starts_with("v9.0")),
        "a snapshot was written"
    );
    drop(holder);
}

#[test]
fn seed_loading_waits_for_a_running_migration() {
    let Some((db, project, mut holder)) = locked("seed_waits") else {
        return;
    };
    let mut command = project.command("load-test-data");
    command
        .args(["-D", &db.url, "--reference-only", "--lock-timeout", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("load-test-data starts");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        db.value("SELECT count(*) FROM public.currency"),
        "0",
        "loaded under another run's lock"
    );
    holder
        .batch_execute(&format!(
            "SELECT pg_advisory_unlock({})",
            dbkit::pg::lock::KEY
        ))
        .expect("releases the lock");
    let output = child.wait_with_output().expect("load-test-data ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("waiting for the migration lock")
            && stderr.contains("application `teammate-run`"),
        "{stderr}"
    );
    assert_eq!(db.value("SELECT count(*) FROM public.currency"), "6");
}

#[test]
fn local_db_reads_the_projects_env() {
    let _server = require_pg!();
    let project = Project::empty();
    let env = project.dir.path().join(".env");
    std::fs::write(
        &env,
        "DATABASE_URL=postgres://app:s3cret@db.example.com/app\n",
    )
    .expect("writes");
    let url = run(&project, "local-db", &["url"]).success();
    assert_eq!(url.stdout.lines().count(), 1, "{}", url.stdout);
    assert!(url.stdout.contains(".dbkit"), "{}", url.stdout);
    assert!(
        url.stderr.contains(
            "DATABASE_URL is set (postgres://app:****@db.example.com:5432/app): the other programs use that database"
        ) && !url.stderr.contains("s3cret"),
        "{}",
        url.stderr
    );
    let status = run(&project, "local-db", &["status", "--format", "json"]).expect_code(3);
    assert_eq!(status.json()["in_use"], false);
    // `.env` also picks which PostgreSQL runs the local server.
    std::fs::write(&env, "DBKIT_PG_BINDIR=/nonexistent/pg/bin\n").expect("writes");
    let status = run(&project, "local-db", &["status"]).expect_code(1);
    assert!(
        status.stderr.contains("/nonexistent/pg/bin"),
        "{}",
        status.stderr
    );
}

/// A meter that writes down what it is told.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn note(&self, what: String) {
        self.0.lock().expect("not poisoned").push(what);
    }

    fn taken(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().expect("not poisoned"))
    }
}

impl Meter for Recorder {
    fn start(&self, what: &str, total: Option<u64>) {
        self.note(format!("start {what} {total:?}"));
    }
    fn advance(&self, n: u64) {
        self.note(format!("+{n}"));
    }
    fn finish(&self) {
        self.note("finish".into());
    }
}

impl run::Progress for Recorder {
    fn step(&mut self, step: &Step) {
        if let Step::Migration { file, .. } = step {
            self.note(format!("applied {file}"));
        }
    }
    fn meter(&self) -> &dyn Meter {
        self
    }
}

#[test]
fn applying_and_loading_tell_the_meter_what_runs_and_how_many_rows() {
    let server = require_pg!();
    let db = TestDb::new(server, "meters");
    let project = Project::empty();
    project
        .write(
            "migrations/001_a.sql",
            "-- The table.\nCREATE TABLE a (id int);\nCREATE TABLE b (\n  id int\n);\n",
        )
        .write(
            "migrations/002_index.sql",
            "CREATE INDEX CONCURRENTLY a_id ON a (id);\n-- then\nVACUUM a;\n",
        )
        .write(
            "seed/reference/01_a.sql",
            "INSERT INTO a VALUES (1), (2);\nCOPY a (id) FROM stdin;\n3\n4\n5\n\\.\n",
        );
    let catalog = Layout::new(project.database()).catalog().expect("reads");
    let mut client = db.client();
    let mut recorder = Recorder::default();
    let options = ApplyOptions::default();
    run::apply(&mut client, &catalog, &db.name, &options, &mut recorder).expect("applies");
    assert_eq!(
        recorder.taken(),
        [
            "start 001_a.sql (2 statements): CREATE TABLE a (id int); None",
            "finish",
            "applied 001_a.sql",
            "start 002_index.sql (statement 1 of 2): CREATE INDEX CONCURRENTLY a_id ON a (id); None",
            "finish",
            "start 002_index.sql (statement 2 of 2): VACUUM a; None",
            "finish",
            "applied 002_index.sql",
        ]
    );
    let loaded = seed::load(
        &mut client,
        &catalog,
        &LoadOptions::default(),
        &db.name,
        &mut |_| {},
        &recorder,
    )
    .expect("loads");
    assert_eq!(loaded.rows, 5);
    assert_eq!(
        recorder.taken(),
        ["start 01_a.sql None", "+2", "+3", "finish"]
    );
    assert_eq!(db.value("SELECT count(*) FROM a"), "5");
}

/// A project whose migration and seed file each run for a couple of seconds.
fn slow_project() -> Project {
    let project = Project::empty();
    project
        .write(
            "migrations/001_slow.sql",
            "CREATE TABLE t (id int);\nSELECT pg_sleep(2.5);\n",
        )
        .write(
            "seed/fixtures/01_slow.sql",
            &format!(
                "COPY t (id) FROM stdin;\n{}\\.\nSELECT pg_sleep(2.5);\n",
                (1..=1200).map(|i| format!("{i}\n")).collect::<String>()
            ),
        );
    project
}

#[test]
fn long_work_adds_nothing_to_piped_output() {
    let server = require_pg!();
    let db = TestDb::new(server, "piped_progress");
    let project = slow_project();
    let apply = project.apply(&db, &[]).success();
    let load = run(&project, "load-test-data", &["-D", &db.url]).success();
    for (program, output) in [("apply-schema", &apply), ("load-test-data", &load)] {
        assert_eq!(output.stderr, "", "{program} wrote to stderr");
        assert!(
            !output.stdout.contains('\u{1b}') && !output.stdout.contains('\r'),
            "{program}: {:?}",
            output.stdout
        );
    }
    assert!(
        apply
            .stdout
            .lines()
            .any(|l| l.starts_with("  ✓ 001_slow.sql")),
        "{}",
        apply.stdout
    );
    assert_eq!(db.value("SELECT count(*) FROM t"), "1200");
}

/// Runs a program on a pseudo-terminal (`script`), returning what the terminal showed;
/// `None` when `script` is not installed.
fn on_a_terminal(project: &Project, program: &str, args: &[&str]) -> Option<String> {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(util::bin(program).display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| quote(&a))
        .collect();
    let mut command = Command::new("script");
    command
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .current_dir(project.dir.path())
        .stdin(Stdio::null());
    match command.output() {
        Ok(output) => {
            assert!(output.status.success(), "{output:?}");
            Some(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipping: `script` (util-linux) is not installed");
            None
        }
        Err(e) => panic!("script: {e}"),
    }
}

#[test]
fn on_a_terminal_long_work_shows_what_runs_and_how_far_it_is() {
    let server = require_pg!();
    let db = TestDb::new(server, "terminal_progress");
    let project = slow_project();
    let Some(apply) = on_a_terminal(&project, "apply-schema", &["-D", &db.url]) else {
        return;
    };
    assert!(
        apply.contains("001_slow.sql (2 statements): CREATE TABLE t (id int); (1s)"),
        "{apply:?}"
    );
    let load = on_a_terminal(&project, "load-test-data", &["-D", &db.url]).expect("ran before");
    assert!(load.contains("01_slow.sql 1,200 rows"), "{load:?}");
    assert_eq!(db.value("SELECT count(*) FROM t"), "1200");
}

/// A checkout with the real `scripts/`, stand-in sources last changed in 2001, and no
/// build.
fn checkout() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    let path = root.path();
    util::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts"),
        &path.join("scripts"),
    );
    std::fs::create_dir_all(path.join("src")).expect("src");
    std::fs::write(path.join("src/lib.rs"), "").expect("writes");
    std::fs::write(path.join("Cargo.toml"), "").expect("writes");
    for file in ["src/lib.rs", "src", "Cargo.toml"] {
        set_modified(
            &path.join(file),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30),
        );
    }
    root
}

fn set_modified(path: &Path, when: SystemTime) {
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(when))
        .expect("sets the time");
}

/// Runs a wrapper of the checkout with `PATH` alone in its environment.
fn wrapper(root: &Path, script: &str, path: &str, args: &[&str]) -> Run {
    let mut command = Command::new(root.join("scripts").join(script));
    command
        .args(args)
        .env_clear()
        .env("PATH", path)
        .current_dir(root)
        .stdin(Stdio::null());
    Run::of(command)
}

#[test]
fn a_wrapper_says_when_it_builds_and_runs_the_checkouts_program() {
    let root = checkout();
    let root = root.path();
    // A cargo that writes down its arguments and "builds" an apply-schema that echoes its
    // own.
    let fake = tempfile::tempdir().expect("temp dir");
    let log = fake.path().join("log");
    std::fs::write(
        fake.path().join("cargo"),
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n\
             while [ $# -gt 0 ]; do [ \"$1\" = --manifest-path ] && manifest=$2; shift; done\n\
             release=\"$(dirname \"$manifest\")/target/release\"\n\
             mkdir -p \"$release\"\n\
             printf '#!/bin/sh\\necho \"apply-schema $*\"\\n' > \"$release/apply-schema\"\n\
             chmod +x \"$release/apply-schema\"\n",
            log.display()
        ),
    )
    .expect("writes");
    let cargo = fake.path().join("cargo");
    let mut permissions = std::fs::metadata(&cargo).expect("exists").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&cargo, permissions).expect("chmod");
    let path = format!("{}:/usr/bin:/bin", fake.path().display());
    let builds = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };

    let first = wrapper(root, "apply_schema.sh", &path, &["--status", "a b"]).success();
    assert_eq!(
        first.stderr,
        "building dbkit (first run, a few minutes)...\n"
    );
    assert_eq!(first.stdout, "apply-schema --status a b\n");
    let log_text = std::fs::read_to_string(&log).expect("cargo ran");
    assert!(
        log_text.starts_with("build --release --quiet --bins --manifest-path "),
        "{log_text}"
    );

    let again = wrapper(root, "apply_schema.sh", &path, &["--dry-run"]).success();
    assert_eq!((again.stderr.as_str(), builds()), ("", 1));
    assert_eq!(again.stdout, "apply-schema --dry-run\n");

    set_modified(
        &root.join("src/lib.rs"),
        SystemTime::now() + Duration::from_secs(60),
    );
    let changed = wrapper(root, "apply_schema.sh", &path, &[]).success();
    assert_eq!(
        changed.stderr,
        "rebuilding dbkit (the sources changed since the last build)...\n"
    );
    assert_eq!(builds(), 2);

    // Without cargo and without a build it says what to do.
    std::fs::remove_dir_all(root.join("target")).expect("removes the build");
    if !Path::new("/usr/bin/cargo").exists() && !Path::new("/bin/cargo").exists() {
        let stuck = wrapper(root, "apply_schema.sh", "/usr/bin:/bin", &[]).expect_code(127);
        assert!(
            stuck
                .stderr
                .contains("dbkit is not built and cargo is not installed"),
            "{}",
            stuck.stderr
        );
    }
}

#[test]
fn every_wrapper_runs_its_program_from_a_built_checkout() {
    let server = require_pg!();
    let db = TestDb::new(server, "wrappers");
    let root = checkout();
    let root = root.path();
    let release = root.join("target/release");
    std::fs::create_dir_all(&release).expect("release folder");
    let wrappers = [
        ("apply_schema.sh", "apply-schema"),
        ("backup_database.sh", "backup"),
        ("restore_database.sh", "restore"),
        ("reset_database.sh", "reset"),
        ("load_test_data.sh", "load-test-data"),
        ("document-migration.sh", "document-migration"),
        ("create-phase-snapshot.sh", "create-phase-snapshot"),
        ("rollback.sh", "rollback"),
        ("verify_migrations.sh", "verify-migrations"),
        ("new_migration.sh", "new-migration"),
        ("er_diagram.sh", "er-diagram"),
        ("check_drift.sh", "check-drift"),
    ];
    for (_, program) in wrappers {
        std::os::unix::fs::symlink(util::bin(program), release.join(program)).expect("links");
    }
    let names: Vec<String> = std::fs::read_dir(root.join("scripts"))
        .expect("scripts")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sh") && !n.starts_with("bench-"))
        .collect();
    assert_eq!(names.len(), wrappers.len(), "{names:?}");
    // No cargo on PATH: a wrapper that tried to build would fail.
    for (script, program) in wrappers {
        let version = wrapper(root, script, "/usr/bin:/bin", &["--version"]).success();
        assert!(
            version.stdout.starts_with(&format!("{program} ")),
            "{script}: {}",
            version.stdout
        );
    }
    let project = Project::example();
    let mut command = Command::new(root.join("scripts/apply_schema.sh"));
    command
        .args(["-D", &db.url])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(project.dir.path());
    let applied = Run::of(command).success();
    assert!(applied.stdout.contains("Done:"), "{}", applied.stdout);
    assert_eq!(db.history().len(), 12, "{:?}", db.history());
}
