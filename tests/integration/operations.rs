//! backup, restore and reset end to end against a real server: backups restore to
//! identical databases in every format, never leave a partial file under a final name,
//! keep their password out of arguments and output, prune exactly; restores refuse
//! non-empty targets and stop at the first error; resets drop what they should, keep
//! extensions elsewhere, and refuse remote, production-marked and unconfirmed runs.

use crate::util;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use dbkit::pg::dump::{PgDump, ServerVersion};
use dbkit::pg::tools::Finder;
use dbkit::project::settings::ConnectionSettings;
use util::{Project, Run, TestDb};

/// The example schema with its reference data and fixtures (loaded with psql).
fn example_with_data(server: &'static util::Server, name: &str) -> (Project, TestDb) {
    let db = TestDb::new(server, name);
    let project = Project::example();
    project.apply(&db, &[]).success();
    for folder in ["seed/reference", "seed/fixtures"] {
        let files =
            dbkit::project::layout::Layout::numbered_files(&project.database().join(folder))
                .expect("seed files");
        for file in files {
            psql(&db, &["-f", &file.display().to_string()]);
        }
    }
    (project, db)
}

fn psql(db: &TestDb, args: &[&str]) {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url])
        .args(args)
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A full dump (schema and data) of a database, with pg_dump's random key removed.
fn full_dump(db: &TestDb) -> String {
    let settings = ConnectionSettings::parse(&db.url, None).expect("conninfo");
    let server = ServerVersion::query(&mut db.client(), &db.name).expect("version");
    let pg_dump =
        PgDump::for_server(&Finder::new(std::env::var_os("PATH")), &server).expect("pg_dump");
    let out = pg_dump.command(&settings).output().expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dbkit::project::snapshot::normalize_dump(&String::from_utf8(out.stdout).expect("UTF-8"))
}

fn run(project: &Project, program: &str, db: &TestDb, args: &[&str]) -> Run {
    let mut command = project.command(program);
    command.args(["-D", &db.url]).args(args);
    Run::of(command)
}

/// The backup path a successful backup printed.
fn printed_path(project: &Project, run: &Run) -> PathBuf {
    let path = regex::Regex::new(r"→ (\S+) \(")
        .expect("valid")
        .captures(&run.stdout)
        .unwrap_or_else(|| panic!("a path in: {}", run.stdout))[1]
        .to_string();
    project.dir.path().join(path)
}

/// The backups in the project's `backups/` (not their `.json` sidecars or hidden files).
fn backups(project: &Project) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project.dir.path().join("backups"))
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && !n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn every_format_restores_to_an_identical_database() {
    let server = require_pg!();
    let (project, source) = example_with_data(server, "backup_source");
    let expected = full_dump(&source);
    assert!(
        expected.contains("COPY public.activities"),
        "fixtures are in the dump"
    );
    let formats: [&[&str]; 4] = [
        &[],
        &["-Z", "6"],
        &["-F", "custom"],
        &["--dump-format", "directory"],
    ];
    for (i, format) in formats.iter().enumerate() {
        let made = run(&project, "backup", &source, format).success();
        let path = printed_path(&project, &made);
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("backup_"), "{name}");
        if path.is_dir() {
            assert_eq!(mode, 0o700, "{name}");
            for entry in std::fs::read_dir(&path).expect("reads") {
                let file_mode = entry
                    .expect("entry")
                    .metadata()
                    .expect("meta")
                    .permissions()
                    .mode();
                assert_eq!(file_mode & 0o777, 0o600);
            }
        } else {
            assert_eq!(mode, 0o600, "{name}");
        }
        let into = format!("{}_restored_{i}", source.name);
        let restored = run(
            &project,
            "restore",
            &source,
            &[&path.display().to_string(), "--into", &into],
        )
        .success();
        assert!(restored.stdout.contains("(created)"), "{}", restored.stdout);
        let copy = TestDb {
            name: into.clone(),
            url: server.cluster.conninfo(&into),
            server,
        };
        assert_eq!(full_dump(&copy), expected, "format {format:?}");
    }
    assert_eq!(backups(&project).len(), 4, "{:?}", backups(&project));
    assert!(
        !backups(&project).iter().any(|n| n.starts_with('.')),
        "no temp files left"
    );
}

