//! Resetting a development database: dropping its application schemas and dbkit's
//! history schema, and giving back an empty `public` schema with PostgreSQL's default
//! grants, so the database is as new for `apply-schema`. Extensions and roles outside
//! those schemas stay. A small database is reset in one transaction; one whose schemas
//! hold more than the server's lock table takes at once is emptied in batches first
//! (`batch`). Whether a database may be reset is `guard`'s decision; asking the user is
//! the binary's.

use std::time::Duration;

use postgres::Client;

use crate::error::Result;
use crate::pg::connect::query_error;
use crate::pg::inspect::thousands;

mod batch;

/// One schema a reset drops.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaState {
    pub name: String,
    pub exists: bool,
    /// Tables, views and sequences in it.
    pub relations: i64,
}

/// What a reset drops: for the confirmation question, and for its report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResetPlan {
    pub schemas: Vec<SchemaState>,
}

impl ResetPlan {
    /// `public (14 relations), dbkit (3 relations)`.
    pub fn describe(&self) -> String {
        let present: Vec<String> = self
            .schemas
            .iter()
            .filter(|s| s.exists)
            .map(|s| format!("`{}` ({} relations)", s.name, thousands(s.relations)))
            .collect();
        if present.is_empty() {
            "nothing (the schemas do not exist)".to_string()
        } else {
            present.join(", ")
        }
    }
}

/// How many locks one transaction that creates or drops many objects may plan for: a
/// third of the server's lock table, so other sessions keep room.
pub fn lock_budget(client: &mut Client, database: &str) -> Result<u64> {
    batch::budget(client, database)
}

/// The schemas a reset of `schemas` (plus dbkit's) would drop, and what they hold.
pub fn plan(client: &mut Client, database: &str, schemas: &[String]) -> Result<ResetPlan> {
    let mut all: Vec<String> = schemas.to_vec();
    if !all.iter().any(|s| s == crate::apply::history::SCHEMA) {
        all.push(crate::apply::history::SCHEMA.to_string());
    }
    plan_of(client, database, all)
}

fn plan_of(client: &mut Client, database: &str, all: Vec<String>) -> Result<ResetPlan> {
    let rows = client
        .query(
            "SELECT s.name, n.oid IS NOT NULL,
                    (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f'))
               FROM unnest($1::text[]) WITH ORDINALITY AS s(name, i)
               LEFT JOIN pg_namespace n ON n.nspname = s.name
              ORDER BY s.i",
            &[&all],
        )
        .map_err(query_error("looking at the schemas to reset", database))?;
    Ok(ResetPlan {
        schemas: rows
            .iter()
            .map(|row| SchemaState {
                name: row.get(0),
                exists: row.get(1),
                relations: row.get(2),
            })
            .collect(),
    })
}

/// What a reset did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResetDone {
    /// Relations in the dropped schemas (with those that went along with them).
    pub relations: i64,
    /// Transactions it took: one for a small database, more when the schemas hold more
    /// than the server's lock table takes at once (see `batch`).
    pub transactions: usize,
}

/// Drops the plan's schemas (with everything in them) and recreates `public` the way
/// `initdb` makes it, holding dbkit's migration lock (waiting up to `lock_timeout` for
/// it) so a reset never runs under an apply-schema. When the schemas hold more than fits
/// one transaction's locks, their contents are dropped in batches first; dbkit's history
/// goes in the last transaction, so a reset stopped half-way leaves a database dbkit
/// still knows, and running it again finishes it.
pub fn reset(
    client: &mut Client,
    database: &str,
    plan: &ResetPlan,
    lock_timeout: Duration,
) -> Result<ResetDone> {
    crate::pg::lock::held(
        client,
        database,
        lock_timeout,
        &crate::pg::interrupt::notice,
        |client| {
            let server: i32 = client
                .query_one("SELECT current_setting('server_version_num')::int", &[])
                .map_err(query_error("reading the server version", database))?
                .get(0);
            let contents: Vec<String> = plan
                .schemas
                .iter()
                .filter(|s| s.exists && s.name != crate::apply::history::SCHEMA)
                .map(|s| s.name.clone())
                .collect();
            let items = batch::list(client, database, &contents)?;
            let budget = batch::budget(client, database)?;
            let mut progress = batch::Progress::default();
            if batch::locks(&items) > budget {
                let batches = batch::batches(&items, budget);
                let mut stopped = |client: &mut Client, progress, error| {
                    stopped(client, database, plan, progress, error)
                };
                batch::run(client, database, batches, &mut progress, &mut stopped)?;
            }
            crate::pg::interrupt::check(|| left(client, database, plan, progress))?;
            batch::execute(client, &reset_sql(plan, server)).map_err(|source| {
                let error = query_error("resetting the schemas", database)(source);
                crate::pg::interrupt::explain(error, || left(client, database, plan, progress))
            })?;
            Ok(ResetDone {
                relations: plan.schemas.iter().map(|s| s.relations).sum(),
                transactions: progress.transactions + 1,
            })
        },
    )
}

