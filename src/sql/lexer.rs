//! The lexer: one token at a time, psqlscan.l's rules reduced to what decides where
//! statements end.

pub(super) const SPACE: u8 = 1;
pub(super) const IDENT_START: u8 = 2;
pub(super) const IDENT_CONT: u8 = 4;
pub(super) const TAG_CONT: u8 = 8;
pub(super) const DIGIT: u8 = 16;

/// Byte classes, as in psqlscan.l: every byte >= 0x80 is an identifier byte,
/// `$` continues an identifier but not a dollar-quote tag.
pub(super) const CLASS: [u8; 256] = {
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

pub(super) fn is(c: u8, class: u8) -> bool {
    CLASS[usize::from(c)] & class != 0
}

/// What a token is, as far as splitting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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
pub(super) struct Token {
    pub(super) kind: Kind,
    pub(super) start: usize,
    pub(super) end: usize,
    /// False when input ended inside the token (then `end` is the limit).
    pub(super) closed: bool,
}

/// Tokenizes `bytes[..limit]`. The limit is below the end of the input only
/// on the line of a `COPY ... FROM stdin`, whose next line starts the data.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lexer<'b> {
    pub(super) bytes: &'b [u8],
    pub(super) limit: usize,
}

impl<'b> Lexer<'b> {
    pub(super) fn new(bytes: &'b [u8]) -> Self {
        Lexer {
            bytes,
            limit: bytes.len(),
        }
    }

    /// The byte at `i`, or 0 past the limit (0 is never a byte we look for).
    pub(super) fn at(&self, i: usize) -> u8 {
        if i < self.limit {
            self.bytes.get(i).copied().unwrap_or(0)
        } else {
            0
        }
    }

    pub(super) fn find(&self, from: usize, pred: impl Fn(u8) -> bool) -> Option<usize> {
        let hay = self.bytes.get(from..self.limit)?;
        hay.iter().position(|&c| pred(c)).map(|i| from + i)
    }

    pub(super) fn skip(&self, from: usize, class: u8) -> usize {
        self.find(from, |c| !is(c, class))
            .unwrap_or(self.limit.max(from))
    }

    pub(super) fn token(kind: Kind, start: usize, end: usize) -> Token {
        Token {
            kind,
            start,
            end,
            closed: true,
        }
    }

    pub(super) fn unclosed(&self, kind: Kind, start: usize) -> Token {
        Token {
            kind,
            start,
            end: self.limit,
            closed: false,
        }
    }

    /// The token starting at `start` (which must be below the limit).
    pub(super) fn lex(&self, start: usize) -> Token {
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
    pub(super) fn block_comment(&self, start: usize) -> Token {
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
    pub(super) fn literal(&self, start: usize, body: usize, escapes: bool) -> Token {
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

    pub(super) fn quoted_ident(&self, start: usize, body: usize) -> Token {
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
    pub(super) fn number(&self, start: usize, digits: usize) -> Token {
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
    pub(super) fn dollar(&self, start: usize) -> Token {
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
    pub(super) fn word(&self, start: usize) -> Token {
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
pub(super) struct Tokens<'b> {
    pub(super) lexer: Lexer<'b>,
    pub(super) pos: usize,
}

impl<'b> Tokens<'b> {
    pub(super) fn new(text: &'b str) -> Self {
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
