//! `CREATE TABLE` and `ALTER TABLE`: new tables and columns, relationships, constraints,
//! renames, drops and column changes, with the schema model kept current and the risks
//! these statements carry flagged.

use std::sync::Arc;

use sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, ColumnOption, CreateTable,
    ForeignKeyConstraint, Ident, RenameTableNameKind, TableConstraint,
};

use super::analyze::Ctx;
use super::model::Table;
use super::names;
use super::risk;
use super::summary::{
    ChangedColumn, ColumnDef, Constraint, Dropped, NewColumn, NewTable, Relationship, Renamed,
    RiskKind, Warning,
};

/// A column definition as the summary shows it; inline foreign keys are returned too.
fn column(
    ctx: &mut Ctx<'_>,
    table: &str,
    def: &sqlparser::ast::ColumnDef,
) -> (ColumnDef, Vec<Relationship>) {
    let name = names::ident(&def.name);
    ctx.check_identifier(&name);
    let mut column = ColumnDef::new(name.clone(), def.data_type.to_string().to_lowercase(), true);
    let mut relationships = Vec::new();
    for option in &def.options {
        match &option.option {
            ColumnOption::NotNull => column.nullable = false,
            ColumnOption::Default(expr) => column.default = Some(expr.to_string()),
            ColumnOption::PrimaryKey(_) => {
                column.primary_key = true;
                column.nullable = false;
            }
            ColumnOption::Unique(_) => column.unique = true,
            ColumnOption::ForeignKey(fk) => {
                let rel = relationship(ctx, table, vec![name.clone()], fk, false);
                column.references = Some(format!(
                    "{}({})",
                    rel.references_table,
                    rel.references_columns.join(", ")
                ));
                relationships.push(rel);
            }
            ColumnOption::Generated { .. } | ColumnOption::Identity(_) => {
                column.generated = Some(option.option.to_string());
            }
            _ => {}
        }
    }
    (column, relationships)
}

fn relationship(
    ctx: &Ctx<'_>,
    table: &str,
    columns: Vec<String>,
    fk: &ForeignKeyConstraint,
    not_valid: bool,
) -> Relationship {
    let references_table = names::object(&fk.foreign_table);
    let mut references_columns: Vec<String> =
        fk.referred_columns.iter().map(names::ident).collect();
    if references_columns.is_empty() {
        references_columns = ctx
            .schema
            .tables
            .get(&references_table)
            .map(|t| t.primary_key.clone())
            .unwrap_or_default();
    }
    Relationship {
        table: table.to_string(),
        columns,
        references_table,
        references_columns,
        on_delete: fk.on_delete.map(|a| a.to_string()),
        on_update: fk.on_update.map(|a| a.to_string()),
        name: fk.name.as_ref().map(names::ident),
        not_valid,
        at: ctx.at(),
    }
}

fn add_relationship(ctx: &mut Ctx<'_>, rel: Relationship) {
    if let Some(table) = ctx.schema.tables.get_mut(&rel.table) {
        // Most tables have a key or two: no room for four (Vec's least) in each.
        table.foreign_keys.reserve_exact(1);
        table.foreign_keys.push(rel.clone());
    }
    ctx.summary.relationships.push(rel);
}

/// `CREATE TABLE`.
pub fn create(ctx: &mut Ctx<'_>, create: &CreateTable) {
    let name = names::object(&create.name);
    ctx.create("TABLE", create.if_not_exists);
    if create.if_not_exists && ctx.schema.tables.contains_key(&name) {
        return;
    }
    ctx.check_identifier(&name);
    ctx.created.insert(name.clone());
    let mut table = Table {
        name: name.clone(),
        partition_by: create.partition_by.as_ref().map(|p| p.to_string()),
        partition_of: create.partition_of.as_ref().map(|parent| {
            let bounds = create
                .for_values
                .as_ref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default();
            format!("{}{bounds}", names::object(parent))
        }),
        ..Table::default()
    };
    ctx.schema.tables.insert(name.clone(), table.clone());
    let mut relationships = Vec::new();
    for def in &create.columns {
        let (column, rels) = column(ctx, &name, def);
        relationships.extend(rels);
        table.columns.push(Arc::new(column));
    }
    if let Some(parent) = create.partition_of.as_ref().map(names::object) {
        if let Some(parent) = ctx.schema.tables.get(&parent) {
            table.columns = parent.columns.clone();
            table.primary_key = parent.primary_key.clone();
        }
    }
    for constraint in &create.constraints {
        if let Some(key) = table_constraint(ctx, &name, constraint, false, &mut relationships) {
            table.primary_key = key;
        }
    }
    for column in &mut table.columns {
        if table.primary_key.contains(&column.name) {
            mark_key_column(column);
        } else if column.primary_key {
            table.primary_key.push(column.name.clone());
        }
    }
    // `UNIQUE (email)` as a table constraint makes that one column unique, as an inline
    // `UNIQUE` does (a key over several columns makes none of them unique alone).
    for constraint in &create.constraints {
        if let TableConstraint::Unique(unique) = constraint {
            if let [only] = unique.columns.as_slice() {
                let only = only.to_string().to_lowercase();
                if let Some(column) = table.columns.iter_mut().find(|c| c.name == only) {
                    Arc::make_mut(column).unique = true;
                }
            }
        }
    }
    let entry = NewTable {
        table: name.clone(),
        columns: table.columns.clone(),
        partition_by: table.partition_by.clone(),
        partition_of: table.partition_of.clone(),
        at: ctx.at(),
    };
    ctx.schema.tables.insert(name, table);
    ctx.summary.new_tables.push(entry);
    for rel in relationships {
        add_relationship(ctx, rel);
    }
}