/// The error for a reset stopped by an interrupt, saying what is left.
fn stopped(
    client: &mut Client,
    database: &str,
    plan: &ResetPlan,
    progress: batch::Progress,
    error: Option<crate::Error>,
) -> crate::Error {
    let what = left(client, database, plan, progress);
    match error {
        Some(error) => crate::pg::interrupt::explain(error, || what),
        None => crate::Error::Interrupted {
            what,
            failed_version: None,
            source: None,
        },
    }
}

/// What a stopped reset leaves: `reset stopped before it finished: 1,200 relations were
/// dropped in 6 transactions; left: `public` (3,801 relations), ...; run reset again to
/// finish`.
fn left(
    client: &mut Client,
    database: &str,
    plan: &ResetPlan,
    progress: batch::Progress,
) -> String {
    let done = if progress.transactions == 0 {
        "nothing was dropped".to_string()
    } else {
        format!(
            "{} relations were dropped in {} transaction{}",
            thousands(progress.relations as i64),
            progress.transactions,
            if progress.transactions == 1 { "" } else { "s" }
        )
    };
    let names: Vec<String> = plan.schemas.iter().map(|s| s.name.clone()).collect();
    let rest = match plan_of(client, database, names) {
        Ok(now) => now.describe(),
        Err(_) => "the rest".to_string(),
    };
    format!("reset stopped before it finished: {done}; left: {rest}; run reset again to finish")
}
/// The last transaction: drop the schemas, recreate `public`.
fn reset_sql(plan: &ResetPlan, server_version_num: i32) -> String {
    let quote = crate::sql::quote_ident;
    let mut sql = String::new();
    for schema in &plan.schemas {
        sql += &format!("DROP SCHEMA IF EXISTS {} CASCADE;\n", quote(&schema.name));
    }
    if plan.schemas.iter().any(|s| s.name == "public") {
        sql += "CREATE SCHEMA public;\n";
        // PostgreSQL 15 made `public` owned by the database owner and took CREATE away
        // from PUBLIC; earlier versions grant everything to PUBLIC.
        if server_version_num >= 150_000 {
            sql += "ALTER SCHEMA public OWNER TO pg_database_owner;\nGRANT USAGE ON SCHEMA public TO PUBLIC;\n";
        } else {
            sql += "GRANT ALL ON SCHEMA public TO PUBLIC;\n";
        }
        sql += "COMMENT ON SCHEMA public IS 'standard public schema';\n";
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recreates_public_with_the_servers_default_grants() {
        let plan = ResetPlan {
            schemas: vec![
                SchemaState {
                    name: "public".into(),
                    exists: true,
                    relations: 3,
                },
                SchemaState {
                    name: "dbkit".into(),
                    exists: false,
                    relations: 0,
                },
            ],
        };
        let sql = reset_sql(&plan, 150_018);
        assert!(sql.contains("DROP SCHEMA IF EXISTS \"public\" CASCADE;\nDROP SCHEMA IF EXISTS \"dbkit\" CASCADE;\nCREATE SCHEMA public;\nALTER SCHEMA public OWNER TO pg_database_owner;"), "{sql}");
        assert!(reset_sql(&plan, 140_010).contains("GRANT ALL ON SCHEMA public TO PUBLIC"));
        assert_eq!(plan.describe(), "`public` (3 relations)");
    }
}
