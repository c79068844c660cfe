//! Resetting a development database: dropping its application schemas and dbkit's
//! history schema, and giving back an empty `public` schema with PostgreSQL's default
//! grants, so the database is as new for `apply-schema`. Extensions and roles outside
//! those schemas stay. Whether a database may be reset is `guard`'s decision; asking the
//! user is the binary's.

use std::time::Duration;

use postgres::Client;

use crate::error::Result;
use crate::pg::connect::query_error;

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
            .map(|s| format!("`{}` ({} relations)", s.name, s.relations))
            .collect();
        if present.is_empty() {
            "nothing (the schemas do not exist)".to_string()
        } else {
            present.join(", ")
        }
    }
}

/// The schemas a reset of `schemas` (plus dbkit's) would drop, and what they hold.
pub fn plan(client: &mut Client, database: &str, schemas: &[String]) -> Result<ResetPlan> {
    let mut all: Vec<String> = schemas.to_vec();
    if !all.iter().any(|s| s == crate::apply::history::SCHEMA) {
        all.push(crate::apply::history::SCHEMA.to_string());
    }
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

/// Drops the plan's schemas (with everything in them) and recreates `public` the way
/// `initdb` makes it, in one transaction, holding dbkit's migration lock so a reset
/// never runs under an apply-schema (waiting up to `lock_timeout` for it).
pub fn reset(
    client: &mut Client,
    database: &str,
    plan: &ResetPlan,
    lock_timeout: Duration,
) -> Result<()> {
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
            client
                .batch_execute(&reset_sql(plan, server))
                .map_err(query_error("resetting the schemas", database))
        },
    )
}

fn reset_sql(plan: &ResetPlan, server_version_num: i32) -> String {
    let quote = crate::sql::quote_ident;
    let mut sql = String::from("BEGIN;\n");
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
    sql + "COMMIT;"
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
