//! rollback and verify-migrations end to end against a real server: downs as files and as
//! dbmate sections, the audit row, refusals that change nothing (no down, held by a
//! snapshot, no terminal), a down that fails (the real error, nothing changed), SIGINT
//! during a down (undone, lock released, exit 130), and verify-migrations finding a down
//! that leaves an index behind, a down that fails, and one that only fails over seed data,
//! leaving no throwaway database behind.

use crate::util;

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use util::{Project, Run, TestDb};

/// verify-migrations tests count the throwaway databases on the shared server, so they
/// do not overlap.
static VERIFYING: Mutex<()> = Mutex::new(());

/// Three migrations: a table (no down), a column with a down file, an index as a dbmate
/// file with both sections.
fn project() -> Project {
    let project = Project::empty();
    project
        .write(
            "migrations/001_users.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n",
        )
        .write(
            "migrations/002_add_locale.sql",
            "ALTER TABLE users ADD COLUMN locale text NOT NULL DEFAULT 'en';\n",
        )
        .write(
            "migrations/002_add_locale.down.sql",
            "ALTER TABLE users DROP COLUMN locale;\n",
        )
        .write(
            "migrations/003_email_index.sql",
            "-- migrate:up\nCREATE INDEX users_email ON users (email);\n\n-- migrate:down\nDROP INDEX users_email;\n",
        );
    project
}

fn program(project: &Project, name: &str, db: &TestDb, args: &[&str]) -> Run {
    let mut command = project.command(name);
    command.args(["-D", &db.url]).args(args);
    Run::of(command)
}

fn columns(db: &TestDb, table: &str) -> Vec<String> {
    db.column(&format!(
        "SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position"
    ))
}

