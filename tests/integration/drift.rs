//! check-drift end to end against a real server: for each kind of drift, a database
//! built from the example is changed by hand, check-drift must report exactly that
//! change, `--capture` must write a migration that a fresh database built from the
//! files plus it matches, and `--repair --apply` must take the database back (additive
//! repairs without flags, destructive ones only with `--allow-destructive
//! --backup-first`). Then no false positives (every corpus, a dump and reload), and bad
//! input: no history, a missing file, refusals that change nothing.

use crate::util;

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

/// A new schema with one of nearly every kind of object in it, and objects of it
/// elsewhere (an extension, a sequence and a column in `public`).
const MIX: &str = r#"CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA audit;
CREATE DOMAIN audit.short_text AS text CHECK (length(VALUE) < 100) DEFAULT 'x';
CREATE TABLE audit.event (id serial PRIMARY KEY, contract_id bigint NOT NULL REFERENCES public.contract(id) ON DELETE CASCADE, label audit.short_text, at timestamptz NOT NULL DEFAULT now(), UNIQUE (contract_id, at));
CREATE INDEX event_label_trgm ON audit.event USING gin (label gin_trgm_ops);
CREATE TABLE audit.ident (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text COLLATE "C");
CREATE SEQUENCE public.ticket_seq START 1000 INCREMENT 5;
ALTER TABLE public.contract ADD COLUMN ticket bigint DEFAULT nextval('public.ticket_seq');
CREATE VIEW audit.recent AS SELECT e.id, e.label FROM audit.event e WHERE e.at > now() - interval '1 day';
CREATE VIEW audit.recent_count AS SELECT count(*) AS n FROM audit.recent;
CREATE FUNCTION audit.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.at := now(); RETURN NEW; END $$;
CREATE TRIGGER event_touch BEFORE UPDATE ON audit.event FOR EACH ROW EXECUTE FUNCTION audit.touch();
ALTER TABLE audit.event ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_all ON audit.event USING (true) WITH CHECK (contract_id > 0);
COMMENT ON COLUMN audit.event.label IS 'what happened';
CREATE TYPE audit.mood AS ENUM ('ok', 'meh');
CREATE TYPE audit.pair AS (a int, b text);
CREATE STATISTICS audit.event_stats ON contract_id, at FROM audit.event;"#;

/// A change that needs what the database holds: `{VIEW}` is the overview view's
/// query, `{VIEW_COMMENT}` its comment; `MIX` is [`MIX`].
fn resolve(db: &TestDb, change: &str) -> String {
    if change == "MIX" {
        return MIX.to_string();
    }
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
    many_objects_added: "MIX",
        [("schema", "audit", "extra"),
        ("extension", "pg_trgm", "extra"),
        ("enum", "audit.mood", "extra"),
        ("composite type", "audit.pair", "extra"),
        ("domain", "audit.short_text", "extra"),
        ("table", "audit.event", "extra"),
        ("table", "audit.ident", "extra"),
        ("column", "public.contract.ticket", "extra"),
        ("constraint", "audit.short_text.short_text_check", "extra"),
        ("index", "audit.event_label_trgm", "extra"),
        ("sequence", "audit.event_id_seq", "extra"),
        ("sequence", "audit.ident_id_seq", "extra"),
        ("sequence", "public.ticket_seq", "extra"),
        ("view", "audit.recent", "extra"),
        ("view", "audit.recent_count", "extra"),
        ("function", "audit.touch()", "extra"),
        ("trigger", "audit.event.event_touch", "extra"),
        ("policy", "audit.event.event_all", "extra"),
        ("comment", "table column audit.event.label", "extra"),
        ("statistics", "audit.event_stats", "extra")],
        "SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname IN ('public', 'audit') ORDER BY 1", true;
    many_objects_dropped: "DROP VIEW contract_overview; DROP TRIGGER contract_log_status_change ON contract;
         DROP FUNCTION log_contract_status_change(); DROP TABLE contract_document",
        [("table", "public.contract_document", "missing"),
        ("index", "public.contract_document_contract_id_idx", "missing"),
        ("index", "public.contract_document_sha256_idx", "missing"),
        ("sequence", "public.contract_document_id_seq", "missing"),
        ("view", "public.contract_overview", "missing"),
        ("function", "public.log_contract_status_change()", "missing"),
        ("trigger", "public.contract.contract_log_status_change", "missing"),
        ("comment", "function public.log_contract_status_change()", "missing"),
        ("comment", "view public.contract_overview", "missing")],
        "SELECT c.relname || ' ' || c.relkind::text FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
          UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1", false;
    rule_added: "CREATE RULE contract_type_keep AS ON DELETE TO contract_type DO INSTEAD NOTHING",
        [("rule", "public.contract_type contract_type_keep", "extra")],
        "SELECT rulename FROM pg_rules WHERE schemaname = 'public'", true;
}

