//! apply-schema under real use: interrupts with real signals, a run killed mid-file,
//! failures inside a file's own transaction block, flags that only record, status that
//! tells the truth, and waits that say who is in the way. Every test asserts on what the
//! database holds, not only on what was printed.

use crate::util;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use util::{Project, Run, TestDb};

/// Starts `apply-schema` in the background with its output captured.
fn spawn_apply(project: &Project, db: &TestDb, args: &[&str]) -> Child {
    let mut command = project.command("apply-schema");
    command
        .args(["-D", &db.url])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn().expect("apply-schema starts")
}

/// Waits until a session of `db` runs a statement containing `text`.
fn wait_for_query(db: &TestDb, text: &str) {
    let started = Instant::now();
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state = 'active' \
         AND query LIKE '%{text}%' AND pid <> pg_backend_pid()",
        db.name
    );
    while db.value(&sql) == "0" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no session ran `{text}` within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until no other session is connected to `db` (a killed client's backend ends).
fn wait_for_no_sessions(db: &TestDb) {
    let started = Instant::now();
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    );
    while db.value(&sql) != "0" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "sessions still connected after 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(child: &Child, signal: i32) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill");
}

/// Waits for a child to exit (at most 20 s) and collects its output.
fn finish(child: Child) -> (Run, Duration) {
    Run::finish_within(child, Duration::from_secs(20))
}

fn advisory_locks(db: &TestDb) -> String {
    db.value(&format!(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND d.datname = '{}'",
        db.name
    ))
}

#[test]
fn ctrl_c_cancels_a_migration_rolls_it_back_and_exits_130() {
    let server = require_pg!();
    let db = TestDb::new(server, "sigint_tx");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write(
            "migrations/002_slow.sql",
            "CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n",
        );
    let child = spawn_apply(&project, &db, &[]);
    wait_for_query(&db, "pg_sleep(60)");
    signal(&child, libc::SIGINT);
    let (run, took) = finish(child);
    let run = run.expect_code(130);
    assert!(
        took < Duration::from_secs(10),
        "stopped in {took:?}, not at once"
    );
    assert!(
        run.stderr
            .contains("interrupted: `002_slow.sql` was rolled back; nothing of it stays applied; applied before it in this run: 001_a.sql"),
        "{}",
        run.stderr
    );
    // The server really stopped: the file and its history row are not there, no
    // statement is still sleeping, and the lock is released.
    assert_eq!(db.history(), ["1:migration:applied"]);
    assert_eq!(db.tables("public"), ["a"]);
    wait_for_no_sessions(&db);
    assert_eq!(advisory_locks(&db), "0");
    project.write("migrations/002_slow.sql", "CREATE TABLE slow (id int);\n");
    project.apply(&db, &[]).success();
    assert_eq!(db.tables("public"), ["a", "slow"]);
}

