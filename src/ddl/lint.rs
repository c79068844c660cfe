//! Lint rules that need a statement's place in the file rather than one fact about it:
//! a strong lock with no `lock_timeout` set before it, an enum value used in the
//! transaction that added it, a type change under a view, a constraint or index that
//! fails on rows already there, and `REINDEX`/`DETACH PARTITION` without
//! `CONCURRENTLY`. The driver calls [`statement`] before the statement's own handler, so
//! the model is as it stood before the statement. Rules that follow from one change
//! alone (rewrites, blocking index builds) are in `risk`.

use std::sync::LazyLock;

use regex::Regex;

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, AlterTypeOperation, DataType, ObjectType,
    Statement as Ast, TableConstraint,
};

use super::analyze::Ctx;
use super::names;
use super::parse::Parsed;
use super::summary::RiskKind;
use crate::project::migrations::{run_mode, RunMode};
use crate::sql::{Piece, Statement};

/// What the rules remember while one file is read.
#[derive(Debug, Default)]
pub(super) struct State {
    /// The file runs in one transaction (dbkit's default), so values it adds to an enum
    /// cannot be used before it ends.
    transactional: bool,
    /// A `SET lock_timeout` was seen.
    lock_timeout: bool,
    /// `require-lock-timeout` was noted once; once per file is enough to act on.
    lock_timeout_noted: bool,
    /// A `SET statement_timeout` was seen.
    statement_timeout: bool,
    /// `require-statement-timeout` was noted once.
    statement_timeout_noted: bool,
    /// Enum values added in the current transaction: (type, value).
    new_values: Vec<(String, String)>,
}

impl State {
    /// The state at the start of a file. Whether it runs in one transaction is only
    /// asked of files that add enum values: the check reads every statement.
    pub fn new(text: &str, pieces: &[Piece<'_>]) -> State {
        static ADD_VALUE: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"(?i)\badd\s+value\b").expect("valid regex"));
        State {
            transactional: ADD_VALUE.is_match(text)
                && matches!(run_mode(text, pieces).0, RunMode::Transaction),
            ..State::default()
        }
    }
}

/// `require-statement-timeout`, after a statement's handler: the first statement that
/// rewrites an existing table or builds an index on one without `CONCURRENTLY` (its own
/// risks say so), with no `SET statement_timeout` before it, runs as long as the table is
/// big, holding its lock all the while.
pub(super) fn after(ctx: &mut Ctx<'_>, statement: &Statement<'_>, risks_before: usize) {
    if ctx.lint.statement_timeout || ctx.lint.statement_timeout_noted {
        return;
    }
    // Dropping an index locks but is quick: only builds and rewrites run long.
    let first = statement
        .text
        .split(|c: char| !c.is_ascii_alphabetic())
        .find(|w| !w.is_empty())
        .unwrap_or("");
    if first.eq_ignore_ascii_case("DROP") {
        return;
    }
    let long = ctx.summary.risks[risks_before..]
        .iter()
        .any(|r| matches!(r.risk, RiskKind::TableRewrite | RiskKind::BlockingIndex));
    if !long {
        return;
    }
    ctx.lint.statement_timeout_noted = true;
    ctx.risk(
        RiskKind::RequireStatementTimeout,
        "this statement rewrites or scans an existing table with no `SET statement_timeout` earlier in the file: it runs as long as the table is big, holding its lock; start the file with `SET statement_timeout = '15min';` (sized to the table) so a deploy fails instead of hanging",
    );
}

