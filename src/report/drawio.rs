//! The schema as an uncompressed draw.io file: one table shape per table (draw.io's ER
//! "table" shape, a row per column with its key marks), one entity-relation edge per
//! foreign key between the column rows, ids derived from the names
//! (`dbkit:table:public.contract`, `dbkit:column:public.contract.id`,
//! `dbkit:fk:public.contract_party.contract_party_contract_id_fkey`) so a later run can
//! find its own shapes, and a first layout in columns by foreign-key depth (referenced
//! tables left of the tables that reference them), which never overlaps.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use crate::ddl::model::{Schema, Table};
use crate::ddl::summary::Relationship;
use crate::report::erd::display_type;

/// Width of a table shape, and of its key-mark cell.
const WIDTH: u32 = 260;
const KEY_WIDTH: u32 = 50;
/// Height of the title and of each column row.
const ROW: u32 = 26;
/// Space between columns of tables and between tables in a column.
const GAP_X: u32 = 120;
const GAP_Y: u32 = 40;
const MARGIN: u32 = 40;

/// A table's id: schema-qualified even in `public`.
pub fn table_id(name: &str) -> String {
    format!("dbkit:table:{}", qualified(name))
}

/// A column row's id.
pub fn column_id(table: &str, column: &str) -> String {
    format!("dbkit:column:{}.{column}", qualified(table))
}

/// A foreign key's id, by its constraint name (PostgreSQL's default name when the files
/// gave none).
pub fn fk_id(table: &str, fk: &Relationship) -> String {
    let short = table.rsplit('.').next().unwrap_or(table);
    let name = fk
        .name
        .clone()
        .unwrap_or_else(|| format!("{short}_{}_fkey", fk.columns.join("_")));
    format!("dbkit:fk:{}.{name}", qualified(table))
}

fn qualified(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("public.{name}")
    }
}

/// Where each table goes in a first layout: its column is its foreign-key depth (0 for a
/// table that references no other drawn table), tables stacked in name order within it.
pub fn layout(tables: &[&Table]) -> BTreeMap<String, (u32, u32, u32, u32)> {
    let shown: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let by_name: BTreeMap<&str, &Table> = tables.iter().map(|t| (t.name.as_str(), *t)).collect();
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    fn depth_of<'a>(
        name: &'a str,
        by_name: &BTreeMap<&'a str, &'a Table>,
        shown: &BTreeSet<&str>,
        depth: &mut BTreeMap<&'a str, usize>,
        visiting: &mut BTreeSet<&'a str>,
    ) -> usize {
        if let Some(d) = depth.get(name) {
            return *d;
        }
        // A cycle of foreign keys: the table on it that is reached again counts as 0.
        if !visiting.insert(name) {
            return 0;
        }
        let d = by_name[name]
            .foreign_keys
            .iter()
            .map(|fk| fk.references_table.as_str())
            .filter(|p| *p != name && shown.contains(p))
            .map(|p| 1 + depth_of(p, by_name, shown, depth, visiting))
            .max()
            .unwrap_or(0);
        visiting.remove(name);
        depth.insert(name, d);
        d
    }
    for table in tables {
        depth_of(
            &table.name,
            &by_name,
            &shown,
            &mut depth,
            &mut BTreeSet::new(),
        );
    }
    let mut next_y: BTreeMap<usize, u32> = BTreeMap::new();
    let mut placed = BTreeMap::new();
    for table in tables {
        let column = depth[table.name.as_str()];
        let y = next_y.entry(column).or_insert(MARGIN);
        let height = ROW * (1 + table.columns.len() as u32);
        let x = MARGIN + column as u32 * (WIDTH + GAP_X);
        placed.insert(table.name.clone(), (x, *y, WIDTH, height));
        *y += height + GAP_Y;
    }
    placed
}

/// Writes the whole file.
pub fn write(w: &mut dyn Write, tables: &[&Table], schema: &Schema) -> io::Result<()> {
    let _ = schema;
    let placed = layout(tables);
    writeln!(w, "<mxfile host=\"dbkit\" type=\"device\">")?;
    writeln!(w, "  <diagram id=\"dbkit:schema\" name=\"schema\">")?;
    writeln!(
        w,
        "    <mxGraphModel grid=\"1\" gridSize=\"10\" guides=\"1\" tooltips=\"1\" connect=\"1\" arrows=\"1\" fold=\"1\" page=\"0\" pageScale=\"1\" math=\"0\" shadow=\"0\">"
    )?;
    writeln!(w, "      <root>")?;
    writeln!(w, "        <mxCell id=\"0\"/>")?;
    writeln!(w, "        <mxCell id=\"1\" parent=\"0\"/>")?;
    for table in tables {
        let geometry = placed[&table.name];
        table_cells(w, table, geometry)?;
    }
    let shown: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    for table in tables {
        for fk in &table.foreign_keys {
            if shown.contains(fk.references_table.as_str()) {
                edge(w, table, fk)?;
            }
        }
    }
    writeln!(w, "      </root>")?;
    writeln!(w, "    </mxGraphModel>")?;
    writeln!(w, "  </diagram>")?;
    writeln!(w, "</mxfile>")
}

