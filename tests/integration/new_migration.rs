//! new-migration end to end: the next number in the folder's style, down files and
//! dbmate sections, the no-transaction marker, never overwriting, the database's history
//! raising the number, --renumber for two branches that both added one number (refused
//! for an applied file), --dry-run and JSON. The files it writes apply as they are.

use crate::util;

use util::{Project, Run, TestDb};

fn new_migration(project: &Project, args: &[&str]) -> Run {
    let mut command = project.command("new-migration");
    command.args(args);
    Run::of(command)
}

fn files(project: &Project) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project.database().join("migrations"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn the_next_number_in_the_example_with_a_down_that_rollback_and_verify_accept() {
    let server = require_pg!();
    let db = TestDb::new(server, "new_migration_example");
    let project = Project::example();
    let run = new_migration(&project, &["add user preferences", "--down"]).success();
    assert!(
        run.stdout
            .contains("Created database/migrations/013_add_user_preferences.sql"),
        "{}",
        run.stdout
    );
    assert!(files(&project).contains(&"013_add_user_preferences.down.sql".to_string()));
    let up = project.read("migrations/013_add_user_preferences.sql");
    assert!(
        up.starts_with("-- Migration 013: add user preferences\n"),
        "{up}"
    );
    assert!(up.contains("lock_timeout"), "{up}");
    // The person writes the change; the files apply, roll back and verify as they are.
    project.write(
        "migrations/013_add_user_preferences.sql",
        &format!("{up}CREATE TABLE user_preference (user_id bigint, k text, v text);\n"),
    );
    let down = project.read("migrations/013_add_user_preferences.down.sql");
    project.write(
        "migrations/013_add_user_preferences.down.sql",
        &format!("{down}DROP TABLE user_preference;\n"),
    );
    project.apply(&db, &[]).success();
    assert!(db.tables("public").contains(&"user_preference".to_string()));
    let mut rollback = project.command("rollback");
    rollback.args(["-D", &db.url, "--yes"]);
    Run::of(rollback).success();
    assert!(!db.tables("public").contains(&"user_preference".to_string()));
    assert_eq!(db.history().len(), 12);
}

#[test]
fn keeps_each_folders_style() {
    let cases: [(&[&str], &str, &[&str]); 5] = [
        (&[], "001_add_prefs.sql", &[]),
        (&["0012-add-things.sql"], "0013-add-prefs.sql", &[]),
        (&["V12__add_things.sql"], "V13__add_prefs.sql", &[]),
        (
            &["000012_a.up.sql", "000012_a.down.sql"],
            "000013_add_prefs.up.sql",
            &["000013_add_prefs.down.sql"],
        ),
        (&["012_a.sql", "012_a.down.sql"], "013_add_prefs.sql", &[]),
    ];
    for (existing, expected, also) in cases {
        let project = Project::empty();
        for file in existing {
            project.write(&format!("migrations/{file}"), "SELECT 1;\n");
        }
        new_migration(&project, &["Add prefs"]).success();
        let found = files(&project);
        assert!(
            found.contains(&expected.to_string()),
            "{existing:?}: {found:?}"
        );
        for file in also {
            assert!(found.contains(&file.to_string()), "{existing:?}: {found:?}");
        }
        assert_eq!(found.len(), existing.len() + 1 + also.len(), "{found:?}");
    }
}

#[test]
fn a_timestamp_folder_and_a_dbmate_folder() {
    let project = Project::empty();
    project.write(
        "migrations/20240101120000_a.sql",
        "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n",
    );
    let out = new_migration(&project, &["add b", "--no-transaction", "--format", "json"])
        .success()
        .json();
    let version = out["version"].as_u64().expect("version");
    let today: u64 = chrono::Utc::now()
        .format("%Y%m%d")
        .to_string()
        .parse()
        .expect("date");
    assert_eq!(version / 1_000_000, today, "{out:#}");
    let name = format!("{version}_add_b.sql");
    assert_eq!(out["created"][0], format!("database/migrations/{name}"));
    let text = project.read(&format!("migrations/{name}"));
    assert!(
        text.starts_with("-- migrate:up transaction:false\n"),
        "{text}"
    );
    assert!(
        text.contains("\n-- migrate:down transaction:false\n"),
        "{text}"
    );
    assert_eq!(files(&project).len(), 2, "a dbmate file holds its own down");
}

#[test]
fn no_transaction_marks_the_file_and_its_down() {
    let server = require_pg!();
    let db = TestDb::new(server, "new_migration_no_tx");
    let project = Project::empty();
    new_migration(
        &project,
        &["concurrent index", "--down", "--no-transaction"],
    )
    .success();
    let up = project.read("migrations/001_concurrent_index.sql");
    let down = project.read("migrations/001_concurrent_index.down.sql");
    assert!(up.starts_with("-- dbkit:no-transaction\n"), "{up}");
    assert!(down.starts_with("-- dbkit:no-transaction\n"), "{down}");
    project.write(
        "migrations/001_concurrent_index.sql",
        &format!("{up}CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n"),
    );
    project.apply(&db, &[]).success();
    assert_eq!(
        db.value("SELECT count(*) FROM pg_indexes WHERE indexname = 't_id'"),
        "1"
    );
}

#[test]
fn never_takes_a_used_number_and_dry_run_writes_nothing() {
    let project = Project::empty();
    project.write("migrations/001_a.sql", "SELECT 1;\n");
    let dry = new_migration(&project, &["b", "--down", "--dry-run"]).success();
    assert!(
        dry.stdout
            .contains("Would create database/migrations/002_b.sql"),
        "{}",
        dry.stdout
    );
    assert_eq!(files(&project), ["001_a.sql"]);
    // A down file without its up still holds its number: the new file goes above it,
    // and the person's file is left as it was.
    project.write("migrations/002_b.down.sql", "-- mine\n");
    new_migration(&project, &["b", "--down"]).success();
    assert_eq!(
        files(&project),
        ["001_a.sql", "002_b.down.sql", "003_b.down.sql", "003_b.sql"]
    );
    assert_eq!(project.read("migrations/002_b.down.sql"), "-- mine\n");
    let bad = new_migration(&project, &["!!!"]).expect_code(2);
    assert!(
        bad.stderr.contains("no letters or digits"),
        "{}",
        bad.stderr
    );
}

#[test]
fn the_databases_history_raises_the_number_with_a_warning() {
    let server = require_pg!();
    let db = TestDb::new(server, "new_migration_history");
    let project = Project::empty();
    project.write("migrations/001_a.sql", "CREATE TABLE a (id int);\n");
    project.write("migrations/002_b.sql", "CREATE TABLE b (id int);\n");
    project.apply(&db, &[]).success();
    // Another branch's 002 and 003 ran on this database; this checkout has another 002.
    project.remove("migrations/002_b.sql");
    db.client()
        .batch_execute(
            "INSERT INTO dbkit.schema_history (version, file, checksum, source, dbkit_version)
             SELECT 3, '003_other_branch.sql', checksum, source, dbkit_version
             FROM dbkit.schema_history WHERE version = 2",
        )
        .expect("history row");
    let run = new_migration(&project, &["-D", &db.url, "mine"]).success();
    assert!(run.stdout.contains("004_mine.sql"), "{}", run.stdout);
    assert!(
        run.stderr.contains("003_other_branch.sql"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("which this folder does not have"),
        "{}",
        run.stderr
    );
    // A database that does not answer is a warning: the folder still numbers.
    let run = new_migration(
        &project,
        &["-D", "postgres://nobody@127.0.0.1:1/none", "next"],
    )
    .success();
    assert!(run.stdout.contains("005_next.sql"), "{}", run.stdout);
    assert!(
        run.stderr.contains("numbered from the folder only"),
        "{}",
        run.stderr
    );
}

#[test]
fn renumber_moves_the_unapplied_duplicate_and_its_down_and_refuses_an_applied_one() {
    let server = require_pg!();
    let db = TestDb::new(server, "new_migration_renumber");
    let project = Project::empty();
    project.write("migrations/001_a.sql", "CREATE TABLE a (id int);\n");
    project.write("migrations/002_mine.sql", "CREATE TABLE mine (id int);\n");
    project.apply(&db, &[]).success();
    // The merge brings the other branch's 002 (with a down).
    project.write(
        "migrations/002_theirs.sql",
        "CREATE TABLE theirs (id int);\n",
    );
    project.write("migrations/002_theirs.down.sql", "DROP TABLE theirs;\n");
    let refused = project.apply(&db, &[]).expect_code(1);
    assert!(refused.stderr.contains("002"), "{}", refused.stderr);
    let applied = new_migration(
        &project,
        &[
            "-D",
            &db.url,
            "--renumber",
            "database/migrations/002_mine.sql",
        ],
    )
    .expect_code(1);
    assert!(
        applied.stderr.contains("is applied on"),
        "{}",
        applied.stderr
    );
    assert!(files(&project).contains(&"002_mine.sql".to_string()));
    let moved = new_migration(
        &project,
        &[
            "-D",
            &db.url,
            "--renumber",
            "database/migrations/002_theirs.sql",
            "--format",
            "json",
        ],
    )
    .success()
    .json();
    assert_eq!(moved["version"], 3, "{moved:#}");
    assert_eq!(
        files(&project),
        [
            "001_a.sql",
            "002_mine.sql",
            "003_theirs.down.sql",
            "003_theirs.sql"
        ]
    );
    assert_eq!(
        project.read("migrations/003_theirs.down.sql"),
        "DROP TABLE theirs;\n"
    );
    project.apply(&db, &[]).success();
    assert!(db.tables("public").contains(&"theirs".to_string()));
    let not_here = new_migration(&project, &["--renumber", "elsewhere.sql"]).expect_code(1);
    assert!(
        not_here.stderr.contains("elsewhere.sql"),
        "{}",
        not_here.stderr
    );
}