/// Runs the rules on one statement, before its handler updates the model.
pub(super) fn statement(ctx: &mut Ctx<'_>, statement: &Statement<'_>, parsed: &Parsed) {
    // Most of a dump's statements start with a word no rule here reads (CREATE,
    // COMMENT, ...): those skip the allocating keyword reader.
    let first = statement
        .text
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    let read = first.is_empty()
        || [
            "SET", "SELECT", "REINDEX", "ALTER", "COMMIT", "END", "ROLLBACK", "ABORT",
        ]
        .iter()
        .any(|k| first.eq_ignore_ascii_case(k));
    let words = if read {
        statement.leading_keywords(3)
    } else {
        Vec::new()
    };
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    if matches!(
        w.as_slice(),
        ["SET", "LOCK_TIMEOUT", ..] | ["SET", "LOCAL" | "SESSION", "LOCK_TIMEOUT", ..]
    ) || (w.first() == Some(&"SELECT")
        && statement
            .text
            .to_lowercase()
            .contains("set_config('lock_timeout'"))
    {
        ctx.lint.lock_timeout = true;
    }
    if matches!(
        w.as_slice(),
        ["SET", "STATEMENT_TIMEOUT", ..] | ["SET", "LOCAL" | "SESSION", "STATEMENT_TIMEOUT", ..]
    ) || (w.first() == Some(&"SELECT")
        && statement
            .text
            .to_lowercase()
            .contains("set_config('statement_timeout'"))
    {
        ctx.lint.statement_timeout = true;
    }
    enum_values_used(ctx, statement);
    record_views(ctx, parsed);
    match w.as_slice() {
        ["REINDEX", ..] => reindex(ctx, statement, &w),
        ["ALTER", "TABLE", ..] => detach_partition(ctx, statement),
        ["COMMIT" | "END" | "ROLLBACK" | "ABORT", ..] => ctx.lint.new_values.clear(),
        _ => {}
    }
    let Parsed::Ast(ast) = parsed else {
        return;
    };
    match &**ast {
        Ast::CreateTable(create) if !ctx.schema.preferences.is_empty() => {
            let table = names::object(&create.name);
            for column in &create.columns {
                preferences(ctx, &table, &column.name.value, &column.data_type);
            }
        }
        Ast::AlterTable(alter) => {
            let table = names::object(&alter.name);
            strong_lock(ctx, &table, "ALTER TABLE");
            for operation in &alter.operations {
                match operation {
                    AlterTableOperation::AddColumn { column_def, .. } => {
                        preferences(ctx, &table, &column_def.name.value, &column_def.data_type)
                    }
                    AlterTableOperation::AlterColumn {
                        column_name,
                        op: AlterColumnOperation::SetDataType { data_type, .. },
                    } => preferences(ctx, &table, &column_name.value, data_type),
                    _ => {}
                }
                alter_operation(ctx, &table, operation);
            }
        }
        Ast::CreateIndex(index) if !index.concurrently => {
            let table = names::object(&index.table_name);
            strong_lock(ctx, &table, "CREATE INDEX");
            if index.unique && ctx.existing(&table) {
                may_fail(ctx, &table, "a unique index", "duplicate keys", "build the index `CONCURRENTLY` after checking for duplicates (a failed concurrent build leaves an INVALID index to drop)");
            }
        }
        Ast::Drop {
            object_type: ObjectType::Table,
            names: dropped,
            ..
        } => {
            for table in dropped.iter().map(names::object) {
                strong_lock(ctx, &table, "DROP TABLE");
            }
        }
        Ast::Truncate(truncate) => {
            for target in &truncate.table_names {
                strong_lock(ctx, &names::object(&target.name), "TRUNCATE");
            }
        }
        Ast::AlterType(alter) => {
            if let AlterTypeOperation::AddValue(add) = &alter.operation {
                if ctx.lint.transactional || ctx.in_transaction_block {
                    let name = names::object(&alter.name);
                    ctx.lint.new_values.push((name, add.value.value.clone()));
                }
            }
        }
        _ => {}
    }
}

