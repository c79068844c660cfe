//! The whole schema as an ER diagram: which tables to draw (`--schema`, `--around` with
//! `--depth`, partitions folded into their parent) and the Graphviz form (one HTML-like
//! table per entity, crow's-foot edges between the key columns). Mermaid is
//! `report::mermaid`'s; the schema comes from `ddl::model`.

use std::collections::BTreeSet;
use std::io::{self, Write};

use crate::ddl::model::{Schema, Table};
use crate::ddl::summary::Relationship;
use crate::report::mermaid;

/// What part of the schema to draw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Focus {
    /// Only tables in these schemas (`public` for unqualified names); all when empty.
    pub schemas: Vec<String>,
    /// A table and the tables within `depth` foreign keys of it.
    pub around: Option<String>,
    pub depth: usize,
}

/// The schema a model name is in: `billing.invoice` is in `billing`, `contract` in
/// `public` (the model drops `public.`).
pub fn schema_of(name: &str) -> &str {
    name.split_once('.').map_or("public", |(schema, _)| schema)
}

/// The tables to draw, by name: partitions left out (their parent stands for them), then
/// the focus applied. `None` when `--around` names a table the schema does not have.
pub fn tables<'a>(schema: &'a Schema, focus: &Focus) -> Option<Vec<&'a Table>> {
    let drawn = |t: &&Table| mermaid::parent(schema, t).is_none();
    let in_schemas = |t: &&Table| {
        focus.schemas.is_empty() || focus.schemas.iter().any(|s| s == schema_of(&t.name))
    };
    let mut names: BTreeSet<&str> = schema
        .tables
        .values()
        .filter(drawn)
        .filter(in_schemas)
        .map(|t| t.name.as_str())
        .collect();
    if let Some(around) = &focus.around {
        let start = normalize(around);
        if !names.contains(start.as_str()) {
            return None;
        }
        let mut reached = BTreeSet::from([start.clone()]);
        let mut frontier = vec![start];
        for _ in 0..focus.depth {
            let mut next = Vec::new();
            for table in &frontier {
                for neighbour in schema.neighbours(table) {
                    if names.contains(neighbour.as_str()) && reached.insert(neighbour.clone()) {
                        next.push(neighbour);
                    }
                }
            }
            frontier = next;
        }
        names.retain(|n| reached.contains(*n));
    }
    Some(names.iter().filter_map(|n| schema.tables.get(*n)).collect())
}

/// A table name as the model writes it: lower case unless quoted, `public.` dropped.
pub fn normalize(name: &str) -> String {
    let name = name.trim();
    let folded: Vec<String> = name
        .split('.')
        .map(
            |part| match part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                Some(quoted) => quoted.to_string(),
                None => part.to_lowercase(),
            },
        )
        .collect();
    match folded.as_slice() {
        [schema, table] if schema == "public" => table.clone(),
        _ => folded.join("."),
    }
}

/// The tables' partitions, for a note on their parent.
fn partitions<'a>(schema: &'a Schema, table: &Table) -> Vec<&'a str> {
    schema
        .tables
        .values()
        .filter(|t| mermaid::parent(schema, t) == Some(table.name.as_str()))
        .map(|t| t.name.as_str())
        .collect()
}

/// Writes a Graphviz `digraph`: one node per table (its columns as rows, keys marked),
/// one edge per foreign key from the referencing column's row to the referenced one,
/// with crow's-foot ends (many or one-or-none on the child, one or one-or-none on the
/// parent as the key columns are NOT NULL or not).
pub fn dot(w: &mut dyn Write, schema: &Schema, tables: &[&Table]) -> io::Result<()> {
    writeln!(w, "digraph schema {{")?;
    writeln!(
        w,
        "    graph [rankdir=LR, fontname=\"Helvetica\", nodesep=0.4, ranksep=1.0];"
    )?;
    writeln!(
        w,
        "    node [shape=plain, fontname=\"Helvetica\", fontsize=10];"
    )?;
    writeln!(
        w,
        "    edge [dir=both, color=\"#555555\", fontname=\"Helvetica\", fontsize=9];"
    )?;
    let shown: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    for table in tables {
        node(w, schema, table)?;
    }
    for table in tables {
        for fk in &table.foreign_keys {
            if shown.contains(fk.references_table.as_str()) {
                edge(w, table, fk)?;
            }
        }
    }
    writeln!(w, "}}")
}

