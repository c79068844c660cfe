//! Turning split statements into ASTs, the expensive part of documenting a file (the
//! sqlparser tokenizer is most of it; `quick` reads pg_dump's most common forms without
//! it). A large file is parsed in windows on the cores the analyzer leaves free, while
//! the analyzer consumes the windows already parsed, so memory holds a few windows of
//! ASTs, not the file's. Data statements only need their target table, read here
//! without sqlparser.

use std::sync::{mpsc, LazyLock};

use regex::Regex;
use sqlparser::ast::Statement as Ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::fallback::Identity;
use crate::sql::Statement;

/// Statements per window: what a parsing thread hands to the analyzer at once.
const WINDOW: usize = 128;

/// Windows a parsing thread may have finished ahead of the analyzer: bounds the ASTs
/// held in memory.
const AHEAD: usize = 2;

/// What parsing made of a statement.
pub enum Parsed {
    Ast(Box<Ast>),
    /// pg_dump's identity column, which sqlparser cannot read (checked first, so such
    /// statements are not tokenized only to fail).
    Identity(Identity),
    /// `INSERT`/`UPDATE`/`DELETE` on a table (name folded, `public.` dropped).
    Data(DataKind, String),
    /// sqlparser could not read it to its end as one statement; its message.
    Unparsed(String),
}

/// The kind of a data statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Insert,
    Update,
    Delete,
}

/// Parses `statements` and hands each one with its parse to `consume`, in order, on the
/// calling thread. A file of more than one window is parsed on worker threads that run
/// ahead of `consume`, so parsing overlaps the analysis.
pub fn each<'a>(
    statements: &'a [Statement<'a>],
    mut consume: impl FnMut(&'a Statement<'a>, &Parsed),
) {
    // The calling thread analyzes; the other cores parse.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8)) - 1;
    if workers == 0 || statements.len() <= WINDOW {
        for statement in statements {
            consume(statement, &one(statement));
        }
        return;
    }
    let windows: Vec<&[Statement<'_>]> = statements.chunks(WINDOW).collect();
    std::thread::scope(|scope| {
        // Worker k parses windows k, k + workers, k + 2 * workers, ... into its own
        // bounded channel. Taking from the channels in turn gives the windows back in
        // file order, and a full channel stops its worker AHEAD windows ahead. Consumed
        // windows go back to their worker to be freed there: the analyzer is the
        // pipeline's bottleneck, and freeing ASTs was a large part of its time.
        let channels: Vec<_> = (0..workers)
            .map(|k| {
                let (parsed_sender, parsed) = mpsc::sync_channel(AHEAD);
                let (done, done_receiver) = mpsc::channel::<Vec<Parsed>>();
                let windows = &windows;
                scope.spawn(move || {
                    for window in windows.iter().skip(k).step_by(workers) {
                        let window: Vec<Parsed> = window.iter().map(|s| one(s)).collect();
                        if parsed_sender.send(window).is_err() {
                            return; // the analyzer stopped
                        }
                        done_receiver.try_iter().for_each(drop);
                    }
                    done_receiver.iter().for_each(drop);
                });
                (parsed, done)
            })
            .collect();
        for (i, window) in windows.iter().enumerate() {
            let (parsed, done) = &channels[i % workers];
            let parsed = parsed.recv().expect("parsing does not panic");
            for (statement, parsed) in window.iter().zip(&parsed) {
                consume(statement, parsed);
            }
            // A worker that is gone leaves the window to be freed here.
            let _ = done.send(parsed);
        }
    });
}

fn one(statement: &Statement<'_>) -> Parsed {
    if let Some((kind, table)) = data_target(statement.text) {
        return Parsed::Data(kind, table);
    }
    if let Some(identity) = super::fallback::identity(statement.text) {
        return Parsed::Identity(identity);
    }
    if let Some(ast) = super::quick::read(statement.text) {
        debug_assert_eq!(
            Some(&ast),
            parse_one(statement.text).as_ref(),
            "quick::read differs from sqlparser on {}",
            statement.text
        );
        return Parsed::Ast(Box::new(ast));
    }
    match parse(statement.text) {
        Ok(ast) => Parsed::Ast(Box::new(ast)),
        Err(message) => match without_concurrently(statement.text).map(|t| parse(&t)) {
            Some(Ok(ast)) => Parsed::Ast(Box::new(ast)),
            _ => Parsed::Unparsed(message),
        },
    }
}

static DROP_INDEX_CONCURRENTLY: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?is)^(\s*DROP\s+INDEX\s+)CONCURRENTLY\s+(.*)$").expect("valid regex")
    });

/// `DROP INDEX CONCURRENTLY [IF EXISTS] ...`, which sqlparser reads only without
/// `CONCURRENTLY`, as the statement it can read (the analyzer sees `CONCURRENTLY` in the
/// statement's own keywords).
fn without_concurrently(text: &str) -> Option<String> {
    let caps = DROP_INDEX_CONCURRENTLY.captures(text)?;
    Some(format!("{}{}", &caps[1], &caps[2]))
}

/// The statement parsed to its end as exactly one statement, or `None`.
pub fn parse_one(text: &str) -> Option<Ast> {
    parse(text).ok()
}

/// The statement parsed to its end as exactly one statement, or sqlparser's message
/// (with its `at Line: 1, Column: 8`, counted within the statement).
fn parse(text: &str) -> Result<Ast, String> {
    let mut parsed = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| {
            let message = e.to_string();
            message
                .strip_prefix("sql parser error: ")
                .unwrap_or(&message)
                .to_string()
        })?;
    match parsed.len() {
        1 => Ok(parsed.remove(0)),
        n => Err(format!("{n} statements where one was expected")),
    }
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
    // Most statements are not data statements; this is most of the regex's work.
    if !matches!(
        text.as_bytes().first(),
        Some(b'I' | b'i' | b'U' | b'u' | b'D' | b'd')
    ) {
        return None;
    }
    let mut head = text.len().min(300);
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let caps = DATA.captures(&text[..head])?;
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
        let long = format!("INSERT INTO t (notes) VALUES ('{}')", "é".repeat(200));
        assert_eq!(data_target(&long), Some((DataKind::Insert, "t".into())));
    }
}