#[test]
fn sigterm_stops_a_file_outside_a_transaction_and_records_what_stays() {
    let server = require_pg!();
    let db = TestDb::new(server, "sigterm_notx");
    let project = Project::empty();
    project.write(
        "migrations/001_index.sql",
        "-- dbkit:no-transaction\nCREATE TABLE first (id int);\nSELECT pg_sleep(60);\nCREATE TABLE third (id int);\n",
    );
    let child = spawn_apply(&project, &db, &[]);
    wait_for_query(&db, "pg_sleep(60)");
    signal(&child, libc::SIGTERM);
    let (run, _) = finish(child);
    let run = run.expect_code(130);
    assert!(
        run.stderr.contains(
            "`001_index.sql` runs outside a transaction: 1 statement(s) committed and stay applied"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`--mark-applied 1`") && run.stderr.contains("`--retry-failed`"),
        "{}",
        run.stderr
    );
    assert_eq!(db.tables("public"), ["first"]);
    assert_eq!(db.history(), ["1:migration:failed"]);
    assert_eq!(
        db.value("SELECT statements_done || ':' || error_line || ':' || (error LIKE 'interrupted%') FROM dbkit.schema_history"),
        "1:3:true"
    );
    let status = project
        .apply(&db, &["--status", "--format", "json"])
        .expect_code(4);
    assert_eq!(status.json()["migrations"][0]["state"], "failed");
    assert_eq!(status.json()["migrations"][0]["statements_done"], 1);
    let refused = project.apply(&db, &[]).expect_code(1);
    assert!(
        refused.stderr.contains("1 statement(s) committed"),
        "{}",
        refused.stderr
    );
}

#[test]
fn kill_9_mid_file_outside_a_transaction_leaves_a_failed_file_not_a_pending_one() {
    let server = require_pg!();
    let db = TestDb::new(server, "kill9_notx");
    let project = Project::empty();
    project.write(
        "migrations/001_backfill.sql",
        "-- dbkit:no-transaction\nCREATE TABLE first (id int);\nCREATE TABLE second (id int);\nSELECT pg_sleep(60);\nCREATE TABLE fourth (id int);\n",
    );
    let child = spawn_apply(&project, &db, &[]);
    wait_for_query(&db, "pg_sleep(60)");
    // While the run is alive, status says it is running, not that it failed.
    let live = project
        .apply(&db, &["--status", "--format", "json"])
        .expect_code(3);
    assert_eq!(live.json()["migrations"][0]["state"], "running");
    assert!(live.json()["live_run"].is_string(), "{}", live.stdout);
    signal(&child, libc::SIGKILL);
    let (killed, _) = finish(child);
    assert_eq!(killed.code, -1, "killed by the signal");
    // The server notices the client is gone (client_connection_check_interval) and
    // ends the session, which releases the lock.
    wait_for_no_sessions(&db);
    assert_eq!(db.tables("public"), ["first", "second"]);
    let status = project
        .apply(&db, &["--status", "--format", "json"])
        .expect_code(4);
    let line = &status.json()["migrations"][0];
    assert_eq!(line["state"], "failed", "{}", status.stdout);
    assert_eq!(line["statements_done"], 2);
    let text = project.apply(&db, &["--status"]).expect_code(4);
    assert!(
        text.stdout
            .contains("0 applied, 0 pending, 1 need attention"),
        "{}",
        text.stdout
    );
    let refused = project.apply(&db, &[]).expect_code(1);
    assert!(
        refused
            .stderr
            .contains("its run ended part-way (killed or disconnected): 2 statement(s) committed and stay applied"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--retry-failed"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--mark-applied 1"),
        "{}",
        refused.stderr
    );
    // Finished by hand, then recorded.
    db.client()
        .batch_execute("CREATE TABLE fourth (id int)")
        .expect("finishes by hand");
    project.apply(&db, &["--mark-applied", "1"]).success();
    assert_eq!(db.history(), ["1:manual:applied"]);
    project.apply(&db, &["--status"]).success();
}

#[test]
fn kill_9_mid_transactional_file_leaves_nothing_behind() {
    let server = require_pg!();
    let db = TestDb::new(server, "kill9_tx");
    let project = Project::empty();
    project.write(
        "migrations/001_slow.sql",
        "CREATE TABLE slow (id int);\nSELECT pg_sleep(5);\n",
    );
    let child = spawn_apply(&project, &db, &[]);
    wait_for_query(&db, "pg_sleep(5)");
    signal(&child, libc::SIGKILL);
    finish(child);
    wait_for_no_sessions(&db);
    assert!(db.tables("public").is_empty());
    assert!(db.history().is_empty());
}

#[test]
fn a_failure_inside_the_files_own_block_reports_the_real_error_and_is_recorded() {
    let server = require_pg!();
    let db = TestDb::new(server, "own_block");
    let project = Project::empty();
    project.write(
        "migrations/001_orders.sql",
        "CREATE TABLE before_block (id int);\nBEGIN;\nCREATE TABLE orders (id int);\nINSERT INTO orders VALUES ('not a number');\nCOMMIT;\nCREATE INDEX CONCURRENTLY orders_id ON orders (id);\n",
    );
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr.contains("001_orders.sql:4:")
            && run
                .stderr
                .contains("invalid input syntax for type integer: \"not a number\""),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("current transaction is aborted"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("1 statement(s) before the failing one stay applied"),
        "{}",
        run.stderr
    );
    assert_eq!(db.tables("public"), ["before_block"]);
    assert_eq!(db.history(), ["1:migration:failed"]);
    assert_eq!(
        db.value("SELECT statements_done || ':' || error_line FROM dbkit.schema_history"),
        "1:4"
    );
}

#[test]
fn mark_environment_records_and_stops() {
    let server = require_pg!();
    let db = TestDb::new(server, "mark_env");
    let project = Project::example();
    let run = project
        .apply(&db, &["--mark-environment", "staging"])
        .success();
    assert!(run.stdout.contains("as `staging`"), "{}", run.stdout);
    assert!(run.stdout.contains("Nothing was applied"), "{}", run.stdout);
    assert!(db.tables("public").is_empty(), "nothing was applied");
    assert!(db.history().is_empty());
    assert_eq!(
        db.value("SELECT current_setting('dbkit.environment', true)"),
        "staging"
    );
}

#[test]
fn a_renamed_migration_is_not_run_twice() {
    let server = require_pg!();
    let db = TestDb::new(server, "renamed");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write("migrations/002_b.sql", "CREATE TABLE b (id int);\n");
    project.apply(&db, &[]).success();
    let text = project.read("migrations/002_b.sql");
    project.remove("migrations/002_b.sql");
    project.write("migrations/003_b.sql", &text);
    let status = project
        .apply(&db, &["--status", "--format", "json"])
        .expect_code(4);
    let json = status.json();
    assert_eq!(json["migrations"][1]["state"], "missing_file");
    assert_eq!(json["migrations"][2]["renamed_from"], "002_b.sql");
    let before = db.fingerprint();
    let refused = project.apply(&db, &[]).expect_code(1);
    assert!(
        refused
            .stderr
            .contains("`003_b.sql` has the same content as `002_b.sql`"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--mark-applied 3"),
        "{}",
        refused.stderr
    );
    assert_eq!(db.fingerprint(), before);
    project.apply(&db, &["--mark-applied", "3"]).success();
    assert_eq!(db.history(), ["1:migration:applied", "3:migration:applied"]);
    assert_eq!(
        db.value("SELECT file FROM dbkit.schema_history WHERE version = 3"),
        "003_b.sql"
    );
    project.apply(&db, &["--status"]).success();
}

#[test]
fn status_of_a_non_empty_database_without_history_says_apply_would_refuse() {
    let server = require_pg!();
    let db = TestDb::new(server, "status_nonempty");
    db.client()
        .batch_execute("CREATE TABLE invoices (id int)")
        .expect("creates");
    let project = Project::example();
    let run = project.apply(&db, &["--status"]).expect_code(4);
    assert!(run.stdout.contains("would refuse"), "{}", run.stdout);
    assert!(run.stdout.contains("--baseline"), "{}", run.stdout);
    let json = project
        .apply(&db, &["--status", "--format", "json"])
        .expect_code(4)
        .json();
    assert!(json["not_empty"]
        .as_str()
        .is_some_and(|s| s.contains("table")));
}

#[test]
fn mark_applied_on_a_database_without_history_is_a_usage_error() {
    let server = require_pg!();
    let db = TestDb::new(server, "mark_fresh");
    let project = Project::example();
    let run = project.apply(&db, &["--mark-applied", "3"]).expect_code(2);
    assert!(run.stderr.contains("--baseline"), "{}", run.stderr);
    assert!(db.tables("public").is_empty());
    assert!(db.history().is_empty());
    let run = project
        .apply(&db, &["--accept-checksum", "99"])
        .expect_code(2);
    assert!(
        run.stderr.contains("no migration with version `99`"),
        "{}",
        run.stderr
    );
}

#[test]
fn waiting_for_the_migration_lock_says_who_holds_it() {
    let server = require_pg!();
    let db = TestDb::new(server, "lock_wait");
    let project = Project::empty();
    project.write("migrations/001_a.sql", "CREATE TABLE a (id int);\n");
    let mut holder = db.client();
    holder
        .batch_execute(&format!(
            "SET application_name = 'teammate-run'; SELECT pg_advisory_lock({})",
            dbkit::pg::lock::KEY
        ))
        .expect("takes the lock");
    let run = project.apply(&db, &["--lock-timeout", "3"]).expect_code(1);
    assert!(
        run.stderr.contains("waiting for the migration lock")
            && run.stderr.contains("application `teammate-run`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("another dbkit run holds the migration lock"),
        "{}",
        run.stderr
    );
    assert!(db.history().is_empty());
    drop(holder);
}

#[test]
fn a_blocked_migration_says_who_blocks_it_and_ddl_lock_timeout_gives_up() {
    let server = require_pg!();
    let db = TestDb::new(server, "blocked");
    let project = Project::empty();
    project.write("migrations/001_a.sql", "CREATE TABLE a (id int);\n");
    project.apply(&db, &[]).success();
    project.write("migrations/002_b.sql", "ALTER TABLE a ADD COLUMN b int;\n");
    let mut blocker = db.client();
    blocker
        .batch_execute(
            "SET application_name = 'long-report'; BEGIN; LOCK TABLE a IN ACCESS SHARE MODE",
        )
        .expect("holds a lock");
    let run = project
        .apply(&db, &["--ddl-lock-timeout", "3"])
        .expect_code(1);
    assert!(
        run.stderr.contains("`002_b.sql` has been waiting")
            && run.stderr.contains("application `long-report`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("lock timeout"), "{}", run.stderr);
    assert!(
        run.stderr.contains("--ddl-lock-timeout SECS"),
        "{}",
        run.stderr
    );
    assert_eq!(db.history(), ["1:migration:applied"]);
    blocker.batch_execute("ROLLBACK").expect("releases");
    project.apply(&db, &[]).success();
}

#[test]
fn load_test_data_stops_on_sigint_and_rolls_back_the_file() {
    let server = require_pg!();
    let db = TestDb::new(server, "seed_sigint");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write("seed/reference/01_a.sql", "INSERT INTO a VALUES (1);\n")
        .write(
            "seed/fixtures/01_slow.sql",
            "INSERT INTO a VALUES (2);\nSELECT pg_sleep(60);\n",
        );
    project.apply(&db, &[]).success();
    let mut command = project.command("load-test-data");
    command
        .args(["-D", &db.url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("starts");
    wait_for_query(&db, "pg_sleep(60)");
    signal(&child, libc::SIGINT);
    let (run, _) = finish(child);
    let run = run.expect_code(130);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    assert!(
        run.stderr.contains("01_slow.sql` was rolled back")
            && run
                .stderr
                .contains("loaded before it, and still loaded: reference/01_a.sql"),
        "{}",
        run.stderr
    );
    assert_eq!(db.column("SELECT id FROM a ORDER BY id"), ["1"]);
    wait_for_no_sessions(&db);
}

#[test]
fn sigterm_to_restore_reaches_psql_and_leaves_nothing_restored() {
    let server = require_pg!();
    let db = TestDb::new(server, "restore_sigterm");
    let project = Project::empty();
    // A plain backup whose load takes a minute (pg_dump's completion line included, so
    // restore accepts it as whole).
    let backup = project.dir.path().join("slow.sql");
    std::fs::write(
        &backup,
        "CREATE TABLE restored (id int);\nSELECT pg_sleep(60);\n--\n-- PostgreSQL database dump complete\n--\n",
    )
    .expect("writes");
    let mut command = project.command("restore");
    command
        .args(["-D", &db.url])
        .arg(&backup)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("starts");
    wait_for_query(&db, "pg_sleep(60)");
    // SIGTERM to restore alone, as a service manager sends it: psql must hear of it too.
    signal(&child, libc::SIGTERM);
    let (run, took) = finish(child);
    let run = run.expect_code(130);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    wait_for_no_sessions(&db);
    assert!(
        db.tables("public").is_empty(),
        "the restore was rolled back"
    );
}

#[test]
fn a_savepoint_inside_the_files_own_block_is_not_its_end() {
    let server = require_pg!();
    let db = TestDb::new(server, "savepoint_block");
    let project = Project::empty();
    project.write(
        "migrations/001_backfill.sql",
        "CREATE TABLE t1 (id int);\nBEGIN;\nINSERT INTO t1 VALUES (1);\nSAVEPOINT s;\nINSERT INTO t1 VALUES (2);\nROLLBACK TO SAVEPOINT s;\nINSERT INTO t1 VALUES ('bad');\nCOMMIT;\nVACUUM t1;\n",
    );
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr.contains("001_backfill.sql:7:")
            && run.stderr.contains("invalid input syntax for type integer"),
        "{}",
        run.stderr
    );
    assert_eq!(db.history(), ["1:migration:failed"]);
    assert_eq!(
        db.value("SELECT statements_done || ':' || error_line FROM dbkit.schema_history"),
        "1:7"
    );
    assert_eq!(db.value("SELECT count(*) FROM t1"), "0");
}

#[test]
fn a_copy_of_an_applied_migration_under_a_new_number_is_not_run() {
    let server = require_pg!();
    let db = TestDb::new(server, "copied");
    let project = Project::empty();
    project
        .write(
            "migrations/001_a.sql",
            "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n",
        )
        .write("migrations/002_bump.sql", "UPDATE a SET id = id + 100;\n");
    project.apply(&db, &[]).success();
    // Two branches both added the same migration, under two numbers.
    project.write("migrations/003_bump.sql", "UPDATE a SET id = id + 100;\n");
    let refused = project.apply(&db, &[]).expect_code(1);
    assert!(
        refused
            .stderr
            .contains("`003_bump.sql` has the same content as `002_bump.sql`, which was applied: a copy of it?"),
        "{}",
        refused.stderr
    );
    assert_eq!(db.value("SELECT id FROM a"), "101");
    let status = project
        .apply(&db, &["--status", "--format", "json"])
        .expect_code(4)
        .json();
    assert_eq!(status["migrations"][2]["renamed_from"], "002_bump.sql");
    // Recorded by hand: history keeps both, nothing runs twice.
    project.apply(&db, &["--mark-applied", "3"]).success();
    assert_eq!(
        db.history(),
        [
            "1:migration:applied",
            "2:migration:applied",
            "3:manual:applied"
        ]
    );
    assert_eq!(db.value("SELECT id FROM a"), "101");
}

#[test]
fn a_failed_file_whose_file_is_gone_is_not_counted_as_applied() {
    let server = require_pg!();
    let db = TestDb::new(server, "failed_gone");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write(
            "migrations/002_half.sql",
            "-- dbkit:no-transaction\nCREATE TABLE b (id int);\nSELECT 1/0;\n",
        );
    project.apply(&db, &[]).expect_code(1);
    project.remove("migrations/002_half.sql");
    project.write("migrations/003_c.sql", "CREATE TABLE c (id int);\n");
    let status = project.apply(&db, &["--status"]).expect_code(4);
    assert!(
        status
            .stdout
            .contains("1 applied, 1 pending, 1 need attention"),
        "{}",
        status.stdout
    );
    let refused = project.apply(&db, &[]).expect_code(1);
    assert!(
        refused
            .stderr
            .contains("failed part-way and its file is gone"),
        "{}",
        refused.stderr
    );
    assert_eq!(db.tables("public"), ["a", "b"]);
}

#[test]
fn status_of_an_empty_database_with_only_a_snapshot_is_pending() {
    let server = require_pg!();
    let db = TestDb::new(server, "snapshot_only");
    let project = Project::empty();
    project.write("versions/v1.0_base.sql", "CREATE TABLE a (id int);\n");
    project.apply(&db, &["--status"]).expect_code(3);
    project.apply(&db, &[]).success();
    project.apply(&db, &["--status"]).success();
}

#[test]
fn a_closed_stdout_does_not_stop_a_run_half_way() {
    let server = require_pg!();
    let db = TestDb::new(server, "closed_stdout");
    let project = Project::empty();
    for n in 1..=5 {
        project.write(
            &format!("migrations/{n:03}_t{n}.sql"),
            &format!("CREATE TABLE t{n} (id int);\n"),
        );
    }
    // Like `apply-schema | head -1`: the reader is gone before the first line.
    let mut command = project.command("apply-schema");
    command
        .args(["-D", &db.url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("starts");
    drop(child.stdout.take());
    let status = child.wait().expect("waits");
    assert_eq!(status.code(), Some(0));
    assert_eq!(db.history().len(), 5, "every migration was applied");
}
