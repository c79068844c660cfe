//! document-migration end to end: the built program on the example folder (text and
//! Markdown snapshots, Mermaid), several files, --deny, bad input and --pending.

use crate::util;

use std::process::Command;

use util::{Project, Run, TestDb};

/// Runs document-migration in the repository (so `database/` is the example).
fn document(args: &[&str]) -> Run {
    let mut command = Command::new(util::bin("document-migration"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    Run::of(command)
}

#[test]
fn every_example_migration_as_text_and_markdown() {
    insta::glob!("../../database/migrations", "*.sql", |path| {
        let file = format!(
            "database/migrations/{}",
            path.file_name().expect("name").to_string_lossy()
        );
        insta::assert_snapshot!("text", document(&[&file]).success().stdout);
        insta::assert_snapshot!(
            "markdown",
            document(&["--format", "markdown", &file]).success().stdout
        );
    });
}

#[test]
fn several_files_in_order_with_a_diagram() {
    let files = [
        "database/migrations/002_add_contract_pii_mapping.sql",
        "database/migrations/003_create_contract_clause.sql",
    ];
    let run = document(&[files[0], files[1], "--mermaid"]).success();
    let first = run
        .stdout
        .find("002_add_contract_pii_mapping.sql")
        .expect("first file");
    let second = run
        .stdout
        .find("003_create_contract_clause.sql")
        .expect("second file");
    assert!(first < second);
    insta::assert_snapshot!(
        "mermaid",
        &run.stdout[run.stdout.find("erDiagram").expect("diagram")..]
    );
    let json = document(&["--format", "json", "--mermaid", files[0], files[1]])
        .success()
        .json();
    // Each migration is followed by its rollback.
    let directions: Vec<&str> = json["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["direction"].as_str().expect("direction"))
        .collect();
    assert_eq!(directions, ["up", "down", "up", "down"]);
    assert_eq!(
        json["files"][0]["new_tables"][0]["table"],
        "contract_pii_mapping"
    );
    assert_eq!(json["files"][0]["relationships"][0]["at"]["line"], 6);
    assert!(json["mermaid"]
        .as_str()
        .is_some_and(|m| m.starts_with("erDiagram")));
}

#[test]
fn denied_risks_fail_the_run_unless_allowed() {
    let project = Project::empty();
    project.write(
        "migrations/001_a.sql",
        "CREATE TABLE a (id int, note text);\n",
    );
    project.write(
        "migrations/002_drop.sql",
        "ALTER TABLE a DROP COLUMN note;\n",
    );
    let run_in = |args: &[&str]| {
        let mut c = project.command("document-migration");
        c.args(args);
        Run::of(c)
    };
    let run = run_in(&["--deny", "data-loss", "database/migrations/002_drop.sql"]).expect_code(6);
    assert!(run.stdout.contains("[data-loss]"), "{}", run.stdout);
    assert!(
        run.stderr.contains("denied risks found: data-loss"),
        "{}",
        run.stderr
    );
    run_in(&[
        "--deny",
        "rename,table-rewrite",
        "database/migrations/002_drop.sql",
    ])
    .success();
    project.write(
        "migrations/002_drop.sql",
        "SET lock_timeout = '2s';\n-- dbkit:allow data-loss (the column was never used)\nALTER TABLE a DROP COLUMN note;\n",
    );
    run_in(&["--deny", "all", "database/migrations/002_drop.sql"]).success();
    let run = run_in(&["--deny", "bogus", "database/migrations/002_drop.sql"]).expect_code(2);
    assert!(
        run.stderr.contains("data-loss"),
        "valid names are listed: {}",
        run.stderr
    );
}

#[test]
fn bad_input_is_an_error_naming_the_file_and_line() {
    let project = Project::empty();
    project.write(
        "migrations/001_bad.sql",
        "SELECT 1;\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1;\n",
    );
    std::fs::write(
        project.database().join("migrations/002_latin1.sql"),
        b"-- caf\xe9\n",
    )
    .expect("writes");
    for (file, message) in [
        (
            "database/migrations/001_bad.sql",
            "001_bad.sql:2:36: unterminated dollar-quoted string `$body$`",
        ),
        (
            "database/migrations/002_latin1.sql",
            "002_latin1.sql` is not valid UTF-8 (first bad byte on line 1)",
        ),
        (
            "database/migrations/404.sql",
            "cannot access `database/migrations/404.sql`",
        ),
    ] {
        let mut c = project.command("document-migration");
        c.arg(file);
        let run = Run::of(c).expect_code(1);
        assert!(run.stderr.contains(message), "{file}: {}", run.stderr);
    }
    let run = Run::of(project.command("document-migration")).expect_code(2);
    assert!(run.stderr.contains("--pending"), "{}", run.stderr);
}

#[test]
fn pending_documents_what_the_database_has_not_applied() {
    let server = require_pg!();
    let db = TestDb::new(server, "document_pending");
    let project = Project::example();
    project.apply(&db, &["--target", "9"]).success();
    let mut c = project.command("document-migration");
    c.args(["--pending", "--format", "json", "-D", &db.url]);
    let json = Run::of(c).success().json();
    let files: Vec<String> = json["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| f["direction"] == "up")
        .map(|f| {
            f["file"]
                .as_str()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        files,
        [
            "010_create_contract_overview_view.sql",
            "011_add_clause_review_and_pii_flag.sql",
            "012_add_concurrent_search_indexes.sql"
        ]
    );
    // Each pending migration is followed by its rollback.
    assert_eq!(json["files"][1]["direction"], "down");
    assert_eq!(
        json["files"][1]["reverses"], json["files"][0]["file"],
        "{json:#}"
    );
    // 011 adds columns to tables the earlier migrations made: modified, not new.
    assert_eq!(
        json["files"][2]["modified_tables"][0]["table"],
        "contract_clause"
    );
}

/// Runs document-migration on `file` inside `project`.
fn run_in(project: &Project, args: &[&str]) -> Run {
    let mut c = project.command("document-migration");
    c.args(args);
    Run::of(c)
}

#[test]
fn drop_schema_cascade_is_data_loss() {
    let project = Project::empty();
    project.write(
        "migrations/001_a.sql",
        "CREATE SCHEMA app;\nCREATE TABLE app.a (id int);\n",
    );
    project.write("migrations/002_drop.sql", "DROP SCHEMA app CASCADE;\n");
    let run = run_in(
        &project,
        &["--deny", "all", "database/migrations/002_drop.sql"],
    )
    .expect_code(6);
    assert!(run.stdout.contains("app.a"), "{}", run.stdout);
    assert!(run.stderr.contains("data-loss"), "{}", run.stderr);
}

#[test]
fn a_syntax_error_fails_the_run_unless_keep_going() {
    let project = Project::empty();
    project.write(
        "migrations/001_typo.sql",
        "CREATE TABLE a (id int);\nCREAT TABLE b (id int);\n",
    );
    let file = "database/migrations/001_typo.sql";
    let run = run_in(&project, &[file]).expect_code(1);
    assert!(
        run.stderr
            .contains("001_typo.sql:2:1: syntax error: Expected: an SQL statement, found: CREAT"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--keep-going"), "{}", run.stderr);
    let run = run_in(&project, &["--keep-going", file]).success();
    assert!(run.stdout.contains("Syntax Errors"), "{}", run.stdout);
    assert!(run.stdout.contains("a (1 column)"), "{}", run.stdout);
    let json = run_in(&project, &["--keep-going", "--format", "json", file])
        .success()
        .json();
    assert_eq!(json["files"][0]["syntax_errors"][0]["at"]["line"], 2);
}

#[test]
fn github_format_annotates_risks_on_their_lines() {
    let project = Project::empty();
    project.write(
        "migrations/001_a.sql",
        "CREATE TABLE a (id int, note text);\n",
    );
    project.write(
        "migrations/002_drop.sql",
        "SET lock_timeout = '2s';\n-- dbkit:allow rename\nALTER TABLE a RENAME TO b;\n\nALTER TABLE b DROP COLUMN note;\n",
    );
    let run_in = |args: &[&str]| {
        let mut c = project.command("document-migration");
        c.args(args);
        Run::of(c)
    };
    let file = "database/migrations/002_drop.sql";
    let run = run_in(&["--format", "github", file]).success();
    assert_eq!(
        run.stdout,
        "::warning file=database/migrations/002_drop.sql,line=5,title=dbkit%3A data-loss::\
         column `b.note` and its data are dropped\n",
    );
    let run = run_in(&["--format", "github", "--deny", "data-loss", file]).expect_code(6);
    assert!(run.stdout.starts_with("::error file="), "{}", run.stdout);
    // Nothing risky: nothing printed, so the workflow log stays quiet.
    let run = run_in(&["--format", "github", "database/migrations/001_a.sql"]).success();
    assert_eq!(run.stdout, "");
}

#[test]
fn markdown_longer_than_a_github_comment_is_summarised() {
    let project = Project::empty();
    let tables: String = (0..1500)
        .map(|i| format!("CREATE TABLE t{i} (id bigint PRIMARY KEY, note text NOT NULL);\n"))
        .collect();
    project.write("migrations/001_many.sql", &tables);
    project.write("migrations/002_drop.sql", "DROP TABLE t1;\n");
    let mut c = project.command("document-migration");
    c.args([
        "--format",
        "markdown",
        "database/migrations/001_many.sql",
        "database/migrations/002_drop.sql",
    ]);
    let run = Run::of(c).success();
    assert!(run.stdout.len() < 65_536, "{} bytes", run.stdout.len());
    assert!(
        run.stdout
            .contains("full details for the first 0 of 2 files"),
        "{}",
        &run.stdout[..500]
    );
    assert!(
        run.stdout
            .contains("- `database/migrations/002_drop.sql`: 1 statement; 1 dropped table; risks: **data-loss** ×1"),
        "{}",
        run.stdout
    );
}

#[test]
fn preference_rules_and_default_deny_come_from_dbkit_toml() {
    let project = Project::empty();
    project.write(
        "migrations/001_a.sql",
        "CREATE TABLE a (id serial PRIMARY KEY, n integer, at timestamp, code char(2), name varchar(40), ok bigint, t text);\n",
    );
    let run = || {
        let mut c = project.command("document-migration");
        c.args(["--format", "json", "database/migrations/001_a.sql"]);
        Run::of(c)
    };
    let names = |run: &Run| -> Vec<String> {
        run.json()["files"][0]["risks"]
            .as_array()
            .expect("risks")
            .iter()
            .map(|r| r["risk"].as_str().unwrap_or("").to_string())
            .collect()
    };
    // Off without a config.
    assert!(names(&run().success()).is_empty());
    let config = project
        .database()
        .parent()
        .expect("root")
        .join("dbkit.toml");
    std::fs::write(
        &config,
        "[lint]\nenable = [\"prefer-bigint\", \"prefer-identity\", \"prefer-timestamptz\", \"prefer-text\", \"ban-char\"]\ndeny = [\"ban-char\"]\n",
    )
    .expect("writes");
    let run_with = run().expect_code(6);
    assert_eq!(
        names(&run_with),
        [
            "prefer-identity",
            "prefer-bigint",
            "prefer-timestamptz",
            "ban-char",
            "prefer-text"
        ]
    );
    assert!(
        run_with.stderr.contains("denied risks found: ban-char"),
        "{}",
        run_with.stderr
    );
    // `--deny` on the command line replaces the file's.
    let mut c = project.command("document-migration");
    c.args(["--deny", "data-loss", "database/migrations/001_a.sql"]);
    Run::of(c).success();
    std::fs::write(
        &config,
        "[lint]\nenable = [\"prefer-bigint\"]\ndeny = [\"no-such-risk\"]\n",
    )
    .expect("writes");
    let run = run().expect_code(1);
    assert!(
        run.stderr
            .contains("dbkit.toml:3: `no-such-risk` is not a risk name"),
        "{}",
        run.stderr
    );
}
