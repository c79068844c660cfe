//! Positions: line and column of each piece, counted incrementally in source order.

/// Incremental line/column tracking: pieces come in source order, so each
/// position is found by counting only from the previous one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor {
    pub(super) pos: usize,
    pub(super) line: usize,
    /// Chars between the start of the line and `pos`.
    pub(super) col: usize,
}

impl Cursor {
    /// Starts after a byte-order mark, which is not counted as a column.
    pub(super) fn new(bytes: &[u8]) -> Self {
        Cursor {
            pos: bom_len(bytes),
            line: 1,
            col: 0,
        }
    }

    /// (line, column) of `to`, both 1-based.
    pub(super) fn locate(&mut self, bytes: &[u8], to: usize) -> (usize, usize) {
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

pub(super) fn count_chars(bytes: &[u8]) -> usize {
    // UTF-8 continuation bytes are 0b10xx_xxxx; every other byte starts a char.
    bytes.iter().filter(|&&c| (c as i8) >= -0x40).count()
}

pub(super) fn bom_len(bytes: &[u8]) -> usize {
    if bytes.starts_with("\u{feff}".as_bytes()) {
        3
    } else {
        0
    }
}
