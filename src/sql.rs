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
    /// The rest of the line after the name, trimmed.
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
            b'0'..=b'9' => Self::token(Kind::Other, start, self.skip(start, DIGIT)),
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
    /// a backslash hides the next byte, so `E'\''` is one string.
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
            } else if let Some(quote) = self.continuation(j + 1) {
                i = quote + 1;
            } else {
                return Self::token(Kind::Literal, start, j + 1);
            }
        }
        self.unclosed(Kind::Literal, start)
    }

    /// SQL continues a string literal across whitespace that holds a newline
    /// (`'a'\n'b'` is one literal, still in E mode if it began as E'...');
    /// returns the position of the continuing quote.
    fn continuation(&self, mut i: usize) -> Option<usize> {
        let mut newline = false;
        loop {
            match self.at(i) {
                b' ' | b'\t' | 0x0c => i += 1,
                b'\n' | b'\r' => {
                    newline = true;
                    i += 1;
                }
                b'-' if self.at(i + 1) == b'-' => {
                    i = self.find(i + 2, |c| c == b'\n' || c == b'\r')?;
                }
                b'\'' if newline => return Some(i),
                _ => return None,
            }
        }
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

    /// `$n` parameter, `$tag$` dollar quote, or a lone `$` (psql then lexes
    /// the tag-like text after it as a word).
    fn dollar(&self, start: usize) -> Token {
        let next = self.at(start + 1);
        if next.is_ascii_digit() {
            return Self::token(Kind::Other, start, self.skip(start + 1, DIGIT));
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
        self.pos = self.pos.max(to.min(bytes.len()));
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
