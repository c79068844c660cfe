//! `--repair`: the SQL that takes the database back to what it is compared with, and
//! running it. The script is `script`'s, from the database to the other side; drops
//! of what the other side does not have and column type changes are left out unless
//! destructive steps are allowed. Running it takes the migration lock, runs every
//! statement in one transaction, reads the catalog again inside it, and commits only
//! when what still differs is what was left out (or goes with it, like a table's own
//! sequence); anything else rolls it back. The guard, the question and the backup
//! before it are the program's.

use std::collections::BTreeSet;
use std::time::Duration;

use postgres::Client;

use crate::drift::{facts::Facts, phrase, recheck, Change, Compared, Finding, Repair};
use crate::error::{Error, Result};
use crate::pg::compare::Scope;
use crate::pg::connect::query_error;

/// The repair of `database` (shown in the header), written from both sides' facts.
pub fn plan(
    compared: &Compared,
    live: &Facts,
    expected: &Facts,
    allow_destructive: bool,
    database: &str,
) -> Repair {
    let mut script = crate::drift::script(compared, live, expected, false);
    let left_out = match allow_destructive {
        true => Vec::new(),
        false => script.without_destructive(),
    };
    let header = vec![
        format!("Repair of {database}: brings it back to what it is compared with."),
        format!(
            "Written by check-drift on {}.",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
        ),
    ];
    let mut sql = script.text(&header, true);
    for step in &left_out {
        sql.push_str(&format!(
            "-- left out (destructive; --allow-destructive): {}\n",
            step.sql.replace('\n', " ")
        ));
    }
    Repair {
        steps: script.steps,
        left_out,
        unwritten: script.unwritten,
        sql,
        applied: false,
        backup: None,
        remaining: Vec::new(),
    }
}

/// The other side, to check the repaired database against.
pub struct Expected<'a> {
    pub client: &'a mut Client,
    pub shown: &'a str,
    /// A throwaway database (reprint probes may build indexes in it).
    pub throwaway: bool,
}

/// Runs `repair` in the database `client` is connected to (`database` for messages):
/// under the migration lock (waiting up to `lock_timeout`, `notice` hearing who holds
/// it), in one transaction, checked against `expected` before it commits. Returns what
/// still differs.
pub fn run(
    client: &mut Client,
    database: &str,
    (lock_timeout, notice): (Duration, &dyn Fn(&str)),
    repair: &Repair,
    compared: &Compared,
    scope: &Scope,
    expected: Expected<'_>,
) -> Result<Vec<Finding>> {
    let key = |kind: &str, name: &str| (kind.to_string(), name.to_string());
    let allowed: BTreeSet<(String, String)> = repair
        .left_out
        .iter()
        .map(|s| key(&s.kind, &s.name))
        .chain(repair.unwritten.iter().map(|u| key(&u.kind, &u.name)))
        .collect();
    // What the repair claims to close, and what was there before it.
    let claimed: BTreeSet<(String, String)> =
        repair.steps.iter().map(|s| key(&s.kind, &s.name)).collect();
    let before: BTreeSet<(String, String, Change)> = compared
        .findings
        .iter()
        .map(|f| (f.kind.clone(), f.name.clone(), f.change))
        .collect();
    crate::pg::lock::held(client, database, lock_timeout, notice, |client| {
        let mut tx = client
            .transaction()
            .map_err(query_error("starting the repair", database))?;
        if repair
            .steps
            .iter()
            .any(|s| s.kind == "function" || s.kind == "procedure")
        {
            tx.batch_execute("SET LOCAL check_function_bodies = off")
                .map_err(query_error("starting the repair", database))?;
        }
        for step in &repair.steps {
            crate::pg::interrupt::check(|| {
                "stopped during the repair; it was rolled back, nothing was changed".to_string()
            })?;
            tx.batch_execute(&step.sql).map_err(query_error(
                &format!(
                    "the repair statement `{}` (rolled back: nothing was changed)",
                    first_line(&step.sql)
                ),
                database,
            ))?;
        }
        let left = recheck(
            &mut tx,
            scope,
            database,
            compared,
            expected.client,
            expected.shown,
            expected.throwaway,
        )?;
        // A difference the repair made, or one it claims to close and did not, undoes
        // it; one it left alone (left out, not written, or going with something left
        // out, like a table's own sequence) stays and is reported.
        let unexpected: Vec<String> = left
            .iter()
            .filter(|f| {
                let k = key(&f.kind, &f.name);
                !before.contains(&(f.kind.clone(), f.name.clone(), f.change))
                    || (claimed.contains(&k) && !allowed.contains(&k))
            })
            .map(|f| phrase(f, "the files"))
            .collect();
        if !unexpected.is_empty() {
            tx.rollback()
                .map_err(query_error("rolling back the repair", database))?;
            return Err(Error::DriftUnclosed {
                what: "the repair".into(),
                differences: unexpected,
                rolled_back: true,
            });
        }
        tx.commit()
            .map_err(query_error("committing the repair", database))?;
        Ok(left)
    })
}

/// A statement's first line, cut to a length a message shows.
fn first_line(sql: &str) -> String {
    let line = sql.lines().next().unwrap_or_default();
    match line.char_indices().nth(100) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

/// The destructive steps of a repair that will run, counted (for the backup rule).
pub fn destructive(repair: &Repair) -> usize {
    repair.steps.iter().filter(|s| s.destructive).count()
}
