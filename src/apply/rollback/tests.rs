use std::path::PathBuf;

use super::*;
use crate::apply::plan::tests::{catalog, history};

fn with_downs(mut catalog: Catalog, versions: &[u64]) -> Catalog {
    catalog.downs = versions
        .iter()
        .map(|&version| Down {
            version,
            file: format!("{version:03}_m{version}.down.sql"),
            path: PathBuf::from(format!(
                "database/migrations/{version:03}_m{version}.down.sql"
            )),
            text: "SELECT 1;".into(),
            checksum: String::new(),
            line: 1,
        })
        .collect();
    catalog
}

fn applied(versions: &[u64]) -> History {
    let rows: Vec<(u64, &str, RunState)> = versions
        .iter()
        .map(|&v| (v, "SELECT 1;", RunState::Applied))
        .collect();
    history(&rows)
}

fn versions(planned: &[Planned]) -> Vec<u64> {
    planned.iter().map(|p| p.version).collect()
}

fn files() -> Catalog {
    let texts = [(1, "SELECT 1;"), (2, "SELECT 1;"), (3, "SELECT 1;")];
    with_downs(catalog(&texts, None), &[1, 2, 3])
}

#[test]
fn chooses_the_newest_by_default_then_steps_or_everything_above_to() {
    let (catalog, history) = (files(), applied(&[1, 2, 3]));
    let chosen = |steps, to| {
        versions(&plan(&catalog, Some(&history), "db", Selection { steps, to }).expect("plans"))
    };
    assert_eq!(chosen(None, None), [3]);
    assert_eq!(chosen(Some(2), None), [3, 2]);
    assert_eq!(chosen(None, Some(1)), [3, 2]);
    assert_eq!(chosen(None, Some(3)), Vec::<u64>::new());
    assert_eq!(chosen(None, Some(0)), [3, 2, 1]);
    let too_many = plan(
        &catalog,
        Some(&history),
        "db",
        Selection {
            steps: Some(4),
            to: None,
        },
    );
    assert!(too_many
        .expect_err("refused")
        .to_string()
        .contains("more migrations than the 3 recorded"));
    let both = plan(
        &catalog,
        Some(&history),
        "db",
        Selection {
            steps: Some(1),
            to: Some(1),
        },
    );
    assert!(matches!(both, Err(Error::Usage(_))));
}

#[test]
fn names_every_migration_without_a_down_at_once() {
    let texts = [(1, "SELECT 1;"), (2, "SELECT 1;"), (3, "SELECT 1;")];
    let catalog = with_downs(catalog(&texts, None), &[1]);
    let error = plan(
        &catalog,
        Some(&applied(&[1, 2, 3])),
        "db",
        Selection {
            steps: Some(3),
            to: None,
        },
    )
    .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "cannot roll back db: 2 migrations have no down: `003_m3.sql`, `002_m2.sql`"
    );
    assert!(
        error.hint().expect("hint").contains("`003_m3.down.sql`"),
        "{:?}",
        error.hint()
    );
}

#[test]
fn refuses_what_a_snapshot_holds_an_edited_file_and_a_failed_run() {
    let catalog = files();
    let mut history = applied(&[1, 2, 3]);
    let row = history.migrations.get_mut(&1).expect("row");
    row.source = Source::Snapshot;
    row.snapshot = Some("v1.0_base.sql".into());
    let error = plan(
        &catalog,
        Some(&history),
        "db",
        Selection {
            steps: None,
            to: Some(0),
        },
    )
    .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("`001_m1.sql` came with snapshot `v1.0_base.sql`"),
        "{error}"
    );
    assert!(error
        .hint()
        .expect("hint")
        .contains("reset --yes --reapply"));

    let mut history = applied(&[1, 2, 3]);
    history.migrations.get_mut(&3).expect("row").checksum = "0123456789abcdef".into();
    let error = plan(&catalog, Some(&history), "db", Selection::default()).expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("`003_m3.sql` was edited after it was applied"),
        "{error}"
    );

    let history = history_with(&[(1, RunState::Applied), (2, RunState::Failed)]);
    let error = plan(&catalog, Some(&history), "db", Selection::default()).expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("`002_m2.sql` did not finish (recorded `failed`)"),
        "{error}"
    );
}

#[test]
fn refuses_a_database_without_history_and_a_missing_file() {
    let error = plan(&files(), None, "db", Selection::default()).expect_err("refused");
    assert!(
        error.to_string().contains("no migrations recorded"),
        "{error}"
    );
    let error = plan(
        &files(),
        Some(&applied(&[1, 2, 3, 4])),
        "db",
        Selection::default(),
    )
    .expect_err("refused");
    assert!(error.to_string().contains("its file is gone"), "{error}");
}

fn history_with(rows: &[(u64, RunState)]) -> History {
    let rows: Vec<(u64, &str, RunState)> = rows.iter().map(|&(v, s)| (v, "SELECT 1;", s)).collect();
    history(&rows)
}
