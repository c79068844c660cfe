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

/// A view to draw (`--views`): its name, its columns with their types (empty when the
/// files do not say), and the drawn tables and views it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub name: String,
    pub columns: Vec<(String, String)>,
    pub reads: Vec<String>,
}

/// The views to draw beside `tables`: those in the focused schemas, and with `--around`
/// only those reading a drawn table. `reads` keeps the drawn tables and views.
pub fn views(schema: &Schema, focus: &Focus, tables: &[&Table]) -> Vec<View> {
    let drawn: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut chosen: Vec<(&String, &crate::ddl::model::ViewShape)> = schema
        .views
        .iter()
        .filter(|v| focus.schemas.is_empty() || focus.schemas.iter().any(|s| s == schema_of(v)))
        .filter_map(|v| Some((v, schema.view_shapes.get(v)?)))
        .collect();
    if focus.around.is_some() {
        chosen.retain(|(_, shape)| shape.reads.iter().any(|r| drawn.contains(r.as_str())));
    }
    let names: BTreeSet<&str> = chosen.iter().map(|(v, _)| v.as_str()).collect();
    chosen
        .iter()
        .map(|(name, shape)| {
            let mut reads: Vec<String> = shape
                .reads
                .iter()
                .filter(|r| {
                    *r != *name && (drawn.contains(r.as_str()) || names.contains(r.as_str()))
                })
                .cloned()
                .collect();
            // Name order, the same from the files and from the catalog.
            reads.sort();
            View {
                name: name.to_string(),
                columns: shape
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), schema.view_column_type(c)))
                    .collect(),
                reads,
            }
        })
        .collect()
}

