//! Dropping a reset's objects in transactions small enough for the server's lock table.
//!
//! PostgreSQL holds a lock on every object a transaction drops until it commits, and all
//! sessions share one table of `max_locks_per_transaction × max_connections` (about
//! 6,400 on a default server) slots. One `DROP SCHEMA ... CASCADE` of a schema with a
//! few thousand relations (a partitioned table with its partitions, say) runs out of
//! them: "out of shared memory". So a large reset drops the schemas' contents first, in
//! batches whose estimated lock count fits a share of that table: views, then tables
//! from the deepest partition or child up to its parent (so dropping a parent never
//! cascades to thousands of partitions), then free-standing sequences, then functions
//! and procedures, then each extension on its own; what is left (types, the schemas,
//! dbkit's history) goes in the last transaction. A batch that still runs out is split
//! in two and tried again. Dropping `CASCADE` and `IF EXISTS`, a batch takes along what
//! depends on it, and skips what an earlier batch already took.
//!
//! Extension members are never dropped one by one (PostgreSQL refuses); their extension
//! takes them. This module lists and drops; the plan and the final transaction are
//! `reset`'s.

use postgres::error::SqlState;
use postgres::Client;

use crate::error::Result;
use crate::pg::connect::query_error;
use crate::sql::quote_ident as quote;

/// The most objects one `DROP` statement names, to keep statements readable in the
/// server's log.
const MAX_ITEMS: usize = 500;

/// The fewest locks a batch may plan for, whatever the server's settings.
const MIN_BUDGET: u64 = 64;

/// What kind of `DROP` an object needs, in the order they are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    View,
    MaterializedView,
    Table,
    ForeignTable,
    Sequence,
    Routine,
    Extension,
}

impl Kind {
    fn keyword(self) -> &'static str {
        match self {
            Kind::View => "VIEW",
            Kind::MaterializedView => "MATERIALIZED VIEW",
            Kind::Table => "TABLE",
            Kind::ForeignTable => "FOREIGN TABLE",
            Kind::Sequence => "SEQUENCE",
            Kind::Routine => "ROUTINE",
            Kind::Extension => "EXTENSION",
        }
    }

    fn is_relation(self) -> bool {
        !matches!(self, Kind::Routine | Kind::Extension)
    }
}

/// One object to drop: its kind, its name as SQL, and about how many locks dropping it
/// takes (the object, what depends on it, their types and TOAST tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Item {
    pub kind: Kind,
    pub name: String,
    pub locks: u64,
}

