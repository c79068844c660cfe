//! What one migration file changes, as data: the sections `document-migration` shows
//! (new tables, modified tables, new columns, relationships, ... risks), each entry with
//! the file and line it comes from. Built by the analyzer, rendered by `report`; the JSON
//! form is these structs serialized, so field names are a stable interface.

use serde::Serialize;

/// Where something is: the file as given on the command line, and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct At {
    pub file: String,
    pub line: usize,
}

/// A column as declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnDef {
    pub name: String,
    /// The type as written, normalized to lower case (`bigint`, `varchar(50)`, `public.contract_status`).
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    pub primary_key: bool,
    pub unique: bool,
    /// `table(column)` for an inline `REFERENCES`.
    pub references: Option<String>,
    /// The expression of a generated column.
    pub generated: Option<String>,
}

/// A table the file creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewTable {
    pub table: String,
    pub columns: Vec<ColumnDef>,
    /// `RANGE (occurred_at)` for a partitioned table.
    pub partition_by: Option<String>,
    /// The parent of a partition, with its bounds.
    pub partition_of: Option<String>,
    pub at: At,
}

/// A table that existed before the file and that the file changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModifiedTable {
    pub table: String,
    /// Short phrases, in file order: `add column locale`, `rename column a to b`.
    pub changes: Vec<String>,
    pub at: At,
}

/// A column the file adds, to a new or an existing table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewColumn {
    pub table: String,
    pub column: ColumnDef,
    /// True when the table existed before the file.
    pub existing_table: bool,
    pub at: At,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relationship {
    pub table: String,
    pub columns: Vec<String>,
    pub references_table: String,
    pub references_columns: Vec<String>,
    pub on_delete: Option<String>,
    pub on_update: Option<String>,
    pub name: Option<String>,
    pub not_valid: bool,
    pub at: At,
}

/// A dropped table, column, view, function, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// `table` or `table.column`.
    pub object: String,
    pub cascade: bool,
    pub at: At,
}

/// A renamed table or column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renamed {
    /// The table, for a column rename.
    pub table: Option<String>,
    pub from: String,
    pub to: String,
    pub at: At,
}

/// A column whose type, nullability or default changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedColumn {
    pub table: String,
    pub column: String,
    /// `type text → varchar(50)`, `set not null`, `drop not null`, `default now()`, `drop default`.
    pub change: String,
    pub at: At,
}

/// A table constraint added or dropped (primary key, unique, check, exclusion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Constraint {
    pub table: String,
    pub name: Option<String>,
    /// `primary key`, `unique`, `check`, `exclusion`, `foreign key` (drops only).
    pub kind: String,
    pub definition: String,
    pub dropped: bool,
    pub at: At,
}

/// An index created or dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Index {
    pub name: Option<String>,
    /// Empty for a dropped index whose table is unknown.
    pub table: String,
    pub columns: Vec<String>,
    pub unique: bool,
    pub concurrently: bool,
    /// `btree`, `gin`, ... when given.
    pub method: Option<String>,
    /// The `WHERE` of a partial index.
    pub predicate: Option<String>,
    pub dropped: bool,
    pub at: At,
}

/// A type created, changed or dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeChange {
    pub name: String,
    /// `enum`, `composite`, `domain`, `range`, `type`.
    pub kind: String,
    /// `created`, `value added`, `value renamed`, `renamed`, `dropped`, `altered`.
    pub action: String,
    /// Enum labels (all of them when created; the new one when added).
    pub values: Vec<String>,
    /// `before 'active'`, the domain's base type, ...
    pub detail: Option<String>,
    pub at: At,
}

/// Any other object: views, functions, procedures, triggers, policies, row-level
/// security, extensions, schemas, comments, grants, sequences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectChange {
    pub name: String,
    /// `created`, `replaced`, `dropped`, `altered`, `enabled`, `granted`, ...
    pub action: String,
    pub detail: Option<String>,
    pub at: At,
}

/// Data statements on one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DataChange {
    pub table: String,
    pub inserts: usize,
    pub updates: usize,
    pub deletes: usize,
    pub copies: usize,
    /// Lines of the statements, in order.
    pub lines: Vec<usize>,
    pub file: String,
}

