//! load-test-data end to end against a real PostgreSQL: the example's seed folders,
//! reference-only loads, refusals (schema not applied, production), failures located by
//! file and line with their file rolled back, and COPY blocks. Text output is checked
//! with insta snapshots (`INSTA_UPDATE=always cargo test --test integration seed::` after a change).

use crate::util;

use util::{lines, redact, Project, Run, TestDb};

/// Runs `load-test-data` against a database.
fn load(project: &Project, db: &TestDb, args: &[&str]) -> Run {
    load_with(project, db, args, &[])
}

fn load_with(project: &Project, db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = project.command("load-test-data");
    command.args(["-D", &db.url]).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    Run::of(command)
}

/// A database with the example schema applied.
fn applied(test: &str) -> Option<(TestDb, Project)> {
    let server = util::server()?;
    let db = TestDb::new(server, test);
    let project = Project::example();
    project.apply(&db, &[]).success();
    Some((db, project))
}

/// Row counts of every table in `public`, to prove a refused or failed run changed
/// nothing.
fn counts(db: &TestDb) -> Vec<String> {
    db.column(
        "SELECT c.relname || '=' || (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY public.%I', c.relname), false, true, '')))[1]::text \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
    )
}

fn count(db: &TestDb, table: &str) -> String {
    db.value(&format!("SELECT count(*) FROM public.{table}"))
}

const REFERENCE: [(&str, &str); 3] = [
    ("contract_type", "7"),
    ("party_role", "10"),
    ("currency", "6"),
];
const FIXTURES: [(&str, &str); 8] = [
    ("organization", "3"),
    ("app_user", "7"),
    ("contract", "8"),
    ("contract_party", "17"),
    ("contract_document", "4"),
    ("contract_pii_mapping", "3"),
    ("contract_clause", "12"),
    ("activities", "17"),
];

fn assert_counts(db: &TestDb, expected: &[(&str, &str)]) {
    for (table, rows) in expected {
        assert_eq!(count(db, table), *rows, "rows in {table}");
    }
}

/// The output line that mentions `needle`.
fn line_of<'a>(output: &'a str, needle: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle} in:\n{output}"))
}

