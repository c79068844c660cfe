//! `er-diagram --update FILE`: an existing draw.io file brought up to date with the
//! schema, changing only what the schema changed. dbkit finds its own cells by their ids
//! (`dbkit:...`); everything else in the file is copied byte for byte.
//!
//! - An entity whose title and rows (ids, key marks, texts) are what the schema says is
//!   left exactly as it is, whatever was done to its geometry or style.
//! - A changed entity keeps its cell (geometry, style, anything added to it) with the
//!   title and height set; rows that still exist keep their bytes but their `y` and
//!   texts, new rows are written, gone rows are removed, all in the schema's order.
//! - A new entity goes in free space right of everything already drawn.
//! - A dropped entity is removed with its rows, or greyed and titled `(dropped)` with
//!   `keep_dropped`. Entities the schema still has but this run does not draw (outside
//!   `--schema` or `--around`) are left alone.
//! - Edges follow their foreign keys: kept, re-pointed, added, removed.
//!
//! Edits are byte ranges of the original text, so a file dbkit has nothing to change in
//! comes back identical, and a second run changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use roxmltree::{Document, Node};

use super::{
    edge_cell, entity_cells, layout, row_cells, xml, Edge, Entity, GAP_X, INDENT, MARGIN, ROW,
    TABLE_STYLE, VIEW_STYLE,
};
use crate::{Error, Result};

/// What an update changed, for the summary line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// New entities and where they were put.
    pub added: Vec<(String, i64, i64)>,
    pub changed: Vec<String>,
    /// Entities removed (or, with `keep_dropped`, greyed and marked).
    pub dropped: Vec<String>,
    pub edges_added: usize,
    pub edges_changed: usize,
    pub edges_removed: usize,
}

impl Changes {
    /// Nothing changed: the file is written back untouched.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// Marks of an entity the schema no longer has, with `keep_dropped`.
const DROPPED_MARK: &str = "dbkitDropped";
const DROPPED_FILL: &str = "#f5f5f5";
const DROPPED_STROKE: &str = "#b3b3b3";
const DROPPED_FONT: &str = "#999999";

/// One cell of the file: a top-level element of `<root>` (an `mxCell`, or an `object` /
/// `UserObject` wrapping one).
struct Cell<'a, 'input> {
    node: Node<'a, 'input>,
    /// The `mxCell` itself (`node`, or its child).
    cell: Node<'a, 'input>,
    id: String,
    parent: Option<String>,
}

impl<'a, 'input> Cell<'a, 'input> {
    fn of(node: Node<'a, 'input>) -> Option<Self> {
        let cell = if node.has_tag_name("mxCell") {
            node
        } else {
            node.children().find(|c| c.has_tag_name("mxCell"))?
        };
        Some(Cell {
            node,
            cell,
            id: node.attribute("id")?.to_string(),
            parent: cell.attribute("parent").map(str::to_string),
        })
    }

    /// The element and attribute that hold the shown text.
    fn value(&self) -> (Node<'a, 'input>, &'static str) {
        if self.node.has_tag_name("mxCell") {
            (self.node, "value")
        } else {
            (self.node, "label")
        }
    }

    fn text(&self) -> &str {
        let (node, attribute) = self.value();
        node.attribute(attribute).unwrap_or_default()
    }

    fn style(&self) -> &str {
        self.cell.attribute("style").unwrap_or_default()
    }

    fn geometry(&self) -> Option<Node<'a, 'input>> {
        self.cell.children().find(|c| c.has_tag_name("mxGeometry"))
    }

