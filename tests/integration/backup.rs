//! backup's safety end to end against a real server: `--keep` prunes only the backups of
//! the same database and content (two databases share one folder), never a file dbkit
//! cannot attribute; `--dry-run` writes and removes nothing; `--list` shows one
//! database's backups; data backups are private and kept out of git; `--format` is the
//! output format; progress shows on a terminal only; `apply-schema --backup-first`
//! backs up only when something is pending and applies nothing when the backup fails.

use crate::util;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use dbkit::pg::tools::Finder;
use util::{Project, Run, TestDb};

fn run(project: &Project, program: &str, db: &TestDb, args: &[&str]) -> Run {
    let mut command = project.command(program);
    command.args(["-D", &db.url]).args(args);
    Run::of(command)
}

/// Every entry of a folder (hidden ones included), sorted, with its size and mode: to
/// prove that a run changed nothing.
fn state(dir: &Path) -> BTreeMap<String, (u64, u32)> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| {
                    let e = e.expect("entry");
                    let meta = e.metadata().expect("meta");
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        (meta.len(), meta.permissions().mode() & 0o777),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The names in a folder that start with `prefix`, sorted.
fn names(dir: &Path, prefix: &str) -> Vec<String> {
    state(dir)
        .into_keys()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// The backup file names of one database (not their sidecars).
fn backups_of(dir: &Path, db: &TestDb) -> Vec<String> {
    names(dir, &format!("backup_{}_", db.name))
        .into_iter()
        .filter(|n| !n.ends_with(".json"))
        .collect()
}

fn sidecar(path: &Path) -> serde_json::Value {
    let mut name = path.file_name().expect("name").to_os_string();
    name.push(".json");
    let text = std::fs::read_to_string(path.with_file_name(name)).expect("sidecar");
    serde_json::from_str(&text).expect("JSON sidecar")
}

/// A database with the example schema applied.
fn applied(server: &'static util::Server, project: &Project, name: &str) -> TestDb {
    let db = TestDb::new(server, name);
    project.apply(&db, &["--no-validate"]).success();
    db
}

#[test]
fn keep_prunes_only_the_same_databases_backups_of_the_same_content() {
    let server = require_pg!();
    let project = Project::example();
    let app = applied(server, &project, "keep_app");
    let shop = applied(server, &project, "keep_shop");
    let dir = project.dir.path().join("backups");

    // Four full backups of `shop`, then a folder shared with files dbkit did not make.
    for _ in 0..4 {
        run(&project, "backup", &shop, &[]).success();
    }
    let shop_full = backups_of(&dir, &shop);
    assert_eq!(shop_full.len(), 4, "{shop_full:?}");
    let made = run(&project, "backup", &app, &["--format", "json"])
        .success()
        .json();
    let app_full = PathBuf::from(made["path"].as_str().expect("path"));
    let strangers = [
        "backup_2026-01-01_10-00-00.sql", // an older dbkit's name, no sidecar
        "notes.sql",
        "backup_app_2026-01-01_10-00-00Z.sql", // a sidecar that cannot be read
    ];
    for name in strangers {
        std::fs::write(dir.join(name), "-- keep me\n").expect("writes");
    }
    std::fs::write(
        dir.join("backup_app_2026-01-01_10-00-00Z.sql.json"),
        "{ not json",
    )
    .expect("w");

    // Three schema-only backups of `app` with --keep 2: only those are pruned.
    let mut last = None;
    for _ in 0..3 {
        last = Some(run(&project, "backup", &app, &["--schema-only", "--keep", "2"]).success());
    }
    let last = last.expect("ran");
    assert!(
        last.stdout.contains("pruned backups/backup_"),
        "{}",
        last.stdout
    );
    assert!(
        last.stdout
            .contains("not pruned: 3 entries dbkit cannot attribute to a database"),
        "{}",
        last.stdout
    );
    assert!(
        last.stdout.contains("`notes.sql` (no sidecar)"),
        "{}",
        last.stdout
    );
    assert!(
        last.stdout.contains("unreadable sidecar"),
        "{}",
        last.stdout
    );
    assert_eq!(
        backups_of(&dir, &shop),
        shop_full,
        "shop's backups untouched"
    );
    let app_backups = backups_of(&dir, &app);
    assert_eq!(
        app_backups.len(),
        3,
        "1 full + 2 schema-only: {app_backups:?}"
    );
    assert!(
        project.dir.path().join(&app_full).exists(),
        "app's full backup is another content"
    );
    for name in strangers {
        assert!(dir.join(name).exists(), "{name} kept");
    }
    // Every pruned backup went with its sidecar, and no sidecar was left alone.
    for name in names(&dir, "backup_t_") {
        if let Some(backup) = name.strip_suffix(".json") {
            assert!(dir.join(backup).exists(), "orphan sidecar {name}");
        } else {
            assert!(
                dir.join(format!("{name}.json")).exists(),
                "no sidecar for {name}"
            );
        }
    }

    // A full backup of app with --keep 1 removes app's older full backup only.
    let json = run(
        &project,
        "backup",
        &app,
        &["--keep", "1", "--format", "json"],
    )
    .success()
    .json();
    assert_eq!(json["pruned"], serde_json::json!([app_full]), "{json}");
    assert_eq!(json["not_attributed"].as_array().map(Vec::len), Some(3));
    assert_eq!(backups_of(&dir, &shop), shop_full);
    assert_eq!(backups_of(&dir, &app).len(), 3);

    // The sidecar says what the backup holds, and no password.
    let path = PathBuf::from(json["path"].as_str().expect("path"));
    let side = sidecar(&project.dir.path().join(&path));
    assert_eq!(side["database"], app.name.as_str());
    assert_eq!(side["file"], path.file_name().unwrap().to_str().unwrap());
    assert_eq!(side["content"], "schema_and_data");
    assert_eq!(side["format"], "plain");
    assert_eq!(side["tables"], serde_json::json!([]));
    assert_eq!(
        side["server"]["host"],
        server.cluster.socket_dir().display().to_string()
    );
    assert!(side["server"]["port"].as_u64().is_some());
    assert!(side["server"]["version"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    assert_eq!(side["dbkit_version"], env!("CARGO_PKG_VERSION"));
    assert!(side["created"].as_str().is_some_and(|c| c.ends_with('Z')));
    let size = std::fs::metadata(project.dir.path().join(&path))
        .expect("meta")
        .len();
    assert_eq!(side["bytes"].as_u64(), Some(size));
    assert!(
        regex::Regex::new(&format!(
            r"^backup_{}_\d{{4}}-\d\d-\d\d_\d\d-\d\d-\d\dZ(_\d+)?\.sql$",
            app.name
        ))
        .expect("valid")
        .is_match(side["file"].as_str().expect("file")),
        "{side}"
    );
}

#[test]
fn dry_run_shows_what_keep_would_prune_and_changes_nothing() {
    let server = require_pg!();
    let project = Project::example();
    let db = applied(server, &project, "keep_dry_run");
    let dir = project.dir.path().join("backups");

    // On a project without a backups folder: the folder is not even created.
    let fresh = run(&project, "backup", &db, &["--keep", "1", "--dry-run"]).success();
    assert!(
        fresh.stdout.contains("Dry run: would back up"),
        "{}",
        fresh.stdout
    );
    assert!(
        fresh.stdout.contains("would create `backups`"),
        "{}",
        fresh.stdout
    );
    assert!(!dir.exists(), "nothing written");

    for _ in 0..3 {
        run(&project, "backup", &db, &[]).success();
    }
    std::fs::write(dir.join("mine.sql"), "-- mine\n").expect("writes");
    let before = state(&dir);
    let dry = run(&project, "backup", &db, &["--keep", "1", "--dry-run"]).success();
    assert_eq!(state(&dir), before, "a dry run writes and removes nothing");
    assert_eq!(
        dry.stdout.matches("would prune backups/backup_").count(),
        3,
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("nothing was written"), "{}", dry.stdout);
    assert!(
        dry.stdout.contains("`mine.sql` (no sidecar)"),
        "{}",
        dry.stdout
    );

    let json = run(
        &project,
        "backup",
        &db,
        &["--keep", "2", "--dry-run", "--format", "json"],
    )
    .success()
    .json();
    assert_eq!(state(&dir), before);
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["pruned"].as_array().map(Vec::len), Some(2), "{json}");
    assert!(json["path"]
        .as_str()
        .is_some_and(|p| p.starts_with(&format!("backups/backup_{}_", db.name))));
    // The oldest two would go: the newest stays with the new one.
    let mut own = backups_of(&dir, &db);
    own.sort();
    let expected: Vec<String> = own[..2].iter().map(|n| format!("backups/{n}")).collect();
    let mut pruned: Vec<String> = json["pruned"]
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p.as_str().expect("path").to_string())
        .collect();
    pruned.sort();
    assert_eq!(pruned, expected);
}

#[test]
fn list_shows_this_databases_backups_newest_first() {
    let server = require_pg!();
    let project = Project::example();
    let app = applied(server, &project, "list_app");
    let shop = applied(server, &project, "list_shop");
    let dir = project.dir.path().join("backups");

    let empty = run(&project, "backup", &app, &["--list"]).success();
    assert!(
        empty.stdout.starts_with("No backups of"),
        "{}",
        empty.stdout
    );

    run(&project, "backup", &app, &["-F", "custom"]).success();
    run(&project, "backup", &shop, &[]).success();
    run(&project, "backup", &app, &["--schema-only"]).success();
    std::fs::write(dir.join("backup_2025-12-01_10-00-00.sql"), "-- old\n").expect("w");
    let own = backups_of(&dir, &app);

    let text = run(&project, "backup", &app, &["--list"]).success();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("Backups of `{}` on ", app.name)),
        "{}",
        text.stdout
    );
    assert_eq!(lines.len(), 4, "{}", text.stdout);
    assert!(
        lines[1].contains(".sql") && lines[1].contains("SQL, schema only"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(".dump") && lines[2].contains("custom archive, schema and data"),
        "{}",
        lines[2]
    );
    assert!(
        lines[1].contains("just now") || lines[1].contains(" s ago"),
        "{}",
        lines[1]
    );
    assert!(
        !text.stdout.contains(&format!("backup_{}_", shop.name)),
        "{}",
        text.stdout
    );
    assert!(
        lines[3].contains("1 backup of other databases or servers")
            && lines[3].contains("1 entry dbkit cannot attribute")
            && lines[3].contains("backup_2025-12-01_10-00-00.sql"),
        "{}",
        lines[3]
    );

    let json = run(&project, "backup", &app, &["--list", "--format", "json"]).success();
    let list = json.json();
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 2);
    let files: Vec<&str> = list
        .iter()
        .map(|b| b["file"].as_str().expect("file"))
        .collect();
    assert!(
        files.iter().all(|f| own.contains(&f.to_string())),
        "{files:?}"
    );
    assert_eq!(list[0]["content"], "schema_only");
    assert_eq!(list[1]["format"], "custom");
    for key in [
        "path",
        "file",
        "database",
        "server",
        "content",
        "tables",
        "format",
        "compress",
        "created",
        "bytes",
        "age_seconds",
        "dbkit_version",
    ] {
        assert!(list[0].get(key).is_some(), "key {key}: {}", list[0]);
    }
    assert!(
        json.stderr.contains("1 entry dbkit cannot attribute"),
        "{}",
        json.stderr
    );
}