/// A table constraint in `CREATE TABLE` or `ADD CONSTRAINT`: keys go to the model,
/// foreign keys to `relationships`, the rest to the constraints section.
/// Returns the primary key's columns when the constraint is one.
fn table_constraint(
    ctx: &mut Ctx<'_>,
    table: &str,
    constraint: &TableConstraint,
    not_valid: bool,
    relationships: &mut Vec<Relationship>,
) -> Option<Vec<String>> {
    let mut primary_key = None;
    let (kind, name) = match constraint {
        TableConstraint::ForeignKey(fk) => {
            let columns = fk.columns.iter().map(names::ident).collect();
            relationships.push(relationship(ctx, table, columns, fk, not_valid));
            return None;
        }
        TableConstraint::PrimaryKey(pk) => {
            primary_key = Some(
                pk.columns
                    .iter()
                    .map(|c| c.to_string().to_lowercase())
                    .collect(),
            );
            ("primary key", pk.name.as_ref())
        }
        TableConstraint::Unique(unique) => ("unique", unique.name.as_ref()),
        TableConstraint::Check(check) => ("check", check.name.as_ref()),
        _ => ("constraint", None),
    };
    let written = name;
    let name = name.map(names::ident);
    if let Some(name) = &name {
        ctx.check_identifier(name);
    }
    if kind == "primary key" && !ctx.existing(table) {
        return primary_key; // shown on the new table's columns
    }
    ctx.summary.constraints.push(Constraint {
        table: table.to_string(),
        name,
        kind: kind.to_string(),
        definition: definition(constraint, written),
        dropped: false,
        at: ctx.at(),
    });
    primary_key
}

/// A constraint's definition without its `CONSTRAINT name` prefix (the name is shown
/// apart). The prefix is the name as sqlparser prints it, so a quoted name with spaces
/// goes whole.
fn definition(constraint: &TableConstraint, name: Option<&Ident>) -> String {
    let sql = constraint.to_string();
    name.and_then(|name| sql.strip_prefix(&format!("CONSTRAINT {name} ")))
        .map_or_else(|| sql.clone(), str::to_string)
}

/// `ALTER TABLE`, operation by operation.
pub fn alter(ctx: &mut Ctx<'_>, alter: &AlterTable) {
    let mut table_name = names::object(&alter.name);
    // pg_dump sets the owner of views and sequences with `ALTER TABLE` too.
    let owner_only = alter
        .operations
        .iter()
        .all(|op| matches!(op, AlterTableOperation::OwnerTo { .. }));
    if !ctx.schema.tables.contains_key(&table_name)
        && !ctx.schema.views.contains(&table_name)
        && !owner_only
    {
        let message = format!("`ALTER TABLE {table_name}`: no earlier migration or snapshot creates `{table_name}`; check the name");
        let at = ctx.at();
        ctx.summary.warnings.push(Warning { message, at });
    }
    for operation in &alter.operations {
        match operation {
            AlterTableOperation::RenameTable { table_name: new } => {
                let new = match new {
                    RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => names::last(n),
                };
                rename_table(ctx, &table_name, &new);
                table_name = new;
            }
            other => alter_operation(ctx, &table_name, other),
        }
    }
}

fn rename_table(ctx: &mut Ctx<'_>, from: &str, to: &str) {
    ctx.risk(
        RiskKind::Rename,
        format!("table `{from}` is renamed to `{to}`; queries that name `{from}` break"),
    );
    ctx.modified(from, format!("rename to {to}"));
    let at = ctx.at();
    ctx.summary.renamed_tables.push(Renamed {
        table: None,
        from: from.to_string(),
        to: to.to_string(),
        at,
    });
    if let Some(mut table) = ctx.schema.tables.remove(from) {
        table.name = to.to_string();
        ctx.schema.tables.insert(to.to_string(), table);
    }
    for table in ctx.schema.tables.values_mut() {
        for fk in &mut table.foreign_keys {
            if fk.references_table == from {
                fk.references_table = to.to_string();
            }
            if fk.table == from {
                fk.table = to.to_string();
            }
        }
    }
}

