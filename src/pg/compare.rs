//! A database's schema read from its catalogs as comparable items, and the differences
//! between two such descriptions: what `create-phase-snapshot` uses to prove that a new
//! snapshot rebuilds its source. Items are named by schema-qualified names, never OIDs,
//! and column positions count live columns only, so a database built by migrations that
//! dropped columns compares equal to one built from its snapshot. Owners and privileges
//! are left out (snapshots leave them out by default). It reads and never writes.

use std::collections::BTreeMap;

use postgres::GenericClient;

use crate::error::Result;
use crate::pg::connect::query_error;

/// One object's definition, by `(kind, qualified name)`.
pub type Description = BTreeMap<(String, String), String>;

/// Which schemas to describe: the same choice the dump made.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only these; empty for every schema but the system's and dbkit's.
    pub schemas: Vec<String>,
    pub exclude_schemas: Vec<String>,
    /// Owners and privileges too (`check-drift --privileges`).
    pub privileges: bool,
}

/// The schemas described (`ns`: `$1` the chosen ones, `$2` the ones left out) and the
/// objects that belong to an extension (`member`), which both queries start from.
macro_rules! scope_cte {
    () => {
        "
WITH ns AS (
  SELECT oid, nspname FROM pg_namespace
   WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'dbkit')
     AND nspname !~ '^pg_(toast|temp_|toast_temp_)'
     AND (cardinality($1::text[]) = 0 OR nspname = ANY ($1))
     AND nspname <> ALL ($2::text[])
), member AS (
  SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
)"
    };
}

/// Every item, as `(kind, name, definition)`. `pg_get_*def` qualify names that are not
/// visible on the search path, so the search path is emptied first to make every name
/// qualified. Objects that belong to an extension are described by the extension.
const ITEMS: &str = concat!(
    scope_cte!(),
    r#", rel AS (
  SELECT c.*, n.nspname, format('%I.%I', n.nspname, c.relname) AS qname
    FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
   WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid)
)
SELECT 'schema', format('%I', nspname), '' FROM ns
UNION ALL
SELECT 'extension', format('%I', e.extname), format('schema %I', n.nspname)
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'
UNION ALL
SELECT CASE relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                    WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                    WHEN 'f' THEN 'foreign table' ELSE 'composite type' END,
       qname,
       concat_ws(' | ', 'kind ' || relkind::text, 'persistence ' || relpersistence::text,
                 CASE WHEN relrowsecurity THEN 'row level security' END,
                 CASE WHEN relforcerowsecurity THEN 'forced row level security' END,
                 'partitioned by ' || pg_get_partkeydef(oid),
                 'partition ' || pg_get_expr(relpartbound, oid),
                 'inherits ' || (SELECT string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno)
                                   FROM pg_inherits i WHERE i.inhrelid = rel.oid),
                 'options ' || array_to_string(reloptions, ','),
                 CASE WHEN relkind IN ('v', 'm') THEN pg_get_viewdef(oid) END)
  FROM rel WHERE relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
UNION ALL
SELECT 'column', qname || '.' || format('%I', attname),
       concat_ws(' | ', 'position ' || position, type, CASE WHEN attnotnull THEN 'not null' END,
                 'default ' || def, 'identity ' || nullif(attidentity::text, ''),
                 'generated ' || nullif(attgenerated::text, ''), 'collate ' || coll)
  FROM (SELECT rel.qname, a.attname, a.attnotnull, a.attidentity, a.attgenerated,
               -- a child's column order is not kept by a dump when its parent gained
               -- columns later: compare positions of tables without parents only
               CASE WHEN NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = rel.oid)
                    THEN row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) END AS position,
               format_type(a.atttypid, a.atttypmod) AS type,
               pg_get_expr(d.adbin, d.adrelid) AS def,
               CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS coll
          FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid
          JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          LEFT JOIN pg_collation co ON co.oid = a.attcollation
         WHERE rel.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND a.attnum > 0 AND NOT a.attisdropped) cols
UNION ALL
SELECT 'sequence settings', qname,
       concat_ws(' ', format_type(s.seqtypid, NULL), 'start', s.seqstart, 'increment', s.seqincrement,
                 'min', s.seqmin, 'max', s.seqmax, 'cache', s.seqcache, CASE WHEN s.seqcycle THEN 'cycle' END)
  FROM rel JOIN pg_sequence s ON s.seqrelid = rel.oid
