//! Validation checks end to end (`sql/validation/*.sql`, run by apply-schema and reset
//! --reapply): row checks, count checks, `-- expect:` lines, and the session state a
//! snapshot leaves behind.

use crate::util;

use dbkit::pg::dump::{DumpOptions, PgDump, ServerVersion};
use dbkit::pg::tools::Finder;
use dbkit::project::settings::ConnectionSettings;
use util::{Project, Run, TestDb};

/// The output line that mentions `needle`.
fn line_of<'a>(output: &'a str, needle: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle} in:\n{output}"))
}

const ORDERS: &str = "CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2));
CREATE TABLE order_lines (id int PRIMARY KEY, order_id int);
INSERT INTO orders VALUES (1, 10), (2, -5);
INSERT INTO order_lines VALUES (1, 1), (2, 1), (3, 7);
";

#[test]
fn a_count_check_passes_on_zero_and_fails_with_its_value() {
    let server = require_pg!();
    let db = TestDb::new(server, "count_checks");
    let project = Project::empty();
    project
        .write(
            "migrations/002_refunds.sql",
            "CREATE TABLE refunds (amount numeric); INSERT INTO refunds VALUES (0);\n",
        )
        .write("migrations/001_orders.sql", ORDERS)
        .write(
        "sql/validation/01_counts.sql",
        "-- check: every line has an order
SELECT count(*) AS orphans FROM order_lines l LEFT JOIN orders o ON o.id = l.order_id WHERE o.id IS NULL;

-- check: no line without an order id
SELECT count(*) AS missing FROM order_lines WHERE order_id IS NULL;

-- check: no huge refunds (sum over no rows is NULL)
SELECT sum(total) FROM orders WHERE total < -1000;

-- check: no negative totals
SELECT sum(total) AS negative FROM orders WHERE total < 0;

-- check: an int count
SELECT count(*)::int AS big FROM orders WHERE id > 100;

-- check: offending rows keep the old rule
SELECT id FROM orders WHERE id > 100;

-- check: no refund of zero (a table column: its one row is an offending row, not a count)
SELECT amount FROM refunds WHERE amount <= 0;
",
    );
    let run = project.apply(&db, &[]).expect_code(5);
    let out = &run.stdout;
    assert!(
        line_of(out, "every line has an order").contains("✗"),
        "{out}"
    );
    assert!(
        line_of(out, "every line has an order").contains("orphans = 1"),
        "{out}"
    );
    assert!(
        line_of(out, "no line without an order id").contains("✓"),
        "{out}"
    );
    assert!(line_of(out, "no huge refunds").contains("✓"), "{out}");
    assert!(
        line_of(out, "no negative totals").contains("negative = -5.00"),
        "{out}"
    );
    assert!(line_of(out, "an int count").contains("✓"), "{out}");
    assert!(line_of(out, "offending rows keep").contains("✓"), "{out}");
    assert!(line_of(out, "no refund of zero").contains("✗"), "{out}");
    assert!(out.contains("3 of 7 checks failed"), "{out}");
    // The schema stays applied and the checks changed nothing.
    assert_eq!(db.history(), ["1:migration:applied", "2:migration:applied"]);
    assert_eq!(db.value("SELECT count(*) FROM order_lines"), "3");

    let json = project
        .apply(&db, &["--validate", "--format", "json"])
        .expect_code(5)
        .json();
    let checks = json["validation"]["checks"].as_array().expect("checks");
    assert_eq!(checks[0]["expect"], "0");
    assert_eq!(checks[0]["value"], "1");
    assert_eq!(checks[2]["value"], serde_json::Value::Null);
    assert_eq!(checks[2]["passed"], true);
    assert_eq!(checks[5]["expect"], "no rows");
    assert_eq!(checks[5]["passed"], true);
}

#[test]
fn expect_lines_say_what_a_check_should_return() {
    let server = require_pg!();
    let db = TestDb::new(server, "expect_lines");
    let project = Project::empty();
    project.write("migrations/001_orders.sql", ORDERS).write(
        "sql/validation/01_expect.sql",
        "-- check: two orders
-- expect: 2
SELECT count(*) FROM orders;

-- check: there are orders
--   (a smoke test of the seed data)
-- Expect: rows
SELECT id FROM orders;

-- check: exactly three lines
-- expect: 3 rows
SELECT id FROM order_lines;

-- check: one order
-- expect: 1 row
SELECT id FROM orders;

-- check: a count read as rows
-- expect: no rows
SELECT count(*) FROM orders WHERE id > 100;

-- check: three orders
-- expect: 3
SELECT count(*) AS n FROM orders;

-- check: no orders at all
-- expect: rows
SELECT id FROM orders WHERE id > 100;

-- check: half a refund
-- expect: -5
SELECT sum(total) FROM orders WHERE total < 0;
",
    );
    let run = project.apply(&db, &[]).expect_code(5);
    let out = &run.stdout;
    for passing in [
        "two orders",
        "there are orders",
        "exactly three lines",
        "half a refund",
    ] {
        assert!(line_of(out, passing).contains("✓"), "{passing}:\n{out}");
    }
    assert!(
        line_of(out, "one order").contains("2 row(s), expected 1"),
        "{out}"
    );
    assert!(
        line_of(out, "a count read as rows").contains("— 1 row(s)"),
        "{out}"
    );
    assert!(
        line_of(out, "three orders").contains("n = 2, expected 3"),
        "{out}"
    );
    assert!(
        line_of(out, "no orders at all").contains("no rows, expected at least one"),
        "{out}"
    );
    assert!(out.contains("4 of 8 checks failed"), "{out}");
    assert_eq!(db.history(), ["1:migration:applied"]);
}

