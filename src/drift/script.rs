//! The SQL that turns one database's schema into another's: `--capture` (the files'
//! replay into the live database, written as the next migration) and `--repair` (the
//! live database back to the files). It is written from the two catalogs' items
//! (`pg::compare`) and their facts (`facts`), one statement per step, in dependency
//! order: everything that goes is dropped first (policies and triggers, then views,
//! foreign keys before the keys they use, columns, tables, functions, types, schemas),
//! then everything that comes is made (schemas, types, sequences, functions, tables,
//! columns, keys before foreign keys, indexes, views in the order they read each other,
//! triggers, policies, comments, owners, privileges). A view that uses a column being
//! retyped or dropped, or a view being replaced, is dropped before and made again after,
//! together with the views that read it. What cannot be written safely (an enum label
//! removed, a generated column's expression) is returned as unwritten, with the reason,
//! never guessed at.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::drift::facts::{Column, Facts, Relation, Type};
use crate::pg::compare::Description;
use crate::sql::quote_literal;

/// One statement of the script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The statement, ending with `;`.
    pub sql: String,
    /// The item it is for, as `compare` names it.
    pub kind: String,
    pub name: String,
    /// It drops an object the target does not have, or changes a column's type: data
    /// or objects may be lost (`--repair` writes it only with `--allow-destructive`).
    pub destructive: bool,
    #[serde(skip)]
    phase: u8,
}

impl Step {
    /// A step in `phase` (see the module header for the order).
    pub fn new(sql: String, kind: &str, name: &str, destructive: bool, phase: u8) -> Step {
        Step {
            sql: if sql.ends_with(';') { sql } else { sql + ";" },
            kind: kind.to_string(),
            name: name.to_string(),
            destructive,
            phase,
        }
    }

    /// What running it loses, in words.
    pub fn loses(&self) -> String {
        let (kind, name) = (&self.kind, &self.name);
        if self.sql.contains(" DROP COLUMN ") || self.sql.contains(" DROP ATTRIBUTE ") {
            format!("drops column `{name}` and what it holds")
        } else if self.sql.contains(" TYPE ") && kind == "column" {
            format!("changes the type of column `{name}` (its values are converted, the table rewritten)")
        } else if kind == "table" {
            format!("drops table `{name}` and its rows")
        } else if kind == "enum" {
            format!("replaces enum `{name}` (columns are moved to the new type; a value no longer allowed fails it)")
        } else if self.sql.starts_with("REVOKE") {
            format!("revokes what `{name}` grants")
        } else {
            format!("drops {kind} `{name}`")
        }
    }

    /// Where it goes in the script: lower first.
    pub fn phase(&self) -> u8 {
        self.phase
    }
}

/// A difference the script does not close, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unwritten {
    pub kind: String,
    pub name: String,
    pub reason: String,
}

/// The statements, in order, and what they leave open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Script {
    pub steps: Vec<Step>,
    pub unwritten: Vec<Unwritten>,
}

impl Script {
    /// The script as SQL text: a header, the statements (a comment line before each
    /// destructive one; between `BEGIN` and `COMMIT` with `transaction`, for running it
    /// with psql), and what it leaves open as comments.
    pub fn text(&self, header: &[String], transaction: bool) -> String {
        let mut out = String::new();
        for line in header {
            out.push_str(&format!("-- {line}\n"));
        }
        if !header.is_empty() {
            out.push('\n');
        }
        let transaction = transaction && !self.steps.is_empty();
        if transaction {
            out.push_str("BEGIN;\n\n");
        }
        if self
            .steps
            .iter()
            .any(|s| s.kind == "function" || s.kind == "procedure")
        {
            // A function's body may name a table made further down.
            out.push_str("SET LOCAL check_function_bodies = off;\n\n");
        }
        for step in &self.steps {
            if step.destructive {
                out.push_str(&format!("-- destructive: {}\n", step.loses()));
            }
            out.push_str(&step.sql);
            out.push_str("\n\n");
        }
        if transaction {
            out.push_str("COMMIT;\n\n");
        }
        for open in &self.unwritten {
            out.push_str(&format!(
                "-- not written: {} `{}`: {}\n",
                open.kind, open.name, open.reason
            ));
        }
        out.trim_end().to_string() + "\n"
    }

    /// Leaves out the destructive steps; returns them.
    pub fn without_destructive(&mut self) -> Vec<Step> {
        let (kept, left): (Vec<Step>, Vec<Step>) = std::mem::take(&mut self.steps)
            .into_iter()
            .partition(|s| !s.destructive);
        self.steps = kept;
        left
    }
}

/// Statements that turn the schema `from` describes into the one `to` describes.
/// `extra` are objects of kinds `compare` does not model, present in `to` only, with
/// the statements that make them (from pg_dump).
pub fn write(
    from: (&Description, &Facts),
    to: (&Description, &Facts),
    extra: &[(String, String, String)],
) -> Script {
    let mut w = Writer {
        from: from.1,
        to: to.1,
        items: to.0,
        script: Script::default(),
        dropped_views: BTreeSet::new(),
        column_changes: BTreeSet::new(),
        remade: Vec::new(),
        made: BTreeSet::new(),
    };
    let (before, after) = (from.0, to.0);
    let mut gone = Vec::new();
    let mut came = Vec::new();
    let mut changed = Vec::new();
    for (key, definition) in before {
        match after.get(key) {
            None => gone.push(key),
            Some(other) if other != definition => changed.push(key),
            Some(_) => {}
        }
    }
    for key in after.keys() {
        if !before.contains_key(key) {
            came.push(key);
        }
    }
    for (kind, name) in changed.iter().copied().filter(|(k, _)| k == "column") {
        let _ = kind;
        w.column_changes.insert(name.clone());
    }
    for (kind, name) in gone.iter().copied().filter(|(k, _)| k == "column") {
        let _ = kind;
        w.column_changes.insert(name.clone());
    }
    w.made = came
        .iter()
        .filter(|(kind, _)| matches!(kind.as_str(), "table" | "composite type" | "foreign table"))
        .map(|(_, name)| name.clone())
        .collect();
    let retyped = w.enum_swaps(&changed);
    w.views_to_drop(&gone, &changed, &retyped);
    for (kind, name) in gone {
        w.gone(kind, name);
    }
    for (kind, name) in came {
        w.came(kind, name);
    }
    for (kind, name) in changed {
        w.changed(kind, name);
    }
    w.remake_views();
    w.comment_remade();
    for (kind, name, sql) in extra {
        w.step(49, kind, name, sql.trim_end().to_string(), false);
    }
    let mut script = w.script;
    // Stable: within a phase, the order the items were written in (by name, or by
    // dependency where that was worked out).
    script.steps.sort_by_key(|s| s.phase);
    dedup(&mut script.steps);
    script
}

