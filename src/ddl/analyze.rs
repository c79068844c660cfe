//! The analyzer's driver: splits a file, parses each statement on its own with
//! sqlparser (PostgreSQL dialect), and sends it to the handler for its kind; what does not
//! parse goes to `fallback`. Table statements live in `tables`; risks in `risk`.

use std::collections::BTreeSet;
use std::sync::Arc;

use sqlparser::ast::{
    AlterTypeAddValuePosition, AlterTypeOperation, CommentObject, CopySource, FromTable,
    ObjectType, Statement as Ast, TableFactor, UserDefinedTypeRepresentation,
};

use super::model::{Schema, TypeDef};
use super::names;
use super::parse::{DataKind, Parsed};
use super::summary::{
    At, DataChange, Dropped, FileSummary, Index, ModifiedTable, ObjectChange, Risk, RiskKind,
    TypeChange,
};
use crate::sql::{split, Piece, SplitError, Statement};

/// State while one file is read.
pub(super) struct Ctx<'a> {
    pub file: &'a str,
    /// `file`, shared by every entry's location.
    pub shared_file: Arc<str>,
    pub schema: &'a mut Schema,
    pub summary: FileSummary,
    /// Tables created by this file (so not "existing").
    pub created: BTreeSet<String>,
    pub line: usize,
    /// Risks silenced for the current statement by `-- dbkit:allow`.
    pub allowed: Vec<RiskKind>,
    /// Inside an explicit `BEGIN` ... `COMMIT` of the file's own.
    pub in_transaction_block: bool,
}

impl Ctx<'_> {
    /// Where the current statement is.
    pub fn at(&self) -> At {
        At {
            file: Arc::clone(&self.shared_file),
            line: self.line,
        }
    }

    /// True when `table` existed before this file.
    pub fn existing(&self, table: &str) -> bool {
        self.schema.tables.contains_key(table) && !self.created.contains(table)
    }

    /// Notes a risk on the current statement.
    pub fn risk(&mut self, risk: RiskKind, reason: impl Into<String>) {
        let at = self.at();
        self.summary.risks.push(Risk {
            risk,
            reason: reason.into(),
            allowed: self.allowed.contains(&risk),
            at,
        });
    }

    /// Adds a change phrase to a table that existed before the file.
    pub fn modified(&mut self, table: &str, change: String) {
        if !self.existing(table) {
            return;
        }
        let at = self.at();
        match self
            .summary
            .modified_tables
            .iter_mut()
            .find(|t| t.table == table)
        {
            Some(entry) => entry.changes.push(change),
            None => self.summary.modified_tables.push(ModifiedTable {
                table: table.to_string(),
                changes: vec![change],
                at,
            }),
        }
    }

    /// Flags an identifier PostgreSQL would truncate.
    pub fn check_identifier(&mut self, name: &str) {
        if names::too_long(name) {
            self.risk(
                RiskKind::IdentifierTooLong,
                format!("`{name}` is longer than 63 bytes; PostgreSQL truncates it silently"),
            );
        }
    }

    /// Counts a `CREATE` for the project's `IF NOT EXISTS` convention, and flags one that
    /// breaks it.
    pub fn create(&mut self, what: &str, if_not_exists: bool) {
        if !if_not_exists && self.schema.prefers_if_not_exists() {
            self.risk(
                RiskKind::NotIdempotent,
                format!("`CREATE {what}` without `IF NOT EXISTS`, which the project's other migrations use"),
            );
        }
        self.schema.creates += 1;
        self.schema.creates_if_not_exists += usize::from(if_not_exists);
    }

    /// An entry for the object sections.
    pub fn object(&self, name: String, action: &str, detail: Option<String>) -> ObjectChange {
        ObjectChange {
            name,
            action: action.to_string(),
            detail,
            at: self.at(),
        }
    }
}

