//! How the programs find and reach a database: TLS, `.env` files, SUPABASE_DB_URL, the
//! local cluster when nothing is configured, and passwords that never show.

mod util;

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
