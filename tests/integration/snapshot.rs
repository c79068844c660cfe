//! create-phase-snapshot end to end against a real server: the example folder and the
//! supabase-storage corpus, determinism, reloading with apply-schema and psql, the
//! from-migrations path, and every refusal leaving the database and the files as they
//! were.

use crate::util;

use std::os::unix::fs::PermissionsExt;

use dbkit::pg::dump::{DumpOptions, PgDump, ServerVersion};
use dbkit::pg::tools::Finder;
use dbkit::project::settings::ConnectionSettings;
use util::{copy_tree, corpus, Project, Run, TestDb};

const SNAPSHOT: &str = "versions/v2.0_phase_2_contract_parsing.sql";

/// Runs create-phase-snapshot against a database.
fn snapshot(project: &Project, db: &TestDb, args: &[&str]) -> Run {
    let mut command = project.command("create-phase-snapshot");
    command.args(["-D", &db.url]).args(args);
    Run::of(command)
}

/// The body of a snapshot file (after its header).
fn body(text: &str) -> String {
    let header = dbkit::project::snapshot::parse_header(text);
    text[header.body_start..].to_string()
}

/// `pg_dump --schema-only` of a database as dbkit normalizes it (no dbkit schema, no
/// owners, no privileges): what "the same schema" means in these tests.
fn schema_dump(db: &TestDb) -> String {
    let settings = ConnectionSettings::parse(&db.url, None).expect("conninfo");
    let mut client = db.client();
    let server = ServerVersion::query(&mut client, &db.name).expect("version");
    let pg_dump =
        PgDump::for_server(&Finder::new(std::env::var_os("PATH")), &server).expect("pg_dump");
    let dump = pg_dump
        .schema(&settings, &DumpOptions::default())
        .expect("dumps");
    dbkit::project::snapshot::normalize_dump(&dump)
}