    fn number(&self, attribute: &str) -> Option<f64> {
        self.geometry()?.attribute(attribute)?.parse().ok()
    }
}

/// A replacement of `range` of the original text.
#[derive(Debug)]
struct Edit {
    range: Range<usize>,
    text: String,
}

/// Sets `attribute` of `node` to `value` (inserting it when missing); nothing when it
/// already has that value.
fn set(edits: &mut Vec<Edit>, node: Node, attribute: &str, value: &str) {
    match node.attributes().find(|a| a.name() == attribute) {
        Some(a) if a.value() == value => {}
        Some(a) => edits.push(Edit {
            range: a.range_value(),
            text: xml(value),
        }),
        None => {
            let at = node.range().start + 1 + node.tag_name().name().len();
            edits.push(Edit {
                range: at..at,
                text: format!(" {attribute}=\"{}\"", xml(value)),
            });
        }
    }
}

/// A style's `key=value;` entries with `key` set to `value` (removed for `None`).
fn restyle(style: &str, key: &str, value: Option<&str>) -> String {
    let mut found = false;
    let mut parts: Vec<String> = Vec::new();
    for part in style.split(';').filter(|p| !p.is_empty()) {
        let name = part.split('=').next().unwrap_or(part);
        if name == key {
            found = true;
            if let Some(value) = value {
                parts.push(format!("{key}={value}"));
            }
        } else {
            parts.push(part.to_string());
        }
    }
    if let (false, Some(value)) = (found, value) {
        parts.push(format!("{key}={value}"));
    }
    let mut out = parts.join(";");
    out.push(';');
    out
}

fn style_value<'s>(style: &'s str, key: &str) -> Option<&'s str> {
    style
        .split(';')
        .find_map(|p| p.strip_prefix(key)?.strip_prefix('='))
}

/// The text of `range` with the `edits` inside it applied.
fn splice(text: &str, range: Range<usize>, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out = String::new();
    let mut at = range.start;
    for edit in edits {
        out.push_str(&text[at..edit.range.start]);
        out.push_str(&edit.text);
        at = edit.range.end;
    }
    out.push_str(&text[at..range.end]);
    out
}

/// `range` widened back over the whitespace before it, so removing it leaves no blank
/// line.
fn with_space_before(text: &str, range: Range<usize>) -> Range<usize> {
    let start = text[..range.start]
        .trim_end_matches([' ', '\t', '\r', '\n'])
        .len();
    start..range.end
}

fn invalid(path: &Path, doc_text: &str, at: usize, reason: String) -> Error {
    let line = doc_text[..at.min(doc_text.len())].matches('\n').count() + 1;
    Error::Diagram {
        path: path.to_path_buf(),
        line,
        reason,
    }
}

/// The name an entity id stands for (`dbkit:table:public.contract` is `contract`).
fn name_of(id: &str) -> String {
    let qualified = id.splitn(3, ':').nth(2).unwrap_or(id);
    qualified
        .strip_prefix("public.")
        .unwrap_or(qualified)
        .to_string()
}

fn is_entity(id: &str) -> bool {
    id.starts_with("dbkit:table:") || id.starts_with("dbkit:view:")
}