/// Runs `git` in `dir`.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(!util::required(), "`{program}` is required under CI");
        eprintln!("skipping: `{program}` not found");
    }
    found
}

#[test]
fn data_backups_are_private_and_kept_out_of_git() {
    let server = require_pg!();
    if !have("git") {
        return;
    }
    let project = Project::example();
    let db = applied(server, &project, "backup_git");
    let root = project.dir.path();
    git(root, &["init", "-q"]);

    // The default folder, made by dbkit: owner-only, with a .gitignore of `*`.
    let made = run(&project, "backup", &db, &[]).success();
    assert!(!made.stderr.contains("warning"), "{}", made.stderr);
    assert!(made.stdout.contains("created `backups`"), "{}", made.stdout);
    let dir = root.join("backups");
    let modes = state(&dir);
    assert_eq!(
        modes[".gitignore"].0,
        dbkit::ops::backup::GITIGNORE.len() as u64
    );
    assert_eq!(
        std::fs::metadata(&dir).expect("meta").permissions().mode() & 0o777,
        0o700
    );
    for (name, (_, mode)) in modes.iter().filter(|(n, _)| n.starts_with("backup_")) {
        assert_eq!(*mode, 0o600, "{name}");
    }
    let status = git(root, &["status", "--porcelain", "--untracked-files=all"]);
    assert!(!status.contains("backups"), "git sees backups: {status}");

    // A folder the user made inside the repository, not ignored: a clear warning.
    std::fs::create_dir(root.join("dumps")).expect("mkdir");
    let exposed = run(&project, "backup", &db, &["--out-dir", "dumps"]).success();
    assert!(
        exposed
            .stderr
            .contains("warning: the backups folder `dumps` is inside the git repository")
            && exposed.stderr.contains("could be committed")
            && exposed.stderr.contains("add the line `/dumps/`"),
        "{}",
        exposed.stderr
    );
    let json = run(
        &project,
        "backup",
        &db,
        &["--out-dir", "dumps", "--format", "json"],
    )
    .success()
    .json();
    assert_eq!(json["warnings"].as_array().map(Vec::len), Some(1), "{json}");
    // A schema-only backup holds no data: nothing to warn about.
    let schema = run(
        &project,
        "backup",
        &db,
        &["--out-dir", "dumps", "--schema-only"],
    )
    .success();
    assert!(!schema.stderr.contains("warning"), "{}", schema.stderr);
    // Once ignored, no warning.
    std::fs::write(root.join(".gitignore"), "/dumps/\n").expect("writes");
    let ignored = run(&project, "backup", &db, &["--out-dir", "dumps"]).success();
    assert!(!ignored.stderr.contains("warning"), "{}", ignored.stderr);

    // Outside any repository: nothing to check.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let out = elsewhere.path().join("b");
    std::fs::create_dir(&out).expect("mkdir");
    let plain = run(
        &project,
        "backup",
        &db,
        &["--out-dir", &out.display().to_string()],
    )
    .success();
    assert!(!plain.stderr.contains("warning"), "{}", plain.stderr);
}

