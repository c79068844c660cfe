//! The schema as an uncompressed draw.io file: one table shape per table (draw.io's ER
//! "table" shape, a row per column with its key marks), one entity-relation edge per
//! foreign key between the column rows, ids derived from the names
//! (`dbkit:table:public.contract`, `dbkit:column:public.contract.id`,
//! `dbkit:fk:public.contract_party.contract_party_contract_id_fkey`) so a later run can
//! find its own shapes, and a first layout in columns by foreign-key depth (referenced
//! tables left of the tables that reference them), which never overlaps. [`update`]
//! brings an existing file up to date and keeps its layout and everything else in it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use crate::ddl::model::Table;
use crate::ddl::summary::Relationship;
use crate::report::erd::{cardinality, display_type, View};

pub mod update;

/// Width of a table shape, and of its key-mark cell.
const WIDTH: u32 = 260;
const KEY_WIDTH: u32 = 50;
/// Height of the title and of each column row.
const ROW: u32 = 26;
/// Space between columns of tables and between tables in a column.
const GAP_X: u32 = 120;
const GAP_Y: u32 = 40;
const MARGIN: u32 = 40;

/// The id of the layer dbkit's shapes go in, in a new file.
const LAYER: &str = "1";
/// Indentation of a cell in the files dbkit writes.
const INDENT: &str = "        ";

const TABLE_STYLE: &str = "shape=table;startSize=26;container=1;collapsible=1;childLayout=tableLayout;fixedRows=1;rowLines=0;fontStyle=1;align=center;resizeLast=1;html=1;fillColor=#dae8fc;strokeColor=#6c8ebf;";
const ROW_STYLE: &str = "shape=tableRow;horizontal=0;startSize=0;swimlaneHead=0;swimlaneBody=0;fillColor=none;collapsible=0;dropTarget=0;points=[[0,0.5],[1,0.5]];portConstraint=eastwest;top=0;left=0;right=0;bottom=0;html=1;";
const KEY_STYLE: &str = "shape=partialRectangle;connectable=0;fillColor=none;top=0;left=0;bottom=0;right=0;fontStyle=1;overflow=hidden;whiteSpace=wrap;html=1;";
const NAME_STYLE: &str = "shape=partialRectangle;connectable=0;fillColor=none;top=0;left=0;bottom=0;right=0;align=left;spacingLeft=6;overflow=hidden;whiteSpace=wrap;html=1;";
const VIEW_STYLE: &str = "shape=table;startSize=26;container=1;collapsible=1;childLayout=tableLayout;fixedRows=1;rowLines=0;fontStyle=3;align=center;resizeLast=1;html=1;fillColor=#d5e8d4;strokeColor=#82b366;dashed=1;";
const DEPENDS_STYLE: &str = "edgeStyle=entityRelationEdgeStyle;html=1;rounded=0;dashed=1;endArrow=open;endFill=0;startArrow=none;strokeColor=#82b366;";

/// A table's id: schema-qualified even in `public`.
pub fn table_id(name: &str) -> String {
    format!("dbkit:table:{}", qualified(name))
}

/// A view's id.
pub fn view_id(name: &str) -> String {
    format!("dbkit:view:{}", qualified(name))
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

/// The id of the dashed edge from a view to a table (or view) it reads.
pub fn depends_id(view: &str, on: &str) -> String {
    format!("dbkit:uses:{}:{}", qualified(view), qualified(on))
}

fn qualified(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("public.{name}")
    }
}

/// One entity to draw: a table, or a view with the `--views` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// The model's name (`contract`, `billing.invoice`).
    pub name: String,
    pub id: String,
    /// What the title shows.
    pub title: String,
    pub view: bool,
    pub rows: Vec<Row>,
    /// Tables this entity's foreign keys (a table) or query (a view) point at, for the
    /// layout's depth.
    pub points_at: Vec<String>,
}

/// One column row: its id, its key marks (`PK,FK`) and its text (`id bigint NOT NULL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub keys: String,
    pub text: String,
}

/// One edge: a foreign key between two column rows, or a view's use of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub id: String,
    /// The ids of the entities the edge starts at (the referencing table, the view) and
    /// ends at.
    pub from: String,
    pub to: String,
    pub source: String,
    pub target: String,
    /// The style's `startArrow` (the child's end) and `endArrow` (the parent's end).
    pub start_arrow: &'static str,
    pub end_arrow: &'static str,
    pub depends: bool,
}

impl Edge {
    fn style(&self) -> String {
        if self.depends {
            return DEPENDS_STYLE.to_string();
        }
        format!(
            "edgeStyle=entityRelationEdgeStyle;html=1;rounded=0;startArrow={};startFill=0;endArrow={};endFill=0;",
            self.start_arrow, self.end_arrow
        )
    }
}

