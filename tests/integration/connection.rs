//! How the programs find and reach a database: TLS, `.env` files, SUPABASE_DB_URL, the
//! local cluster when nothing is configured, passwords that never show, and creating a
//! database that does not exist yet.

use crate::util;

use util::{Project, Run, TestDb};

fn tls_url(server: &util::Server, db: &TestDb, query: &str) -> Option<String> {
    let port = server.tls_port?;
    Some(format!(
        "postgres://postgres:hunter2secret@127.0.0.1:{port}/{}?{query}",
        db.name
    ))
}

#[test]
fn sslmode_require_connects_over_tls_and_plain_tcp_is_refused() {
    let server = require_pg!();
    let db = TestDb::new(server, "tls");
    let Some(url) = tls_url(server, &db, "sslmode=require") else {
        assert!(!util::required(), "CI needs openssl to test TLS");
        eprintln!("skipping: openssl could not make a certificate");
        return;
    };
    let project = Project::example();
    let mut c = project.command("apply-schema");
    c.args(["-D", &url]);
    let run = Run::of(c).success();
    assert!(
        run.stdout.contains(&format!(
            "→ postgres://postgres:****@127.0.0.1:{}/{}?sslmode=require",
            server.tls_port.unwrap_or(0),
            db.name
        )),
        "{}",
        run.stdout
    );
    assert_eq!(db.history().len(), 12);
    // The server rejects unencrypted TCP, so the run above was encrypted.
    let mut c = project.command("apply-schema");
    c.args([
        "-D",
        &url.replace("sslmode=require", "sslmode=disable"),
        "--status",
    ]);
    let run = Run::of(c).expect_code(1);
    assert!(
        run.stderr.contains("no encryption") || run.stderr.contains("pg_hba.conf"),
        "{}",
        run.stderr
    );
    // verify-full checks the certificate: a self-signed one without its root fails.
    let mut c = project.command("apply-schema");
    c.args([
        "-D",
        &url.replace("sslmode=require", "sslmode=verify-full"),
        "--status",
    ]);
    let run = Run::of(c).expect_code(1);
    assert!(
        run.stderr.to_lowercase().contains("certificate"),
        "{}",
        run.stderr
    );
    // ... and passes with the root given (verify-ca: the name is not checked).
    let root = server
        .cluster
        .dir
        .parent()
        .expect("root")
        .join("server.crt");
    let mut c = project.command("apply-schema");
    c.args([
        "-D",
        &url.replace(
            "sslmode=require",
            &format!("sslmode=verify-ca&sslrootcert={}", root.display()),
        ),
        "--status",
    ]);
    Run::of(c).success();
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains("hunter2secret"));
    }
}

