//! A Mermaid `erDiagram` of the tables some migrations touch and their direct neighbours,
//! from the schema model after those migrations, for a pull request (GitHub renders it)
//! or for `database/diagrams/`. Only the tables in the diagram and the foreign keys
//! between them are drawn; the model itself is `ddl::model`'s.

use std::collections::BTreeSet;
use std::io::{self, Write};

use crate::ddl::model::{Schema, Table};
use crate::ddl::summary::Relationship;
use crate::report::erd::View;

/// Writes the diagram of `touched` and their neighbours, plain (`erDiagram` first).
/// Partitions are not drawn: their parent stands for them, with a comment naming them.
pub fn diagram(w: &mut dyn Write, schema: &Schema, touched: &BTreeSet<String>) -> io::Result<()> {
    let tables: Vec<&Table> = tables(schema, touched)
        .iter()
        .filter_map(|name| schema.tables.get(name))
        .collect();
    of_tables(w, schema, &tables, &[])
}

/// Writes the diagram of exactly these tables (partitions are folded into their parent
/// by the caller) and the foreign keys between them.
pub fn of_tables(
    w: &mut dyn Write,
    schema: &Schema,
    tables: &[&Table],
    views: &[View],
) -> io::Result<()> {
    let shown: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    writeln!(w, "erDiagram")?;
    if tables.is_empty() {
        writeln!(w, "    %% no tables touched")?;
    }
    for table in tables {
        let partitions: Vec<&str> = schema
            .tables
            .values()
            .filter(|t| parent(schema, t) == Some(table.name.as_str()))
            .map(|t| t.name.as_str())
            .collect();
        if !partitions.is_empty() {
            let (name, list) = (&table.name, partitions.join(", "));
            writeln!(
                w,
                "    %% {name} is partitioned (partitions not drawn): {list}"
            )?;
        }
    }
    for table in tables {
        for fk in &table.foreign_keys {
            if shown.contains(fk.references_table.as_str()) {
                relationship(w, table, fk)?;
            }
        }
    }
    for view in views {
        for read in &view.reads {
            writeln!(
                w,
                "    {} }}o..o{{ {} : \"reads\"",
                entity_name(&view.name),
                entity_name(read)
            )?;
        }
    }
    for table in tables {
        entity(w, table)?;
    }
    for view in views {
        // An alias marks it a view where the name is a plain word (Mermaid's alias
        // syntax takes no quoted name).
        let name = entity_name(&view.name);
        if name.starts_with('"') {
            writeln!(w, "    {name} {{")?;
        } else {
            writeln!(w, "    {name}[\"{name} (view)\"] {{")?;
        }
        for (column, data_type) in &view.columns {
            let data_type = if data_type.is_empty() {
                "unknown".to_string()
            } else {
                type_token(data_type)
            };
            writeln!(w, "        {data_type} {}", word(column))?;
        }
        writeln!(w, "    }}")?;
    }
    Ok(())
}

/// The diagram in a ```` ```mermaid ```` fence under a heading, for a pull-request comment.
pub fn markdown(w: &mut dyn Write, schema: &Schema, touched: &BTreeSet<String>) -> io::Result<()> {
    writeln!(w, "### Tables touched and their neighbours\n")?;
    writeln!(w, "```mermaid")?;
    diagram(w, schema, touched)?;
    writeln!(w, "```")
}

/// The touched tables (a partition's parent for a partition) and every table with a
/// foreign key to or from one of them, partitions left out.
fn tables(schema: &Schema, touched: &BTreeSet<String>) -> BTreeSet<String> {
    let unpartitioned = |name: &String| {
        schema
            .tables
            .get(name)
            .and_then(|t| parent(schema, t))
            .map_or_else(|| name.clone(), str::to_string)
    };
    let touched: BTreeSet<String> = touched.iter().map(unpartitioned).collect();
    let mut all = touched.clone();
    for table in &touched {
        all.extend(schema.neighbours(table));
    }
    all.retain(|name| {
        schema
            .tables
            .get(name)
            .is_none_or(|t| t.partition_of.is_none())
    });
    all
}

/// The table a partition belongs to: `partition_of` is its name then its bounds.
pub fn parent<'a>(schema: &'a Schema, table: &Table) -> Option<&'a str> {
    let of = table.partition_of.as_deref()?;
    schema
        .tables
        .keys()
        .filter(|name| of == name.as_str() || of.starts_with(&format!("{name} ")))
        .max_by_key(|name| name.len())
        .map(String::as_str)
}