/// A statement the parser could not analyse, classified by its leading keywords.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotAnalysed {
    /// `DO block`, `ALTER SEQUENCE`, `COMMENT ON FUNCTION`, ...
    pub kind: String,
    /// What is known anyway, e.g. `contains DDL: CREATE TABLE, ALTER TABLE`.
    pub note: Option<String>,
    pub at: At,
}

/// A risky operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RiskKind {
    /// The table is rewritten under an exclusive lock (type change, volatile default).
    TableRewrite,
    /// A long scan or index build under a lock that blocks writes (SET NOT NULL, a
    /// constraint without NOT VALID / USING INDEX).
    LongLock,
    /// An index built or dropped without CONCURRENTLY on a table that already existed.
    BlockingIndex,
    /// CONCURRENTLY inside an explicit transaction block: it will fail.
    ConcurrentlyInTransaction,
    /// A table or column is dropped.
    DataLoss,
    /// A table or column is renamed: clients using the old name break.
    Rename,
    /// A NOT NULL column without a default added to an existing table: fails on rows.
    NotNullWithoutDefault,
    /// An enum value added without BEFORE/AFTER lands at the end.
    EnumValueOrder,
    /// An identifier longer than 63 bytes, which PostgreSQL truncates.
    IdentifierTooLong,
    /// CREATE without IF NOT EXISTS where the project's convention uses it.
    NotIdempotent,
}

impl RiskKind {
    /// Every risk, in the order they are documented.
    pub const ALL: [RiskKind; 10] = [
        RiskKind::TableRewrite,
        RiskKind::LongLock,
        RiskKind::BlockingIndex,
        RiskKind::ConcurrentlyInTransaction,
        RiskKind::DataLoss,
        RiskKind::Rename,
        RiskKind::NotNullWithoutDefault,
        RiskKind::EnumValueOrder,
        RiskKind::IdentifierTooLong,
        RiskKind::NotIdempotent,
    ];

    /// The name used by `--deny` and `-- dbkit:allow`.
    pub fn name(self) -> &'static str {
        match self {
            RiskKind::TableRewrite => "table-rewrite",
            RiskKind::LongLock => "long-lock",
            RiskKind::BlockingIndex => "blocking-index",
            RiskKind::ConcurrentlyInTransaction => "concurrently-in-transaction",
            RiskKind::DataLoss => "data-loss",
            RiskKind::Rename => "rename",
            RiskKind::NotNullWithoutDefault => "not-null-without-default",
            RiskKind::EnumValueOrder => "enum-value-order",
            RiskKind::IdentifierTooLong => "identifier-too-long",
            RiskKind::NotIdempotent => "not-idempotent",
        }
    }

    /// The risk with this name.
    pub fn from_name(name: &str) -> Option<RiskKind> {
        RiskKind::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A risk note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Risk {
    pub risk: RiskKind,
    /// One line: why this is risky here.
    pub reason: String,
    /// Silenced by a `-- dbkit:allow <risk>` comment on the statement.
    pub allowed: bool,
    pub at: At,
}

/// Everything one file changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    /// The file as given.
    pub file: String,
    /// Statements found (SQL statements, not meta-commands or COPY data).
    pub statements: usize,
    /// Statements the parser analysed (the rest are in `not_analysed`).
    pub analysed: usize,
    pub new_tables: Vec<NewTable>,
    pub modified_tables: Vec<ModifiedTable>,
    pub new_columns: Vec<NewColumn>,
    pub relationships: Vec<Relationship>,
    pub dropped_tables: Vec<Dropped>,
    pub dropped_columns: Vec<Dropped>,
    pub renamed_tables: Vec<Renamed>,
    pub renamed_columns: Vec<Renamed>,
    pub changed_columns: Vec<ChangedColumn>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    pub types: Vec<TypeChange>,
    pub views: Vec<ObjectChange>,
    pub functions: Vec<ObjectChange>,
    pub triggers: Vec<ObjectChange>,
    pub policies: Vec<ObjectChange>,
    pub extensions: Vec<ObjectChange>,
    pub schemas: Vec<ObjectChange>,
    pub sequences: Vec<ObjectChange>,
    pub comments: Vec<ObjectChange>,
    pub grants: Vec<ObjectChange>,
    pub data: Vec<DataChange>,
    pub not_analysed: Vec<NotAnalysed>,
    pub risks: Vec<Risk>,
}