#[test]
fn concurrent_backups_each_get_their_own_file() {
    let server = require_pg!();
    let db = TestDb::new(server, "backup_concurrent");
    let project = Project::example();
    project.apply(&db, &["--no-validate"]).success();
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut command = project.command("backup");
            command.args(["-D", &db.url]);
            command
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawns")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("waits").success());
    }
    let names = backups(&project);
    assert_eq!(names.len(), 4, "{names:?}");
    for name in names {
        let text =
            std::fs::read_to_string(project.dir.path().join("backups").join(&name)).expect("reads");
        assert!(
            text.contains("-- PostgreSQL database dump complete"),
            "{name} complete"
        );
    }
}

#[test]
fn keep_prunes_exactly_to_n_of_its_own_backups() {
    let server = require_pg!();
    let db = TestDb::new(server, "backup_keep");
    let project = Project::example();
    project.apply(&db, &["--no-validate"]).success();
    std::fs::create_dir_all(project.dir.path().join("backups")).expect("folder");
    for other in ["notes.sql", "backup_manual.sql", "backup_2020-01-01.sql"] {
        std::fs::write(project.dir.path().join("backups").join(other), "keep me").expect("writes");
    }
    for _ in 0..4 {
        run(&project, "backup", &db, &["--keep", "2"]).success();
    }
    let names = backups(&project);
    let own: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(&format!("backup_{}_", db.name)))
        .collect();
    assert_eq!(own.len(), 2, "{names:?}");
    for other in ["notes.sql", "backup_manual.sql", "backup_2020-01-01.sql"] {
        assert!(
            names.contains(&other.to_string()),
            "{other} kept: {names:?}"
        );
    }
    let json = run(&project, "backup", &db, &["--keep", "1", "--json"])
        .success()
        .json();
    assert_eq!(json["pruned"].as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(json["format"], "plain");
}

/// A folder with a fake `pg_dump` that runs `script` for a dump and the real one for
/// `--version`.
fn fake_pg_dump(script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let real = Finder::new(std::env::var_os("PATH"))
        .find("pg_dump")
        .expect("pg_dump");
    let text = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then exec '{}' --version; fi\nREAL='{}'\n{script}\n",
        real.display(),
        real.display()
    );
    let path = dir.path().join("pg_dump");
    std::fs::write(&path, text).expect("writes");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

#[test]
fn a_failed_or_incomplete_dump_leaves_no_file_under_a_final_name() {
    let server = require_pg!();
    let db = TestDb::new(server, "backup_killed");
    let project = Project::example();
    project.apply(&db, &["--no-validate"]).success();
    let cases = [
        ("\"$REAL\" \"$@\" | head -c 2000; kill -9 $$", "signal: 9"),
        ("\"$REAL\" \"$@\" | head -c 2000; exit 0", "incomplete"),
    ];
    for (script, expect) in cases {
        let tools = fake_pg_dump(script);
        let mut command = project.command("backup");
        command
            .env("DBKIT_PG_BINDIR", tools.path())
            .args(["-D", &db.url]);
        let run = Run::of(command).expect_code(1);
        assert!(
            run.stderr.contains(expect),
            "wanted {expect}: {}",
            run.stderr
        );
        assert_eq!(
            backups(&project),
            Vec::<String>::new(),
            "nothing left behind"
        );
    }
}

#[test]
fn the_password_stays_out_of_arguments_and_output() {
    let server = require_pg!();
    let db = TestDb::new(server, "backup_password");
    let project = Project::example();
    project.apply(&db, &["--no-validate"]).success();
    let record = project.dir.path().join("pg_dump-call.txt");
    let tools = fake_pg_dump(&format!(
        "echo \"args: $*\" > '{0}'; echo \"password: $PGPASSWORD\" >> '{0}'; exec \"$REAL\" \"$@\"",
        record.display()
    ));
    let url = format!("{} password=s3cret-Pw", db.url);
    let mut command = project.command("backup");
    command
        .env("DBKIT_PG_BINDIR", tools.path())
        .args(["-D", &url]);
    let run = Run::of(command).success();
    assert!(!run.stdout.contains("s3cret-Pw") && !run.stderr.contains("s3cret-Pw"));
    let call = std::fs::read_to_string(&record).expect("recorded");
    let args = call.lines().next().expect("args line");
    assert!(!args.contains("s3cret-Pw"), "{args}");
    assert!(
        call.contains("password: s3cret-Pw"),
        "the password travels in the environment"
    );
}

