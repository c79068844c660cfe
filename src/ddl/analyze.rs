//! The analyzer's driver: splits a file, parses each statement on its own with
//! sqlparser (PostgreSQL dialect), and sends it to the handler for its kind; what does not
//! parse goes to `fallback`. Table statements live in `tables`; risks in `risk`.

use std::collections::BTreeSet;
use std::sync::Arc;

use sqlparser::ast::{ObjectType, Statement as Ast};

use super::model::Schema;
use super::names;
use super::parse::{DataKind, Parsed};
use super::summary::{
    At, Constraint, Dropped, FileSummary, Index, ModifiedTable, ObjectChange, Risk, RiskKind,
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
    /// What the lint rules remember across statements.
    pub lint: super::lint::State,
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
    let lint = super::lint::State::new(text, &pieces);
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
        lint,
    };
    // Only the statements are kept, not the pieces around them: a large dump's pieces
    // take nearly as much memory as its text. (`collect` reuses the pieces' buffer,
    // hence the shrink.)
    let mut statements: Vec<Statement<'_>> = pieces
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Statement(s) if !s.is_empty() => Some(s),
            _ => None,
        })
        .collect();
    statements.shrink_to_fit();
    let mut previous_end = 0;
    super::parse::each(&statements, |statement, parsed| {
        ctx.summary.statements += 1;
        ctx.line = statement.line;
        // A comment after the `;` on the statement's last line is the statement's.
        let rest = &text[statement.end..];
        let line_end = statement.end + rest.find('\n').unwrap_or(rest.len());
        let end = if text[statement.end..line_end].trim_start().starts_with("--") {
            line_end
        } else {
            statement.end
        };
        ctx.allowed = allowed(&text[previous_end..end]);
        previous_end = end;
        super::lint::statement(&mut ctx, statement, parsed);
        let risks_before = ctx.summary.risks.len();
        consume(&mut ctx, parsed, statement);
        super::lint::after(&mut ctx, statement, risks_before);
    });
    Ok(ctx.summary)
}