UNION ALL
SELECT 'constraint', coalesce(rel.qname, format('%I.%I', n.nspname, t.typname)) || '.' || format('%I', c.conname),
       pg_get_constraintdef(c.oid)
  FROM pg_constraint c
  LEFT JOIN rel ON rel.oid = c.conrelid
  LEFT JOIN pg_type t ON t.oid = c.contypid
  LEFT JOIN ns n ON n.oid = t.typnamespace
 WHERE (rel.oid IS NOT NULL OR n.oid IS NOT NULL)
   -- a constraint a partition inherits is its parent's (compared there); a reload names
   -- it after the parent's
   AND c.conparentid = 0
UNION ALL
SELECT 'index', qname, pg_get_indexdef(oid) FROM rel WHERE relkind IN ('i', 'I')
UNION ALL
SELECT 'trigger', rel.qname || '.' || format('%I', tg.tgname),
       pg_get_triggerdef(tg.oid) || CASE tg.tgenabled WHEN 'O' THEN '' ELSE ' (enabled ' || tg.tgenabled::text || ')' END
  FROM pg_trigger tg JOIN rel ON rel.oid = tg.tgrelid WHERE NOT tg.tgisinternal
UNION ALL
SELECT 'policy', rel.qname || '.' || format('%I', p.polname),
       concat_ws(' | ', CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                 'for ' || p.polcmd::text,
                 'to ' || (SELECT string_agg(CASE r WHEN 0 THEN 'public' ELSE r::regrole::text END, ', ' ORDER BY 1)
                             FROM unnest(p.polroles) r),
                 'using ' || pg_get_expr(p.polqual, p.polrelid),
                 'with check ' || pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_policy p JOIN rel ON rel.oid = p.polrelid
UNION ALL
SELECT CASE p.prokind WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure' ELSE 'function' END,
       format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       CASE WHEN p.prokind = 'a'
            THEN (SELECT concat_ws(' ', 'transition', a.aggtransfn::regproc::text,
                                   'state', format_type(a.aggtranstype, NULL),
                                   'final', nullif(a.aggfinalfn::oid, 0)::regproc::text,
                                   'initial', a.agginitval)
                    FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
            ELSE pg_get_functiondef(p.oid) END
  FROM pg_proc p JOIN ns n ON n.oid = p.pronamespace
 WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_proc'::regclass AND m.objid = p.oid)
UNION ALL
SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range' ELSE 'type' END,
       format('%I.%I', n.nspname, t.typname),
       coalesce(CASE t.typtype
                  WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                   FROM pg_enum e WHERE e.enumtypid = t.oid)
                  WHEN 'd' THEN concat_ws(' ', format_type(t.typbasetype, t.typtypmod),
                                          CASE WHEN t.typnotnull THEN 'not null' END,
                                          'default ' || t.typdefault)
                  WHEN 'r' THEN (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
                END, '')
  FROM pg_type t JOIN ns n ON n.oid = t.typnamespace
 WHERE t.typtype IN ('e', 'd', 'r', 'b')
   AND (t.typtype <> 'b' OR t.typelem = 0 OR NOT EXISTS (SELECT 1 FROM pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid))
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_type'::regclass AND m.objid = t.oid)
UNION ALL
-- Comments are items of their own, named by what they are on: `table column public.t.c`.
-- Objects of the system have OIDs below 16384 and are left out before being named.
SELECT 'comment', o.type || ' ' || o.identity, d.description
  FROM pg_description d
 CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
 WHERE d.objoid >= 16384
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = d.classoid AND m.objid = d.objoid)
   AND (o.schema IN (SELECT nspname FROM ns)
        OR (d.classoid = 'pg_namespace'::regclass AND d.objoid IN (SELECT oid FROM ns))
        OR (d.classoid = 'pg_extension'::regclass AND o.identity <> 'plpgsql'))
"#
);