/// A foreign key's ends: whether every key column is NOT NULL (the parent's end is
/// exactly one, else one-or-none) and whether the key is unique in the child (the
/// child's end is one-or-none, else many).
pub fn cardinality(child: &Table, fk: &Relationship) -> (bool, bool) {
    let required = fk
        .columns
        .iter()
        .all(|c| child.column(c).is_some_and(|c| !c.nullable));
    let unique = fk.columns.iter().collect::<BTreeSet<_>>()
        == child.primary_key.iter().collect::<BTreeSet<_>>()
        || matches!(fk.columns.as_slice(), [one] if child.column(one).is_some_and(|c| c.unique));
    (required, unique)
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
pub fn dot(
    w: &mut dyn Write,
    schema: &Schema,
    tables: &[&Table],
    views: &[View],
) -> io::Result<()> {
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
    for view in views {
        view_node(w, view)?;
    }
    for table in tables {
        for fk in &table.foreign_keys {
            if shown.contains(fk.references_table.as_str()) {
                edge(w, table, fk)?;
            }
        }
    }
    for view in views {
        for read in &view.reads {
            writeln!(
                w,
                "    {} -> {} [dir=forward, style=dashed, arrowhead=open, color=\"#82b366\", tooltip={}];",
                quoted(&view.name),
                quoted(read),
                quoted(&format!("{} reads {read}", view.name))
            )?;
        }
    }
    writeln!(w, "}}")
}

fn view_node(w: &mut dyn Write, view: &View) -> io::Result<()> {
    writeln!(w, "    {} [label=<", quoted(&view.name))?;
    writeln!(
        w,
        "      <TABLE BORDER=\"1\" STYLE=\"dashed\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"4\">"
    )?;
    writeln!(
        w,
        "        <TR><TD BGCOLOR=\"#d5e8d4\" COLSPAN=\"2\"><I>{} (view)</I></TD></TR>",
        html(&view.name)
    )?;
    for (name, data_type) in &view.columns {
        writeln!(
            w,
            "        <TR><TD ALIGN=\"LEFT\">{}</TD><TD ALIGN=\"LEFT\"><FONT COLOR=\"#555555\">{}</FONT></TD></TR>",
            html(name),
            html(&display_type(data_type))
        )?;
    }
    writeln!(w, "      </TABLE>>];")
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
    let (required, unique) = cardinality(child, fk);
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

/// A column type as people write it: `timestamptz`, `varchar(50)`, `public.` dropped,
/// and an alias the files may use in the catalog's own name (`int` → `integer`,
/// `bigserial` → `bigint`, `bool` → `boolean`), so a diagram from the files and one from
/// the database say the same.
pub fn display_type(data_type: &str) -> String {
    let t = data_type.trim().to_lowercase();
    let t = t.strip_prefix("public.").unwrap_or(&t);
    let t = canonical_alias(t);
    let t = t.replace("character varying", "varchar");
    match t.split_once(" with time zone") {
        Some((time, rest)) => match time.split_once('(') {
            Some((word, precision)) => format!("{word}tz({precision}{rest}"),
            None => format!("{time}tz{rest}"),
        },
        None => t.replace(" without time zone", ""),
    }
}

/// `t` with a leading type alias (`int4`, `serial`, `float8`, `decimal(10,2)`, `char(3)`,
/// `int[]`) spelled as `format_type` spells it; other types as they are.
fn canonical_alias(t: &str) -> String {
    let end = t.find(['(', '[', ' ']).unwrap_or(t.len());
    let (base, rest) = t.split_at(end);
    let canonical = match base {
        "int" | "int4" | "serial" | "serial4" => "integer",
        "int8" | "bigserial" | "serial8" => "bigint",
        "int2" | "smallserial" | "serial2" => "smallint",
        "bool" => "boolean",
        "float8" => "double precision",
        "float4" => "real",
        "decimal" => "numeric",
        "char" | "bpchar" => "character",
        "varchar" => "character varying",
        "timestamptz" => "timestamp with time zone",
        "timetz" => "time with time zone",
        "varbit" => "bit varying",
        _ => return t.to_string(),
    };
    // `char` alone is `character(1)`, as the catalog has it.
    if canonical == "character" && !rest.starts_with('(') {
        return format!("character(1){rest}");
    }
    format!("{canonical}{rest}")
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

/// The most Mermaid text GitHub renders in one diagram (Mermaid's `maxTextSize`), and
/// the most edges (`maxEdges`).
pub const GITHUB_MAX_TEXT: usize = 50_000;
pub const GITHUB_MAX_EDGES: usize = 500;

/// Writes the Mermaid diagram of `tables` (and `views`). When it would be more than
/// GitHub renders and `split` is on, it writes Markdown instead: one fenced diagram per
/// schema (or, in one schema, per connected group of tables, small groups packed
/// together), each with the foreign keys that leave it listed below, and returns a note
/// saying so for the user.
pub fn mermaid(
    w: &mut dyn Write,
    schema: &Schema,
    tables: &[&Table],
    views: &[View],
    split: bool,
) -> io::Result<Option<String>> {
    let mut whole = Vec::new();
    mermaid::of_tables(&mut whole, schema, tables, views)?;
    let edges = |text: &[u8]| {
        text.split(|b| *b == b'\n')
            .filter(|l| l.windows(2).any(|p| p == b"--" || p == b".."))
            .count()
    };
    let fits = |text: &[u8]| text.len() <= GITHUB_MAX_TEXT && edges(text) <= GITHUB_MAX_EDGES;
    if fits(&whole) || !split || tables.len() < 2 {
        w.write_all(&whole)?;
        return Ok(None);
    }
    let parts = parts(tables, views);
    let by = if parts
        .iter()
        .map(|p| &p.schema)
        .collect::<BTreeSet<_>>()
        .len()
        > 1
    {
        "schema"
    } else {
        "connected group of tables"
    };
    writeln!(w, "# Entity-relationship diagram\n")?;
    writeln!(
        w,
        "The whole diagram is {} characters of Mermaid with {} relationships, more than GitHub renders ({GITHUB_MAX_TEXT} characters, {GITHUB_MAX_EDGES} relationships), so it is split into {} diagrams by {by}. Foreign keys between diagrams are listed under each.\n",
        whole.len(),
        edges(&whole),
        parts.len()
    )?;
    let mut too_big = Vec::new();
    let part_of: std::collections::BTreeMap<&str, usize> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.tables.iter().map(move |t| (t.name.as_str(), i)))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let mut text = Vec::new();
        mermaid::of_tables(&mut text, schema, &part.tables, &part.views)?;
        let first = part.tables.first().map_or("", |t| t.name.as_str());
        let last = part.tables.last().map_or("", |t| t.name.as_str());
        writeln!(
            w,
            "## {} {}/{}: {} table{} ({first} … {last})\n",
            part.schema,
            i + 1,
            parts.len(),
            part.tables.len(),
            if part.tables.len() == 1 { "" } else { "s" }
        )?;
        writeln!(w, "```mermaid")?;
        w.write_all(&text)?;
        writeln!(w, "```\n")?;
        let mut leaving = Vec::new();
        for table in &part.tables {
            for fk in &table.foreign_keys {
                if let Some(&other) = part_of.get(fk.references_table.as_str()) {
                    if other != i {
                        leaving.push(format!(
                            "- `{}({})` → `{}` (diagram {})",
                            table.name,
                            fk.columns.join(", "),
                            fk.references_table,
                            other + 1
                        ));
                    }
                }
            }
        }
        if !leaving.is_empty() {
            writeln!(
                w,
                "Foreign keys to other diagrams:\n\n{}\n",
                leaving.join("\n")
            )?;
        }
        if !fits(&text) {
            too_big.push(format!(
                "{} {}/{} ({} tables)",
                part.schema,
                i + 1,
                parts.len(),
                part.tables.len()
            ));
        }
    }
    let mut note = format!(
        "the diagram is {} characters of Mermaid, more than GitHub renders ({GITHUB_MAX_TEXT}): wrote Markdown with {} diagrams, one per {by} (save it as `.md`; `--no-split` writes one diagram anyway)",
        whole.len(),
        parts.len()
    );
    if !too_big.is_empty() {
        note.push_str(&format!(
            "; still too big for GitHub: {} (draw it with `--around TABLE`, `--schema`, or `--format dot`)",
            too_big.join(", ")
        ));
    }
    Ok(Some(note))
}

/// One diagram of a split: the tables of one schema, or of some connected groups.
struct Part<'a> {
    schema: String,
    tables: Vec<&'a Table>,
    views: Vec<View>,
}

