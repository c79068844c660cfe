//! Splitting PostgreSQL SQL text into the pieces psql would see: statements,
//! psql meta-commands (`\restrict`, `\connect`, ...) and the data lines of
//! `COPY ... FROM stdin`, each with its exact byte range and line/column in the
//! source. Where a statement ends is decided the way psql's own lexer
//! (`psqlscan.l`) decides it: semicolons count only outside comments (block
//! comments nest), string literals of every form, quoted identifiers, dollar
//! quotes, parentheses and the `BEGIN ATOMIC ... END` body of a
//! `CREATE FUNCTION`/`CREATE PROCEDURE`.
//!
//! This module does not parse SQL, check its syntax, substitute psql
//! variables or execute anything: callers get slices of the source, plus a few
//! cheap views of a statement (its code without comments, its leading
//! keywords, its dollar-quoted bodies) for classifying it.

#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;

/// Quotes a name as an SQL identifier (`a"b` becomes `"a""b"`), so any name, whatever
/// its case or characters, means exactly itself. The one place dbkit quotes identifiers.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes text as an SQL literal, whatever `standard_conforming_strings` is.
pub fn quote_literal(s: &str) -> String {
    if s.contains('\\') {
        format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// One piece of a SQL file, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// An SQL statement. `text` is the exact source slice from its first token
    /// (leading whitespace and comments not included) up to and including the
    /// terminating `;`, or up to the end of its last token when no `;` ends it
    /// (end of input, or a meta-command on the same line).
    Statement(Statement<'a>),
    /// A psql meta-command such as `\restrict abc` or `\connect db`.
    Meta(Meta<'a>),
    /// The data lines that follow a `COPY ... FROM stdin` statement (or a
    /// `\copy ... from stdin` meta-command), up to but excluding the
    /// terminating `\.` line. Always emitted right after its COPY, even when
    /// there are no data lines (then `text` is empty).
    CopyData(CopyData<'a>),
}

/// An SQL statement and where it stands in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The exact source slice, from the first token through the `;`.
    pub text: &'a str,
    /// Byte offset of `text` in the source.
    pub start: usize,
    /// Byte offset one past `text`.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// 1-based column of `start`, in chars.
    pub column: usize,
}

/// A psql meta-command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta<'a> {
    /// The command without its backslash, e.g. `restrict` (psql's rule: up to
    /// the first whitespace or backslash).
    pub name: &'a str,
    /// The rest of the line after the name, trimmed. A `\\` separator and
    /// anything after it on the line stay here: psql would run that as SQL.
    pub args: &'a str,
    /// The exact slice from the backslash to the end of the line, excluding
    /// the line ending (`\n` or `\r\n`).
    pub text: &'a str,
    /// Byte offset of the backslash.
    pub start: usize,
    /// Byte offset one past `text`.
    pub end: usize,
    /// 1-based line of the backslash.
    pub line: usize,
}

/// The data lines of a `COPY ... FROM stdin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyData<'a> {
    /// The exact slice of the data lines, each ending with its line ending as
    /// in the source; the `\.` line is not included.
    pub text: &'a str,
    /// Byte offset of the first data byte.
    pub start: usize,
    /// Byte offset one past `text` (the start of the `\.` line).
    pub end: usize,
    /// 1-based line of the first data line.
    pub line: usize,
}

/// Why the text could not be split; `line`/`column` (1-based, column in
/// chars) point at where the unterminated thing started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    /// Line where the unterminated construct starts.
    pub line: usize,
    /// Column (in chars) where the unterminated construct starts.
    pub column: usize,
    /// What was left unterminated.
    pub kind: SplitErrorKind,
}

impl SplitError {
    /// The error for the file at `path`.
    pub fn at(self, path: impl Into<std::path::PathBuf>) -> crate::error::Error {
        crate::error::Error::Split {
            path: path.into(),
            line: self.line,
            column: self.column,
            what: self.kind.to_string(),
        }
    }
}

/// What was left unterminated at the end of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitErrorKind {
    /// A string literal of any form (`'...'`, `E'...'`, `B'...'`, `U&'...'`, ...).
    UnterminatedString,
    /// A double-quoted identifier.
    UnterminatedQuotedIdentifier,
    /// A `/* ... */` comment (counting nested ones).
    UnterminatedComment,
    /// A dollar-quoted string; `tag` is the text between the dollars (empty
    /// for `$$`).
    UnterminatedDollarQuote {
        /// The quote's tag, without the dollars.
        tag: String,
    },
    /// `COPY ... FROM stdin` data with no `\.` line after it.
    UnterminatedCopyData,
}