/// Owners and privileges, named like comments (`table public.t`, `table column
/// public.t.c to app`): what `--privileges` adds. A default ACL (none granted or
/// revoked) is spelled out, so "never granted" and "granted what the default grants"
/// compare equal.
const PRIVILEGES: &str = concat!(
    scope_cte!(),
    r#", object AS (
  SELECT 'pg_class'::regclass AS classid, c.oid, c.relowner AS owner,
         coalesce(c.relacl, acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner)) AS acl
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  UNION ALL
  SELECT 'pg_proc'::regclass, p.oid, p.proowner, coalesce(p.proacl, acldefault('f'::"char", p.proowner))
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
  UNION ALL
  SELECT 'pg_type'::regclass, t.oid, t.typowner, coalesce(t.typacl, acldefault('T'::"char", t.typowner))
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
   WHERE t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  UNION ALL
  SELECT 'pg_namespace'::regclass, ns.oid, n.nspowner, coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))
    FROM ns JOIN pg_namespace n ON n.oid = ns.oid
), named AS (
  SELECT o.*, i.type || ' ' || i.identity AS name
    FROM object o CROSS JOIN LATERAL pg_identify_object(o.classid, o.oid, 0) i
   WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = o.classid AND m.objid = o.oid)
)
SELECT 'owner', name, pg_get_userbyid(owner)::text FROM named
UNION ALL
SELECT 'privilege', name || ' to ' || grantee, string_agg(privilege, ', ' ORDER BY privilege)
  FROM (SELECT n.name, CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee,
               a.privilege_type || CASE WHEN a.is_grantable THEN ' with grant option' ELSE '' END AS privilege
          FROM named n CROSS JOIN LATERAL aclexplode(n.acl) a) g
 GROUP BY name, grantee
UNION ALL
SELECT 'privilege', i.type || ' ' || i.identity || ' to ' || grantee, string_agg(privilege, ', ' ORDER BY privilege)
  FROM (SELECT c.oid, at.attnum, CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee,
               a.privilege_type || CASE WHEN a.is_grantable THEN ' with grant option' ELSE '' END AS privilege
          FROM pg_attribute at JOIN pg_class c ON c.oid = at.attrelid JOIN ns ON ns.oid = c.relnamespace
         CROSS JOIN LATERAL aclexplode(at.attacl) a
         WHERE at.attacl IS NOT NULL AND at.attnum > 0 AND NOT at.attisdropped) g
 CROSS JOIN LATERAL pg_identify_object('pg_class'::regclass, g.oid, g.attnum) i
 GROUP BY i.type, i.identity, grantee
"#
);

/// Reads the schema of the database `client` is connected to. `database` is for errors.
pub fn describe(
    client: &mut impl GenericClient,
    scope: &Scope,
    database: &str,
) -> Result<Description> {
    let what = "reading the schema from the catalogs";
    let mut transaction = client.transaction().map_err(query_error(what, database))?;
    transaction
        .batch_execute("SET LOCAL search_path = pg_catalog")
        .map_err(query_error(what, database))?;
    let mut rows = transaction
        .query(ITEMS, &[&scope.schemas, &scope.exclude_schemas])
        .map_err(query_error(what, database))?;
    if scope.privileges {
        rows.extend(
            transaction
                .query(PRIVILEGES, &[&scope.schemas, &scope.exclude_schemas])
                .map_err(query_error(what, database))?,
        );
    }
    transaction.commit().map_err(query_error(what, database))?;
    Ok(rows
        .into_iter()
        .map(|row| ((row.get(0), row.get(1)), row.get(2)))
        .collect())
}

/// How one item differs between two descriptions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// In the source only.
    Missing { definition: String },
    /// In the copy only.
    Extra { definition: String },
    /// In both, defined differently.
    Changed { source: String, copy: String },
}

/// One item that differs, by kind and qualified name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    pub kind: String,
    pub name: String,
    #[serde(flatten)]
    pub change: Change,
}

/// The items that differ between a source and its copy, in a stable order: the
/// source's items by kind and name, then the copy's extra ones; the parts of a table
/// that is missing or extra as a whole are left out (see [`every_difference`]).
pub fn diff(source: &Description, copy: &Description) -> Vec<Difference> {
    fold_into_tables(every_difference(source, copy))
}

/// Every item that differs, a missing or extra table's columns and constraints too.
fn every_difference(source: &Description, copy: &Description) -> Vec<Difference> {
    let mut found = Vec::new();
    let item = |kind: &str, name: &str, change| Difference {
        kind: kind.to_string(),
        name: name.to_string(),
        change,
    };
    for ((kind, name), definition) in source {
        match copy.get(&(kind.clone(), name.clone())) {
            None => found.push(item(
                kind,
                name,
                Change::Missing {
                    definition: shorten(definition),
                },
            )),
            Some(other) if other != definition => found.push(item(
                kind,
                name,
                Change::Changed {
                    source: shorten(definition),
                    copy: shorten(other),
                },
            )),
            Some(_) => {}
        }
    }
    for ((kind, name), definition) in copy {
        if !source.contains_key(&(kind.clone(), name.clone())) {
            found.push(item(
                kind,
                name,
                Change::Extra {
                    definition: shorten(definition),
                },
            ));
        }
    }
    found
}

