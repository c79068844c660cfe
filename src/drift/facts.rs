//! What the SQL that closes a drift is written from: the parts of each object that
//! `pg::compare` folds into one definition string (a column's type, default and
//! nullability; a view's dependencies; which indexes a constraint owns), read per
//! database in a handful of queries. Names are the ones `compare` uses, so a
//! difference's name finds its facts.

use std::collections::{BTreeMap, BTreeSet};

use postgres::Client;

use crate::error::Result;
use crate::pg::connect::query_error;

/// One column (or composite-type attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// `format_type`, e.g. `character varying(100)`.
    pub data_type: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// `a` (always) or `d` (by default) for an identity column.
    pub identity: Option<char>,
    /// The expression of a stored generated column.
    pub generated: Option<String>,
    /// A collation other than the type's, qualified.
    pub collation: Option<String>,
}

/// One relation's own settings.
#[derive(Debug, Clone, Default)]
pub struct Relation {
    /// `r`, `p`, `v`, `m`, `S`, `f`, `c`.
    pub kind: char,
    pub unlogged: bool,
    pub row_security: bool,
    pub forced_row_security: bool,
    pub partition_key: Option<String>,
    /// `(parent, bound)` of a partition.
    pub partition_of: Option<(String, String)>,
    /// Parents of an inheritance child.
    pub inherits: Vec<String>,
    pub options: Vec<String>,
    /// Columns in order.
    pub columns: Vec<(String, Column)>,
    /// A view's query.
    pub query: Option<String>,
    /// `GRANT` statements for what others than the owner were granted on it, to give
    /// back to a view that is dropped and made again.
    pub grants: Vec<String>,
}

/// A constraint, by `compare`'s name (`schema.table.name`).
#[derive(Debug, Clone)]
pub struct Constraint {
    /// The table or domain it is on.
    pub on: String,
    pub name: String,
    pub on_domain: bool,
    /// `p`, `u`, `x`, `c`, `f`, `t`.
    pub kind: char,
    pub definition: String,
}

/// A sequence that belongs to a column.
#[derive(Debug, Clone)]
pub struct OwnedSequence {
    /// `schema.table.column`.
    pub column: String,
    /// Made by an identity column (not by `serial` or `OWNED BY`).
    pub identity: bool,
}

/// A trigger.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub table: String,
    pub name: String,
    pub definition: String,
    /// `O` (origin), `D` (disabled), `R` (replica), `A` (always).
    pub enabled: char,
    /// Cloned onto a partition from its parent's trigger.
    pub cloned: bool,
}

/// A row-level security policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub table: String,
    pub name: String,
    pub create: String,
}

/// A function or procedure.
#[derive(Debug, Clone)]
pub struct Routine {
    /// `f`, `p`, `a`, `w`.
    pub kind: char,
    /// `pg_get_functiondef`; none for aggregates.
    pub definition: Option<String>,
    pub result: Option<String>,
}

/// A type that is not a table's row type.
#[derive(Debug, Clone)]
pub enum Type {
    Enum(Vec<String>),
    Domain {
        base: String,
        not_null: bool,
        default: Option<String>,
    },
    Range(String),
    Other,
}

/// Everything one database says about its objects.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub relations: BTreeMap<String, Relation>,
    pub constraints: BTreeMap<String, Constraint>,
    /// Indexes made by a constraint or by a partitioned index on a partition: they come
    /// and go with what made them.
    pub implied_indexes: BTreeSet<String>,
    pub owned_sequences: BTreeMap<String, OwnedSequence>,
    /// A view to the relations it reads and the `(table, column)`s it uses.
    pub view_reads: BTreeMap<String, BTreeSet<String>>,
    pub view_columns: BTreeMap<String, BTreeSet<(String, String)>>,
    pub triggers: BTreeMap<String, Trigger>,
    pub policies: BTreeMap<String, Policy>,
    pub routines: BTreeMap<String, Routine>,
    pub types: BTreeMap<String, Type>,
}

const SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'dbkit') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'";