impl fmt::Display for SplitErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnterminatedString => f.write_str("unterminated quoted string"),
            Self::UnterminatedQuotedIdentifier => f.write_str("unterminated quoted identifier"),
            Self::UnterminatedComment => f.write_str("unterminated block comment"),
            Self::UnterminatedDollarQuote { tag } => {
                write!(f, "unterminated dollar-quoted string `${tag}$`")
            }
            Self::UnterminatedCopyData => {
                f.write_str("`COPY ... FROM stdin` data has no terminating `\\.` line")
            }
        }
    }
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {}, column {}",
            self.kind, self.line, self.column
        )
    }
}

impl std::error::Error for SplitError {}

/// Splits `source` into statements, meta-commands and COPY data, in source
/// order. Whitespace and comments between pieces produce nothing, so a file
/// of only comments gives an empty list. A leading byte-order mark is skipped.
pub fn split(source: &str) -> Result<Vec<Piece<'_>>, SplitError> {
    Splitter::new(source).run()
}

/// 1-based (line, column-in-chars) of a byte offset in `source`. Lines are
/// split on '\n'; a '\r' just before a '\n' is not counted as a column, and a
/// leading byte-order mark is not counted either. Offsets past the end are
/// taken as the end.
pub fn line_col(source: &str, byte_offset: usize) -> (usize, usize) {
    let bytes = source.as_bytes();
    let offset = byte_offset.min(bytes.len());
    let (line, mut column) = Cursor::new(bytes).locate(bytes, offset);
    if bytes.get(offset) == Some(&b'\n') && offset > 0 && bytes.get(offset - 1) == Some(&b'\r') {
        column = column.saturating_sub(1).max(1);
    }
    (line, column)
}

impl<'a> Statement<'a> {
    /// The statement's code with comments removed and every run of
    /// whitespace collapsed to one space, trimmed; string literals, quoted
    /// identifiers and dollar-quoted bodies are kept verbatim. Meant for
    /// keyword detection, e.g. `(?i)^CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY`.
    pub fn code(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut gap = false;
        for token in Tokens::new(self.text) {
            match token.kind {
                Kind::Space | Kind::Comment => gap = true,
                _ => {
                    if gap && !out.is_empty() {
                        out.push(' ');
                    }
                    gap = false;
                    out.push_str(slice(self.text, token.start, token.end));
                }
            }
        }
        out
    }

    /// The first `n` words of the statement (keywords and unquoted
    /// identifiers, comments skipped), upper-cased, e.g.
    /// `["CREATE", "INDEX", "CONCURRENTLY"]`. Stops early at the first token
    /// that is not a word (a parenthesis, a quoted name, a literal, ...).
    pub fn leading_keywords(&self, n: usize) -> Vec<String> {
        let mut words = Vec::with_capacity(n.min(8));
        for token in Tokens::new(self.text) {
            if words.len() >= n {
                break;
            }
            match token.kind {
                Kind::Space | Kind::Comment => {}
                Kind::Word => {
                    words.push(slice(self.text, token.start, token.end).to_ascii_uppercase())
                }
                _ => break,
            }
        }
        words
    }

    /// Bodies of the dollar-quoted strings in this statement (the text
    /// between the opening and closing `$tag$`), in order: the code of
    /// `DO $$ ... $$` blocks and of functions written with dollar quotes.
    pub fn dollar_bodies(&self) -> Vec<&'a str> {
        let text = self.text;
        Tokens::new(text)
            .filter_map(|token| match token.kind {
                Kind::Dollar { delim } => {
                    let body_end = if token.closed {
                        token.end - delim
                    } else {
                        token.end
                    };
                    Some(slice(text, token.start + delim, body_end))
                }
                _ => None,
            })
            .collect()
    }

    /// True when the statement holds nothing but `;`, whitespace and
    /// comments (a stray `;;` gives such statements).
    pub fn is_empty(&self) -> bool {
        Tokens::new(self.text)
            .all(|token| matches!(token.kind, Kind::Space | Kind::Comment | Kind::Punct(b';')))
    }
}

/// `&text[start..end]`, or "" if the range is not on char boundaries, which
/// the lexer never produces: token edges are always ASCII bytes or the ends.
fn slice(text: &str, start: usize, end: usize) -> &str {
    debug_assert!(text.get(start..end).is_some(), "bad slice {start}..{end}");
    text.get(start..end).unwrap_or_default()
}

mod lexer;
mod position;
mod splitter;
#[cfg(test)]
mod tests;
use lexer::{Kind, Tokens};
use position::Cursor;
use splitter::Splitter;