const TABLE_STYLE: &str = "shape=table;startSize=26;container=1;collapsible=1;childLayout=tableLayout;fixedRows=1;rowLines=0;fontStyle=1;align=center;resizeLast=1;html=1;fillColor=#dae8fc;strokeColor=#6c8ebf;";
const ROW_STYLE: &str = "shape=tableRow;horizontal=0;startSize=0;swimlaneHead=0;swimlaneBody=0;fillColor=none;collapsible=0;dropTarget=0;points=[[0,0.5],[1,0.5]];portConstraint=eastwest;top=0;left=0;right=0;bottom=0;html=1;";
const KEY_STYLE: &str = "shape=partialRectangle;connectable=0;fillColor=none;top=0;left=0;bottom=0;right=0;fontStyle=1;overflow=hidden;whiteSpace=wrap;html=1;";
const NAME_STYLE: &str = "shape=partialRectangle;connectable=0;fillColor=none;top=0;left=0;bottom=0;right=0;align=left;spacingLeft=6;overflow=hidden;whiteSpace=wrap;html=1;";

fn table_cells(
    w: &mut dyn Write,
    table: &Table,
    (x, y, width, height): (u32, u32, u32, u32),
) -> io::Result<()> {
    let id = table_id(&table.name);
    writeln!(
        w,
        "        <mxCell id=\"{}\" value=\"{}\" style=\"{TABLE_STYLE}\" vertex=\"1\" parent=\"1\">",
        xml(&id),
        xml(&table.name)
    )?;
    writeln!(
        w,
        "          <mxGeometry x=\"{x}\" y=\"{y}\" width=\"{width}\" height=\"{height}\" as=\"geometry\"/>"
    )?;
    writeln!(w, "        </mxCell>")?;
    let foreign: BTreeSet<&str> = table
        .foreign_keys
        .iter()
        .flat_map(|fk| fk.columns.iter().map(String::as_str))
        .collect();
    for (i, column) in table.columns.iter().enumerate() {
        let row = column_id(&table.name, &column.name);
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
        let null = if column.nullable { "" } else { " NOT NULL" };
        let text = format!("{} {}{null}", column.name, display_type(&column.data_type));
        let row_y = ROW * (1 + i as u32);
        writeln!(
            w,
            "        <mxCell id=\"{}\" value=\"\" style=\"{ROW_STYLE}\" vertex=\"1\" parent=\"{}\">",
            xml(&row),
            xml(&id)
        )?;
        writeln!(
            w,
            "          <mxGeometry y=\"{row_y}\" width=\"{width}\" height=\"{ROW}\" as=\"geometry\"/>"
        )?;
        writeln!(w, "        </mxCell>")?;
        writeln!(
            w,
            "        <mxCell id=\"{}:keys\" value=\"{}\" style=\"{KEY_STYLE}\" vertex=\"1\" parent=\"{}\">",
            xml(&row),
            keys.join(","),
            xml(&row)
        )?;
        writeln!(
            w,
            "          <mxGeometry width=\"{KEY_WIDTH}\" height=\"{ROW}\" as=\"geometry\"/>"
        )?;
        writeln!(w, "        </mxCell>")?;
        writeln!(
            w,
            "        <mxCell id=\"{}:name\" value=\"{}\" style=\"{NAME_STYLE}\" vertex=\"1\" parent=\"{}\">",
            xml(&row),
            xml(&text),
            xml(&row)
        )?;
        writeln!(
            w,
            "          <mxGeometry x=\"{KEY_WIDTH}\" width=\"{}\" height=\"{ROW}\" as=\"geometry\"/>",
            width - KEY_WIDTH
        )?;
        writeln!(w, "        </mxCell>")?;
    }
    Ok(())
}

fn edge(w: &mut dyn Write, child: &Table, fk: &Relationship) -> io::Result<()> {
    let required = fk
        .columns
        .iter()
        .all(|c| child.column(c).is_some_and(|c| !c.nullable));
    let unique = fk.columns.iter().collect::<BTreeSet<_>>()
        == child.primary_key.iter().collect::<BTreeSet<_>>()
        || matches!(fk.columns.as_slice(), [one] if child.column(one).is_some_and(|c| c.unique));
    let parent_end = if required { "ERmandOne" } else { "ERzeroToOne" };
    let child_end = if unique {
        "ERzeroToOne"
    } else {
        "ERzeroToMany"
    };
    let source = column_id(&child.name, fk.columns.first().map_or("", String::as_str));
    let target = column_id(
        &fk.references_table,
        fk.references_columns.first().map_or("", String::as_str),
    );
    writeln!(
        w,
        "        <mxCell id=\"{}\" style=\"edgeStyle=entityRelationEdgeStyle;html=1;rounded=0;startArrow={child_end};startFill=0;endArrow={parent_end};endFill=0;\" edge=\"1\" parent=\"1\" source=\"{}\" target=\"{}\">",
        xml(&fk_id(&child.name, fk)),
        xml(&source),
        xml(&target)
    )?;
    writeln!(w, "          <mxGeometry relative=\"1\" as=\"geometry\"/>")?;
    writeln!(w, "        </mxCell>")
}

/// Text for an XML attribute.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
