//! Throwaway databases never stay behind: Ctrl-C during `restore --replace` and during
//! a snapshot's verification drops the one the run made, and the next run drops what a
//! run that could not clean up (kill -9, a second Ctrl-C) left, but never one whose
//! process still runs or that another machine made. The tests of this binary take turns
//! (`SERIAL`), since every run that makes a throwaway database sweeps the whole server.

use crate::util;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dbkit::pg::scratch::{self, Owner};
use util::{Project, Run, TestDb};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A plain backup whose load takes a minute (pg_dump's completion line included, so
/// restore accepts it as whole).
const SLOW_BACKUP: &str = "CREATE TABLE restored (id int);\nSELECT pg_sleep(60);\n--\n-- PostgreSQL database dump complete\n--\n";

/// Starts a program in a process group of its own, as a shell starts a job, so that a
/// signal to the group reaches it and its children at once, as Ctrl-C at a terminal does.
fn spawn(mut command: Command) -> Child {
    use std::os::unix::process::CommandExt;
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn().expect("starts")
}

/// Waits (at most 60 s) until `sql`, run against `db`, returns something other than 0.
fn wait_for(db: &TestDb, sql: &str, child: &mut Child) {
    let started = Instant::now();
    while db.value(sql) == "0" {
        if let Some(status) = child.try_wait().expect("waits") {
            let mut stderr = String::new();
            let _ = child
                .stderr
                .take()
                .expect("piped")
                .read_to_string(&mut stderr);
            panic!("the program ended ({status}) before `{sql}` held:\n{stderr}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "`{sql}` did not hold within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sessions sleeping in a database whose name matches `pattern` (a LIKE pattern) other
/// than `except`.
fn sleeping_in(pattern: &str, except: &str) -> String {
    format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '{pattern}' AND datname <> '{except}' AND wait_event = 'PgSleep'"
    )
}

/// Sends `signal` to the child's process group.
fn signal(child: &Child, signal: i32) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: sending a signal to our own child's process group.
    assert_eq!(unsafe { libc::kill(-pid, signal) }, 0, "kill");
}

/// Waits for a child to exit (at most 20 s) and collects its output.
fn finish(child: Child) -> Run {
    Run::finish_within(child, Duration::from_secs(20)).0
}

/// Databases of the server whose names match a LIKE pattern.
fn databases(db: &TestDb, pattern: &str) -> Vec<String> {
    db.column(&format!(
        "SELECT datname FROM pg_database WHERE datname LIKE '{pattern}' ORDER BY 1"
    ))
}

#[test]
fn ctrl_c_during_restore_replace_drops_the_side_database_and_keeps_the_target() {
    let server = require_pg!();
    let _turn = serial();
    let db = TestDb::new(server, "replace_sigint");
    db.client()
        .batch_execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1), (2);")
        .expect("setup");
    let before = db.fingerprint();
    let project = Project::empty();
    let backup = project.dir.path().join("slow.sql");
    std::fs::write(&backup, SLOW_BACKUP).expect("writes");

    let mut command = project.command("restore");
    command.args(["-D", &db.url]).arg(&backup).args([
        "--replace",
        "--yes",
        "--confirm-database",
        &db.name,
    ]);
    let mut child = spawn(command);
    wait_for(&db, &sleeping_in("%dbkit\\_restore%", ""), &mut child);
    signal(&child, libc::SIGINT);
    let run = finish(child).expect_code(130);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);

    assert_eq!(
        databases(&db, "%dbkit\\_restore%"),
        Vec::<String>::new(),
        "the side database is gone; stderr:\n{}",
        run.stderr
    );
    assert_eq!(db.fingerprint(), before, "the target is unchanged");
    assert_eq!(db.column("SELECT id FROM kept ORDER BY id"), ["1", "2"]);
}

#[test]
fn ctrl_c_during_snapshot_verification_drops_the_throwaway_database() {
    let server = require_pg!();
    let _turn = serial();
    let db = TestDb::new(server, "snapshot_sigint");
    let project = Project::empty();
    // Building the partial index evaluates its (immutable, argument-less) predicate
    // once, which sleeps only in the verification database: the source applies at once,
    // and verification loads until it is interrupted.
    project.write(
        "migrations/001_slow_to_verify.sql",
        "CREATE TABLE gauge (id int);\n\
         CREATE FUNCTION slow_in_verify() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$\n\
         BEGIN\n\
           IF left(current_database(), 12) = 'dbkit_verify' THEN PERFORM pg_sleep(60); END IF;\n\
           RETURN true;\n\
         END $$;\n\
         CREATE INDEX gauge_slow ON gauge (id) WHERE slow_in_verify();\n",
    );
    project.apply(&db, &[]).success();

    let snapshot = || {
        let mut command = project.command("create-phase-snapshot");
        command.args(["-D", &db.url, "v1.0", "Phase 1"]);
        spawn(command)
    };

    // Killed outright, a run cleans nothing up: its database stays, named after it.
    let mut child = snapshot();
    let killed = child.id();
    wait_for(&db, &sleeping_in("dbkit\\_verify%", ""), &mut child);
    signal(&child, libc::SIGKILL);
    finish(child).expect_code(-1);
    let left = databases(&db, "dbkit\\_verify%");
    assert_eq!(left.len(), 1, "{left:?}");
    let (purpose, owner) = scratch::parse(&left[0]).expect("a throwaway's name");
    assert_eq!((purpose.as_str(), owner.pid), ("verify", killed));

    // Ctrl-C: the run drops the leftover before it starts, and its own on the way out.
    let mut child = snapshot();
    wait_for(&db, &sleeping_in("dbkit\\_verify%", &left[0]), &mut child);
    signal(&child, libc::SIGINT);
    let run = finish(child).expect_code(130);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("dropped `{}`", left[0])),
        "{}",
        run.stderr
    );
    assert_eq!(
        [
            databases(&db, "dbkit\\_verify%"),
            databases(&db, "dbkit\\_build%")
        ]
        .concat(),
        Vec::<String>::new(),
        "no throwaway database is left; stderr:\n{}",
        run.stderr
    );
    assert!(
        !project.database().join("versions").exists()
            || std::fs::read_dir(project.database().join("versions"))
                .expect("reads")
                .next()
                .is_none(),
        "no snapshot was written"
    );
}

