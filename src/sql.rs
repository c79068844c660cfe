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

// ---------------------------------------------------------------------------
// Lexer: one token at a time, psqlscan.l's rules reduced to what decides
// where statements end.

const SPACE: u8 = 1;
const IDENT_START: u8 = 2;
const IDENT_CONT: u8 = 4;
const TAG_CONT: u8 = 8;
const DIGIT: u8 = 16;

/// Byte classes, as in psqlscan.l: every byte >= 0x80 is an identifier byte,
/// `$` continues an identifier but not a dollar-quote tag.
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let letter = c.is_ascii_alphabetic() || c == b'_' || c >= 0x80;
        if letter {
            table[i] = IDENT_START | IDENT_CONT | TAG_CONT;
        } else if c.is_ascii_digit() {
            table[i] = IDENT_CONT | TAG_CONT | DIGIT;
        } else if c == b'$' {
            table[i] = IDENT_CONT;
        } else if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c) {
            table[i] = SPACE;
        }
        i += 1;
    }
    table
};

fn is(c: u8, class: u8) -> bool {
    CLASS[usize::from(c)] & class != 0
}

/// What a token is, as far as splitting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A run of whitespace.
    Space,
    /// A `--` comment (without its newline) or a `/* */` comment.
    Comment,
    /// A keyword or unquoted identifier.
    Word,
    /// A string literal of any form.
    Literal,
    /// A double-quoted identifier.
    QuotedIdent,
    /// A dollar-quoted string; `delim` is the length of its `$tag$`.
    Dollar { delim: usize },
    /// A single byte of punctuation or operator, or a backslash.
    Punct(u8),
    /// A number or a `$n` parameter.
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    /// False when input ended inside the token (then `end` is the limit).
    closed: bool,
}

/// Tokenizes `bytes[..limit]`. The limit is below the end of the input only
/// on the line of a `COPY ... FROM stdin`, whose next line starts the data.
#[derive(Debug, Clone, Copy)]
struct Lexer<'b> {
    bytes: &'b [u8],
    limit: usize,
}

impl<'b> Lexer<'b> {
    fn new(bytes: &'b [u8]) -> Self {
        Lexer {
            bytes,
            limit: bytes.len(),
        }
    }

    /// The byte at `i`, or 0 past the limit (0 is never a byte we look for).
    fn at(&self, i: usize) -> u8 {
        if i < self.limit {
            self.bytes.get(i).copied().unwrap_or(0)
        } else {
            0
        }
    }

    fn find(&self, from: usize, pred: impl Fn(u8) -> bool) -> Option<usize> {
        let hay = self.bytes.get(from..self.limit)?;
        hay.iter().position(|&c| pred(c)).map(|i| from + i)
    }

    fn skip(&self, from: usize, class: u8) -> usize {
        self.find(from, |c| !is(c, class))
            .unwrap_or(self.limit.max(from))
    }

    fn token(kind: Kind, start: usize, end: usize) -> Token {
        Token {
            kind,
            start,
            end,
            closed: true,
        }
    }

    fn unclosed(&self, kind: Kind, start: usize) -> Token {
        Token {
            kind,
            start,
            end: self.limit,
            closed: false,
        }
    }

    /// The token starting at `start` (which must be below the limit).
    fn lex(&self, start: usize) -> Token {
        let c = self.at(start);
        let next = self.at(start + 1);
        match c {
            _ if is(c, SPACE) => Self::token(Kind::Space, start, self.skip(start, SPACE)),
            b'-' if next == b'-' => {
                let end = self.find(start + 2, |c| c == b'\n' || c == b'\r');
                Self::token(Kind::Comment, start, end.unwrap_or(self.limit))
            }
            b'/' if next == b'*' => self.block_comment(start),
            b'\'' => self.literal(start, start + 1, false),
            b'"' => self.quoted_ident(start, start + 1),
            b'$' => self.dollar(start),
            b'0'..=b'9' => self.number(start, start),
            _ if is(c, IDENT_START) => self.word(start),
            _ => Self::token(Kind::Punct(c), start, start + 1),
        }
    }

    /// A `/* */` comment; these nest in PostgreSQL.
    fn block_comment(&self, start: usize) -> Token {
        let mut depth = 0usize;
        let mut i = start + 2;
        while let Some(j) = self.find(i, |c| c == b'*' || c == b'/') {
            match (self.at(j), self.at(j + 1)) {
                (b'/', b'*') => depth += 1,
                (b'*', b'/') if depth == 0 => return Self::token(Kind::Comment, start, j + 2),
                (b'*', b'/') => depth -= 1,
                _ => {
                    i = j + 1;
                    continue;
                }
            }
            i = j + 2;
        }
        self.unclosed(Kind::Comment, start)
    }

    /// A string literal whose body starts at `body`. With `escapes` (E'...'),
    /// a backslash hides the next byte, so `E'\''` is one string. A literal
    /// continued after a newline (`E'a'` newline `'b'`) is taken as a new,
    /// standard one: psql lexes line by line and never sees the newline that
    /// SQL's continuation rule needs, and it is psql's split we mirror.
    fn literal(&self, start: usize, body: usize, escapes: bool) -> Token {
        let mut i = body;
        while let Some(j) = self.find(i, |c| c == b'\'' || (escapes && c == b'\\')) {
            if self.at(j) == b'\\' {
                i = j + 2;
                if i > self.limit {
                    break;
                }
            } else if self.at(j + 1) == b'\'' {
                i = j + 2;
            } else {
                return Self::token(Kind::Literal, start, j + 1);
            }
        }
        self.unclosed(Kind::Literal, start)
    }

    fn quoted_ident(&self, start: usize, body: usize) -> Token {
        let mut i = body;
        while let Some(j) = self.find(i, |c| c == b'"') {
            if self.at(j + 1) != b'"' {
                return Self::token(Kind::QuotedIdent, start, j + 1);
            }
            i = j + 2;
        }
        self.unclosed(Kind::QuotedIdent, start)
    }

