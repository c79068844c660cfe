//! Statements about objects other than tables and types: views, functions and
//! procedures, triggers, policies, extensions, schemas, sequences, comments, grants, and
//! data statements counted per table.

use sqlparser::ast::{
    CommentObject, CopySource, FromTable, GrantObjects, Grantee, Privileges, Statement as Ast,
    TableFactor,
};

use super::analyze::Ctx;
use super::model::{ViewColumn, ViewShape};
use super::names;
use super::summary::{DataChange, RiskKind};
use crate::sql::Statement;

/// Views, functions, triggers, policies, extensions, schemas, comments, grants, data:
/// each family has a handler of its own.
pub(super) fn other_statement(ctx: &mut Ctx<'_>, ast: &Ast, statement: &Statement<'_>) {
    match ast {
        Ast::CreateView(_) | Ast::AlterView { .. } => views(ctx, ast),
        Ast::CreateFunction(_) | Ast::CreateProcedure { .. } | Ast::DropFunction(_) => {
            routines(ctx, ast, statement)
        }
        Ast::CreateTrigger(_) | Ast::DropTrigger(_) => triggers(ctx, ast),
        Ast::CreatePolicy(_) | Ast::AlterPolicy(_) | Ast::DropPolicy(_) => policies(ctx, ast),
        Ast::CreateExtension(_)
        | Ast::DropExtension(_)
        | Ast::CreateSchema { .. }
        | Ast::CreateSequence { .. } => namespaces(ctx, ast),
        Ast::Comment { .. } | Ast::Grant(_) | Ast::Revoke(_) => access(ctx, ast),
        Ast::Insert(_)
        | Ast::Update(_)
        | Ast::Delete(_)
        | Ast::Truncate(_)
        | Ast::Copy {
            source: CopySource::Table { .. },
            to: false,
            ..
        } => data_statement(ctx, ast),
        Ast::AlterIndex { .. } => alter_index(ctx, ast),
        // Session settings, queries and transaction control change no schema.
        Ast::Set(_)
        | Ast::Query(_)
        | Ast::Savepoint { .. }
        | Ast::ReleaseSavepoint { .. }
        | Ast::Rollback { .. }
        | Ast::Analyze(_) => {}
        _ => super::fallback::parsed_but_undocumented(ctx, statement),
    }
}

/// Views: created, replaced, altered.
fn views(ctx: &mut Ctx<'_>, ast: &Ast) {
    match ast {
        Ast::CreateView(view) => {
            let name = names::object(&view.name);
            ctx.schema.views.insert(name.clone());
            ctx.schema
                .view_shapes
                .insert(name.clone(), view_shape(view));
            let action = if view.or_replace {
                "created or replaced"
            } else {
                "created"
            };
            let detail = view.materialized.then(|| "materialized".to_string());
            let entry = ctx.object(name, action, detail);
            ctx.summary.views.push(entry);
        }
        Ast::AlterView { name, .. } => {
            let entry = ctx.object(names::object(name), "altered", None);
            ctx.summary.views.push(entry);
        }
        _ => {}
    }
}

