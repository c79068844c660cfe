//! check-drift end to end against a real server: for each kind of drift, a database
//! built from the example is changed by hand, check-drift must report exactly that
//! change, `--capture` must write a migration that a fresh database built from the
//! files plus it matches, and `--repair --apply` must take the database back (additive
//! repairs without flags, destructive ones only with `--allow-destructive
//! --backup-first`). Then no false positives (every corpus, a dump and reload), and bad
//! input: no history, a missing file, refusals that change nothing.

mod util;

use serde_json::Value;
use util::{Project, Run, TestDb};

fn drift(project: &Project, db: &TestDb, args: &[&str]) -> Run {
    let mut command = project.command("check-drift");
    command.args(["-D", &db.url]).args(args);
    Run::of(command)
}

/// `(kind, name, change)` of each finding.
fn findings(json: &Value) -> Vec<(String, String, String)> {
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().expect("kind").to_string(),
                f["name"].as_str().expect("name").to_string(),
                f["change"].as_str().expect("change").to_string(),
            )
        })
        .collect()
}

fn no_drift(project: &Project, db: &TestDb, args: &[&str]) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let run = drift(project, db, &all);
    let json = run.json();
    assert_eq!(
        findings(&json),
        [] as [(String, String, String); 0],
        "{json:#}"
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// What a case's probe reads, to compare the database's state before and after.
fn state(db: &TestDb, probe: &str) -> Vec<String> {
    db.column(probe)
}

struct Case {
    test: &'static str,
    /// The hand-made change.
    change: &'static str,
    /// What check-drift must report: `(kind, name, change)`.
    expect: &'static [(&'static str, &'static str, &'static str)],
    /// A query whose rows show the change (the same before the change and after the
    /// repair, different in between).
    probe: &'static str,
    /// Undoing it drops or retypes something (repair needs --allow-destructive).
    destructive: bool,
}

/// The whole round: detect, capture (and prove it on a fresh database), repair.
fn round(case: &Case) {
    let server = require_pg!();
    let project = Project::example();
    let db = TestDb::new(server, case.test);
    project.apply(&db, &[]).success();
    no_drift(&project, &db, &[]);
    let before = state(&db, case.probe);
    let change = resolve(&db, case.change);
    db.client()
        .batch_execute(&change)
        .expect("the hand-made change");
    let changed = state(&db, case.probe);
    assert_ne!(before, changed, "the probe sees the change");

    // Detected, exactly.
    let run = drift(&project, &db, &["--format", "json"]).expect_code(7);
    let expected: Vec<(String, String, String)> = case
        .expect
        .iter()
        .map(|(k, n, c)| (k.to_string(), n.to_string(), c.to_string()))
        .collect();
    assert_eq!(findings(&run.json()), expected, "{}", run.stdout);
    let text = drift(&project, &db, &[]).expect_code(7);
    for (_, name, _) in case.expect {
        assert!(text.stdout.contains(name), "{}", text.stdout);
    }

    // Captured: the next migration, proven; recorded as applied, no drift is left.
    let captured = drift(
        &project,
        &db,
        &["--capture", "hand change", "--format", "json"],
    )
    .success()
    .json();
    let files = captured["captured"].as_array().expect("captured files");
    assert!(
        files[0]
            .as_str()
            .expect("file")
            .ends_with("013_hand_change.sql"),
        "{captured:#}"
    );
    project.apply(&db, &["--mark-applied", "13"]).success();
    no_drift(&project, &db, &[]);
    // A fresh database built from the files, the captured migration included, is the
    // changed one.
    let fresh = TestDb::new(server, &format!("{}_fresh", case.test));
    project.apply(&fresh, &[]).success();
    assert_eq!(state(&fresh, case.probe), changed);
    no_drift(&project, &db, &["--against", &fresh.url]);

    // Repaired, in a second database changed the same way.
    let project = Project::example();
    let db = TestDb::new(server, &format!("{}_repair", case.test));
    project.apply(&db, &[]).success();
    db.client()
        .batch_execute(&change)
        .expect("the hand-made change");
    let printed = drift(&project, &db, &["--repair"]).expect_code(7);
    assert!(
        printed.stdout.starts_with("-- Repair of"),
        "{}",
        printed.stdout
    );
    assert_eq!(state(&db, case.probe), changed, "printing changes nothing");
    if case.destructive {
        // Without the flag the destructive part is left out: nothing else to do, or an
        // additive part done, and the drift stays.
        drift(&project, &db, &["--repair", "--apply", "--yes"]).expect_code(7);
        let refused = drift(
            &project,
            &db,
            &["--repair", "--apply", "--yes", "--allow-destructive"],
        )
        .expect_code(2);
        assert!(
            refused.stderr.contains("--backup-first"),
            "{}",
            refused.stderr
        );
        drift(
            &project,
            &db,
            &[
                "--repair",
                "--apply",
                "--yes",
                "--allow-destructive",
                "--backup-first",
            ],
        )
        .success();
        let backups = std::fs::read_dir(project.dir.path().join("backups"))
            .expect("backups folder")
            .count();
        assert!(backups >= 1, "a backup was taken first");
    } else {
        drift(&project, &db, &["--repair", "--apply", "--yes"]).success();
    }
    no_drift(&project, &db, &[]);
    assert_eq!(
        sorted(state(&db, case.probe)),
        sorted(before),
        "repaired to the files"
    );
}