    /// A number or `$n` parameter whose digits start at `digits`. Since
    /// PostgreSQL 16 an identifier glued to it is part of the same (invalid)
    /// token, so `1e'\'` is `1e` and a standard string, and `1a$$` holds no
    /// dollar quote.
    fn number(&self, start: usize, digits: usize) -> Token {
        let end = self.skip(digits, DIGIT);
        let end = if is(self.at(end), IDENT_START) {
            self.skip(end, IDENT_CONT)
        } else {
            end
        };
        Self::token(Kind::Other, start, end)
    }

    /// `$n` parameter, `$tag$` dollar quote, or a lone `$` (psql then lexes
    /// the tag-like text after it as a word).
    fn dollar(&self, start: usize) -> Token {
        let next = self.at(start + 1);
        if next.is_ascii_digit() {
            return self.number(start, start + 1);
        }
        let tag_end = match next {
            b'$' => start + 1,
            _ if is(next, IDENT_START) => self.skip(start + 1, TAG_CONT),
            _ => return Self::token(Kind::Punct(b'$'), start, start + 1),
        };
        if self.at(tag_end) != b'$' {
            return Self::token(Kind::Punct(b'$'), start, start + 1);
        }
        let delim = self.bytes.get(start..=tag_end).unwrap_or_default();
        let kind = Kind::Dollar { delim: delim.len() };
        let mut i = tag_end + 1;
        while let Some(j) = self.find(i, |c| c == b'$') {
            if self
                .bytes
                .get(j..self.limit)
                .is_some_and(|rest| rest.starts_with(delim))
            {
                return Self::token(kind, start, j + delim.len());
            }
            i = j + 1;
        }
        self.unclosed(kind, start)
    }

    /// A word, or a literal introduced by a one-letter prefix
    /// (`E'`, `B'`, `X'`, `N'`, `U&'`, `U&"`).
    fn word(&self, start: usize) -> Token {
        let end = self.skip(start + 1, IDENT_CONT);
        if end == start + 1 {
            let quote = self.at(end);
            match (self.at(start).to_ascii_lowercase(), quote) {
                (b'e', b'\'') => return self.literal(start, end + 1, true),
                (b'b' | b'x' | b'n', b'\'') => return self.literal(start, end + 1, false),
                (b'u', b'&') => match self.at(end + 1) {
                    b'\'' => return self.literal(start, end + 2, false),
                    b'"' => return self.quoted_ident(start, end + 2),
                    _ => {}
                },
                _ => {}
            }
        }
        Self::token(Kind::Word, start, end)
    }
}

/// Iterates over the tokens of a piece of text; a token left open by the end
/// of the text runs to the end (only hand-built statements can have one).
struct Tokens<'b> {
    lexer: Lexer<'b>,
    pos: usize,
}

impl<'b> Tokens<'b> {
    fn new(text: &'b str) -> Self {
        Tokens {
            lexer: Lexer::new(text.as_bytes()),
            pos: 0,
        }
    }
}

impl Iterator for Tokens<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        if self.pos >= self.lexer.limit {
            return None;
        }
        let token = self.lexer.lex(self.pos);
        self.pos = token.end.max(self.pos + 1);
        Some(token)
    }
}

// ---------------------------------------------------------------------------
// Positions.

/// Incremental line/column tracking: pieces come in source order, so each
/// position is found by counting only from the previous one.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    pos: usize,
    line: usize,
    /// Chars between the start of the line and `pos`.
    col: usize,
}

impl Cursor {
    /// Starts after a byte-order mark, which is not counted as a column.
    fn new(bytes: &[u8]) -> Self {
        Cursor {
            pos: bom_len(bytes),
            line: 1,
            col: 0,
        }
    }

    /// (line, column) of `to`, both 1-based.
    fn locate(&mut self, bytes: &[u8], to: usize) -> (usize, usize) {
        let to = to.min(bytes.len());
        if to < self.pos {
            *self = Cursor::new(bytes);
        }
        let seg = bytes.get(self.pos..to).unwrap_or_default();
        match seg.iter().rposition(|&c| c == b'\n') {
            Some(last) => {
                self.line += seg.iter().filter(|&&c| c == b'\n').count();
                self.col = count_chars(seg.get(last + 1..).unwrap_or_default());
            }
            None => self.col += count_chars(seg),
        }
        self.pos = self.pos.max(to);
        (self.line, self.col + 1)
    }
}

fn count_chars(bytes: &[u8]) -> usize {
    // UTF-8 continuation bytes are 0b10xx_xxxx; every other byte starts a char.
    bytes.iter().filter(|&&c| (c as i8) >= -0x40).count()
}

fn bom_len(bytes: &[u8]) -> usize {
    if bytes.starts_with("\u{feff}".as_bytes()) {
        3
    } else {
        0
    }
}

// ---------------------------------------------------------------------------
// Splitter: drives the lexer and decides where pieces begin and end.

/// Where a statement stands in recognizing `COPY ... FROM stdin`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum CopyState {
    #[default]
    NotCopy,
    Copy,
    AfterFrom,
    FromStdin,
}

/// The statement being scanned.
#[derive(Debug, Default)]
struct Pending {
    start: Option<usize>,
    /// End of the last token that is not whitespace or a comment.
    last_end: usize,
    parens: usize,
    /// psql's begin_depth: open `BEGIN`/`CASE` blocks of a `BEGIN ATOMIC` body.
    begins: usize,
    words: usize,
    /// psql's heuristic for CREATE [OR REPLACE] FUNCTION|PROCEDURE: the
    /// first letter of each of the first four words, when that word is one
    /// of create/or/replace/function/procedure, else 0.
    head: [u8; 4],
    copy: CopyState,
}

impl Pending {
    fn creates_routine(&self) -> bool {
        let h = self.head;
        h[0] == b'c'
            && (matches!(h[1], b'f' | b'p')
                || (h[1] == b'o' && h[2] == b'r' && matches!(h[3], b'f' | b'p')))
    }