/// Reads the facts of the database `client` is connected to.
pub fn read(client: &mut Client, database: &str) -> Result<Facts> {
    let what = "reading the schema's details from the catalogs";
    let failed = || query_error(what, database);
    let mut tx = client.transaction().map_err(failed())?;
    tx.batch_execute("SET LOCAL search_path = pg_catalog")
        .map_err(failed())?;
    let version: i32 = tx
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .map_err(failed())?
        .get(0);
    let mut facts = Facts::default();

    let relations = format!(
        "SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text, c.relpersistence = 'u',
                c.relrowsecurity, c.relforcerowsecurity, pg_get_partkeydef(c.oid),
                (SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition),
                pg_get_expr(c.relpartbound, c.oid),
                coalesce((SELECT array_agg(i.inhparent::regclass::text ORDER BY i.inhseqno) FROM pg_inherits i
                           WHERE i.inhrelid = c.oid AND NOT c.relispartition), '{{}}'),
                coalesce(c.reloptions, '{{}}'),
                CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE {SCHEMAS} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')"
    );
    for row in tx.query(&relations, &[]).map_err(failed())? {
        let bound: Option<String> = row.get(7);
        let parent: Option<String> = row.get(6);
        facts.relations.insert(
            row.get(0),
            Relation {
                kind: row.get::<_, String>(1).chars().next().unwrap_or('r'),
                unlogged: row.get(2),
                row_security: row.get(3),
                forced_row_security: row.get(4),
                partition_key: row.get(5),
                partition_of: parent.zip(bound),
                inherits: row.get(8),
                options: row.get(9),
                columns: Vec::new(),
                query: row.get(10),
                grants: Vec::new(),
            },
        );
    }
    let grants = format!(
        "SELECT format('%I.%I', n.nspname, c.relname),
                format('GRANT %s ON TABLE %I.%I TO %s%s', a.privilege_type, n.nspname, c.relname,
                       CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                       CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          CROSS JOIN LATERAL aclexplode(c.relacl) a
          WHERE {SCHEMAS} AND c.relkind IN ('v', 'm') AND c.relacl IS NOT NULL AND a.grantee <> c.relowner
          ORDER BY 1, 2"
    );
    for row in tx.query(&grants, &[]).map_err(failed())? {
        let view: String = row.get(0);
        if let Some(relation) = facts.relations.get_mut(&view) {
            relation.grants.push(row.get(1));
        }
    }

    let columns = format!(
        "SELECT format('%I.%I', n.nspname, c.relname), format('%I', a.attname),
                format_type(a.atttypid, a.atttypmod), a.attnotnull,
                CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                nullif(a.attidentity::text, ''),
                CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                CASE WHEN a.attcollation <> t.typcollation THEN format('%I.%I', cn.nspname, co.collname) END
           FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_type t ON t.oid = a.atttypid
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           LEFT JOIN pg_collation co ON co.oid = a.attcollation
           LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
          WHERE {SCHEMAS} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
            AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY 1, a.attnum"
    );
    for row in tx.query(&columns, &[]).map_err(failed())? {
        let table: String = row.get(0);
        let identity: Option<String> = row.get(5);
        let column = Column {
            data_type: row.get(2),
            not_null: row.get(3),
            default: row.get(4),
            identity: identity.and_then(|i| i.chars().next()),
            generated: row.get(6),
            collation: row.get(7),
        };
        if let Some(relation) = facts.relations.get_mut(&table) {
            relation.columns.push((row.get(1), column));
        }
    }

    let constraints = format!(
        "SELECT CASE WHEN r.oid IS NOT NULL THEN format('%I.%I', rn.nspname, r.relname)
                     ELSE format('%I.%I', tn.nspname, t.typname) END,
                format('%I', c.conname), c.conrelid = 0, c.contype::text, pg_get_constraintdef(c.oid),
                (SELECT format('%I.%I', ins.nspname, ic.relname) FROM pg_class ic JOIN pg_namespace ins ON ins.oid = ic.relnamespace
                  WHERE ic.oid = c.conindid AND c.contype IN ('p', 'u', 'x'))
           FROM pg_constraint c
           LEFT JOIN pg_class r ON r.oid = c.conrelid
           LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
           LEFT JOIN pg_type t ON t.oid = c.contypid
           LEFT JOIN pg_namespace tn ON tn.oid = t.typnamespace
           JOIN pg_namespace n ON n.oid = c.connamespace
          WHERE {SCHEMAS} AND c.conparentid = 0 AND (r.oid IS NOT NULL OR t.oid IS NOT NULL)"
    );
    for row in tx.query(&constraints, &[]).map_err(failed())? {
        let on: String = row.get(0);
        let name: String = row.get(1);
        if let Some(index) = row.get::<_, Option<String>>(5) {
            facts.implied_indexes.insert(index);
        }
        facts.constraints.insert(
            format!("{on}.{name}"),
            Constraint {
                on,
                name,
                on_domain: row.get(2),
                kind: row.get::<_, String>(3).chars().next().unwrap_or('c'),
                definition: row.get(4),
            },
        );
    }
    // Constraints a partition got from its parent own indexes too.
    let more = format!(
        "SELECT format('%I.%I', n.nspname, i.relname)
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
          WHERE {SCHEMAS}
            AND (EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.oid)
                 OR EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid AND c.contype IN ('p', 'u', 'x')))"
    );
    for row in tx.query(&more, &[]).map_err(failed())? {
        facts.implied_indexes.insert(row.get(0));
    }

    let sequences = format!(
        "SELECT format('%I.%I', n.nspname, s.relname), format('%I.%I.%I', tn.nspname, t.relname, a.attname), d.deptype = 'i'
           FROM pg_depend d
           JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
           JOIN pg_namespace n ON n.oid = s.relnamespace
           JOIN pg_class t ON t.oid = d.refobjid
           JOIN pg_namespace tn ON tn.oid = t.relnamespace
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
          WHERE {SCHEMAS} AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
            AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0"
    );
    for row in tx.query(&sequences, &[]).map_err(failed())? {
        facts.owned_sequences.insert(
            row.get(0),
            OwnedSequence {
                column: row.get(1),
                identity: row.get(2),
            },
        );
    }

    let reads = format!(
        "SELECT DISTINCT format('%I.%I', n.nspname, v.relname), format('%I.%I', rn.nspname, rc.relname),
                rc.relkind::text, CASE WHEN d.refobjsubid > 0 THEN (SELECT format('%I', attname) FROM pg_attribute
                                   WHERE attrelid = rc.oid AND attnum = d.refobjsubid) END
           FROM pg_depend d
           JOIN pg_rewrite r ON r.oid = d.objid
           JOIN pg_class v ON v.oid = r.ev_class
           JOIN pg_namespace n ON n.oid = v.relnamespace
           JOIN pg_class rc ON rc.oid = d.refobjid
           JOIN pg_namespace rn ON rn.oid = rc.relnamespace
          WHERE {SCHEMAS} AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
            AND rc.oid <> v.oid"
    );
    for row in tx.query(&reads, &[]).map_err(failed())? {
        let view: String = row.get(0);
        let read: String = row.get(1);
        let column: Option<String> = row.get(3);
        facts
            .view_reads
            .entry(view.clone())
            .or_default()
            .insert(read.clone());
        if let Some(column) = column {
            facts
                .view_columns
                .entry(view)
                .or_default()
                .insert((read, column));
        }
    }

    let cloned = if version >= 130_000 {
        "tg.tgparentid <> 0"
    } else {
        "false"
    };
    let triggers = format!(
        "SELECT format('%I.%I', n.nspname, c.relname), format('%I', tg.tgname), pg_get_triggerdef(tg.oid),
                tg.tgenabled::text, {cloned}
           FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE {SCHEMAS} AND NOT tg.tgisinternal"
    );
    for row in tx.query(&triggers, &[]).map_err(failed())? {
        let table: String = row.get(0);
        let name: String = row.get(1);
        facts.triggers.insert(
            format!("{table}.{name}"),
            Trigger {
                table,
                name,
                definition: row.get(2),
                enabled: row.get::<_, String>(3).chars().next().unwrap_or('O'),
                cloned: row.get(4),
            },
        );
    }

    let policies = format!(
        "SELECT format('%I.%I', n.nspname, c.relname), format('%I', p.polname),
                concat_ws(' ', format('CREATE POLICY %I ON %I.%I', p.polname, n.nspname, c.relname),
                          CASE WHEN p.polpermissive THEN 'AS PERMISSIVE' ELSE 'AS RESTRICTIVE' END,
                          'FOR ' || CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                                  WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                          'TO ' || (SELECT string_agg(CASE r WHEN 0 THEN 'PUBLIC' ELSE r::regrole::text END, ', ' ORDER BY 1)
                                      FROM unnest(p.polroles) r),
                          'USING (' || pg_get_expr(p.polqual, p.polrelid) || ')',
                          'WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')')
           FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE {SCHEMAS}"
    );
    for row in tx.query(&policies, &[]).map_err(failed())? {
        let table: String = row.get(0);
        let name: String = row.get(1);
        facts.policies.insert(
            format!("{table}.{name}"),
            Policy {
                table,
                name,
                create: row.get(2),
            },
        );
    }

    let routines = format!(
        "SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), p.prokind::text,
                CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END,
                CASE WHEN p.prokind <> 'a' THEN pg_get_function_result(p.oid) END
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE {SCHEMAS}"
    );
    for row in tx.query(&routines, &[]).map_err(failed())? {
        facts.routines.insert(
            row.get(0),
            Routine {
                kind: row.get::<_, String>(1).chars().next().unwrap_or('f'),
                definition: row.get(2),
                result: row.get(3),
            },
        );
    }

    let types = format!(
        "SELECT format('%I.%I', n.nspname, t.typname), t.typtype::text,
                (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
                format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault,
                (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
          WHERE {SCHEMAS} AND t.typtype IN ('e', 'd', 'r', 'b')"
    );
    for row in tx.query(&types, &[]).map_err(failed())? {
        let kind: String = row.get(1);
        let described = match kind.as_str() {
            "e" => Type::Enum(row.get::<_, Option<Vec<String>>>(2).unwrap_or_default()),
            "d" => Type::Domain {
                base: row.get(3),
                not_null: row.get(4),
                default: row.get(5),
            },
            "r" => Type::Range(row.get::<_, Option<String>>(6).unwrap_or_default()),
            _ => Type::Other,
        };
        facts.types.insert(row.get(0), described);
    }
    tx.commit().map_err(failed())?;
    Ok(facts)
}