#[test]
fn an_unknown_expect_is_refused_with_its_line_before_anything_is_applied() {
    let server = require_pg!();
    let db = TestDb::new(server, "unknown_expect");
    let project = Project::empty();
    project
        .write("migrations/001_orders.sql", ORDERS)
        .write(
            "sql/validation/02_bad.sql",
            "-- check: fine\nSELECT 1 WHERE false;\n\n-- check: lots\n-- expect: lots of rows\nSELECT id FROM orders;\n",
        );
    let run = project.apply(&db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("database/sql/validation/02_bad.sql:5: unknown expectation `lots of rows`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
    assert!(db.history().is_empty(), "nothing applied");
    assert!(db.tables("public").is_empty(), "nothing applied");
}

/// A real `pg_dump --schema-only` of a small schema: it empties `search_path` with
/// `SELECT pg_catalog.set_config('search_path', '', false);`.
fn dumped_snapshot(server: &'static util::Server) -> String {
    let source = TestDb::new(server, "dump_source");
    source
        .client()
        .batch_execute(
            "CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2));
             CREATE TABLE order_lines (id int PRIMARY KEY, order_id int REFERENCES orders);
             CREATE SCHEMA app;
             CREATE TABLE app.widgets (id int PRIMARY KEY);",
        )
        .expect("source schema");
    let settings = ConnectionSettings::parse(&source.url, None).expect("conninfo");
    let version = ServerVersion::query(&mut source.client(), &source.name).expect("version");
    let pg_dump =
        PgDump::for_server(&Finder::new(std::env::var_os("PATH")), &version).expect("pg_dump");
    let dump = pg_dump
        .schema(&settings, &DumpOptions::default())
        .expect("dumps");
    assert!(
        dump.contains("SELECT pg_catalog.set_config('search_path', '', false);"),
        "{dump}"
    );
    dump
}

#[test]
fn checks_run_with_the_connections_own_settings_after_a_pg_dump_snapshot() {
    let server = require_pg!();
    let project = Project::empty();
    project.write("versions/v1.0_base.sql", &dumped_snapshot(server)).write(
        "sql/validation/01_checks.sql",
        "-- check: no negative totals
SELECT * FROM orders WHERE total < 0;

-- check: every line has an order
SELECT count(*) AS orphans FROM order_lines l LEFT JOIN orders o ON o.id = l.order_id WHERE o.id IS NULL;
",
    );
    // The snapshot and nothing after it: no migration resets the session.
    let db = TestDb::new(server, "dump_snapshot");
    let run = project.apply(&db, &[]).success();
    assert!(
        run.stdout.contains("snapshot v1.0_base.sql loaded"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("2 checks passed"), "{}", run.stdout);
    assert_eq!(db.value("SELECT count(*) FROM dbkit.snapshot_history"), "1");
    assert_eq!(db.tables("public"), ["order_lines", "orders"]);

    // Resetting returns to the connection's own settings, so a `search_path` given in
    // the connection string still holds for the checks.
    project.write(
        "sql/validation/02_app.sql",
        "-- check: no negative widgets\nSELECT * FROM widgets WHERE id < 0;\n",
    );
    let db = TestDb::new(server, "dump_snapshot_options");
    let url = format!("{} options='-c search_path=app,public'", db.url);
    let mut command = project.command("apply-schema");
    command.args(["-D", &url]);
    let run = Run::of(command).success();
    assert!(run.stdout.contains("3 checks passed"), "{}", run.stdout);
    assert_eq!(db.tables("app"), ["widgets"]);
}

#[test]
fn reset_reapply_runs_count_checks_on_the_loaded_data() {
    let server = require_pg!();
    let db = TestDb::new(server, "reset_counts");
    let project = Project::empty();
    project
        .write("versions/v1.0_base.sql", &dumped_snapshot(server))
        .write(
            "seed/fixtures/01_orders.sql",
            "INSERT INTO public.orders VALUES (1, 10);\nINSERT INTO public.order_lines VALUES (1, 1);\n",
        )
        .write(
            "sql/validation/01_checks.sql",
            "-- check: every line has an order
SELECT count(*) AS orphans FROM order_lines l LEFT JOIN orders o ON o.id = l.order_id WHERE o.id IS NULL;

-- check: one order loaded
-- expect: 1
SELECT count(*) FROM orders;
",
        );
    let mut command = project.command("reset");
    command.args(["-D", &db.url, "--yes", "--reapply"]);
    let run = Run::of(command).success();
    assert!(run.stdout.contains("2 checks passed"), "{}", run.stdout);
    assert_eq!(db.value("SELECT count(*) FROM public.order_lines"), "1");
}