/// The same statement twice (a view dropped for two reasons) runs once.
fn dedup(steps: &mut Vec<Step>) {
    let mut seen = BTreeSet::new();
    steps.retain(|s| seen.insert(s.sql.clone()));
}

struct Writer<'a> {
    from: &'a Facts,
    to: &'a Facts,
    /// The target's definitions, for what facts do not hold (an extension's schema, a
    /// sequence's settings, an index's definition, a comment's text, owners, grants).
    items: &'a Description,
    script: Script,
    /// Views dropped on the way (replaced, or in the way of a column change), to be
    /// made again when the target has them.
    dropped_views: BTreeSet<String>,
    /// Columns dropped or changed, by name.
    column_changes: BTreeSet<String>,
    /// Tables and composite types this script makes (their columns are in the CREATE).
    made: BTreeSet<String>,
    /// Objects dropped and made again, as their comments are named (`view public.v`,
    /// `table constraint c on public.t`): their comments are written again.
    remade: Vec<String>,
}

impl Writer<'_> {
    fn step(&mut self, phase: u8, kind: &str, name: &str, sql: String, destructive: bool) {
        self.script
            .steps
            .push(Step::new(sql, kind, name, destructive, phase));
    }

    fn unwritten(&mut self, kind: &str, name: &str, reason: impl Into<String>) {
        self.script.unwritten.push(Unwritten {
            kind: kind.to_string(),
            name: name.to_string(),
            reason: reason.into(),
        });
    }

    /// An object only the source has: dropped.
    fn gone(&mut self, kind: &str, name: &str) {
        let from = self.from;
        match kind {
            "schema" => self.step(22, kind, name, format!("DROP SCHEMA {name}"), true),
            "extension" => self.step(
                21,
                kind,
                name,
                format!("DROP EXTENSION IF EXISTS {name}"),
                true,
            ),
            "enum" | "range" | "type" => {
                self.step(20, kind, name, format!("DROP TYPE IF EXISTS {name}"), true)
            }
            "composite type" => {
                self.step(20, kind, name, format!("DROP TYPE IF EXISTS {name}"), true)
            }
            "domain" => self.step(
                20,
                kind,
                name,
                format!("DROP DOMAIN IF EXISTS {name}"),
                true,
            ),
            "table" => self.step(17, kind, name, format!("DROP TABLE IF EXISTS {name}"), true),
            "foreign table" => self.step(
                17,
                kind,
                name,
                format!("DROP FOREIGN TABLE IF EXISTS {name}"),
                true,
            ),
            "view" | "materialized view" => {
                self.dropped_views.insert(name.to_string());
                self.step(12, kind, name, drop_view(kind, name), true);
            }
            "sequence" => {
                if !from.owned_sequences.contains_key(name) {
                    self.step(
                        18,
                        kind,
                        name,
                        format!("DROP SEQUENCE IF EXISTS {name}"),
                        true,
                    );
                }
            }
            "sequence settings" => {}
            "column" => {
                let (table, column) = split_last(name);
                let Some(relation) = from.relations.get(&table) else {
                    return;
                };
                if matches!(relation.kind, 'v' | 'm') {
                    return; // a view's columns go with its query
                }
                if self.parent_has(from, relation, &column) {
                    return; // dropped from the parent, it goes from the partitions
                }
                let sql = match relation.kind {
                    'c' => format!("ALTER TYPE {table} DROP ATTRIBUTE IF EXISTS {column}"),
                    _ => format!("ALTER TABLE {table} DROP COLUMN IF EXISTS {column}"),
                };
                self.step(16, kind, name, sql, true);
            }
            "constraint" => {
                let Some(c) = from.constraints.get(name) else {
                    return;
                };
                if c.kind == 'n' {
                    return;
                }
                let phase = if c.kind == 'f' { 13 } else { 14 };
                self.step(phase, kind, name, drop_constraint(c), true);
            }
            "index" => {
                if !from.implied_indexes.contains(name) {
                    self.step(15, kind, name, format!("DROP INDEX IF EXISTS {name}"), true);
                }
            }
            "trigger" => {
                let Some(t) = from.triggers.get(name) else {
                    return;
                };
                if !t.cloned {
                    let sql = format!("DROP TRIGGER IF EXISTS {} ON {}", t.name, t.table);
                    self.step(11, kind, name, sql, true);
                }
            }
            "policy" => {
                let Some(p) = from.policies.get(name) else {
                    return;
                };
                let sql = format!("DROP POLICY IF EXISTS {} ON {}", p.name, p.table);
                self.step(10, kind, name, sql, true);
            }
            "function" | "procedure" | "aggregate" => {
                let word = kind.to_uppercase();
                self.step(
                    19,
                    kind,
                    name,
                    format!("DROP {word} IF EXISTS {name}"),
                    true,
                );
            }
            "comment" => {
                if let Some(target) = comment_target(name) {
                    self.step(9, kind, name, format!("COMMENT ON {target} IS NULL"), false);
                }
            }
            "owner" => {}
            "privilege" => match grant_target(name) {
                Some((target, columns, grantee)) => {
                    let sql = format!("REVOKE ALL{columns} ON {target} FROM {grantee}");
                    self.step(48, kind, name, sql, true);
                }
                None => self.unwritten(kind, name, "dbkit cannot name this object in a REVOKE"),
            },
            _ => self.unwritten(kind, name, "dbkit does not write drops of this kind"),
        }
    }

    /// An object only the target has: made.
    fn came(&mut self, kind: &str, name: &str) {
        let to = self.to;
        match kind {
            "schema" => self.step(
                30,
                kind,
                name,
                format!("CREATE SCHEMA IF NOT EXISTS {name}"),
                false,
            ),
            "extension" => {
                let schema = self.definition_schema(name);
                let sql = format!("CREATE EXTENSION IF NOT EXISTS {name}{schema}");
                self.step(31, kind, name, sql, false);
            }
            "enum" | "domain" | "range" | "type" => self.create_type(kind, name),
            "composite type" => {
                let Some(relation) = to.relations.get(name) else {
                    return;
                };
                let columns: Vec<String> = relation
                    .columns
                    .iter()
                    .map(|(c, col)| format!("{c} {}{}", col.data_type, collate(col)))
                    .collect();
                let sql = format!("CREATE TYPE {name} AS ({})", columns.join(", "));
                self.step(32, kind, name, sql, false);
            }
            "table" => self.create_table(name),
            "view" | "materialized view" => {
                self.dropped_views.insert(name.to_string());
            }
            "sequence" => {
                if to.owned_sequences.get(name).is_some_and(|o| o.identity) {
                    return; // made by its identity column
                }
                let settings = self.to_settings(name);
                self.step(
                    33,
                    kind,
                    name,
                    format!("CREATE SEQUENCE {name}{settings}"),
                    false,
                );
                if let Some(owner) = to.owned_sequences.get(name) {
                    let sql = format!("ALTER SEQUENCE {name} OWNED BY {}", owner.column);
                    self.step(38, kind, name, sql, false);
                }
            }
            "sequence settings" => {}
            "column" => {
                let (table, column) = split_last(name);
                if self.made_here(&table) {
                    return; // in its CREATE TABLE
                }
                let Some(relation) = to.relations.get(&table) else {
                    return;
                };
                if matches!(relation.kind, 'v' | 'm') || self.parent_has(to, relation, &column) {
                    return;
                }
                let Some((_, col)) = relation.columns.iter().find(|(c, _)| *c == column) else {
                    return;
                };
                let sql = match relation.kind {
                    'c' => format!(
                        "ALTER TYPE {table} ADD ATTRIBUTE {column} {}{}",
                        col.data_type,
                        collate(col)
                    ),
                    _ => format!(
                        "ALTER TABLE {table} ADD COLUMN {}",
                        column_sql(&column, col)
                    ),
                };
                self.step(36, kind, name, sql, false);
            }
            "constraint" => self.add_constraint(name),
            "index" => self.create_index(name),
            "trigger" => self.create_trigger(name, true),
            "policy" => {
                if let Some(p) = to.policies.get(name) {
                    self.step(45, kind, name, p.create.clone(), false);
                }
            }
            "function" | "procedure" => self.create_routine(kind, name),
            "comment" => self.comment(name),
            "owner" => self.owner(name),
            "privilege" => self.grant(name, false),
            _ => self.unwritten(kind, name, "dbkit does not write objects of this kind"),
        }
    }

    /// An object both have, defined differently: changed in place where PostgreSQL
    /// can, else dropped and made again.
    fn changed(&mut self, kind: &str, name: &str) {
        let (from, to) = (self.from, self.to);
        match kind {
            "extension" => {
                let schema = self.definition_schema(name).replace(" WITH SCHEMA ", "");
                if !schema.is_empty() {
                    let sql = format!("ALTER EXTENSION {name} SET SCHEMA {schema}");
                    self.step(31, kind, name, sql, false);
                }
            }
            "enum" => self.alter_enum(name),
            "domain" => self.alter_domain(name),
            "table" | "foreign table" => self.alter_table(kind, name),
            "view" | "materialized view" => {
                // Replaced: dropped (with what reads it) and made again, as CREATE OR
                // REPLACE cannot change its columns.
                self.dropped_views.insert(name.to_string());
                self.step(12, kind, name, drop_view(kind, name), false);
            }
            "sequence settings" => {
                let settings = self.to_settings(name);
                self.step(
                    33,
                    kind,
                    name,
                    format!("ALTER SEQUENCE {name}{settings}"),
                    false,
                );
            }
            "column" => self.alter_column(name),
            "constraint" => {
                let Some(old) = from.constraints.get(name) else {
                    return;
                };
                if old.kind == 'n' {
                    return;
                }
                let phase = if old.kind == 'f' { 13 } else { 14 };
                self.step(phase, kind, name, drop_constraint(old), false);
                self.add_constraint(name);
                let what = if old.on_domain {
                    "domain constraint"
                } else {
                    "table constraint"
                };
                self.remade
                    .push(format!("{what} {} on {}", old.name, old.on));
            }
            "index" => {
                if from.implied_indexes.contains(name) && to.implied_indexes.contains(name) {
                    return; // its constraint is changed
                }
                if !from.implied_indexes.contains(name) {
                    self.step(
                        15,
                        kind,
                        name,
                        format!("DROP INDEX IF EXISTS {name}"),
                        false,
                    );
                }
                self.create_index(name);
                self.remade.push(format!("index {name}"));
            }
            "trigger" => {
                let (Some(old), Some(new)) = (from.triggers.get(name), to.triggers.get(name))
                else {
                    return;
                };
                if old.definition == new.definition {
                    self.enable_trigger(name, new);
                } else if !old.cloned {
                    let sql = format!("DROP TRIGGER IF EXISTS {} ON {}", old.name, old.table);
                    self.step(11, kind, name, sql, false);
                    self.create_trigger(name, true);
                    self.remade
                        .push(format!("trigger {} on {}", old.name, old.table));
                }
            }
            "policy" => {
                let (Some(old), Some(new)) = (from.policies.get(name), to.policies.get(name))
                else {
                    return;
                };
                let sql = format!("DROP POLICY IF EXISTS {} ON {}", old.name, old.table);
                self.step(10, kind, name, sql, false);
                self.step(45, kind, name, new.create.clone(), false);
                self.remade
                    .push(format!("policy {} on {}", old.name, old.table));
            }
            "function" | "procedure" => {
                let (Some(old), Some(new)) = (from.routines.get(name), to.routines.get(name))
                else {
                    return;
                };
                if old.result != new.result || old.kind != new.kind {
                    // CREATE OR REPLACE cannot change what it returns.
                    let word = if old.kind == 'p' {
                        "PROCEDURE"
                    } else {
                        "FUNCTION"
                    };
                    self.step(
                        19,
                        kind,
                        name,
                        format!("DROP {word} IF EXISTS {name}"),
                        false,
                    );
                    self.remade.push(format!("{} {name}", word.to_lowercase()));
                }
                self.create_routine(kind, name);
            }
            "comment" => self.comment(name),
            "owner" => self.owner(name),
            "privilege" => self.grant(name, true),
            "schema" => {}
            _ => self.unwritten(kind, name, "dbkit does not write changes of this kind"),
        }
    }

    /// Whether the target's table (or composite type) `table` is made by this script.
    fn made_here(&self, table: &str) -> bool {
        self.made.contains(table)
    }

    /// Whether `relation` is a partition or child whose parent has `column` too, so a
    /// change made on the parent reaches it.
    fn parent_has(&self, facts: &Facts, relation: &Relation, column: &str) -> bool {
        let parents = relation
            .partition_of
            .iter()
            .map(|(p, _)| p)
            .chain(&relation.inherits);
        for parent in parents {
            if facts
                .relations
                .get(parent)
                .is_some_and(|p| p.columns.iter().any(|(c, _)| c == column))
            {
                return true;
            }
        }
        false
    }

    /// The target's definition of an item.
    fn target(&self, kind: &str, name: &str) -> Option<&str> {
        self.items
            .get(&(kind.to_string(), name.to_string()))
            .map(String::as_str)
    }

    /// ` WITH SCHEMA s` for an extension of the target.
    fn definition_schema(&self, name: &str) -> String {
        self.target("extension", name)
            .and_then(|d| d.strip_prefix("schema "))
            .map(|s| format!(" WITH SCHEMA {s}"))
            .unwrap_or_default()
    }

    /// A sequence's settings in the target as CREATE/ALTER SEQUENCE writes them, from
    /// `compare`'s `bigint start 1 increment 1 min 1 max 99 cache 1 cycle`.
    fn to_settings(&self, name: &str) -> String {
        let Some(settings) = self.target("sequence settings", name) else {
            return String::new();
        };
        let words: Vec<&str> = settings.split(' ').collect();
        let after = |key: &str| {
            words
                .iter()
                .position(|w| *w == key)
                .and_then(|i| words.get(i + 1))
                .copied()
        };
        let type_end = words.iter().position(|w| *w == "start").unwrap_or(0);
        let mut sql = format!(" AS {}", words[..type_end].join(" "));
        for (key, word) in [
            ("increment", "INCREMENT BY"),
            ("min", "MINVALUE"),
            ("max", "MAXVALUE"),
            ("start", "START WITH"),
            ("cache", "CACHE"),
        ] {
            if let Some(value) = after(key) {
                sql.push_str(&format!(" {word} {value}"));
            }
        }
        sql.push_str(if words.last() == Some(&"cycle") {
            " CYCLE"
        } else {
            " NO CYCLE"
        });
        sql
    }

    fn create_type(&mut self, kind: &str, name: &str) {
        let sql = match self.to.types.get(name) {
            Some(Type::Enum(labels)) => {
                let labels: Vec<String> = labels.iter().map(|l| quote_literal(l)).collect();
                format!("CREATE TYPE {name} AS ENUM ({})", labels.join(", "))
            }
            Some(Type::Domain {
                base,
                not_null,
                default,
            }) => {
                let mut sql = format!("CREATE DOMAIN {name} AS {base}");
                if let Some(d) = default {
                    sql.push_str(&format!(" DEFAULT {d}"));
                }
                if *not_null {
                    sql.push_str(" NOT NULL");
                }
                sql
            }
            Some(Type::Range(subtype)) => {
                format!("CREATE TYPE {name} AS RANGE (SUBTYPE = {subtype})")
            }
            _ => {
                return self.unwritten(kind, name, "a base type is written in C; make it by hand");
            }
        };
        self.step(32, kind, name, sql, false);
    }

    /// Whether a column both sides have changes type (so what uses it is in the way).
    fn retypes(&self, name: &str) -> bool {
        let (table, column) = split_last(name);
        let find = |facts: &Facts| {
            facts
                .relations
                .get(&table)
                .and_then(|r| r.columns.iter().find(|(c, _)| *c == column))
                .map(|(_, c)| (c.data_type.clone(), c.collation.clone()))
        };
        find(self.from) != find(self.to)
    }

    /// Enums whose labels were removed or reordered cannot be altered: each is swapped
    /// for a new type (the old one renamed, the new one made, every column moved over
    /// through `text`, the old one dropped). Returns the columns moved, so the views
    /// that use them are out of the way first.
    fn enum_swaps(&mut self, changed: &[&(String, String)]) -> Vec<String> {
        let mut moved = Vec::new();
        for (kind, name) in changed {
            if kind != "enum" {
                continue;
            }
            let (Some(Type::Enum(old)), Some(Type::Enum(new))) =
                (self.from.types.get(name), self.to.types.get(name))
            else {
                continue;
            };
            if in_order(old, new) {
                continue; // labels only added: ALTER TYPE ... ADD VALUE
            }
            let (schema, ident) = split_last(name);
            let bare = ident.trim_matches('"').replace("\"\"", "\"");
            let old_ident = crate::sql::quote_ident(&format!("{bare}_dbkit_old"));
            let old_name = format!("{schema}.{old_ident}");
            self.step(
                32,
                kind,
                name,
                format!("ALTER TYPE {name} RENAME TO {old_ident}"),
                true,
            );
            let labels: Vec<String> = new.iter().map(|l| quote_literal(l)).collect();
            self.step(
                32,
                kind,
                name,
                format!("CREATE TYPE {name} AS ENUM ({})", labels.join(", ")),
                true,
            );
            for (table, relation) in &self.from.relations {
                if !matches!(relation.kind, 'r' | 'p') {
                    continue;
                }
                for (column, col) in &relation.columns {
                    let array = col.data_type == format!("{name}[]");
                    if col.data_type != **name && !array {
                        continue;
                    }
                    if self.parent_has(self.from, relation, column) {
                        continue; // moved with its parent
                    }
                    let on = format!("ALTER TABLE {table} ALTER COLUMN {column}");
                    let full = format!("{table}.{column}");
                    if col.default.is_some() {
                        self.step(36, "column", &full, format!("{on} DROP DEFAULT"), false);
                    }
                    let via = if array { "text[]" } else { "text" };
                    let sql = format!(
                        "{on} TYPE {} USING {column}::{via}::{}",
                        col.data_type, col.data_type
                    );
                    self.step(36, "column", &full, sql, true);
                    let default = self
                        .to
                        .relations
                        .get(table)
                        .and_then(|r| r.columns.iter().find(|(c, _)| c == column))
                        .and_then(|(_, c)| c.default.clone());
                    if let Some(default) = default {
                        self.step(
                            36,
                            "column",
                            &full,
                            format!("{on} SET DEFAULT {default}"),
                            false,
                        );
                    }
                    moved.push(full);
                }
            }
            self.step(38, kind, name, format!("DROP TYPE {old_name}"), true);
        }
        moved
    }

    fn alter_enum(&mut self, name: &str) {
        let (Some(Type::Enum(old)), Some(Type::Enum(new))) =
            (self.from.types.get(name), self.to.types.get(name))
        else {
            return;
        };
        if !in_order(old, new) {
            return; // swapped for a new type (enum_swaps)
        }
        for (i, label) in new.iter().enumerate() {
            if old.contains(label) {
                continue;
            }
            let place = match i {
                0 => new.get(1).map(|n| format!(" BEFORE {}", quote_literal(n))),
                _ => Some(format!(" AFTER {}", quote_literal(&new[i - 1]))),
            }
            .unwrap_or_default();
            let sql = format!(
                "ALTER TYPE {name} ADD VALUE IF NOT EXISTS {}{place}",
                quote_literal(label)
            );
            self.step(32, "enum", name, sql, false);
        }
    }

    fn alter_domain(&mut self, name: &str) {
        let (
            Some(Type::Domain {
                base: old_base,
                not_null: old_nn,
                default: old_default,
            }),
            Some(Type::Domain {
                base,
                not_null,
                default,
            }),
        ) = (self.from.types.get(name), self.to.types.get(name))
        else {
            return;
        };
        if old_base != base {
            return self.unwritten(
                "domain",
                name,
                "a domain's base type cannot be changed in place",
            );
        }
        if old_default != default {
            let sql = match default {
                Some(d) => format!("ALTER DOMAIN {name} SET DEFAULT {d}"),
                None => format!("ALTER DOMAIN {name} DROP DEFAULT"),
            };
            self.step(32, "domain", name, sql, false);
        }
        if old_nn != not_null {
            let what = if *not_null { "SET" } else { "DROP" };
            self.step(
                32,
                "domain",
                name,
                format!("ALTER DOMAIN {name} {what} NOT NULL"),
                false,
            );
        }
    }

    fn create_table(&mut self, name: &str) {
        let Some(relation) = self.to.relations.get(name) else {
            return;
        };
        let unlogged = if relation.unlogged { "UNLOGGED " } else { "" };
        let mut sql = format!("CREATE {unlogged}TABLE {name} ");
        match &relation.partition_of {
            Some((parent, bound)) => sql.push_str(&format!("PARTITION OF {parent} {bound}")),
            None => {
                let columns: Vec<String> = relation
                    .columns
                    .iter()
                    .map(|(c, col)| format!("    {}", column_sql(c, col)))
                    .collect();
                sql.push_str(&format!("(\n{}\n)", columns.join(",\n")));
                if !relation.inherits.is_empty() {
                    sql.push_str(&format!(" INHERITS ({})", relation.inherits.join(", ")));
                }
            }
        }
        if let Some(key) = &relation.partition_key {
            sql.push_str(&format!(" PARTITION BY {key}"));
        }
        if !relation.options.is_empty() {
            sql.push_str(&format!(" WITH ({})", relation.options.join(", ")));
        }
        // Parents before their partitions and children.
        let depth = relation.partition_of.is_some() as u8 + !relation.inherits.is_empty() as u8;
        self.step(35, "table", name, sql, false);
        let last = self.script.steps.len() - 1;
        self.script.steps[last].phase = 35 + depth.min(1);
        if relation.row_security {
            let sql = format!("ALTER TABLE {name} ENABLE ROW LEVEL SECURITY");
            self.step(37, "table", name, sql, false);
        }
        if relation.forced_row_security {
            let sql = format!("ALTER TABLE {name} FORCE ROW LEVEL SECURITY");
            self.step(37, "table", name, sql, false);
        }
    }

    fn alter_table(&mut self, kind: &str, name: &str) {
        let (Some(old), Some(new)) = (self.from.relations.get(name), self.to.relations.get(name))
        else {
            return;
        };
        if old.partition_key != new.partition_key
            || old.partition_of != new.partition_of
            || old.inherits != new.inherits
        {
            return self.unwritten(
                kind,
                name,
                "its partitioning or inheritance differs, which dbkit does not change in place",
            );
        }
        let mut alter =
            |what: String| self.step(37, kind, name, format!("ALTER TABLE {name} {what}"), false);
        if old.unlogged != new.unlogged {
            alter(
                if new.unlogged {
                    "SET UNLOGGED"
                } else {
                    "SET LOGGED"
                }
                .into(),
            );
        }
        if old.row_security != new.row_security {
            alter(format!(
                "{} ROW LEVEL SECURITY",
                if new.row_security {
                    "ENABLE"
                } else {
                    "DISABLE"
                }
            ));
        }
        if old.forced_row_security != new.forced_row_security {
            alter(format!(
                "{} ROW LEVEL SECURITY",
                if new.forced_row_security {
                    "FORCE"
                } else {
                    "NO FORCE"
                }
            ));
        }
        if old.options != new.options {
            let key = |o: &String| o.split('=').next().unwrap_or_default().to_string();
            let gone: Vec<String> = old
                .options
                .iter()
                .map(key)
                .filter(|k| !new.options.iter().any(|o| key(o) == *k))
                .collect();
            if !gone.is_empty() {
                alter(format!("RESET ({})", gone.join(", ")));
            }
            if !new.options.is_empty() {
                alter(format!("SET ({})", new.options.join(", ")));
            }
        }
    }

    fn alter_column(&mut self, name: &str) {
        let (table, column) = split_last(name);
        let (Some(old_rel), Some(new_rel)) = (
            self.from.relations.get(&table),
            self.to.relations.get(&table),
        ) else {
            return;
        };
        if matches!(new_rel.kind, 'v' | 'm') {
            return; // a view's columns go with its query
        }
        let find = |r: &Relation| {
            r.columns
                .iter()
                .find(|(c, _)| *c == column)
                .map(|(_, c)| c.clone())
        };
        let (Some(old), Some(new)) = (find(old_rel), find(new_rel)) else {
            return;
        };
        if old == new {
            return; // only its place differs (see the column order notes)
        }
        if self.parent_has(self.to, new_rel, &column)
            && self.column_changes.iter().any(|c| {
                new_rel
                    .partition_of
                    .iter()
                    .map(|(p, _)| p)
                    .chain(&new_rel.inherits)
                    .any(|p| *c == format!("{p}.{column}"))
            })
        {
            return; // the parent's change reaches it
        }
        let on = if new_rel.kind == 'c' {
            format!("ALTER TYPE {table} ALTER ATTRIBUTE {column}")
        } else {
            format!("ALTER TABLE {table} ALTER COLUMN {column}")
        };
        if old.generated != new.generated {
            return self.unwritten(
                "column",
                name,
                "a generated column's expression cannot be changed in place: drop the column and add it again",
            );
        }
        if old.data_type != new.data_type || old.collation != new.collation {
            let using = if new_rel.kind == 'c' {
                String::new()
            } else {
                format!(" USING {column}::{}", new.data_type)
            };
            let sql = format!("{on} TYPE {}{}{using}", new.data_type, collate(&new));
            self.step(36, "column", name, sql, true);
        }
        if new_rel.kind == 'c' {
            return;
        }
        if old.default != new.default && new.identity.is_none() {
            let sql = match &new.default {
                Some(d) => format!("{on} SET DEFAULT {d}"),
                None => format!("{on} DROP DEFAULT"),
            };
            self.step(36, "column", name, sql, false);
        }
        if old.identity != new.identity {
            let sql = match (old.identity, new.identity) {
                (None, Some(i)) => format!("{on} ADD GENERATED {} AS IDENTITY", identity_word(i)),
                (Some(_), None) => format!("{on} DROP IDENTITY IF EXISTS"),
                (_, Some(i)) => format!("{on} SET GENERATED {}", identity_word(i)),
                (None, None) => String::new(),
            };
            self.step(36, "column", name, sql, false);
        }
        if old.not_null != new.not_null && new.identity.is_none() {
            let what = if new.not_null { "SET" } else { "DROP" };
            self.step(36, "column", name, format!("{on} {what} NOT NULL"), false);
        }
    }

    fn add_constraint(&mut self, name: &str) {
        let Some(c) = self.to.constraints.get(name) else {
            return;
        };
        let phase = match c.kind {
            'n' => return,
            'p' | 'u' | 'x' => 39,
            'f' => 41,
            _ => 40,
        };
        let on = if c.on_domain {
            format!("ALTER DOMAIN {}", c.on)
        } else {
            format!("ALTER TABLE {}", c.on)
        };
        let sql = format!("{on} ADD CONSTRAINT {} {}", c.name, c.definition);
        self.step(phase, "constraint", name, sql, false);
    }

    fn create_index(&mut self, name: &str) {
        if self.to.implied_indexes.contains(name) {
            return;
        }
        let Some(definition) = self.to_index_definition(name) else {
            return;
        };
        // A partitioned table's index prints as `ON ONLY`, which would leave its
        // partitions without theirs.
        let sql = definition
            .replacen(" INDEX ", " INDEX IF NOT EXISTS ", 1)
            .replacen(" ON ONLY ", " ON ", 1);
        self.step(42, "index", name, sql, false);
    }

    fn to_index_definition(&self, name: &str) -> Option<String> {
        self.target("index", name).map(str::to_string)
    }

    fn create_trigger(&mut self, name: &str, enable: bool) {
        let Some(t) = self.to.triggers.get(name) else {
            return;
        };
        if t.cloned {
            return; // made by its parent's trigger
        }
        self.step(44, "trigger", name, t.definition.clone(), false);
        if enable && t.enabled != 'O' {
            self.enable_trigger(name, t);
        }
    }

    fn enable_trigger(&mut self, name: &str, t: &crate::drift::facts::Trigger) {
        let how = match t.enabled {
            'D' => "DISABLE TRIGGER",
            'R' => "ENABLE REPLICA TRIGGER",
            'A' => "ENABLE ALWAYS TRIGGER",
            _ => "ENABLE TRIGGER",
        };
        let sql = format!("ALTER TABLE {} {how} {}", t.table, t.name);
        self.step(44, "trigger", name, sql, false);
    }

    fn create_routine(&mut self, kind: &str, name: &str) {
        match self
            .to
            .routines
            .get(name)
            .and_then(|r| r.definition.clone())
        {
            Some(definition) => self.step(34, kind, name, definition.trim_end().to_string(), false),
            None => self.unwritten(
                kind,
                name,
                "dbkit does not write aggregates; make it by hand",
            ),
        }
    }

    fn comment(&mut self, name: &str) {
        let Some(target) = comment_target(name) else {
            return self.unwritten(
                "comment",
                name,
                "dbkit cannot name this object in COMMENT ON",
            );
        };
        let text = self.to_comment(name);
        let sql = format!("COMMENT ON {target} IS {}", quote_literal(&text));
        self.step(46, "comment", name, sql, false);
    }

    fn to_comment(&self, name: &str) -> String {
        self.target("comment", name).unwrap_or_default().to_string()
    }

    fn owner(&mut self, name: &str) {
        let role = self.to_owner(name);
        match grant_object(name) {
            Some((word, identity)) if !word.is_empty() => {
                let sql = format!("ALTER {word} {identity} OWNER TO {role}");
                self.step(47, "owner", name, sql, false);
            }
            _ => self.unwritten(
                "owner",
                name,
                "dbkit cannot name this object in ALTER ... OWNER TO",
            ),
        }
    }

    fn to_owner(&self, name: &str) -> String {
        crate::sql::quote_ident(self.target("owner", name).unwrap_or_default())
    }

    fn grant(&mut self, name: &str, revoke_first: bool) {
        let Some((target, columns, grantee)) = grant_target(name) else {
            return self.unwritten(
                "privilege",
                name,
                "dbkit cannot name this object in a GRANT",
            );
        };
        let privileges = self.to_privileges(name);
        if revoke_first {
            let sql = format!("REVOKE ALL{columns} ON {target} FROM {grantee}");
            self.step(48, "privilege", name, sql, false);
        }
        let (with, plain): (Vec<&str>, Vec<&str>) = privileges
            .split(", ")
            .filter(|p| !p.is_empty())
            .partition(|p| p.ends_with(" with grant option"));
        let on = |list: Vec<&str>| {
            list.iter()
                .map(|p| format!("{}{columns}", p.trim_end_matches(" with grant option")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !plain.is_empty() {
            let sql = format!("GRANT {} ON {target} TO {grantee}", on(plain));
            self.step(48, "privilege", name, sql, false);
        }
        if !with.is_empty() {
            let sql = format!(
                "GRANT {} ON {target} TO {grantee} WITH GRANT OPTION",
                on(with)
            );
            self.step(48, "privilege", name, sql, false);
        }
    }

    fn to_privileges(&self, name: &str) -> String {
        self.target("privilege", name)
            .unwrap_or_default()
            .to_string()
    }

    /// Writes again the comments of objects dropped and made again, which went with
    /// them.
    fn comment_remade(&mut self) {
        let names: Vec<String> =
            self.items
                .keys()
                .filter(|(kind, name)| {
                    kind == "comment"
                        && self.remade.iter().any(|r| {
                            name == r || (r.ends_with('.') && name.starts_with(r.as_str()))
                        })
                })
                .map(|(_, name)| name.clone())
                .collect();
        for name in names {
            self.comment(&name);
        }
    }

    /// Views in the way: replaced or gone ones (already marked), views that use a
    /// column being dropped or changed or read a table being dropped, and then every
    /// view that reads one of those, all in the source.
    fn views_to_drop(
        &mut self,
        gone: &[&(String, String)],
        changed: &[&(String, String)],
        retyped: &[String],
    ) {
        let from = self.from;
        let mut hit: BTreeSet<String> = BTreeSet::new();
        let retyped: Vec<(String, String)> = retyped
            .iter()
            .map(|c| ("column".to_string(), c.clone()))
            .collect();
        let changed: Vec<&(String, String)> = changed
            .iter()
            .copied()
            .filter(|(kind, name)| kind != "column" || self.retypes(name))
            .chain(retyped.iter())
            .collect();
        for (kind, name) in gone.iter().chain(&changed) {
            match kind.as_str() {
                "view" | "materialized view" => {
                    hit.insert(name.clone());
                }
                "table" => hit.extend(
                    from.view_reads
                        .iter()
                        .filter(|(_, reads)| reads.contains(name))
                        .map(|(v, _)| v.clone()),
                ),
                "column" => {
                    let (table, column) = split_last(name);
                    let key = (table, column);
                    hit.extend(
                        from.view_columns
                            .iter()
                            .filter(|(_, used)| used.contains(&key))
                            .map(|(v, _)| v.clone()),
                    );
                }
                _ => {}
            }
        }
        // Everything that reads a view in the way is in the way too.
        loop {
            let more: Vec<String> = from
                .view_reads
                .iter()
                .filter(|(v, reads)| !hit.contains(*v) && reads.iter().any(|r| hit.contains(r)))
                .map(|(v, _)| v.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            hit.extend(more);
        }
        // Dropped readers first.
        for view in order_views(from, &hit).into_iter().rev() {
            let kind = match from.relations.get(&view).map(|r| r.kind) {
                Some('m') => "materialized view",
                _ => "view",
            };
            let gone_for_good = !self.to.relations.contains_key(&view);
            self.dropped_views.insert(view.clone());
            self.step(12, kind, &view, drop_view(kind, &view), gone_for_good);
        }
    }

    /// Makes again, in the target's dependency order, every view dropped on the way
    /// or new, as the target defines it.
    fn remake_views(&mut self) {
        let to = self.to;
        let wanted: BTreeSet<String> = self
            .dropped_views
            .iter()
            .filter(|v| to.relations.contains_key(*v))
            .cloned()
            .collect();
        for view in order_views(to, &wanted) {
            let Some(relation) = to.relations.get(&view) else {
                continue;
            };
            let query = relation.query.clone().unwrap_or_default();
            let query = query.trim_end().trim_end_matches(';');
            let options = match relation.options.is_empty() {
                true => String::new(),
                false => format!(" WITH ({})", relation.options.join(", ")),
            };
            let (kind, sql) = match relation.kind {
                'm' => (
                    "materialized view",
                    format!("CREATE MATERIALIZED VIEW {view}{options} AS\n{query}"),
                ),
                _ => ("view", format!("CREATE VIEW {view}{options} AS\n{query}")),
            };
            self.step(43, kind, &view, sql, false);
            for grant in &relation.grants {
                self.step(48, kind, &view, grant.clone(), false);
            }
            self.remade
                .extend([format!("{kind} {view}"), format!("{kind} column {view}.")]);
        }
    }
}

/// Whether `new` holds every label of `old`, in the same order (new ones may be
/// anywhere between).
fn in_order(old: &[String], new: &[String]) -> bool {
    let kept: Vec<&String> = new.iter().filter(|l| old.contains(l)).collect();
    kept.len() == old.len() && kept.iter().zip(old).all(|(a, b)| *a == b)
}

/// `views` ordered so that each comes after the views (of the set) it reads.
fn order_views(facts: &Facts, views: &BTreeSet<String>) -> Vec<String> {
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<&String> = views.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|v| {
            let ready = facts.view_reads.get(*v).is_none_or(|reads| {
                reads
                    .iter()
                    .all(|r| !views.contains(r) || done.contains(r) || r == *v)
            });
            if ready {
                done.push((*v).clone());
            }
            !ready
        });
        if left.len() == before {
            done.extend(left.drain(..).cloned()); // a cycle cannot be; keep the rest
        }
    }
    done
}

fn drop_view(kind: &str, name: &str) -> String {
    match kind {
        "materialized view" => format!("DROP MATERIALIZED VIEW IF EXISTS {name}"),
        _ => format!("DROP VIEW IF EXISTS {name}"),
    }
}

fn drop_constraint(c: &crate::drift::facts::Constraint) -> String {
    match c.on_domain {
        true => format!("ALTER DOMAIN {} DROP CONSTRAINT IF EXISTS {}", c.on, c.name),
        false => format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}", c.on, c.name),
    }
}