    fn on_word(&mut self, word: &[u8], first: bool) {
        if let Some(slot) = self.head.get_mut(self.words) {
            *slot = head_letter(word);
        }
        self.words += 1;
        if self.parens == 0 && self.creates_routine() {
            if word.eq_ignore_ascii_case(b"begin") {
                self.begins += 1;
            } else if word.eq_ignore_ascii_case(b"case") {
                // CASE ... END matters only inside a BEGIN ATOMIC body.
                if self.begins > 0 {
                    self.begins += 1;
                }
            } else if word.eq_ignore_ascii_case(b"end") {
                self.begins = self.begins.saturating_sub(1);
            }
        }
        self.copy = match self.copy {
            _ if first && word.eq_ignore_ascii_case(b"copy") => CopyState::Copy,
            CopyState::NotCopy | CopyState::FromStdin => self.copy,
            _ if self.parens > 0 => CopyState::Copy,
            _ if word.eq_ignore_ascii_case(b"from") => CopyState::AfterFrom,
            CopyState::AfterFrom if word.eq_ignore_ascii_case(b"stdin") => CopyState::FromStdin,
            _ => CopyState::Copy,
        };
    }

    /// Any token other than a word breaks a `FROM stdin` pair.
    fn on_other(&mut self) {
        if self.copy == CopyState::AfterFrom {
            self.copy = CopyState::Copy;
        }
    }
}

fn head_letter(word: &[u8]) -> u8 {
    const WORDS: [(&[u8], u8); 5] = [
        (b"create", b'c'),
        (b"function", b'f'),
        (b"procedure", b'p'),
        (b"or", b'o'),
        (b"replace", b'r'),
    ];
    WORDS
        .iter()
        .find(|(w, _)| word.eq_ignore_ascii_case(w))
        .map_or(0, |&(_, letter)| letter)
}

struct Splitter<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    pos: usize,
    cursor: Cursor,
    pieces: Vec<Piece<'a>>,
    stmt: Pending,
    /// COPY ... FROM stdin commands on the current line whose data follows it.
    copies: usize,
}

impl<'a> Splitter<'a> {
    fn new(src: &'a str) -> Self {
        let bytes = src.as_bytes();
        Splitter {
            src,
            lexer: Lexer::new(bytes),
            pos: bom_len(bytes),
            cursor: Cursor::new(bytes),
            pieces: Vec::new(),
            stmt: Pending::default(),
            copies: 0,
        }
    }

    fn run(mut self) -> Result<Vec<Piece<'a>>, SplitError> {
        loop {
            if self.pos >= self.lexer.limit {
                self.flush();
                if self.copies == 0 {
                    return Ok(self.pieces);
                }
                self.copy_data()?;
                continue;
            }
            let token = self.lexer.lex(self.pos);
            if !token.closed {
                return Err(self.unterminated(&token));
            }
            self.pos = token.end;
            match token.kind {
                Kind::Space | Kind::Comment => {}
                Kind::Punct(b'\\') => self.backslash(token.start),
                _ => self.content(token),
            }
        }
    }

    /// A token that belongs to the current statement.
    fn content(&mut self, token: Token) {
        let first = self.stmt.start.is_none();
        if first {
            self.stmt.start = Some(token.start);
        }
        self.stmt.last_end = token.end;
        match token.kind {
            Kind::Word => {
                let word = self
                    .lexer
                    .bytes
                    .get(token.start..token.end)
                    .unwrap_or_default();
                self.stmt.on_word(word, first);
                return;
            }
            Kind::Punct(b'(') => self.stmt.parens += 1,
            Kind::Punct(b')') => self.stmt.parens = self.stmt.parens.saturating_sub(1),
            Kind::Punct(b';') if self.stmt.parens == 0 && self.stmt.begins == 0 => {
                let from_stdin = self.stmt.copy == CopyState::FromStdin;
                self.emit_statement(token.end);
                if from_stdin {
                    self.expect_copy_data();
                }
                return;
            }
            _ => {}
        }
        self.stmt.on_other();
    }

    /// Emits the pending statement, if any, ending at its last token.
    fn flush(&mut self) {
        self.emit_statement(self.stmt.last_end);
    }

    fn emit_statement(&mut self, end: usize) {
        if let Some(start) = self.stmt.start {
            let (line, column) = self.cursor.locate(self.lexer.bytes, start);
            let text = slice(self.src, start, end);
            let statement = Statement {
                text,
                start,
                end,
                line,
                column,
            };
            self.pieces.push(Piece::Statement(statement));
        }
        self.stmt = Pending::default();
    }

    fn backslash(&mut self, at: usize) {
        if matches!(self.lexer.at(at + 1), b';' | b':') {
            // psql puts `\;` and `\:` into the query as `;` and `:` without
            // ending it.
            self.pos = at + 2;
            self.content(Lexer::token(Kind::Other, at, at + 2));
        } else {
            self.meta(at);
        }
    }

    /// A meta-command runs from its backslash to the end of the line.
    fn meta(&mut self, at: usize) {
        self.flush();
        let eol = self
            .lexer
            .find(at, |c| c == b'\n')
            .unwrap_or(self.lexer.limit);
        let end = if eol > at && self.lexer.at(eol - 1) == b'\r' {
            eol - 1
        } else {
            eol
        };
        let name_end = self
            .lexer
            .find(at + 1, |c| is(c, SPACE) || c == b'\\')
            .map_or(end, |i| i.min(end));
        let name = slice(self.src, at + 1, name_end);
        let args = slice(self.src, name_end, end).trim();
        let (line, _) = self.cursor.locate(self.lexer.bytes, at);
        let text = slice(self.src, at, end);
        self.pieces.push(Piece::Meta(Meta {
            name,
            args,
            text,
            start: at,
            end,
            line,
        }));
        self.pos = eol;
        if name == "copy" && copy_args_from_stdin(args) {
            self.expect_copy_data();
        }
    }

    /// Data starts on the next line, so only the rest of this line is
    /// scanned as SQL before it.
    fn expect_copy_data(&mut self) {
        self.copies += 1;
        if let Some(eol) = self.lexer.find(self.pos, |c| c == b'\n') {
            self.lexer.limit = eol;
        }
    }

    /// Reads the data of each pending COPY, after the line that started it.
    fn copy_data(&mut self) -> Result<(), SplitError> {
        let bytes = self.lexer.bytes;
        let mut at = (self.lexer.limit + 1).min(bytes.len());
        for _ in 0..self.copies {
            let Some((end, resume)) = copy_end(bytes, at) else {
                return Err(self.error(at, SplitErrorKind::UnterminatedCopyData));
            };
            let (line, _) = self.cursor.locate(bytes, at);
            let text = slice(self.src, at, end);
            self.pieces.push(Piece::CopyData(CopyData {
                text,
                start: at,
                end,
                line,
            }));
            at = resume;
        }
        self.copies = 0;
        self.lexer.limit = bytes.len();
        self.pos = at;
        Ok(())
    }

    fn unterminated(&self, token: &Token) -> SplitError {
        let kind = match token.kind {
            Kind::Comment => SplitErrorKind::UnterminatedComment,
            Kind::QuotedIdent => SplitErrorKind::UnterminatedQuotedIdentifier,
            Kind::Dollar { delim } => SplitErrorKind::UnterminatedDollarQuote {
                tag: slice(self.src, token.start + 1, token.start + delim - 1).to_owned(),
            },
            _ => SplitErrorKind::UnterminatedString,
        };
        self.error(token.start, kind)
    }

    fn error(&self, at: usize, kind: SplitErrorKind) -> SplitError {
        let (line, column) = line_col(self.src, at);
        SplitError { line, column, kind }
    }
}