/// `parent ||--o{ child : "column"`: the child's side is one-or-none when the key is
/// unique in the child; the parent's side is optional when a key column is nullable.
fn relationship(w: &mut dyn Write, child: &Table, fk: &Relationship) -> io::Result<()> {
    let (required, unique) = crate::report::erd::cardinality(child, fk);
    let parent_side = if required { "||" } else { "|o" };
    let child_side = if unique { "o|" } else { "o{" };
    writeln!(
        w,
        "    {} {parent_side}--{child_side} {} : \"{}\"",
        entity_name(&fk.references_table),
        entity_name(&child.name),
        fk.columns.join(", ").replace(['"', '%'], "_")
    )
}

fn entity(w: &mut dyn Write, table: &Table) -> io::Result<()> {
    let name = entity_name(&table.name);
    if table.columns.is_empty() {
        return writeln!(w, "    {name}");
    }
    writeln!(w, "    {name} {{")?;
    let foreign: BTreeSet<&str> = table
        .foreign_keys
        .iter()
        .flat_map(|fk| fk.columns.iter().map(String::as_str))
        .collect();
    for column in &table.columns {
        let primary = column.primary_key || table.primary_key.contains(&column.name);
        let keys: Vec<&str> = [
            (primary, "PK"),
            (foreign.contains(column.name.as_str()), "FK"),
            (column.unique, "UK"),
        ]
        .into_iter()
        .filter_map(|(on, key)| on.then_some(key))
        .collect();
        let keys = if keys.is_empty() {
            String::new()
        } else {
            format!(" {}", keys.join(", "))
        };
        // Mermaid's keys are PK, FK and UK; NOT NULL goes in the comment column.
        let comment = if !column.nullable && !primary {
            " \"not null\""
        } else {
            ""
        };
        let (data_type, column) = (type_token(&column.data_type), word(&column.name));
        writeln!(w, "        {data_type} {column}{keys}{comment}")?;
    }
    writeln!(w, "    }}")
}

/// Words Mermaid's `erDiagram` reads as its own (in any case), so a table with that name
/// is quoted; found by running Mermaid's parser over each as a bare entity name.
const KEYWORDS: &[&str] = &[
    "accdescr",
    "acctitle",
    "class",
    "classdef",
    "direction",
    "end",
    "erdiagram",
    "many",
    "one",
    "style",
    "subgraph",
    "title",
    "to",
];

/// A table name as Mermaid reads it: plain words as they are, anything else quoted
/// (a quoted name may not hold `"` or `%`).
fn entity_name(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name.to_ascii_lowercase().as_str());
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace(['"', '%'], "_"))
    }
}

/// A column type as one Mermaid word: `varchar(50)` → `varchar_50`,
/// `timestamp with time zone` → `timestamptz`, `character(3)` → `char_3`, `public.x` → `x`,
/// `text[]` → `text_array`.
fn type_token(data_type: &str) -> String {
    let t = crate::report::erd::display_type(data_type);
    let t = t
        .replace("character varying", "varchar")
        .replace("character", "char")
        .replace("[]", " array");
    let t = match t.split_once(" with time zone") {
        Some((time, rest)) => match time.split_once('(') {
            Some((word, precision)) => format!("{word}tz({precision}{rest}"),
            None => format!("{time}tz{rest}"),
        },
        None => t.replace(" without time zone", ""),
    };
    word(&t)
}