fn identity_word(identity: char) -> &'static str {
    if identity == 'a' {
        "ALWAYS"
    } else {
        "BY DEFAULT"
    }
}

fn collate(column: &Column) -> String {
    column
        .collation
        .as_ref()
        .map(|c| format!(" COLLATE {c}"))
        .unwrap_or_default()
}

/// A column as CREATE TABLE and ADD COLUMN write it.
fn column_sql(name: &str, column: &Column) -> String {
    let mut sql = format!("{name} {}{}", column.data_type, collate(column));
    if let Some(expression) = &column.generated {
        sql.push_str(&format!(" GENERATED ALWAYS AS ({expression}) STORED"));
    } else if let Some(identity) = column.identity {
        sql.push_str(&format!(
            " GENERATED {} AS IDENTITY",
            identity_word(identity)
        ));
    } else if let Some(default) = &column.default {
        sql.push_str(&format!(" DEFAULT {default}"));
    }
    if column.not_null && column.identity.is_none() {
        sql.push_str(" NOT NULL");
    }
    sql
}

/// `public.t.c` as (`public.t`, `c`), quotes kept.
pub fn split_last(name: &str) -> (String, String) {
    let parts = crate::pg::reprint::split_name(name);
    match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => (rest.join("."), last.clone()),
        _ => (String::new(), name.to_string()),
    }
}