#[test]
fn example_loads_reference_data_then_fixtures() {
    let Some((db, project)) = applied("example_seed") else {
        return;
    };
    let run = load(&project, &db, &[]).success();
    assert_counts(&db, &REFERENCE);
    assert_counts(&db, &FIXTURES);
    insta::assert_snapshot!("example_load", redact(&run.stdout, &db, &project));
    let out = &run.stdout;
    // Reference data first, then fixtures, each in numbered order, with its rows.
    let order: Vec<usize> = [
        "Reference data (database/seed/reference, 2 files):",
        "01_contract_types_and_party_roles.sql",
        "02_currencies.sql",
        "Fixtures (database/seed/fixtures, 3 files):",
        "01_organizations_and_users.sql",
        "02_contracts_and_parties.sql",
        "03_clauses_and_activities.sql",
        "Done: loaded 2 reference and 3 fixture files, 101 rows in",
    ]
    .iter()
    .map(|needle| {
        out.find(needle)
            .unwrap_or_else(|| panic!("no {needle} in:\n{out}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "out of order:\n{out}"
    );
    for (file, rows) in [
        ("01_contract_types_and_party_roles.sql", "17 rows"),
        ("02_currencies.sql", "6 rows"),
        ("01_organizations_and_users.sql", "10 rows"),
        ("02_contracts_and_parties.sql", "32 rows"),
        // 12 copied clauses, 5 + 2 reviewed, 17 activities; the setval SELECTs count none.
        ("03_clauses_and_activities.sql", "36 rows"),
    ] {
        let line = line_of(out, file);
        assert!(
            line.starts_with("  ✓ ") && line.contains(rows) && line.ends_with(" ms"),
            "{line}"
        );
    }
    assert!(out.starts_with("Loading `database/seed` → host="), "{out}");
    assert!(!out.contains('\u{1b}'), "no colors in a pipe:\n{out}");
    // The fixtures satisfy the project's own integrity checks, and the identity
    // sequences were moved past the fixture ids.
    let validation = project.apply(&db, &["--validate"]).success();
    assert!(
        validation.stdout.contains("6 checks passed"),
        "{}",
        validation.stdout
    );
    assert_eq!(
        db.value("INSERT INTO public.organization (name, slug) VALUES ('n', 'n') RETURNING id"),
        "4"
    );
}

#[test]
fn json_output_is_one_object_with_every_file() {
    let Some((db, project)) = applied("seed_json") else {
        return;
    };
    let json = load(&project, &db, &["--format", "json"]).success().json();
    assert_eq!(json["rows"], 101);
    assert_eq!(json["reference_only"], false);
    assert_eq!(json["folders"][0]["kind"], "reference");
    assert_eq!(json["folders"][1]["state"], "loaded");
    let files = json["files"].as_array().expect("files");
    assert_eq!(files.len(), 5);
    assert_eq!(files[2]["kind"], "fixtures");
    assert_eq!(files[2]["name"], "01_organizations_and_users.sql");
    assert_eq!(
        files[2]["file"],
        "database/seed/fixtures/01_organizations_and_users.sql"
    );
    assert_eq!(files[2]["rows"], 10);
    assert_eq!(files[2]["statements"], 4);
    assert_eq!(files[4]["rows"], 36);
    assert!(files[4]["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert!(json["database"]
        .as_str()
        .is_some_and(|d| d.contains(&db.name)));
}

#[test]
fn reference_only_loads_only_reference_tables_and_can_run_again() {
    let Some((db, project)) = applied("seed_reference_only") else {
        return;
    };
    let run = load(&project, &db, &["--reference-only"]).success();
    assert_counts(&db, &REFERENCE);
    assert_eq!(count(&db, "organization"), "0");
    assert_eq!(count(&db, "contract_clause"), "0");
    assert!(
        run.stdout.contains("Fixtures: skipped (--reference-only)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Done: loaded 2 reference files, 23 rows"),
        "{}",
        run.stdout
    );
    // Reference data is idempotent: a second load adds nothing.
    let again = load(&project, &db, &["--reference-only"]).success();
    assert!(
        line_of(&again.stdout, "02_currencies.sql").contains(" 0 rows"),
        "{}",
        again.stdout
    );
    assert_counts(&db, &REFERENCE);
}

#[test]
fn before_apply_schema_it_stops_with_a_hint_and_changes_nothing() {
    let server = require_pg!();
    let db = TestDb::new(server, "seed_unapplied");
    let project = Project::example();
    let before = db.fingerprint();
    let run = load(&project, &db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("is not up to date with `database`: it has no dbkit history"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: run apply-schema first"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    assert_eq!(db.fingerprint(), before);
    // A schema behind the folder is named by what is pending.
    project.apply(&db, &["--target", "10"]).success();
    let before = counts(&db);
    let run = load(&project, &db, &["--reference-only"]).expect_code(1);
    assert!(
        run.stderr.contains("pending: `011_add_clause_review_and_pii_flag.sql`, `012_add_concurrent_search_indexes.sql`"),
        "{}",
        run.stderr
    );
    assert_eq!(counts(&db), before);
    // JSON mode says the same on stdout.
    let json = load(&project, &db, &["--format", "json"])
        .expect_code(1)
        .json();
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("pending")),
        "{json}"
    );
    assert!(
        json["hint"][0]
            .as_str()
            .is_some_and(|h| h.starts_with("run apply-schema first")),
        "{json}"
    );
}

#[test]
fn a_bad_foreign_key_stops_at_its_file_and_line_and_rolls_that_file_back() {
    let Some((db, project)) = applied("seed_bad_fk") else {
        return;
    };
    project.write(
        "seed/fixtures/04_bad_reference.sql",
        &lines(&[
            "-- An organization, then a user of an organization that does not exist.",
            "INSERT INTO public.organization (id, name, slug) VALUES (10, 'Doomed Org', 'doomed');",
            "",
            "INSERT INTO public.app_user (id, organization_id, email, full_name)",
            "VALUES (20, 99, 'ghost@example.com', 'Ghost');",
            "INSERT INTO public.organization (id, name, slug) VALUES (11, 'Never', 'never');",
        ]),
    );
    project.write(
        "seed/fixtures/05_after.sql",
        "INSERT INTO public.organization (id, name, slug) VALUES (12, 'Later', 'later');\n",
    );
    let run = load(&project, &db, &[]).expect_code(1);
    insta::assert_snapshot!("bad_fk_stdout", redact(&run.stdout, &db, &project));
    insta::assert_snapshot!("bad_fk_stderr", redact(&run.stderr, &db, &project));
    assert!(
        run.stderr.contains("error: database/seed/fixtures/04_bad_reference.sql:4:1: insert or update on table \"app_user\" violates foreign key constraint \"app_user_organization_id_fkey\" (SQLSTATE 23503)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "detail: Key (organization_id)=(99) is not present in table \"organization\"."
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("loaded before it, and still loaded: reference/01_contract_types_and_party_roles.sql, reference/02_currencies.sql, fixtures/01_organizations_and_users.sql, fixtures/02_contracts_and_parties.sql, fixtures/03_clauses_and_activities.sql"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: a row this file refers to is not loaded: the referenced rows must be loaded by an earlier file"), "{}", run.stderr);
    assert!(
        run.stdout.contains("  ✗ 04_bad_reference.sql  rolled back"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("05_after.sql  "), "{}", run.stdout);
    // The failing file left nothing; the files before it stay; the one after never ran.
    assert_eq!(
        db.column("SELECT id FROM public.organization ORDER BY id"),
        ["1", "2", "3"]
    );
    assert_counts(&db, &FIXTURES);
    // JSON mode carries the same facts.
    let before = counts(&db);
    let json = load(&project, &db, &["--format", "json", "--reference-only"])
        .success()
        .json();
    assert_eq!(json["rows"], 0);
    let fresh = applied("seed_bad_fk_json").expect("server").0;
    let json = load(&project, &fresh, &["--format", "json"])
        .expect_code(1)
        .json();
    assert_eq!(json["failure"]["line"], 4);
    assert_eq!(json["failure"]["code"], "23503");
    assert_eq!(
        json["failure"]["file"],
        "database/seed/fixtures/04_bad_reference.sql"
    );
    assert_eq!(json["loaded_before"].as_array().map(Vec::len), Some(5));
    assert_eq!(counts(&db), before);
}

#[test]
fn errors_with_a_position_point_at_line_and_column_in_every_batch() {
    let Some((db, project)) = applied("seed_positions") else {
        return;
    };
    project.remove("seed/fixtures/01_organizations_and_users.sql");
    project.remove("seed/fixtures/02_contracts_and_parties.sql");
    project.remove("seed/fixtures/03_clauses_and_activities.sql");
    // The first batch of a file carries dbkit's BEGIN; a batch after a COPY does not.
    let bad = "    VALUES ('XAC', 'C', 'two');";
    let column = bad.find("'two'").expect("there") + 1;
    for (file, text, line) in [
        (
            "seed/fixtures/01_first_batch.sql",
            lines(&[
                "INSERT INTO public.currency (code, name, minor_units) VALUES ('XAB', 'B', 2);",
                "INSERT INTO public.currency (code, name, minor_units)",
                bad,
            ]),
            3,
        ),
        (
            "seed/fixtures/01_first_batch.sql",
            lines(&[
                "-- after a COPY",
                "COPY public.currency (code, name, minor_units) FROM stdin;",
                "XAA\tTest A\t2",
                "\\.",
                "INSERT INTO public.currency (code, name, minor_units) VALUES ('XAB', 'B', 2);",
                "INSERT INTO public.currency (code, name, minor_units)",
                bad,
            ]),
            7,
        ),
    ] {
        project.write(file, &text);
        let run = load(&project, &db, &[]).expect_code(1);
        let expected = format!(
            "error: database/{file}:{line}:{column}: invalid input syntax for type smallint: \"two\" (SQLSTATE 22P02)"
        );
        assert!(run.stderr.contains(&expected), "{expected}\n{}", run.stderr);
        assert_eq!(
            db.value("SELECT count(*) FROM public.currency WHERE code LIKE 'XA%'"),
            "0"
        );
    }
}

#[test]
fn copy_blocks_load_escapes_nulls_and_utf8_exactly() {
    let Some((db, project)) = applied("seed_copy") else {
        return;
    };
    project.write(
        "seed/fixtures/04_tricky_copy.sql",
        &lines(&[
            "-- pg_dump's text format: \\t, \\n and \\\\ are escapes, \\N is NULL.",
            "COPY public.contract_clause (id, contract_id, clause_no, category, heading, body, confidence) FROM stdin;",
            "100\t7\t1\tother\t\\N\ttab:\\there, backslash:\\\\, newline:\\nend\t\\N",
            "101\t7\t2\tother\tStädbolaget – “Väst” 日本語 🚀\tcafé\\\\\\\\share;\t0.5",
            "\\.",
            "UPDATE public.contract_clause SET confidence = 0.25 WHERE id = 101;",
        ]),
    );
    let run = load(&project, &db, &[]).success();
    assert!(
        line_of(&run.stdout, "04_tricky_copy.sql").contains(" 3 rows"),
        "{}",
        run.stdout
    );
    assert_eq!(
        db.column("SELECT coalesce(heading, '<null>') || '|' || body || '|' || coalesce(confidence::text, '<null>') FROM public.contract_clause WHERE contract_id = 7 ORDER BY id"),
        [
            "<null>|tab:\there, backslash:\\, newline:\nend|<null>",
            "Städbolaget – “Väst” 日本語 🚀|café\\\\share;|0.250",
        ]
    );
    assert_eq!(count(&db, "contract_clause"), "14");
}

#[test]
fn a_bad_copy_row_is_reported_at_its_own_line() {
    let Some((db, project)) = applied("seed_bad_copy") else {
        return;
    };
    project.write(
        "seed/reference/03_bad_copy.sql",
        &lines(&[
            "-- A good row, then a bad one.",
            "INSERT INTO public.currency (code, name, minor_units) VALUES ('XAA', 'Before', 2);",
            "COPY public.currency (code, name, minor_units) FROM stdin;",
            "XAB\tFine\t2",
            "XAC\tBroken\ttwo",
            "XAD\tLater\t2",
            "\\.",
        ]),
    );
    let before = counts(&db);
    let run = load(&project, &db, &["--reference-only"]).expect_code(1);
    assert!(
        run.stderr.contains("error: database/seed/reference/03_bad_copy.sql:5:1: invalid input syntax for type smallint: \"two\" (SQLSTATE 22P02)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("context: COPY currency, line 2, column minor_units"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("  ✗ 03_bad_copy.sql  rolled back"),
        "{}",
        run.stdout
    );
    // The two files before it loaded; nothing of this one did.
    assert_eq!(
        db.value("SELECT count(*) FROM public.currency WHERE code LIKE 'XA%'"),
        "0"
    );
    assert_counts(&db, &REFERENCE);
    assert_ne!(counts(&db), before);
}

#[test]
fn fixtures_are_refused_on_a_production_database_unless_it_is_named() {
    let Some((db, project)) = applied("seed_production") else {
        return;
    };
    project
        .apply(&db, &["--mark-environment", "production"])
        .success();
    let empty = counts(&db);
    let run = load(&project, &db, &[]).expect_code(1);
    assert!(
        run.stderr.contains("refusing to load fixtures into")
            && run.stderr.contains("marked as production"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("`--confirm-database {}`", db.name)),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: reference data alone is production-safe: `--reference-only`"),
        "{}",
        run.stderr
    );
    assert_eq!(
        counts(&db),
        empty,
        "a refusal loads nothing, not even reference data"
    );
    // Reference data is allowed; naming the database lets fixtures in.
    load(&project, &db, &["--reference-only"]).success();
    assert_counts(&db, &REFERENCE);
    assert_eq!(count(&db, "organization"), "0");
    load(&project, &db, &["--confirm-database", "someone_else"]).expect_code(1);
    assert_eq!(count(&db, "organization"), "0");
    load(&project, &db, &["--confirm-database", &db.name]).success();
    assert_counts(&db, &FIXTURES);
}

#[test]
fn fixtures_are_refused_when_dbkit_env_says_production() {
    let Some((db, project)) = applied("seed_dbkit_env") else {
        return;
    };
    let production = [("DBKIT_ENV", "production")];
    let empty = counts(&db);
    let run = load_with(&project, &db, &[], &production).expect_code(1);
    assert!(
        run.stderr.contains("DBKIT_ENV is `production`"),
        "{}",
        run.stderr
    );
    assert_eq!(counts(&db), empty);
    let json = load_with(&project, &db, &["--format", "json"], &production)
        .expect_code(1)
        .json();
    assert_eq!(json["hint"].as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(counts(&db), empty);
    load_with(&project, &db, &["--reference-only"], &production).success();
    assert_counts(&db, &REFERENCE);
    assert_eq!(count(&db, "organization"), "0");
    load_with(
        &project,
        &db,
        &["--confirm-database", &db.name],
        &production,
    )
    .success();
    assert_counts(&db, &FIXTURES);
}

#[test]
fn a_missing_folder_and_an_empty_file_are_fine() {
    let Some((db, project)) = applied("seed_missing") else {
        return;
    };
    std::fs::remove_dir_all(project.database().join("seed/fixtures")).expect("removes");
    project.write("seed/reference/05_empty.sql", "");
    project.write("seed/reference/03_comments_only.sql", "-- nothing yet\n");
    let run = load(&project, &db, &[]).success();
    let out = &run.stdout;
    assert!(
        out.contains("Reference data (database/seed/reference, 4 files):"),
        "{out}"
    );
    assert!(
        out.contains("Fixtures: none (`database/seed/fixtures` not found)"),
        "{out}"
    );
    assert!(line_of(out, "05_empty.sql").contains(" 0 rows"), "{out}");
    // Numbered order with gaps: 05 after 03 after 02.
    assert!(
        out.find("02_currencies.sql") < out.find("03_comments_only.sql"),
        "{out}"
    );
    assert!(
        out.find("03_comments_only.sql") < out.find("05_empty.sql"),
        "{out}"
    );
    assert_counts(&db, &REFERENCE);
    // No seed folder at all: nothing to do.
    std::fs::remove_dir_all(project.database().join("seed")).expect("removes");
    let run = load(&project, &db, &[]).success();
    assert!(
        run.stdout.contains("Reference data: none"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Nothing to do: no seed files to load"),
        "{}",
        run.stdout
    );
}
