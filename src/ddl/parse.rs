//! Turning split statements into ASTs, the expensive part of documenting a file (the
//! sqlparser tokenizer is most of it). Statements are parsed in windows across every
//! core, so a large dump goes faster and memory holds one window of ASTs, not the file's.
//! Data statements only need their target table, read here without sqlparser.

use std::sync::LazyLock;

use regex::Regex;
use sqlparser::ast::Statement as Ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::sql::Statement;

/// Statements parsed together (in parallel) before their ASTs are consumed in order.
pub const WINDOW: usize = 1024;

/// What parsing made of a statement.
pub enum Parsed {
    Ast(Box<Ast>),
    /// A form sqlparser cannot read that `fallback::recognize` handles (checked first,
    /// so such statements are not tokenized only to fail).
    Recognized,
    /// `INSERT`/`UPDATE`/`DELETE` on a table (name folded, `public.` dropped).
    Data(DataKind, String),
    /// sqlparser could not read it to its end as one statement.
    Unparsed,
}

/// The kind of a data statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Insert,
    Update,
    Delete,
}

/// Parses a window of statements, on every core when the window is large.
pub fn window(statements: &[&Statement<'_>]) -> Vec<Parsed> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || statements.len() < 64 {
        return statements.iter().map(|s| one(s)).collect();
    }
    let chunk = statements.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = statements
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|s| one(s)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("parsing does not panic"))
            .collect()
    })
}

fn one(statement: &Statement<'_>) -> Parsed {
    if let Some((kind, table)) = data_target(statement.text) {
        return Parsed::Data(kind, table);
    }
    if super::fallback::recognizable(statement.text) {
        return Parsed::Recognized;
    }
    match parse_one(statement.text) {
        Some(ast) => Parsed::Ast(Box::new(ast)),
        None => Parsed::Unparsed,
    }
}

/// The statement parsed to its end as exactly one statement, or `None`.
pub fn parse_one(text: &str) -> Option<Ast> {
    let mut parsed = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .ok()?
        .parse_statements()
        .ok()?;
    (parsed.len() == 1).then(|| parsed.remove(0))
}

/// An identifier in SQL text, quoted or not.
pub const NAME: &str = r#"(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)"#;

static DATA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)^(INSERT\s+INTO|UPDATE(?:\s+ONLY)?|DELETE\s+FROM(?:\s+ONLY)?)\s+({NAME}(?:\s*\.\s*{NAME})?)(?:\s|\(|$)"
    ))
    .expect("valid regex")
});

/// The kind and target table of a plain data statement (not one with a CTE), read from
/// its first words.
pub fn data_target(text: &str) -> Option<(DataKind, String)> {
    let head = &text[..text.len().min(300)];
    let head = &head[..head
        .char_indices()
        .last()
        .map_or(0, |(i, c)| i + c.len_utf8())];
    let caps = DATA.captures(head)?;
    let kind = match caps[1].as_bytes()[0].to_ascii_uppercase() {
        b'I' => DataKind::Insert,
        b'U' => DataKind::Update,
        _ => DataKind::Delete,
    };
    let name = super::names::from_sql(&caps[2]);
    Some((kind, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_target_of_data_statements() {
        assert_eq!(
            data_target("INSERT INTO public.users (id) VALUES (1)"),
            Some((DataKind::Insert, "users".into()))
        );
        assert_eq!(
            data_target("insert into audit.\"Log\" values (1)"),
            Some((DataKind::Insert, "audit.Log".into()))
        );
        assert_eq!(
            data_target("UPDATE ONLY orders SET x = 1"),
            Some((DataKind::Update, "orders".into()))
        );
        assert_eq!(
            data_target("DELETE FROM Users WHERE id = 1"),
            Some((DataKind::Delete, "users".into()))
        );
        assert_eq!(
            data_target("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"),
            None
        );
        assert_eq!(data_target("UPDATE"), None);
    }
}