/// The entities for `tables` (and `views`), in that order.
pub fn entities(tables: &[&Table], views: &[View]) -> Vec<Entity> {
    let mut all: Vec<Entity> = tables.iter().map(|t| table_entity(t)).collect();
    for view in views {
        all.push(Entity {
            name: view.name.clone(),
            id: view_id(&view.name),
            title: format!("{} (view)", view.name),
            view: true,
            rows: view
                .columns
                .iter()
                .map(|(name, data_type)| Row {
                    id: column_id(&view.name, name),
                    keys: String::new(),
                    text: if data_type.is_empty() {
                        name.clone()
                    } else {
                        format!("{name} {}", display_type(data_type))
                    },
                })
                .collect(),
            points_at: view.reads.clone(),
        });
    }
    all
}

fn table_entity(table: &Table) -> Entity {
    let foreign: BTreeSet<&str> = table
        .foreign_keys
        .iter()
        .flat_map(|fk| fk.columns.iter().map(String::as_str))
        .collect();
    let rows = table
        .columns
        .iter()
        .map(|column| {
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
            Row {
                id: column_id(&table.name, &column.name),
                keys: keys.join(","),
                text: format!("{} {}{null}", column.name, display_type(&column.data_type)),
            }
        })
        .collect();
    Entity {
        name: table.name.clone(),
        id: table_id(&table.name),
        title: table.name.clone(),
        view: false,
        rows,
        points_at: table
            .foreign_keys
            .iter()
            .map(|fk| fk.references_table.clone())
            .collect(),
    }
}

/// The edges among `shown` entities: one per foreign key whose referenced table is
/// shown, and one per table (or view) a shown view reads.
pub fn edges(tables: &[&Table], views: &[View], shown: &BTreeSet<String>) -> Vec<Edge> {
    let mut all = Vec::new();
    for table in tables {
        for fk in &table.foreign_keys {
            if !shown.contains(&fk.references_table) {
                continue;
            }
            let (required, unique) = cardinality(table, fk);
            all.push(Edge {
                id: fk_id(&table.name, fk),
                from: table_id(&table.name),
                to: table_id(&fk.references_table),
                source: column_id(&table.name, fk.columns.first().map_or("", String::as_str)),
                target: column_id(
                    &fk.references_table,
                    fk.references_columns.first().map_or("", String::as_str),
                ),
                start_arrow: if unique {
                    "ERzeroToOne"
                } else {
                    "ERzeroToMany"
                },
                end_arrow: if required { "ERmandOne" } else { "ERzeroToOne" },
                depends: false,
            });
        }
    }
    for view in views {
        for read in &view.reads {
            if shown.contains(read) && *read != view.name {
                let to = if views.iter().any(|v| v.name == *read) {
                    view_id(read)
                } else {
                    table_id(read)
                };
                all.push(Edge {
                    id: depends_id(&view.name, read),
                    from: view_id(&view.name),
                    source: view_id(&view.name),
                    target: to.clone(),
                    to,
                    start_arrow: "none",
                    end_arrow: "open",
                    depends: true,
                });
            }
        }
    }
    all
}

/// The height of an entity with `rows` rows.
fn height(rows: usize) -> u32 {
    ROW * (1 + rows as u32)
}

/// Where each entity goes in a first layout: its column is its depth (0 for an entity
/// that points at no other drawn entity), entities stacked in order within it; the
/// whole layout starts at `origin`.
pub fn layout(entities: &[Entity], origin: (i64, i64)) -> BTreeMap<String, (i64, i64, u32, u32)> {
    let by_name: BTreeMap<&str, &Entity> = entities.iter().map(|e| (e.name.as_str(), e)).collect();
    fn depth_of<'a>(
        name: &'a str,
        by_name: &BTreeMap<&'a str, &'a Entity>,
        depth: &mut BTreeMap<&'a str, usize>,
        visiting: &mut BTreeSet<&'a str>,
    ) -> usize {
        if let Some(d) = depth.get(name) {
            return *d;
        }
        // A cycle of foreign keys: the entity on it that is reached again counts as 0.
        if !visiting.insert(name) {
            return 0;
        }
        let d = by_name[name]
            .points_at
            .iter()
            .map(String::as_str)
            .filter(|p| *p != name && by_name.contains_key(p))
            .map(|p| 1 + depth_of(p, by_name, depth, visiting))
            .max()
            .unwrap_or(0);
        visiting.remove(name);
        depth.insert(name, d);
        d
    }
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    for entity in entities {
        depth_of(&entity.name, &by_name, &mut depth, &mut BTreeSet::new());
    }
    let mut next_y: BTreeMap<usize, i64> = BTreeMap::new();
    let mut placed = BTreeMap::new();
    for entity in entities {
        let column = depth[entity.name.as_str()];
        let y = next_y.entry(column).or_insert(origin.1);
        let height = height(entity.rows.len());
        let x = origin.0 + (column as u32 * (WIDTH + GAP_X)) as i64;
        placed.insert(entity.name.clone(), (x, *y, WIDTH, height));
        *y += (height + GAP_Y) as i64;
    }
    placed
}

