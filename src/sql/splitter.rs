//! The splitter: drives the lexer and decides where pieces begin and end (statements,
//! meta-commands, COPY data).

use super::lexer::*;
use super::position::{bom_len, Cursor};
use super::*;

/// Where a statement stands in recognizing `COPY ... FROM stdin`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum CopyState {
    #[default]
    NotCopy,
    Copy,
    AfterFrom,
    FromStdin,
}

/// The statement being scanned.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub(super) start: Option<usize>,
    /// End of the last token that is not whitespace or a comment.
    pub(super) last_end: usize,
    pub(super) parens: usize,
    /// psql's begin_depth: open `BEGIN`/`CASE` blocks of a `BEGIN ATOMIC` body.
    pub(super) begins: usize,
    pub(super) words: usize,
    /// psql's heuristic for CREATE [OR REPLACE] FUNCTION|PROCEDURE: the
    /// first letter of each of the first four words, when that word is one
    /// of create/or/replace/function/procedure, else 0.
    pub(super) head: [u8; 4],
    pub(super) copy: CopyState,
}

impl Pending {
    pub(super) fn creates_routine(&self) -> bool {
        let h = self.head;
        h[0] == b'c'
            && (matches!(h[1], b'f' | b'p')
                || (h[1] == b'o' && h[2] == b'r' && matches!(h[3], b'f' | b'p')))
    }

    pub(super) fn on_word(&mut self, word: &[u8], first: bool) {
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
    pub(super) fn on_other(&mut self) {
        if self.copy == CopyState::AfterFrom {
            self.copy = CopyState::Copy;
        }
    }
}

pub(super) fn head_letter(word: &[u8]) -> u8 {
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

pub(super) struct Splitter<'a> {
    pub(super) src: &'a str,
    pub(super) lexer: Lexer<'a>,
    pub(super) pos: usize,
    pub(super) cursor: Cursor,
    pub(super) pieces: Vec<Piece<'a>>,
    pub(super) stmt: Pending,
    /// COPY ... FROM stdin commands on the current line whose data follows it.
    pub(super) copies: usize,
}

impl<'a> Splitter<'a> {
    pub(super) fn new(src: &'a str) -> Self {
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

    pub(super) fn run(mut self) -> Result<Vec<Piece<'a>>, SplitError> {
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
    pub(super) fn content(&mut self, token: Token) {
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
    pub(super) fn flush(&mut self) {
        self.emit_statement(self.stmt.last_end);
    }

    pub(super) fn emit_statement(&mut self, end: usize) {
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

    pub(super) fn backslash(&mut self, at: usize) {
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
    pub(super) fn meta(&mut self, at: usize) {
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
    pub(super) fn expect_copy_data(&mut self) {
        self.copies += 1;
        if let Some(eol) = self.lexer.find(self.pos, |c| c == b'\n') {
            self.lexer.limit = eol;
        }
    }

    /// Reads the data of each pending COPY, after the line that started it.
    pub(super) fn copy_data(&mut self) -> Result<(), SplitError> {
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

    pub(super) fn unterminated(&self, token: &Token) -> SplitError {
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

    pub(super) fn error(&self, at: usize, kind: SplitErrorKind) -> SplitError {
        let (line, column) = line_col(self.src, at);
        SplitError { line, column, kind }
    }
}

/// Whether `\copy` arguments read the data from the script (`from stdin`).
pub(super) fn copy_args_from_stdin(args: &str) -> bool {
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
pub(super) fn copy_end(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
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