fn node(w: &mut dyn Write, schema: &Schema, table: &Table) -> io::Result<()> {
    let foreign: BTreeSet<&str> = table
        .foreign_keys
        .iter()
        .flat_map(|fk| fk.columns.iter().map(String::as_str))
        .collect();
    writeln!(w, "    {} [label=<", quoted(&table.name))?;
    writeln!(
        w,
        "      <TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"4\">"
    )?;
    writeln!(
        w,
        "        <TR><TD BGCOLOR=\"#dae8fc\" COLSPAN=\"2\"><B>{}</B></TD></TR>",
        html(&table.name)
    )?;
    for column in &table.columns {
        let mut keys = Vec::new();
        if column.primary_key || table.primary_key.contains(&column.name) {
            keys.push("PK");
        }
        if foreign.contains(column.name.as_str()) {
            keys.push("FK");
        }
        if column.unique {
            keys.push("UK");
        }
        if !column.nullable && keys.first() != Some(&"PK") {
            keys.push("NN");
        }
        writeln!(
            w,
            "        <TR><TD PORT=\"{port}.w\" ALIGN=\"LEFT\">{name}</TD><TD PORT=\"{port}.e\" ALIGN=\"LEFT\"><FONT COLOR=\"#555555\">{data_type}{keys}</FONT></TD></TR>",
            port = html(&column.name),
            name = html(&column.name),
            data_type = html(&display_type(&column.data_type)),
            keys = if keys.is_empty() {
                String::new()
            } else {
                format!(" {}", keys.join(" "))
            }
        )?;
    }
    let partitions = partitions(schema, table);
    if !partitions.is_empty() {
        writeln!(
            w,
            "        <TR><TD COLSPAN=\"2\" ALIGN=\"LEFT\"><I>partitioned: {} partition{}</I></TD></TR>",
            partitions.len(),
            if partitions.len() == 1 { "" } else { "s" }
        )?;
    }
    writeln!(w, "      </TABLE>>];")
}

fn edge(w: &mut dyn Write, child: &Table, fk: &Relationship) -> io::Result<()> {
    let required = fk
        .columns
        .iter()
        .all(|c| child.column(c).is_some_and(|c| !c.nullable));
    let unique = fk.columns.iter().collect::<BTreeSet<_>>()
        == child.primary_key.iter().collect::<BTreeSet<_>>()
        || matches!(fk.columns.as_slice(), [one] if child.column(one).is_some_and(|c| c.unique));
    let head = if required { "teetee" } else { "teeodot" };
    let tail = if unique { "teeodot" } else { "crowodot" };
    // Children rank left of their parents (rankdir=LR): leave a child's row on its east
    // side (the type cell's port) and enter the parent's row on its west side (the name
    // cell's), so no edge crosses a row's text.
    let from = fk.columns.first().map_or(String::new(), |c| {
        format!(":{}:e", quoted(&format!("{c}.e")))
    });
    let to = fk.references_columns.first().map_or(String::new(), |c| {
        format!(":{}:w", quoted(&format!("{c}.w")))
    });
    writeln!(
        w,
        "    {}{from} -> {}{to} [arrowhead={head}, arrowtail={tail}, tooltip={}];",
        quoted(&child.name),
        quoted(&fk.references_table),
        quoted(&format!(
            "{}({}) → {}",
            child.name,
            fk.columns.join(", "),
            fk.references_table
        ))
    )
}

/// A column type as people write it: `timestamptz`, `varchar(50)`, `public.` dropped.
pub fn display_type(data_type: &str) -> String {
    let t = data_type.trim().to_lowercase();
    let t = t.strip_prefix("public.").unwrap_or(&t);
    let t = t.replace("character varying", "varchar");
    match t.split_once(" with time zone") {
        Some((time, rest)) => match time.split_once('(') {
            Some((word, precision)) => format!("{word}tz({precision}{rest}"),
            None => format!("{time}tz{rest}"),
        },
        None => t.replace(" without time zone", ""),
    }
}

/// A Graphviz ID in double quotes.
fn quoted(id: &str) -> String {
    format!("\"{}\"", id.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Text for an HTML-like label.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