#[test]
fn restore_refuses_a_non_empty_target_and_stops_at_the_first_error() {
    let server = require_pg!();
    let (project, source) = example_with_data(server, "restore_source");
    let made = run(&project, "backup", &source, &[]).success();
    let path = printed_path(&project, &made);
    let path_text = path.display().to_string();

    // Into itself: not empty, refused, unchanged.
    let before = source.fingerprint();
    let refused = run(&project, "restore", &source, &[&path_text]).expect_code(1);
    assert!(
        refused.stderr.contains("is not empty"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--into NAME"), "{}", refused.stderr);
    // --replace without a terminal and without --yes: refused, unchanged.
    let refused = run(&project, "restore", &source, &[&path_text, "--replace"]).expect_code(2);
    assert!(
        refused.stderr.contains("pass `--yes`"),
        "{}",
        refused.stderr
    );
    assert_eq!(source.fingerprint(), before);

    // A backup broken part-way: psql stops at the error, and the new database is empty.
    let text = std::fs::read_to_string(&path).expect("reads");
    let cut = text.find("CREATE TABLE public.contract ").expect("a table");
    let broken_path = project.dir.path().join("broken.sql");
    std::fs::write(
        &broken_path,
        format!(
            "{}SELECT * FROM no_such_table_here;\n{}",
            &text[..cut],
            &text[cut..]
        ),
    )
    .expect("writes");
    let line = text[..cut].lines().count() + 1;
    let into = format!("{}_broken", source.name);
    psql(&source, &["-c", &format!("CREATE DATABASE {into}")]);
    let failed = run(
        &project,
        "restore",
        &source,
        &[&broken_path.display().to_string(), "--into", &into],
    )
    .expect_code(1);
    assert!(
        failed.stderr.contains(&format!(
            "broken.sql:{line}: ERROR:  relation \"no_such_table_here\" does not exist"
        )),
        "line {line}: {}",
        failed.stderr
    );
    let copy = TestDb {
        name: into.clone(),
        url: server.cluster.conninfo(&into),
        server,
    };
    assert_eq!(copy.tables("public"), Vec::<String>::new(), "rolled back");
    // A database the failed restore created itself does not stay behind.
    let gone = format!("{}_gone", source.name);
    run(
        &project,
        "restore",
        &source,
        &[&broken_path.display().to_string(), "--into", &gone],
    )
    .expect_code(1);
    assert_eq!(
        source.value(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{gone}'"
        )),
        "0"
    );
    // A backup cut short is refused before psql could commit the part it read.
    let gz = run(&project, "backup", &source, &["-Z", "6"]).success();
    let gz_path = printed_path(&project, &gz);
    let bytes = std::fs::read(&gz_path).expect("reads");
    let short_path = project.dir.path().join("short.sql.gz");
    std::fs::write(&short_path, &bytes[..bytes.len() * 3 / 10]).expect("writes");
    let short = run(
        &project,
        "restore",
        &copy,
        &[&short_path.display().to_string()],
    )
    .expect_code(1);
    assert!(
        short.stderr.contains("cut short") || short.stderr.contains("deflate"),
        "{}",
        short.stderr
    );
    let plain_short = project.dir.path().join("short.sql");
    std::fs::write(&plain_short, &text[..text.len() / 2]).expect("writes");
    let short = run(
        &project,
        "restore",
        &copy,
        &[&plain_short.display().to_string()],
    )
    .expect_code(1);
    assert!(
        short.stderr.contains("not a complete pg_dump backup"),
        "{}",
        short.stderr
    );
    assert_eq!(
        copy.tables("public"),
        Vec::<String>::new(),
        "nothing restored"
    );

    // --replace --yes on a local development database: dropped, recreated, restored.
    let replaced = run(
        &project,
        "restore",
        &copy,
        &[&path_text, "--replace", "--yes"],
    );
    let replaced = replaced.success();
    assert!(
        !replaced.stdout.contains("(replaced)"),
        "it was empty: {}",
        replaced.stdout
    );
    // A replace whose restore fails leaves the target as it was.
    let before = copy.fingerprint();
    let failed = run(
        &project,
        "restore",
        &copy,
        &[&broken_path.display().to_string(), "--replace", "--yes"],
    )
    .expect_code(1);
    assert!(
        failed.stderr.contains("no_such_table_here"),
        "{}",
        failed.stderr
    );
    assert_eq!(copy.fingerprint(), before, "target untouched");
    psql(
        &source,
        &[
            "-c",
            &format!(
                "ALTER DATABASE {} SET dbkit.environment = 'staging'",
                copy.name
            ),
        ],
    );
    let again = run(
        &project,
        "restore",
        &copy,
        &[&path_text, "--replace", "--yes"],
    )
    .success();
    assert_eq!(
        copy.value("SELECT current_setting('dbkit.environment')"),
        "staging",
        "settings kept"
    );
    assert!(again.stdout.contains("(replaced)"), "{}", again.stdout);
    assert_eq!(full_dump(&copy), full_dump(&source));
}

/// An archive of `db` made with pg_dump itself (`-F c` or `-F d`).
fn archive(db: &TestDb, project: &Project, format: &str, name: &str) -> String {
    let path = project.dir.path().join(name);
    let out = Command::new("pg_dump")
        .args(["-F", format, "-d", &db.url, "-f"])
        .arg(&path)
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path.display().to_string()
}

const TABLES: &str = "CREATE TABLE items (id serial PRIMARY KEY, name text);
CREATE SCHEMA audit;
CREATE TABLE audit.items (n int);
CREATE TABLE other (n int);";

#[test]
fn restore_table_fills_empty_tables_and_replaces_rows_only_when_asked() {
    let server = require_pg!();
    let source = TestDb::new(server, "table_source");
    psql(
        &source,
        &[
            "-c",
            &format!("{TABLES} INSERT INTO items (name) VALUES ('a'), ('b'), ('c'); INSERT INTO audit.items VALUES (1); INSERT INTO other VALUES (9);"),
        ],
    );
    let project = Project::empty();
    let custom = archive(&source, &project, "c", "source.dump");
    let directory = archive(&source, &project, "d", "source.dir");
    let target = TestDb::new(server, "table_target");
    psql(
        &target,
        &["-c", &format!("{TABLES} INSERT INTO other VALUES (42);")],
    );
    let items = || target.column("SELECT id || name FROM items ORDER BY id");
    let restore = |args: &[&str]| run(&project, "restore", &target, args);

    // Names the backup cannot answer, and a backup pg_restore cannot pick from.
    let ambiguous = restore(&[&custom, "--table", "items"]).expect_code(2);
    assert!(
        ambiguous.stderr.contains("(`audit.items`, `public.items`)"),
        "{}",
        ambiguous.stderr
    );
    let missing =
        restore(&[&custom, "--table", "public.nope", "--table", "x.items"]).expect_code(1);
    assert!(
        missing
            .stderr
            .contains("holds no tables `public.nope`, `x.items`"),
        "{}",
        missing.stderr
    );
    let plain = project.dir.path().join("plain.sql");
    std::fs::write(&plain, "--\n-- PostgreSQL database dump complete\n--\n").expect("writes");
    let refused =
        restore(&[&plain.display().to_string(), "--table", "public.items"]).expect_code(2);
    assert!(refused.stderr.contains("plain SQL"), "{}", refused.stderr);

    // Into an empty table: its rows, and its sequence's value, and nothing else.
    let filled = restore(&[&custom, "--table", "public.items"]).success();
    assert!(
        filled
            .stdout
            .contains("restored the rows of `public.items`"),
        "{}",
        filled.stdout
    );
    assert_eq!(items(), ["1a", "2b", "3c"]);
    assert_eq!(target.column("SELECT n FROM other"), ["42"]);
    assert!(target.column("SELECT n FROM audit.items").is_empty());
    psql(&target, &["-c", "INSERT INTO items (name) VALUES ('d')"]);
    assert_eq!(items(), ["1a", "2b", "3c", "4d"], "the sequence went along");

    // A table with rows: refused, unless --replace (which asks, or needs --yes).
    let refused = restore(&[&custom, "--table", "public.items"]).expect_code(1);
    assert!(
        refused.stderr.contains("`public.items`") && refused.stderr.contains("already holds rows"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--replace"), "{}", refused.stderr);
    let unasked = restore(&[&custom, "--table", "public.items", "--replace"]).expect_code(2);
    assert!(
        unasked.stderr.contains("pass `--yes`"),
        "{}",
        unasked.stderr
    );
    assert_eq!(items(), ["1a", "2b", "3c", "4d"]);
    let replaced = restore(&[&custom, "--table", "public.items", "--replace", "--yes"]).success();
    assert!(
        replaced.stdout.contains("(replaced)"),
        "{}",
        replaced.stdout
    );
    assert_eq!(items(), ["1a", "2b", "3c"]);
    assert_eq!(
        target.column("SELECT n FROM other"),
        ["42"],
        "other tables untouched"
    );

    // A replace that fails part-way keeps the rows that were there.
    psql(
        &target,
        &[
            "-c",
            "DELETE FROM items WHERE name = 'b'; ALTER TABLE items ADD CONSTRAINT no_b CHECK (name <> 'b');",
        ],
    );
    let failed =
        restore(&[&custom, "--table", "public.items", "--replace", "--yes"]).expect_code(1);
    assert!(failed.stderr.contains("no_b"), "{}", failed.stderr);
    assert_eq!(items(), ["1a", "3c"], "rolled back");

    // A directory backup works the same way.
    restore(&[&directory, "--table", "audit.items"]).success();
    assert_eq!(target.column("SELECT n FROM audit.items"), ["1"]);
}

/// Runs a command, killing it (and failing) when it has not ended within `limit`.
fn run_within(mut command: Command, limit: std::time::Duration) -> Run {
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("program runs");
    Run::finish_within(child, limit).0
}

#[test]
fn restore_table_from_a_cut_short_archive_fails_at_once_and_keeps_the_rows() {
    let server = require_pg!();
    let source = TestDb::new(server, "table_cut_source");
    psql(
        &source,
        &[
            "-c",
            "CREATE TABLE big (id int PRIMARY KEY, note text);
             INSERT INTO big SELECT n, md5(n::text) FROM generate_series(1, 200000) n;",
        ],
    );
    let project = Project::empty();
    let whole = archive(&source, &project, "c", "whole.dump");
    let bytes = std::fs::read(&whole).expect("reads");
    // The table of contents is whole; the table's data is cut off half-way.
    let cut = project.dir.path().join("cut.dump");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("writes");
    let target = TestDb::new(server, "table_cut_target");
    psql(
        &target,
        &[
            "-c",
            "CREATE TABLE big (id int PRIMARY KEY, note text); INSERT INTO big VALUES (1, 'kept');",
        ],
    );

    let mut command = project.command("restore");
    command.args(["-D", &target.url]).arg(&cut).args([
        "--table",
        "public.big",
        "--replace",
        "--yes",
    ]);
    let failed = run_within(command, std::time::Duration::from_secs(30)).expect_code(1);
    assert!(
        failed.stderr.contains("pg_restore") && failed.stderr.contains("exit status"),
        "{}",
        failed.stderr
    );
    assert_eq!(
        target.column("SELECT id || note FROM big"),
        ["1kept"],
        "rolled back"
    );
}

#[test]
fn reset_drops_the_schemas_and_keeps_extensions_elsewhere() {
    let server = require_pg!();
    let (project, db) = example_with_data(server, "reset_example");
    let (_, source_rows) = example_with_data(server, "reset_rows");
    psql(&db, &["-c", "CREATE SCHEMA ext; CREATE EXTENSION pg_trgm SCHEMA ext; CREATE TABLE public.extra (id int);"]);
    let run_ = run(&project, "reset", &db, &["--yes"]).success();
    assert!(
        run_.stdout.contains("dropped `public` ("),
        "{}",
        run_.stdout
    );
    assert_eq!(db.tables("public"), Vec::<String>::new());
    assert_eq!(
        db.value("SELECT count(*) FROM pg_namespace WHERE nspname = 'dbkit'"),
        "0"
    );
    assert_eq!(
        db.value("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"),
        "pg_database_owner"
    );
    assert_eq!(
        db.value("SELECT array_to_string(nspacl, ',') FROM pg_namespace WHERE nspname = 'public'"),
        "pg_database_owner=UC/pg_database_owner,=U/pg_database_owner"
    );
    assert_eq!(
        db.value(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
        ),
        "ext"
    );
    // As new for apply-schema: the snapshot loads again.
    let applied = project.apply(&db, &[]).success();
    assert!(
        applied.stdout.contains("loaded snapshot v1.0"),
        "{}",
        applied.stdout
    );

    // --reapply --backup-first: a backup, then the dev loop.
    let again = run(
        &project,
        "reset",
        &db,
        &["--yes", "--reapply", "--backup-first"],
    )
    .success();
    assert!(again.stdout.contains("✓ backup of"), "{}", again.stdout);
    assert!(
        again.stdout.contains("applied 12 migrations"),
        "{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .contains("Done: loaded 2 reference and 3 fixture files, 101 rows"),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("6 checks passed"), "{}", again.stdout);
    assert_eq!(
        db.value("SELECT count(*) FROM contract_party"),
        source_rows.value("SELECT count(*) FROM contract_party")
    );
    assert_eq!(backups(&project).len(), 1);
    assert_eq!(db.history().len(), 12);
}

#[test]
fn reset_refuses_remote_production_and_unconfirmed_runs() {
    let server = require_pg!();
    let db = TestDb::new(server, "reset_refusals");
    let project = Project::example();
    project.apply(&db, &["--no-validate"]).success();
    let before = db.fingerprint();

    // Remote: refused before connecting (this host does not exist).
    let mut command = project.command("reset");
    command.args([
        "-D",
        "postgres://app:pw@db.invalid.example.com/app",
        "--yes",
    ]);
    let remote = Run::of(command).expect_code(1);
    assert!(remote.stderr.contains("refusing to reset postgres://app:****@db.invalid.example.com:5432/app: it is not on this machine"), "{}", remote.stderr);
    assert!(
        remote.stderr.contains("--confirm-database app"),
        "{}",
        remote.stderr
    );

    // No terminal and no --yes.
    let mut command = project.command("reset");
    command
        .args(["-D", &db.url])
        .stdin(std::process::Stdio::null());
    let unconfirmed = Run::of(command).expect_code(2);
    assert!(
        unconfirmed.stderr.contains("stdin is not a terminal"),
        "{}",
        unconfirmed.stderr
    );

    // DBKIT_ENV=production.
    let mut command = project.command("reset");
    command
        .env("DBKIT_ENV", "production")
        .args(["-D", &db.url, "--yes"]);
    let by_env = Run::of(command).expect_code(1);
    assert!(
        by_env.stderr.contains("DBKIT_ENV is `production`"),
        "{}",
        by_env.stderr
    );

    // Marked as production in the database.
    project
        .apply(&db, &["--mark-environment", "production"])
        .success();
    let marked = run(&project, "reset", &db, &["--yes"]).expect_code(1);
    assert!(
        marked
            .stderr
            .contains("marked as production (dbkit.environment = 'production')"),
        "{}",
        marked.stderr
    );
    // A session value cannot hide the database's own mark.
    let hidden_url = format!("{} options='-c dbkit.environment=dev'", db.url);
    let mut command = project.command("reset");
    command.args(["-D", &hidden_url, "--yes"]);
    let hidden = Run::of(command).expect_code(1);
    assert!(
        hidden.stderr.contains("marked as production"),
        "{}",
        hidden.stderr
    );
    // hostaddr decides where a connection goes: a remote one is refused before connecting.
    let mut command = project.command("reset");
    command.args([
        "-D",
        "hostaddr=192.0.2.2 port=6543 dbname=victim user=postgres",
        "--yes",
    ]);
    let by_addr = Run::of(command).expect_code(1);
    assert!(
        by_addr.stderr.contains("it is not on this machine"),
        "{}",
        by_addr.stderr
    );
    let wrong_name = run(
        &project,
        "reset",
        &db,
        &["--yes", "--confirm-database", "other"],
    )
    .expect_code(1);
    assert!(
        wrong_name.stderr.contains("marked as production"),
        "{}",
        wrong_name.stderr
    );
    assert_eq!(db.fingerprint(), before, "untouched by every refusal");

    // Naming the database overrides.
    run(
        &project,
        "reset",
        &db,
        &["--yes", "--confirm-database", &db.name],
    )
    .success();
    assert_eq!(db.tables("public"), Vec::<String>::new());
}

#[test]
fn reset_refuses_a_database_dbkit_never_managed_unless_named() {
    let server = require_pg!();
    let db = TestDb::new(server, "reset_unmanaged");
    let project = Project::example();
    psql(
        &db,
        &[
            "-c",
            "CREATE TABLE invoices (id int PRIMARY KEY, amount numeric);
             INSERT INTO invoices SELECT i, i * 1.5 FROM generate_series(1, 1000) i;
             CREATE SCHEMA billing; CREATE TABLE billing.accounts (id int);
             ANALYZE;",
        ],
    );
    let before = db.fingerprint();
    let refused = run(&project, "reset", &db, &["--yes"]).expect_code(1);
    assert!(
        refused.stderr.contains(
            "it has no dbkit history and holds 2 tables (about 1,000 rows) in schemas `billing`, `public`"
        ),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains(&format!("pass `--confirm-database {}`", db.name)),
        "{}",
        refused.stderr
    );
    // Naming another database does not count.
    run(
        &project,
        "reset",
        &db,
        &["--yes", "--confirm-database", "x"],
    )
    .expect_code(1);
    assert_eq!(db.fingerprint(), before);
    assert_eq!(db.value("SELECT count(*) FROM invoices"), "1000");

    // Named, it is reset; the schema reset does not drop stays.
    run(
        &project,
        "reset",
        &db,
        &["--yes", "--confirm-database", &db.name],
    )
    .success();
    assert_eq!(db.tables("public"), Vec::<String>::new());
    assert_eq!(db.tables("billing"), ["accounts"]);

    // An empty database without history is fine to reset.
    let empty = TestDb::new(server, "reset_unmanaged_empty");
    run(&project, "reset", &empty, &["--yes"]).success();
}

/// Starts `reset` in the background with its output captured.
fn spawn_reset(project: &Project, db: &TestDb, args: &[&str]) -> std::process::Child {
    let mut command = project.command("reset");
    command
        .args(["-D", &db.url])
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command.spawn().expect("reset starts")
}

/// Waits (at most 60 s) until `condition` holds.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "not within 60 s: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn reset_drops_five_thousand_relations_on_a_server_with_default_lock_settings() {
    // 64 locks per transaction × 50 connections: dropping 5,000 partitions (three locks
    // each: the table, its row type and array type) in one transaction cannot fit.
    let Some(server) = util::own_server(&[("max_connections", "50")]) else {
        return;
    };
    let db = TestDb::new(server, "reset_large");
    assert_eq!(db.value("SHOW max_connections"), "50");
    assert_eq!(db.value("SHOW max_locks_per_transaction"), "64");
    let project = Project::empty();
    project.write(
        "migrations/001_events.sql",
        "CREATE EXTENSION pg_trgm;
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE people (id serial PRIMARY KEY, name text, mood mood, n bigint GENERATED ALWAYS AS IDENTITY);
CREATE INDEX people_name ON people USING gin (name gin_trgm_ops);
CREATE TABLE staff (badge int) INHERITS (people);
CREATE VIEW happy_people AS SELECT * FROM people WHERE mood = 'happy';
CREATE FUNCTION greeting(p people) RETURNS text LANGUAGE sql AS $$ SELECT 'hi ' || p.name $$;
CREATE SEQUENCE tickets;
CREATE TABLE events (id int, at date) PARTITION BY RANGE (id);
CREATE VIEW recent_events AS SELECT * FROM events WHERE at > now() - interval '1 day';
",
    );
    project.apply(&db, &[]).success();
    // 5,000 partitions under `events`, in 50 partitioned partitions of 100 (a flat list
    // of 5,000 takes half a minute to create: each new partition rereads its siblings),
    // committed 250 at a time (creating them takes locks too).
    psql(
        &db,
        &["-c", "DO $$ BEGIN FOR i IN 0..4999 LOOP
            IF i % 100 = 0 THEN
              EXECUTE format('CREATE TABLE events_%s PARTITION OF events FOR VALUES FROM (%s) TO (%s) PARTITION BY RANGE (id)', i / 100, i * 10, i * 10 + 1000);
            END IF;
            EXECUTE format('CREATE TABLE events_%s_%s PARTITION OF events_%s FOR VALUES FROM (%s) TO (%s)', i / 100, i, i / 100, i * 10, i * 10 + 10);
            IF i % 250 = 249 THEN COMMIT; END IF;
          END LOOP; END $$"],
    );
    let relations =
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')";
    let total: i64 = db.value(relations).parse().expect("a count");
    assert!(total > 5000, "{total}");

    // Stopped half-way (a session holds a partition from the middle, so reset waits on
    // it; then Ctrl-C): what is dropped stays dropped, what is left is named, and dbkit's
    // history is still there, so the next run knows the database.
    let mut holder = db.client();
    let mut holding = holder.transaction().expect("begins");
    holding
        .batch_execute("SELECT * FROM events_25_2500")
        .expect("locks a partition");
    let child = spawn_reset(&project, &db, &["--yes"]);
    wait_until("reset waits for the held partition", || {
        db.value("SELECT count(*) FROM pg_locks WHERE NOT granted") != "0"
    });
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let output = child.wait_with_output().expect("reset exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    holding.rollback().expect("releases the partition");
    let left: i64 = db.value(relations).parse().expect("a count");
    assert!(0 < left && left < total - 250, "{left} of {total} left");
    assert!(
        stderr.contains("reset stopped before it finished: ")
            && stderr.contains(&format!(
                "left: `public` ({} relations)",
                dbkit::pg::inspect::thousands(left)
            ))
            && stderr.contains("run reset again to finish"),
        "{stderr}"
    );
    assert_eq!(db.history(), ["1:migration:applied"]);

    // Run again, it finishes, in several transactions, and says so.
    let history: i64 = db
        .value(&relations.replace("'public'", "'dbkit'"))
        .parse()
        .expect("a count");
    let done = run(&project, "reset", &db, &["--yes", "--format", "json"]).success();
    let json = done.json();
    assert!(
        json["dropped"]["transactions"].as_u64().expect("a count") > 5,
        "{json}"
    );
    assert_eq!(json["dropped"]["relations"], left + history, "{json}");
    assert_eq!(db.value(relations), "0");
    assert_eq!(
        db.value("SELECT count(*) FROM pg_namespace WHERE nspname = 'dbkit'"),
        "0"
    );
    assert_eq!(
        db.value("SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public'"),
        "0"
    );
    assert_eq!(
        db.value("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"),
        "0"
    );
    // As new for apply-schema.
    project.apply(&db, &[]).success();
    assert_eq!(db.history(), ["1:migration:applied"]);
}

#[test]
fn restore_replace_refuses_a_database_dbkit_did_not_build_unless_named() {
    let server = require_pg!();
    let project = Project::example();
    let source = TestDb::new(server, "replace_source");
    project.apply(&source, &[]).success();
    let made = run(&project, "backup", &source, &[]).success();
    let path = printed_path(&project, &made).display().to_string();
    let other = TestDb::new(server, "other_team");
    other
        .client()
        .batch_execute("CREATE TABLE invoices AS SELECT g AS id FROM generate_series(1, 1000) g")
        .expect("setup");
    let refused = run(&project, "restore", &other, &[&path, "--replace", "--yes"]).expect_code(1);
    assert!(
        refused.stderr.contains("no dbkit history")
            && refused.stderr.contains("--confirm-database"),
        "{}",
        refused.stderr
    );
    assert_eq!(other.value("SELECT count(*) FROM invoices"), "1000");
    run(
        &project,
        "restore",
        &other,
        &[
            &path,
            "--replace",
            "--yes",
            "--confirm-database",
            &other.name,
        ],
    )
    .success();
    assert_eq!(other.value("SELECT to_regclass('invoices') IS NULL"), "t");
}
