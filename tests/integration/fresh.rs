//! test-database end to end against a real server: a template built once per content
//! of the database folder and cloned; a clone holds what a replay holds (schema, data,
//! dbkit history); a changed file gives a new template; a failing seed leaves none; a
//! template changed by hand is built again; --drop-all; the guard.

use crate::util;

use serde_json::Value;
use util::{Project, Run, TestDb};

fn test_database(project: &Project, db: &TestDb, args: &[&str]) -> Run {
    let mut command = project.command("test-database");
    command.args(["-D", &db.url]).args(args);
    Run::of(command)
}

fn json(project: &Project, db: &TestDb, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    test_database(project, db, &all).success().json()
}

fn names(made: &Value) -> Vec<String> {
    made["databases"]
        .as_array()
        .expect("databases")
        .iter()
        .map(|d| d["name"].as_str().expect("name").to_string())
        .collect()
}

/// A connection to database `name` on the test server.
fn on(db: &TestDb, name: &str) -> TestDb {
    TestDb {
        name: name.to_string(),
        url: db.server.cluster.conninfo(name),
        server: db.server,
    }
}

/// The templates of the project whose template is `one`.
fn templates(db: &TestDb, one: &str) -> Vec<String> {
    let project = one.rsplit_once('_').expect("dbkit_tpl_<project>_<key>").0;
    db.column(&format!(
        "SELECT datname FROM pg_database WHERE starts_with(datname::text, '{project}_') ORDER BY 1"
    ))
}