/// The objects of `schemas` to drop before the schemas themselves, in dropping order.
pub(super) fn list(client: &mut Client, database: &str, schemas: &[String]) -> Result<Vec<Item>> {
    let err = || query_error("listing the objects to reset", database);
    let mut items = Vec::new();
    let relations = client
        .query(
            "WITH RECURSIVE up(relid, parent, depth) AS (
                 SELECT inhrelid, inhparent, 1 FROM pg_inherits
                 UNION ALL
                 SELECT up.relid, i.inhparent, up.depth + 1 FROM up JOIN pg_inherits i ON i.inhrelid = up.parent
             ), depth AS (SELECT relid, max(depth) AS depth FROM up GROUP BY relid)
             SELECT c.relkind::text, n.nspname::text, c.relname::text, coalesce(d.depth, 0),
                    -- children are dropped before their parent, so they do not count
                    (SELECT count(*) FROM pg_depend x WHERE x.refclassid = 'pg_class'::regclass AND x.refobjid = c.oid
                        AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE x.classid = 'pg_class'::regclass AND i.inhrelid = x.objid AND i.inhparent = c.oid)),
                    c.reltoastrelid <> 0
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN depth d ON d.relid = c.oid
              WHERE n.nspname = ANY ($1)
                AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
                -- a column's sequence (serial, identity) goes with its table
                AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend o WHERE o.classid = 'pg_class'::regclass AND o.objid = c.oid AND o.refclassid = 'pg_class'::regclass AND o.deptype IN ('a', 'i')))
              ORDER BY 4 DESC, 2, 3",
            &[&schemas],
        )
        .map_err(err())?;
    for row in &relations {
        let kind = match row.get::<_, String>(0).as_str() {
            "v" => Kind::View,
            "m" => Kind::MaterializedView,
            "S" => Kind::Sequence,
            "f" => Kind::ForeignTable,
            _ => Kind::Table,
        };
        let (schema, name): (String, String) = (row.get(1), row.get(2));
        let dependents = u64::try_from(row.get::<_, i64>(4)).unwrap_or(0);
        let toast = if row.get::<_, bool>(5) { 2 } else { 0 };
        items.push(Item {
            kind,
            name: format!("{}.{}", quote(&schema), quote(&name)),
            locks: 2 + 2 * dependents + toast,
        });
    }
    let routines = client
        .query(
            "SELECT n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid)
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = ANY ($1) AND p.prokind IN ('f', 'p')
                AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')
              ORDER BY 1, 2, 3",
            &[&schemas],
        )
        .map_err(err())?;
    for row in &routines {
        let (schema, name, args): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        items.push(Item {
            kind: Kind::Routine,
            name: format!("{}.{}({args})", quote(&schema), quote(&name)),
            locks: 4,
        });
    }
    let extensions = client
        .query(
            "SELECT x.extname::text,
                    (SELECT count(*) FROM pg_depend e WHERE e.refclassid = 'pg_extension'::regclass AND e.refobjid = x.oid AND e.deptype = 'e')
               FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
              WHERE n.nspname = ANY ($1)
              ORDER BY 1",
            &[&schemas],
        )
        .map_err(err())?;
    for row in &extensions {
        let members = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
        items.push(Item {
            kind: Kind::Extension,
            name: quote(&row.get::<_, String>(0)),
            locks: 2 + 3 * members,
        });
    }
    // Stable: relations keep their deepest-first order within a kind.
    items.sort_by_key(|item| item.kind);
    Ok(items)
}

/// How many locks one batch may plan for: a third of the server's lock table, so other
/// sessions keep room.
pub(super) fn budget(client: &mut Client, database: &str) -> Result<u64> {
    let row = client
        .query_one(
            "SELECT current_setting('max_locks_per_transaction')::bigint,
                    current_setting('max_connections')::bigint
                      + current_setting('max_prepared_transactions')::bigint",
            &[],
        )
        .map_err(query_error("reading the server's lock settings", database))?;
    let (per_transaction, slots): (i64, i64) = (row.get(0), row.get(1));
    let table = u64::try_from(per_transaction.saturating_mul(slots)).unwrap_or(0);
    Ok((table / 3).max(MIN_BUDGET))
}

/// The estimated locks of all `items`.
pub(super) fn locks(items: &[Item]) -> u64 {
    items.iter().map(|item| item.locks).sum()
}

