//! What a database holds, read from its catalogs: whether a database without dbkit
//! history already has objects of its own, and what (schemas, tables, an estimate of
//! their rows) for a refusal that says what would be lost. It reads and never writes;
//! dbkit's own records are `history`'s.

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

/// What a database holds outside system schemas, dbkit's own and hosted platforms'
/// schemas (unless named in `also`), extension members left out: for a refusal that
/// says what would be lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Holdings {
    /// The schemas that hold something, by name.
    pub schemas: Vec<String>,
    /// Tables (partitioned and foreign ones too).
    pub tables: i64,
    /// Views, sequences, functions and types.
    pub others: i64,
    /// The server's estimate of the tables' rows (`pg_class.reltuples`, or the live rows
    /// counted by the statistics when more).
    pub rows: i64,
}

impl std::fmt::Display for Holdings {
    /// `2 tables (about 1,200 rows) and 3 other objects in schemas `public`, `billing``.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: i64, one: &str, many: &str| {
            format!("{} {}", thousands(n), if n == 1 { one } else { many })
        };
        let rows = if self.rows == 0 {
            "no rows by the server's estimate".to_string()
        } else {
            format!("about {}", plural(self.rows, "row", "rows"))
        };
        let tables = (self.tables > 0)
            .then(|| format!("{} ({rows})", plural(self.tables, "table", "tables")));
        let others = (self.others > 0).then(|| {
            let what = plural(self.others, "other object", "other objects");
            if self.tables > 0 {
                what
            } else {
                format!("{what} (views, sequences, functions or types)")
            }
        });
        let what: Vec<String> = tables.into_iter().chain(others).collect();
        let schemas: Vec<String> = self.schemas.iter().map(|s| format!("`{s}`")).collect();
        write!(
            f,
            "{} in {} {}",
            what.join(" and "),
            if schemas.len() == 1 {
                "schema"
            } else {
                "schemas"
            },
            schemas.join(", ")
        )
    }
}

/// What the database holds (see [`Holdings`]), or `None` when it holds nothing. Hosted
/// platforms' schemas count when `also` names them.
pub fn holdings(client: &mut Client, database: &str, also: &[String]) -> Result<Option<Holdings>> {
    let skipped: Vec<&str> = PLATFORM_SCHEMAS
        .iter()
        .copied()
        .filter(|s| !also.iter().any(|a| a == s))
        .collect();
    let rows = client
        .query(
            "WITH objects AS (
               SELECT c.relnamespace AS ns, 'pg_class'::regclass AS catalog, c.oid,
                      c.relkind IN ('r', 'p', 'f') AS is_table,
                      CASE WHEN c.relkind IN ('r', 'm')
                           THEN greatest(c.reltuples::bigint, coalesce(s.n_live_tup, 0), 0) ELSE 0 END AS rows
                 FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
                WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
               UNION ALL
               SELECT p.pronamespace, 'pg_proc'::regclass, p.oid, false, 0 FROM pg_proc p
               UNION ALL
               SELECT t.typnamespace, 'pg_type'::regclass, t.oid, false, 0 FROM pg_type t
                WHERE t.typtype IN ('e', 'd', 'r')
                   OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
             )
             SELECT n.nspname::text, count(*) FILTER (WHERE o.is_table),
                    count(*) FILTER (WHERE NOT o.is_table), coalesce(sum(o.rows), 0)::bigint
               FROM objects o JOIN pg_namespace n ON n.oid = o.ns
              WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'dbkit')
                AND n.nspname !~ '^pg_(toast|temp)'
                AND n.nspname <> ALL ($1)
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.catalog AND d.objid = o.oid AND d.deptype = 'e')
              GROUP BY 1 ORDER BY 1",
            &[&skipped],
        )
        .map_err(query_error("looking at what the database holds", database))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut holdings = Holdings::default();
    for row in &rows {
        holdings.schemas.push(row.get(0));
        holdings.tables += row.get::<_, i64>(1);
        holdings.others += row.get::<_, i64>(2);
        holdings.rows += row.get::<_, i64>(3);
    }
    Ok(Some(holdings))
}

/// A count as people read it: `5,021`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_a_database_holds() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(5021), "5,021");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
        let one = Holdings {
            schemas: vec!["public".into()],
            tables: 1,
            others: 0,
            rows: 1000,
        };
        assert_eq!(
            one.to_string(),
            "1 table (about 1,000 rows) in schema `public`"
        );
        let more = Holdings {
            schemas: vec!["billing".into(), "public".into()],
            tables: 2,
            others: 3,
            rows: 0,
        };
        assert_eq!(
            more.to_string(),
            "2 tables (no rows by the server's estimate) and 3 other objects in schemas `billing`, `public`"
        );
        let functions = Holdings {
            schemas: vec!["public".into()],
            tables: 0,
            others: 1,
            rows: 0,
        };
        assert_eq!(
            functions.to_string(),
            "1 other object (views, sequences, functions or types) in schema `public`"
        );
    }
}