/// The tables split by schema, and each schema's tables by connected group (foreign keys
/// in either direction), groups packed in order into parts of at most a fair share of
/// GitHub's limit. A view goes with the first table it reads.
fn parts<'a>(tables: &[&'a Table], views: &[View]) -> Vec<Part<'a>> {
    use std::collections::BTreeMap;
    let mut by_schema: BTreeMap<&str, Vec<&'a Table>> = BTreeMap::new();
    for table in tables {
        by_schema
            .entry(schema_of(&table.name))
            .or_default()
            .push(table);
    }
    let size = |t: &Table| 40 + t.columns.len() * 40 + t.foreign_keys.len() * 60;
    let mut parts = Vec::new();
    for (name, members) in by_schema {
        let total: usize = members.iter().map(|t| size(t)).sum();
        if total <= GITHUB_MAX_TEXT * 9 / 10 {
            parts.push(Part {
                schema: name.to_string(),
                tables: members,
                views: Vec::new(),
            });
            continue;
        }
        // Connected groups, by union-find over the foreign keys inside the schema.
        let index: BTreeMap<&str, usize> = members
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        let mut root: Vec<usize> = (0..members.len()).collect();
        fn find(root: &mut [usize], i: usize) -> usize {
            let mut i = i;
            while root[i] != i {
                root[i] = root[root[i]];
                i = root[i];
            }
            i
        }
        for (i, table) in members.iter().enumerate() {
            for fk in &table.foreign_keys {
                if let Some(&j) = index.get(fk.references_table.as_str()) {
                    let (a, b) = (find(&mut root, i), find(&mut root, j));
                    root[a] = b;
                }
            }
        }
        let mut groups: BTreeMap<usize, Vec<&'a Table>> = BTreeMap::new();
        for (i, table) in members.iter().enumerate() {
            let r = find(&mut root, i);
            groups.entry(r).or_default().push(table);
        }
        let mut groups: Vec<Vec<&'a Table>> = groups.into_values().collect();
        groups.sort_by(|a, b| {
            b.len()
                .cmp(&a.len())
                .then_with(|| a[0].name.cmp(&b[0].name))
        });
        let mut current: Vec<&'a Table> = Vec::new();
        let mut current_size = 0;
        for group in groups {
            let group_size: usize = group.iter().map(|t| size(t)).sum();
            if !current.is_empty() && current_size + group_size > GITHUB_MAX_TEXT * 9 / 10 {
                current.sort_by(|a, b| a.name.cmp(&b.name));
                parts.push(Part {
                    schema: name.to_string(),
                    tables: std::mem::take(&mut current),
                    views: Vec::new(),
                });
                current_size = 0;
            }
            current_size += group_size;
            current.extend(group);
        }
        if !current.is_empty() {
            current.sort_by(|a, b| a.name.cmp(&b.name));
            parts.push(Part {
                schema: name.to_string(),
                tables: current,
                views: Vec::new(),
            });
        }
    }
    for view in views {
        let home = parts
            .iter()
            .position(|p| {
                view.reads
                    .iter()
                    .any(|r| p.tables.iter().any(|t| t.name == *r))
            })
            .unwrap_or(0);
        if let Some(part) = parts.get_mut(home) {
            let mut view = view.clone();
            view.reads
                .retain(|r| part.tables.iter().any(|t| t.name == *r));
            part.views.push(view);
        }
    }
    parts
}