#[test]
fn format_is_the_output_format_and_dump_format_the_backups() {
    let server = require_pg!();
    let project = Project::example();
    let db = applied(server, &project, "backup_flags");
    let json = run(&project, "backup", &db, &["--format", "json"])
        .success()
        .json();
    assert_eq!(json["format"], "plain");
    let alias = run(
        &project,
        "backup",
        &db,
        &["--json", "--dump-format", "custom"],
    )
    .success()
    .json();
    assert_eq!(alias["format"], "custom");
    assert!(alias["path"].as_str().is_some_and(|p| p.ends_with(".dump")));
    let short = run(
        &project,
        "backup",
        &db,
        &["-F", "directory", "--format", "json"],
    )
    .success()
    .json();
    assert_eq!(short["format"], "directory");
    let old = run(&project, "backup", &db, &["--format", "custom"]).expect_code(2);
    assert!(
        old.stderr.contains("tip: `--format` is the output (text or json); the backup's format is `--dump-format custom` (or `-F custom`)"),
        "{}",
        old.stderr
    );
}

/// A folder with a `pg_dump` that dumps with the real one and then runs `then`.
fn slow_pg_dump(then: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let real = Finder::new(std::env::var_os("PATH"))
        .find("pg_dump")
        .expect("pg_dump");
    let text = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then exec '{0}' --version; fi\n'{0}' \"$@\" || exit $?\n{then}\n",
        real.display()
    );
    let path = dir.path().join("pg_dump");
    std::fs::write(&path, text).expect("writes");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