/// Splits `items` (in order) into batches of at most `budget` locks and [`MAX_ITEMS`]
/// objects; an object over the budget gets a batch of its own.
pub(super) fn batches(items: &[Item], budget: u64) -> Vec<Vec<Item>> {
    let mut batches: Vec<Vec<Item>> = Vec::new();
    let mut current: Vec<Item> = Vec::new();
    let mut used = 0;
    for item in items {
        let full = current.len() >= MAX_ITEMS || used + item.locks > budget;
        if full && !current.is_empty() {
            batches.push(std::mem::take(&mut current));
            used = 0;
        }
        used += item.locks;
        current.push(item.clone());
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// `DROP VIEW IF EXISTS a, b CASCADE; DROP TABLE IF EXISTS c CASCADE;` (one statement
/// per kind, in the batch's order).
pub(super) fn drop_sql(batch: &[Item]) -> String {
    let mut sql = String::new();
    let mut rest = batch;
    while let Some(first) = rest.first() {
        let same = rest.iter().take_while(|i| i.kind == first.kind).count();
        let names: Vec<&str> = rest[..same].iter().map(|i| i.name.as_str()).collect();
        sql += &format!(
            "DROP {} IF EXISTS {} CASCADE;\n",
            first.kind.keyword(),
            names.join(", ")
        );
        rest = &rest[same..];
    }
    sql
}

/// What dropping batches has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Progress {
    /// Transactions committed.
    pub transactions: usize,
    /// Relations named in committed batches (more may have gone with them).
    pub relations: usize,
}

/// Drops `batches` in order, one transaction each, checking for an interrupt before
/// each; a batch that runs out of lock space is split in two and tried again.
/// `stopped` turns an interrupt (or an error it caused) into the error to return.
pub(super) fn run(
    client: &mut Client,
    database: &str,
    batches: Vec<Vec<Item>>,
    progress: &mut Progress,
    stopped: &mut dyn FnMut(&mut Client, Progress, Option<crate::Error>) -> crate::Error,
) -> Result<()> {
    let mut queue: std::collections::VecDeque<Vec<Item>> = batches.into();
    while let Some(batch) = queue.pop_front() {
        if crate::pg::interrupt::requested() {
            return Err(stopped(client, *progress, None));
        }
        match execute(client, &drop_sql(&batch)) {
            Ok(()) => {
                progress.transactions += 1;
                progress.relations += batch.iter().filter(|i| i.kind.is_relation()).count();
            }
            Err(source) if out_of_locks(&source) && batch.len() > 1 => {
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                queue.push_front(second);
                queue.push_front(first);
            }
            Err(source) => {
                // What the earlier batches dropped stays dropped: say so.
                let what = match progress.transactions {
                    0 => "dropping the schemas' objects".to_string(),
                    n => format!(
                        "dropping the schemas' objects (after {} relations were dropped for good in {n} earlier transactions)",
                        crate::pg::inspect::thousands(progress.relations as i64)
                    ),
                };
                let error = query_error(&what, database)(source);
                return Err(if crate::pg::interrupt::requested() {
                    stopped(client, *progress, Some(error))
                } else {
                    error
                });
            }
        }
    }
    Ok(())
}

/// Runs `sql` in a transaction of its own (rolled back when it fails).
pub(super) fn execute(client: &mut Client, sql: &str) -> std::result::Result<(), postgres::Error> {
    let mut transaction = client.transaction()?;
    transaction.batch_execute(sql)?;
    transaction.commit()
}

/// "out of shared memory": the lock table is full.
fn out_of_locks(error: &postgres::Error) -> bool {
    error.code() == Some(&SqlState::OUT_OF_MEMORY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: Kind, name: &str, locks: u64) -> Item {
        Item {
            kind,
            name: name.into(),
            locks,
        }
    }

    #[test]
    fn batches_fit_the_budget_and_keep_the_order() {
        let items: Vec<Item> = (0..10)
            .map(|i| item(Kind::Table, &format!("p{i}"), 4))
            .chain([item(Kind::Extension, "big", 100)])
            .collect();
        let split = batches(&items, 12);
        let names: Vec<Vec<&str>> = split
            .iter()
            .map(|b| b.iter().map(|i| i.name.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            [
                vec!["p0", "p1", "p2"],
                vec!["p3", "p4", "p5"],
                vec!["p6", "p7", "p8"],
                vec!["p9"],
                vec!["big"],
            ]
        );
        assert_eq!(locks(&items), 140);
        let many: Vec<Item> = (0..1200)
            .map(|i| item(Kind::Table, &i.to_string(), 1))
            .collect();
        assert_eq!(
            batches(&many, 10_000)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [500, 500, 200]
        );
    }

    #[test]
    fn one_statement_per_kind() {
        let batch = [
            item(Kind::View, "\"s\".\"v\"", 2),
            item(Kind::Table, "\"s\".\"a\"", 2),
            item(Kind::Table, "\"s\".\"b\"", 2),
            item(Kind::Routine, "\"s\".\"f\"(integer)", 2),
        ];
        assert_eq!(
            drop_sql(&batch),
            "DROP VIEW IF EXISTS \"s\".\"v\" CASCADE;\nDROP TABLE IF EXISTS \"s\".\"a\", \"s\".\"b\" CASCADE;\nDROP ROUTINE IF EXISTS \"s\".\"f\"(integer) CASCADE;\n"
        );
    }
}
