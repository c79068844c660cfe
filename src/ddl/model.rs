//! The schema as the files describe it, without a database: tables with their columns,
//! keys and relationships, types, views, functions and indexes. The analyzer reads the
//! newest snapshot and the earlier migrations into it, so it can tell a new table from a
//! modified one, and keeps it current as it reads each file. Names are normalized the
//! way PostgreSQL folds them: unquoted names lower-cased, `public.` dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::summary::{ColumnDef, Relationship, RiskKind};

/// A table in the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// Shared with the summary that created them (a dump can hold tens of thousands);
    /// changed copy-on-write.
    pub columns: Vec<Arc<ColumnDef>>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<Relationship>,
    pub partition_by: Option<String>,
    pub partition_of: Option<String>,
}

impl Table {
    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name).map(|c| &**c)
    }

    /// The column with this name, mutably.
    pub fn column_mut(&mut self, name: &str) -> Option<&mut ColumnDef> {
        self.columns
            .iter_mut()
            .find(|c| c.name == name)
            .map(Arc::make_mut)
    }
}

/// A user-defined type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeDef {
    pub name: String,
    /// `enum`, `composite`, `domain`, `range`.
    pub kind: String,
    /// Enum labels in order.
    pub values: Vec<String>,
}

/// What a view looks like from outside: its columns and the tables and views it reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewShape {
    pub columns: Vec<ViewColumn>,
    pub reads: Vec<String>,
}

/// A view's column: its type when known (the catalog says it), else the table column it
/// is taken straight from when the query says so plainly (`c.id` from `contract`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewColumn {
    pub name: String,
    pub data_type: Option<String>,
    pub from: Option<(String, String)>,
}

impl Schema {
    /// A view column's type: the catalog's, else its source column's, else empty.
    pub fn view_column_type(&self, column: &ViewColumn) -> String {
        if let Some(known) = &column.data_type {
            return known.clone();
        }
        column
            .from
            .as_ref()
            .and_then(|(table, name)| self.tables.get(table)?.column(name))
            .map(|c| c.data_type.clone())
            .unwrap_or_default()
    }
}

/// The whole model.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
    pub types: BTreeMap<String, TypeDef>,
    pub views: BTreeSet<String>,
    /// View name → its query, lower-cased: which columns a view uses, for the
    /// `blocked-by-view` rule.
    pub view_sources: BTreeMap<String, String>,
    /// View name → its output columns and the relations it reads, for ER diagrams.
    /// Kept for views since dropped too: look a view up by a name in `views`.
    pub view_shapes: BTreeMap<String, ViewShape>,
    pub functions: BTreeSet<String>,
    /// Index name → table.
    pub indexes: BTreeMap<String, String>,
    /// `CREATE` statements seen that could say `IF NOT EXISTS`, and how many did: the
    /// project's convention for the not-idempotent risk.
    pub creates: usize,
    pub creates_if_not_exists: usize,
    /// The preference rules to run (`prefer-bigint`, ...): the project's choice in
    /// `dbkit.toml`, none by default.
    pub preferences: Vec<RiskKind>,
}

impl Schema {
    /// The views whose query names `table` (and, when given, `column`, or uses `*`): the
    /// views PostgreSQL keeps depending on it. Read from each view's query text, so a view
    /// that names the table is counted even through an alias; one that reaches it only
    /// through another view is not.
    pub fn views_using(&self, table: &str, column: Option<&str>) -> Vec<String> {
        let short = table.rsplit('.').next().unwrap_or(table);
        self.view_sources
            .iter()
            .filter(|(_, source)| {
                let words: BTreeSet<&str> = source
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '*'))
                    .collect();
                words.contains(short)
                    && column.is_none_or(|c| words.contains(c) || source.contains('*'))
            })
            .map(|(view, _)| view.clone())
            .collect()
    }

    /// True when the project writes `IF NOT EXISTS` in most of its `CREATE`s (and has
    /// written enough of them to have a convention).
    pub fn prefers_if_not_exists(&self) -> bool {
        self.creates >= 4 && self.creates_if_not_exists * 2 > self.creates
    }

    /// Tables with a foreign key to or from `table`.
    pub fn neighbours(&self, table: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for t in self.tables.values() {
            for fk in &t.foreign_keys {
                if t.name == table {
                    found.insert(fk.references_table.clone());
                }
                if fk.references_table == table {
                    found.insert(t.name.clone());
                }
            }
        }
        found.remove(table);
        found
    }
}