fn alter_operation(ctx: &mut Ctx<'_>, table: &str, operation: &AlterTableOperation) {
    let at = ctx.at();
    match operation {
        AlterTableOperation::AddColumn {
            column_def,
            if_not_exists,
            ..
        } => {
            let exists = ctx
                .schema
                .tables
                .get(table)
                .and_then(|t| t.column(&names::ident(&column_def.name)))
                .is_some();
            if *if_not_exists && exists {
                return;
            }
            let (column, rels) = column(ctx, table, column_def);
            if ctx.existing(table) {
                risk::added_column(ctx, table, &column);
            }
            ctx.modified(table, format!("add column {}", column.name));
            if let Some(t) = ctx.schema.tables.get_mut(table) {
                t.columns.push(Arc::new(column.clone()));
            }
            let existing_table = ctx.existing(table);
            ctx.summary.new_columns.push(NewColumn {
                table: table.to_string(),
                column,
                existing_table,
                at,
            });
            for rel in rels {
                add_relationship(ctx, rel);
            }
            inline_checks(ctx, table, column_def);
        }
        AlterTableOperation::DropColumn { column_names, .. } => {
            for column in column_names.iter().map(names::ident) {
                ctx.risk(
                    RiskKind::DataLoss,
                    format!("column `{table}.{column}` and its data are dropped"),
                );
                ctx.modified(table, format!("drop column {column}"));
                if let Some(t) = ctx.schema.tables.get_mut(table) {
                    t.columns.retain(|c| c.name != column);
                }
                ctx.summary.dropped_columns.push(Dropped {
                    object: format!("{table}.{column}"),
                    cascade: false,
                    at: at.clone(),
                });
            }
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => {
            let (from, to) = (names::ident(old_column_name), names::ident(new_column_name));
            ctx.risk(RiskKind::Rename, format!("column `{table}.{from}` is renamed to `{to}`; queries that name `{from}` break"));
            ctx.modified(table, format!("rename column {from} to {to}"));
            if let Some(column) = ctx
                .schema
                .tables
                .get_mut(table)
                .and_then(|t| t.column_mut(&from))
            {
                column.name = to.clone();
            }
            ctx.summary.renamed_columns.push(Renamed {
                table: Some(table.to_string()),
                from,
                to,
                at,
            });
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            alter_column(ctx, table, &names::ident(column_name), op)
        }
        AlterTableOperation::AddConstraint {
            constraint,
            not_valid,
        } => add_constraint(ctx, table, constraint, *not_valid),
        AlterTableOperation::DropConstraint { name, .. } => {
            let name = names::ident(name);
            let mut kind = "constraint".to_string();
            if let Some(t) = ctx.schema.tables.get_mut(table) {
                if t.foreign_keys
                    .iter()
                    .any(|fk| fk.name.as_deref() == Some(name.as_str()))
                {
                    kind = "foreign key".into();
                    t.foreign_keys
                        .retain(|fk| fk.name.as_deref() != Some(name.as_str()));
                }
            }
            ctx.modified(table, format!("drop constraint {name}"));
            ctx.summary.constraints.push(Constraint {
                table: table.to_string(),
                name: Some(name),
                kind,
                definition: String::new(),
                dropped: true,
                at,
            });
        }
        AlterTableOperation::EnableRowLevelSecurity => {
            rls(ctx, table, "row-level security enabled")
        }
        AlterTableOperation::DisableRowLevelSecurity => {
            rls(ctx, table, "row-level security disabled")
        }
        AlterTableOperation::ForceRowLevelSecurity => rls(ctx, table, "row-level security forced"),
        AlterTableOperation::NoForceRowLevelSecurity => {
            rls(ctx, table, "row-level security no longer forced")
        }
        AlterTableOperation::OwnerTo { new_owner } => {
            let entry = ctx.object(
                table.to_string(),
                "owner changed",
                Some(format!("to {new_owner}")),
            );
            ctx.summary.grants.push(entry);
        }
        other => ctx.modified(table, other.to_string().to_lowercase()),
    }
}

/// The `CHECK`s written on a column added by `ADD COLUMN`: new constraints, which scan
/// the whole table when it has rows.
fn inline_checks(ctx: &mut Ctx<'_>, table: &str, def: &sqlparser::ast::ColumnDef) {
    for option in &def.options {
        let ColumnOption::Check(check) = &option.option else {
            continue;
        };
        let name = option
            .name
            .as_ref()
            .or(check.name.as_ref())
            .map(names::ident);
        if let Some(name) = &name {
            ctx.check_identifier(name);
        }
        let at = ctx.at();
        ctx.summary.constraints.push(Constraint {
            table: table.to_string(),
            name,
            kind: "check".to_string(),
            definition: format!("CHECK ({})", check.expr),
            dropped: false,
            at,
        });
        ctx.modified(table, "add check constraint".to_string());
        if ctx.existing(table) {
            risk::added_constraint(ctx, table, "check constraint", false);
        }
    }
}

fn rls(ctx: &mut Ctx<'_>, table: &str, action: &str) {
    let entry = ctx.object(table.to_string(), action, None);
    ctx.summary.policies.push(entry);
}

fn add_constraint(ctx: &mut Ctx<'_>, table: &str, constraint: &TableConstraint, not_valid: bool) {
    let mut rels = Vec::new();
    if let Some(key) = table_constraint(ctx, table, constraint, not_valid, &mut rels) {
        set_primary_key(ctx, table, key);
    }
    let label = match constraint {
        TableConstraint::ForeignKey(_) => "foreign key",
        TableConstraint::PrimaryKey(_) => "primary key",
        TableConstraint::Unique(_) => "unique constraint",
        TableConstraint::Check(_) => "check constraint",
        _ => "constraint",
    };
    ctx.modified(table, format!("add {label}"));
    if ctx.existing(table) {
        risk::added_constraint(ctx, table, label, not_valid);
    }
    for rel in rels {
        add_relationship(ctx, rel);
    }
}

/// A primary key added after `CREATE TABLE` (pg_dump adds every one so): the model's
/// columns become key columns, and so do those of the table's entry when this file
/// created it, since a new table shows its key on its columns.
fn set_primary_key(ctx: &mut Ctx<'_>, table: &str, key: Vec<String>) {
    if let Some(model) = ctx.schema.tables.get_mut(table) {
        for column in model.columns.iter_mut().filter(|c| key.contains(&c.name)) {
            mark_key_column(column);
        }
        model.primary_key = key.clone();
    }
    if let Some(entry) = ctx
        .summary
        .new_tables
        .iter_mut()
        .rev()
        .find(|t| t.table == table)
    {
        for column in entry.columns.iter_mut().filter(|c| key.contains(&c.name)) {
            mark_key_column(column);
        }
    }
}

fn mark_key_column(column: &mut Arc<ColumnDef>) {
    if !column.primary_key || column.nullable {
        let column = Arc::make_mut(column);
        column.primary_key = true;
        column.nullable = false;
    }
}

fn alter_column(ctx: &mut Ctx<'_>, table: &str, column: &str, op: &AlterColumnOperation) {
    let current = ctx
        .schema
        .tables
        .get(table)
        .and_then(|t| t.column(column))
        .cloned();
    let change = match op {
        AlterColumnOperation::SetDataType { data_type, .. } => {
            let to = data_type.to_string().to_lowercase();
            let from = current
                .as_ref()
                .map_or("?".to_string(), |c| c.data_type.clone());
            if ctx.existing(table) {
                risk::type_change(ctx, table, column, &from, &to);
            }
            set(ctx, table, column, |c| c.data_type = to.clone());
            format!("type {from} → {to}")
        }
        AlterColumnOperation::SetNotNull => {
            if ctx.existing(table) {
                ctx.risk(RiskKind::LongLock, format!("`SET NOT NULL` on `{table}.{column}` scans the whole table under an ACCESS EXCLUSIVE lock; add `CHECK ({column} IS NOT NULL) NOT VALID`, validate it, then set NOT NULL"));
            }
            set(ctx, table, column, |c| c.nullable = false);
            "set not null".to_string()
        }
        AlterColumnOperation::DropNotNull => {
            set(ctx, table, column, |c| c.nullable = true);
            "drop not null".to_string()
        }
        AlterColumnOperation::SetDefault { value } => {
            let value = value.to_string();
            set(ctx, table, column, |c| c.default = Some(value.clone()));
            format!("default {value}")
        }
        AlterColumnOperation::DropDefault => {
            set(ctx, table, column, |c| c.default = None);
            "drop default".to_string()
        }
        other => other.to_string().to_lowercase(),
    };
    ctx.modified(table, format!("{column}: {change}"));
    let at = ctx.at();
    ctx.summary.changed_columns.push(ChangedColumn {
        table: table.to_string(),
        column: column.to_string(),
        change,
        at,
    });
}

fn set(ctx: &mut Ctx<'_>, table: &str, column: &str, change: impl FnOnce(&mut ColumnDef)) {
    if let Some(c) = ctx
        .schema
        .tables
        .get_mut(table)
        .and_then(|t| t.column_mut(column))
    {
        change(c);
    }
}