/// Writes the whole file.
pub fn write(w: &mut dyn Write, entities: &[Entity], edges: &[Edge]) -> io::Result<()> {
    let placed = layout(entities, (MARGIN as i64, MARGIN as i64));
    writeln!(w, "<mxfile host=\"dbkit\" type=\"device\">")?;
    writeln!(w, "  <diagram id=\"dbkit:schema\" name=\"schema\">")?;
    writeln!(
        w,
        "    <mxGraphModel grid=\"1\" gridSize=\"10\" guides=\"1\" tooltips=\"1\" connect=\"1\" arrows=\"1\" fold=\"1\" page=\"0\" pageScale=\"1\" math=\"0\" shadow=\"0\">"
    )?;
    writeln!(w, "      <root>")?;
    writeln!(w, "{INDENT}<mxCell id=\"0\"/>")?;
    writeln!(w, "{INDENT}<mxCell id=\"{LAYER}\" parent=\"0\"/>")?;
    for entity in entities {
        let mut text = String::new();
        entity_cells(&mut text, entity, placed[&entity.name], LAYER);
        w.write_all(text.as_bytes())?;
    }
    for edge in edges {
        let mut text = String::new();
        edge_cell(&mut text, edge, LAYER);
        w.write_all(text.as_bytes())?;
    }
    writeln!(w, "      </root>")?;
    writeln!(w, "    </mxGraphModel>")?;
    writeln!(w, "  </diagram>")?;
    writeln!(w, "</mxfile>")
}

/// An entity's cells, each line indented and ended.
fn entity_cells(
    out: &mut String,
    entity: &Entity,
    (x, y, width, height): (i64, i64, u32, u32),
    layer: &str,
) {
    let style = if entity.view { VIEW_STYLE } else { TABLE_STYLE };
    out.push_str(&format!(
        "{INDENT}<mxCell id=\"{}\" value=\"{}\" style=\"{style}\" vertex=\"1\" parent=\"{}\">\n{INDENT}  <mxGeometry x=\"{x}\" y=\"{y}\" width=\"{width}\" height=\"{height}\" as=\"geometry\"/>\n{INDENT}</mxCell>\n",
        xml(&entity.id),
        xml(&entity.title),
        xml(layer)
    ));
    for (i, row) in entity.rows.iter().enumerate() {
        row_cells(out, row, &entity.id, ROW * (1 + i as u32), width);
    }
}

/// A row's three cells (the row, its key marks, its text).
fn row_cells(out: &mut String, row: &Row, parent: &str, y: u32, width: u32) {
    let id = xml(&row.id);
    out.push_str(&format!(
        "{INDENT}<mxCell id=\"{id}\" value=\"\" style=\"{ROW_STYLE}\" vertex=\"1\" parent=\"{}\">\n{INDENT}  <mxGeometry y=\"{y}\" width=\"{width}\" height=\"{ROW}\" as=\"geometry\"/>\n{INDENT}</mxCell>\n",
        xml(parent)
    ));
    out.push_str(&format!(
        "{INDENT}<mxCell id=\"{id}:keys\" value=\"{}\" style=\"{KEY_STYLE}\" vertex=\"1\" parent=\"{id}\">\n{INDENT}  <mxGeometry width=\"{KEY_WIDTH}\" height=\"{ROW}\" as=\"geometry\"/>\n{INDENT}</mxCell>\n",
        xml(&row.keys)
    ));
    out.push_str(&format!(
        "{INDENT}<mxCell id=\"{id}:name\" value=\"{}\" style=\"{NAME_STYLE}\" vertex=\"1\" parent=\"{id}\">\n{INDENT}  <mxGeometry x=\"{KEY_WIDTH}\" width=\"{}\" height=\"{ROW}\" as=\"geometry\"/>\n{INDENT}</mxCell>\n",
        xml(&row.text),
        width.saturating_sub(KEY_WIDTH)
    ));
}

fn edge_cell(out: &mut String, edge: &Edge, layer: &str) {
    out.push_str(&format!(
        "{INDENT}<mxCell id=\"{}\" style=\"{}\" edge=\"1\" parent=\"{}\" source=\"{}\" target=\"{}\">\n{INDENT}  <mxGeometry relative=\"1\" as=\"geometry\"/>\n{INDENT}</mxCell>\n",
        xml(&edge.id),
        edge.style(),
        xml(layer),
        xml(&edge.source),
        xml(&edge.target)
    ));
}

/// Text for an XML attribute.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