/// An example database, applied, with its project.
fn example(test: &str) -> (Project, TestDb) {
    let server = util::server().expect("checked by require_pg");
    let project = Project::example();
    let db = TestDb::new(server, test);
    project.apply(&db, &[]).success();
    (project, db)
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !check() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{what}: not within 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Throwaway databases for `purpose` made by process `pid` (other tests make theirs at
/// the same time).
fn throwaways(db: &TestDb, purpose: &str, pid: i32) -> String {
    db.value(&format!(
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'dbkit\\_{purpose}\\_%\\_{pid}\\_%'"
    ))
}

#[test]
fn a_database_without_history_is_refused_with_the_next_step() {
    let server = require_pg!();
    let project = Project::example();
    let db = TestDb::new(server, "drift_no_history");
    db.client()
        .batch_execute("CREATE TABLE t (id int)")
        .expect("a table");
    let run = drift(&project, &db, &[]).expect_code(1);
    assert!(
        run.stderr.contains("has no dbkit history"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--baseline"), "{}", run.stderr);
    assert!(run.stderr.contains("--against"), "{}", run.stderr);
}

#[test]
fn an_applied_migration_whose_file_is_gone_is_named_and_nothing_changes() {
    require_pg!();
    let (project, db) = example("drift_missing_file");
    let before = db.fingerprint();
    project.remove("migrations/005_add_contract_reference_and_date_check.sql");
    let run = drift(&project, &db, &[]).expect_code(1);
    assert!(
        run.stderr
            .contains("005_add_contract_reference_and_date_check.sql"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("file is not in the migrations folder"),
        "{}",
        run.stderr
    );
    assert_eq!(db.fingerprint(), before);
    // An edited applied file is said, and the files' side is the file as it is now.
    let (project, db) = example("drift_edited_file");
    let file = "migrations/012_add_concurrent_search_indexes.sql";
    let text = project.read(file);
    project.write(file, &format!("{text}\n-- a comment added later\n"));
    let run = drift(&project, &db, &[]).success();
    assert!(
        run.stdout.contains("was edited after it was applied"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_applied_migration_edited_so_it_fails_is_named_with_its_line_and_nothing_stays() {
    require_pg!();
    let (project, db) = example("drift_broken_file");
    let before = db.fingerprint();
    let file = "migrations/002_add_contract_pii_mapping.sql";
    let text = project.read(file);
    project.write(
        file,
        &format!("SELECT 1;\nALTER TABLE no_such_table ADD COLUMN x int;\n{text}"),
    );
    let mut command = project.command("check-drift");
    command
        .args(["-D", &db.url])
        .env("DBKIT_TEMPLATE_MIN_MS", "0");
    let run = Run::of(command).expect_code(1);
    assert!(
        run.stderr.contains("the files do not build")
            && run.stderr.contains(&format!("{file}:2:"))
            && run.stderr.contains("no_such_table"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the database was not touched")
            && !run.stderr.contains("run apply-schema"),
        "{}",
        run.stderr
    );
    assert_eq!(db.fingerprint(), before);
    // No template (nor spare) of files that do not build.
    let catalog = dbkit::project::layout::Layout::new(project.database())
        .catalog()
        .expect("catalog");
    let id = dbkit::ops::fresh::project_id(&catalog);
    assert_eq!(
        db.value(&format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'dbkit\\_tpl\\_{id}\\_%' OR datname LIKE 'dbkit\\_spare\\_{id}\\_%'"
        )),
        "0"
    );
}

#[test]
fn capture_and_repair_without_drift_write_and_change_nothing() {
    require_pg!();
    let (project, db) = example("drift_clean");
    let before = db.fingerprint();
    let run = drift(&project, &db, &["--capture", "nothing"]).success();
    assert!(run.stdout.contains("no drift"), "{}", run.stdout);
    assert!(!project
        .database()
        .join("migrations/013_nothing.sql")
        .exists());
    drift(&project, &db, &["--repair", "--apply", "--yes"]).success();
    assert_eq!(db.fingerprint(), before);
    // Usage mistakes are refused by the parser.
    drift(&project, &db, &["--apply"]).expect_code(2);
    drift(&project, &db, &["--capture", "x", "--repair"]).expect_code(2);
}

#[test]
fn a_production_database_is_repaired_only_when_named() {
    require_pg!();
    let (project, db) = example("drift_production");
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET dbkit.environment = 'production'; DROP INDEX contract_owner_id_idx",
            db.name
        ))
        .expect("marked and drifted");
    let refused = drift(&project, &db, &["--repair", "--apply", "--yes"]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("production"), "{}", refused.stderr);
    drift(&project, &db, &["--format", "json"]).expect_code(7);
    drift(
        &project,
        &db,
        &[
            "--repair",
            "--apply",
            "--yes",
            "--confirm-database",
            &db.name,
        ],
    )
    .success();
    no_drift(&project, &db, &[]);
}

#[test]
fn a_dump_and_reload_shows_no_drift() {
    require_pg!();
    let (project, db) = example("drift_reload_source");
    let server = util::server().expect("server");
    let copy = TestDb::new(server, "drift_reload_copy");
    reload(server, &db, &copy);
    no_drift(&project, &db, &["--against", &copy.url]);
    no_drift(&project, &copy, &["--against", &db.url]);
}

/// `pg_dump --schema-only` of `db` loaded into the empty `copy` with psql.
fn reload(server: &util::Server, db: &TestDb, copy: &TestDb) {
    let dump = std::process::Command::new(server.cluster.bindir.join("pg_dump"))
        .args(["--schema-only", "--no-owner", "-d", &db.url])
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut psql = std::process::Command::new(server.cluster.bindir.join("psql"));
    psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &copy.url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = psql.spawn().expect("psql runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&dump.stdout)
        .expect("dump sent");
    assert!(child.wait().expect("psql ends").success());
}

#[test]
fn every_corpus_shows_no_drift_against_its_own_replay() {
    let server = require_pg!();
    for (name, options) in [
        (
            "supabase-storage",
            " options='-c search_path=storage,public'",
        ),
        ("authelia", ""),
    ] {
        let Some(source) = util::corpus(name) else {
            continue;
        };
        let db = TestDb::new(server, &format!("drift_{name}"));
        let project = Project::empty();
        util::copy_tree(&source, &project.database().join("migrations"));
        let url = format!("{}{options}", db.url);
        let mut apply = project.command("apply-schema");
        apply.args(["-D", &url]);
        Run::of(apply).success();
        let mut check = project.command("check-drift");
        check.args(["-D", &url, "--format", "json"]);
        let run = Run::of(check);
        let json = run.json();
        assert_eq!(
            findings(&json),
            [] as [(String, String, String); 0],
            "{name}: {json:#}"
        );
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert!(
            json["objects_compared"].as_u64().expect("count") > 50,
            "{name}: {json:#}"
        );
    }
}

#[test]
fn privileges_are_compared_only_with_the_flag() {
    require_pg!();
    let (project, db) = example("drift_privileges");
    let role = format!("{}_reader", db.name);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\"; GRANT SELECT ON contract TO \"{role}\""
        ))
        .expect("a grant by hand");
    no_drift(&project, &db, &[]);
    let json = drift(&project, &db, &["--privileges", "--format", "json"])
        .expect_code(7)
        .json();
    assert_eq!(
        findings(&json),
        [(
            "privilege".to_string(),
            format!("table public.contract to {role}"),
            "extra".to_string()
        )],
        "{json:#}"
    );
    drift(
        &project,
        &db,
        &[
            "--privileges",
            "--repair",
            "--apply",
            "--yes",
            "--allow-destructive",
            "--backup-first",
        ],
    )
    .success();
    no_drift(&project, &db, &["--privileges"]);
    assert_eq!(
        db.value(&format!(
            "SELECT has_table_privilege('{role}', 'contract', 'SELECT')"
        )),
        "f"
    );
    db.client()
        .batch_execute(&format!("DROP ROLE \"{role}\""))
        .expect("role dropped");
}

#[test]
fn snapshots_are_proven_against_the_migrations_they_claim() {
    require_pg!();
    let (project, db) = example("drift_snapshots");
    let mut cut = project.command("create-phase-snapshot");
    cut.args(["-D", &db.url, "v2.0", "Phase 2"]);
    Run::of(cut).success();
    let status = project.apply(&db, &["--status"]);
    assert!(
        status.stdout.contains("never verified"),
        "{}",
        status.stdout
    );
    let json = drift(&project, &db, &["--snapshots", "--format", "json"])
        .success()
        .json();
    let statuses: Vec<&str> = json["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .map(|s| s["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["baseline", "verified"], "{json:#}");
    assert!(project
        .read("versions/verified.json")
        .contains("v2.0_phase_2.sql"));
    let status = project.apply(&db, &["--status"]);
    assert!(
        !status.stdout.contains("never verified"),
        "{}",
        status.stdout
    );
    // A body edited by hand (or a header that claims migrations it does not hold).
    let file = "versions/v2.0_phase_2.sql";
    let text = project.read(file);
    project.write(
        file,
        &text.replace(
            "CREATE TABLE public.currency (",
            "CREATE TABLE public.currency (\n    extra integer,",
        ),
    );
    let run = drift(&project, &db, &["--snapshots"]).expect_code(7);
    assert!(
        run.stdout.contains("public.currency.extra"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("edited after it was generated"),
        "{}",
        run.stdout
    );
    assert!(!project
        .read("versions/verified.json")
        .contains("v2.0_phase_2.sql"));
    let status = project.apply(&db, &["--status"]);
    assert!(
        status.stdout.contains("never verified"),
        "{}",
        status.stdout
    );
}

#[test]
fn sigint_while_a_repair_waits_for_the_lock_changes_nothing_and_leaves_no_throwaway() {
    require_pg!();
    let (project, db) = example("drift_sigint_lock");
    db.client()
        .batch_execute("DROP INDEX contract_owner_id_idx")
        .expect("drifted");
    let mut holder = db.client();
    holder
        .execute(
            "SELECT pg_advisory_lock($1)",
            &[&i64::from_be_bytes(*b"dbkitmig")],
        )
        .expect("lock held");
    let mut command = project.command("check-drift");
    command
        .args(["-D", &db.url, "--repair", "--apply", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().expect("starts");
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_try_advisory_lock%' AND pid <> pg_backend_pid()";
    wait_until("the repair waits for the lock", || db.value(waiting) != "0");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (run, _) = Run::finish_within(child, std::time::Duration::from_secs(20));
    assert_eq!(run.code, 130, "{}", run.stderr);
    drop(holder);
    assert_eq!(
        db.value("SELECT count(*) FROM pg_indexes WHERE indexname = 'contract_owner_id_idx'"),
        "0",
        "nothing was changed"
    );
    assert_eq!(throwaways(&db, "drift", pid), "0", "{}", run.stderr);
}

#[test]
fn sigint_during_the_replay_drops_the_throwaway_and_exits_130() {
    require_pg!();
    let (project, db) = example("drift_sigint_replay");
    let file = "migrations/012_add_concurrent_search_indexes.sql";
    let text = project.read(file);
    project.write(file, &format!("{text}\nSELECT pg_sleep(60);\n"));
    let mut command = project.command("check-drift");
    command
        .args(["-D", &db.url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().expect("starts");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // This run's replay only: other tests sleep at the same time.
    let sleeping = format!("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'dbkit\\_drift\\_%\\_{pid}\\_%' AND query LIKE '%pg_sleep(60)%'");
    wait_until("the replay reaches pg_sleep", || db.value(&sleeping) == "1");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (run, _) = Run::finish_within(child, std::time::Duration::from_secs(20));
    assert_eq!(run.code, 130, "{}", run.stderr);
    wait_until("the replay's session ends", || db.value(&sleeping) == "0");
    assert_eq!(throwaways(&db, "drift", pid), "0", "{}", run.stderr);
}

#[test]
fn dbkit_allow_destructive_in_the_environment_is_the_flag() {
    require_pg!();
    let (project, db) = example("drift_env_destructive");
    db.client()
        .batch_execute("CREATE INDEX by_hand ON contract (title)")
        .expect("drifted");
    let printed = |value: &str| {
        let mut command = project.command("check-drift");
        command
            .args(["-D", &db.url, "--repair"])
            .env("DBKIT_ALLOW_DESTRUCTIVE", value);
        Run::of(command).expect_code(7).stdout
    };
    let statement = |sql: &str| {
        sql.lines()
            .any(|l| l == "DROP INDEX IF EXISTS public.by_hand;")
    };
    assert!(statement(&printed("1")), "{}", printed("1"));
    assert!(!statement(&printed("0")), "{}", printed("0"));
    assert!(printed("0").contains("-- left out (destructive; --allow-destructive): DROP INDEX"));
}

/// The `replay` part of a check's JSON: (template, copied, spare).
fn replayed(json: &Value) -> (Option<String>, bool, bool) {
    let replay = &json["replay"];
    (
        replay["template"].as_str().map(str::to_string),
        replay["copied"].as_bool().expect("copied"),
        replay["spare"].as_bool().expect("spare"),
    )
}

#[test]
fn the_files_side_is_copied_from_the_template_the_first_replay_kept() {
    let server = require_pg!();
    let (project, db) = example("drift_template");
    let check = |extra: &[(&str, &str)]| {
        let mut command = project.command("check-drift");
        command
            .args(["-D", &db.url, "--format", "json"])
            .env("DBKIT_TEMPLATE_MIN_MS", "0");
        for (k, v) in extra {
            command.env(k, v);
        }
        Run::of(command)
    };
    let exists = |name: &str| {
        db.value(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        )) == "1"
    };
    // DBKIT_ENV=production: no template is left on any server.
    let run = check(&[("DBKIT_ENV", "production")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(replayed(&run.json()), (None, false, false));
    // The first replay keeps a copy of itself as a schema template, and is kept as its
    // spare copy.
    let first = check(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let (template, copied, _) = replayed(&first.json());
    let template = template.expect("a template kept");
    assert!(!copied);
    assert!(template.starts_with("dbkit_tpl_"), "{template}");
    assert_eq!(
        db.value(&format!(
            "SELECT datistemplate::text || ' ' || datallowconn::text FROM pg_database WHERE datname = '{template}'"
        )),
        "true false"
    );
    let spare = template.replacen("dbkit_tpl_", "dbkit_spare_", 1);
    assert_eq!(
        db.value(&format!(
            "SELECT datallowconn::text FROM pg_database WHERE datname = '{spare}'"
        )),
        "false"
    );
    // The next check renames the spare into place, and says the same.
    let second = check(&[]);
    assert_eq!(
        replayed(&second.json()),
        (Some(template.clone()), true, true)
    );
    assert_eq!(findings(&second.json()), findings(&first.json()));
    assert_eq!(
        second.json()["objects_compared"],
        first.json()["objects_compared"]
    );
    assert!(exists(&spare), "given back");
    // Drift is found against the copy as against a replay.
    db.client()
        .batch_execute("CREATE INDEX drift_by_hand ON contract (created_at)")
        .expect("the hand-made change");
    let drifted = check(&[]);
    assert_eq!(drifted.code, 7, "{}", drifted.stderr);
    assert!(replayed(&drifted.json()).2);
    assert_eq!(
        findings(&drifted.json()),
        [(
            "index".to_string(),
            "public.drift_by_hand".to_string(),
            "extra".to_string()
        )]
    );
    db.client()
        .batch_execute("DROP INDEX drift_by_hand")
        .expect("undone");
    let mut admin = util::connect_conninfo(&server.cluster.conninfo("postgres"));
    let change_by_hand = |admin: &mut postgres::Client, name: &str| {
        admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS true"
            ))
            .expect("opened");
        util::connect_conninfo(&server.cluster.conninfo(name))
            .batch_execute("CREATE TABLE contract_extra (id int)")
            .expect("changed by hand");
        admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
            ))
            .expect("closed");
    };
    // A spare changed by hand is dropped, and the template copied.
    change_by_hand(&mut admin, &spare);
    let respared = check(&[]);
    assert_eq!(respared.code, 0, "{}", respared.stderr);
    assert!(
        respared
            .stderr
            .contains(&format!("the spare copy `{spare}` was changed by hand")),
        "{}",
        respared.stderr
    );
    assert_eq!(
        replayed(&respared.json()),
        (Some(template.clone()), true, false)
    );
    assert_eq!(findings(&respared.json()), findings(&first.json()));
    // A template changed by hand (and no spare) is not used: it is dropped, the files
    // are built again, and the check is right.
    admin
        .batch_execute(&format!("DROP DATABASE \"{spare}\""))
        .expect("spare dropped");
    change_by_hand(&mut admin, &template);
    let rebuilt = check(&[]);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
    assert!(
        rebuilt
            .stderr
            .contains(&format!("template `{template}` was changed by hand")),
        "{}",
        rebuilt.stderr
    );
    assert_eq!(
        replayed(&rebuilt.json()),
        (Some(template.clone()), false, false)
    );
    assert_eq!(findings(&rebuilt.json()), findings(&first.json()));
    // --no-template replays, and leaves the spare as it was.
    let replay = check(&[]);
    assert!(replayed(&replay.json()).2);
    let no_template = project
        .command("check-drift")
        .args(["-D", &db.url, "--format", "json", "--no-template"])
        .output()
        .expect("runs");
    let json: Value = serde_json::from_slice(&no_template.stdout).expect("json");
    assert_eq!(replayed(&json), (None, false, false));
    assert!(exists(&spare));
    // A migration added and applied: other files, another template.
    project.write(
        "migrations/013_add_contract_note.sql",
        "ALTER TABLE contract ADD COLUMN note text;\n",
    );
    project.apply(&db, &[]).success();
    let newer = check(&[]);
    assert_eq!(newer.code, 0, "{}", newer.stderr);
    let (other, copied, _) = replayed(&newer.json());
    assert!(!copied);
    assert_ne!(other.as_deref(), Some(template.as_str()));
}
