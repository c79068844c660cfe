//! What a database holds, read from its catalogs: for now, whether a database without
//! dbkit history already has objects of its own. It reads and never writes; dbkit's own
//! records are `history`'s.

use postgres::Client;

use crate::error::Result;
use crate::pg::connect::query_error;

/// Schemas created by hosted platforms (Supabase) before any user migration; objects
/// there do not make a database "not empty".
const PLATFORM_SCHEMAS: &[&str] = &[
    "auth",
    "extensions",
    "graphql",
    "graphql_public",
    "realtime",
    "_realtime",
    "storage",
    "vault",
    "pgsodium",
    "pgsodium_masks",
    "supabase_functions",
    "supabase_migrations",
    "net",
    "cron",
    "_analytics",
    "pgbouncer",
    "pgtle",
];

/// A short description of the user objects in a database, or `None` when it has none.
/// Extension members, a schema that holds an extension, system schemas, dbkit's own
/// schema and hosted platforms' schemas do not count.
pub fn existing_objects(client: &mut Client, database: &str) -> Result<Option<String>> {
    let rows = client
        .query(
            "WITH objects AS (
               SELECT c.relnamespace AS ns, 'pg_class'::regclass AS catalog, c.oid,
                      CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' WHEN 'S' THEN 'sequence' ELSE 'table' END AS kind
                 FROM pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
               UNION ALL
               SELECT p.pronamespace, 'pg_proc'::regclass, p.oid, 'function' FROM pg_proc p
               UNION ALL
               SELECT t.typnamespace, 'pg_type'::regclass, t.oid, 'type' FROM pg_type t
                WHERE t.typtype IN ('e', 'd', 'r', 'm')
                   OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
               UNION ALL
               SELECT n.oid, 'pg_namespace'::regclass, n.oid, 'schema' FROM pg_namespace n WHERE n.nspname <> 'public'
                  AND NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extnamespace = n.oid)
             )
             SELECT n.nspname::text, o.kind, count(*)
               FROM objects o JOIN pg_namespace n ON n.oid = o.ns
              WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'dbkit')
                AND n.nspname !~ '^pg_(toast|temp)'
                AND n.nspname <> ALL ($1)
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.catalog AND d.objid = o.oid AND d.deptype = 'e')
              GROUP BY 1, 2 ORDER BY 1, 2",
            &[&PLATFORM_SCHEMAS],
        )
        .map_err(query_error("checking whether the database is empty", database))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let parts: Vec<String> = rows
        .iter()
        .map(|row| {
            let (schema, kind, count): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
            if kind == "schema" {
                format!("schema `{schema}`")
            } else {
                format!(
                    "{count} {kind}{} in `{schema}`",
                    if count == 1 { "" } else { "s" }
                )
            }
        })
        .collect();
    Ok(Some(parts.join(", ")))
}
