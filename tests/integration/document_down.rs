//! document-migration on downs: a `.down.sql` file beside its migration and dbmate's
//! `-- migrate:down` section are documented as rollbacks, read against the schema after
//! the migration; data loss and drops of what existed before are called out; --deny
//! applies to them; a dbmate file's up summary holds only its up section. No database.

use crate::util;

use util::{Project, Run};

fn project() -> Project {
    let project = Project::empty();
    project
        .write(
            "migrations/001_users.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n",
        )
        .write(
            "migrations/002_prefs.sql",
            "ALTER TABLE users ADD COLUMN locale text;\n\
             CREATE TABLE prefs (user_id bigint REFERENCES users (id), theme text);\n",
        )
        .write(
            "migrations/002_prefs.down.sql",
            "DROP TABLE prefs;\n\
             ALTER TABLE users DROP COLUMN locale;\n\
             ALTER TABLE users DROP COLUMN email;\n",
        )
        .write(
            "migrations/003_locale_index.sql",
            "-- migrate:up\n\
             CREATE TABLE audit (id bigint);\n\
             \n\
             -- migrate:down\n\
             DROP TABLE audit;\n",
        )
        .write(
            "migrations/004_no_down.sql",
            "ALTER TABLE users ADD COLUMN name text;\n",
        );
    project
}

fn document(project: &Project, args: &[&str]) -> Run {
    let mut command = project.command("document-migration");
    command.args(args);
    Run::of(command)
}

#[test]
fn a_migration_is_followed_by_its_rollback_read_against_the_schema_after_it() {
    let project = project();
    // The shell sorts the down file first; the rollback still follows its migration.
    let out = document(
        &project,
        &[
            "--format",
            "json",
            "database/migrations/002_prefs.down.sql",
            "database/migrations/002_prefs.sql",
        ],
    )
    .success()
    .json();
    let files = out["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{out:#}");
    let (up, down) = (&files[0], &files[1]);
    assert_eq!(up["file"], "database/migrations/002_prefs.sql");
    assert_eq!(up["direction"], "up");
    assert_eq!(up["down"]["file"], "database/migrations/002_prefs.down.sql");
    assert_eq!(down["direction"], "down");
    assert_eq!(down["reverses"], "database/migrations/002_prefs.sql");
    // Read against the schema after 002: `prefs` is a table that exists, dropped.
    assert_eq!(down["dropped_tables"][0]["object"], "prefs", "{down:#}");
    assert!(down["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .all(|w| !w["message"].as_str().unwrap_or("").contains("`prefs`")));
    // email existed before 002: rolling back destroys what the migration did not make.
    let warnings = down["warnings"].to_string();
    assert!(
        warnings.contains("drops column `users.email`, which existed before"),
        "{warnings}"
    );
    assert!(!warnings.contains("users.locale"), "{warnings}");
    let losses: Vec<&str> = down["risks"]
        .as_array()
        .expect("risks")
        .iter()
        .filter(|r| r["risk"] == "data-loss")
        .map(|r| r["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(losses.len(), 3, "{losses:?}");
    assert!(losses
        .iter()
        .all(|r| r.starts_with("rolling back loses data")));
}

#[test]
fn a_down_file_alone_is_read_against_the_schema_after_its_up() {
    let project = project();
    let run = document(&project, &["database/migrations/002_prefs.down.sql"]).success();
    assert!(
        run.stdout
            .starts_with("⏪ Rollback Summary: database/migrations/002_prefs.down.sql"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "Reverses database/migrations/002_prefs.sql, read against the schema after it."
        ),
        "{}",
        run.stdout
    );
    // prefs is known (002's up was read first), so its drop is no "unknown table" warning.
    assert!(run.stdout.contains("- prefs  line 1"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("💡"),
        "a rollback asks for no diagram update"
    );
}

#[test]
fn a_dbmate_file_documents_its_up_section_then_its_down_section() {
    let project = project();
    let out = document(
        &project,
        &[
            "--format",
            "json",
            "database/migrations/003_locale_index.sql",
        ],
    )
    .success()
    .json();
    let files = out["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{out:#}");
    assert_eq!(files[0]["direction"], "up");
    assert_eq!(
        files[0]["statements"], 1,
        "the down section is not part of the up"
    );
    assert_eq!(files[0]["new_tables"][0]["table"], "audit");
    assert_eq!(files[0]["dropped_tables"], serde_json::json!([]));
    assert_eq!(files[0]["down"]["line"], 4);
    assert_eq!(files[1]["direction"], "down");
    assert_eq!(files[1]["dropped_tables"][0]["object"], "audit");
    assert_eq!(files[1]["dropped_tables"][0]["at"]["line"], 5);
}

#[test]
fn a_migration_without_a_down_says_so_where_the_folder_uses_downs() {
    let project = project();
    let run = document(&project, &["database/migrations/004_no_down.sql"]).success();
    assert!(
        run.stdout
            .contains("↩️  Down: none (rollback cannot reverse this migration)"),
        "{}",
        run.stdout
    );
    let json = document(
        &project,
        &["--format", "json", "database/migrations/004_no_down.sql"],
    )
    .success()
    .json();
    assert!(json["files"][0]["down"].is_null());
    assert!(json["files"][0]
        .as_object()
        .expect("file")
        .contains_key("down"));
}

#[test]
fn a_folder_without_downs_keeps_its_output() {
    let project = Project::empty();
    project.write(
        "migrations/001_users.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY);\n",
    );
    let json = document(
        &project,
        &["--format", "json", "database/migrations/001_users.sql"],
    )
    .success()
    .json();
    let file = json["files"][0].as_object().expect("file");
    assert!(!file.contains_key("down") && !file.contains_key("reverses"));
    let text = document(&project, &["database/migrations/001_users.sql"]).success();
    assert!(!text.stdout.contains("Down:"), "{}", text.stdout);
}

#[test]
fn deny_data_loss_stops_on_a_down_until_it_is_allowed() {
    let project = project();
    let denied = document(
        &project,
        &[
            "--deny",
            "data-loss",
            "database/migrations/003_locale_index.sql",
        ],
    )
    .expect_code(6);
    assert!(denied.stderr.contains("data-loss"), "{}", denied.stderr);
    project.write(
        "migrations/003_locale_index.sql",
        "-- migrate:up\n\
         CREATE TABLE audit (id bigint);\n\
         \n\
         -- migrate:down\n\
         -- dbkit:allow data-loss\n\
         DROP TABLE audit;\n",
    );
    document(
        &project,
        &[
            "--deny",
            "data-loss",
            "database/migrations/003_locale_index.sql",
        ],
    )
    .success();
}

#[test]
fn markdown_titles_a_rollback_and_names_the_down() {
    let project = project();
    let run = document(
        &project,
        &["--format", "markdown", "database/migrations/002_prefs.sql"],
    )
    .success();
    assert!(
        run.stdout
            .contains("Down: `database/migrations/002_prefs.down.sql`."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("### Rollback: `database/migrations/002_prefs.down.sql`"),
        "{}",
        run.stdout
    );
}