/// `text` (the file at `path`) brought up to date: `entities` and `edges` are what this
/// run draws, `exists` the ids of every entity the whole schema has.
pub fn update(
    text: &str,
    path: &Path,
    entities: &[Entity],
    edges: &[Edge],
    exists: &BTreeSet<String>,
    keep_dropped: bool,
) -> Result<(String, Changes)> {
    let doc = Document::parse(text).map_err(|e| Error::Diagram {
        path: path.to_path_buf(),
        line: e.pos().row as usize,
        reason: format!("not a draw.io file dbkit can read: {e}"),
    })?;
    let roots: Vec<Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("mxGraphModel"))
        .filter_map(|m| m.children().find(|c| c.has_tag_name("root")))
        .collect();
    let Some(root) = roots
        .iter()
        .copied()
        .find(|r| {
            r.children()
                .any(|c| c.attribute("id").is_some_and(|id| id.starts_with("dbkit:")))
        })
        .or_else(|| roots.first().copied())
    else {
        let compressed = doc
            .descendants()
            .find(|n| n.has_tag_name("diagram") && n.text().is_some_and(|t| !t.trim().is_empty()));
        return Err(match compressed {
            Some(diagram) => invalid(
                path,
                text,
                diagram.range().start,
                "this draw.io file is compressed, and dbkit edits only uncompressed ones: in draw.io choose File > Properties, untick Compressed, save, and run again".into(),
            ),
            None => invalid(path, text, 0, "no draw.io diagram (`<mxGraphModel>` with a `<root>`) in this file".into()),
        });
    };

    let cells: Vec<Cell> = root.children().filter_map(Cell::of).collect();
    let by_id: BTreeMap<&str, usize> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    let mut children: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, cell) in cells.iter().enumerate() {
        if let Some(parent) = &cell.parent {
            children.entry(parent.as_str()).or_default().push(i);
        }
    }
    let descendants = |i: usize| -> Vec<usize> {
        let mut all = Vec::new();
        let mut todo = vec![i];
        while let Some(next) = todo.pop() {
            if let Some(kids) = children.get(cells[next].id.as_str()) {
                all.extend(kids);
                todo.extend(kids);
            }
        }
        all.sort_unstable();
        all
    };
    let base: BTreeSet<&str> = cells
        .iter()
        .filter(|c| c.parent.is_none())
        .map(|c| c.id.as_str())
        .collect();
    let layers: BTreeSet<&str> = cells
        .iter()
        .filter(|c| c.parent.as_deref().is_some_and(|p| base.contains(p)))
        .map(|c| c.id.as_str())
        .collect();
    let layer = cells
        .iter()
        .find(|c| is_entity(&c.id))
        .and_then(|c| c.parent.clone())
        .or_else(|| layers.iter().next().map(|l| l.to_string()))
        .ok_or_else(|| {
            invalid(
                path,
                text,
                root.range().start,
                "the diagram has no layer (an `mxCell` whose parent is the root cell) to draw in"
                    .into(),
            )
        })?;

    let mut edits: Vec<Edit> = Vec::new();
    let mut deleted: BTreeSet<usize> = BTreeSet::new();
    let mut changes = Changes::default();
    let delete = |i: usize, edits: &mut Vec<Edit>, deleted: &mut BTreeSet<usize>| {
        if deleted.insert(i) {
            edits.push(Edit {
                range: with_space_before(text, cells[i].node.range()),
                text: String::new(),
            });
        }
    };

    // Entities this run draws: reconcile the ones the file has, collect the new ones.
    let drawn: BTreeSet<&str> = entities.iter().map(|e| e.id.as_str()).collect();
    let mut new = Vec::new();
    for entity in entities {
        let Some(&at) = by_id.get(entity.id.as_str()) else {
            new.push(entity.clone());
            continue;
        };
        let cell = &cells[at];
        let rows: Vec<usize> = children
            .get(entity.id.as_str())
            .map(|kids| {
                kids.iter()
                    .copied()
                    .filter(|k| cells[*k].id.starts_with("dbkit:column:"))
                    .collect()
            })
            .unwrap_or_default();
        let part = |row: usize, suffix: &str| -> Option<usize> {
            let id = format!("{}:{suffix}", cells[row].id);
            children
                .get(cells[row].id.as_str())?
                .iter()
                .copied()
                .find(|k| cells[*k].id == id)
        };
        let marked = style_value(cell.style(), DROPPED_MARK).is_some();
        let same = cell.text() == entity.title
            && !marked
            && rows.len() == entity.rows.len()
            && rows.iter().zip(&entity.rows).all(|(&r, want)| {
                cells[r].id == want.id
                    && part(r, "keys").is_some_and(|k| cells[k].text() == want.keys)
                    && part(r, "name").is_some_and(|n| cells[n].text() == want.text)
            });
        if same {
            continue;
        }
        changes.changed.push(entity.name.clone());
        let (node, attribute) = cell.value();
        set(&mut edits, node, attribute, &entity.title);
        if marked {
            let default = if entity.view { VIEW_STYLE } else { TABLE_STYLE };
            let mut style = restyle(cell.style(), DROPPED_MARK, None);
            for key in ["fillColor", "strokeColor", "fontColor"] {
                style = restyle(&style, key, style_value(default, key));
            }
            set(&mut edits, cell.cell, "style", &style);
        }
        let width = cell
            .number("width")
            .map_or(super::WIDTH, |w| w.round() as u32);
        let start: u32 = style_value(cell.style(), "startSize")
            .and_then(|s| s.parse::<f64>().ok())
            .map_or(ROW, |s| s.round() as u32);
        let old_rows: BTreeMap<&str, usize> =
            rows.iter().map(|&r| (cells[r].id.as_str(), r)).collect();
        let mut block = String::new();
        let mut y = start;
        for row in &entity.rows {
            let kept = old_rows
                .get(row.id.as_str())
                .copied()
                .and_then(|r| Some((r, part(r, "keys")?, part(r, "name")?)));
            let Some((r, keys, name)) = kept else {
                row_cells(&mut block, row, &entity.id, y, width);
                y += ROW;
                continue;
            };
            let height = cells[r].number("height").map_or(ROW, |h| h.round() as u32);
            for i in std::iter::once(r).chain(descendants(r)) {
                let mut local = Vec::new();
                if let (true, Some(geometry)) = (i == r, cells[r].geometry()) {
                    set(&mut local, geometry, "y", &y.to_string());
                }
                if i == keys || i == name {
                    let (node, attribute) = cells[i].value();
                    let value = if i == keys { &row.keys } else { &row.text };
                    set(&mut local, node, attribute, value);
                }
                block.push_str(INDENT);
                block.push_str(&splice(text, cells[i].node.range(), local));
                block.push('\n');
            }
            y += height;
        }
        if let Some(geometry) = cell.geometry() {
            set(&mut edits, geometry, "height", &y.to_string());
        }
        for &r in &rows {
            for i in std::iter::once(r).chain(descendants(r)) {
                delete(i, &mut edits, &mut deleted);
            }
        }
        let end = cell.node.range().end;
        edits.push(Edit {
            range: end..end,
            text: format!("\n{}", block.strip_suffix('\n').unwrap_or(&block)),
        });
    }

    // Entities in the file this run does not draw: the schema's own are left alone, the
    // ones it no longer has are dropped.
    let mut present: BTreeSet<String> = drawn.iter().map(|d| d.to_string()).collect();
    let mut gone: BTreeSet<&str> = BTreeSet::new();
    for (i, cell) in cells.iter().enumerate() {
        if !is_entity(&cell.id) || drawn.contains(cell.id.as_str()) {
            continue;
        }
        if exists.contains(&cell.id) {
            present.insert(cell.id.clone());
            continue;
        }
        let name = name_of(&cell.id);
        gone.insert(cell.id.as_str());
        if keep_dropped {
            let title = format!("{name} (dropped)");
            let mut style = restyle(cell.style(), "fillColor", Some(DROPPED_FILL));
            style = restyle(&style, "strokeColor", Some(DROPPED_STROKE));
            style = restyle(&style, "fontColor", Some(DROPPED_FONT));
            style = restyle(&style, DROPPED_MARK, Some("1"));
            if cell.text() != title || cell.style() != style {
                let (node, attribute) = cell.value();
                set(&mut edits, node, attribute, &title);
                set(&mut edits, cell.cell, "style", &style);
                changes.dropped.push(name);
            }
        } else {
            for d in std::iter::once(i).chain(descendants(i)) {
                delete(d, &mut edits, &mut deleted);
            }
            changes.dropped.push(name);
        }
    }

    // Edges: the ones this run wants, kept or re-pointed or added; the other dbkit edges
    // removed unless both ends belong to entities left alone.
    let wanted: Vec<&Edge> = edges
        .iter()
        .filter(|e| drawn.contains(e.from.as_str()) && present.contains(&e.to))
        .collect();
    let wanted_ids: BTreeSet<&str> = wanted.iter().map(|e| e.id.as_str()).collect();
    let entity_of = |id: &str| -> Option<&str> {
        let mut at = *by_id.get(id)?;
        loop {
            if is_entity(&cells[at].id) {
                return Some(cells[at].id.as_str());
            }
            at = *by_id.get(cells[at].parent.as_deref()?)?;
        }
    };
    let left_alone = |end: Option<&str>| -> bool {
        end.and_then(|id| by_id.get(id).map(|&i| (id, i)))
            .is_some_and(|(id, i)| {
                !deleted.contains(&i)
                    && entity_of(id).is_some_and(|e| {
                        !drawn.contains(e) && !gone.contains(e) && present.contains(e)
                    })
            })
    };
    let unwanted: Vec<usize> = cells
        .iter()
        .enumerate()
        .filter(|(i, cell)| {
            let dbkit_edge = cell.id.starts_with("dbkit:fk:") || cell.id.starts_with("dbkit:uses:");
            let kept_by_others = left_alone(cell.cell.attribute("source"))
                && left_alone(cell.cell.attribute("target"));
            dbkit_edge
                && !wanted_ids.contains(cell.id.as_str())
                && !deleted.contains(i)
                && !kept_by_others
        })
        .map(|(i, _)| i)
        .collect();
    for i in unwanted {
        delete(i, &mut edits, &mut deleted);
        changes.edges_removed += 1;
    }
    let mut new_edges = Vec::new();
    for edge in wanted {
        let Some(&at) = by_id.get(edge.id.as_str()) else {
            new_edges.push(edge);
            continue;
        };
        let cell = &cells[at];
        let before = edits.len();
        set(&mut edits, cell.cell, "source", &edge.source);
        set(&mut edits, cell.cell, "target", &edge.target);
        if !edge.depends {
            let mut style = restyle(cell.style(), "startArrow", Some(edge.start_arrow));
            style = restyle(&style, "endArrow", Some(edge.end_arrow));
            let same = style_value(cell.style(), "startArrow") == Some(edge.start_arrow)
                && style_value(cell.style(), "endArrow") == Some(edge.end_arrow);
            if !same {
                set(&mut edits, cell.cell, "style", &style);
            }
        }
        if edits.len() > before {
            changes.edges_changed += 1;
        }
    }

    // New entities, right of everything drawn, then the new edges.
    if !new.is_empty() || !new_edges.is_empty() {
        let mut right: Option<f64> = None;
        let mut top: Option<f64> = None;
        for (i, cell) in cells.iter().enumerate() {
            let on_layer = cell.parent.as_deref().is_some_and(|p| layers.contains(p));
            if deleted.contains(&i) || !on_layer || cell.cell.attribute("vertex") != Some("1") {
                continue;
            }
            let x = cell.number("x").unwrap_or(0.0);
            let y = cell.number("y").unwrap_or(0.0);
            let w = cell.number("width").unwrap_or(0.0);
            right = Some(right.map_or(x + w, |r: f64| r.max(x + w)));
            top = Some(top.map_or(y, |t: f64| t.min(y)));
        }
        let origin = match (right, top) {
            (Some(right), Some(top)) => (
                ((right + f64::from(GAP_X)) / 10.0).ceil() as i64 * 10,
                (top / 10.0).floor() as i64 * 10,
            ),
            _ => (i64::from(MARGIN), i64::from(MARGIN)),
        };
        let placed = layout(&new, origin);
        let mut block = String::new();
        for entity in &new {
            let at = placed[&entity.name];
            entity_cells(&mut block, entity, at, &layer);
            changes.added.push((entity.name.clone(), at.0, at.1));
        }
        for edge in &new_edges {
            edge_cell(&mut block, edge, &layer);
        }
        changes.edges_added = new_edges.len();
        let end = root
            .children()
            .rfind(|c| c.is_element())
            .map_or_else(|| root.range().start + "<root>".len(), |c| c.range().end);
        edits.push(Edit {
            range: end..end,
            text: format!("\n{}", block.strip_suffix('\n').unwrap_or(&block)),
        });
    }

    edits.sort_by_key(|e| (e.range.start, e.range.end));
    if let Some(pair) = edits.windows(2).find(|p| p[0].range.end > p[1].range.start) {
        return Err(invalid(
            path,
            text,
            pair[1].range.start,
            "dbkit could not update this part of the file (two changes overlap); please report it with the file".into(),
        ));
    }
    let updated = splice(text, 0..text.len(), edits);
    if let Err(e) = Document::parse(&updated) {
        return Err(invalid(
            path,
            text,
            0,
            format!("updating the file would make it invalid XML ({e}); it was left as it was, please report it with the file"),
        ));
    }
    Ok((updated, changes))
}