/// Reads one file into a summary, updating the schema model.
pub(crate) fn analyze(
    file: &str,
    text: &str,
    schema: &mut Schema,
) -> Result<FileSummary, SplitError> {
    let pieces = split(text)?;
    let mut ctx = Ctx {
        file,
        shared_file: Arc::from(file),
        schema,
        summary: FileSummary {
            file: file.to_string(),
            ..FileSummary::default()
        },
        created: BTreeSet::new(),
        line: 1,
        allowed: Vec::new(),
        in_transaction_block: false,
    };
    let statements: Vec<&Statement<'_>> = pieces
        .iter()
        .filter_map(|piece| match piece {
            Piece::Statement(s) if !s.is_empty() => Some(s),
            _ => None,
        })
        .collect();
    let mut previous_end = 0;
    for window in statements.chunks(super::parse::WINDOW) {
        for (statement, parsed) in window.iter().zip(super::parse::window(window)) {
            ctx.summary.statements += 1;
            ctx.line = statement.line;
            ctx.allowed = allowed(&text[previous_end..statement.end]);
            previous_end = statement.end;
            consume(&mut ctx, parsed, statement);
        }
    }
    Ok(ctx.summary)
}

fn consume(ctx: &mut Ctx<'_>, parsed: Parsed, statement: &Statement<'_>) {
    match parsed {
        Parsed::Ast(ast) => {
            // Parsed statements dbkit does not document land in "not analysed" too;
            // each statement counts in exactly one of the two.
            let before = ctx.summary.not_analysed.len();
            dispatch(ctx, *ast, statement);
            ctx.summary.analysed += usize::from(ctx.summary.not_analysed.len() == before);
        }
        Parsed::Data(kind, table) => {
            ctx.summary.analysed += 1;
            data(ctx, &table, |d| match kind {
                DataKind::Insert => d.inserts += 1,
                DataKind::Update => d.updates += 1,
                DataKind::Delete => d.deletes += 1,
            });
        }
        Parsed::Unparsed if super::fallback::recognize(ctx, statement) => ctx.summary.analysed += 1,
        Parsed::Unparsed => super::fallback::classify(ctx, statement),
    }
}

/// Risks named in `-- dbkit:allow a, b` comments.
fn allowed(text: &str) -> Vec<RiskKind> {
    if !text.contains("dbkit:allow") {
        return Vec::new();
    }
    text.lines()
        .filter_map(|line| line.split_once("--").map(|(_, c)| c.trim()))
        .filter_map(|comment| comment.strip_prefix("dbkit:allow"))
        .flat_map(|names| names.split([',', ' ']).map(str::trim).collect::<Vec<_>>())
        .filter_map(RiskKind::from_name)
        .collect()
}

fn dispatch(ctx: &mut Ctx<'_>, ast: Ast, statement: &Statement<'_>) {
    match ast {
        Ast::CreateTable(create) => super::tables::create(ctx, &create),
        Ast::AlterTable(alter) => super::tables::alter(ctx, &alter),
        Ast::CreateIndex(index) => create_index(ctx, &index),
        Ast::Drop {
            object_type,
            names: dropped,
            cascade,
            ..
        } => {
            // The AST does not keep `DROP INDEX CONCURRENTLY`; the keywords do.
            let concurrently = statement
                .leading_keywords(3)
                .iter()
                .any(|w| w == "CONCURRENTLY");
            drop(ctx, object_type, &dropped, cascade, concurrently)
        }
        Ast::CreateType {
            name,
            representation,
        } => create_type(ctx, &names::object(&name), representation.as_ref()),
        Ast::AlterType(alter) => alter_type(ctx, &names::object(&alter.name), &alter.operation),
        Ast::CreateDomain(domain) => {
            let name = names::object(&domain.name);
            let detail = Some(format!(
                "over {}",
                domain.data_type.to_string().to_lowercase()
            ));
            push_type(ctx, &name, "domain", "created", Vec::new(), detail);
        }
        Ast::StartTransaction { .. } => ctx.in_transaction_block = true,
        Ast::Commit { .. }
        | Ast::Rollback {
            savepoint: None, ..
        } => ctx.in_transaction_block = false,
        other => other_statement(ctx, other, statement),
    }
}

