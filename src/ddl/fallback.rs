//! Statements the parser could not read (or read but dbkit does not document) are
//! classified by their leading keywords and listed as "not analysed" with their line:
//! never dropped, never a crash. DDL inside `DO` blocks and function bodies is named.

use std::sync::LazyLock;

use regex::Regex;

use super::analyze::Ctx;
use super::summary::{ChangedColumn, NotAnalysed};
use crate::sql::Statement;

static BODY_DDL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(CREATE|ALTER|DROP)\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+)?(TABLE|INDEX|TYPE|VIEW|FUNCTION|PROCEDURE|SCHEMA|SEQUENCE|TRIGGER|POLICY|EXTENSION|CONSTRAINT|COLUMN)\b")
        .expect("valid regex")
});

/// `contains DDL: CREATE TABLE, ALTER TABLE` for DDL in the statement's dollar-quoted
/// bodies (a `DO` block, a function).
pub fn ddl_in_bodies(statement: &Statement<'_>) -> Option<String> {
    let mut found: Vec<String> = Vec::new();
    for body in statement.dollar_bodies() {
        for caps in BODY_DDL.captures_iter(body) {
            let what = format!("{} {}", caps[1].to_uppercase(), caps[2].to_uppercase());
            if !found.contains(&what) {
                found.push(what);
            }
        }
    }
    (!found.is_empty()).then(|| format!("contains DDL: {}", found.join(", ")))
}

/// What kind of statement this is, from its leading keywords: `DO block`,
/// `ALTER SEQUENCE`, `COMMENT ON FUNCTION`, `CREATE AGGREGATE`, ...
pub fn kind(statement: &Statement<'_>) -> String {
    let words = statement.leading_keywords(6);
    let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
    if words.first() == Some(&"DO") {
        return "DO block".into();
    }
    words.retain(|w| {
        ![
            "OR",
            "REPLACE",
            "UNIQUE",
            "IF",
            "NOT",
            "EXISTS",
            "TEMP",
            "TEMPORARY",
            "UNLOGGED",
        ]
        .contains(w)
    });
    let take = match words.first().copied() {
        Some("COMMENT") | Some("SECURITY") => 3,
        Some("CREATE" | "ALTER" | "DROP")
            if words.get(1).is_some_and(|w| {
                ["MATERIALIZED", "EVENT", "FOREIGN", "TEXT", "DEFAULT"].contains(w)
            }) =>
        {
            3
        }
        Some(
            "CREATE" | "ALTER" | "DROP" | "GRANT" | "REVOKE" | "REFRESH" | "REINDEX" | "CLUSTER",
        ) => 2,
        _ => 1,
    };
    words.into_iter().take(take).collect::<Vec<_>>().join(" ")
}

static IDENTITY: LazyLock<Regex> = LazyLock::new(|| {
    let name = super::parse::NAME;
    Regex::new(&format!(
        r"(?is)^ALTER\s+TABLE\s+(?:ONLY\s+)?({name}(?:\s*\.\s*{name})?)\s+ALTER\s+(?:COLUMN\s+)?({name})\s+ADD\s+GENERATED\s+(ALWAYS|BY\s+DEFAULT)\s+AS\s+IDENTITY\b"
    ))
    .expect("valid regex")
});

/// True for a statement `recognize` handles.
pub fn recognizable(text: &str) -> bool {
    IDENTITY.is_match(text)
}

/// Statements sqlparser cannot read but whose meaning is plain from their first words:
/// pg_dump's `ALTER TABLE ... ALTER COLUMN id ADD GENERATED ... AS IDENTITY (SEQUENCE
/// NAME ...)`, written once for every identity column of a dump. True when handled.
pub fn recognize(ctx: &mut Ctx<'_>, statement: &Statement<'_>) -> bool {
    let Some(caps) = IDENTITY.captures(statement.text) else {
        return false;
    };
    let table = super::names::from_sql(&caps[1]);
    let column = super::names::from_sql(&caps[2]);
    let clause = format!(
        "GENERATED {} AS IDENTITY",
        caps[3]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_uppercase()
    );
    if let Some(c) = ctx
        .schema
        .tables
        .get_mut(&table)
        .and_then(|t| t.column_mut(&column))
    {
        c.generated = Some(clause.clone());
    }
    ctx.modified(&table, format!("{column}: add identity"));
    let at = ctx.at();
    let change = format!("add {}", clause.to_lowercase());
    ctx.summary.changed_columns.push(ChangedColumn {
        table,
        column,
        change,
        at,
    });
    true
}

/// A statement sqlparser could not parse.
pub fn classify(ctx: &mut Ctx<'_>, statement: &Statement<'_>) {
    let note = ddl_in_bodies(statement).or_else(|| Some("not parsed by sqlparser".to_string()));
    push(ctx, statement, note);
}

/// A statement sqlparser parsed but dbkit does not document (roles, ALTER FUNCTION, ...).
pub fn parsed_but_undocumented(ctx: &mut Ctx<'_>, statement: &Statement<'_>) {
    let note =
        ddl_in_bodies(statement).or_else(|| Some("not a change dbkit documents".to_string()));
    push(ctx, statement, note);
}

fn push(ctx: &mut Ctx<'_>, statement: &Statement<'_>, note: Option<String>) {
    let at = ctx.at();
    ctx.summary.not_analysed.push(NotAnalysed {
        kind: kind(statement),
        note,
        at,
    });
}