#[test]
fn passwords_never_appear_in_output() {
    let server = require_pg!();
    let db = TestDb::new(server, "masking");
    let project = Project::example();
    let mut c = project.command("apply-schema");
    c.args([
        "-D",
        "postgres://app:hunter2secret@127.0.0.1:1/app",
        "--connect-timeout",
        "2",
    ]);
    let run = Run::of(c).expect_code(1);
    assert!(
        run.stderr
            .contains("cannot connect to postgres://app:****@127.0.0.1:1/app"),
        "{}",
        run.stderr
    );
    let conninfo = format!("{} password='hunter2secret'", db.url);
    for args in [
        vec!["-D", conninfo.as_str()],
        vec!["-D", conninfo.as_str(), "--status", "--format", "json"],
        vec!["-D", "postgres://u:hunter2secret@h:notaport/db"],
    ] {
        let mut c = project.command("apply-schema");
        c.args(&args);
        let run = Run::of(c);
        assert!(
            !run.stdout.contains("hunter2secret") && !run.stderr.contains("hunter2secret"),
            "{args:?}\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    let mut c = project.command("apply-schema");
    c.arg("--help");
    c.env("DATABASE_URL", "postgres://u:hunter2secret@h/db");
    let run = Run::of(c).success();
    assert!(
        !run.stdout.contains("hunter2secret"),
        "--help must not show the URL's value"
    );
}

#[test]
fn dotenv_and_supabase_db_url_are_read() {
    let server = require_pg!();
    let project = Project::example();
    let from_env_file = TestDb::new(server, "dotenv");
    std::fs::write(
        project.dir.path().join(".env"),
        format!("# team settings\nDATABASE_URL=\"{}\"\n", from_env_file.url),
    )
    .expect("writes .env");
    Run::of(project.command("apply-schema")).success();
    assert_eq!(from_env_file.history().len(), 12);
    // .env.local wins over .env, and the real environment wins over both.
    let from_local = TestDb::new(server, "dotenv_local");
    std::fs::write(
        project.dir.path().join(".env.local"),
        format!("DATABASE_URL=\"{}\"\n", from_local.url),
    )
    .expect("writes .env.local");
    Run::of(project.command("apply-schema")).success();
    assert_eq!(from_local.history().len(), 12);
    let from_supabase = TestDb::new(server, "supabase");
    std::fs::remove_file(project.dir.path().join(".env")).expect("removes");
    std::fs::remove_file(project.dir.path().join(".env.local")).expect("removes");
    let mut c = project.command("apply-schema");
    c.env("SUPABASE_DB_URL", &from_supabase.url);
    Run::of(c).success();
    assert_eq!(from_supabase.history().len(), 12);
}

#[test]
fn with_nothing_configured_a_local_cluster_is_made_and_used() {
    let _server = require_pg!();
    let project = Project::example();
    let run = Run::of(project.command("apply-schema")).success();
    assert!(run.stderr.contains("No DATABASE_URL set: using the local PostgreSQL in `.dbkit` (created and started), database `dbkit`"), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("Done: loaded snapshot v1.0 and applied 12 migrations"),
        "{}",
        run.stdout
    );
    let url = Run::of({
        let mut c = project.command("local-db");
        c.arg("url");
        c
    })
    .success()
    .stdout;
    let mut client = util::connect_conninfo(url.trim());
    let applied: i64 = client
        .query_one("SELECT count(*) FROM dbkit.schema_history", &[])
        .expect("query")
        .get(0);
    assert_eq!(applied, 12);
    drop(client);
    let again = Run::of(project.command("apply-schema")).success();
    assert!(again.stderr.contains("(running)"), "{}", again.stderr);
    let mut stop = project.command("local-db");
    stop.arg("stop");
    assert!(Run::of(stop).success().stdout.contains("stopped"));
    let mut status = project.command("local-db");
    status.args(["status", "--format", "json"]);
    assert_eq!(Run::of(status).expect_code(3).json()["state"], "stopped");
}

/// Asserts that no fragment of `password` (any five characters in a row) shows in a
/// run's output.
fn assert_hidden(run: &Run, password: &str) {
    let chars: Vec<char> = password.chars().collect();
    for window in chars.windows(5) {
        let fragment: String = window.iter().collect();
        for output in [&run.stdout, &run.stderr] {
            assert!(
                !output.contains(&fragment),
                "`{fragment}` shows:\n--- stdout\n{}\n--- stderr\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
}

/// Stops the local cluster of a project and removes its folder, however the test ends.
struct LocalCluster {
    project: std::path::PathBuf,
}

impl LocalCluster {
    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(util::bin("local-db"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(&self.project)
            .args(args);
        c
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let status = Run::of(self.command(&["status", "--format", "json"]));
        let _ = Run::of(self.command(&["stop"]));
        if let Some(dir) = serde_json::from_str::<serde_json::Value>(&status.stdout)
            .ok()
            .and_then(|v| v["dir"].as_str().map(std::path::PathBuf::from))
            .filter(|d| d.is_absolute() && d.starts_with("/var/tmp"))
        {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn an_env_line_that_cannot_be_parsed_is_an_error_that_hides_the_line() {
    let _server = require_pg!();
    let project = Project::example();
    // Stops the local cluster should a broken .env fall back to it after all.
    let _cluster = LocalCluster {
        project: project.dir.path().to_path_buf(),
    };
    let env = project.dir.path().join(".env");
    std::fs::write(
        &env,
        "# team settings\nDATABASE_URL=postgres://app:hunter2 secret@db.example.com/app\n",
    )
    .expect("writes .env");
    let run = Run::of(project.command("apply-schema")).expect_code(1);
    assert!(
        run.stderr
            .contains("error: .env:2: cannot parse this line setting `DATABASE_URL`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
    assert_hidden(&run, "hunter2secret");
    assert!(
        !project.dir.path().join(".dbkit").exists(),
        "a broken .env must not fall back to the local cluster"
    );
    // .env.local is read first, so its broken line (an unclosed quote) is the one named.
    std::fs::write(
        project.dir.path().join(".env.local"),
        "A=1\nexport DATABASE_URL=\"postgres://app:hunter2secret@db.example.com/app\n",
    )
    .expect("writes .env.local");
    let mut c = project.command("apply-schema");
    c.args(["--format", "json"]);
    let run = Run::of(c).expect_code(1);
    let error = run.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.starts_with(".env.local:2: cannot parse this line setting `DATABASE_URL`"),
        "{error}"
    );
    assert_hidden(&run, "hunter2secret");
    // A missing .env is silent.
    std::fs::remove_file(&env).expect("removes");
    std::fs::remove_file(project.dir.path().join(".env.local")).expect("removes");
    let mut c = project.command("apply-schema");
    c.arg("--help");
    assert!(Run::of(c).success().stderr.is_empty());
}

#[test]
fn only_the_projects_own_env_files_are_read() {
    let server = require_pg!();
    // A monorepo: its root has a .env.local for another app; ours is in `app/`.
    let monorepo = Project::empty();
    let project = monorepo.dir.path().join("app");
    util::copy_tree(&util::example_dir(), &project.join("database"));
    let elsewhere = TestDb::new(server, "monorepo_root");
    std::fs::write(
        monorepo.dir.path().join(".env.local"),
        format!("DATABASE_URL=\"{}\"\n", elsewhere.url),
    )
    .expect("writes the root's .env.local");
    let write_env = |db: &TestDb| {
        std::fs::write(
            project.join(".env"),
            format!("SUPABASE_DB_URL=\"{}\"\n", db.url),
        )
        .expect("writes .env")
    };
    // From the project root.
    let ours = TestDb::new(server, "own_env");
    write_env(&ours);
    let mut c = monorepo.command("apply-schema");
    c.current_dir(&project);
    Run::of(c).success();
    assert_eq!(ours.history().len(), 12);
    // From inside the database folder: the project is found above it.
    let from_inside = TestDb::new(server, "own_env_inside");
    write_env(&from_inside);
    let mut c = monorepo.command("apply-schema");
    c.current_dir(project.join("database").join("migrations"));
    Run::of(c).success();
    assert_eq!(from_inside.history().len(), 12);
    // From the monorepo root with --dir: the project is the folder holding that dir.
    let with_dir = TestDb::new(server, "own_env_dir");
    write_env(&with_dir);
    let mut c = monorepo.command("apply-schema");
    c.args(["--dir", "app/database"]);
    Run::of(c).success();
    assert_eq!(with_dir.history().len(), 12);
    assert!(
        elsewhere.history().is_empty(),
        "the root's .env.local was read"
    );
}

#[test]
fn a_project_the_server_user_cannot_enter_still_gets_a_local_cluster() {
    use std::os::unix::fs::PermissionsExt;
    let _server = require_pg!();
    // `mktemp -d` makes a folder only its owner may enter, like a clone under /root.
    let private = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod 0700");
    let project = private.path().join("app");
    util::copy_tree(&util::example_dir(), &project.join("database"));
    let cluster = LocalCluster {
        project: project.clone(),
    };
    let mut c = util::Project::empty().command("apply-schema");
    c.current_dir(&project);
    let run = Run::of(c).success();
    assert!(
        run.stdout
            .contains("Done: loaded snapshot v1.0 and applied 12 migrations"),
        "{}",
        run.stdout
    );
    if dbkit::pg::cluster::default_run_as().is_some() {
        assert!(
            run.stderr
                .contains("using the local PostgreSQL in `/var/tmp/dbkit-app-")
                && run
                    .stderr
                    .contains("(outside the project, because user `postgres`"),
            "{}",
            run.stderr
        );
    }
    let url = Run::of(cluster.command(&["url"])).success().stdout;
    let mut client = util::connect_conninfo(url.trim());
    let applied: i64 = client
        .query_one("SELECT count(*) FROM dbkit.schema_history", &[])
        .expect("query")
        .get(0);
    assert_eq!(applied, 12);
    drop(client);
    let status = Run::of(cluster.command(&["status", "--format", "json"])).success();
    assert_eq!(status.json()["state"], "running");
    assert!(Run::of(cluster.command(&["stop"]))
        .success()
        .stdout
        .contains("stopped"));
}

#[test]
fn connection_errors_say_what_to_do_without_showing_the_password() {
    let server = require_pg!();
    let project = Project::example();
    let apply = |target: &str| {
        let mut c = project.command("apply-schema");
        c.args(["-D", target, "--status", "--connect-timeout", "2"]);
        Run::of(c).expect_code(1)
    };
    let assert_hint = |run: &Run, words: &str| {
        let hint = run
            .stderr
            .lines()
            .find(|l| l.starts_with("hint: "))
            .unwrap_or_default();
        assert!(hint.contains(words), "{}", run.stderr);
        assert_hidden(run, "hunter2secret");
    };
    // Nothing listens there.
    let run = apply("postgres://app:hunter2secret@127.0.0.1:1/app");
    assert_hint(&run, "nothing accepts connections at that host and port");
    // The host name does not resolve.
    let run = apply("postgres://app:hunter2secret@no-such-host.invalid/app");
    assert_hint(&run, "the host name does not resolve");
    // An unencoded `@` (or `#`, `?`, `/`) in the password.
    let run = apply("postgres://app:hunter2@secret@127.0.0.1:1/app");
    assert!(
        run.stderr.contains(
            "cannot tell where the user name and password end in `postgres://****@127.0.0.1:1/app`"
        ),
        "{}",
        run.stderr
    );
    assert_hint(&run, "`@` is `%40`");
    assert_hidden(&run, "hunter2@secret");
    let run = apply("postgres://app:hunter2/secret@127.0.0.1:1/app");
    assert_hint(&run, "`/` is `%2F`");
    assert_hidden(&run, "hunter2/secret");
    // The database does not exist.
    let missing = server.cluster.conninfo("no_such_db");
    let run = apply(&missing);
    assert_hint(&run, "createdb -h");
    assert!(run.stderr.contains("no_such_db`"), "{}", run.stderr);
    // A wrong password: a role of its own that must give one over the socket.
    let mut admin = util::connect_conninfo(&server.cluster.conninfo("postgres"));
    admin
        .batch_execute(
            "DROP ROLE IF EXISTS dbkit_pw; CREATE ROLE dbkit_pw LOGIN PASSWORD 'right-one'",
        )
        .expect("creates the role");
    let hba = server.cluster.data_dir().join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("reads pg_hba.conf");
    std::fs::write(&hba, format!("local all dbkit_pw scram-sha-256\n{rules}"))
        .expect("writes pg_hba.conf");
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .expect("reloads");
    let as_role = server
        .cluster
        .conninfo("postgres")
        .replace("user=postgres", "user=dbkit_pw");
    let run = apply(&format!("{as_role} password=hunter2secret"));
    assert_hint(&run, "the server refused the password");
    let run = apply(&as_role);
    assert_hint(&run, "the server asks for a password");
    // TLS required by the server (its pg_hba rejects unencrypted TCP).
    if let Some(port) = server.tls_port {
        let run = apply(&format!(
            "postgres://postgres:hunter2secret@127.0.0.1:{port}/postgres?sslmode=disable"
        ));
        assert_hint(&run, "add `sslmode=require`");
    } else {
        assert!(!util::required(), "CI needs openssl to test TLS");
    }
}

#[test]
fn create_database_creates_a_missing_database_owned_by_the_urls_user() {
    let server = require_pg!();
    let project = Project::example();
    let create = |url: &str, args: &[&str]| {
        let mut c = project.command("create-database");
        c.args(["-D", url]).args(args);
        Run::of(c)
    };
    let admin = TestDb {
        name: "postgres".into(),
        url: server.cluster.conninfo("postgres"),
        server,
    };
    let url = server.cluster.conninfo("made_by_create_database");
    let made = create(&url, &[]).success();
    assert!(
        made.stdout.contains(
            "✓ created database `made_by_create_database` (owner `postgres`, encoding UTF8, from template0)"
        ),
        "{}",
        made.stdout
    );
    assert_eq!(
        admin.value("SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'made_by_create_database'"),
        "UTF8"
    );
    // A database that exists is left alone, and says so.
    let again = create(&url, &[]).success();
    assert!(
        again
            .stdout
            .contains("database `made_by_create_database` already exists"),
        "{}",
        again.stdout
    );
    let json = create(&url, &["--format", "json"]).success().json();
    assert_eq!(json["created"], false, "{json}");
    assert_eq!(json["owner"], "postgres", "{json}");

    // Owned by the URL's user; a user who may not create databases is told what to do.
    admin
        .client()
        .batch_execute(
            "CREATE ROLE dbkit_creator LOGIN CREATEDB; CREATE ROLE dbkit_no_create LOGIN;",
        )
        .expect("creates the roles");
    let as_creator = url
        .replace("user=postgres", "user=dbkit_creator")
        .replace("made_by_create_database", "owned_by_creator");
    create(&as_creator, &[]).success();
    assert_eq!(
        admin.value(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'owned_by_creator'"
        ),
        "dbkit_creator"
    );
    let refused = create(
        &url.replace("user=postgres", "user=dbkit_no_create")
            .replace("made_by_create_database", "never_made"),
        &[],
    )
    .expect_code(1);
    assert!(
        refused
            .stderr
            .contains("permission denied to create database")
            && refused
                .stderr
                .contains("hint: this user may not create databases"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        admin.value("SELECT count(*) FROM pg_database WHERE datname = 'never_made'"),
        "0"
    );
}

#[test]
fn apply_schema_create_builds_a_database_that_does_not_exist_yet() {
    let server = require_pg!();
    let project = Project::example();
    let db = TestDb {
        name: "made_by_apply_schema".into(),
        url: server.cluster.conninfo("made_by_apply_schema"),
        server,
    };
    // Without --create, the hint names both ways to create it.
    let missing = project.apply(&db, &[]).expect_code(1);
    assert!(
        missing.stderr.contains(
            "create it with `create-database` (same connection flags) or `apply-schema --create`"
        ),
        "{}",
        missing.stderr
    );
    let run = project.apply(&db, &["--create"]).success();
    assert!(
        run.stdout
            .contains("✓ created database `made_by_apply_schema` (owner `postgres`"),
        "{}",
        run.stdout
    );
    assert_eq!(db.history().len(), 12);
    // Once it exists, --create changes nothing and says nothing about it.
    let again = project.apply(&db, &["--create"]).success();
    assert!(
        !again.stdout.contains("created database"),
        "{}",
        again.stdout
    );
    assert_eq!(db.history().len(), 12);
}