/// Every file under the project, with its contents: to prove a refusal wrote nothing.
fn files(project: &Project) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = walkdir::WalkDir::new(project.dir.path())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !e.path().to_string_lossy().contains("/.dbkit/"))
        .map(|e| {
            (
                e.path().display().to_string(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn example_snapshot_is_verified_deterministic_and_rebuilds_the_schema() {
    let server = require_pg!();
    let source = TestDb::new(server, "snap_source");
    let project = Project::example();
    project.apply(&source, &[]).success();

    let run = snapshot(&project, &source, &["v2.0", "Phase 2 - Contract Parsing"]).success();
    assert!(
        run.stdout
            .contains("✓ snapshot v2.0 → database/versions/v2.0_phase_2_contract_parsing.sql"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("catalog items identical to the source"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Next steps:"), "{}", run.stdout);
    let text = project.read(SNAPSHOT);
    let header = dbkit::project::snapshot::parse_header(&text);
    assert_eq!(header.get("Schema Version"), Some("v2.0"));
    assert_eq!(
        header.get("Description"),
        Some("Phase 2 - Contract Parsing")
    );
    assert_eq!(
        header.get("Last Migration"),
        Some("12 (012_add_concurrent_search_indexes.sql)")
    );
    assert_eq!(header.last_migration, Some(12));
    assert!(header.get("Generated").is_some_and(|g| g.ends_with(" UTC")));
    assert!(header.get("DO NOT EDIT").is_some());
    assert_eq!(header.get("dbkit Version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(header
        .get("PostgreSQL Version")
        .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit())));
    assert_eq!(
        header.get("Body Checksum"),
        Some(dbkit::project::migrations::checksum(&text[header.body_start..]).as_str())
    );
    let body_one = body(&text);
    assert!(!body_one.contains("\\restrict") && !body_one.contains("Dumped by pg_dump"));
    assert!(
        !body_one.contains("dbkit.schema_history"),
        "history stays out"
    );
    let mode = std::fs::metadata(project.database().join(SNAPSHOT))
        .expect("exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);

    // The changelog was created with a title and exactly the twelve migrations.
    let changelog = std::fs::read_to_string(project.dir.path().join("SCHEMA_CHANGES.md"))
        .expect("changelog written");
    assert!(changelog.starts_with("# Schema changes\n"), "{changelog}");
    assert!(
        changelog.contains("## v2.0 — Phase 2 - Contract Parsing ("),
        "{changelog}"
    );
    assert!(
        changelog.contains("12 migrations since v1.0:"),
        "{changelog}"
    );
    assert_eq!(changelog.matches("\n- `0").count(), 12, "{changelog}");
    assert!(changelog.contains(
        "- `002_add_contract_pii_mapping.sql`: new table `contract_pii_mapping`; new relationship `contract_pii_mapping(contract_id) → contract`"
    ), "{changelog}");
    assert!(changelog.contains("- `008_rename_contract_value_amount.sql`: renamed `contract.value_amount → total_value`"), "{changelog}");

    // Determinism: a second snapshot of the same database has the same body.
    let json = snapshot(
        &project,
        &source,
        &["v2.1", "Same schema", "--format", "json"],
    )
    .success()
    .json();
    assert_eq!(json["version"], "v2.1");
    assert_eq!(json["migrations"].as_array().map(Vec::len), Some(0));
    let second = project.read("versions/v2.1_same_schema.sql");
    assert_eq!(body(&second), body_one, "two dumps, one body");
    let changelog =
        std::fs::read_to_string(project.dir.path().join("SCHEMA_CHANGES.md")).expect("reads");
    assert!(changelog.contains("## v2.1 — Same schema ("));
    assert!(
        changelog.contains("No migrations since v2.0."),
        "{changelog}"
    );

    // apply-schema loads the snapshot into a fresh database: the same schema as the
    // database built by replaying every migration.
    let fresh = TestDb::new(server, "snap_fresh");
    let loaded = project.apply(&fresh, &[]).success();
    assert!(loaded.stdout.contains("v2.1"), "{}", loaded.stdout);
    assert!(fresh
        .history()
        .iter()
        .all(|h| h.ends_with(":snapshot:applied")));
    assert_eq!(fresh.history().len(), 12);
    assert_eq!(schema_dump(&fresh), schema_dump(&source));

    // Plain psql loads it too.
    let by_psql = TestDb::new(server, "snap_psql");
    let psql = Run::of({
        let mut c = std::process::Command::new("psql");
        c.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &by_psql.url,
            "-f",
        ])
        .arg(project.database().join(SNAPSHOT));
        c
    });
    assert_eq!(psql.code, 0, "{}", psql.stderr);
    assert_eq!(schema_dump(&by_psql), schema_dump(&source));

    // A migration written after the snapshot is the only one a fresh database applies.
    project.write(
        "migrations/013_add_contract_tags.sql",
        "ALTER TABLE contract ADD COLUMN tags text[] NOT NULL DEFAULT '{}';\n",
    );
    let later = TestDb::new(server, "snap_later");
    let run = project.apply(&later, &["--no-validate"]).success();
    assert!(run.stdout.contains("applied 1 migration"), "{}", run.stdout);
    let history = later.history();
    assert_eq!(history.len(), 13);
    assert_eq!(
        history.last().map(String::as_str),
        Some("13:migration:applied")
    );

    // Someone edits the read-only snapshot: apply-schema still loads it, and warns.
    let edited = format!("{second}\nCOMMENT ON TABLE public.contract IS 'edited by hand';\n");
    project.write("versions/v2.1_same_schema.sql", &edited);
    let warned = TestDb::new(server, "snap_edited");
    let run = project.apply(&warned, &["--no-validate"]).success();
    assert!(
        run.stderr
            .contains("snapshot `v2.1_same_schema.sql` was edited after it was generated"),
        "{}",
        run.stderr
    );
}

#[test]
fn from_migrations_gives_the_same_body_as_the_live_database() {
    let server = require_pg!();
    let source = TestDb::new(server, "snap_live");
    let live = Project::example();
    live.apply(&source, &[]).success();
    snapshot(&live, &source, &["v2.0", "Phase 2 - Contract Parsing"]).success();

    let offline = Project::example();
    let changelog_path = offline.dir.path().join("SCHEMA_CHANGES.md");
    let changelog = std::fs::read_to_string(&changelog_path).ok();
    let cut = |format: &str| {
        let mut command = offline.command("create-phase-snapshot");
        command
            .args(["v2.0", "Phase 2 - Contract Parsing", "--from-migrations"])
            .args(["--format", format])
            .env("DBKIT_TEMPLATE_MIN_MS", "0");
        Run::of(command).success()
    };
    let run = cut("text");
    assert!(run.stdout.contains("verified:"), "{}", run.stdout);
    assert_eq!(body(&offline.read(SNAPSHOT)), body(&live.read(SNAPSHOT)));
    let local = ConnectionSettings::parse(
        &dbkit::cli::project_cluster(&dbkit::project::layout::Layout::new(offline.database()))
            .expect("cluster")
            .conninfo("postgres"),
        None,
    )
    .expect("conninfo");
    let mut client =
        dbkit::pg::connect::connect(&local, dbkit::pg::connect::ConnectOptions::default())
            .expect("connects");
    let names = |client: &mut postgres::Client, pattern: &str| -> Vec<String> {
        client
            .query(
                "SELECT datname::text FROM pg_database WHERE datname LIKE $1 ORDER BY 1",
                &[&pattern],
            )
            .expect("query")
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    // The build left a schema template of the files in the project's cluster and, being
    // only read by the cut, was kept as its spare copy; no throwaway database is left.
    let templates = names(&mut client, "dbkit\\_tpl\\_%");
    assert_eq!(templates.len(), 1, "{templates:?}");
    let spare = templates[0].replacen("dbkit_tpl_", "dbkit_spare_", 1);
    let kept = vec![spare.clone(), templates[0].clone()];
    assert_eq!(names(&mut client, "dbkit\\_%"), kept);
    // The same cut again from the same files: the build is the spare renamed into
    // place, and the body is the same.
    let again = || {
        offline.remove(SNAPSHOT);
        match &changelog {
            Some(text) => std::fs::write(&changelog_path, text).expect("writes"),
            None => std::fs::remove_file(&changelog_path).expect("removes"),
        }
        let json = cut("json").json();
        assert_eq!(body(&offline.read(SNAPSHOT)), body(&live.read(SNAPSHOT)));
        json
    };
    let copied = again();
    assert_eq!(copied["built"]["copied"], true, "{copied:#}");
    assert_eq!(copied["built"]["spare"], true, "{copied:#}");
    assert_eq!(copied["built"]["template"], templates[0].as_str());
    assert_eq!(names(&mut client, "dbkit\\_%"), kept);
    // A template changed by hand (and no spare) is not copied: the migrations are
    // applied again.
    client
        .batch_execute(&format!("DROP DATABASE \"{spare}\""))
        .expect("spare dropped");
    client
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS true",
            templates[0]
        ))
        .expect("opened");
    let tampered = local.with_dbname(&templates[0]);
    dbkit::pg::connect::connect(&tampered, dbkit::pg::connect::ConnectOptions::default())
        .expect("connects")
        .batch_execute("CREATE TABLE public.made_by_hand (id int)")
        .expect("changed by hand");
    let rebuilt = again();
    assert_eq!(rebuilt["built"]["copied"], false, "{rebuilt:#}");
    assert!(!offline.read(SNAPSHOT).contains("made_by_hand"));
    assert_eq!(names(&mut client, "dbkit\\_%"), kept);
    let cluster =
        dbkit::cli::project_cluster(&dbkit::project::layout::Layout::new(offline.database()))
            .expect("cluster");
    cluster.stop().expect("stops");
}

/// A refused run: exit 1, the error says `expect`, and nothing changed.
fn refused(project: &Project, db: &TestDb, args: &[&str], expect: &str) -> Run {
    let (before_files, before_db) = (files(project), db.fingerprint());
    let run = snapshot(project, db, args).expect_code(1);
    assert!(
        run.stderr.contains(expect),
        "wanted `{expect}` in:\n{}",
        run.stderr
    );
    assert_eq!(files(project), before_files, "files unchanged");
    assert_eq!(db.fingerprint(), before_db, "database unchanged");
    run
}

#[test]
fn refusals_change_neither_the_database_nor_the_files() {
    let server = require_pg!();
    let db = TestDb::new(server, "snap_refusals");
    let project = Project::example();
    project.write(
        "../SCHEMA_CHANGES.md",
        "# Changes\n\n## v1.5 — kept by hand\n",
    );

    // Not up to date: pending migrations (and a database with no history at all).
    let run = refused(&project, &db, &["v2.0", "Phase 2"], "has no dbkit history");
    assert!(
        run.stderr.contains("hint: run apply-schema first"),
        "{}",
        run.stderr
    );
    project.apply(&db, &["--target", "5"]).expect_code(0);
    let run = refused(&project, &db, &["v2.0", "Phase 2"], "is not up to date");
    assert!(
        run.stderr
            .contains("pending: `006_add_under_review_contract_status.sql`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("and 2 more"), "{}", run.stderr);
    project.apply(&db, &[]).success();

    // The folder's rules, checked before any database work.
    refused(
        &project,
        &db,
        &["v1.0", "Again"],
        "`database/versions/v1.0_baseline.sql` already exists",
    );
    refused(
        &project,
        &db,
        &["v0.9", "Older"],
        "not newer than the newest snapshot v1.0",
    );
    refused(
        &project,
        &db,
        &["2.x", "Bad"],
        "cannot create snapshot 2.x: a snapshot version looks like `v2.0`",
    );
    refused(&project, &db, &["v2.0", "  "], "the description is empty");
    refused(
        &project,
        &db,
        &["v2.0", "Phase 2", "--name", "a b"],
        "may hold only letters",
    );
    refused(
        &project,
        &db,
        &["v1.5", "Phase 1.5"],
        "already has an entry for it",
    );

    // An edited applied migration.
    let original = project.read("migrations/001_add_user_locale_and_last_login.sql");
    project.write(
        "migrations/001_add_user_locale_and_last_login.sql",
        &format!("{original}\n-- edited\nSELECT 1;\n"),
    );
    refused(
        &project,
        &db,
        &["v2.0", "Phase 2"],
        "changed since applied: `001_add_user_locale_and_last_login.sql`",
    );
    project.write(
        "migrations/001_add_user_locale_and_last_login.sql",
        &original,
    );

    // pg_dump missing, and pg_dump older than the server.
    let tools = tempfile::tempdir().expect("temp dir");
    let mut command = project.command("create-phase-snapshot");
    command
        .env("DBKIT_PG_BINDIR", tools.path())
        .args(["-D", &db.url, "v2.0", "Phase 2"]);
    let (before_files, before_db) = (files(&project), db.fingerprint());
    let run = Run::of(command).expect_code(1);
    assert!(run.stderr.contains("`pg_dump` not found"), "{}", run.stderr);
    let fake = tools.path().join("pg_dump");
    std::fs::write(&fake, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n").expect("writes");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut command = project.command("create-phase-snapshot");
    command
        .env("DBKIT_PG_BINDIR", tools.path())
        .args(["-D", &db.url, "v2.0", "Phase 2"]);
    let run = Run::of(command).expect_code(1);
    assert!(
        run.stderr
            .contains("`pg_dump` is older than the server (PostgreSQL "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("found 9.6.24 at"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: install the PostgreSQL "),
        "{}",
        run.stderr
    );
    assert_eq!(files(&project), before_files);
    assert_eq!(db.fingerprint(), before_db);

    // Finally it works, and the hand-kept changelog keeps its entries.
    snapshot(&project, &db, &["v2.0", "Phase 2"]).success();
    let changelog =
        std::fs::read_to_string(project.dir.path().join("SCHEMA_CHANGES.md")).expect("reads");
    assert!(
        changelog.starts_with("# Changes\n\n## v1.5 — kept by hand\n\n## v2.0 — Phase 2 ("),
        "{changelog}"
    );
}

#[test]
fn a_snapshot_that_does_not_reproduce_its_source_is_not_kept() {
    let server = require_pg!();
    let db = TestDb::new(server, "snap_mismatch");
    let project = Project::example();
    project.apply(&db, &[]).success();
    // pg_dump leaves out invalid indexes (a failed CREATE INDEX CONCURRENTLY leaves one).
    let mut client = db.client();
    client
        .batch_execute(
            "CREATE INDEX contract_title_idx ON contract (title);
             UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'contract_title_idx'::regclass;",
        )
        .expect("setup");
    let run = refused(&project, &db, &["v2.0", "Phase 2"], "does not reproduce");
    assert!(
        run.stderr
            .contains("index `public.contract_title_idx` is missing from the snapshot"),
        "{}",
        run.stderr
    );
    assert!(!project.database().join(SNAPSHOT).exists());
    assert!(!project.dir.path().join("SCHEMA_CHANGES.md").exists());
    // Other tests verify snapshots on this server at the same time: wait for theirs to
    // go; one left behind by this run would stay.
    let leftovers =
        || db.value("SELECT count(*) FROM pg_database WHERE datname LIKE 'dbkit\\_verify%'");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while leftovers() != "0" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(leftovers(), "0", "the throwaway database is dropped");
    let kept = regex::Regex::new(r"rejected snapshot is kept at `([^`]+)`")
        .expect("valid")
        .captures(&run.stderr)
        .map(|c| c[1].to_string())
        .expect("names the kept file");
    assert!(std::fs::read_to_string(&kept)
        .expect("kept")
        .contains("-- Schema Version: v2.0"));
    std::fs::remove_file(kept).expect("removes");

    // A snapshot that does not load (its tables reference a schema left out) names the
    // kept file and line of the failing statement.
    client
        .batch_execute("DROP INDEX contract_title_idx")
        .expect("drops");
    client
        .batch_execute(
            "CREATE SCHEMA other; CREATE TABLE other.tag (id int PRIMARY KEY);
             ALTER TABLE contract ADD COLUMN tag_id int REFERENCES other.tag (id);",
        )
        .expect("setup");
    let run = refused(
        &project,
        &db,
        &["v2.0", "Phase 2", "--exclude-schema", "other"],
        "schema \"other\" does not exist",
    );
    let located = regex::Regex::new(r"(/[^\s:]*dbkit-snapshot-v2\.0-[^\s:]*\.sql):(\d+)")
        .expect("valid")
        .captures(&run.stderr)
        .unwrap_or_else(|| panic!("names the file and line: {}", run.stderr));
    let kept = std::fs::read_to_string(&located[1]).expect("kept");
    let line: usize = located[2].parse().expect("line");
    let statement: Vec<&str> = kept.lines().skip(line - 1).take(2).collect();
    assert!(
        statement.join("\n").contains("REFERENCES other.tag"),
        "line {line}: {statement:?}"
    );
    assert!(
        run.stderr.contains("does not load into an empty database"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(&located[1]).expect("removes");
}

#[test]
fn supabase_storage_snapshot_reloads_equal() {
    let server = require_pg!();
    let Some(source_dir) = corpus("supabase-storage") else {
        return;
    };
    let db = TestDb::new(server, "snap_supabase");
    let project = Project::empty();
    copy_tree(&source_dir, &project.database().join("migrations"));
    let url = format!("{} options='-c search_path=storage,public'", db.url);
    let mut apply = project.command("apply-schema");
    apply.args(["-D", &url]);
    Run::of(apply).success();
    let mut command = project.command("create-phase-snapshot");
    command.args(["-D", &url, "v1.0", "Storage schema"]);
    let run = Run::of(command).success();
    assert!(
        run.stdout.contains("includes:  migrations up to 63"),
        "{}",
        run.stdout
    );
    let text = std::fs::read_to_string(project.database().join("versions/v1.0_storage_schema.sql"))
        .expect("written");
    assert!(
        text.contains("CREATE TABLE storage.objects"),
        "the storage schema is in it"
    );

    // It loads into a fresh database and gives the same schema.
    let fresh = TestDb::new(server, "snap_supabase_fresh");
    let fresh_url = format!("{} options='-c search_path=storage,public'", fresh.url);
    let mut apply = project.command("apply-schema");
    apply.args(["-D", &fresh_url]);
    let run = Run::of(apply).success();
    assert!(run.stdout.contains("v1.0"), "{}", run.stdout);
    assert_eq!(fresh.history().len(), 63);
    assert_eq!(schema_dump(&fresh), schema_dump(&db));
}

#[test]
fn chosen_schemas_keep_their_extensions_and_load_into_an_empty_database() {
    let server = require_pg!();
    let db = TestDb::new(server, "snap_schemas");
    let project = Project::example();
    project.apply(&db, &["--no-validate"]).success();
    db.client()
        .batch_execute(
            "CREATE SCHEMA ext; CREATE EXTENSION pgcrypto SCHEMA ext;
             CREATE SCHEMA platform; CREATE TABLE platform.users (id int PRIMARY KEY);
             CREATE TABLE public.tokens (id int PRIMARY KEY, secret bytea DEFAULT ext.gen_random_bytes(16));",
        )
        .expect("setup");
    let run = snapshot(
        &project,
        &db,
        &["v2.0", "Public only", "--schema", "public"],
    )
    .success();
    assert!(
        run.stdout.contains("identical to the source"),
        "{}",
        run.stdout
    );
    let text = project.read("versions/v2.0_public_only.sql");
    assert!(text.contains("CREATE SCHEMA IF NOT EXISTS ext;\nCREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA ext;"), "extension kept");
    assert!(!text.contains("platform.users"), "other schemas left out");
    let fresh = TestDb::new(server, "snap_schemas_fresh");
    project.apply(&fresh, &["--no-validate"]).success();
    assert!(fresh.tables("public").contains(&"tokens".to_string()));
    assert_eq!(fresh.tables("platform"), Vec::<String>::new());
}

#[test]
fn version_zero_is_a_migration_like_any_other() {
    let server = require_pg!();
    let db = TestDb::new(server, "snap_zero");
    let project = Project::empty();
    project.write(
        "migrations/000_a.sql",
        "CREATE TABLE a (id int PRIMARY KEY);\n",
    );
    project.apply(&db, &[]).success();
    let json = snapshot(&project, &db, &["v1.0", "Zero", "--format", "json"])
        .success()
        .json();
    assert_eq!(json["migrations"], serde_json::json!(["000_a.sql"]));
    let first = project.read("versions/v1.0_zero.sql");
    assert!(
        first.contains("-- Last Migration: 0 (000_a.sql)\n"),
        "{first}"
    );

    // The next snapshot starts after version 0, and documents 001 against a model that
    // holds 000's table.
    project.write(
        "migrations/001_b.sql",
        "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id));\n",
    );
    project.apply(&db, &[]).success();
    let json = snapshot(&project, &db, &["v2.0", "One", "--format", "json"])
        .success()
        .json();
    assert_eq!(json["migrations"], serde_json::json!(["001_b.sql"]));
    let changelog =
        std::fs::read_to_string(project.dir.path().join("SCHEMA_CHANGES.md")).expect("reads");
    assert!(
        changelog.contains("1 migration:\n\n- `000_a.sql`: new table `a`\n"),
        "{changelog}"
    );
    assert!(
        changelog.contains("1 migration since v1.0:\n\n- `001_b.sql`: new table `b`; new relationship `b(a_id) → a`\n"),
        "{changelog}"
    );

    // Without a previous snapshot, both are listed.
    let other = Project::empty();
    for file in ["000_a.sql", "001_b.sql"] {
        other.write(
            &format!("migrations/{file}"),
            &project.read(&format!("migrations/{file}")),
        );
    }
    let json = snapshot(&other, &db, &["v1.0", "Both", "--format", "json"])
        .success()
        .json();
    assert_eq!(
        json["migrations"],
        serde_json::json!(["000_a.sql", "001_b.sql"])
    );
    let changelog =
        std::fs::read_to_string(other.dir.path().join("SCHEMA_CHANGES.md")).expect("reads");
    assert!(
        changelog.contains("2 migrations:\n\n- `000_a.sql`"),
        "{changelog}"
    );

    // Documenting 001 alone, with no snapshot, starts from a model that holds 000's
    // table.
    let bare = Project::empty();
    bare.write(
        "migrations/000_a.sql",
        "CREATE TABLE a (id int PRIMARY KEY);\n",
    )
    .write("migrations/001_x.sql", "ALTER TABLE a ADD COLUMN x int;\n");
    let mut command = bare.command("document-migration");
    command.arg("database/migrations/001_x.sql");
    let run = Run::of(command).success();
    assert!(run.stdout.contains("- a: add column x"), "{}", run.stdout);
}

/// Expressions PostgreSQL prints differently once reloaded (`varchar IN (...)` gains its
/// casts inside the array), in every place an expression is kept.
const REPRINTED: &str = "CREATE TABLE t (
    id int PRIMARY KEY,
    s varchar(10) CHECK (s IN ('a', 'b')),
    d boolean DEFAULT ('a'::varchar(10) IN ('a', 'b')),
    g boolean GENERATED ALWAYS AS (s IN ('a', 'b')) STORED
);
CREATE INDEX t_s_partial ON t (id) WHERE s IN ('a', 'b');
CREATE VIEW v AS SELECT id FROM t WHERE s IN ('a', 'b');
ALTER TABLE t ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON t USING (s IN ('a', 'b')) WITH CHECK (s IN ('a', 'b'));
";

#[test]
fn expressions_reprinted_by_a_reload_are_not_differences() {
    let server = require_pg!();
    let db = TestDb::new(server, "snap_reprint");
    let project = Project::empty();
    project.write("migrations/001_t.sql", REPRINTED);
    project.apply(&db, &[]).success();
    let run = snapshot(&project, &db, &["v1.0", "Reprinted"]).success();
    assert!(
        run.stdout.contains("identical to the source"),
        "{}",
        run.stdout
    );
    let fresh = TestDb::new(server, "snap_reprint_fresh");
    project.apply(&fresh, &[]).success();
    assert_eq!(fresh.tables("public"), ["t"]);
}

#[test]
fn a_reprint_is_told_from_a_real_difference() {
    let server = require_pg!();
    let db = TestDb::new(server, "snap_reprint_real");
    let mut client = db.client();
    client.batch_execute(REPRINTED).expect("setup");
    let same = |kind: &str, name: &str, source: &str, copy: &str| {
        dbkit::pg::reprint::same(&mut db.client(), kind, name, source, copy, &db.name)
            .expect("compares")
    };
    let before = "CHECK (((s)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))";
    let after = "CHECK (((s)::text = ANY (ARRAY[('a'::character varying)::text, ('b'::character varying)::text])))";
    assert!(same("constraint", "public.t.t_s_check", before, after));
    let changed = "CHECK (((s)::text = ANY (ARRAY[('a'::character varying)::text, ('c'::character varying)::text])))";
    assert!(!same("constraint", "public.t.t_s_check", before, changed));
    assert!(!same(
        "column",
        "public.t.id",
        "position 1 | integer | not null",
        "position 1 | bigint | not null"
    ));
    assert!(!same(
        "index",
        "public.t_s_partial",
        "CREATE INDEX t_s_partial ON public.t USING btree (id) WHERE ((s)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[]))",
        "CREATE INDEX t_s_partial ON public.t USING btree (s) WHERE ((s)::text = ANY (ARRAY[('a'::character varying)::text, ('b'::character varying)::text]))",
    ));
    assert!(same(
        "index",
        "public.t_s_partial",
        "CREATE INDEX t_s_partial ON public.t USING btree (id) WHERE ((s)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[]))",
        "CREATE INDEX t_s_partial ON public.t USING btree (id) WHERE ((s)::text = ANY (ARRAY[('a'::character varying)::text, ('b'::character varying)::text]))",
    ));
    let view = |b: &str| {
        format!("kind v | persistence p |  SELECT t.id FROM public.t WHERE ((t.s)::text = ANY ((ARRAY['a'::character varying, '{b}'::character varying])::text[]));")
    };
    let reloaded = " SELECT t.id FROM public.t WHERE ((t.s)::text = ANY (ARRAY[('a'::character varying)::text, ('b'::character varying)::text]));";
    assert!(same(
        "view",
        "public.v",
        &view("b"),
        &format!("kind v | persistence p | {reloaded}")
    ));
    assert!(!same(
        "view",
        "public.v",
        &view("c"),
        &format!("kind v | persistence p | {reloaded}")
    ));
    assert!(!same(
        "view",
        "public.v",
        &view("b"),
        &format!("kind m | persistence p | {reloaded}")
    ));
    let policy = |b: &str| {
        format!("permissive | for * | to public | using ((s)::text = ANY ((ARRAY['a'::character varying, '{b}'::character varying])::text[]))")
    };
    let reloaded = "permissive | for * | to public | using ((s)::text = ANY (ARRAY[('a'::character varying)::text, ('b'::character varying)::text]))";
    assert!(same("policy", "public.t.p", &policy("b"), reloaded));
    assert!(!same("policy", "public.t.p", &policy("c"), reloaded));
    assert!(!same(
        "column",
        "public.t.d",
        "position 3 | boolean | default true",
        "position 3 | boolean | default false"
    ));
    // Probing leaves nothing behind.
    assert_eq!(db.tables("public"), ["t"]);
    assert_eq!(
        db.value("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'"),
        "2"
    );
}

#[test]
fn six_thousand_partitions_snapshot_and_load_on_a_server_with_default_settings() {
    // 64 locks per transaction × 100 connections: 6,000 partitions (each with a TOAST
    // table and its index) cannot be created in one transaction.
    let Some(server) = util::own_server(&[]) else {
        return;
    };
    let db = TestDb::new(server, "snap_large");
    assert_eq!(db.value("SHOW max_locks_per_transaction"), "64");
    let project = Project::empty();
    project
        .write(
            "migrations/001_events.sql",
            "CREATE TABLE events (id int PRIMARY KEY, note text) PARTITION BY RANGE (id);\n",
        )
        // 60 partitions of 100 (a flat list of 6,000 is slow to create), committed 250
        // at a time.
        .write(
            "migrations/002_partitions.sql",
            "-- dbkit:no-transaction
DO $$ BEGIN FOR i IN 0..5999 LOOP
  IF i % 100 = 0 THEN
    EXECUTE format('CREATE TABLE events_%s PARTITION OF events FOR VALUES FROM (%s) TO (%s) PARTITION BY RANGE (id)', i / 100, i * 10, i * 10 + 1000);
  END IF;
  EXECUTE format('CREATE TABLE events_%s_%s PARTITION OF events_%s FOR VALUES FROM (%s) TO (%s)', i / 100, i, i / 100, i * 10, i * 10 + 10);
  IF i % 250 = 249 THEN COMMIT; END IF;
END LOOP; END $$;
",
        );
    project.apply(&db, &[]).success();
    let partitions = "SELECT count(*) FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid WHERE c.relkind IN ('r', 'p')";
    assert_eq!(db.value(partitions), "6060");

    let run = snapshot(&project, &db, &["v1.0", "Large"]).success();
    assert!(
        run.stdout.contains("identical to the source"),
        "{}",
        run.stdout
    );

    // A fresh apply-schema loads it in several transactions. One that fails part-way is
    // undone: the database is empty again, and a later apply starts from scratch.
    let path = "versions/v1.0_large.sql";
    let good = project.read(path);
    project.write(path, &format!("{good}\nSELECT 1 / 0;\n"));
    let fresh = TestDb::new(server, "snap_large_fresh");
    let failed = project.apply(&fresh, &[]).expect_code(1);
    assert!(
        failed.stderr.contains("division by zero"),
        "{}",
        failed.stderr
    );
    assert_eq!(
        fresh.value("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"),
        "0"
    );
    assert_eq!(
        fresh.value("SELECT count(*) FROM pg_namespace WHERE nspname = 'dbkit'"),
        "0"
    );
    project.write(path, &good);
    project.apply(&fresh, &[]).success();
    assert_eq!(fresh.value(partitions), "6060");
    assert_eq!(fresh.history().len(), 2, "{:?}", fresh.history());
}