/// Template builds whose process has ended (`dbkit_tplbuild_<host>_<pid>_...`): what a
/// failed build must not leave (other tests' builds run now).
fn orphan_builds(db: &TestDb) -> Vec<String> {
    db.column("SELECT datname FROM pg_database WHERE datname LIKE 'dbkit\\_tplbuild\\_%'")
        .into_iter()
        .filter(|name| {
            let pid = name.split('_').nth(3).unwrap_or_default();
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .collect()
}

/// The example with one fixture of its own, so each test has its own template key.
fn project(test: &str) -> Project {
    let project = Project::example();
    project.write(
        "seed/fixtures/99_test.sql",
        &format!("-- {test}\nSELECT 1;\n"),
    );
    project
}

/// `pg_dump --schema-only` of a database, without dbkit's history and the lines that
/// change from run to run.
fn dump(db: &TestDb) -> String {
    let out = std::process::Command::new(db.server.cluster.bindir.join("pg_dump"))
        .args([
            "--schema-only",
            "--no-owner",
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
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            !l.starts_with("\\restrict")
                && !l.starts_with("\\unrestrict")
                && !l.starts_with("-- Dumped")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every table's rows, hashed, without the columns that hold the time they were made
/// (a fixture's `now()` differs between two builds).
fn data(db: &TestDb) -> Vec<String> {
    let tables = db.column(
        "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    );
    tables
        .iter()
        .map(|table| {
            let columns = db.column(&format!(
                "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = '{table}'::regclass
                  AND attnum > 0 AND NOT attisdropped
                  AND atttypid NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
                  ORDER BY attnum"
            ));
            let row = format!("concat_ws('|', {})", columns.join(", "));
            let hash = db.value(&format!(
                "SELECT count(*) || ' ' || coalesce(md5(string_agg({row}, E'\\n' ORDER BY {row})), '') FROM {table}"
            ));
            format!("{table} {hash}")
        })
        .collect()
}

fn history(db: &TestDb) -> Vec<String> {
    db.column("SELECT version || ' ' || file || ' ' || checksum || ' ' || source FROM dbkit.schema_history ORDER BY version")
}

#[test]
fn a_template_is_built_once_and_each_clone_is_a_replay() {
    let server = require_pg!();
    let project = project("once");
    let db = TestDb::new(server, "fresh_once");
    let first = json(&project, &db, &["--count", "2"]);
    assert_eq!(first["template"]["built"], true, "{first:#}");
    let made = names(&first);
    assert_eq!(made.len(), 2);
    let template = first["template"]["template"]
        .as_str()
        .expect("template")
        .to_string();
    assert!(templates(&db, &template).contains(&template));
    assert_eq!(
        db.value(&format!("SELECT datistemplate::text || datallowconn::text FROM pg_database WHERE datname = '{template}'")),
        "truefalse",
        "a template that takes no connections"
    );
    let second = json(&project, &db, &["--count", "3"]);
    assert_eq!(second["template"]["built"], false, "{second:#}");
    assert_eq!(
        second["template"]["template"],
        first["template"]["template"]
    );

    // A replay: reset's dev loop into an empty database.
    let replay = TestDb::new(server, "fresh_once_replay");
    project.apply(&replay, &[]).success();
    let mut load = project.command("load-test-data");
    load.args(["-D", &replay.url]);
    Run::of(load).success();
    let clone = on(&db, &made[0]);
    assert!(
        dump(&clone) == dump(&replay),
        "the clone's schema dump is the replay's"
    );
    assert_eq!(data(&clone), data(&replay), "and its data");
    assert_eq!(history(&clone), history(&replay), "dbkit history");
    // The copies made several at once are each whole.
    let three = names(&second);
    assert_eq!(three.len(), 3);
    for name in &three {
        let copy = on(&db, name);
        assert_eq!(data(&copy), data(&replay), "{name}");
        assert_eq!(history(&copy), history(&replay), "{name}");
    }
    // Status and document-migration see no difference.
    let status = project
        .apply(&clone, &["--status", "--format", "json"])
        .success()
        .json();
    assert_eq!(status["pending"], 0, "{status:#}");
    assert!(
        clone
            .value("SELECT count(*) FROM app_user")
            .parse::<u64>()
            .expect("count")
            > 0
    );
}

#[test]
fn a_changed_file_gives_a_new_template_and_a_failing_seed_none() {
    let server = require_pg!();
    let project = project("changed");
    let db = TestDb::new(server, "fresh_changed");
    let first = json(&project, &db, &[]);
    let old = first["template"]["template"]
        .as_str()
        .expect("template")
        .to_string();
    project.write("seed/fixtures/99_test.sql", "-- changed\nSELECT 2;\n");
    let second = json(&project, &db, &[]);
    assert_eq!(second["template"]["built"], true);
    assert_ne!(second["template"]["template"].as_str(), Some(old.as_str()));
    assert!(
        templates(&db, &old).contains(&old),
        "older templates are kept (the newest few)"
    );

    project.write(
        "seed/fixtures/99_test.sql",
        "INSERT INTO no_such_table VALUES (1);\n",
    );
    let before = templates(&db, &old);
    let failed = test_database(&project, &db, &[]).expect_code(1);
    assert!(failed.stderr.contains("99_test.sql"), "{}", failed.stderr);
    assert!(failed.stderr.contains("no_such_table"), "{}", failed.stderr);
    assert_eq!(
        templates(&db, &old),
        before,
        "a failed build leaves no template"
    );
    assert_eq!(orphan_builds(&db), [] as [String; 0], "nor its build");
}

#[test]
fn a_template_changed_by_hand_is_built_again() {
    let server = require_pg!();
    let project = project("by_hand");
    let db = TestDb::new(server, "fresh_by_hand");
    let first = json(&project, &db, &[]);
    let template = first["template"]["template"]
        .as_str()
        .expect("template")
        .to_string();
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{template}\" WITH ALLOW_CONNECTIONS true"
        ))
        .expect("opened");
    on(&db, &template)
        .client()
        .batch_execute("CREATE TABLE public.by_hand (id int)")
        .expect("changed by hand");
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{template}\" WITH ALLOW_CONNECTIONS false"
        ))
        .expect("closed");
    let run = test_database(&project, &db, &["--format", "json"]).success();
    assert!(run.stderr.contains("changed by hand"), "{}", run.stderr);
    let again = run.json();
    let clone = on(&db, &names(&again)[0]);
    assert_eq!(
        clone.value("SELECT to_regclass('public.by_hand') IS NULL"),
        "t",
        "the clone is of the rebuilt template"
    );
}

#[test]
fn drop_all_drops_the_test_databases_and_nothing_else() {
    let server = require_pg!();
    let project = project("drop_all");
    let db = TestDb::new(server, "fresh_drop_all");
    let made = names(&json(&project, &db, &["--count", "2"]));
    let other = TestDb::new(server, "fresh_not_a_test_database");
    let dropped = json(&project, &db, &["--drop-all"]);
    let dropped: Vec<&str> = dropped["dropped"]
        .as_array()
        .expect("dropped")
        .iter()
        .map(|d| d.as_str().expect("name"))
        .collect();
    for name in &made {
        assert!(dropped.contains(&name.as_str()), "{dropped:?}");
        assert_eq!(
            db.value(&format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
            )),
            "0"
        );
    }
    assert_eq!(
        db.value(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{}'",
            other.name
        )),
        "1"
    );
    // --templates: the project's templates and spares of both kinds go too (a reset's
    // and a drift check's), and another project's stay.
    let template = |p: &Project| {
        let catalog = dbkit::project::layout::Layout::new(p.database())
            .catalog()
            .expect("catalog");
        dbkit::ops::fresh::project_id(&catalog)
    };
    let neighbour = self::project("drop_all_neighbour");
    json(&neighbour, &db, &[]);
    project.apply(&db, &[]).success();
    let mut drift = project.command("check-drift");
    drift
        .args(["-D", &db.url])
        .env("DBKIT_TEMPLATE_MIN_MS", "0");
    Run::of(drift).success();
    let (mine, theirs) = (template(&project), template(&neighbour));
    let count = |id: &str| {
        db.value(&format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'dbkit\\_tpl\\_{id}\\_%' OR datname LIKE 'dbkit\\_spare\\_{id}\\_%'"
        ))
    };
    assert_eq!(
        count(&mine),
        "3",
        "seeded template, schema template and its spare"
    );
    let gone = json(&project, &db, &["--drop-all", "--templates"]);
    assert_eq!(
        gone["templates_dropped"].as_array().map(Vec::len),
        Some(3),
        "{gone:#}"
    );
    assert_eq!(count(&mine), "0");
    assert_eq!(count(&theirs), "1");
}