fn sorted(mut rows: Vec<String>) -> Vec<String> {
    rows.sort();
    rows
}

/// A change that needs what the database holds: `{VIEW}` is the overview view's
/// query, `{VIEW_COMMENT}` its comment.
fn resolve(db: &TestDb, change: &str) -> String {
    let view =
        db.value("SELECT trim(trailing ';' FROM pg_get_viewdef('contract_overview'::regclass))");
    let comment = db.value("SELECT obj_description('contract_overview'::regclass)");
    change
        .replace("{VIEW}", &view)
        .replace("{VIEW_COMMENT}", &comment.replace('\'', "''"))
}

const COLUMNS: &str = "SELECT column_name || ' ' || data_type || ' ' || coalesce(column_default, '-') || ' ' || is_nullable
     FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'contract' ORDER BY 1";

macro_rules! cases {
    ($($test:ident: $change:expr, [$(($k:expr, $n:expr, $c:expr)),*], $probe:expr, $destructive:expr;)*) => {$(
        #[test]
        fn $test() {
            round(&Case {
                test: stringify!($test),
                change: $change,
                expect: &[$(($k, $n, $c)),*],
                probe: $probe,
                destructive: $destructive,
            });
        }
    )*};
}

cases! {
    column_added: "ALTER TABLE contract ADD COLUMN notes text",
        [("column", "public.contract.notes", "extra")], COLUMNS, true;
    column_dropped: "ALTER TABLE app_user DROP COLUMN last_login_at",
        [("column", "public.app_user.last_login_at", "missing")],
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'app_user' ORDER BY 1", false;
    column_retyped: "DROP VIEW contract_overview;
         ALTER TABLE contract ALTER COLUMN title TYPE varchar(500);
         CREATE VIEW contract_overview AS {VIEW};
         COMMENT ON VIEW contract_overview IS '{VIEW_COMMENT}'",
        [("column", "public.contract.title", "different")], COLUMNS, true;
    default_changed: "ALTER TABLE contract ALTER COLUMN status SET DEFAULT 'active'",
        [("column", "public.contract.status", "different")], COLUMNS, false;
    index_added: "CREATE INDEX contract_title_idx ON contract (title)",
        [("index", "public.contract_title_idx", "extra")],
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1", true;
    index_dropped: "DROP INDEX contract_owner_id_idx",
        [("index", "public.contract_owner_id_idx", "missing")],
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1", false;
    check_changed: "ALTER TABLE contract DROP CONSTRAINT contract_dates_check,
         ADD CONSTRAINT contract_dates_check CHECK (end_date > start_date)",
        [("constraint", "public.contract.contract_dates_check", "different")],
        "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'contract'::regclass ORDER BY 1", false;
    function_body_changed: "CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$",
        [("function", "public.set_updated_at()", "different")],
        "SELECT prosrc FROM pg_proc WHERE proname = 'set_updated_at'", false;
    enum_value_added: "ALTER TYPE clause_category ADD VALUE 'privacy' BEFORE 'other'",
        [("enum", "public.clause_category", "different")],
        "SELECT enumlabel FROM pg_enum WHERE enumtypid = 'clause_category'::regtype ORDER BY enumsortorder", true;
    view_changed: "CREATE OR REPLACE VIEW contract_overview AS {VIEW}, now() AS seen_at",
        [("view", "public.contract_overview", "different")],
        "SELECT pg_get_viewdef('contract_overview'::regclass)", false;
    policy_added: "CREATE POLICY org_read ON contract FOR SELECT USING (organization_id = 1)",
        [("policy", "public.contract.org_read", "extra")],
        "SELECT polname FROM pg_policy", true;
    trigger_disabled: "ALTER TABLE contract DISABLE TRIGGER contract_set_updated_at",
        [("trigger", "public.contract.contract_set_updated_at", "different")],
        "SELECT tgname || ' ' || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1", false;
    comment_changed: "COMMENT ON TABLE contract IS 'changed by hand'",
        [("comment", "table public.contract", "different")],
        "SELECT obj_description('contract'::regclass)", false;
    rule_added: "CREATE RULE contract_type_keep AS ON DELETE TO contract_type DO INSTEAD NOTHING",
        [("rule", "public.contract_type contract_type_keep", "extra")],
        "SELECT rulename FROM pg_rules WHERE schemaname = 'public'", true;
}