#[test]
fn progress_shows_on_a_terminal_and_nothing_in_a_pipe() {
    let server = require_pg!();
    if !have("script") {
        return;
    }
    let project = Project::example();
    let db = applied(server, &project, "backup_progress");
    let tools = slow_pg_dump("sleep 1");

    let mut piped = project.command("backup");
    piped
        .env("DBKIT_PG_BINDIR", tools.path())
        .args(["-D", &db.url]);
    let piped = Run::of(piped).success();
    assert_eq!(piped.stderr, "", "nothing extra in a pipe");
    assert!(!piped.stdout.contains("backing up"), "{}", piped.stdout);

    // On a terminal (script gives the program one): bytes written and a rate.
    let mut terminal = Command::new("script");
    terminal.env_clear();
    for keep in ["PATH", "HOME", "LANG"] {
        if let Some(value) = std::env::var_os(keep) {
            terminal.env(keep, value);
        }
    }
    let backup = util::bin("backup");
    terminal
        .current_dir(project.dir.path())
        .env("DBKIT_PG_BINDIR", tools.path())
        .env("DATABASE_URL", &db.url)
        .env("TERM", "xterm")
        .args(["-qec", &format!("'{}'", backup.display()), "/dev/null"])
        .stdin(std::process::Stdio::null());
    let shown = Run::of(terminal).success();
    assert!(
        shown.stdout.contains(&format!("backing up `{}`", db.name)),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("/s"), "a rate: {}", shown.stdout);
    assert!(
        !shown.stdout.contains("0/0"),
        "no empty bar first: {}",
        shown.stdout
    );
    assert!(shown.stdout.contains(" backup of "), "{}", shown.stdout);
}