/// Any run of characters other than ASCII letters, digits and `_` made one `_`, so the
/// name is one Mermaid word; one that would start with a digit gets a leading `_`.
fn word(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_');
    match out.chars().next() {
        None => "unknown".to_string(),
        Some(first) if first.is_ascii_digit() => format!("_{out}"),
        Some(_) => out.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::summary::{At, ColumnDef};

    fn column(name: &str, data_type: &str, nullable: bool) -> ColumnDef {
        ColumnDef::new(name, data_type, nullable)
    }

    fn fk(table: &str, columns: &[&str], parent: &str) -> Relationship {
        Relationship {
            table: table.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            references_table: parent.into(),
            references_columns: vec!["id".into()],
            on_delete: None,
            on_update: None,
            name: None,
            not_valid: false,
            at: At {
                file: "m.sql".into(),
                line: 1,
            },
        }
    }

    fn table(name: &str, columns: Vec<ColumnDef>, foreign_keys: Vec<Relationship>) -> Table {
        Table {
            name: name.into(),
            columns: columns.into_iter().map(std::sync::Arc::new).collect(),
            primary_key: vec!["id".into()],
            foreign_keys,
            ..Table::default()
        }
    }

    /// `contract_clause` (touched) references `contract` (NOT NULL) and `app_user`
    /// (nullable); `organization` is a neighbour of `contract` only, so it is left out.
    /// `clause_event_0` (touched) is a partition: its parent is drawn instead.
    fn schema() -> Schema {
        let tables = [
            table("organization", vec![column("id", "bigint", false)], vec![]),
            table(
                "contract",
                vec![
                    column("id", "bigint", false),
                    column("organization_id", "bigint", false),
                    column("reference", "character varying(50)", true),
                    column("value", "numeric(12,2)", true),
                    column("status", "public.contract_status", false),
                ],
                vec![fk("contract", &["organization_id"], "organization")],
            ),
            table(
                "app_user",
                vec![
                    column("id", "bigint", false),
                    ColumnDef {
                        unique: true,
                        ..column("email", "text", false)
                    },
                ],
                vec![],
            ),
            table(
                "contract_clause",
                vec![
                    column("id", "bigint", false),
                    column("contract_id", "bigint", false),
                    column("reviewed_by", "bigint", true),
                    column("reviewed_at", "timestamp(3) with time zone", true),
                    column("tags", "text[]", true),
                ],
                vec![
                    fk("contract_clause", &["contract_id"], "contract"),
                    fk("contract_clause", &["reviewed_by"], "app_user"),
                ],
            ),
            Table {
                partition_by: Some("RANGE (id)".into()),
                ..table("clause_event", vec![column("id", "bigint", false)], vec![])
            },
            Table {
                partition_of: Some("clause_event FOR VALUES FROM (0) TO (1000)".into()),
                ..table(
                    "clause_event_0",
                    vec![column("id", "bigint", false)],
                    vec![],
                )
            },
            Table {
                partition_of: Some("clause_event DEFAULT".into()),
                ..table(
                    "clause_event_default",
                    vec![column("id", "bigint", false)],
                    vec![],
                )
            },
            table(
                "audit.clause log",
                vec![
                    column("id", "bigint", false),
                    column("clause_id", "bigint", false),
                ],
                vec![fk("audit.clause log", &["clause_id"], "contract_clause")],
            ),
        ];
        Schema {
            tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
            ..Schema::default()
        }
    }

    fn render(touched: &[&str], fenced: bool) -> String {
        colored::control::set_override(false);
        let touched = touched.iter().map(|t| t.to_string()).collect();
        let mut out = Vec::new();
        if fenced {
            markdown(&mut out, &schema(), &touched).unwrap();
        } else {
            diagram(&mut out, &schema(), &touched).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn diagram_of_a_touched_table_and_its_neighbours() {
        let out = render(&["contract_clause", "clause_event_0"], false);
        insta::assert_snapshot!("diagram", out);
    }

    #[test]
    fn markdown_fences_the_diagram() {
        let out = render(&["app_user"], true);
        assert!(out.contains("```mermaid\nerDiagram\n"), "{out}");
        assert!(out.ends_with("```\n"), "{out}");
    }

    #[test]
    fn types_become_single_words() {
        assert_eq!(type_token("varchar(50)"), "varchar_50");
        assert_eq!(type_token("character varying(50)"), "varchar_50");
        assert_eq!(type_token("character(3)"), "char_3");
        assert_eq!(type_token("timestamp with time zone"), "timestamptz");
        assert_eq!(type_token("timestamp(3) with time zone"), "timestamptz_3");
        assert_eq!(type_token("timestamp without time zone"), "timestamp");
        assert_eq!(type_token("numeric(12,2)"), "numeric_12_2");
        assert_eq!(type_token("public.contract_status"), "contract_status");
        assert_eq!(type_token("audit.level"), "audit_level");
        assert_eq!(type_token("text[]"), "text_array");
        assert_eq!(type_token("double precision"), "double_precision");
    }

    #[test]
    fn names_that_are_not_plain_words_are_quoted() {
        assert_eq!(entity_name("contract"), "contract");
        assert_eq!(entity_name("audit.log"), "\"audit.log\"");
        assert_eq!(entity_name("style"), "\"style\"");
        assert_eq!(entity_name("End"), "\"End\"");
        assert_eq!(entity_name("100% \"odd\""), "\"100_ _odd_\"");
    }
}