#[test]
fn a_production_database_is_refused() {
    let server = require_pg!();
    let project = project("production");
    let db = TestDb::new(server, "fresh_production");
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET dbkit.environment = 'production'",
            db.name
        ))
        .expect("marked");
    let refused = test_database(&project, &db, &[]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("production"), "{}", refused.stderr);
}

/// `reset --yes --reapply`, copying the template whenever there is one (the example
/// builds faster than the threshold at which a copy pays).
fn reset(project: &Project, db: &TestDb, args: &[&str]) -> Run {
    let mut command = project.command("reset");
    command
        .args(["-D", &db.url, "--yes", "--reapply"])
        .args(args)
        .env("DBKIT_TEMPLATE_MIN_MS", "0");
    Run::of(command)
}

/// Waits until no background run of a reset is left (they say who they are).
fn wait_for_background(db: &TestDb) {
    for _ in 0..600 {
        let running = db.value(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbkit spare maker'",
        );
        if running == "0" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("a background run of reset did not finish in 30 s");
}

#[test]
fn reset_reapply_copies_the_template_and_keeps_what_the_database_had() {
    let server = require_pg!();
    let project = project("reset_copy");
    let db = TestDb::new(server, "fresh_reset_copy");
    let role = format!("{}_reader", db.name);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\";
             GRANT CONNECT ON DATABASE \"{0}\" TO \"{role}\";
             REVOKE CONNECT ON DATABASE \"{0}\" FROM PUBLIC;
             ALTER DATABASE \"{0}\" SET statement_timeout = '7s';
             ALTER DATABASE \"{0}\" SET search_path = public, \"$user\";
             COMMENT ON DATABASE \"{0}\" IS 'my dev database';",
            db.name
        ))
        .expect("the database's own settings");
    // The first reset replays, and leaves a copy being made in the background.
    let first = reset(&project, &db, &["--format", "json"]).success().json();
    assert_eq!(first["background_copy"], true, "{first:#}");
    assert!(first["apply"].is_object(), "replayed: {first:#}");
    // A session of the user's own is closed, and said.
    let mut open = db.client();
    open.batch_execute("SELECT 1").expect("a session");
    let second = reset(&project, &db, &[]).success();
    assert!(
        second
            .stdout
            .contains("(its spare copy, made in the background)"),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("closed your session on it: pid"),
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("checks passed"), "{}", second.stdout);
    assert!(
        open.batch_execute("SELECT 1").is_err(),
        "the session was closed"
    );
    assert_eq!(history(&db).len(), 12);
    assert!(
        db.value("SELECT count(*) FROM app_user")
            .parse::<u64>()
            .expect("count")
            > 0
    );
    let settings = db.value(&format!(
        "SELECT array_to_string(setconfig, ';') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '{}'",
        db.name
    ));
    assert_eq!(
        settings,
        "statement_timeout=7s;search_path=public, \"$user\""
    );
    assert_eq!(
        db.value(&format!(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{}'",
            db.name
        )),
        "my dev database"
    );
    assert_eq!(
        db.value(&format!(
            "SELECT has_database_privilege('{role}', '{}', 'CONNECT')",
            db.name
        )),
        "t"
    );
    assert_eq!(
        db.value(&format!(
            "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a
              WHERE d.datname = '{}' AND a.grantee = 0 AND a.privilege_type = 'CONNECT'",
            db.name
        )),
        "0",
        "what was revoked from PUBLIC stays revoked"
    );
    // The same as a replay.
    let replay = TestDb::new(server, "fresh_reset_copy_replay");
    project.apply(&replay, &[]).success();
    let mut load = project.command("load-test-data");
    load.args(["-D", &replay.url]);
    Run::of(load).success();
    assert!(
        dump(&db) == dump(&replay),
        "the copy's schema is a replay's"
    );
    assert_eq!(data(&db), data(&replay));
    // The background run drops the database replaced and makes the next spare, closed
    // to connections; with no spare, a copy of the template is made on the spot.
    let third = reset(&project, &db, &["--format", "json"]).success().json();
    let (template, old) = (
        third["template"]["template"].as_str().expect("template"),
        third["template"]["old"].as_str().expect("old name"),
    );
    let spare = template.replacen("dbkit_tpl_", "dbkit_spare_", 1);
    wait_for_background(&db);
    let exists = |name: &str| {
        db.value(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        ))
    };
    assert_eq!(exists(old), "0", "the replaced database is dropped");
    assert_eq!(
        db.value(&format!(
            "SELECT datallowconn FROM pg_database WHERE datname = '{spare}'"
        )),
        "f"
    );
    db.client()
        .batch_execute(&format!("DROP DATABASE \"{spare}\""))
        .expect("the spare dropped");
    let copied = reset(&project, &db, &[]).success();
    assert!(
        copied.stdout.contains("(already built)"),
        "{}",
        copied.stdout
    );
    assert_eq!(history(&db).len(), 12);
    wait_for_background(&db);
    assert_eq!(exists(&spare), "1", "a new spare is made");
    // --no-template replays.
    let replayed = reset(&project, &db, &["--no-template"]).success();
    assert!(
        replayed.stdout.contains("applied 12 migrations"),
        "{}",
        replayed.stdout
    );
}

