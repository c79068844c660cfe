//! Tokens of one statement for `quick`, read on demand: words, quoted names, digits,
//! plain strings and a little punctuation; and which words sqlparser takes for names.
//! Whatever else a statement holds (non-ASCII names, block comments, escapes, operators,
//! decimals) makes the reader give `None`, and the statement goes to sqlparser.

use std::borrow::Cow;

use sqlparser::ast::{Ident, ObjectName};
use sqlparser::keywords::ALL_KEYWORDS;

/// Keywords that are common names and that sqlparser reads as plain names wherever
/// this module reads a name (the tests check each in every such place). Any other
/// keyword in a name's place sends the statement to sqlparser.
pub const NAME_KEYWORDS: &[&str] = &[
    "PUBLIC", "ID", "NAME", "TYPE", "STATUS", "VALUE", "DATA", "CODE", "LEVEL", "ROLE", "OWNER",
    "VERSION", "STATE", "LOCATION",
];

/// A word sqlparser reads as a name: not a keyword, or one of [`NAME_KEYWORDS`].
pub fn is_name(word: &str) -> bool {
    !is_keyword(word) || NAME_KEYWORDS.iter().any(|k| word.eq_ignore_ascii_case(k))
}

/// Longer than any sqlparser keyword (a test checks).
const KEYWORD_MAX: usize = 64;

/// A sqlparser keyword (case-insensitive), in the order its tokenizer compares them.
pub fn is_keyword(word: &str) -> bool {
    let mut upper = [0; KEYWORD_MAX];
    let Some(upper) = upper.get_mut(..word.len()) else {
        return false;
    };
    upper.copy_from_slice(word.as_bytes());
    upper.make_ascii_uppercase();
    ALL_KEYWORDS
        .binary_search_by(|probe| probe.as_bytes().cmp(upper))
        .is_ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    /// An unquoted identifier or keyword, as written.
    Word(&'a str),
    /// A double-quoted identifier, without its quotes.
    Quoted(&'a str),
    /// Digits only.
    Number(&'a str),
    /// A single-quoted string, unescaped.
    Str(Cow<'a, str>),
    /// `(`, `)`, `,`, `.`, `;`, or `:` for `::`.
    Punct(u8),
    End,
}

/// A statement being read.
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader { text, pos: 0 }
    }

    /// The next token and the offset after it.
    fn lex(&self) -> Option<(Token<'a>, usize)> {
        let bytes = self.text.as_bytes();
        let mut i = self.pos;
        loop {
            match bytes.get(i) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => i += 1,
                Some(b'-') if bytes.get(i + 1) == Some(&b'-') => {
                    i = bytes[i..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(bytes.len(), |n| i + n)
                }
                _ => break,
            }
        }
        let start = i;
        let Some(&first) = bytes.get(i) else {
            return Some((Token::End, i));
        };
        let run = |from: usize, part: fn(u8) -> bool| {
            from + bytes[from..].iter().take_while(|&&b| part(b)).count()
        };
        let token = match first {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                i = run(i, |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$');
                Token::Word(&self.text[start..i])
            }
            b'0'..=b'9' => {
                i = run(i, |b| b.is_ascii_digit());
                Token::Number(&self.text[start..i])
            }
            b'"' => {
                i = start + 1 + bytes[start + 1..].iter().position(|&b| b == b'"')?;
                let name = &self.text[start + 1..i];
                i += 1;
                if name.is_empty() || bytes.get(i) == Some(&b'"') {
                    return None;
                }
                Token::Quoted(name)
            }
            b'\'' => return self.string(start),
            b'(' | b')' | b',' | b'.' | b';' => {
                i += 1;
                Token::Punct(first)
            }
            b':' if bytes.get(i + 1) == Some(&b':') => {
                i += 2;
                Token::Punct(b':')
            }
            _ => return None,
        };
        // A word or number running into what this reader does not know (`é`, `1.5`,
        // `12abc`) is not what it seems.
        let next = bytes.get(i).copied().unwrap_or(b' ');
        let glued = match token {
            Token::Word(_) => !next.is_ascii(),
            Token::Number(_) => {
                !next.is_ascii() || next.is_ascii_alphabetic() || b"._$".contains(&next)
            }
            _ => false,
        };
        (!glued).then_some((token, i))
    }

    /// A single-quoted string starting at `start`; `''` is a quote.
    fn string(&self, start: usize) -> Option<(Token<'a>, usize)> {
        let bytes = self.text.as_bytes();
        let mut i = start + 1;
        let mut doubled = false;
        loop {
            i += bytes[i..].iter().position(|&b| b == b'\'')?;
            if bytes.get(i + 1) != Some(&b'\'') {
                break;
            }
            doubled = true;
            i += 2;
        }
        let raw = &self.text[start + 1..i];
        if raw.contains('\\') {
            return None;
        }
        let value = if doubled {
            Cow::Owned(raw.replace("''", "'"))
        } else {
            Cow::Borrowed(raw)
        };
        Some((Token::Str(value), i + 1))
    }

    pub fn peek(&self) -> Option<Token<'a>> {
        self.lex().map(|(token, _)| token)
    }

    pub fn next(&mut self) -> Option<Token<'a>> {
        let (token, end) = self.lex()?;
        self.pos = end;
        Some(token)
    }

    /// Takes the keyword when it comes next.
    pub fn keyword(&mut self, keyword: &str) -> bool {
        match self.lex() {
            Some((Token::Word(w), end)) if w.eq_ignore_ascii_case(keyword) => {
                self.pos = end;
                true
            }
            _ => false,
        }
    }

    /// Takes the keywords when all of them come next, else none.
    pub fn keywords(&mut self, keywords: &[&str]) -> bool {
        let start = self.pos;
        if keywords.iter().all(|k| self.keyword(k)) {
            return true;
        }
        self.pos = start;
        false
    }

    pub fn expect(&mut self, keyword: &str) -> Option<()> {
        self.keyword(keyword).then_some(())
    }

    pub fn at_punct(&self, punct: u8) -> bool {
        matches!(self.lex(), Some((Token::Punct(p), _)) if p == punct)
    }

    pub fn punct(&mut self, punct: u8) -> bool {
        match self.lex() {
            Some((Token::Punct(p), end)) if p == punct => {
                self.pos = end;
                true
            }
            _ => false,
        }
    }

    pub fn expect_punct(&mut self, punct: u8) -> Option<()> {
        self.punct(punct).then_some(())
    }

    pub fn double_colon(&mut self) -> bool {
        self.punct(b':')
    }

    pub fn number(&mut self) -> Option<u64> {
        match self.next()? {
            Token::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// A name: a quoted identifier, or a word that sqlparser reads as a name.
    pub fn ident(&mut self) -> Option<Ident> {
        match self.next()? {
            Token::Word(w) if is_name(w) => Some(Ident::new(w)),
            Token::Quoted(name) => Some(Ident::with_quote('"', name)),
            _ => None,
        }
    }

    /// `name` or `schema.name`.
    pub fn object_name(&mut self) -> Option<ObjectName> {
        let mut parts = vec![self.ident()?];
        while self.punct(b'.') {
            parts.push(self.ident()?);
        }
        Some(ObjectName::from(parts))
    }
}
