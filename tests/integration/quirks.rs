//! apply-schema on what real folders hold: pg_dump output as a snapshot (`\restrict`,
//! an emptied `search_path`), psql meta-commands, bad files, and two runs at once.

use crate::util;

use std::process::{Command, Stdio};

use util::{Project, Run, TestDb};

/// `pg_dump --schema-only` of a database, without dbkit's schema and without the lines
/// that differ between two dumps of one schema.
fn dump(db: &TestDb) -> String {
    let pg_dump = dbkit::pg::tools::Finder::new(std::env::var_os("PATH"))
        .find("pg_dump")
        .expect("pg_dump");
    let out = Command::new(pg_dump)
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-schema=dbkit",
            "-d",
            &db.url,
        ])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter(|l| {
            !l.starts_with("-- Dumped")
                && !l.starts_with("\\restrict")
                && !l.starts_with("\\unrestrict")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_pg_dump_snapshot_loads_and_later_migrations_see_a_normal_search_path() {
    let server = require_pg!();
    let source = TestDb::new(server, "dump_source");
    let project = Project::example();
    project.apply(&source, &[]).success();
    let body = dump(&source);
    assert!(
        body.contains("set_config('search_path', '', false)"),
        "pg_dump empties search_path"
    );
    let header = "-- Schema Version: v2.0\n-- Description: Phase 2\n-- Generated: 2026-11-22 10:00:00 UTC\n-- DO NOT EDIT: generated\n-- Last Migration: 12 (012_add_concurrent_search_indexes.sql)\n";
    // pg_dump 17.6 and later write these; the snapshot must load with them.
    let snapshot = format!("{header}\n\\restrict Zx9key\n{body}\n\\unrestrict Zx9key\n");
    project.write("versions/v2.0_phase_2.sql", &snapshot);
    // Unqualified names: only works if the dump's empty search_path was reset.
    project.write("migrations/013_add_contract_note.sql", "CREATE TABLE contract_note (id bigint PRIMARY KEY, contract_id bigint REFERENCES contract(id));\n");
    let db = TestDb::new(server, "dump_target");
    let run = project.apply(&db, &[]).success();
    assert!(
        run.stdout
            .contains("snapshot v2.0_phase_2.sql loaded (includes migrations up to 12)"),
        "{}",
        run.stdout
    );
    let mut expected: Vec<String> = (1..=12).map(|v| format!("{v}:snapshot:applied")).collect();
    expected.push("13:migration:applied".into());
    assert_eq!(db.history(), expected);
    assert!(db.tables("public").contains(&"contract_note".to_string()));
    // The snapshot reproduces the schema the migrations built.
    project.apply(&source, &[]).success();
    assert_eq!(dump(&db), dump(&source));
}

#[test]
fn an_edited_snapshot_is_reported() {
    let server = require_pg!();
    let db = TestDb::new(server, "edited_snapshot");
    let project = Project::empty();
    let body = "\nCREATE TABLE a (id int);\n";
    let checksum = dbkit::project::migrations::checksum(body);
    project.write("versions/v1.0_base.sql", &format!("-- Schema Version: v1.0\n-- Body Checksum: {checksum}\n{body}CREATE TABLE sneaky (id int);\n"));
    let run = project.apply(&db, &[]).success();
    assert!(
        run.stderr
            .contains("snapshot `v1.0_base.sql` was edited after it was generated"),
        "{}",
        run.stderr
    );
}

#[test]
fn psql_meta_commands_other_than_restrict_are_refused_with_their_line() {
    let server = require_pg!();
    let db = TestDb::new(server, "meta");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write(
            "migrations/002_b.sql",
            "CREATE TABLE b (id int);\n\\connect other\nCREATE TABLE c (id int);\n",
        );
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("002_b.sql:2: psql meta-command `\\connect` is not supported"),
        "{}",
        run.stderr
    );
    assert_eq!(db.history(), ["1:migration:applied"]);
    assert_eq!(db.tables("public"), ["a"]);
}

#[test]
fn bad_files_name_the_file_and_line_and_change_nothing() {
    let server = require_pg!();
    let db = TestDb::new(server, "badfiles");
    let project = Project::empty();
    project.write("migrations/001_a.sql", "CREATE TABLE a (id int);\n");
    project.apply(&db, &[]).success();
    let fingerprint = db.fingerprint();
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "002_dollar.sql",
            b"CREATE TABLE b (id int);\nCREATE FUNCTION f() RETURNS int AS $body$\nSELECT 1;\n",
            "002_dollar.sql:2:36: unterminated dollar-quoted string `$body$`",
        ),
        (
            "002_quote.sql",
            b"SELECT 1;\n\nSELECT 'oops;\n",
            "002_quote.sql:3:8: unterminated quoted string",
        ),
        (
            "002_latin1.sql",
            b"-- caf\xe9\nSELECT 1;\n",
            "002_latin1.sql` is not valid UTF-8 (first bad byte on line 1)",
        ),
    ];
    for (file, bytes, message) in cases {
        std::fs::write(project.database().join("migrations").join(file), bytes).expect("writes");
        let run = project.apply(&db, &[]).expect_code(1);
        assert!(run.stderr.contains(message), "{file}: {}", run.stderr);
        assert_eq!(db.fingerprint(), fingerprint, "{file} changed the database");
        project.remove(&format!("migrations/{file}"));
    }
    let mut c = project.command("apply-schema");
    c.args(["-D", &db.url, "--dir", "elsewhere"]);
    let run = Run::of(c).expect_code(1);
    assert!(
        run.stderr.contains("database folder `elsewhere` not found"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: run from the project root, or pass `--dir PATH`"),
        "{}",
        run.stderr
    );
}