/// The object types `pg_identify_object` names, longest first, with the word COMMENT
/// ON and ALTER ... OWNER TO use for them.
const OBJECT_WORDS: &[(&str, &str)] = &[
    ("materialized view column", "COLUMN"),
    ("foreign table column", "COLUMN"),
    ("composite type column", "COLUMN"),
    ("table constraint", "CONSTRAINT"),
    ("domain constraint", "CONSTRAINT"),
    ("materialized view", "MATERIALIZED VIEW"),
    ("view column", "COLUMN"),
    ("table column", "COLUMN"),
    ("composite type", "TYPE"),
    ("foreign table", "FOREIGN TABLE"),
    ("procedure", "PROCEDURE"),
    ("aggregate", "AGGREGATE"),
    ("extension", "EXTENSION"),
    ("function", "FUNCTION"),
    ("sequence", "SEQUENCE"),
    ("trigger", "TRIGGER"),
    ("policy", "POLICY"),
    ("schema", "SCHEMA"),
    ("domain", "DOMAIN"),
    ("index", "INDEX"),
    ("table", "TABLE"),
    ("view", "VIEW"),
    ("type", "TYPE"),
    ("rule", "RULE"),
];

/// `table column public.t.c` as its type and identity.
fn object_of(name: &str) -> Option<(&'static str, &'static str, &str)> {
    OBJECT_WORDS.iter().find_map(|(kind, word)| {
        let identity = name.strip_prefix(kind)?.strip_prefix(' ')?;
        Some((*kind, *word, identity))
    })
}