#[test]
fn backup_first_backs_up_only_when_something_is_pending() {
    let server = require_pg!();
    let project = Project::example();
    let db = TestDb::new(server, "backup_first");
    let dir = project.dir.path().join("backups");

    // Something pending (a fresh database): a backup of the database as it was, then
    // the schema.
    let first = project
        .apply(&db, &["--backup-first", "--no-validate"])
        .success();
    let path = regex::Regex::new(r"backed up first → (\S+) \(")
        .expect("valid")
        .captures(&first.stdout)
        .unwrap_or_else(|| panic!("a path in: {}", first.stdout))[1]
        .to_string();
    let text = std::fs::read_to_string(project.dir.path().join(&path)).expect("reads");
    assert!(text.contains("-- PostgreSQL database dump complete"));
    assert!(!text.contains("CREATE TABLE"), "taken before applying");
    assert_eq!(
        sidecar(&project.dir.path().join(&path))["database"],
        db.name.as_str()
    );
    assert_eq!(db.history().len(), 12);
    assert_eq!(backups_of(&dir, &db).len(), 1);

    // Nothing pending: no backup, and it says so.
    let noop = project.apply(&db, &["--backup-first"]).success();
    assert!(
        noop.stdout.contains("no backup first: nothing is pending"),
        "{}",
        noop.stdout
    );
    assert_eq!(backups_of(&dir, &db).len(), 1);

    // Pending, in a dry run: no backup.
    project.write(
        "migrations/013_add_notes.sql",
        "CREATE TABLE notes (id int);\n",
    );
    let dry = project
        .apply(&db, &["--backup-first", "--dry-run"])
        .success();
    assert!(dry.stdout.contains("would back up first"), "{}", dry.stdout);
    assert_eq!(backups_of(&dir, &db).len(), 1);

    // A failed backup stops the run before anything is applied.
    let broken = slow_pg_dump("exit 1");
    let mut command = project.command("apply-schema");
    command.env("DBKIT_PG_BINDIR", broken.path()).args([
        "-D",
        &db.url,
        "--backup-first",
        "--format",
        "json",
    ]);
    let failed = Run::of(command).expect_code(1);
    assert!(
        failed
            .stderr
            .contains("taken first failed, so nothing was changed"),
        "{}",
        failed.stderr
    );
    assert!(failed.json()["error"].is_string());
    assert_eq!(db.history().len(), 12, "nothing applied");
    assert!(db.tables("public").iter().all(|t| t != "notes"));
    assert_eq!(backups_of(&dir, &db).len(), 1, "no partial backup left");
    assert!(
        state(&dir)
            .keys()
            .all(|n| n == ".gitignore" || n.starts_with("backup_")),
        "{:?}",
        state(&dir)
    );

    // And with a working pg_dump: the backup, then the migration.
    let json = project
        .apply(
            &db,
            &["--backup-first", "--no-validate", "--format", "json"],
        )
        .success()
        .json();
    assert_eq!(json["backup"]["outcome"], "taken", "{json}");
    let taken = project
        .dir
        .path()
        .join(json["backup"]["path"].as_str().expect("path"));
    let text = std::fs::read_to_string(taken).expect("reads");
    assert!(
        text.contains("CREATE TABLE public.contract"),
        "the schema before"
    );
    assert!(!text.contains("public.notes"), "taken before 013 ran");
    assert_eq!(db.history().len(), 13);
    assert_eq!(backups_of(&dir, &db).len(), 2);
}