#[test]
fn empty_files_are_allowed_and_recorded_and_down_files_are_not_applied() {
    let server = require_pg!();
    let db = TestDb::new(server, "empty_files");
    let project = Project::empty();
    project
        .write("migrations/V0001.Init.up.sql", "CREATE TABLE a (id int);\n")
        .write("migrations/V0001.Init.down.sql", "DROP TABLE a;\n")
        .write("migrations/V0002.Nothing.up.sql", "")
        .write("migrations/V0002.Nothing.down.sql", "")
        .write("migrations/V0003.Comments.up.sql", "-- nothing to do yet\n");
    project.apply(&db, &[]).success();
    assert_eq!(
        db.history(),
        [
            "1:migration:applied",
            "2:migration:applied",
            "3:migration:applied"
        ]
    );
    assert_eq!(db.tables("public"), ["a"]);
}

#[test]
fn a_held_lock_makes_a_run_wait_then_give_up_naming_the_holder() {
    let server = require_pg!();
    let db = TestDb::new(server, "lock");
    let project = Project::empty();
    project.write("migrations/001_a.sql", "CREATE TABLE a (id int);\n");
    let mut holder = db.client();
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&dbkit::pg::lock::KEY])
        .expect("locks");
    let run = project.apply(&db, &["--lock-timeout", "1"]).expect_code(1);
    assert!(
        run.stderr
            .contains("another dbkit run holds the migration lock"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("held by pid"), "{}", run.stderr);
    assert!(db.tables("public").is_empty());
    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&dbkit::pg::lock::KEY])
        .expect("unlocks");
    project.apply(&db, &["--lock-timeout", "1"]).success();
    assert_eq!(db.history(), ["1:migration:applied"]);
}

#[test]
fn concurrent_runs_apply_each_file_once() {
    let server = require_pg!();
    let db = TestDb::new(server, "concurrent");
    let project = Project::example();
    for v in 13..=30 {
        project.write(
            &format!("migrations/{v:03}_step.sql"),
            &format!("CREATE TABLE step_{v} (id int);\nSELECT pg_sleep(0.01);\n"),
        );
    }
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut c = project.command("apply-schema");
            c.args(["-D", &db.url, "--format", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            c.spawn().expect("spawns")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("finishes");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        db.value("SELECT count(*) || ' ' || count(DISTINCT version) FROM dbkit.schema_history"),
        "30 30"
    );
    assert_eq!(db.value("SELECT count(*) FROM dbkit.snapshot_history"), "1");
}

#[test]
fn a_run_waits_for_a_server_that_is_not_there_yet() {
    let server = require_pg!();
    let db = TestDb::new(server, "wait");
    let project = Project::example();
    let later = tempfile::tempdir().expect("temp dir");
    let link = later.path().join("socket");
    let conninfo = db.url.replace(
        &server.cluster.socket_dir().display().to_string(),
        &link.display().to_string(),
    );
    let mut c = project.command("apply-schema");
    c.args(["-D", &conninfo, "--wait", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("spawns");
    std::thread::sleep(std::time::Duration::from_millis(800));
    std::os::unix::fs::symlink(server.cluster.socket_dir(), &link).expect("links");
    let out = child.wait_with_output().expect("finishes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.history().len(), 12);
    let mut c = project.command("apply-schema");
    c.args(["-D", &conninfo.replace("socket", "never")]);
    let run = Run::of(c).expect_code(1);
    assert!(
        run.stderr.contains("cannot connect to host="),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--wait SECS"), "{}", run.stderr);
}

#[test]
fn another_role_applies_over_history_it_does_not_own() {
    let server = require_pg!();
    let db = TestDb::new(server, "other_role");
    let project = Project::empty();
    project.write("migrations/001_a.sql", "CREATE TABLE a (id int);\n");
    project.apply(&db, &[]).success();
    let role = format!("r_{}", db.name);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; GRANT ALL ON SCHEMA public TO {role}; \
             GRANT USAGE ON SCHEMA dbkit TO {role}; GRANT ALL ON ALL TABLES IN SCHEMA dbkit TO {role};"
        ))
        .expect("grants");
    project.write("migrations/002_b.sql", "CREATE TABLE b (id int);\n");
    let url = db.url.replace("user=postgres", &format!("user={role}"));
    let mut c = project.command("apply-schema");
    c.args(["-D", &url]);
    Run::of(c).success();
    assert_eq!(
        db.value("SELECT applied_by FROM dbkit.schema_history WHERE version = 2"),
        role
    );
    assert_eq!(
        db.value("SELECT tableowner FROM pg_tables WHERE tablename = 'b'"),
        role
    );
}