/// A view's columns (its column list, else its select list: an alias, else the column
/// or function named, else `?column?` as PostgreSQL names it) with the table each plain
/// column comes from, and the relations its query reads (CTEs left out).
fn view_shape(view: &sqlparser::ast::CreateView) -> ViewShape {
    use sqlparser::ast::{Expr, SelectItem, SetExpr};
    let mut body = &*view.query.body;
    while let SetExpr::SetOperation { left, .. } = body {
        body = left;
    }
    let select = match body {
        SetExpr::Select(select) => Some(select),
        _ => None,
    };
    // Aliases (and bare names) of the tables in FROM, for `alias.column`.
    let mut from: Vec<(String, String)> = Vec::new();
    if let Some(select) = select {
        for joined in &select.from {
            let factors =
                std::iter::once(&joined.relation).chain(joined.joins.iter().map(|j| &j.relation));
            for factor in factors {
                if let TableFactor::Table { name, alias, .. } = factor {
                    let table = names::object(name);
                    let short = names::last(name);
                    let key = alias.as_ref().map_or(short, |a| names::ident(&a.name));
                    from.push((key, table));
                }
            }
        }
    }
    let source = |expr: &Expr| -> Option<(String, String)> {
        match expr {
            Expr::Identifier(column) if from.len() == 1 => {
                Some((from[0].1.clone(), names::ident(column)))
            }
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                let key = names::ident(&parts[0]);
                let (_, table) = from.iter().find(|(k, _)| *k == key)?;
                Some((table.clone(), names::ident(&parts[1])))
            }
            _ => None,
        }
    };
    let named = |expr: &Expr| -> String {
        match expr {
            Expr::Identifier(i) => names::ident(i),
            Expr::CompoundIdentifier(parts) => parts.last().map(names::ident).unwrap_or_default(),
            Expr::Function(f) => names::last(&f.name),
            Expr::Cast { expr, .. } | Expr::Nested(expr) => match &**expr {
                Expr::Identifier(i) => names::ident(i),
                Expr::CompoundIdentifier(parts) => {
                    parts.last().map(names::ident).unwrap_or_default()
                }
                _ => "?column?".into(),
            },
            _ => "?column?".into(),
        }
    };
    type Source = Option<(String, String)>;
    let mut columns: Vec<(String, Source)> = Vec::new();
    let column = |((name, from), data_type): ((String, Source), Option<String>)| ViewColumn {
        name,
        data_type,
        from,
    };
    // The type an expression has whatever its inputs: a cast's, a count's, a test's.
    fn known_type(expr: &Expr) -> Option<String> {
        match expr {
            Expr::Cast { data_type, .. } => Some(data_type.to_string().to_lowercase()),
            Expr::Function(f) if names::last(&f.name) == "count" => Some("bigint".into()),
            Expr::Exists { .. }
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::InList { .. }
            | Expr::InSubquery { .. }
            | Expr::Like { .. }
            | Expr::ILike { .. }
            | Expr::Between { .. } => Some("boolean".into()),
            Expr::Nested(inner) => known_type(inner),
            Expr::Subquery(query) => match &*query.body {
                SetExpr::Select(select) => match select.projection.as_slice() {
                    [SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }] => {
                        known_type(e)
                    }
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    }
    let mut types: Vec<Option<String>> = Vec::new();
    if let Some(select) = select {
        for item in &select.projection {
            match item {
                SelectItem::UnnamedExpr(expr) => {
                    columns.push((named(expr), source(expr)));
                    types.push(known_type(expr));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    columns.push((names::ident(alias), source(expr)));
                    types.push(known_type(expr));
                }
                SelectItem::Wildcard(_) => {
                    columns.push(("*".into(), None));
                    types.push(None);
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    columns.push((format!("{kind}.*").to_lowercase(), None));
                    types.push(None);
                }
                _ => {}
            }
        }
    }
    if !view.columns.is_empty() {
        let sources = columns
            .into_iter()
            .map(|(_, s)| s)
            .chain(std::iter::repeat(None));
        columns = view
            .columns
            .iter()
            .zip(sources)
            .map(|(c, s)| (names::ident(&c.name), s))
            .collect();
    }
    let ctes: Vec<String> = view
        .query
        .with
        .iter()
        .flat_map(|with| with.cte_tables.iter().map(|c| names::ident(&c.alias.name)))
        .collect();
    let mut reads: Vec<String> = Vec::new();
    let _ = sqlparser::ast::visit_relations(&view.query, |relation| {
        let name = names::object(relation);
        if !ctes.contains(&name) && !reads.contains(&name) {
            reads.push(name);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    ViewShape {
        columns: columns
            .into_iter()
            .zip(types.into_iter().chain(std::iter::repeat(None)))
            .map(column)
            .collect(),
        reads,
    }
}

/// Functions and procedures: created or replaced (with what their bodies do), dropped.
fn routines(ctx: &mut Ctx<'_>, ast: &Ast, statement: &Statement<'_>) {
    let bodies = || super::fallback::ddl_in_bodies(statement);
    match ast {
        Ast::CreateFunction(function) => {
            let name = names::object(&function.name);
            ctx.schema.functions.insert(name.clone());
            let action = if function.or_replace {
                "created or replaced"
            } else {
                "created"
            };
            let returns = function
                .return_type
                .as_ref()
                .map(|r| format!("returns {}", r.to_string().to_lowercase()));
            let detail = [returns, bodies()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ");
            let entry = ctx.object(name, action, (!detail.is_empty()).then_some(detail));
            ctx.summary.functions.push(entry);
        }
        Ast::CreateProcedure { name, or_alter, .. } => {
            let action = if *or_alter {
                "created or replaced"
            } else {
                "created"
            };
            let entry = ctx.object(
                format!("{} (procedure)", names::object(name)),
                action,
                bodies(),
            );
            ctx.summary.functions.push(entry);
        }
        Ast::DropFunction(drop) => {
            for function in &drop.func_desc {
                let name = names::object(&function.name);
                ctx.schema.functions.remove(&name);
                let entry = ctx.object(name, "dropped", None);
                ctx.summary.functions.push(entry);
            }
        }
        _ => {}
    }
}

/// Triggers: created (when, on what) and dropped.
fn triggers(ctx: &mut Ctx<'_>, ast: &Ast) {
    match ast {
        Ast::CreateTrigger(trigger) => {
            let table = names::object(&trigger.table_name);
            let events: Vec<String> = trigger
                .events
                .iter()
                .map(|e| e.to_string().to_lowercase())
                .collect();
            let timing = trigger
                .period
                .map(|p| p.to_string().to_lowercase())
                .unwrap_or_default();
            let detail = format!("{timing} {} on {table}", events.join(" or "))
                .trim()
                .to_string();
            let entry = ctx.object(names::object(&trigger.name), "created", Some(detail));
            ctx.summary.triggers.push(entry);
        }
        Ast::DropTrigger(drop) => {
            let on = drop
                .table_name
                .as_ref()
                .map(|t| format!("on {}", names::object(t)));
            let entry = ctx.object(names::object(&drop.trigger_name), "dropped", on);
            ctx.summary.triggers.push(entry);
        }
        _ => {}
    }
}

/// Row-level security policies: created, altered, dropped.
fn policies(ctx: &mut Ctx<'_>, ast: &Ast) {
    match ast {
        Ast::CreatePolicy(policy) => {
            let table = names::object(&policy.table_name);
            let command = policy
                .command
                .as_ref()
                .map(|c| c.to_string().to_lowercase())
                .unwrap_or_else(|| "all".into());
            let entry = ctx.object(
                names::ident(&policy.name),
                "created",
                Some(format!("on {table} for {command}")),
            );
            ctx.summary.policies.push(entry);
        }
        Ast::AlterPolicy(policy) => {
            let entry = ctx.object(
                names::ident(&policy.name),
                "altered",
                Some(format!("on {}", names::object(&policy.table_name))),
            );
            ctx.summary.policies.push(entry);
        }
        Ast::DropPolicy(policy) => {
            let entry = ctx.object(
                names::ident(&policy.name),
                "dropped",
                Some(format!("on {}", names::object(&policy.table_name))),
            );
            ctx.summary.policies.push(entry);
        }
        _ => {}
    }
}

/// Extensions, schemas and sequences.
fn namespaces(ctx: &mut Ctx<'_>, ast: &Ast) {
    match ast {
        Ast::CreateExtension(extension) => {
            ctx.create("EXTENSION", extension.if_not_exists);
            let detail = extension
                .schema
                .as_ref()
                .map(|s| format!("in schema {}", names::ident(s)));
            let entry = ctx.object(names::ident(&extension.name), "created", detail);
            ctx.summary.extensions.push(entry);
        }
        Ast::DropExtension(drop) => {
            for name in &drop.names {
                let entry = ctx.object(names::ident(name), "dropped", None);
                ctx.summary.extensions.push(entry);
            }
        }
        Ast::CreateSchema {
            schema_name,
            if_not_exists,
            ..
        } => {
            ctx.create("SCHEMA", *if_not_exists);
            let entry = ctx.object(schema_name.to_string(), "created", None);
            ctx.summary.schemas.push(entry);
        }
        Ast::CreateSequence {
            name,
            if_not_exists,
            ..
        } => {
            ctx.create("SEQUENCE", *if_not_exists);
            let entry = ctx.object(names::object(name), "created", None);
            ctx.summary.sequences.push(entry);
        }
        _ => {}
    }
}

/// Comments and grants.
fn access(ctx: &mut Ctx<'_>, ast: &Ast) {
    match ast {
        Ast::Comment {
            object_type,
            object_name,
            comment,
            ..
        } => comment_on(
            ctx,
            *object_type,
            &names::object(object_name),
            comment.as_deref(),
        ),
        Ast::Grant(grant) => grants(
            ctx,
            grant.objects.as_ref(),
            &grant.privileges,
            &grant.grantees,
            true,
        ),
        Ast::Revoke(revoke) => grants(
            ctx,
            revoke.objects.as_ref(),
            &revoke.privileges,
            &revoke.grantees,
            false,
        ),
        _ => {}
    }
}

/// Data statements, counted per table (`TRUNCATE` is data loss).
fn data_statement(ctx: &mut Ctx<'_>, ast: &Ast) {
    match ast {
        Ast::Insert(insert) => data(ctx, &insert.table.to_string(), |d| d.inserts += 1),
        Ast::Update(update) => data(ctx, &relation(&update.table.relation), |d| d.updates += 1),
        Ast::Delete(delete) => {
            let tables = match &delete.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t.clone(),
            };
            for table in tables {
                data(ctx, &relation(&table.relation), |d| d.deletes += 1);
            }
        }
        Ast::Copy {
            source: CopySource::Table { table_name, .. },
            to: false,
            ..
        } => {
            data(ctx, &names::object(table_name), |d| d.copies += 1);
        }
        Ast::Truncate(truncate) => {
            for target in &truncate.table_names {
                let table = names::object(&target.name);
                ctx.risk(
                    RiskKind::DataLoss,
                    format!("`TRUNCATE {table}` removes every row"),
                );
                data(ctx, &table, |d| d.deletes += 1);
            }
        }
        _ => {}
    }
}

/// `ALTER INDEX`: a change to the table the index belongs to.
fn alter_index(ctx: &mut Ctx<'_>, ast: &Ast) {
    let Ast::AlterIndex { name, operation } = ast else {
        return;
    };
    let index = names::object(name);
    if let Some(table) = ctx.schema.indexes.get(&index).cloned() {
        ctx.modified(
            &table,
            format!("index {index}: {}", operation.to_string().to_lowercase()),
        );
    }
}

fn relation(factor: &TableFactor) -> String {
    match factor {
        TableFactor::Table { name, .. } => names::object(name),
        other => other.to_string(),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    format!("{}...", text.chars().take(max - 3).collect::<String>())
}

/// Counts a data statement on a table.
pub(super) fn data(ctx: &mut Ctx<'_>, table: &str, count: impl FnOnce(&mut DataChange)) {
    let table = table.strip_prefix("public.").unwrap_or(table).to_string();
    let line = ctx.line;
    let file = ctx.file.to_string();
    let entry = match ctx.summary.data.iter().position(|d| d.table == table) {
        Some(i) => &mut ctx.summary.data[i],
        None => {
            ctx.summary.data.push(DataChange {
                table,
                file,
                ..DataChange::default()
            });
            ctx.summary.data.last_mut().expect("just pushed")
        }
    };
    count(entry);
    entry.lines.push(line);
}

/// `GRANT`/`REVOKE`: one entry per grantee, labelled by the object, with the privileges
/// and the role as detail (`orders: granted (SELECT, INSERT to app_user)`).
fn grants(
    ctx: &mut Ctx<'_>,
    objects: Option<&GrantObjects>,
    privileges: &Privileges,
    grantees: &[Grantee],
    granted: bool,
) {
    let object = match objects {
        Some(GrantObjects::Tables(tables)) => tables
            .iter()
            .map(names::object)
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
        None => privileges.to_string(),
    };
    let (action, preposition) = if granted {
        ("granted", "to")
    } else {
        ("revoked", "from")
    };
    for grantee in grantees {
        let detail = match objects {
            Some(_) => format!("{privileges} {preposition} {grantee}"),
            None => format!("{preposition} {grantee}"),
        };
        let entry = ctx.object(shorten(&object, 100), action, Some(detail));
        ctx.summary.grants.push(entry);
    }
}

fn comment_on(ctx: &mut Ctx<'_>, object_type: CommentObject, name: &str, comment: Option<&str>) {
    let kind = object_type.to_string().to_lowercase();
    // One line, so a multi-line comment does not break the list it is shown in.
    let one_line = |c: &str| c.split_whitespace().collect::<Vec<_>>().join(" ");
    let detail = Some(comment.map_or("comment removed".to_string(), |c| shorten(&one_line(c), 80)));
    let entry = ctx.object(format!("{kind} {name}"), "commented", detail);
    ctx.summary.comments.push(entry);
}