/// A pid that no process has now (one that has just ended).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("true runs");
    let pid = child.id();
    child.wait().expect("waits");
    pid
}

fn create_database(db: &TestDb, name: &str) {
    db.client()
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .expect("creates");
}

/// Drops databases a test made by hand, however the test ends.
struct DropLater<'a>(&'a TestDb, Vec<String>);

impl Drop for DropLater<'_> {
    fn drop(&mut self) {
        for name in &self.1 {
            let _ = self
                .0
                .client()
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

#[test]
fn leftovers_of_ended_processes_on_this_host_are_dropped_by_the_next_run() {
    let server = require_pg!();
    let _turn = serial();
    let db = TestDb::new(server, "sweep");
    db.client()
        .batch_execute("CREATE TABLE old (id int);")
        .expect("setup");
    let here = Owner::current();
    let mut sleeper = Command::new("sleep").arg("60").spawn().expect("sleep");
    let alive = Owner::of(sleeper.id()).expect("sleep runs");
    let owners = [
        // Its process has ended.
        (
            Owner {
                pid: dead_pid(),
                ..here.clone()
            },
            true,
        ),
        // Its pid now belongs to a process that started at another time.
        (
            Owner {
                started: here.started + 1,
                ..here.clone()
            },
            true,
        ),
        // Its process still runs.
        (alive.clone(), false),
        // Another machine's: whether its process runs cannot be told from here.
        (
            Owner {
                host: "0123abcd".into(),
                pid: dead_pid(),
                ..here.clone()
            },
            false,
        ),
    ];
    let names: Vec<(String, bool)> = owners
        .iter()
        .map(|(owner, gone)| (scratch::name("restore", owner, 7), *gone))
        .collect();
    let _made = DropLater(&db, names.iter().map(|(n, _)| n.clone()).collect());
    for (name, _) in &names {
        assert!(name.len() <= 63, "{name} fits PostgreSQL's limit");
        create_database(&db, name);
    }

    // A replacing restore makes a throwaway database, so it sweeps first.
    let project = Project::empty();
    let backup = project.dir.path().join("new.sql");
    std::fs::write(
        &backup,
        "CREATE TABLE new (id int);\n--\n-- PostgreSQL database dump complete\n--\n",
    )
    .expect("writes");
    let mut command = project.command("restore");
    command.args(["-D", &db.url]).arg(&backup).args([
        "--replace",
        "--yes",
        "--confirm-database",
        &db.name,
    ]);
    let run = Run::of(command).success();
    assert_eq!(db.tables("public"), ["new"]);
    for (name, gone) in &names {
        let left = databases(&db, name);
        if *gone {
            assert!(left.is_empty(), "{name} dropped");
            assert!(
                run.stderr.contains(&format!("dropped `{name}`")),
                "a notice names {name}:\n{}",
                run.stderr
            );
        } else {
            assert_eq!(left.len(), 1, "{name} kept");
            assert!(!run.stderr.contains(name.as_str()), "{}", run.stderr);
        }
    }

    // create-phase-snapshot sweeps the server it verifies on the same way.
    let build = scratch::name(
        "build",
        &Owner {
            pid: dead_pid(),
            ..here.clone()
        },
        0,
    );
    create_database(&db, &build);
    let source = TestDb::new(server, "sweep_snapshot");
    let snapshot_project = Project::empty();
    snapshot_project.write("migrations/001_t.sql", "CREATE TABLE t (id int);\n");
    snapshot_project.apply(&source, &[]).success();
    let mut command = snapshot_project.command("create-phase-snapshot");
    command.args(["-D", &source.url, "v1.0", "Phase 1"]);
    let run = Run::of(command).success();
    assert!(
        run.stderr.contains(&format!("dropped `{build}`")),
        "{}",
        run.stderr
    );
    assert!(databases(&db, &build).is_empty());

    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

/// A small plain backup restore accepts as whole.
const SMALL_BACKUP: &str = "CREATE TABLE restored (id int);\nINSERT INTO restored VALUES (7);\n--\n-- PostgreSQL database dump complete\n--\n";

#[test]
fn restore_replace_waits_for_the_migration_lock_and_gives_up_without_dropping() {
    let server = require_pg!();
    let _turn = serial();
    let db = TestDb::new(server, "replace_locked");
    db.client()
        .batch_execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1);")
        .expect("setup");
    let mut holder = db.client();
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&dbkit::pg::lock::KEY])
        .expect("locks");
    let project = Project::empty();
    let backup = project.dir.path().join("small.sql");
    std::fs::write(&backup, SMALL_BACKUP).expect("writes");

    let mut command = project.command("restore");
    command
        .args(["-D", &db.url])
        .arg(&backup)
        .args(["--replace", "--yes", "--lock-timeout", "1"])
        .args(["--confirm-database", &db.name]);
    let run = Run::of(command).expect_code(1);
    assert!(run.stderr.contains("migration lock"), "{}", run.stderr);
    assert_eq!(
        db.column("SELECT id FROM kept"),
        ["1"],
        "the target is kept"
    );
    assert_eq!(
        databases(&db, "%dbkit\\_restore%"),
        Vec::<String>::new(),
        "no side database was left"
    );
    drop(holder);
}