/// Whether `\copy` arguments read the data from the script (`from stdin`).
fn copy_args_from_stdin(args: &str) -> bool {
    let mut after_from = false;
    for word in args.split_ascii_whitespace() {
        if after_from && word.trim_end_matches(';').eq_ignore_ascii_case("stdin") {
            return true;
        }
        after_from = word.eq_ignore_ascii_case("from");
    }
    false
}

/// Finds the `\.` line at or after `from`, which must be a line start:
/// returns (start of that line, start of the line after it).
fn copy_end(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut line = from;
    while line < bytes.len() {
        let rest = bytes.get(line..).unwrap_or_default();
        let eol = rest.iter().position(|&c| c == b'\n');
        let content = rest.get(..eol.unwrap_or(rest.len())).unwrap_or_default();
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content == b"\\." {
            return Some((line, eol.map_or(bytes.len(), |e| line + e + 1)));
        }
        line += eol? + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits and checks what must hold for every result: each piece's text
    /// is its slice of the source, positions match `line_col`, and pieces
    /// come in increasing, non-overlapping order.
    fn split_ok(src: &str) -> Vec<Piece<'_>> {
        let pieces = split(src).unwrap_or_else(|e| panic!("split failed: {e}\n{src:?}"));
        check_pieces(src, &pieces);
        pieces
    }

    fn check_pieces(src: &str, pieces: &[Piece<'_>]) {
        let mut prev_end = 0;
        for piece in pieces {
            let (text, start, end, line) = match piece {
                Piece::Statement(s) => {
                    assert_eq!(line_col(src, s.start), (s.line, s.column), "{s:?}");
                    assert!(!s.text.starts_with(|c: char| c.is_whitespace()), "{s:?}");
                    (s.text, s.start, s.end, s.line)
                }
                Piece::Meta(m) => {
                    assert_eq!(&src[m.start..m.start + 1], "\\");
                    (m.text, m.start, m.end, m.line)
                }
                Piece::CopyData(d) => (d.text, d.start, d.end, d.line),
            };
            assert_eq!(&src[start..end], text, "{piece:?}");
            assert_eq!(line_col(src, start).0, line, "{piece:?}");
            assert!(start >= prev_end, "pieces overlap or go back: {pieces:?}");
            prev_end = end;
        }
    }

    fn statements(src: &str) -> Vec<&str> {
        split_ok(src)
            .into_iter()
            .filter_map(|p| match p {
                Piece::Statement(s) => Some(s.text),
                _ => None,
            })
            .collect()
    }

    fn only_statement(src: &str) -> Statement<'_> {
        match split_ok(src).as_slice() {
            [Piece::Statement(s)] => s.clone(),
            other => panic!("expected one statement, got {other:?}"),
        }
    }

    fn error(src: &str) -> SplitError {
        match split(src) {
            Err(e) => e,
            Ok(pieces) => panic!("expected an error, got {pieces:?}"),
        }
    }

    #[test]
    fn splits_simple_statements_with_positions() {
        let src = "SELECT 1;\n  select 2 ;  -- tail\n\n/* lead */ SELECT 3;";
        let pieces = split_ok(src);
        let expected = [
            ("SELECT 1;", 0, 1, 1),
            ("select 2 ;", 12, 2, 3),
            ("SELECT 3;", 44, 4, 12),
        ];
        assert_eq!(pieces.len(), expected.len());
        for (piece, (text, start, line, column)) in pieces.iter().zip(expected) {
            let Piece::Statement(s) = piece else {
                panic!("{piece:?}")
            };
            assert_eq!(
                (s.text, s.start, s.end, s.line, s.column),
                (text, start, start + text.len(), line, column)
            );
        }
    }

    #[test]
    fn columns_count_chars_not_bytes() {
        let src = "SELECT 'é'; SELECT 2;";
        let pieces = split_ok(src);
        let Piece::Statement(s) = &pieces[1] else {
            panic!()
        };
        assert_eq!((s.start, s.line, s.column), (13, 1, 13));
    }

    #[test]
    fn trailing_statement_without_semicolon_ends_at_last_token() {
        assert_eq!(
            statements("SELECT 1;\nSELECT 2 -- no semicolon\n  "),
            ["SELECT 1;", "SELECT 2"]
        );
        assert_eq!(statements("SELECT 2 /* c */\n"), ["SELECT 2"]);
    }

    #[test]
    fn comments_and_whitespace_only_give_nothing() {
        assert!(split_ok("").is_empty());
        assert!(split_ok("  \n\t\r\n").is_empty());
        assert!(split_ok("-- one\n/* two /* nested */ */\n-- three").is_empty());
    }

    #[test]
    fn semicolons_in_comments_do_not_split() {
        assert_eq!(
            statements("SELECT 1 -- a; b\n + 2; SELECT /* x; */ 3;"),
            ["SELECT 1 -- a; b\n + 2;", "SELECT /* x; */ 3;"]
        );
    }

    #[test]
    fn block_comments_nest() {
        let src = "/* a /* b; */ c; */ SELECT 1; /* x */*/ SELECT 2;";
        assert_eq!(statements(src), ["SELECT 1;", "*/ SELECT 2;"]);
        assert_eq!(
            statements("SELECT 1 /*/ still; comment */;"),
            ["SELECT 1 /*/ still; comment */;"]
        );
        assert_eq!(
            statements("SELECT 2 /**/; SELECT 3 /***/;"),
            ["SELECT 2 /**/;", "SELECT 3 /***/;"]
        );
    }

    #[test]
    fn standard_strings_double_their_quotes_and_keep_backslashes() {
        assert_eq!(
            statements("SELECT 'it''s; fine'; SELECT 2;"),
            ["SELECT 'it''s; fine';", "SELECT 2;"]
        );
        // With standard_conforming_strings a backslash is literal: '\' is a whole string.
        assert_eq!(
            statements(r"SELECT '\'; SELECT 2;"),
            [r"SELECT '\';", "SELECT 2;"]
        );
    }

    #[test]
    fn escape_strings_use_backslash() {
        assert_eq!(
            statements(r"SELECT E'\''; SELECT 2;"),
            [r"SELECT E'\'';", "SELECT 2;"]
        );
        assert_eq!(
            statements(r"SELECT e'a\\'; SELECT 2;"),
            [r"SELECT e'a\\';", "SELECT 2;"]
        );
        assert_eq!(
            statements(r"SELECT e'it''s\'; ok'; SELECT 2;"),
            [r"SELECT e'it''s\'; ok';", "SELECT 2;"]
        );
        // Only a one-letter E prefix makes an escape string.
        assert_eq!(
            statements(r"SELECT xe'\'; SELECT 2;"),
            [r"SELECT xe'\';", "SELECT 2;"]
        );
    }

    #[test]
    fn string_after_newline_is_a_new_standard_string_as_in_psql() {
        let src = "SELECT E'a'\n '\\'; SELECT 2;";
        assert_eq!(statements(src), ["SELECT E'a'\n '\\';", "SELECT 2;"]);
        assert_eq!(
            statements("SELECT 'a'\n'b;c'; SELECT 2;"),
            ["SELECT 'a'\n'b;c';", "SELECT 2;"]
        );
    }

    #[test]
    fn prefixed_literals_and_quoted_identifiers() {
        let src = "SELECT B'1;0', X'AF;', N'n;', U&'d\\0061t;', U&\"a;b\", \"x\"\"y;z\"; SELECT 2;";
        assert_eq!(statements(src).len(), 2);
        assert_eq!(
            statements("SELECT \"a;\"\"b\" FROM t; SELECT 2;"),
            ["SELECT \"a;\"\"b\" FROM t;", "SELECT 2;"]
        );
    }

    #[test]
    fn dollar_quotes_hide_everything_until_the_same_tag() {
        let src = "CREATE FUNCTION f() RETURNS text AS $body$\nSELECT $$a;b$$; SELECT 'x;\n$body$ LANGUAGE sql;\nSELECT 2;";
        let got = statements(src);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("$body$ LANGUAGE sql;"));
        assert_eq!(
            statements("SELECT $a$ $b$ ; $ab$ $a$; SELECT 2;"),
            ["SELECT $a$ $b$ ; $ab$ $a$;", "SELECT 2;"]
        );
        assert_eq!(
            statements("SELECT $$ $x$ ; $$; SELECT 2;"),
            ["SELECT $$ $x$ ; $$;", "SELECT 2;"]
        );
        // A tag that matches only in part does not close the quote.
        assert_eq!(statements("SELECT $a$ $ab$; $aa$ $a$; SELECT 2;").len(), 2);
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        assert_eq!(
            statements("SELECT $1; SELECT $2 + $10;"),
            ["SELECT $1;", "SELECT $2 + $10;"]
        );
        assert_eq!(
            statements("PREPARE p AS SELECT $1$;"),
            ["PREPARE p AS SELECT $1$;"]
        );
    }

    #[test]
    fn dollar_after_identifier_belongs_to_it() {
        assert_eq!(
            statements("SELECT foo$bar, a$$b FROM t; SELECT 2;"),
            ["SELECT foo$bar, a$$b FROM t;", "SELECT 2;"]
        );
        assert_eq!(
            statements("SELECT x$y$; SELECT 2;"),
            ["SELECT x$y$;", "SELECT 2;"]
        );
        // A number is not an identifier: `1$$` is 1 followed by a dollar quote.
        assert_eq!(
            statements("SELECT 1$$;$$; SELECT 2;"),
            ["SELECT 1$$;$$;", "SELECT 2;"]
        );
    }

    #[test]
    fn identifier_glued_to_a_number_belongs_to_it() {
        // As in PostgreSQL 16+: `1e` is one (junk) token, so no E-string starts.
        assert_eq!(
            statements(r"SELECT 1e'\'; SELECT 2;"),
            [r"SELECT 1e'\';", "SELECT 2;"]
        );
        assert_eq!(
            statements("SELECT 1a$$; SELECT 2;"),
            ["SELECT 1a$$;", "SELECT 2;"]
        );
        assert_eq!(
            statements("SELECT $1a$$; SELECT 2;"),
            ["SELECT $1a$$;", "SELECT 2;"]
        );
    }

    #[test]
    fn lone_dollar_then_word() {
        assert_eq!(
            statements("SELECT $abc; SELECT 2;"),
            ["SELECT $abc;", "SELECT 2;"]
        );
    }

    #[test]
    fn begin_atomic_body_is_one_statement() {
        let src = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;\nSELECT 3;";
        assert_eq!(
            statements(src),
            [
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;",
                "SELECT 3;"
            ]
        );
        let src =
            "create or replace procedure p() begin atomic insert into t values (1); end; select 1;";
        assert_eq!(statements(src).len(), 2);
    }

    #[test]
    fn case_outside_begin_atomic_does_not_open_a_block() {
        let src = "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql RETURN CASE WHEN a > 0 THEN 1 END; SELECT 2;";
        assert_eq!(statements(src).len(), 2);
    }

    #[test]
    fn begin_tracking_is_only_for_create_function_or_procedure() {
        assert_eq!(
            statements("BEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;"),
            ["BEGIN;", "INSERT INTO t VALUES (1);", "COMMIT;"]
        );
        assert_eq!(statements("CREATE TABLE begin (x int); SELECT 1;").len(), 2);
        assert_eq!(
            statements("CREATE TRIGGER t BEFORE INSERT ON x BEGIN; SELECT 1;").len(),
            2
        );
    }

    #[test]
    fn do_block_with_commit_is_one_statement() {
        let src = "DO $$\nBEGIN\n  UPDATE t SET a = 1;\n  COMMIT;\nEND\n$$;\nSELECT 1;";
        assert_eq!(
            statements(src),
            [
                "DO $$\nBEGIN\n  UPDATE t SET a = 1;\n  COMMIT;\nEND\n$$;",
                "SELECT 1;"
            ]
        );
    }

    #[test]
    fn semicolon_inside_parentheses_does_not_end_statement() {
        assert_eq!(
            statements("SELECT (1; 2); SELECT 3;"),
            ["SELECT (1; 2);", "SELECT 3;"]
        );
        assert_eq!(
            statements("SELECT 1); SELECT 2;"),
            ["SELECT 1);", "SELECT 2;"]
        );
    }

    #[test]
    fn stray_semicolons_are_empty_statements() {
        let pieces = split_ok("SELECT 1;; ;");
        let empties: Vec<bool> = pieces
            .iter()
            .map(|p| match p {
                Piece::Statement(s) => s.is_empty(),
                _ => panic!("{p:?}"),
            })
            .collect();
        assert_eq!(empties, [false, true, true]);
    }

    #[test]
    fn meta_command_lines() {
        let src = "\\restrict abcDEF123\nSET x = 1;\n\\connect  mydb \n\\unrestrict abcDEF123\n";
        let pieces = split_ok(src);
        assert_eq!(pieces.len(), 4, "{pieces:?}");
        let Piece::Meta(m) = &pieces[0] else {
            panic!("{pieces:?}")
        };
        assert_eq!(
            (m.name, m.args, m.text, m.start, m.end, m.line),
            ("restrict", "abcDEF123", "\\restrict abcDEF123", 0, 19, 1)
        );
        let Piece::Meta(m) = &pieces[2] else {
            panic!("{pieces:?}")
        };
        assert_eq!(
            (m.name, m.args, m.text, m.line),
            ("connect", "mydb", "\\connect  mydb ", 3)
        );
        let Piece::Meta(m) = &pieces[3] else {
            panic!("{pieces:?}")
        };
        assert_eq!((m.name, m.args, m.line), ("unrestrict", "abcDEF123", 4));
    }

    #[test]
    fn meta_command_after_sql_flushes_the_statement() {
        let pieces = split_ok("SELECT 1 AS a \\gset\nSELECT :a;");
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        let Piece::Statement(s) = &pieces[0] else {
            panic!("{pieces:?}")
        };
        assert_eq!(s.text, "SELECT 1 AS a");
        let Piece::Meta(m) = &pieces[1] else {
            panic!("{pieces:?}")
        };
        assert_eq!((m.name, m.args, m.start), ("gset", "", 14));
        let Piece::Statement(s) = &pieces[2] else {
            panic!("{pieces:?}")
        };
        assert_eq!(s.text, "SELECT :a;");
    }

    #[test]
    fn meta_command_name_stops_at_space_or_backslash() {
        let pieces = split_ok("\\dt+ public.*\n\\x\\\\ SELECT 1;\n\\\n");
        let names: Vec<(&str, &str)> = pieces
            .iter()
            .map(|p| match p {
                Piece::Meta(m) => (m.name, m.args),
                _ => panic!("{p:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [("dt+", "public.*"), ("x", "\\\\ SELECT 1;"), ("", "")]
        );
    }

    #[test]
    fn backslash_semicolon_does_not_end_or_start_anything() {
        assert_eq!(
            statements("SELECT 1 \\; SELECT 2;\nSELECT 3;"),
            ["SELECT 1 \\; SELECT 2;", "SELECT 3;"]
        );
    }

    #[test]
    fn backslash_inside_quotes_is_not_a_meta_command() {
        assert_eq!(
            statements("SELECT '\\x', $$\\y$$, \"\\z\" -- \\c\n;"),
            ["SELECT '\\x', $$\\y$$, \"\\z\" -- \\c\n;"]
        );
    }

    #[test]
    fn copy_from_stdin_data() {
        let src =
            "SET a = 1;\nCOPY public.t (a, b) FROM stdin;\n1\tx;y\n2\tit's \\N\n\\.\nSELECT 2;\n";
        let pieces = split_ok(src);
        assert_eq!(pieces.len(), 4, "{pieces:?}");
        let Piece::Statement(s) = &pieces[1] else {
            panic!("{pieces:?}")
        };
        assert_eq!(s.text, "COPY public.t (a, b) FROM stdin;");
        let Piece::CopyData(d) = &pieces[2] else {
            panic!("{pieces:?}")
        };
        assert_eq!((d.text, d.line), ("1\tx;y\n2\tit's \\N\n", 3));
        let Piece::Statement(s) = &pieces[3] else {
            panic!("{pieces:?}")
        };
        assert_eq!((s.text, s.line), ("SELECT 2;", 6));
    }

    #[test]
    fn copy_with_options_and_odd_case() {
        let src = "copy t FROM STDIN WITH (FORMAT csv, DELIMITER ';'); -- load\n\"a;\",'b\n\\.\r\nSELECT 1;";
        let pieces = split_ok(src);
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        let Piece::CopyData(d) = &pieces[1] else {
            panic!("{pieces:?}")
        };
        assert_eq!(d.text, "\"a;\",'b\n");
    }

    #[test]
    fn copy_with_no_data_lines_still_gets_copy_data() {
        let pieces = split_ok("COPY t FROM stdin;\n\\.\nSELECT 1;");
        let Piece::CopyData(d) = &pieces[1] else {
            panic!("{pieces:?}")
        };
        assert_eq!((d.text, d.start, d.line), ("", 19, 2));
        assert_eq!(pieces.len(), 3);
    }

    #[test]
    fn copy_terminator_at_end_of_input_without_newline() {
        let pieces = split_ok("COPY t FROM stdin;\n1\n\\.");
        assert_eq!(pieces.len(), 2, "{pieces:?}");
    }

    #[test]
    fn other_copies_are_plain_statements() {
        let src = "COPY t TO stdout;\nCOPY t FROM '/tmp/x';\nCOPY (SELECT 1 FROM stdin) TO stdout;\nSELECT 1;";
        assert_eq!(statements(src).len(), 4);
        assert_eq!(statements("SELECT 1 FROM stdin;\nSELECT 2;").len(), 2);
    }

    #[test]
    fn backslash_copy_from_stdin_reads_data_lines() {
        let src = "\\copy t from stdin\n1\t'x;\n\\.\nSELECT 1;";
        let pieces = split_ok(src);
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        let Piece::CopyData(d) = &pieces[1] else {
            panic!("{pieces:?}")
        };
        assert_eq!(d.text, "1\t'x;\n");
    }

    #[test]
    fn sql_after_copy_on_its_line_is_scanned_before_the_data() {
        let pieces = split_ok("COPY t FROM stdin; SELECT 1;\n1\n\\.\nSELECT 2;");
        let kinds: Vec<&str> = pieces
            .iter()
            .map(|p| match p {
                Piece::Statement(s) => s.text,
                Piece::CopyData(d) => d.text,
                Piece::Meta(m) => m.text,
            })
            .collect();
        assert_eq!(
            kinds,
            ["COPY t FROM stdin;", "SELECT 1;", "1\n", "SELECT 2;"]
        );
    }

    #[test]
    fn crlf_positions_are_bytes_and_columns_chars() {
        let src = "SELECT 1;\r\n  SELECT 'a\r\nb';\r\n\\restrict k\r\n";
        let pieces = split_ok(src);
        let Piece::Statement(s) = &pieces[1] else {
            panic!("{pieces:?}")
        };
        assert_eq!(
            (s.text, s.start, s.line, s.column),
            ("SELECT 'a\r\nb';", 13, 2, 3)
        );
        let Piece::Meta(m) = &pieces[2] else {
            panic!("{pieces:?}")
        };
        assert_eq!((m.text, m.args, m.line), ("\\restrict k", "k", 4));
        assert_eq!(line_col(src, 9), (1, 10));
        assert_eq!(
            line_col(src, 10),
            (1, 10),
            "a \\r before \\n is not a column"
        );
        assert_eq!(line_col(src, 11), (2, 1));
    }

    #[test]
    fn crlf_copy_data() {
        let src = "COPY t FROM stdin;\r\n1\t2\r\n\\.\r\nSELECT 1;\r\n";
        let pieces = split_ok(src);
        let Piece::CopyData(d) = &pieces[1] else {
            panic!("{pieces:?}")
        };
        assert_eq!((d.text, d.line), ("1\t2\r\n", 2));
        let Piece::Statement(s) = &pieces[2] else {
            panic!("{pieces:?}")
        };
        assert_eq!((s.text, s.line, s.column), ("SELECT 1;", 4, 1));
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let src = "\u{feff}SELECT 1;\nSELECT 2;";
        let pieces = split_ok(src);
        let Piece::Statement(s) = &pieces[0] else {
            panic!("{pieces:?}")
        };
        assert_eq!((s.text, s.start, s.line, s.column), ("SELECT 1;", 3, 1, 1));
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 4), (1, 2));
        assert!(split_ok("\u{feff}").is_empty());
        assert_eq!(error("\u{feff}'x").column, 1);
    }

    #[test]
    fn line_col_edges() {
        assert_eq!(line_col("", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 5), (2, 3));
        assert_eq!(line_col("ab\ncd", 99), (2, 3));
        assert_eq!(line_col("ab\n", 2), (1, 3));
        assert_eq!(line_col("\r\n", 1), (1, 1));
        assert_eq!(
            line_col("aé\nb", 2),
            (1, 3),
            "an offset inside a char does not panic"
        );
    }

    #[test]
    fn error_kinds_and_positions() {
        let cases: [(&str, SplitErrorKind, usize, usize); 8] = [
            (
                "SELECT 1;\n  SELECT 'abc",
                SplitErrorKind::UnterminatedString,
                2,
                10,
            ),
            ("SELECT E'abc\\'", SplitErrorKind::UnterminatedString, 1, 8),
            ("SELECT E'abc\\", SplitErrorKind::UnterminatedString, 1, 8),
            (
                "SELECT \"abc\"\"",
                SplitErrorKind::UnterminatedQuotedIdentifier,
                1,
                8,
            ),
            (
                "SELECT 1;\n/* a /* b */ c",
                SplitErrorKind::UnterminatedComment,
                2,
                1,
            ),
            (
                "SELECT 1;\nDO $body$ BEGIN $$ $bod$ END;",
                SplitErrorKind::UnterminatedDollarQuote { tag: "body".into() },
                2,
                4,
            ),
            (
                "é $$",
                SplitErrorKind::UnterminatedDollarQuote { tag: String::new() },
                1,
                3,
            ),
            (
                "COPY t FROM stdin;\n1\t2\n\\.x\n",
                SplitErrorKind::UnterminatedCopyData,
                2,
                1,
            ),
        ];
        for (src, kind, line, column) in cases {
            assert_eq!(error(src), SplitError { line, column, kind }, "{src:?}");
        }
    }

    #[test]
    fn error_messages() {
        let message = |kind: SplitErrorKind| kind.to_string();
        assert_eq!(
            message(SplitErrorKind::UnterminatedString),
            "unterminated quoted string"
        );
        assert_eq!(
            message(SplitErrorKind::UnterminatedQuotedIdentifier),
            "unterminated quoted identifier"
        );
        assert_eq!(
            message(SplitErrorKind::UnterminatedComment),
            "unterminated block comment"
        );
        assert_eq!(
            message(SplitErrorKind::UnterminatedDollarQuote { tag: "body".into() }),
            "unterminated dollar-quoted string `$body$`"
        );
        assert_eq!(
            message(SplitErrorKind::UnterminatedCopyData),
            "`COPY ... FROM stdin` data has no terminating `\\.` line"
        );
        let e = error("SELECT 'x");
        assert_eq!(
            e.to_string(),
            "unterminated quoted string at line 1, column 8"
        );
    }

    #[test]
    fn code_strips_comments_and_collapses_whitespace() {
        let s = only_statement("CREATE  /* c */ UNIQUE\n\tINDEX -- x\n CONCURRENTLY i ON t (a)  ;");
        assert_eq!(s.code(), "CREATE UNIQUE INDEX CONCURRENTLY i ON t (a) ;");
        let s = only_statement("SELECT 'a  --  b', \"x  y\", $$ /* keep */  $$, a/*gap*/b;");
        assert_eq!(
            s.code(),
            "SELECT 'a  --  b', \"x  y\", $$ /* keep */  $$, a b;"
        );
    }

    #[test]
    fn leading_keywords_stop_at_non_words() {
        let s = only_statement("create /* x */ unique\nindex concurrently idx on t (a);");
        assert_eq!(s.leading_keywords(3), ["CREATE", "UNIQUE", "INDEX"]);
        assert_eq!(s.leading_keywords(0), Vec::<String>::new());
        assert_eq!(s.leading_keywords(99).len(), 7);
        let s = only_statement("ALTER TABLE \"T\" ADD x int;");
        assert_eq!(s.leading_keywords(5), ["ALTER", "TABLE"]);
        assert_eq!(
            only_statement("E'x';").leading_keywords(2),
            Vec::<String>::new()
        );
    }

    #[test]
    fn dollar_bodies_in_order() {
        let s = only_statement("DO $$ BEGIN COMMIT; END $$; ");
        assert_eq!(s.dollar_bodies(), [" BEGIN COMMIT; END "]);
        let s = only_statement(
            "CREATE FUNCTION f() RETURNS int AS $f$ SELECT $$x$$ $f$ LANGUAGE sql COST $x$$x$;",
        );
        assert_eq!(s.dollar_bodies(), [" SELECT $$x$$ ", ""]);
        assert!(only_statement("SELECT $1, a$$b;")
            .dollar_bodies()
            .is_empty());
    }

    #[test]
    fn statement_views_survive_hand_built_unterminated_text() {
        let s = Statement {
            text: "SELECT 'abc /* $$",
            start: 0,
            end: 17,
            line: 1,
            column: 1,
        };
        assert_eq!(s.code(), "SELECT 'abc /* $$");
        assert!(!s.is_empty());
        let s = Statement {
            text: "DO $q$ x",
            start: 0,
            end: 8,
            line: 1,
            column: 1,
        };
        assert_eq!(s.dollar_bodies(), [" x"]);
        let s = Statement {
            text: "/* open",
            start: 0,
            end: 7,
            line: 1,
            column: 1,
        };
        assert!(s.is_empty());
    }

    #[test]
    fn is_empty_ignores_comments() {
        assert!(Statement {
            text: "/* c */ ;",
            start: 0,
            end: 9,
            line: 1,
            column: 1
        }
        .is_empty());
        assert!(!only_statement("SELECT;").is_empty());
    }

    /// A tiny deterministic generator, so the test needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    #[test]
    fn random_fragments_never_panic_and_stay_ordered() {
        const FRAGMENTS: &[&str] = &[
            "SELECT 1",
            ";",
            " ",
            "\n",
            "\r\n",
            "\t",
            "'a;b'",
            "'",
            "E'\\''",
            "e'\\",
            "\"q;\"\"x\"",
            "\"",
            "$$ x; $$",
            "$$",
            "$t$ $$ ; $t$",
            "$t$",
            "$1",
            "foo$bar",
            "$",
            "/* c; /* n */ */",
            "/*",
            "*/",
            "-- c;\n",
            "--",
            "(",
            ")",
            "BEGIN",
            "END",
            "CASE",
            "CREATE FUNCTION f() ",
            "CREATE OR REPLACE PROCEDURE p() ",
            "ATOMIC",
            "\\echo hi\n",
            "\\",
            "\\;",
            "\\.",
            "COPY t FROM stdin;\n1\t2;'\n\\.\n",
            "COPY t FROM stdin;",
            "\\copy t from stdin\n",
            "U&'x'",
            "B'1'",
            "é",
            "\u{feff}",
            "DO $$ BEGIN COMMIT; END $$;",
            "-",
            "/",
            "*",
            "x",
            "1e'\\'",
            "N'",
            "U&\"",
            "\r",
            "\\.\n",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..600 {
            let len = rng.below(24);
            let src: String = (0..len)
                .map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())])
                .collect();
            match split(&src) {
                Ok(pieces) => {
                    check_pieces(&src, &pieces);
                    for piece in &pieces {
                        if let Piece::Statement(s) = piece {
                            let _ = (
                                s.code(),
                                s.leading_keywords(3),
                                s.dollar_bodies(),
                                s.is_empty(),
                            );
                        }
                    }
                }
                Err(e) => {
                    assert!(e.line >= 1 && e.column >= 1, "{e:?}");
                }
            }
        }
    }

    #[test]
    fn statements_resplit_to_themselves() {
        let src = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n\
                   DO $$ BEGIN PERFORM 1; END $$;\nSELECT 'a;' || E'\\';';\nSELECT (1;2);";
        for text in statements(src) {
            assert_eq!(statements(text), [text]);
        }
    }

    /// Real migration folders from `shared/corpora`, when they are there.
    #[test]
    fn real_world_corpora_split_cleanly() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora");
        let Ok(dirs) = std::fs::read_dir(&root) else {
            return; // the corpora are optional; nothing to check without them
        };
        let mut files = 0;
        let mut with_dollar_semicolons = 0;
        for dir in dirs.flatten().filter(|d| d.path().is_dir()) {
            for file in std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = file.path();
                let Ok(src) = std::fs::read_to_string(&path) else {
                    continue;
                };
                files += 1;
                let pieces = split(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                check_pieces(&src, &pieces);
                let has = pieces.iter().any(|p| match p {
                    Piece::Statement(s) => s.dollar_bodies().iter().any(|b| b.contains(';')),
                    _ => false,
                });
                if has && path.to_string_lossy().contains("supabase-storage") {
                    with_dollar_semicolons += 1;
                }
            }
        }
        assert!(files > 100, "found only {files} corpus files");
        assert_eq!(
            with_dollar_semicolons, 40,
            "the corpus README counts 40 such files"
        );
    }
}
