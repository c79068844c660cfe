//! apply-schema end to end against a real PostgreSQL: fresh and touched databases,
//! snapshots with and without headers, history, checksums, transactions, failures.

use crate::util;

use util::{lines, Project, TestDb};

/// The output line that mentions `needle`.
fn line_of<'a>(output: &'a str, needle: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle} in:\n{output}"))
}

#[test]
fn fresh_database_gets_the_snapshot_then_every_migration() {
    let server = require_pg!();
    let db = TestDb::new(server, "fresh");
    let project = Project::example();
    let run = project.apply(&db, &[]).success();
    assert!(
        run.stdout.contains("snapshot v1.0_baseline.sql loaded"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("6 checks passed"), "{}", run.stdout);
    let expected: Vec<String> = (1..=12).map(|v| format!("{v}:migration:applied")).collect();
    assert_eq!(db.history(), expected);
    assert_eq!(
        db.value("SELECT count(*) FROM dbkit.snapshot_history WHERE file = 'v1.0_baseline.sql'"),
        "1"
    );
    let tables = db.tables("public");
    for table in [
        "contract",
        "contract_pii_mapping",
        "activities",
        "activities_default",
        "contract_document",
    ] {
        assert!(
            tables.contains(&table.to_string()),
            "{table} missing from {tables:?}"
        );
    }
    // 008 renamed a column, 012 built indexes concurrently outside a transaction.
    assert_eq!(db.value("SELECT count(*) FROM information_schema.columns WHERE table_name = 'contract' AND column_name = 'total_value'"), "1");
    assert_eq!(db.value("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE '%trgm%' OR NOT i.indisvalid"), "0");
    // Durations and authors are recorded.
    assert_eq!(db.value("SELECT bool_and(duration_ms >= 0 AND applied_by = 'postgres' AND length(checksum) = 64) FROM dbkit.schema_history"), "t");
}

#[test]
fn a_second_run_changes_nothing() {
    let server = require_pg!();
    let db = TestDb::new(server, "noop");
    let project = Project::example();
    project.apply(&db, &[]).success();
    let before =
        db.column("SELECT version || ' ' || applied_at FROM dbkit.schema_history ORDER BY 1");
    let fingerprint = db.fingerprint();
    let run = project.apply(&db, &[]).success();
    assert!(
        run.stdout.contains("Up to date: nothing to apply"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("Validation"),
        "a no-op run skips validation:\n{}",
        run.stdout
    );
    assert_eq!(
        db.column("SELECT version || ' ' || applied_at FROM dbkit.schema_history ORDER BY 1"),
        before
    );
    assert_eq!(db.fingerprint(), fingerprint);
    assert_eq!(db.value("SELECT count(*) FROM dbkit.snapshot_history"), "1");
}

#[test]
fn a_touched_database_gets_only_pending_migrations_and_never_the_snapshot_again() {
    let server = require_pg!();
    let db = TestDb::new(server, "touched");
    let project = Project::example();
    project.apply(&db, &[]).success();
    project.write(
        "migrations/013_add_contract_tags.sql",
        "ALTER TABLE contract ADD COLUMN tags text[] NOT NULL DEFAULT '{}';\n",
    );
    project.write("versions/v2.0_phase_2.sql", "-- Schema Version: v2.0\n-- Last Migration: 12 (012_x.sql)\nCREATE TABLE should_not_load (id int);\n");
    let run = project.apply(&db, &[]).success();
    assert!(
        run.stdout.contains("013_add_contract_tags.sql"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("snapshot"), "{}", run.stdout);
    assert_eq!(
        db.history().last().map(String::as_str),
        Some("13:migration:applied")
    );
    assert_eq!(db.value("SELECT count(*) FROM dbkit.snapshot_history"), "1");
    assert!(!db.tables("public").contains(&"should_not_load".to_string()));
}

#[test]
fn a_snapshot_header_says_which_migrations_it_includes() {
    let server = require_pg!();
    let db = TestDb::new(server, "header");
    let project = Project::empty();
    project
        .write(
            "versions/v1.0_base.sql",
            "CREATE TABLE a (id int PRIMARY KEY);\n",
        )
        .write(
            "migrations/001_b.sql",
            "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);\n",
        )
        .write("migrations/002_c.sql", "CREATE TABLE c (id int);\n")
        .write("migrations/003_d.sql", "CREATE TABLE d (id int);\n")
        .write(
            "versions/v1.10_phase.sql",
            &lines(&[
                "-- Schema Version: v1.10",
                "-- Description: Phase 1.10",
                "-- Generated: 2026-11-01 10:00:00 UTC",
                "-- DO NOT EDIT: generated",
                "-- Last Migration: 2 (002_c.sql)",
                "",
                "CREATE TABLE a (id int PRIMARY KEY);",
                "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);",
                "CREATE TABLE c (id int);",
            ]),
        )
        .write("versions/v1.9_older.sql", "CREATE TABLE never (id int);\n");
    let run = project.apply(&db, &[]).success();
    assert!(
        run.stdout
            .contains("snapshot v1.10_phase.sql loaded (includes migrations up to 2)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        db.history(),
        [
            "1:snapshot:applied",
            "2:snapshot:applied",
            "3:migration:applied"
        ]
    );
    assert_eq!(
        db.value(
            "SELECT string_agg(snapshot, ',') FROM dbkit.schema_history WHERE source = 'snapshot'"
        ),
        "v1.10_phase.sql,v1.10_phase.sql"
    );
    assert_eq!(db.tables("public"), ["a", "b", "c", "d"]);
}

#[test]
fn a_failing_migration_is_located_and_leaves_nothing_behind() {
    let server = require_pg!();
    let db = TestDb::new(server, "failing");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write("migrations/002_b.sql", "CREATE TABLE b (id int);\n")
        .write("migrations/003_bad.sql", "-- the third\nCREATE TABLE c (id int);\nINSERT INTO c (id)\n  VALUES (1);\nSELECT nope FROM c;\n")
        .write("migrations/004_d.sql", "CREATE TABLE d (id int);\n");
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("003_bad.sql:5:8: column \"nope\" does not exist (SQLSTATE 42703)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("applied before it in this run: 001_a.sql, 002_b.sql"),
        "{}",
        run.stderr
    );
    assert_eq!(db.history(), ["1:migration:applied", "2:migration:applied"]);
    assert_eq!(db.tables("public"), ["a", "b"]);
    // Programs get the same facts as JSON.
    let json = project
        .apply(&db, &["--format", "json"])
        .expect_code(1)
        .json();
    assert_eq!(json["failure"]["line"], 5);
    assert_eq!(json["failure"]["code"], "42703");
    assert_eq!(json["migration"], "003_bad.sql");
    assert_eq!(json["applied_before"], serde_json::json!([]));
}

#[test]
fn an_error_without_a_position_is_found_by_statement() {
    let server = require_pg!();
    let db = TestDb::new(server, "noposition");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write(
            "migrations/002_dup.sql",
            "CREATE TABLE b (id int);\n\n\n  CREATE TABLE a (id int);\n",
        );
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("002_dup.sql:4:3: relation \"a\" already exists"),
        "{}",
        run.stderr
    );
    assert_eq!(db.tables("public"), ["a"]);
    assert_eq!(db.history(), ["1:migration:applied"]);
}

/// Quick migrations go to the server several to a message, each still its own
/// transaction with its own row: a failure deep in a run is located in its file, the
/// files before it stay applied, the rest never run; settings do not leak from one file
/// to the next; each row's duration is its own file's, not the message's.
#[test]
fn migrations_sent_together_keep_their_own_transactions_errors_and_durations() {
    let server = require_pg!();
    let db = TestDb::new(server, "together");
    let project = Project::empty();
    for n in 1..=40 {
        let body = match n {
            2 => "CREATE TABLE t2 (id int);\nSELECT pg_sleep(0.3);\n".to_string(),
            5 => "SET search_path = nowhere;\n".to_string(),
            6 => "CREATE TABLE t6 (id int);\n".to_string(),
            20 => "-- dbkit:no-transaction\nCREATE TABLE t20 (id int);\n".to_string(),
            37 => "CREATE TABLE t37 (id int);\n\nINSERT INTO t37 VALUES ('x');\n".to_string(),
            n => format!("CREATE TABLE t{n} (id int);\n"),
        };
        project.write(&format!("migrations/{n:03}_m{n}.sql"), &body);
    }
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("037_m37.sql:3:25: invalid input syntax for type integer"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("036_m36.sql"), "{}", run.stderr);
    let history = db.history();
    assert_eq!(history.len(), 36, "{history:?}");
    assert_eq!(
        history.last().map(String::as_str),
        Some("36:migration:applied")
    );
    assert_eq!(db.value("SELECT to_regclass('public.t6') IS NOT NULL"), "t");
    assert_eq!(db.value("SELECT to_regclass('public.t37') IS NULL"), "t");
    assert_eq!(db.value("SELECT to_regclass('public.t38') IS NULL"), "t");
    // Every duration is the file's own: only 002 slept.
    assert_eq!(
        db.value("SELECT duration_ms >= 300 FROM dbkit.schema_history WHERE version = 2"),
        "t"
    );
    assert_eq!(
        db.value(
            "SELECT count(*) FROM dbkit.schema_history WHERE version <> 2 AND duration_ms >= 250"
        ),
        "0"
    );
    // The fix goes in, and the run picks up where it stopped.
    project.write("migrations/037_m37.sql", "CREATE TABLE t37 (id int);\n");
    project.apply(&db, &[]).success();
    assert_eq!(db.history().len(), 40);
    assert_eq!(
        db.value("SELECT to_regclass('public.t40') IS NOT NULL"),
        "t"
    );
}

/// A syntax error rejects a whole message before any of it runs: the files before the
/// bad one are sent again, so they are applied once, and the error is the bad file's.
#[test]
fn a_syntax_error_among_migrations_sent_together_is_the_bad_files_own() {
    let server = require_pg!();
    let db = TestDb::new(server, "together_syntax");
    let project = Project::empty();
    for n in 1..=10 {
        let body = match n {
            6 => "CREATE TABLE t6 (id int);\nCREATE TABEL oops (id int);\n".to_string(),
            n => format!("CREATE TABLE t{n} (id int);\n"),
        };
        project.write(&format!("migrations/{n:03}_m{n}.sql"), &body);
    }
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("006_m6.sql:2:8: syntax error at or near \"TABEL\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("applied before it in this run: 001_m1.sql, 002_m2.sql, 003_m3.sql, 004_m4.sql, 005_m5.sql"),
        "{}",
        run.stderr
    );
    assert_eq!(db.history().len(), 5);
    assert_eq!(db.tables("public"), ["t1", "t2", "t3", "t4", "t5"]);
}

#[test]
fn a_wrapped_file_commits_with_its_history_row() {
    let server = require_pg!();
    let db = TestDb::new(server, "wrapped");
    let project = Project::empty();
    project.write(
        "migrations/001_wrapped.sql",
        "BEGIN;\nCREATE TABLE a (id int);\nCREATE TABLE b (id int REFERENCES nowhere);\nCOMMIT;\n",
    );
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(run.stderr.contains("001_wrapped.sql:3:"), "{}", run.stderr);
    assert!(
        db.tables("public").is_empty(),
        "the wrapper must not commit early"
    );
    assert!(db.history().is_empty());
    project.write(
        "migrations/001_wrapped.sql",
        "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n",
    );
    project.apply(&db, &[]).success();
    assert_eq!(db.history(), ["1:migration:applied"]);
}

#[test]
fn files_that_cannot_run_in_a_transaction_run_statement_by_statement() {
    let server = require_pg!();
    let db = TestDb::new(server, "notx");
    let project = Project::empty();
    project
        .write("migrations/001_table.sql", "CREATE TABLE a (id int, v text);\n")
        .write("migrations/002_index.sql", "CREATE INDEX CONCURRENTLY a_v ON a (v);\nVACUUM a;\n")
        .write("migrations/003_do.sql", "CREATE TABLE b (id int);\nDO $$ BEGIN INSERT INTO b VALUES (1); COMMIT; INSERT INTO b VALUES (2); END $$;\n");
    let run = project.apply(&db, &[]).success();
    assert!(
        line_of(&run.stdout, "002_index.sql")
            .contains("(no transaction: `INDEX CONCURRENTLY` on line 1)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("(no transaction: `COMMIT`/`ROLLBACK` inside a `DO` block on line 2)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        db.value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'a_v'::regclass"),
        "t"
    );
    assert_eq!(db.value("SELECT count(*) FROM b"), "2");
    assert_eq!(
        db.history(),
        [
            "1:migration:applied",
            "2:migration:applied",
            "3:migration:applied"
        ]
    );
}

#[test]
fn a_part_way_failure_outside_a_transaction_is_recorded_and_retried() {
    let server = require_pg!();
    let db = TestDb::new(server, "partway");
    let project = Project::empty();
    project
        .write("migrations/001_table.sql", "CREATE TABLE a (id int, v text);\n")
        .write("migrations/002_indexes.sql", "-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS a_v ON a (v);\nCREATE INDEX CONCURRENTLY a_w ON a (w);\n");
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(run.stderr.contains("002_indexes.sql:3:"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("1 statement(s) before the failing one stay applied"),
        "{}",
        run.stderr
    );
    assert_eq!(db.history(), ["1:migration:applied", "2:migration:failed"]);
    assert_eq!(db.value("SELECT statements_done || ' ' || error_line FROM dbkit.schema_history WHERE version = 2"), "1 3");
    // The next run says what happened instead of running the file again.
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("migration `002_indexes.sql` failed part-way"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--retry-failed"), "{}", run.stderr);
    let status = project.apply(&db, &["--status"]).expect_code(4);
    assert!(
        status.stdout.contains("failed part-way"),
        "{}",
        status.stdout
    );
    project.write("migrations/002_indexes.sql", "-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS a_v ON a (v);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS a_id ON a (id);\n");
    project.apply(&db, &["--retry-failed"]).success();
    assert_eq!(db.history(), ["1:migration:applied", "2:migration:applied"]);
    assert_eq!(
        db.value("SELECT count(*) FROM pg_indexes WHERE tablename = 'a'"),
        "2"
    );
}

#[test]
fn an_edited_applied_migration_is_refused_until_accepted() {
    let server = require_pg!();
    let db = TestDb::new(server, "checksum");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write("migrations/002_b.sql", "CREATE TABLE b (id int);\n");
    project.apply(&db, &[]).success();
    // Line endings, trailing spaces and a BOM are not edits.
    project.write(
        "migrations/001_a.sql",
        "\u{feff}CREATE TABLE a (id int);   \r\n\r\n",
    );
    project.apply(&db, &[]).success();
    project.write("migrations/001_a.sql", "CREATE TABLE a (id bigint);\n");
    project.write("migrations/003_c.sql", "CREATE TABLE c (id int);\n");
    let fingerprint = db.fingerprint();
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr.contains("`001_a.sql` (recorded "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--accept-checksum 1"), "{}", run.stderr);
    assert_eq!(
        db.fingerprint(),
        fingerprint,
        "a refused run changes nothing"
    );
    let status = project
        .apply(&db, &["--status", "--format", "json"])
        .expect_code(4);
    let json = status.json();
    assert_eq!(json["migrations"][0]["state"], "modified");
    assert_eq!(json["migrations"][2]["state"], "pending");
    // Accepting a pending file is a mistake: there is nothing recorded to accept.
    let run = project
        .apply(&db, &["--accept-checksum", "3"])
        .expect_code(2);
    assert!(
        run.stderr.contains("`003_c.sql` is pending"),
        "{}",
        run.stderr
    );
    assert_eq!(
        db.fingerprint(),
        fingerprint,
        "a refused run changes nothing"
    );
    // Accepting records the new checksum and stops: the edit is not run, 003 stays
    // pending, validation does not run.
    let run = project.apply(&db, &["--accept-checksum", "1"]).success();
    assert!(
        run.stdout.contains("the edit itself was NOT run"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("no migration was run"),
        "{}",
        run.stdout
    );
    assert_eq!(db.value("SELECT count(*) FROM dbkit.checksum_acceptances WHERE version = 1 AND old_checksum <> new_checksum"), "1");
    assert_eq!(db.history(), ["1:migration:applied", "2:migration:applied"]);
    assert_eq!(
        db.value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'a'::regclass AND attname = 'id'"),
        "integer",
        "the edit itself was not run"
    );
    project.apply(&db, &["--status"]).expect_code(3);
    project.apply(&db, &[]).success();
    assert_eq!(
        db.history(),
        [
            "1:migration:applied",
            "2:migration:applied",
            "3:migration:applied"
        ]
    );
    project.apply(&db, &["--status"]).success();
}

#[test]
fn a_non_empty_database_without_history_is_refused_unless_baselined() {
    let server = require_pg!();
    let db = TestDb::new(server, "nonempty");
    db.client()
        .batch_execute("CREATE TABLE legacy (id int); CREATE TABLE a (id int);")
        .expect("setup");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write("migrations/002_b.sql", "CREATE TABLE b (id int);\n");
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("is not empty (2 tables in `public`) and has no dbkit history"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--baseline VERSION"), "{}", run.stderr);
    assert!(db.history().is_empty());
    assert_eq!(
        db.value("SELECT to_regnamespace('dbkit') IS NULL"),
        "t",
        "a refused run creates nothing"
    );
    project.apply(&db, &["--baseline", "1"]).success();
    assert_eq!(db.history(), ["1:baseline:applied", "2:migration:applied"]);
    let run = project.apply(&db, &["--baseline", "1"]).expect_code(2);
    assert!(run.stderr.contains("has history"), "{}", run.stderr);
}

#[test]
fn a_dry_run_touches_nothing() {
    let server = require_pg!();
    let db = TestDb::new(server, "dryrun");
    let project = Project::example();
    let run = project.apply(&db, &["--dry-run"]).success();
    assert!(
        run.stdout.contains("→ snapshot v1.0_baseline.sql load"),
        "{}",
        run.stdout
    );
    assert!(
        line_of(&run.stdout, "012_add_concurrent_search_indexes.sql")
            .contains("(no transaction: marked"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "Dry run: would load snapshot v1.0 and apply 12 migrations; nothing was changed"
        ),
        "{}",
        run.stdout
    );
    assert!(db.tables("public").is_empty());
    assert_eq!(db.value("SELECT to_regnamespace('dbkit') IS NULL"), "t");
}

#[test]
fn status_exit_codes_and_json() {
    let server = require_pg!();
    let db = TestDb::new(server, "status");
    let project = Project::example();
    let fresh = project
        .apply(&db, &["--status", "--format", "json"])
        .expect_code(3);
    let json = fresh.json();
    assert_eq!(json["initialized"], false);
    assert_eq!(json["snapshots"][0]["state"], "would_load");
    assert_eq!(json["pending"], 12);
    project.apply(&db, &["--target", "5"]).success();
    assert_eq!(db.history().len(), 5);
    let json = project
        .apply(&db, &["--status", "--format", "json"])
        .expect_code(3)
        .json();
    let migrations = json["migrations"].as_array().expect("array");
    assert_eq!(migrations.len(), 12);
    assert_eq!(migrations[4]["version"], 5);
    assert_eq!(
        migrations[4]["file"],
        "005_add_contract_reference_and_date_check.sql"
    );
    assert_eq!(migrations[4]["state"], "applied");
    assert_eq!(migrations[5]["state"], "pending");
    project.apply(&db, &[]).success();
    project.apply(&db, &["--status"]).success();
    project.remove("migrations/003_create_contract_clause.sql");
    // A file dbkit applied that is gone is a problem, not a healthy database.
    let run = project.apply(&db, &["--status"]).expect_code(4);
    assert!(
        run.stdout.contains("applied, file missing"),
        "{}",
        run.stdout
    );
}

#[test]
fn out_of_order_and_mark_applied() {
    let server = require_pg!();
    let db = TestDb::new(server, "order");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write("migrations/003_c.sql", "CREATE TABLE c (id int);\n");
    let run = project.apply(&db, &[]).success();
    assert!(
        run.stderr
            .contains("gap in migration numbering: `001_a.sql` is followed by `003_c.sql` (no 2)"),
        "{}",
        run.stderr
    );
    project.write("migrations/002_b.sql", "CREATE TABLE b (id int);\n");
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("`002_b.sql` are older than the newest applied migration 3"),
        "{}",
        run.stderr
    );
    project.write("migrations/004_d.sql", "CREATE TABLE d (id int);\n");
    // Marking records and stops: the pending 002 is not applied with it.
    project.apply(&db, &["--mark-applied", "4"]).success();
    assert_eq!(
        db.history(),
        [
            "1:migration:applied",
            "3:migration:applied",
            "4:manual:applied"
        ]
    );
    assert_eq!(db.tables("public"), ["a", "c"]);
    project.apply(&db, &["--out-of-order"]).success();
    assert_eq!(
        db.history(),
        [
            "1:migration:applied",
            "2:migration:applied",
            "3:migration:applied",
            "4:manual:applied"
        ]
    );
    assert_eq!(db.tables("public"), ["a", "b", "c"]);
}

#[test]
fn validation_failures_show_rows_and_exit_5() {
    let server = require_pg!();
    let db = TestDb::new(server, "validation");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int, n int);\nINSERT INTO a SELECT g, g FROM generate_series(1, 20) g;\n")
        .write("sql/validation/01_checks.sql", "-- check: no negative n\nSELECT * FROM a WHERE n < 0;\n\n-- check: n below 10\nSELECT id FROM a WHERE n < 10 ORDER BY id;\n");
    let run = project.apply(&db, &[]).expect_code(5);
    assert!(run.stdout.contains("✓ no negative n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("✗ n below 10 — 9 row(s)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("id=1"), "{}", run.stdout);
    assert!(
        run.stdout.contains("1 of 2 checks failed"),
        "{}",
        run.stdout
    );
    assert_eq!(
        db.history(),
        ["1:migration:applied"],
        "the schema stays applied"
    );
}

#[test]
fn discovery_errors_name_the_files() {
    let project = Project::empty();
    project
        .write("migrations/003_roles.sql", "SELECT 1;")
        .write("migrations/0003-users.sql", "SELECT 1;");
    let run = util::Run::of({
        let mut c = project.command("apply-schema");
        c.args(["-D", "host=/nonexistent dbname=x user=x"]);
        c
    })
    .expect_code(1);
    assert!(
        run.stderr
            .contains("migration `003_roles.sql` duplicates version 3 (also `0003-users.sql`)"),
        "{}",
        run.stderr
    );
    project.remove("migrations/0003-users.sql");
    project.write("migrations/add_users.sql", "SELECT 1;");
    let mut c = project.command("apply-schema");
    c.args(["-D", "host=/nonexistent dbname=x user=x"]);
    let run = util::Run::of(c).expect_code(1);
    assert!(
        run.stderr.contains("add_users.sql` has no version number"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: prefix the file name with its version"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_problem_in_the_migrations_folder_is_listed_in_one_error() {
    let server = require_pg!();
    let db = TestDb::new(server, "folder_problems");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write("migrations/002_b.sql", "CREATE TABLE b (id int);\n")
        .write("migrations/0002-b_again.sql", "CREATE TABLE b2 (id int);\n")
        .write("migrations/005_e.sql", "CREATE TABLE e (id int);\n")
        .write("migrations/5_e_again.sql", "CREATE TABLE e2 (id int);\n")
        .write("migrations/add_users.sql", "CREATE TABLE users (id int);\n");
    let run = project.apply(&db, &[]).expect_code(1);
    let problems: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("  migration"))
        .collect();
    assert_eq!(
        problems,
        [
            "  migration `002_b.sql` duplicates version 2 (also `0002-b_again.sql`)",
            "  migration `5_e_again.sql` duplicates version 5 (also `005_e.sql`)",
            "  migration file `database/migrations/add_users.sql` has no version number",
        ],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.starts_with("error: 3 problems in `database`:\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "hint: a version is used by exactly one migration: `new-migration --renumber FILE` moves the one no database has applied to the next free number\n  prefix the file name with its version"
        ),
        "{}",
        run.stderr
    );
    assert!(db.history().is_empty(), "nothing applied");
    assert!(db.tables("public").is_empty(), "nothing applied");
}

#[test]
fn timestamp_versions_are_not_gaps() {
    let server = require_pg!();
    let db = TestDb::new(server, "timestamps");
    let project = Project::empty();
    project
        .write(
            "migrations/20240101120000_a.sql",
            "CREATE TABLE a (id int);\n",
        )
        .write(
            "migrations/20240315093000_b.sql",
            "CREATE TABLE b (id int);\n",
        )
        .write(
            "migrations/20241231235959_c.sql",
            "CREATE TABLE c (id int);\n",
        );
    let run = project.apply(&db, &[]).success();
    assert!(!run.stderr.contains("gap"), "{}", run.stderr);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    assert_eq!(
        db.history(),
        [
            "20240101120000:migration:applied",
            "20240315093000:migration:applied",
            "20241231235959:migration:applied"
        ]
    );
    // Sequential numbers with a hole still warn.
    let db = TestDb::new(server, "real_gap");
    let project = Project::empty();
    project
        .write("migrations/001_a.sql", "CREATE TABLE a (id int);\n")
        .write("migrations/003_c.sql", "CREATE TABLE c (id int);\n");
    let run = project.apply(&db, &[]).success();
    assert!(
        run.stderr
            .contains("gap in migration numbering: `001_a.sql` is followed by `003_c.sql` (no 2)"),
        "{}",
        run.stderr
    );
    assert_eq!(db.tables("public"), ["a", "c"]);
}