#[test]
fn a_failed_drop_of_the_target_keeps_the_restored_copy_under_a_name_of_its_own() {
    let server = require_pg!();
    let _turn = serial();
    let db = TestDb::new(server, "replace_undroppable");
    // A template database cannot be dropped: the swap fails at the drop.
    db.client()
        .batch_execute(&format!(
            "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1); ALTER DATABASE \"{}\" IS_TEMPLATE true;",
            db.name
        ))
        .expect("setup");
    let project = Project::empty();
    let backup = project.dir.path().join("small.sql");
    std::fs::write(&backup, SMALL_BACKUP).expect("writes");

    let mut command = project.command("restore");
    command.args(["-D", &db.url]).arg(&backup).args([
        "--replace",
        "--yes",
        "--confirm-database",
        &db.name,
    ]);
    let run = Run::of(command).expect_code(1);
    let kept = databases(&db, &format!("{}\\_restored\\_%", db.name));
    let _cleanup = DropLater(&db, kept.clone());
    db.client()
        .batch_execute(&format!("ALTER DATABASE \"{}\" IS_TEMPLATE false", db.name))
        .expect("resets");
    assert_eq!(kept.len(), 1, "the copy is kept; stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("is unchanged")
            && run.stderr.contains(&format!("kept as `{}`", kept[0])),
        "{}",
        run.stderr
    );
    assert_eq!(
        db.column("SELECT id FROM kept"),
        ["1"],
        "the target is kept"
    );

    // The next run's sweep leaves the kept copy alone.
    let mut again = project.command("restore");
    again.args(["-D", &db.url]).arg(&backup).args([
        "--replace",
        "--yes",
        "--confirm-database",
        &db.name,
    ]);
    Run::of(again).success();
    assert_eq!(databases(&db, &format!("{}\\_restored\\_%", db.name)), kept);
    assert_eq!(db.column("SELECT id FROM restored"), ["7"]);
}