/// The preference rules the project enabled (`Schema::preferences`), on a column's type.
fn preferences(ctx: &mut Ctx<'_>, table: &str, column: &str, data_type: &DataType) {
    if ctx.schema.preferences.is_empty() {
        return;
    }
    let ty = data_type.to_string().to_lowercase();
    let base = ty.split('(').next().unwrap_or(&ty).trim();
    let (risk, instead) = match base {
        "int" | "integer" | "int4" | "smallint" | "int2" => {
            (RiskKind::PreferBigint, "use `bigint`: a 32-bit key runs out at 2,147,483,647 and widening it later rewrites the table")
        }
        "serial" | "serial4" | "bigserial" | "serial8" | "smallserial" | "serial2" => {
            (RiskKind::PreferIdentity, "use `bigint GENERATED ALWAYS AS IDENTITY`: a serial's sequence has its own owner and grants")
        }
        "timestamp" | "timestamp without time zone" => (RiskKind::PreferTimestamptz, "use `timestamptz`: `timestamp` drops the time zone and reads differently per session"),
        "varchar" | "character varying" => (RiskKind::PreferText, "use `text` with a `CHECK (length(...) <= n)` if a limit is needed: changing a varchar's length later can lock the table"),
        "char" | "character" | "bpchar" => (RiskKind::BanChar, "use `text`: `char(n)` pads with spaces and compares in surprising ways"),
        _ => return,
    };
    if ctx.schema.preferences.contains(&risk) {
        ctx.risk(risk, format!("`{table}.{column}` is `{ty}`; {instead}"));
    }
}

/// `require-lock-timeout`: the first statement that takes a strong lock on a table that
/// existed before the file, with no `SET lock_timeout` before it.
fn strong_lock(ctx: &mut Ctx<'_>, table: &str, what: &str) {
    if ctx.lint.lock_timeout || ctx.lint.lock_timeout_noted || !ctx.existing(table) {
        return;
    }
    ctx.lint.lock_timeout_noted = true;
    ctx.risk(
        RiskKind::RequireLockTimeout,
        format!("`{what}` locks existing table `{table}` with no `SET lock_timeout` earlier in the file: queued behind a long query, it blocks every query on `{table}` while it waits; start the file with `SET lock_timeout = '5s';` and retry on timeout"),
    );
}

fn alter_operation(ctx: &mut Ctx<'_>, table: &str, operation: &AlterTableOperation) {
    if !ctx.existing(table) {
        return;
    }
    match operation {
        AlterTableOperation::AddConstraint {
            constraint,
            not_valid,
        } => match constraint {
            TableConstraint::PrimaryKey(_) | TableConstraint::Unique(_) => may_fail(ctx, table, "a primary key or unique constraint", "duplicate or NULL keys", "build a unique index `CONCURRENTLY` first and add the constraint `USING INDEX`"),
            TableConstraint::ForeignKey(_) | TableConstraint::Check(_) if !not_valid => may_fail(ctx, table, "a check or foreign key", "a row that breaks it", "add it `NOT VALID`, then `VALIDATE CONSTRAINT` in a later migration"),
            _ => {}
        },
        AlterTableOperation::AlterColumn { column_name, op } => match op {
            AlterColumnOperation::SetNotNull => may_fail(ctx, table, &format!("`SET NOT NULL` on `{column_name}`"), "a NULL", &format!("backfill first, add `CHECK ({column_name} IS NOT NULL) NOT VALID` and validate it, then set NOT NULL")),
            AlterColumnOperation::SetDataType { .. } => {
                blocked_by_view(ctx, table, &names::ident(column_name))
            }
            _ => {}
        },
        _ => {}
    }
}

/// `DETACH PARTITION` without `CONCURRENTLY` on a table that existed before the file.
/// Read from the words: sqlparser does not know PostgreSQL's form.
fn detach_partition(ctx: &mut Ctx<'_>, statement: &Statement<'_>) {
    // A pattern, not an upper-cased copy: a dump has an ALTER TABLE per constraint.
    static DETACH: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\bDETACH\s+PARTITION\b").expect("valid regex"));
    static CONCURRENTLY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\bCONCURRENTLY\b").expect("valid regex"));
    if !DETACH.is_match(statement.text) || CONCURRENTLY.is_match(statement.text) {
        return;
    }
    let table = statement
        .text
        .split_whitespace()
        .skip(2)
        .find(|w| !["ONLY", "IF", "EXISTS"].contains(&w.to_uppercase().as_str()))
        .map(names::from_sql)
        .unwrap_or_default();
    if ctx.existing(&table) {
        ctx.risk(
            RiskKind::LongLock,
            format!("`DETACH PARTITION` without `CONCURRENTLY` holds an ACCESS EXCLUSIVE lock on existing table `{table}`; use `DETACH PARTITION ... CONCURRENTLY` (PostgreSQL 14+, outside a transaction block)"),
        );
    }
}

