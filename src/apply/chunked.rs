//! Loading a snapshot into an empty database in transactions the server's lock table can
//! hold. A transaction keeps a lock on every relation it creates until it commits, and
//! all sessions share `max_locks_per_transaction × max_connections` slots (about 6,400 on
//! a default server): a snapshot with a few thousand partitions cannot load in one
//! transaction ("out of shared memory"). So a large snapshot goes in consecutive
//! transactions, each of whole statements whose estimated locks fit a third of that
//! table, on one session (the dump's session settings carry over); the history record
//! commits with the last. A failure part-way leaves the earlier transactions committed,
//! so the database is emptied again (`empty`, unless the caller drops it anyway): a
//! failed load leaves nothing, as a single transaction would. A small snapshot, or one
//! that cannot run in a transaction, runs as `script` runs any file.

use std::time::Instant;

use postgres::Client;

use crate::apply::script::{self, Prepared, Ran, Script};
use crate::error::Result;
use crate::meter::{Meter, Shown};
use crate::pg::connect::query_error;
use crate::project::migrations::RunMode;

/// Locks one statement of a dump is assumed to take: a new table, its TOAST table and
/// index, its schema, and the parent and index a partition is attached to.
const LOCKS_PER_STATEMENT: u64 = 6;

/// What to do when a load in several transactions fails after some committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// Empty the database again (see [`empty`]).
    Empty,
    /// Nothing: the database is dropped anyway (a throwaway).
    Nothing,
}

/// Runs a snapshot `script` into an empty database, in as many transactions as the
/// server's lock settings need; `record` is as for [`script::run`].
pub fn load(
    client: &mut Client,
    script: &Script<'_>,
    record: &dyn Fn(&str) -> String,
    meter: &dyn Meter,
    undo: Undo,
) -> Result<Ran> {
    let prepared = script::prepare(script.path, script.text)?;
    let budget = crate::ops::reset::lock_budget(client, script.database)?;
    let per_transaction = usize::try_from(budget / LOCKS_PER_STATEMENT)
        .unwrap_or(usize::MAX)
        .max(1);
    if prepared.mode != RunMode::Transaction || prepared.statements.len() <= per_transaction {
        return script::run_metered(client, script, record, None, meter);
    }
    let started = Instant::now();
    let chunks: Vec<&[(usize, usize)]> = prepared.statements.chunks(per_transaction).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let (start, end) = (chunk[0].0, chunk[chunk.len() - 1].1);
        let shown = format!(
            "{} (transaction {} of {}): {}",
            script.name(),
            i + 1,
            chunks.len(),
            script::first_line(&prepared.sendable[start..end])
        );
        let _shown = Shown::start(meter, &shown, None);
        let prefix = if i == 0 {
            script::prefix(script)
        } else {
            // No `RESET ALL`: the dump's own settings (an empty search_path, no function
            // body checks) made in the first transaction stay.
            "BEGIN; SET LOCAL synchronous_commit TO off;\n".to_string()
        };
        let tail = if i + 1 == chunks.len() {
            record(crate::apply::history::BATCH_ELAPSED_MS)
        } else {
            String::new()
        };
        let batch = format!(
            "{prefix}{}\n;\n{tail}COMMIT;",
            &prepared.sendable[start..end]
        );
        crate::pg::interrupt::check(|| format!("stopped while loading `{}`", script.name()))?;
        if let Err(error) = client.batch_execute(&batch) {
            let _ = client.batch_execute("ROLLBACK");
            let error = located(client, script, &prepared, chunk, &prefix, error);
            if i == 0 || undo == Undo::Nothing {
                return Err(error);
            }
            return Err(match empty(client, script.database) {
                Ok(()) => error,
                Err(undo) => crate::Error::Refused(format!(
                    "{error:#}; emptying the database again failed too ({undo:#}): run reset on it before applying again"
                )),
            });
        }
    }
    Ok(Ran {
        no_transaction: None,
        duration: started.elapsed(),
    })
}

/// The failing statement of a chunk, by the server's position, else by running the
/// chunk's statements one at a time in a transaction that is rolled back.
fn located(
    client: &mut Client,
    script: &Script<'_>,
    prepared: &Prepared,
    chunk: &[(usize, usize)],
    prefix: &str,
    error: postgres::Error,
) -> crate::Error {
    let start = chunk[0].0;
    let positioned = error.as_db_error().is_some_and(|db| {
        matches!(
            db.position(),
            Some(postgres::error::ErrorPosition::Original(_))
        )
    });
    if positioned || crate::pg::interrupt::requested() {
        return script::statement_error(script, error, start, prefix.chars().count(), None);
    }
    let found = client.batch_execute("BEGIN").ok().and_then(|()| {
        chunk.iter().find_map(|&(s, e)| {
            client
                .batch_execute(&prepared.sendable[s..e])
                .err()
                .map(|error| script::statement_error(script, error, s, 0, None))
        })
    });
    let _ = client.batch_execute("ROLLBACK");
    found.unwrap_or_else(|| script::statement_error(script, error, start, usize::MAX, None))
}

/// Empties a database a snapshot was being loaded into: every schema but the system's is
/// dropped (in transactions that fit the lock table) and `public` is made again, as
/// `reset` does. The caller holds the migration lock.
pub fn empty(client: &mut Client, database: &str) -> Result<()> {
    let schemas: Vec<String> = client
        .query(
            "SELECT nspname::text FROM pg_namespace
              WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_'
              ORDER BY 1",
            &[],
        )
        .map_err(query_error("listing the schemas to empty", database))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let plan = crate::ops::reset::plan(client, database, &schemas)?;
    crate::ops::reset::reset(client, database, &plan, std::time::Duration::ZERO)?;
    Ok(())
}