/// Views, functions, triggers, policies, extensions, schemas, comments, grants, data.
fn other_statement(ctx: &mut Ctx<'_>, ast: Ast, statement: &Statement<'_>) {
    let bodies = || super::fallback::ddl_in_bodies(statement);
    match ast {
        Ast::CreateView(view) => {
            let name = names::object(&view.name);
            ctx.schema.views.insert(name.clone());
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
            let entry = ctx.object(names::object(&name), "altered", None);
            ctx.summary.views.push(entry);
        }
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
            let action = if or_alter {
                "created or replaced"
            } else {
                "created"
            };
            let entry = ctx.object(
                format!("{} (procedure)", names::object(&name)),
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
            ctx.create("SCHEMA", if_not_exists);
            let entry = ctx.object(schema_name.to_string(), "created", None);
            ctx.summary.schemas.push(entry);
        }
        Ast::CreateSequence {
            name,
            if_not_exists,
            ..
        } => {
            ctx.create("SEQUENCE", if_not_exists);
            let entry = ctx.object(names::object(&name), "created", None);
            ctx.summary.sequences.push(entry);
        }
        Ast::Comment {
            object_type,
            object_name,
            comment,
            ..
        } => comment_on(ctx, object_type, &names::object(&object_name), comment),
        Ast::Grant(_) | Ast::Revoke(_) => {
            let sql = statement.code();
            let action = if sql.to_ascii_uppercase().starts_with("GRANT") {
                "granted"
            } else {
                "revoked"
            };
            let entry = ctx.object(shorten(&sql, 100), action, None);
            ctx.summary.grants.push(entry);
        }
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
            data(ctx, &names::object(&table_name), |d| d.copies += 1);
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
        Ast::AlterIndex { name, operation } => {
            let index = names::object(&name);
            if let Some(table) = ctx.schema.indexes.get(&index).cloned() {
                ctx.modified(
                    &table,
                    format!("index {index}: {}", operation.to_string().to_lowercase()),
                );
            }
        }
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
fn data(ctx: &mut Ctx<'_>, table: &str, count: impl FnOnce(&mut DataChange)) {
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

fn comment_on(ctx: &mut Ctx<'_>, object_type: CommentObject, name: &str, comment: Option<String>) {
    let kind = object_type.to_string().to_lowercase();
    let detail = Some(comment.map_or("comment removed".to_string(), |c| shorten(&c, 80)));
    let entry = ctx.object(format!("{kind} {name}"), "commented", detail);
    ctx.summary.comments.push(entry);
}

fn create_index(ctx: &mut Ctx<'_>, index: &sqlparser::ast::CreateIndex) {
    let table = names::object(&index.table_name);
    let name = index.name.as_ref().map(names::object);
    ctx.create("INDEX", index.if_not_exists);
    if let Some(name) = &name {
        ctx.check_identifier(name);
        ctx.schema.indexes.insert(name.clone(), table.clone());
    }
    super::risk::index(
        ctx,
        &table,
        index.concurrently,
        name.as_deref().unwrap_or("(unnamed)"),
        false,
    );
    let entry = Index {
        name,
        table,
        columns: index.columns.iter().map(|c| c.to_string()).collect(),
        unique: index.unique,
        concurrently: index.concurrently,
        method: index.using.as_ref().map(|m| m.to_string().to_lowercase()),
        predicate: index.predicate.as_ref().map(ToString::to_string),
        dropped: false,
        at: ctx.at(),
    };
    ctx.summary.indexes.push(entry);
}

fn drop(
    ctx: &mut Ctx<'_>,
    object_type: ObjectType,
    dropped: &[sqlparser::ast::ObjectName],
    cascade: bool,
    concurrently: bool,
) {
    for name in dropped.iter().map(names::object) {
        let at = ctx.at();
        match object_type {
            ObjectType::Table => {
                ctx.risk(
                    RiskKind::DataLoss,
                    format!("`DROP TABLE {name}` deletes the table and its rows"),
                );
                ctx.schema.tables.remove(&name);
                ctx.summary.dropped_tables.push(Dropped {
                    object: name,
                    cascade,
                    at,
                });
            }
            ObjectType::Index => {
                let table = ctx.schema.indexes.remove(&name).unwrap_or_default();
                super::risk::index(ctx, &table, concurrently, &name, true);
                ctx.summary.indexes.push(Index {
                    name: Some(name),
                    table,
                    columns: Vec::new(),
                    unique: false,
                    concurrently,
                    method: None,
                    predicate: None,
                    dropped: true,
                    at,
                });
            }
            ObjectType::View | ObjectType::MaterializedView => {
                ctx.schema.views.remove(&name);
                let entry = ctx.object(name, "dropped", None);
                ctx.summary.views.push(entry);
            }
            ObjectType::Type => {
                ctx.schema.types.remove(&name);
                push_type(ctx, &name, "type", "dropped", Vec::new(), None);
            }
            ObjectType::Schema => {
                let entry = ctx.object(name, "dropped", cascade.then(|| "cascade".to_string()));
                ctx.summary.schemas.push(entry);
            }
            ObjectType::Sequence => {
                let entry = ctx.object(name, "dropped", None);
                ctx.summary.sequences.push(entry);
            }
            _ => {
                let kind = format!("DROP {object_type}");
                ctx.summary.not_analysed.push(super::summary::NotAnalysed {
                    kind,
                    note: Some(name),
                    at,
                });
            }
        }
    }
}

fn create_type(
    ctx: &mut Ctx<'_>,
    name: &str,
    representation: Option<&UserDefinedTypeRepresentation>,
) {
    let (kind, values) = match representation {
        Some(UserDefinedTypeRepresentation::Enum { labels }) => {
            ("enum", labels.iter().map(|l| l.value.clone()).collect())
        }
        Some(UserDefinedTypeRepresentation::Composite { .. }) => ("composite", Vec::new()),
        Some(UserDefinedTypeRepresentation::Range { .. }) => ("range", Vec::new()),
        _ => ("type", Vec::new()),
    };
    ctx.check_identifier(name);
    ctx.schema.types.insert(
        name.to_string(),
        TypeDef {
            name: name.to_string(),
            kind: kind.to_string(),
            values: values.clone(),
        },
    );
    push_type(ctx, name, kind, "created", values, None);
}

fn alter_type(ctx: &mut Ctx<'_>, name: &str, operation: &AlterTypeOperation) {
    match operation {
        AlterTypeOperation::AddValue(add) => {
            let value = add.value.value.clone();
            let detail = add.position.as_ref().map(|p| match p {
                AlterTypeAddValuePosition::Before(v) => format!("before '{}'", v.value),
                AlterTypeAddValuePosition::After(v) => format!("after '{}'", v.value),
            });
            if add.position.is_none() {
                ctx.risk(
                    RiskKind::EnumValueOrder,
                    format!("'{value}' is added at the end of `{name}` (no BEFORE/AFTER); enum order is sort order"),
                );
            }
            if let Some(def) = ctx.schema.types.get_mut(name) {
                def.values.push(value.clone());
            }
            push_type(ctx, name, "enum", "value added", vec![value], detail);
        }
        AlterTypeOperation::RenameValue(rename) => {
            let detail = Some(format!("'{}' → '{}'", rename.from.value, rename.to.value));
            push_type(ctx, name, "enum", "value renamed", Vec::new(), detail);
        }
        AlterTypeOperation::Rename(rename) => {
            let detail = Some(format!("to {}", names::ident(&rename.new_name)));
            ctx.risk(
                RiskKind::Rename,
                format!("type `{name}` is renamed; code that names it breaks"),
            );
            push_type(ctx, name, "type", "renamed", Vec::new(), detail);
        }
    }
}

fn push_type(
    ctx: &mut Ctx<'_>,
    name: &str,
    kind: &str,
    action: &str,
    values: Vec<String>,
    detail: Option<String>,
) {
    let at = ctx.at();
    let kind = ctx
        .schema
        .types
        .get(name)
        .map_or(kind, |t| t.kind.as_str())
        .to_string();
    ctx.summary.types.push(TypeChange {
        name: name.to_string(),
        kind,
        action: action.to_string(),
        values,
        detail,
        at,
    });
}
