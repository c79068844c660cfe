//! apply-schema on real migration folders nobody here wrote (`../shared/corpora/`):
//! supabase-storage (dash separators, `00010` is 10, nine files that cannot run in a
//! transaction, unqualified names that need `search_path=storage,public`) and authelia
//! (`V0001.Name.up.sql`/`.down.sql` pairs, empty files).

use crate::util;

use util::{copy_tree, corpus, Project, TestDb};

#[test]
fn supabase_storage_applies_in_integer_order() {
    let server = require_pg!();
    let Some(source) = corpus("supabase-storage") else {
        return;
    };
    let db = TestDb::new(server, "supabase_storage");
    let project = Project::empty();
    copy_tree(&source, &project.database().join("migrations"));
    let url = format!("{} options='-c search_path=storage,public'", db.url);
    let mut c = project.command("apply-schema");
    c.args(["-D", &url]);
    let run = util::Run::of(c).success();
    assert!(
        run.stdout.contains("Done: applied 63 migrations"),
        "{}",
        run.stdout
    );
    let no_transaction = run
        .stdout
        .lines()
        .filter(|l| l.contains("(no transaction:"))
        .count();
    assert_eq!(no_transaction, 9, "{}", run.stdout);
    assert!(
        run.stdout.lines().any(|l| l.contains("0029-")
            && l.contains("(no transaction: marked `-- postgres-migrations disable-transaction`")),
        "{}",
        run.stdout
    );
    let history = db.history();
    assert_eq!(history.len(), 63);
    assert!(history.iter().all(|h| h.ends_with(":migration:applied")));
    assert_eq!(
        db.value("SELECT file FROM dbkit.schema_history WHERE version = 10"),
        "00010-search-files-search-function.sql"
    );
    for table in ["buckets", "objects", "migrations", "s3_multipart_uploads"] {
        assert!(
            db.tables("storage").contains(&table.to_string()),
            "storage.{table} missing"
        );
    }
    assert_eq!(
        db.value("SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
        "0",
        "no invalid concurrent index left"
    );
    let again = project.apply(&db, &["--status"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[test]
fn authelia_applies_up_files_only() {
    let server = require_pg!();
    let Some(source) = corpus("authelia") else {
        return;
    };
    let db = TestDb::new(server, "authelia");
    let project = Project::empty();
    copy_tree(&source, &project.database().join("migrations"));
    let run = project.apply(&db, &[]).success();
    assert!(
        run.stdout.contains("Done: applied 26 migrations"),
        "{}",
        run.stdout
    );
    assert_eq!(db.history().len(), 26);
    assert_eq!(
        db.value("SELECT file FROM dbkit.schema_history WHERE version = 21"),
        "V0021.MySQLCachedValueType.up.sql"
    );
    // The corpus creates 35 tables and 78 foreign keys over its history; renames and
    // drops leave 25 and 15, exactly what psql builds from the same files.
    let by_psql = TestDb::new(server, "authelia_psql");
    let psql = dbkit::pg::tools::Finder::new(std::env::var_os("PATH"))
        .find("psql")
        .expect("psql");
    let mut ups: Vec<_> = std::fs::read_dir(&source)
        .expect("reads")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".up.sql"))
        .collect();
    ups.sort();
    for file in ups {
        let status = std::process::Command::new(&psql)
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-d",
                &by_psql.url,
                "-f",
            ])
            .arg(&file)
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("psql runs");
        assert!(status.success(), "psql failed on {}", file.display());
    }
    assert_eq!(db.tables("public").len(), 25);
    assert_eq!(db.value("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"), "15");
    let without_history = |fp: String| {
        fp.lines()
            .filter(|l| !l.starts_with("row:") && !l.starts_with("dbkit."))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        without_history(db.fingerprint()),
        without_history(by_psql.fingerprint())
    );
}
