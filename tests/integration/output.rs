//! What people read: the text output of apply-schema, checked with insta snapshots
//! (durations, timestamps, temp paths and database names replaced by placeholders).
//! Update with `INSTA_UPDATE=always cargo test --test integration output::` and review the diff.

use crate::util;

use util::{redact, Project, TestDb};

#[test]
fn fresh_apply_output() {
    let server = require_pg!();
    let db = TestDb::new(server, "out_fresh");
    let project = Project::example();
    let run = project.apply(&db, &[]).success();
    insta::assert_snapshot!("fresh_apply", redact(&run.stdout, &db, &project));
    let again = project.apply(&db, &[]).success();
    insta::assert_snapshot!("noop_apply", redact(&again.stdout, &db, &project));
}

#[test]
fn dry_run_output() {
    let server = require_pg!();
    let db = TestDb::new(server, "out_dry");
    let project = Project::example();
    let run = project.apply(&db, &["--dry-run"]).success();
    insta::assert_snapshot!("dry_run", redact(&run.stdout, &db, &project));
}

#[test]
fn status_output() {
    let server = require_pg!();
    let db = TestDb::new(server, "out_status");
    let project = Project::example();
    project.apply(&db, &["--target", "9"]).success();
    project.write(
        "migrations/002_add_contract_pii_mapping.sql",
        "-- edited after it was applied\nSELECT 1;\n",
    );
    let run = project.apply(&db, &["--status"]).expect_code(4);
    insta::assert_snapshot!("status", redact(&run.stdout, &db, &project));
}

#[test]
fn failure_output() {
    let server = require_pg!();
    let db = TestDb::new(server, "out_failure");
    let project = Project::empty();
    project
        .write("migrations/001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY);\n")
        .write("migrations/002_orders.sql", "CREATE TABLE orders (\n    id bigint PRIMARY KEY,\n    user_id bigint REFERENCES user (id)\n);\n");
    let run = project.apply(&db, &[]).expect_code(1);
    insta::assert_snapshot!("failure_stdout", redact(&run.stdout, &db, &project));
    insta::assert_snapshot!("failure_stderr", redact(&run.stderr, &db, &project));
}

/// Every stored snapshot belongs to an assertion: a renamed or deleted test must take
/// its snapshot with it. `integration__suite__name.snap` needs `assert_snapshot!("name"`
/// in `tests/integration/suite.rs`; a glob snapshot `integration__suite__name@input.snap`
/// also needs its input file.
#[test]
fn no_orphaned_snapshots() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tests = root.join("tests").join("integration");
    let dir = tests.join("snapshots");
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .collect();
    assert!(!entries.is_empty(), "no snapshots in {}", dir.display());
    for entry in entries {
        let file = entry.file_name().to_string_lossy().into_owned();
        let stem = file
            .strip_suffix(".snap")
            .and_then(|s| s.strip_prefix("integration__"))
            .unwrap_or_else(|| panic!("unexpected file in tests/integration/snapshots: {file}"));
        let (suite, name) = stem
            .split_once("__")
            .unwrap_or_else(|| panic!("snapshot {file} is not named suite__name"));
        let source = std::fs::read_to_string(tests.join(format!("{suite}.rs"))).unwrap_or_default();
        let (name, input) = name
            .split_once('@')
            .map_or((name, None), |(n, i)| (n, Some(i)));
        let asserted = regex::Regex::new(&format!(
            r#"assert_snapshot!\(\s*"{}""#,
            regex::escape(name)
        ))
        .expect("valid regex");
        assert!(asserted.is_match(&source), "orphaned snapshot {file}");
        if let Some(input) = input {
            let exists = walkdir::WalkDir::new(root.join("database"))
                .into_iter()
                .flatten()
                .any(|e| e.file_name().to_string_lossy() == input);
            assert!(
                exists,
                "snapshot {file} belongs to `{input}`, which no longer exists"
            );
        }
    }
}