fn consume(ctx: &mut Ctx<'_>, parsed: &Parsed, statement: &Statement<'_>) {
    match parsed {
        Parsed::Ast(ast) => {
            // Parsed statements dbkit does not document land in "not analysed" too;
            // each statement counts in exactly one of the two.
            let before = ctx.summary.not_analysed.len();
            dispatch(ctx, ast, statement);
            ctx.summary.analysed += usize::from(ctx.summary.not_analysed.len() == before);
        }
        Parsed::Data(kind, table) => {
            ctx.summary.analysed += 1;
            super::objects::data(ctx, table, |d| match kind {
                DataKind::Insert => d.inserts += 1,
                DataKind::Update => d.updates += 1,
                DataKind::Delete => d.deletes += 1,
            });
        }
        Parsed::Identity(identity) => {
            ctx.summary.analysed += 1;
            super::fallback::add_identity(ctx, identity);
        }
        Parsed::Unparsed(message) => super::fallback::classify(ctx, statement, message),
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

fn dispatch(ctx: &mut Ctx<'_>, ast: &Ast, statement: &Statement<'_>) {
    match ast {
        Ast::CreateTable(create) => super::tables::create(ctx, create),
        Ast::AlterTable(alter) => super::tables::alter(ctx, alter),
        Ast::CreateIndex(index) => create_index(ctx, index),
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
            drop(ctx, *object_type, dropped, *cascade, concurrently)
        }
        Ast::CreateType {
            name,
            representation,
        } => super::types::create_type(ctx, &names::object(name), representation.as_ref()),
        Ast::AlterType(alter) => {
            super::types::alter_type(ctx, &names::object(&alter.name), &alter.operation)
        }
        Ast::CreateDomain(domain) => {
            let name = names::object(&domain.name);
            let detail = Some(format!(
                "over {}",
                domain.data_type.to_string().to_lowercase()
            ));
            super::types::push_type(ctx, &name, "domain", "created", Vec::new(), detail);
        }
        Ast::StartTransaction { .. } => ctx.in_transaction_block = true,
        Ast::Commit { .. }
        | Ast::Rollback {
            savepoint: None, ..
        } => ctx.in_transaction_block = false,
        other => super::objects::other_statement(ctx, other, statement),
    }
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
    let documented = matches!(
        object_type,
        ObjectType::Table
            | ObjectType::Index
            | ObjectType::View
            | ObjectType::MaterializedView
            | ObjectType::Type
            | ObjectType::Schema
            | ObjectType::Sequence
    );
    if !documented {
        // One statement, one entry, however many objects it names (`DROP ROLE a, b, c`).
        let names: Vec<String> = dropped.iter().map(names::object).collect();
        let at = ctx.at();
        ctx.summary.not_analysed.push(super::summary::NotAnalysed {
            kind: format!("DROP {object_type}"),
            note: Some(names.join(", ")),
            at,
        });
        return;
    }
    for name in dropped.iter().map(names::object) {
        let at = ctx.at();
        match object_type {
            ObjectType::Table => {
                let reason = format!("`DROP TABLE {name}` deletes the table and its rows");
                drop_table(ctx, name, cascade, reason);
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
                super::types::push_type(ctx, &name, "type", "dropped", Vec::new(), None);
            }
            ObjectType::Schema => {
                if cascade {
                    drop_schema_contents(ctx, &name);
                }
                let entry = ctx.object(name, "dropped", cascade.then(|| "cascade".to_string()));
                ctx.summary.schemas.push(entry);
            }
            ObjectType::Sequence => {
                let entry = ctx.object(name, "dropped", None);
                ctx.summary.sequences.push(entry);
            }
            // The kinds not documented returned above.
            _ => {}
        }
    }
}

/// A dropped table: gone from the model with the foreign keys that point at it (which
/// only `CASCADE` lets PostgreSQL drop), each listed.
fn drop_table(ctx: &mut Ctx<'_>, name: String, cascade: bool, reason: String) {
    ctx.risk(RiskKind::DataLoss, reason);
    ctx.schema.tables.remove(&name);
    let at = ctx.at();
    if cascade {
        let mut dropped_keys = Vec::new();
        for table in ctx.schema.tables.values_mut() {
            table.foreign_keys.retain(|fk| {
                let points_here = fk.references_table == name;
                if points_here {
                    dropped_keys.push(Constraint {
                        table: fk.table.clone(),
                        name: fk.name.clone(),
                        kind: "foreign key".to_string(),
                        definition: format!(
                            "FOREIGN KEY ({}) REFERENCES {name}({})",
                            fk.columns.join(", "),
                            fk.references_columns.join(", ")
                        ),
                        dropped: true,
                        at: at.clone(),
                    });
                }
                !points_here
            });
        }
        ctx.summary.constraints.extend(dropped_keys);
        // Views on the table go with it too.
        for view in ctx.schema.views_using(&name, None) {
            ctx.schema.views.remove(&view);
            ctx.schema.view_sources.remove(&view);
            let entry = ctx.object(view, "dropped", Some(format!("cascade from {name}")));
            ctx.summary.views.push(entry);
        }
    }
    ctx.summary.dropped_tables.push(Dropped {
        object: name,
        cascade,
        at,
    });
}

/// `DROP SCHEMA s CASCADE`: every table, view and type the model has in `s` goes with
/// it. Tables of `public` are named without their schema.
fn drop_schema_contents(ctx: &mut Ctx<'_>, schema: &str) {
    let in_schema = |name: &str| match name.split_once('.') {
        Some((s, _)) => s == schema,
        None => schema == "public",
    };
    let tables: Vec<String> = ctx
        .schema
        .tables
        .keys()
        .filter(|t| in_schema(t))
        .cloned()
        .collect();
    for table in tables {
        let reason = format!("`DROP SCHEMA {schema} CASCADE` deletes table `{table}` and its rows");
        drop_table(ctx, table, true, reason);
    }
    let views: Vec<String> = ctx
        .schema
        .views
        .iter()
        .filter(|v| in_schema(v))
        .cloned()
        .collect();
    for view in views {
        ctx.schema.views.remove(&view);
        let entry = ctx.object(view, "dropped", Some("cascade".to_string()));
        ctx.summary.views.push(entry);
    }
    ctx.schema.types.retain(|t, _| !in_schema(t));
    ctx.schema.indexes.retain(|_, table| !in_schema(table));
}