fn indexes(db: &TestDb) -> Vec<String> {
    db.column("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
}

#[test]
fn rollback_runs_downs_newest_first_and_keeps_an_audit() {
    let server = require_pg!();
    let db = TestDb::new(server, "rb_basic");
    let project = project();
    program(&project, "apply-schema", &db, &[]).success();
    assert_eq!(indexes(&db), ["users_email", "users_pkey"]);

    // --dry-run says what would run and changes nothing.
    let dry = program(&project, "rollback", &db, &["--dry-run", "--steps", "2"]).success();
    assert!(dry.stdout.contains("003_email_index.sql"), "{}", dry.stdout);
    assert_eq!(db.history().len(), 3);
    assert_eq!(indexes(&db), ["users_email", "users_pkey"]);

    // The dbmate file's down section, then the down file.
    let json = program(
        &project,
        "rollback",
        &db,
        &["--yes", "--steps", "2", "--format", "json"],
    )
    .success()
    .json();
    let rolled: Vec<&str> = json["rollback"]["rolled_back"]
        .as_array()
        .expect("rolled back")
        .iter()
        .map(|r| r["file"].as_str().expect("file"))
        .collect();
    assert_eq!(
        rolled,
        ["003_email_index.sql", "002_add_locale.sql"],
        "{json:#}"
    );
    assert_eq!(indexes(&db), ["users_pkey"]);
    assert_eq!(columns(&db, "users"), ["id", "email"]);
    assert_eq!(db.history(), ["1:migration:applied"]);
    let audit = db.column("SELECT version || ' ' || down_file || ' ' || length(checksum) FROM dbkit.rollbacks ORDER BY id");
    assert_eq!(
        audit,
        ["3 003_email_index.sql 64", "2 002_add_locale.down.sql 64"],
        "{audit:?}"
    );

    // 001 has no down: refused, naming the file to write, nothing changed.
    let refused = program(&project, "rollback", &db, &["--yes"]).expect_code(1);
    assert!(
        refused.stderr.contains("001_users.down.sql"),
        "{}",
        refused.stderr
    );
    assert_eq!(db.history(), ["1:migration:applied"]);
    assert_eq!(db.tables("public"), ["users"]);

    // Applying again brings both back.
    program(&project, "apply-schema", &db, &[]).success();
    assert_eq!(db.history().len(), 3);
    assert_eq!(columns(&db, "users"), ["id", "email", "locale"]);
}

#[test]
fn without_a_terminal_rollback_needs_yes_and_changes_nothing() {
    let server = require_pg!();
    let db = TestDb::new(server, "rb_yes");
    let project = project();
    program(&project, "apply-schema", &db, &[]).success();
    let mut command = project.command("rollback");
    command.args(["-D", &db.url]).stdin(Stdio::null());
    let refused = Run::of(command).expect_code(2);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(db.history().len(), 3);
    assert_eq!(indexes(&db), ["users_email", "users_pkey"]);
}

#[test]
fn a_failing_down_reports_the_real_error_and_changes_nothing() {
    let server = require_pg!();
    let db = TestDb::new(server, "rb_fail");
    let project = project();
    program(&project, "apply-schema", &db, &[]).success();
    project.write(
        "migrations/002_add_locale.down.sql",
        "ALTER TABLE users DROP COLUMN locale;\nALTER TABLE users DROP COLUMN no_such_column;\n",
    );
    let failed = program(&project, "rollback", &db, &["--yes", "--steps", "2"]).expect_code(1);
    let err = &failed.stderr;
    assert!(err.contains("002_add_locale.down.sql:2"), "{err}");
    assert!(err.contains("no_such_column"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    // 003 was rolled back before it and stays rolled back; 002 is untouched.
    assert!(err.contains("003_email_index.sql"), "{err}");
    assert_eq!(db.history(), ["1:migration:applied", "2:migration:applied"]);
    assert_eq!(columns(&db, "users"), ["id", "email", "locale"]);
}

#[test]
fn rollback_refuses_what_a_snapshot_holds() {
    let server = require_pg!();
    let source = TestDb::new(server, "rb_snap_source");
    let project = project();
    project.remove("migrations/003_email_index.sql");
    program(&project, "apply-schema", &source, &[]).success();
    program(
        &project,
        "create-phase-snapshot",
        &source,
        &["v2.0", "Phase 2"],
    )
    .success();
    project.write(
        "migrations/003_email_index.sql",
        "-- migrate:up\nCREATE INDEX users_email ON users (email);\n\n-- migrate:down\nDROP INDEX users_email;\n",
    );
    let fresh = TestDb::new(server, "rb_snap_fresh");
    program(&project, "apply-schema", &fresh, &[]).success();
    assert_eq!(
        fresh.history(),
        [
            "1:snapshot:applied",
            "2:snapshot:applied",
            "3:migration:applied"
        ]
    );
    let before = fresh.fingerprint();
    let refused = program(&project, "rollback", &fresh, &["--yes", "--to", "0"]).expect_code(1);
    assert!(refused.stderr.contains("snapshot"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("002_add_locale.sql"),
        "{}",
        refused.stderr
    );
    assert_eq!(fresh.fingerprint(), before, "nothing rolled back");
    assert_eq!(fresh.history().len(), 3);
    // Above the snapshot is fine.
    program(&project, "rollback", &fresh, &["--yes"]).success();
    assert_eq!(fresh.history().len(), 2);
}

/// Waits (at most 20 s) until `check` holds.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: not within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn(project: &Project, name: &str, db: &TestDb, args: &[&str]) -> Child {
    let mut command: Command = project.command(name);
    command
        .args(["-D", &db.url])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn().expect("starts")
}

#[test]
fn sigint_during_a_down_undoes_it_releases_the_lock_and_exits_130() {
    let server = require_pg!();
    let db = TestDb::new(server, "rb_sigint");
    let project = project();
    program(&project, "apply-schema", &db, &[]).success();
    project.write(
        "migrations/002_add_locale.down.sql",
        "ALTER TABLE users DROP COLUMN locale;\nSELECT pg_sleep(60);\n",
    );
    let child = spawn(&project, "rollback", &db, &["--yes", "--steps", "2"]);
    let sleeping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()",
        db.name
    );
    wait_until("the down reaches pg_sleep", || db.value(&sleeping) == "1");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (run, _) = Run::finish_within(child, Duration::from_secs(20));
    assert_eq!(run.code, 130, "{}", run.stderr);
    // 003 was rolled back before the signal; 002's down was undone whole.
    assert_eq!(db.history(), ["1:migration:applied", "2:migration:applied"]);
    assert_eq!(columns(&db, "users"), ["id", "email", "locale"]);
    wait_until("the down's session ends", || db.value(&sleeping) == "0");
    let locks = format!(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = '{}'",
        db.name
    );
    assert_eq!(db.value(&locks), "0", "the migration lock is released");
    // The next run finishes the job.
    project.write(
        "migrations/002_add_locale.down.sql",
        "ALTER TABLE users DROP COLUMN locale;\n",
    );
    program(&project, "rollback", &db, &["--yes"]).success();
    assert_eq!(db.history(), ["1:migration:applied"]);
}

fn throwaways(db: &TestDb) -> String {
    db.value("SELECT count(*) FROM pg_database WHERE datname LIKE 'dbkit\\_verify%'")
}

#[test]
fn verify_passes_reversible_downs_in_files_and_sections() {
    let _serial = VERIFYING.lock().unwrap_or_else(|e| e.into_inner());
    let server = require_pg!();
    let db = TestDb::new(server, "verify_ok");
    let project = project();
    let json = program(&project, "verify-migrations", &db, &["--format", "json"])
        .success()
        .json();
    let outcomes: Vec<(&str, &str)> = json["checked"]
        .as_array()
        .expect("checked")
        .iter()
        .map(|c| {
            (
                c["file"].as_str().expect("file"),
                c["outcome"].as_str().expect("outcome"),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("001_users.sql", "no_down"),
            ("002_add_locale.sql", "reversible"),
            ("003_email_index.sql", "reversible")
        ],
        "{json:#}"
    );
    // The configured database is untouched and no throwaway is left.
    assert!(db.tables("public").is_empty());
    assert_eq!(throwaways(&db), "0");
    // A migration without a down fails under --require-down.
    let strict = program(&project, "verify-migrations", &db, &["--require-down"]).expect_code(8);
    assert!(strict.stdout.contains("001_users.sql"), "{}", strict.stdout);
    assert_eq!(throwaways(&db), "0");
}

#[test]
fn verify_finds_a_down_that_leaves_an_index_behind_and_stops_there() {
    let _serial = VERIFYING.lock().unwrap_or_else(|e| e.into_inner());
    let server = require_pg!();
    let db = TestDb::new(server, "verify_index");
    let project = project();
    project.write(
        "migrations/003_email_index.sql",
        "-- migrate:up\nCREATE INDEX users_email ON users (email);\nCREATE INDEX users_locale ON users (locale);\n\n-- migrate:down\nDROP INDEX users_email;\n",
    );
    project.write(
        "migrations/004_more.sql",
        "ALTER TABLE users ADD COLUMN name text;\n",
    );
    project.write(
        "migrations/004_more.down.sql",
        "ALTER TABLE users DROP COLUMN name;\n",
    );
    let run = program(&project, "verify-migrations", &db, &[]).expect_code(8);
    assert!(run.stdout.contains("users_locale"), "{}", run.stdout);
    assert!(run.stdout.contains("left behind"), "{}", run.stdout);
    assert!(
        run.stdout.contains("not checked after that: 004_more.sql"),
        "{}",
        run.stdout
    );
    let json = program(&project, "verify-migrations", &db, &["--format", "json"])
        .expect_code(8)
        .json();
    let last = json["checked"]
        .as_array()
        .expect("checked")
        .last()
        .expect("one");
    assert_eq!(last["file"], "003_email_index.sql");
    assert_eq!(last["outcome"], "down_differs");
    let difference = &last["differences"][0];
    assert_eq!(difference["change"], "extra", "{difference:#}");
    assert!(difference["name"]
        .as_str()
        .expect("name")
        .contains("users_locale"));
    assert_eq!(json["not_checked"], serde_json::json!(["004_more.sql"]));
    assert_eq!(throwaways(&db), "0");
}

#[test]
fn verify_reports_a_down_that_fails_and_goes_on() {
    let _serial = VERIFYING.lock().unwrap_or_else(|e| e.into_inner());
    let server = require_pg!();
    let db = TestDb::new(server, "verify_fail");
    let project = project();
    project.write(
        "migrations/002_add_locale.down.sql",
        "ALTER TABLE users DROP COLUMN locale;\nALTER TABLE users DROP COLUMN nope;\n",
    );
    let json = program(&project, "verify-migrations", &db, &["--format", "json"])
        .expect_code(8)
        .json();
    let checked = json["checked"].as_array().expect("checked");
    assert_eq!(checked[1]["outcome"], "down_failed", "{json:#}");
    let error = checked[1]["error"].as_str().expect("error");
    assert!(
        error.contains("nope") && error.contains("002_add_locale.down.sql"),
        "{error}"
    );
    assert_eq!(checked[2]["outcome"], "reversible", "{json:#}");
    assert_eq!(throwaways(&db), "0");
}

#[test]
fn verify_with_data_finds_a_down_that_fails_only_on_rows() {
    let _serial = VERIFYING.lock().unwrap_or_else(|e| e.into_inner());
    let server = require_pg!();
    let db = TestDb::new(server, "verify_data");
    let project = Project::empty();
    project
        .write(
            "migrations/001_notes.sql",
            "CREATE TABLE note (id bigint PRIMARY KEY, body text NOT NULL);\n",
        )
        .write(
            "migrations/002_optional_body.sql",
            "ALTER TABLE note ALTER COLUMN body DROP NOT NULL;\n",
        )
        .write(
            "migrations/002_optional_body.down.sql",
            "ALTER TABLE note ALTER COLUMN body SET NOT NULL;\n",
        )
        .write(
            "seed/fixtures/01_notes.sql",
            "INSERT INTO note (id, body) VALUES (1, 'a'), (2, NULL);\n",
        );
    // The schema alone goes down and up cleanly.
    program(&project, "verify-migrations", &db, &[]).success();
    let json = program(
        &project,
        "verify-migrations",
        &db,
        &["--with-data", "--format", "json"],
    )
    .expect_code(8)
    .json();
    let failed: Vec<&serde_json::Value> = json["checked"]
        .as_array()
        .expect("checked")
        .iter()
        .filter(|c| c["pass"] == "with_data")
        .collect();
    assert_eq!(failed[0]["file"], "002_optional_body.sql", "{json:#}");
    assert_eq!(failed[0]["outcome"], "down_failed", "{json:#}");
    assert!(
        failed[0]["error"]
            .as_str()
            .expect("error")
            .contains("null values"),
        "{json:#}"
    );
    assert_eq!(throwaways(&db), "0");
}

#[test]
fn sigint_during_verify_drops_the_throwaway_database() {
    let _serial = VERIFYING.lock().unwrap_or_else(|e| e.into_inner());
    let server = require_pg!();
    let db = TestDb::new(server, "verify_sigint");
    let project = project();
    project.write(
        "migrations/002_add_locale.down.sql",
        "SELECT pg_sleep(60);\nALTER TABLE users DROP COLUMN locale;\n",
    );
    let child = spawn(&project, "verify-migrations", &db, &[]);
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // This run's throwaway only: other tests sleep at the same time.
    let sleeping = format!("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'dbkit\\_verify\\_%\\_{pid}\\_%' AND query LIKE '%pg_sleep(60)%'");
    wait_until("the down reaches pg_sleep", || db.value(&sleeping) == "1");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (run, _) = Run::finish_within(child, Duration::from_secs(20));
    assert_eq!(run.code, 130, "{}", run.stderr);
    wait_until("the throwaway database is dropped", || {
        db.value(&format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'dbkit\\_verify\\_%\\_{pid}\\_%'"
        )) == "0"
    });
}

#[test]
fn kill_9_during_a_down_outside_a_transaction_leaves_it_recorded_half_rolled_back() {
    let server = require_pg!();
    let db = TestDb::new(server, "rb_kill9");
    let project = Project::empty();
    project
        .write(
            "migrations/001_t.sql",
            "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n",
        )
        .write(
            "migrations/001_t.down.sql",
            "-- dbkit:no-transaction\nDROP INDEX CONCURRENTLY t_id;\nSELECT pg_sleep(60);\nDROP TABLE t;\n",
        );
    program(&project, "apply-schema", &db, &[]).success();
    let child = spawn(&project, "rollback", &db, &["--yes"]);
    let sleeping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()",
        db.name
    );
    wait_until("the down reaches pg_sleep", || db.value(&sleeping) == "1");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let _ = Run::finish_within(child, Duration::from_secs(20));
    // The first statement committed; the row says the migration is half rolled back.
    assert!(indexes(&db).is_empty());
    assert_eq!(db.tables("public"), ["t"]);
    assert_eq!(db.history(), ["1:migration:failed"]);
    let refused = program(&project, "apply-schema", &db, &[]).expect_code(1);
    assert!(
        refused.stderr.contains("`001_t.sql` is half rolled back")
            && refused.stderr.contains("not known"),
        "{}",
        refused.stderr
    );
    let again = program(&project, "rollback", &db, &["--yes"]).expect_code(1);
    assert!(again.stderr.contains("did not finish"), "{}", again.stderr);
    // Settled by hand: finish the down, then the migration applies again.
    db.client()
        .batch_execute("DROP TABLE t")
        .expect("finishes the down");
    program(&project, "apply-schema", &db, &["--retry-failed"]).success();
    assert_eq!(db.history(), ["1:migration:applied"]);
    assert_eq!(indexes(&db), ["t_id"]);
}