/// `may-fail-on-existing-data`.
fn may_fail(ctx: &mut Ctx<'_>, table: &str, what: &str, bad: &str, instead: &str) {
    ctx.risk(
        RiskKind::MayFailOnExistingData,
        format!("{what} on existing table `{table}` fails if it holds {bad}; {instead}"),
    );
}

/// `blocked-by-view`: PostgreSQL refuses to change the type of a column a view uses.
fn blocked_by_view(ctx: &mut Ctx<'_>, table: &str, column: &str) {
    let views = ctx.schema.views_using(table, Some(column));
    if views.is_empty() {
        return;
    }
    let views = views.join("`, `");
    ctx.risk(
        RiskKind::BlockedByView,
        format!("view `{views}` uses `{table}.{column}`: PostgreSQL refuses to change the column's type under it; drop the view, change the type and recreate the view in the same migration"),
    );
}

/// Notes a view's query, for `blocked-by-view`; forgets a dropped one.
fn record_views(ctx: &mut Ctx<'_>, parsed: &Parsed) {
    let Parsed::Ast(ast) = parsed else {
        return;
    };
    match &**ast {
        Ast::CreateView(view) => {
            let source = view.query.to_string().to_lowercase();
            ctx.schema
                .view_sources
                .insert(names::object(&view.name), source);
        }
        Ast::Drop {
            object_type: ObjectType::View | ObjectType::MaterializedView,
            names: dropped,
            ..
        } => {
            for name in dropped {
                ctx.schema.view_sources.remove(&names::object(name));
            }
        }
        _ => {}
    }
}

/// `enum-value-in-same-transaction`: a literal equal to a value added earlier in the
/// same transaction (SQLSTATE 55P04, "unsafe use of new value").
fn enum_values_used(ctx: &mut Ctx<'_>, statement: &Statement<'_>) {
    if ctx.lint.new_values.is_empty() {
        return;
    }
    let values = std::mem::take(&mut ctx.lint.new_values);
    for (ty, value) in values {
        if statement
            .text
            .contains(&format!("'{}'", value.replace('\'', "''")))
        {
            ctx.risk(
                RiskKind::EnumValueInSameTransaction,
                format!("'{value}' was added to `{ty}` earlier in this transaction and cannot be used before it commits (SQLSTATE 55P04); use it in a later migration, or mark this file `-- dbkit:no-transaction`"),
            );
        } else {
            ctx.lint.new_values.push((ty, value));
        }
    }
}

/// `REINDEX` without `CONCURRENTLY` on an index or table that existed before the file.
fn reindex(ctx: &mut Ctx<'_>, statement: &Statement<'_>, w: &[&str]) {
    if statement.text.to_uppercase().contains("CONCURRENTLY") {
        return;
    }
    let target = statement
        .text
        .split_whitespace()
        .nth(2)
        .map(|t| names::from_sql(t.trim_end_matches(';')));
    let existing = match (w.get(1).copied(), target) {
        (Some("INDEX"), Some(index)) => ctx
            .schema
            .indexes
            .get(&index)
            .cloned()
            .is_some_and(|table| ctx.existing(&table)),
        (Some("TABLE"), Some(table)) => ctx.existing(&table),
        _ => true,
    };
    if existing {
        ctx.risk(
            RiskKind::BlockingIndex,
            format!("`{}` without `CONCURRENTLY` blocks writes to the table while it rebuilds; use `REINDEX ... CONCURRENTLY` (PostgreSQL 12+, outside a transaction block)", statement.text.trim_end_matches(';').trim()),
        );
    }
}