/// What COMMENT ON names for a comment item: `COLUMN public.t.c`, `CONSTRAINT c ON
/// public.t`, `CONSTRAINT c ON DOMAIN public.d`.
fn comment_target(name: &str) -> Option<String> {
    let (kind, word, identity) = object_of(name)?;
    Some(match kind {
        "domain constraint" => {
            let (object, on) = identity.split_once(" on ")?;
            format!("CONSTRAINT {object} ON DOMAIN {on}")
        }
        "table constraint" | "trigger" | "policy" | "rule" => {
            let (object, on) = identity.split_once(" on ")?;
            format!("{word} {object} ON {on}")
        }
        _ => format!("{word} {identity}"),
    })
}

/// The word ALTER ... OWNER TO uses and the identity, for an owner item (`table
/// public.t`) or the object part of a privilege item.
fn grant_object(name: &str) -> Option<(&'static str, &str)> {
    let (kind, word, identity) = object_of(name)?;
    let word = match kind {
        "table column" | "view column" | "materialized view column" | "foreign table column" => "",
        "composite type" => "TYPE",
        _ => word,
    };
    Some((word, identity))
}

/// For a privilege item (`table public.t to app`, `table column public.t.c to app`):
/// what GRANT names (`TABLE public.t`), the column list (` (c)`) and the grantee.
fn grant_target(name: &str) -> Option<(String, String, String)> {
    let (object, grantee) = name.rsplit_once(" to ")?;
    let (kind, _, identity) = object_of(object)?;
    let (target, columns) = match kind {
        "table column" | "view column" | "materialized view column" | "foreign table column" => {
            let (table, column) = split_last(identity);
            (format!("TABLE {table}"), format!(" ({column})"))
        }
        "table" | "view" | "materialized view" | "foreign table" => {
            (format!("TABLE {identity}"), String::new())
        }
        "sequence" => (format!("SEQUENCE {identity}"), String::new()),
        "function" | "aggregate" => (format!("FUNCTION {identity}"), String::new()),
        "procedure" => (format!("PROCEDURE {identity}"), String::new()),
        "schema" => (format!("SCHEMA {identity}"), String::new()),
        "type" | "composite type" => (format!("TYPE {identity}"), String::new()),
        "domain" => (format!("DOMAIN {identity}"), String::new()),
        _ => return None,
    };
    Some((target, columns, grantee.to_string()))
}