/// Leaves out the columns and constraints of a table that is itself missing or extra:
/// "table `t` is left behind" says it, and its parts would only repeat it.
fn fold_into_tables(found: Vec<Difference>) -> Vec<Difference> {
    let whole: std::collections::HashSet<(&str, bool)> = found
        .iter()
        .filter(|d| d.kind == "table")
        .filter_map(|d| match d.change {
            Change::Missing { .. } => Some((d.name.as_str(), true)),
            Change::Extra { .. } => Some((d.name.as_str(), false)),
            Change::Changed { .. } => None,
        })
        .collect();
    if whole.is_empty() {
        return found;
    }
    let part_of_whole = |d: &Difference| {
        let missing = match d.change {
            Change::Missing { .. } => true,
            Change::Extra { .. } => false,
            Change::Changed { .. } => return false,
        };
        matches!(d.kind.as_str(), "column" | "constraint")
            && d.name
                .rsplit_once('.')
                .is_some_and(|(table, _)| whole.contains(&(table, missing)))
    };
    let keep: Vec<bool> = found.iter().map(|d| !part_of_whole(d)).collect();
    found
        .into_iter()
        .zip(keep)
        .filter_map(|(d, keep)| keep.then_some(d))
        .collect()
}

/// The differences between a source and its copy, one phrase each, in a stable order:
/// ``index `public.idx` is missing from the snapshot``.
pub fn differences(source: &Description, copy: &Description, copy_name: &str) -> Vec<String> {
    diff(source, copy)
        .into_iter()
        .map(|d| {
            let (kind, name) = (&d.kind, &d.name);
            match d.change {
                Change::Missing { .. } => {
                    format!("{kind} `{name}` is missing from the {copy_name}")
                }
                Change::Changed { source, copy } => format!(
                    "{kind} `{name}` differs: `{source}` in the source, `{copy}` in the {copy_name}"
                ),
                Change::Extra { .. } => {
                    format!("{kind} `{name}` is in the {copy_name} but not in the source")
                }
            }
        })
        .collect()
}

/// A definition on one line, cut to a length a terminal shows.
fn shorten(definition: &str) -> String {
    let flat = definition.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(160) {
        Some((cut, _)) => format!("{}...", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(items: &[(&str, &str, &str)]) -> Description {
        items
            .iter()
            .map(|(k, n, d)| ((k.to_string(), n.to_string()), d.to_string()))
            .collect()
    }

    #[test]
    fn differences_name_what_is_missing_extra_or_changed() {
        let source = description(&[
            ("table", "public.a", "kind r"),
            (
                "index",
                "public.a_idx",
                "CREATE INDEX a_idx ON public.a USING btree (x)",
            ),
            ("column", "public.a.x", "position 1 | integer"),
        ]);
        let copy = description(&[
            ("table", "public.a", "kind r"),
            ("column", "public.a.x", "position 1 | bigint"),
            ("view", "public.v", " SELECT 1"),
        ]);
        assert_eq!(
            differences(&source, &copy, "snapshot"),
            [
                "column `public.a.x` differs: `position 1 | integer` in the source, `position 1 | bigint` in the snapshot",
                "index `public.a_idx` is missing from the snapshot",
                "view `public.v` is in the snapshot but not in the source",
            ]
        );
        assert!(differences(&source, &source, "snapshot").is_empty());
    }

    #[test]
    fn a_table_missing_or_extra_is_one_difference_not_one_per_column() {
        let source = description(&[("table", "public.a", "kind r")]);
        let copy = description(&[
            ("table", "public.a", "kind r"),
            ("table", "public.b", "kind r"),
            ("column", "public.b.id", "position 1 | integer"),
            ("constraint", "public.b.b_pkey", "PRIMARY KEY (id)"),
            ("column", "public.a.extra", "position 2 | text"),
        ]);
        assert_eq!(
            differences(&source, &copy, "copy"),
            [
                "column `public.a.extra` is in the copy but not in the source",
                "table `public.b` is in the copy but not in the source",
            ]
        );
    }
}
