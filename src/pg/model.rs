//! A live database's tables as the schema model `ddl::model` builds from files: columns
//! (type as `format_type` prints it, NOT NULL, default, single-column unique), primary
//! keys, foreign keys and partitions, for er-diagram `--from-database`. Names follow the
//! model's rules: `public.` dropped, other schemas qualified, quoted where the model
//! would keep the case. System schemas and dbkit's own are left out.

use std::collections::BTreeMap;
use std::sync::Arc;

use postgres::Client;

use crate::ddl::model::{Schema, Table, ViewColumn, ViewShape};
use crate::ddl::summary::{At, ColumnDef, Relationship};
use crate::error::Result;
use crate::pg::connect::query_error;

/// Schemas no diagram of the application's tables shows.
const SKIPPED: &str = "('pg_catalog', 'information_schema', 'pg_toast', 'dbkit')";

/// Reads the tables of `database` (ordinary and partitioned) and its views.
pub fn read(client: &mut Client, database: &str) -> Result<Schema> {
    let err = || query_error("reading the tables for the diagram", database);
    let tables = client
        .query(
            &format!(
                "SELECT c.oid::bigint, n.nspname, c.relname,
                        (SELECT pn.nspname || '.' || p.relname FROM pg_inherits i
                           JOIN pg_class p ON p.oid = i.inhparent
                           JOIN pg_namespace pn ON pn.oid = p.relnamespace
                          WHERE i.inhrelid = c.oid AND c.relispartition),
                        CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN {SKIPPED}
                    AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
                  ORDER BY 2, 3"
            ),
            &[],
        )
        .map_err(err())?;
    let mut by_oid: BTreeMap<i64, String> = BTreeMap::new();
    let mut schema = Schema::default();
    for row in &tables {
        let (oid, namespace, name): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
        let full = model_name(&namespace, &name);
        let partition_of: Option<String> = row.get(3);
        let partition_by: Option<String> = row.get(4);
        by_oid.insert(oid, full.clone());
        schema.tables.insert(
            full.clone(),
            Table {
                name: full,
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
                partition_by,
                partition_of: partition_of.map(|p| {
                    let (ns, rel) = p.split_once('.').unwrap_or(("public", &p));
                    model_name(ns, rel)
                }),
            },
        );
    }
    let columns = client
        .query(
            &format!(
                "SELECT a.attrelid::bigint, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                        pg_get_expr(d.adbin, d.adrelid),
                        EXISTS (SELECT 1 FROM pg_constraint u WHERE u.conrelid = a.attrelid
                                  AND u.contype = 'u' AND u.conkey = ARRAY[a.attnum])
                   FROM pg_attribute a
                   JOIN pg_class c ON c.oid = a.attrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN {SKIPPED}
                    AND a.attnum > 0 AND NOT a.attisdropped
                  ORDER BY a.attrelid, a.attnum"
            ),
            &[],
        )
        .map_err(err())?;
    for row in &columns {
        let Some(table) = by_oid.get(&row.get::<_, i64>(0)) else {
            continue;
        };
        let mut column = ColumnDef::new(
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            !row.get::<_, bool>(3),
        );
        column.default = row.get(4);
        column.unique = row.get(5);
        if let Some(t) = schema.tables.get_mut(table) {
            t.columns.push(Arc::new(column));
        }
    }
    let keys = client
        .query(
            &format!(
                "SELECT k.conrelid::bigint, k.contype::text, k.conname, k.confrelid::bigint,
                        ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
                                JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i),
                        ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
                                JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i),
                        k.confdeltype::text, k.confupdtype::text, NOT k.convalidated
                   FROM pg_constraint k
                   JOIN pg_class c ON c.oid = k.conrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE k.contype IN ('p', 'f') AND n.nspname NOT IN {SKIPPED}
                    AND k.conparentid = 0
                  ORDER BY k.conrelid, k.oid"
            ),
            &[],
        )
        .map_err(err())?;
    let action = |code: &str| match code {
        "c" => Some("CASCADE".to_string()),
        "n" => Some("SET NULL".to_string()),
        "d" => Some("SET DEFAULT".to_string()),
        "r" => Some("RESTRICT".to_string()),
        _ => None,
    };
    for row in &keys {
        let Some(table) = by_oid.get(&row.get::<_, i64>(0)).cloned() else {
            continue;
        };
        let kind: String = row.get(1);
        let columns: Vec<String> = row.get(4);
        let entry = schema.tables.get_mut(&table).expect("read above");
        if kind == "p" {
            for column in &columns {
                if let Some(c) = entry.column_mut(column) {
                    c.primary_key = columns.len() == 1;
                }
            }
            entry.primary_key = columns;
            continue;
        }
        let Some(parent) = by_oid.get(&row.get::<_, i64>(3)).cloned() else {
            continue;
        };
        let references_columns: Vec<String> = row.get(5);
        entry.foreign_keys.push(Relationship {
            table: table.clone(),
            columns,
            references_table: parent,
            references_columns,
            on_delete: action(&row.get::<_, String>(6)),
            on_update: action(&row.get::<_, String>(7)),
            name: Some(row.get(2)),
            not_valid: row.get(8),
            at: At {
                file: Arc::from(database),
                line: 0,
            },
        });
    }
    // Keys are read in creation order (as the files declare them); a key a partition
    // inherits from its parent (conparentid set) is its parent's, drawn once.
    read_views(client, database, &mut schema)?;
    Ok(schema)
}

/// Views and materialized views: their columns with types, and the tables and views
/// their rewrite rule depends on.
fn read_views(client: &mut Client, database: &str, schema: &mut Schema) -> Result<()> {
    let err = || query_error("reading the views for the diagram", database);
    let views = client
        .query(
            &format!(
                "SELECT n.nspname, c.relname,
                        ARRAY(SELECT a.attname::text FROM pg_attribute a
                               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
                        ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
                        ARRAY(SELECT DISTINCT rn.nspname || '.' || rc.relname FROM pg_rewrite r
                                JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                                 AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> c.oid
                                JOIN pg_class rc ON rc.oid = d.refobjid
                                JOIN pg_namespace rn ON rn.oid = rc.relnamespace
                               WHERE r.ev_class = c.oid ORDER BY 1)
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN {SKIPPED}
                    AND n.nspname NOT LIKE 'pg\\_temp\\_%'
                  ORDER BY 1, 2"
            ),
            &[],
        )
        .map_err(err())?;
    for row in &views {
        let name = model_name(&row.get::<_, String>(0), &row.get::<_, String>(1));
        let names: Vec<String> = row.get(2);
        let types: Vec<String> = row.get(3);
        let reads: Vec<String> = row.get(4);
        schema.views.insert(name.clone());
        schema.view_shapes.insert(
            name,
            ViewShape {
                columns: names
                    .into_iter()
                    .zip(types)
                    .map(|(name, data_type)| ViewColumn {
                        name,
                        data_type: Some(data_type),
                        from: None,
                    })
                    .collect(),
                reads: reads
                    .iter()
                    .map(|r| {
                        let (ns, rel) = r.split_once('.').unwrap_or(("public", r));
                        model_name(ns, rel)
                    })
                    .collect(),
            },
        );
    }
    Ok(())
}

/// `public.x` → `x`; others `schema.x`; a name the model would have to quote keeps its
/// case (as written in a quoted identifier).
fn model_name(namespace: &str, name: &str) -> String {
    if namespace == "public" {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}