#[test]
fn another_users_session_stops_the_copy_and_changes_nothing() {
    let server = require_pg!();
    let project = project("reset_other_user");
    let db = TestDb::new(server, "fresh_reset_other");
    reset(&project, &db, &[]).success();
    let role = format!("{}_other", db.name);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN; GRANT CONNECT ON DATABASE \"{}\" TO \"{role}\"",
            db.name
        ))
        .expect("another user");
    let mut theirs = util::connect_conninfo(&format!("{} user={role}", db.url));
    theirs.batch_execute("SELECT 1").expect("their session");
    let before = db.fingerprint();
    let refused = reset(&project, &db, &[]).expect_code(1);
    assert!(
        refused.stderr.contains("not this user's own"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("nothing was changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(db.fingerprint(), before);
    theirs
        .batch_execute("SELECT 1")
        .expect("their session is still there");
}

#[test]
fn a_role_that_may_not_create_databases_is_replayed_instead() {
    let server = require_pg!();
    let project = project("reset_no_createdb");
    let db = TestDb::new(server, "fresh_reset_nocreatedb");
    let role = format!("{}_dev", db.name);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN NOCREATEDB; ALTER DATABASE \"{}\" OWNER TO \"{role}\"",
            db.name
        ))
        .expect("a role without CREATEDB owns it");
    let theirs = TestDb {
        url: format!("{} user={role}", db.url),
        name: db.name.clone(),
        server: db.server,
    };
    let run = reset(&project, &theirs, &[]).success();
    assert!(
        run.stderr.contains(
            "replaying instead of copying the template: this role may not create databases"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("applied 12 migrations"),
        "{}",
        run.stdout
    );
    assert_eq!(history(&db).len(), 12);
}

#[test]
fn the_library_gives_each_test_a_database_of_its_own() {
    let server = require_pg!();
    let project = project("library");
    let db = TestDb::new(server, "fresh_library");
    let mut databases =
        dbkit::testing::TestDatabases::with_url(project.database(), &db.url).expect("a source");
    let a = databases.fresh().expect("a database");
    // After the first, a thread copies a few ahead (as many as the cores, up to 4): the
    // next one asked for is one of them.
    let ahead = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let dbname = |url: &str| {
        util::connect_conninfo(url)
            .query_one("SELECT current_database()::text", &[])
            .expect("name")
            .get::<_, String>(0)
    };
    let first_name = dbname(&a);
    let mine = format!(
        "SELECT datname FROM pg_database WHERE starts_with(datname::text, '{}') ORDER BY 1",
        first_name.rsplit_once('_').expect("<prefix><pid>_<n>").0
    );
    let started = std::time::Instant::now();
    while db.column(&mine).len() < 1 + ahead {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{ahead} copied ahead: {:?}",
            db.column(&mine)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let before = db.column(&mine);
    let b = databases.fresh().expect("another");
    assert_ne!(a, b);
    assert!(
        before.contains(&dbname(&b)),
        "{b} was copied ahead: {before:?}"
    );
    let mut first = util::connect_conninfo(&a);
    first
        .batch_execute("DELETE FROM contract_party")
        .expect("a test changes its own database");
    let count = |url: &str| -> i64 {
        util::connect_conninfo(url)
            .query_one("SELECT count(*) FROM contract_party", &[])
            .expect("counts")
            .get(0)
    };
    assert_eq!(count(&a), 0);
    assert!(count(&b) > 0, "the other is untouched");
}

#[test]
fn a_project_that_builds_faster_than_a_copy_is_replayed() {
    let server = require_pg!();
    let project = project("reset_quick");
    let db = TestDb::new(server, "fresh_reset_quick");
    // A template there (test-database made it), whose build was quicker than a copy.
    json(&project, &db, &[]);
    let mut command = project.command("reset");
    command
        .args(["-D", &db.url, "--yes", "--reapply", "--format", "json"])
        .env("DBKIT_TEMPLATE_MIN_MS", "100000");
    let run = Run::of(command).success();
    assert!(
        run.stderr.contains("replaying: a fresh build takes"),
        "{}",
        run.stderr
    );
    let json = run.json();
    assert!(json["apply"].is_object(), "replayed: {json:#}");
    assert!(json["kept_template"].is_null(), "{json:#}");
}

#[test]
fn sigint_during_a_template_build_leaves_no_template_and_exits_130() {
    let server = require_pg!();
    let project = project("sigint_build");
    project.write("seed/fixtures/99_test.sql", "SELECT pg_sleep(60);\n");
    let db = TestDb::new(server, "fresh_sigint_build");
    let mut command = project.command("test-database");
    command
        .args(["-D", &db.url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().expect("starts");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // This run's build only: other tests sleep at the same time.
    let sleeping = format!("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'dbkit\\_tplbuild\\_%\\_{pid}\\_%' AND query LIKE '%pg_sleep(60)%'");
    let started = std::time::Instant::now();
    while db.value(&sleeping) != "1" {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the build reaches the fixture"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (run, _) = Run::finish_within(child, std::time::Duration::from_secs(20));
    assert_eq!(run.code, 130, "{}", run.stderr);
    let builds = db.value(&format!(
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'dbkit\\_tplbuild\\_%\\_{pid}\\_%'"
    ));
    assert_eq!(builds, "0", "the build was dropped: {}", run.stderr);
    assert_eq!(
        db.value(&format!(
            "SELECT count(*) FROM pg_database WHERE starts_with(datname::text, 'dbkit_test_') AND datname LIKE '%\\_{pid}\\_%'"
        )),
        "0",
        "no test database was made"
    );
}
